"""The low findings of the workbench audit (issue 19): body and protocol size limits, malformed values as
422 naming the field (never a 500), NUL in a file name, /docs served locally and signed in, the data folder
private and a loose signing key refused, a blinded extraction answered like a missing one."""

from __future__ import annotations

import json
import os
import stat

import pytest
from fastapi.testclient import TestClient

from stemdm.web import accounts
from stemdm.web.app import MAX_BODY_BYTES, Settings, create_app
from tests.web.conftest import client_for, csrf_of, extraction_form


def _token(app, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {accounts.new_token(app.state.engine, name)}"}


def test_bodies_and_protocols_have_size_limits(app):
    client = TestClient(app)
    headers = _token(app, "alice") | {"Content-Type": "application/json"}
    huge = json.dumps({"protocol": {"title": "x" * (MAX_BODY_BYTES + 10)}})
    assert client.post("/api/reviews", content=huge, headers=headers).status_code == 413
    big = json.dumps({"protocol": {"title": "x" * 1_200_000}})  # under the body limit, over the protocol's
    refused = client.post("/api/reviews", content=big, headers=headers)
    assert refused.status_code == 422 and "larger than" in refused.text


def test_malformed_values_are_422_naming_the_field(app):
    alice = client_for(app, "alice")
    page = extraction_form(alice, "Zang2022", version="abc")
    assert page.status_code == 422 and "version" in page.text
    api = TestClient(app)
    record = {"trial_id": "Zang2022", "outcome_id": "hba1c", "timepoint_weeks": 24, "arm_id": "msc", "n": 40,
              "value_type": "final", "statistic": "mean_sd", "mean": 7.9, "sd": 1.1, "unit": "%",
              "source_url": "https://example.org/f", "version": 1e308 * 10}  # fmt: skip
    response = api.post("/api/extractions", content=json.dumps(record).replace("Infinity", "1e999"),
                        headers=_token(app, "alice") | {"Content-Type": "application/json"})  # fmt: skip
    assert response.status_code == 422 and "version" in response.text


def test_a_nul_in_a_file_name_is_not_found(app):
    alice = client_for(app, "alice")
    assert alice.get("/simulations/1/files/result.json%00.png").status_code == 404


def test_docs_are_local_script_free_and_signed_in(app):
    anonymous = TestClient(app)
    assert anonymous.get("/docs", follow_redirects=False).status_code == 303
    assert anonymous.get("/openapi.json").status_code == 401
    page = client_for(app, "vic").get("/docs")
    assert page.status_code == 200 and "/api/extractions" in page.text
    assert "<script" not in page.text and "cdn" not in page.text.lower()
    assert TestClient(app).get("/openapi.json", headers=_token(app, "vic")).json()["paths"]


def test_the_data_folder_is_private_and_a_loose_key_is_refused(store_url, tmp_path):
    folder = tmp_path / "data"
    app = create_app(Settings(store_url, folder))
    app.state.engine.dispose()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    os.chmod(folder / "secret_key", 0o644)
    with pytest.raises(accounts.AccountError, match="chmod 600"):
        create_app(Settings(store_url, folder))


def test_a_blinded_extraction_is_answered_like_a_missing_one(app):
    alice, bob = client_for(app, "alice"), client_for(app, "bob")
    first = extraction_form(alice, "Zang2022", mean="7.9")
    first_id = int(first.headers["location"].rsplit("/", 1)[1])
    blinded, missing = bob.get(f"/extractions/{first_id}"), bob.get("/extractions/999999")
    assert blinded.status_code == missing.status_code == 404
    assert "7.9" not in blinded.text
    assert csrf_of(alice.get("/trials").text)
