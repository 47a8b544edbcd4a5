"""The store on SQLite and PostgreSQL: bundled data load, round trips through every export format,
idempotent re-import, transactional failure, audit rows."""

from __future__ import annotations

import pytest
from tests.evidence.helpers import small_bundle

from stemdm.evidence.bundled import BUNDLED_SOURCE, load_bundled
from stemdm.evidence.errors import EvidenceError
from stemdm.evidence.formats import read_any, write_any
from stemdm.evidence.store import Store, normalize_url, redact


def dumps(bundle):
    return sorted((r.kind, r.natural_key(), repr(r.model_dump())) for r in bundle.all())


def test_bundled_dataset_loads_on_first_use(store_url):
    store = Store.open(store_url)
    assert store.load().count() == load_bundled().count()
    assert dumps(store.load()) == dumps(load_bundled())
    assert [i["source"] for i in store.imports()] == [BUNDLED_SOURCE]
    assert Store.open(store_url).imports() == store.imports()  # not loaded twice


@pytest.mark.parametrize("fmt", ["csv", "json", "xlsx"])
def test_round_trip_through_every_format(store_url, tmp_path, fmt):
    store = Store.open(store_url)
    first = tmp_path / ("first" if fmt == "csv" else f"first.{fmt}")
    write_any(store.load(), first, fmt)
    bundle, problems = read_any(first)
    assert problems == []
    fresh = Store.open(str(tmp_path / "fresh.sqlite"), bootstrap=False)
    report = fresh.import_bundle(bundle, str(first), problems)
    assert report.inserted == len(bundle.all())
    assert dumps(fresh.load()) == dumps(store.load())
    if fmt != "xlsx":  # xlsx files carry timestamps; their content is compared above
        second = tmp_path / ("second" if fmt == "csv" else f"second.{fmt}")
        write_any(fresh.load(), second, fmt)
        files = sorted(first.iterdir()) if fmt == "csv" else [first]
        for path in files:
            twin = second / path.name if fmt == "csv" else second
            assert path.read_bytes() == twin.read_bytes()


def test_reimport_is_idempotent_and_changes_are_audited(store_url):
    store = Store.open(store_url, bootstrap=False)
    first = store.import_bundle(small_bundle(), "file-a.csv")
    assert (first.inserted, first.updated, first.unchanged) == (4, 0, 0)
    again = store.import_bundle(small_bundle(), "file-a.csv")
    assert (again.inserted, again.updated, again.unchanged, again.import_id) == (0, 0, 4, None)
    assert len(store.imports()) == 1
    changed = store.import_bundle(small_bundle(mean=6.9), "file-b.csv")
    assert (changed.inserted, changed.updated, changed.unchanged) == (0, 1, 3)
    latest = store.history(limit=1)[0]
    assert (
        latest["action"],
        latest["field"],
        latest["old_value"],
        latest["new_value"],
        latest["source"],
    ) == ("update", "mean", "7.1", "6.9", "file-b.csv")
    assert len(store.history(since_import=first.import_id)) == 1


def test_invalid_import_changes_nothing_and_reports_every_problem(store_url):
    store = Store.open(store_url, bootstrap=False)
    store.import_bundle(small_bundle(), "good.csv")
    before = (store.load().count(), store.imports(), store.history())
    bad = small_bundle(n=25)  # more than randomized
    bad["measurements"].append(bad["measurements"][0].model_copy(update={"arm_id": "nope"}))
    bad["trials"][0] = bad["trials"][0].model_copy(update={"country": "Elsewhere"})  # would be an update
    with pytest.raises(EvidenceError) as caught:
        store.import_bundle(bad, "bad.csv")
    assert {p.field for p in caught.value.errors} >= {"n", "arm_id"}
    assert "nothing was changed" in str(caught.value)
    assert (store.load().count(), store.imports(), store.history()) == before


def test_urls():
    assert normalize_url("postgresql://u:secret@h/db") == "postgresql+psycopg://u:secret@h/db"
    assert redact("postgresql+psycopg://u:secret@h/db") == "postgresql+psycopg://u:***@h/db"
    assert normalize_url("/tmp/x.sqlite") == "sqlite:////tmp/x.sqlite"


def test_unreachable_database_is_a_clear_error(tmp_path):
    with pytest.raises(EvidenceError, match="cannot open the database"):
        Store.open("postgresql://nobody:pw@127.0.0.1:1/none")


@pytest.mark.parametrize(
    "url, secrets",
    [
        ("postgresql://nobody@127.0.0.1:1/none?password=hunter2secret", ["hunter2secret"]),
        ("postgresql://nobody:hun7er@2secret@127.0.0.1:1/none", ["hun7er", "2secret"]),
        ("postgresql://nobody:pa/ss?word@127.0.0.1:1/none?sslpassword=zzz999", ["pa/ss", "zzz999"]),
    ],
)
def test_no_password_in_any_message(url, secrets):
    from typer.testing import CliRunner

    from stemdm.cli import app

    with pytest.raises(EvidenceError) as caught:
        Store.open(url)
    result = CliRunner().invoke(app, ["evidence", "list", "--db", url])
    assert result.exit_code == 2
    for text in (str(caught.value), repr(caught.value.problems), result.output):
        for secret in secrets:
            assert secret not in text, text
    assert "***" in result.output
