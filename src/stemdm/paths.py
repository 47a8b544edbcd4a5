"""Per-user locations: the one place that says where stemdm keeps a user's own files.

- ``data_dir()``: ``STEMDM_DATA_DIR``, else ``$XDG_DATA_HOME/stemdm``, else ``~/.local/share/stemdm``
  (the workbench's secret key and run files, the user's own calibrations). The evidence store's default
  file is chosen by ``stemdm.evidence.store.default_url`` (``STEMDM_DB``, else the same XDG folder).
- Nothing under the installed package is ever written by a command (the shipped calibration changes only
  through ``tools/update_shipped_calibration.py``).
"""

from __future__ import annotations

import os
from pathlib import Path


def xdg_data_home() -> Path:
    """``$XDG_DATA_HOME``, else ``~/.local/share`` (XDG Base Directory Specification 0.8)."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def data_dir() -> Path:
    """``STEMDM_DATA_DIR``, else ``$XDG_DATA_HOME/stemdm`` (default ``~/.local/share/stemdm``)."""
    env = os.environ.get("STEMDM_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return xdg_data_home() / "stemdm"


def calibration_dir() -> Path:
    """Where ``stemdm calibrate`` writes when no ``--out`` is given: ``data_dir()/calibration``."""
    return data_dir() / "calibration"
