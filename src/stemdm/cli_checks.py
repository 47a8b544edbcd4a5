"""Checks every command runs on what the user typed, before any work starts: choices against their
vocabulary (case-insensitive where the case carries no meaning), numbers within their limits, input files
that exist and are files, output paths that can be written. Each returns the cleaned value or raises
:class:`UsageError`, whose message names the option; the commands turn it into exit code 2.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path

#: Folders of the running system that no output may go to (kernel and device interfaces).
SYSTEM_FOLDERS = ("/proc", "/sys", "/dev")


class UsageError(ValueError):
    """A command-line value that cannot be used; the message names the option and what is allowed."""


def choice(value: str, allowed: Iterable[str], option: str, *, case_sensitive: bool = False) -> str:
    """``value`` spelled as in ``allowed`` (matched case-insensitively unless ``case_sensitive``)."""
    allowed = tuple(allowed)
    if value in allowed:
        return value
    if not case_sensitive:
        folded = {a.casefold(): a for a in allowed}
        if value.casefold() in folded:
            return folded[value.casefold()]
    raise UsageError(f"{option}: {value!r} is not one of {', '.join(allowed)}")


def number(value: float, option: str, *, low: float, high: float, integer: bool = False) -> float:
    """``value`` when finite and within [low, high] (a whole number when ``integer``)."""
    if value is None or not math.isfinite(value) or not low <= value <= high:
        raise UsageError(f"{option}: {value!r} is outside {low:g} to {high:g}")
    if integer and value != int(value):
        raise UsageError(f"{option}: {value!r} must be a whole number")
    return value


def input_file(path: Path, option: str = "file", *, allow_dir: bool = False) -> Path:
    """An existing, readable file (or folder when ``allow_dir``)."""
    try:
        return _input_file(path, option, allow_dir)
    except OSError as error:  # e.g. a name too long for the file system
        raise UsageError(f"{option}: {path}: {error.strerror or error}") from None
    except RuntimeError as error:  # '~name' for a user that does not exist: no home folder to expand to
        raise UsageError(f"{option}: {path}: {error}") from None


def _input_file(path: Path, option: str, allow_dir: bool) -> Path:
    if not path.exists():
        raise UsageError(f"{option}: no such file: {path}")
    if path.is_dir() and not allow_dir:
        raise UsageError(f"{option}: {path} is a folder; give a file")
    if not path.is_dir() and not path.is_file():
        raise UsageError(f"{option}: {path} is not a regular file")
    if not os.access(path, os.R_OK):
        raise UsageError(f"{option}: {path} cannot be read (permissions)")
    return path


def output_path(path: Path, option: str, *, folder: bool = False, suffixes: tuple[str, ...] = ()) -> Path:
    """A path that can be written: not under /proc, /sys or /dev, its parent creatable as a folder, and
    (for a file) not an existing folder, with one of ``suffixes`` when given."""
    try:
        return _output_path(path, option, folder, suffixes)
    except OSError as error:  # e.g. a name too long for the file system
        raise UsageError(f"{option}: {path}: {error.strerror or error}") from None
    except RuntimeError as error:  # '~name' for a user that does not exist: no home folder to expand to
        raise UsageError(f"{option}: {path}: {error}") from None


def _output_path(path: Path, option: str, folder: bool, suffixes: tuple[str, ...]) -> Path:
    resolved = path.expanduser().resolve()
    if any(resolved == Path(s) or Path(s) in resolved.parents for s in SYSTEM_FOLDERS):
        raise UsageError(f"{option}: {path} is inside a system folder ({', '.join(SYSTEM_FOLDERS)})")
    if suffixes and resolved.suffix.lower() not in suffixes:
        raise UsageError(f"{option}: {path} must end in one of {', '.join(suffixes)}")
    target = resolved if folder else resolved.parent
    for ancestor in (target, *target.parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                raise UsageError(f"{option}: {ancestor} is a file, so {path} cannot be created")
            if not os.access(ancestor, os.W_OK):
                raise UsageError(f"{option}: {ancestor} is not writable")
            break
    if not folder and resolved.is_dir():
        raise UsageError(f"{option}: {path} is a folder; give a file name")
    return path
