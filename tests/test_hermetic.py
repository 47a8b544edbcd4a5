"""The suite is hermetic (tests/conftest.py): per-user locations point into a temporary folder, and nothing
was written under the real home directory while the suite ran (the last test of the session)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import HERMETIC_ROOT, REAL_HOME, SESSION_START

#: folders of the machine's own tools that other programs (compilers, package managers, the developer's
#: agent) may write while the suite runs; stemdm and its libraries never write there
OTHER_PROGRAMS = {".pyenv", ".cargo", ".rustup", ".m2", ".npm", ".claude", ".cache/pip"}


def test_per_user_locations_point_into_the_temporary_folder():
    from stemdm.evidence.store import default_url
    from stemdm.paths import calibration_dir, data_dir

    for name in ("HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "MPLCONFIGDIR"):
        assert Path(os.environ[name]).resolve().is_relative_to(HERMETIC_ROOT), name
    assert Path(default_url()).resolve().is_relative_to(HERMETIC_ROOT)
    assert data_dir().resolve().is_relative_to(HERMETIC_ROOT)
    assert calibration_dir().resolve().is_relative_to(HERMETIC_ROOT)
    assert Path("~").expanduser().resolve().is_relative_to(HERMETIC_ROOT)


def test_a_subprocess_sees_the_same_locations():
    code = "from stemdm.evidence.store import default_url; print(default_url())"
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert Path(printed.strip()).resolve().is_relative_to(HERMETIC_ROOT)


def _written_since(root: Path, since: float) -> list[Path]:
    """Files and folders under ``root`` changed since ``since`` (seconds), other programs' folders skipped."""
    written = []
    for folder, subfolders, files in os.walk(root):
        here = Path(folder)
        relative = here.relative_to(root)
        subfolders[:] = [d for d in subfolders if (relative / d).as_posix() not in OTHER_PROGRAMS]
        for name in files + subfolders:
            path = here / name
            try:
                if path.lstat().st_mtime >= since:
                    written.append(path)
            except OSError:
                continue
    return written


@pytest.mark.last
def test_nothing_was_written_under_the_real_home():
    if REAL_HOME.is_relative_to(HERMETIC_ROOT) or not REAL_HOME.is_dir():
        pytest.skip("no real home to check")
    written = _written_since(REAL_HOME, SESSION_START)
    assert not written, f"the suite wrote under the real home: {[str(p) for p in written[:20]]}"


def test_the_check_sees_a_write(tmp_path):
    before = os.stat(tmp_path).st_mtime - 1
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "store.sqlite").write_text("x")
    found = {p.name for p in _written_since(tmp_path, before)}
    assert {"sub", "store.sqlite"} <= found
