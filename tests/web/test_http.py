"""HTTP behaviour of the workbench (issue 11): role boundaries, CSRF, throttling, escaping, the API's
401/403/422/201 cases, blinding, double extraction with a reconciled disagreement, stale saves."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from stemdm.evidence.formats import EvidenceBundle
from stemdm.evidence.records import Measurement
from stemdm.web import accounts
from tests.web.conftest import client_for, csrf_of, extraction_form

GOOD = {
    "trial_id": "Zang2022", "outcome_id": "hba1c", "timepoint_weeks": 24, "timepoint_label": "24 weeks",
    "arm_id": "control", "n": 40, "value_type": "final", "statistic": "mean_sd", "mean": 8.3, "sd": 1.0,
    "unit": "%", "source_url": "https://example.org/fulltext", "locator": "Table 2",
}  # fmt: skip


def _token(app, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {accounts.new_token(app.state.engine, name)}"}


def test_health_headers_and_sign_in_required(app):
    anonymous = client_for(app, None)
    health = anonymous.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    page = anonymous.get("/trials", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    login = anonymous.get("/login")
    assert "script-src 'self'" in login.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in login.headers["content-security-policy"]
    assert login.headers["x-content-type-options"] == "nosniff"
    assert "<script" not in login.text  # no inline scripts at all


def test_session_cookie_is_signed_httponly_samesite(app):
    client = client_for(app, None)
    page = client.get("/login")
    form = {"csrf_token": csrf_of(page.text), "name": "alice", "password": "copper meadow falcon 72"}
    response = client.post("/login", data=form, follow_redirects=False)
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    forged = client_for(app, None)
    forged.cookies.set("stemdm_session", "eyJ1aWQiOiAxfQ==.forged.signature")
    assert forged.get("/trials", follow_redirects=False).status_code == 303  # not signed in


def test_csrf_missing_or_forged_is_refused(app):
    client = client_for(app, "alice")
    for token in (None, "forged-token"):
        data = {"arm_id": "msc", "outcome_id": "hba1c"} | ({} if token is None else {"csrf_token": token})
        assert client.post("/trials/Zang2022/extract", data=data).status_code == 403
    anonymous = client_for(app, None)
    assert (
        anonymous.post("/login", data={"name": "alice", "password": "copper meadow falcon 72"}).status_code
        == 403
    )


def test_failed_sign_ins_are_throttled_without_locking_anyone_out(app, monkeypatch):
    """Issue 19 (ASVS 2.2.1): ten failures on an account from one client refuse that client for the window
    (even the right password), but the account's owner at another address still signs in (only slowed
    down), and a client spraying many accounts is refused after MAX_CLIENT_FAILURES."""
    from stemdm.web import accounts

    monkeypatch.setattr(accounts, "MAX_SLOWDOWN_S", 0.01)  # the slow-down itself is tested below
    attacker = TestClient(app, client=("203.0.113.9", 5000))
    token = csrf_of(attacker.get("/login").text)
    wrong = {"csrf_token": token, "name": "alice", "password": "wrong"}
    codes = [attacker.post("/login", data=wrong).status_code for _ in range(11)]
    assert codes[:10] == [401] * 10 and codes[10] == 429
    right = {"csrf_token": token, "name": "alice", "password": "copper meadow falcon 72"}
    assert attacker.post("/login", data=right).status_code == 429  # this client waits out the window
    owner = TestClient(app, client=("198.51.100.4", 5000))
    owner_form = right | {"csrf_token": csrf_of(owner.get("/login").text)}
    assert owner.post("/login", data=owner_form, follow_redirects=False).status_code == 303  # not locked out
    assert accounts.slowdown_s(app.state.engine, "alice") > 0  # but slowed, as any distributed guess is
    sprayed = [attacker.post("/login", data=wrong | {"name": f"user{i}"}).status_code for i in range(25)]
    assert sprayed[-1] == 429  # one client, many names: refused after 30 failures in all


def test_a_forged_forwarded_header_is_not_believed(app):
    attacker = TestClient(app, client=("203.0.113.9", 5000))
    token = csrf_of(attacker.get("/login").text)
    wrong = {"csrf_token": token, "name": "bob", "password": "wrong"}
    codes = [
        attacker.post("/login", data=wrong, headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code
        for i in range(11)
    ]
    assert codes[10] == 429  # rotating the header does not reset the count (no trusted proxy configured)


def test_roles(app):
    viewer = client_for(app, "vic")
    assert viewer.get("/trials").status_code == 200
    assert viewer.get("/trials/Zang2022/extract").status_code == 403
    assert viewer.get("/disagreements").status_code == 403
    api = client_for(app, None)
    assert api.post("/api/extractions", json=GOOD).status_code == 401
    assert (
        api.post("/api/extractions", json=GOOD, headers={"Authorization": "Bearer nope"}).status_code == 401
    )
    assert api.post("/api/extractions", json=GOOD, headers=_token(app, "vic")).status_code == 403
    assert api.get("/api/trials", headers=_token(app, "vic")).status_code == 200
    # a signed-in session writing through the API needs the CSRF header
    alice = client_for(app, "alice")
    assert alice.post("/api/extractions", json=GOOD).status_code == 403


def test_api_trials_and_extraction(app):
    client = client_for(app, None)
    headers = _token(app, "alice")
    trials = client.get("/api/trials", headers=headers).json()
    assert any(t["trial_id"] == "Zang2022" for t in trials)
    one = client.get("/api/trials/Zang2022", headers=headers).json()
    assert one["measurements"] and all("source_url" in m for m in one["measurements"])
    created = client.post("/api/extractions", json=GOOD, headers=headers)
    assert created.status_code == 201 and isinstance(created.json()["id"], int)
    assert client.get("/api/trials/Nope", headers=headers).status_code == 404


def test_api_invalid_records_name_the_field(app):
    client = client_for(app, None)
    headers = _token(app, "alice")
    cases = {
        "sd": GOOD | {"sd": -1},
        "unit": {k: v for k, v in GOOD.items() if k != "unit"},
        "trial_id": GOOD | {"trial_id": "NoSuchTrial"},
        "mean": GOOD | {"mean": "NaN"},
        "n": GOOD | {"n": 4000},  # more than the arm's randomized n
        "colour": GOOD | {"colour": "red"},
    }
    for field, record in cases.items():
        response = client.post("/api/extractions", json=record, headers=headers)
        assert response.status_code == 422, (field, response.text)
        assert any(problem["field"] == field for problem in response.json()["detail"]), (field, response.text)


def test_hostile_text_is_shown_as_text(app):
    alice = client_for(app, "alice")
    saved = extraction_form(alice, "Zang2022", notes="<script>alert(1)</script>", locator="<b>bold</b>")
    assert saved.status_code == 303
    page = alice.get(saved.headers["location"])
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "<script>alert" not in page.text
    link = extraction_form(alice, "Zang2022", arm_id="control", source_url="javascript:alert(1)")
    assert link.status_code == 303  # a source may be any text (a locator, a file) ...
    record = Measurement.model_validate(
        GOOD | {"arm_id": "msc", "source_url": "javascript:alert(1)", "notes": "<img src=x onerror=alert(1)>"}
    )
    bundle = EvidenceBundle()
    bundle.add(record)
    app.state.store.import_bundle(bundle, "test")
    trial = alice.get("/trials/Zang2022").text
    assert 'href="javascript' not in trial and "<img src=x" not in trial  # ... but only http(s) is a link
    assert "javascript:alert(1)" in trial and "&lt;img src=x onerror=alert(1)&gt;" in trial


def shown_versions(html: str) -> dict[str, str]:
    """The extraction versions a reconcile form carries (it is refused when one changed since)."""
    return dict(re.findall(r'name="(version_\d+)" value="(\d+)"', html))


def test_blinding_double_extraction_and_reconciliation(app):
    alice, bob, ada = (client_for(app, name) for name in ("alice", "bob", "ada"))
    first = extraction_form(alice, "Zang2022", mean="7.9")
    first_id = int(first.headers["location"].rsplit("/", 1)[1])
    assert bob.get(f"/extractions/{first_id}").status_code == 404  # blinded: answered as "no such"
    assert "7.9" not in bob.get("/trials/Zang2022").text.split("Extractions you can see")[1]
    second = extraction_form(bob, "Zang2022", mean="7.6")
    assert second.status_code == 303
    assert bob.get(f"/extractions/{first_id}").status_code == 200  # both entered: now visible
    listing = ada.get("/disagreements")
    assert "Zang2022/hba1c/24/msc" in listing.text and 'data-field="mean"' in listing.text
    slot = next(line for line in listing.text.splitlines() if 'data-slot="' in line).split('"')[3]
    form = {"csrf_token": csrf_of(listing.text), "slot": slot, "choice": "third", "mean": "7.7"}
    form |= shown_versions(listing.text)
    hidden = {"timepoint_weeks": "24.0", "timepoint_label": "24 weeks", "arm_id": "msc",
              "outcome_id": "hba1c", "value_type": "final", "statistic": "mean_sd", "sd": "1.1", "n": "40",
              "unit": "%",
              "source_url": "https://example.org/fulltext", "locator": "Table 2"}  # fmt: skip
    done = ada.post("/reconcile", data=form | hidden, follow_redirects=False)
    assert done.status_code == 303, done.text
    stored = [
        m
        for m in app.state.store.load()["measurements"]
        if (m.trial_id, m.outcome_id, m.timepoint_weeks, m.arm_id) == ("Zang2022", "hba1c", 24.0, "msc")
    ]
    assert len(stored) == 1 and stored[0].mean == 7.7  # the third value, not either reviewer's  # fmt: skip
    assert "Zang2022/hba1c/24/msc" not in ada.get("/disagreements").text
    matrix = ada.get("/trials?outcome=hba1c").text
    assert 'data-cell="Zang2022|hba1c|6"' in matrix  # 24 weeks maps to the 6-month window
    audit = ada.get("/audit").text
    assert "reconcile" in audit and "ada" in audit
    again = ada.post("/reconcile", data=form | hidden)  # a second reconciliation of the same slot
    assert again.status_code in (409, 422)


def test_a_stale_save_is_refused_and_nothing_is_lost(app):
    alice = client_for(app, "alice")
    first = extraction_form(alice, "Zang2022", mean="7.9")
    assert first.status_code == 303
    edit = extraction_form(alice, "Zang2022", mean="7.8", version="1")
    assert edit.status_code == 303
    stale = extraction_form(alice, "Zang2022", mean="7.5", version="1")  # made from the old page
    assert stale.status_code == 409 and "nothing was overwritten" in stale.text
    page = alice.get(edit.headers["location"]).text
    assert "7.8" in page and "version 2" in page
