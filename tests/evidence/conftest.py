"""Evidence tests: every test gets its own SQLite store (STEMDM_DB), and store tests run against SQLite and,
when STEMDM_TEST_PG_URL names a server (CI starts one), PostgreSQL too."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine

from stemdm.evidence.store import metadata, normalize_url

PG_URL = os.environ.get("STEMDM_TEST_PG_URL")


@pytest.fixture(autouse=True)
def _private_store(tmp_path, monkeypatch):
    monkeypatch.setenv("STEMDM_DB", str(tmp_path / "evidence.sqlite"))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A fresh, empty database URL of each kind (PostgreSQL skipped when no server URL is given)."""
    if request.param == "sqlite":
        return str(tmp_path / "store.sqlite")
    if not PG_URL:
        pytest.skip("no PostgreSQL server: set STEMDM_TEST_PG_URL (CI does)")
    engine = create_engine(normalize_url(PG_URL))
    metadata.drop_all(engine)
    engine.dispose()
    return PG_URL
