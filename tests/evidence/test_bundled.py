"""A store follows the bundled dataset it was made from (issue 18): a store made by an older release (its
bundle: tests/fixtures/bundle_before_contrasts) is brought to today's bundle on open, through the ordinary
import path and audited; user records (web reconciliations, own imports) are never changed or removed and
win a collision; a second open changes nothing; a store never made from the bundle is left alone."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from tests.evidence.helpers import small_bundle

from stemdm.evidence.bundled import BUNDLED_SOURCE, bundle_sha256, bundle_version, load_bundled, read_state
from stemdm.evidence.formats import EvidenceBundle, read_csv
from stemdm.evidence.store import Store

OLD_SOURCE = "bundled:stemdm-0.1.0"
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "bundle_before_contrasts"
WEB = "web: reconciled by alice (extractions 1, 2)"


def old_bundle() -> EvidenceBundle:
    bundle, problems = read_csv(FIXTURE)
    assert not [p for p in problems if p.severity == "error"]
    return bundle


def dumps(records) -> dict:
    return {(r.kind, r.natural_key()): r.model_dump(mode="json") for r in records}


def older_store(url) -> Store:
    """A store as the previous release left it: its bundle imported under its own source, no version."""
    store = Store.open(url, bootstrap=False)
    store.import_bundle(old_bundle(), OLD_SOURCE)
    return store


def unchanged_measurement():
    """A measurement both bundles hold, identical in both."""
    new = dumps(load_bundled()["measurements"])
    return next(
        m for m in old_bundle()["measurements"]
        if m.statistic == "mean_sd" and new.get((m.kind, m.natural_key())) == m.model_dump(mode="json")
    )  # fmt: skip


def edited_mean(measurement) -> float:
    return round(measurement.mean * 1.05, 2)  # a plausible correction a reviewer might make


def test_the_fixture_is_an_older_bundle():
    old, new = old_bundle().count(), load_bundled().count()
    assert old["contrasts"] == old["corrections"] == 0 < new["contrasts"] and new["corrections"] > 0
    assert old["trials"] < new["trials"]


def test_an_older_store_is_brought_to_the_current_bundle(store_url):
    store = older_store(store_url)
    edited = unchanged_measurement().model_copy(update={"mean": edited_mean(unchanged_measurement())})
    user = small_bundle()  # a trial of the user's own, with its arms and a measurement
    mine = EvidenceBundle()
    mine.add(edited)
    store.import_bundle(mine, WEB)
    store.import_bundle(user, "my-trials.csv")
    before = len(store.history())

    update = Store.open(store_url).bundled_update
    assert update is not None and update.applied and update.previous == "unrecorded"
    assert update.added["contrasts"] == load_bundled().count()["contrasts"]
    assert update.added["corrections"] == load_bundled().count()["corrections"]
    assert update.added["trials"] == 1 and update.changed["arms"] == 1  # Bhansali 2017's BM-MNC arm
    line = update.summary()
    assert line.startswith(f"bundled evidence updated to {bundle_version()}: ")
    assert "1 trial, " in line and " contrasts, " in line and "corrections added; 1 arm changed" in line
    assert "1 conflict(s)" in line
    assert edited.natural_key() in update.conflicts[0]

    after = Store.open(store_url)
    held = dumps(after.load().all())
    for key, record in dumps(load_bundled().all()).items():  # every bundled record is today's ...
        if key != ("measurements", edited.natural_key()):
            assert held[key] == record, key
    assert held[("measurements", edited.natural_key())]["mean"] == edited.mean  # ... but the user's edit wins
    for key, record in dumps(user.all()).items():
        assert held[key] == record  # the user's own trial survives
    new_rows = after.history()[: len(after.history()) - before]
    assert new_rows and {row["source"] for row in new_rows} == {BUNDLED_SOURCE}
    with after.engine.connect() as connection:
        state = read_state(connection)
    assert state["bundled_sha256"] == bundle_sha256() and state["bundled_version"] == bundle_version()

    # a second open changes nothing and says nothing
    again = Store.open(store_url)
    assert again.bundled_update is None and len(again.history()) == len(after.history())


def test_records_the_bundle_dropped_are_removed_unless_yours_refer_to_them(store_url):
    old = old_bundle()
    gone = small_bundle()  # stands for a trial an earlier bundle had and today's does not
    gone_trial = gone["trials"][0].trial_id
    old.extend(gone)
    store = Store.open(store_url, bootstrap=False)
    store.import_bundle(old, OLD_SOURCE)
    update = Store.open(store_url).bundled_update
    assert update.removed["trials"] == 1 and update.removed["measurements"] == len(gone["measurements"])
    held = Store.open(store_url).load()
    assert gone_trial not in {t.trial_id for t in held["trials"]}
    deleted = [row for row in Store.open(store_url).history() if row["action"] == "delete"]
    assert deleted and all(row["source"] == BUNDLED_SOURCE and row["old_value"] for row in deleted)


def test_a_dropped_trial_your_records_refer_to_is_kept(store_url):
    old = old_bundle()
    gone = small_bundle()
    old.extend(EvidenceBundle(records={k: v for k, v in gone.records.items() if k in ("trials", "arms")}))
    store = Store.open(store_url, bootstrap=False)
    store.import_bundle(old, OLD_SOURCE)
    yours = EvidenceBundle(records={**EvidenceBundle().records, "measurements": gone["measurements"]})
    store.import_bundle(yours, "my-extraction.csv")
    update = Store.open(store_url).bundled_update
    assert update.applied and not update.removed
    assert any("kept because your records refer to it" in c for c in update.conflicts)
    held = Store.open(store_url).load()
    assert gone["trials"][0].trial_id in {t.trial_id for t in held["trials"]}


def test_an_update_that_would_not_validate_changes_nothing_and_says_so(store_url):
    store = older_store(store_url)
    arm = next(a for a in old_bundle()["arms"] if (a.trial_id, a.arm_id) == ("Zang2022", "msc"))
    shrunk = EvidenceBundle()
    shrunk.add(arm.model_copy(update={"n_randomized": 10}))  # a user edit that today's records contradict
    old_measurements = [
        m for m in old_bundle()["measurements"] if (m.trial_id, m.arm_id) == ("Zang2022", "msc")
    ]
    assert all(m.n is None or m.n <= 10 for m in old_measurements)
    store.import_bundle(shrunk, WEB)
    before = store.load()
    update = Store.open(store_url).bundled_update
    assert update is not None and not update.applied and update.problems
    assert "NOT updated" in update.summary()
    assert dumps(Store.open(store_url, bootstrap=False).load().all()) == dumps(before.all())


def test_a_store_never_made_from_the_bundle_is_left_alone(store_url):
    store = Store.open(store_url, bootstrap=False)
    store.import_bundle(small_bundle(), "mine.csv")
    opened = Store.open(store_url)
    assert opened.bundled_update is None
    assert dumps(opened.load().all()) == dumps(small_bundle().all())


def test_a_new_store_is_loaded_and_says_nothing(store_url):
    store = Store.open(store_url)
    assert store.bundled_update is not None and store.bundled_update.summary() is None
    assert dumps(store.load().all()) == dumps(load_bundled().all())
    assert Store.open(store_url).bundled_update is None


def test_a_store_of_a_newer_release_is_not_taken_back(store_url):
    store = Store.open(store_url)
    with store._writing() as connection:
        from stemdm.evidence.bundled import write_state

        write_state(connection, {"bundled_sha256": "0" * 64, "bundled_stemdm": "99.0.0"})
    update = Store.open(store_url).bundled_update
    assert update.newer and "newer than this stemdm" in update.summary()


def test_two_processes_opening_an_older_store_update_it_once(tmp_path):
    url = str(tmp_path / "old.sqlite")
    older_store(url)
    updates, failures = [], []

    def open_it():
        try:
            updates.append(Store.open(url).bundled_update)
        except Exception as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=open_it) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert sum(1 for u in updates if u is not None and u.changes) == 1
    sources = [i["source"] for i in Store.open(url).imports()]
    assert sources == [OLD_SOURCE, BUNDLED_SOURCE]


@pytest.mark.parametrize("kind", ["contrasts", "corrections"])
def test_the_review_sees_the_new_bundled_records(tmp_path, kind):
    url = str(tmp_path / "old.sqlite")
    older_store(url)
    assert not Store.open(url, bootstrap=False).load()[kind]
    assert len(Store.open(url).load()[kind]) == load_bundled().count()[kind]


def test_the_cli_says_once_what_was_updated_and_status_shows_it(tmp_path):
    import json

    from typer.testing import CliRunner

    from stemdm.cli import app

    runner = CliRunner()
    path = str(tmp_path / "old.sqlite")
    older_store(path)
    status = runner.invoke(app, ["evidence", "status", "--db", path, "--json"])
    assert status.exit_code == 0, status.output
    before = json.loads(status.output)
    assert before["bundled"]["status"] == "older" and before["records"]["contrasts"]["total"] == 0
    assert before["schema"]["current"] and before["last_change"]["source"] == OLD_SOURCE
    first = runner.invoke(app, ["evidence", "list", "--db", path])
    assert first.exit_code == 0 and first.output.count("bundled evidence updated to 0.2.0") == 1
    second = runner.invoke(app, ["evidence", "list", "--db", path])
    assert second.exit_code == 0 and "bundled evidence updated" not in second.output
    after = json.loads(runner.invoke(app, ["evidence", "status", "--db", path, "--json"]).output)
    assert after["bundled"]["status"] == "current" and after["bundled"]["follows"] == bundle_version()
    n = load_bundled().count()["contrasts"]
    assert after["records"]["contrasts"] == {"total": n, "bundled": n, "yours": 0}
    text = runner.invoke(app, ["evidence", "status", "--db", path])
    assert "this stemdm's" in text.output and "contrasts" in text.output


def test_the_chinese_review_says_it_in_chinese(tmp_path):
    from typer.testing import CliRunner

    from stemdm.cli import app

    path = str(tmp_path / "old.sqlite")
    older_store(path)
    result = CliRunner().invoke(app, ["review", "run", "--db", path, "--lang", "zh"])
    assert result.exit_code == 0 and "内置证据已更新至 0.2.0（数据 " in result.output


def test_status_names_the_store_without_its_password(store_url):
    import json

    from typer.testing import CliRunner

    from stemdm.cli import app

    Store.open(store_url)
    result = CliRunner().invoke(app, ["evidence", "status", "--db", store_url, "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)["store"]
    if "@" in store_url:  # PostgreSQL: user:password@host
        password = store_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
        assert f":{password}@" not in shown and ":***@" in shown
    assert json.loads(result.output)["bundled"]["status"] == "current"
