"""Web tests: a workbench on a fresh store of each kind (SQLite; PostgreSQL when STEMDM_TEST_PG_URL is set),
with an admin, two reviewers and a viewer, and a client that signs in through the real form."""

from __future__ import annotations

import re
import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note on httpx versions
    from fastapi.testclient import TestClient

from stemdm.web import accounts
from stemdm.web.app import Settings, create_app

PASSWORDS = {
    "ada": "violet harbour lantern 31", "alice": "copper meadow falcon 72",
    "bob": "granite river orchid 58", "vic": "amber tundra willow 46",
}  # fmt: skip
ROLES = {"ada": "admin", "alice": "reviewer", "bob": "reviewer", "vic": "viewer"}


@pytest.fixture
def app(store_url, tmp_path, monkeypatch):
    monkeypatch.setenv("STEMDM_DATA_DIR", str(tmp_path / "data"))
    application = create_app(Settings(store_url, tmp_path / "data"))
    for name, role in ROLES.items():
        accounts.add_user(application.state.engine, name, role, PASSWORDS[name])
    yield application
    application.state.engine.dispose()


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def client_for(app, name: str | None) -> TestClient:
    """A browser-like client, signed in as ``name`` through the sign-in form (None: anonymous)."""
    client = TestClient(app)
    if name is not None:
        page = client.get("/login")
        form = {
            "csrf_token": csrf_of(page.text),
            "name": name,
            "password": PASSWORDS[name],
            "next": "/trials",
        }
        response = client.post("/login", data=form, follow_redirects=False)
        assert response.status_code == 303, response.text
    return client


def extraction_form(client: TestClient, trial_id: str, **values: str):
    page = client.get(f"/trials/{trial_id}/extract")
    data = {
        "csrf_token": csrf_of(page.text), "arm_id": "msc", "outcome_id": "hba1c", "timepoint_weeks": "24",
        "timepoint_label": "24 weeks", "value_type": "final", "statistic": "mean_sd", "mean": "7.9",
        "sd": "1.1", "n": "40", "unit": "%", "source_url": "https://example.org/fulltext",
        "locator": "Table 2",
    } | values  # fmt: skip
    return client.post(f"/trials/{trial_id}/extract", data=data, follow_redirects=False)
