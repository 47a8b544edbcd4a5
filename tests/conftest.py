"""Test configuration.

- **Hermetic**: before any stemdm code runs, every per-user location (HOME, XDG data/cache/config/state,
  matplotlib's config and font cache) points into one temporary folder, and STEMDM_DB / STEMDM_DATA_DIR /
  STEMDM_SIM_PARAMS are unset, so no test reads or writes the real home or the user's default store, and a
  result never depends on what an earlier run left behind. Subprocesses inherit the same environment. The
  real home is checked at the end of the session (``tests/test_hermetic.py``).
- Hypothesis runs derandomized in CI (a failing example must reproduce, never flake), randomized locally,
  and thoroughly with HYPOTHESIS_PROFILE=thorough.
"""

import os
import shutil
import tempfile
import time
from pathlib import Path

#: the real home, and when the session began (for the end-of-session check that nothing was written there)
REAL_HOME = Path(os.path.expanduser("~")).resolve()
SESSION_START = time.time()
HERMETIC_ROOT = Path(tempfile.mkdtemp(prefix="stemdm-tests-")).resolve()
_PER_USER = {
    "HOME": "home",
    "XDG_DATA_HOME": "home/.local/share",
    "XDG_CACHE_HOME": "home/.cache",
    "XDG_CONFIG_HOME": "home/.config",
    "XDG_STATE_HOME": "home/.local/state",
    "MPLCONFIGDIR": "home/.config/matplotlib",
}
for _name, _relative in _PER_USER.items():
    (HERMETIC_ROOT / _relative).mkdir(parents=True, exist_ok=True)
    os.environ[_name] = str(HERMETIC_ROOT / _relative)
for _name in ("STEMDM_DB", "STEMDM_DATA_DIR", "STEMDM_SIM_PARAMS"):
    os.environ.pop(_name, None)


def pytest_configure(config):
    config.addinivalue_line("markers", "last: run after every other test (the real-home check)")


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)  # stable: others keep order


def pytest_unconfigure(config):
    shutil.rmtree(HERMETIC_ROOT, ignore_errors=True)


from hypothesis import settings  # noqa: E402

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
