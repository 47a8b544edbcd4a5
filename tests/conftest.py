"""Test configuration: hypothesis runs derandomized in CI (a failing example must reproduce,
never flake), randomized locally, and thoroughly with HYPOTHESIS_PROFILE=thorough."""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("thorough", max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default"))

import pytest  # noqa: E402
from sqlalchemy import MetaData, create_engine  # noqa: E402

PG_URL = os.environ.get("STEMDM_TEST_PG_URL")


def empty_postgres() -> str:
    """The test PostgreSQL server's URL with every table dropped (evidence, web and alembic_version)."""
    from stemdm.evidence.store import normalize_url

    engine = create_engine(normalize_url(PG_URL))
    reflected = MetaData()
    reflected.reflect(engine)
    reflected.drop_all(engine)
    engine.dispose()
    return PG_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A fresh, empty database URL of each kind (PostgreSQL skipped when no server URL is given)."""
    if request.param == "sqlite":
        return str(tmp_path / "store.sqlite")
    if not PG_URL:
        pytest.skip("no PostgreSQL server: set STEMDM_TEST_PG_URL (CI does)")
    return empty_postgres()
