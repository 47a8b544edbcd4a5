"""Evidence tests: every test gets its own SQLite store (STEMDM_DB), and store tests run against SQLite and,
when STEMDM_TEST_PG_URL names a server (CI starts one), PostgreSQL too."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _private_store(tmp_path, monkeypatch):
    monkeypatch.setenv("STEMDM_DB", str(tmp_path / "evidence.sqlite"))
