"""Workbench integrity (issue 19, the high findings and the third-person rule), on SQLite and PostgreSQL:
the audit page keeps blinding, a stale reconcile form imports nothing, a crash between claiming a slot and
importing its value leaves neither, claims stranded by an earlier stemdm are freed on start, and an extractor
cannot settle her own disagreement."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select

from stemdm.web import accounts
from stemdm.web import extraction as ex
from stemdm.web.app import Settings, create_app
from stemdm.web.tables import reconciliations, web_audit
from tests.web.conftest import client_for, csrf_of, extraction_form

SLOT_PREFIX = "Zang2022/hba1c/24/msc"
RECORD = {"trial_id": "Zang2022", "outcome_id": "hba1c", "timepoint_weeks": 24, "timepoint_label": "24 w",
          "arm_id": "msc", "n": 40, "value_type": "final", "statistic": "mean_sd", "sd": 1.0, "unit": "%",
          "source_url": "https://example.org/fulltext", "locator": "Table 2"}  # fmt: skip


def _id(response) -> int:
    assert response.status_code == 303, response.text
    return int(response.headers["location"].rsplit("/", 1)[1])


def _stored(app, mean: float) -> bool:
    return any(
        m.trial_id == "Zang2022" and m.timepoint_weeks == 24 and m.arm_id == "msc" and m.mean == mean
        for m in app.state.store.load()["measurements"]
    )


def _reconcile_form(page: str, choice: str) -> dict[str, str]:
    slot = next(line for line in page.splitlines() if f'data-slot="{SLOT_PREFIX}' in line).split('"')[3]
    versions = dict(re.findall(r'name="(version_\d+)" value="(\d+)"', page))
    return {"csrf_token": csrf_of(page), "slot": slot, "choice": choice} | versions


def test_the_audit_page_keeps_blinding(app):
    alice, bob, ada = (client_for(app, name) for name in ("alice", "bob", "ada"))
    _id(extraction_form(alice, "Zang2022", mean="7.93", notes="alice-private-note"))
    for reader in (bob, ada):  # another reviewer, and the admin
        audit = reader.get("/audit").text
        assert "7.93" not in audit and "alice-private-note" not in audit
        assert "blinded until a second reviewer has entered this number" in audit and "alice" in audit
    assert "7.93" in alice.get("/audit").text  # her own entry
    _id(extraction_form(bob, "Zang2022", mean="7.61"))
    audit = ada.get("/audit").text
    assert "7.93" in audit and "7.61" in audit  # both entered: unblinded for everyone


def test_a_stale_reconcile_form_imports_nothing(app):
    alice, bob, ada = (client_for(app, name) for name in ("alice", "bob", "ada"))
    first = _id(extraction_form(alice, "Zang2022", mean="7.0"))
    _id(extraction_form(bob, "Zang2022", mean="7.6"))
    page = ada.get("/disagreements").text  # shows alice = 7.0
    assert extraction_form(alice, "Zang2022", mean="9.5", version="1").status_code == 303  # alice edits
    refused = ada.post("/reconcile", data=_reconcile_form(page, str(first)), follow_redirects=False)
    assert refused.status_code == 409 and "alice" in refused.text and "nothing was done" in refused.text
    assert not _stored(app, 9.5) and not _stored(app, 7.0)
    fresh = ada.get("/disagreements").text  # the reloaded page shows 9.5 and its new version
    done = ada.post("/reconcile", data=_reconcile_form(fresh, str(first)), follow_redirects=False)
    assert done.status_code == 303 and _stored(app, 9.5)


def test_a_form_without_versions_is_refused(app):
    alice, bob, ada = (client_for(app, name) for name in ("alice", "bob", "ada"))
    first = _id(extraction_form(alice, "Zang2022", mean="7.0"))
    _id(extraction_form(bob, "Zang2022", mean="7.6"))
    form = {k: v for k, v in _reconcile_form(ada.get("/disagreements").text, str(first)).items()
            if not k.startswith("version_")}  # fmt: skip
    assert ada.post("/reconcile", data=form).status_code == 422
    bad = form | {"choice": "abc", "version_1": "1"}
    assert ada.post("/reconcile", data=bad).status_code == 422  # never a 500
    assert not _stored(app, 7.0)


def test_a_crash_between_claim_and_import_leaves_neither(app, monkeypatch):
    engine, store = app.state.engine, app.state.store
    alice, bob, ada = (accounts.find_user(engine, n) for n in ("alice", "bob", "ada"))
    a = ex.save(engine, store, alice, RECORD | {"mean": 7.1})
    ex.save(engine, store, bob, RECORD | {"mean": 7.4})

    def killed(*_args, **_kwargs):
        raise RuntimeError("the server was killed here")  # between the claim and the import

    monkeypatch.setattr(type(store), "import_within", killed)
    with pytest.raises(RuntimeError):
        ex.reconcile(engine, store, ada, a.slot, chosen_id=a.id)
    monkeypatch.undo()
    with engine.connect() as connection:
        assert connection.execute(select(reconciliations)).all() == []  # no claim without its import
    assert a.slot in {d["slot"] for d in ex.disagreements(engine)}  # still waiting to be settled
    ex.reconcile(engine, store, ada, a.slot, chosen_id=a.id)  # and it can be, once
    assert any(m.natural_key() == a.slot and m.mean == 7.1 for m in store.load()["measurements"])


def test_a_claim_stranded_by_an_earlier_stemdm_is_freed_on_start(app, store_url, tmp_path):
    engine, store = app.state.engine, app.state.store
    alice, bob, ada = (accounts.find_user(engine, n) for n in ("alice", "bob", "ada"))
    a = ex.save(engine, store, alice, RECORD | {"mean": 7.2})
    ex.save(engine, store, bob, RECORD | {"mean": 7.3})
    with engine.begin() as connection:  # what a kill -9 between the two transactions of 0.1.0 left
        connection.execute(insert(reconciliations).values(
            trial_id="Zang2022", slot=a.slot, reconciler_id=ada.id, chosen_extraction_id=a.id,
            record=json.dumps(a.record, sort_keys=True), import_id=None, version=1, at=datetime.now(UTC),
        ))  # fmt: skip
    assert a.slot not in {d["slot"] for d in ex.disagreements(engine)}
    restarted = create_app(Settings(store_url, tmp_path / "data"))
    try:
        assert a.slot in {d["slot"] for d in ex.disagreements(engine)}
        with engine.connect() as connection:
            actions = connection.execute(select(web_audit.c.action)).scalars().all()
        assert "reconcile_repaired" in actions
        ex.reconcile(engine, store, ada, a.slot, chosen_id=a.id)
        assert any(m.natural_key() == a.slot and m.mean == 7.2 for m in store.load()["measurements"])
    finally:
        restarted.state.engine.dispose()


def test_an_extractor_cannot_settle_her_own_disagreement(app):
    alice, bob = (client_for(app, name) for name in ("alice", "bob"))
    first = _id(extraction_form(alice, "Zang2022", mean="7.0"))
    _id(extraction_form(bob, "Zang2022", mean="7.6"))
    page = alice.get("/disagreements").text
    refused = alice.post("/reconcile", data=_reconcile_form(page, str(first)), follow_redirects=False)
    assert refused.status_code == 403 and "third person" in refused.text
    assert not _stored(app, 7.0)


def test_an_edit_after_unblinding_is_marked(app):
    alice, bob, ada = (client_for(app, name) for name in ("alice", "bob", "ada"))
    _id(extraction_form(alice, "Zang2022", mean="7.0"))
    _id(extraction_form(bob, "Zang2022", mean="7.6"))
    assert extraction_form(alice, "Zang2022", mean="7.6", version="1").status_code == 303  # copies bob's
    with app.state.engine.connect() as connection:
        actions = connection.execute(select(web_audit.c.action)).scalars().all()
    assert "edit_after_unblinding" in actions
    assert "edit after unblinding" in ada.get("/audit").text
