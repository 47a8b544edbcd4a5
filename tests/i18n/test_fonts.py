"""Chinese figure labels need a CJK font (issue 18): one installed after matplotlib wrote its font cache is
found on disk (fontconfig or the usual font folders) and registered, so labels are not left in English."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from matplotlib import font_manager

from stemdm.i18n.fonts import CJK_FONTS, _known, cjk_font_files, find_cjk_font


def _manager_without(files: list[Path]):
    """A font manager as matplotlib builds its cache, minus ``files``: a cache written before they were
    installed."""
    manager = font_manager.FontManager()
    gone = {p.resolve() for p in files}
    manager.ttflist = [f for f in manager.ttflist if Path(f.fname).resolve() not in gone]
    return manager


def test_a_cjk_font_installed_after_the_cache_is_found():
    files = cjk_font_files()
    if not files:
        pytest.skip("no CJK font on this machine (CI installs fonts-wqy-microhei)")
    manager = _manager_without(files)
    assert _known(manager) is None  # what matplotlib alone would say: no CJK font
    assert find_cjk_font(manager) is not None


def test_a_font_file_put_in_a_font_folder_afterwards_is_registered(tmp_path):
    files = cjk_font_files()
    if not files:
        pytest.skip("no CJK font on this machine (CI installs fonts-wqy-microhei)")
    manager = _manager_without(files)
    folder = tmp_path / "fonts"
    folder.mkdir()
    copy = folder / files[0].name
    shutil.copyfile(files[0], copy)
    name = find_cjk_font(manager, folders=(str(folder),))
    assert name in CJK_FONTS
    assert any(Path(f.fname) == copy for f in manager.ttflist)


def test_files_named_as_cjk_fonts_are_registered_and_broken_ones_skipped(tmp_path):
    """Without a real CJK font: a file named like one is registered (matplotlib's own DejaVu copied under a
    CJK file name), a damaged one is skipped, and no CJK name is claimed for either."""
    dejavu = Path(font_manager.findfont("DejaVu Sans"))
    folder = tmp_path / "fonts"
    folder.mkdir()
    shutil.copyfile(dejavu, folder / "wqy-microhei.ttf")
    (folder / "NotoSansCJK-Regular.ttc").write_bytes(b"not a font")
    manager = _manager_without(cjk_font_files())
    assert find_cjk_font(manager, folders=(str(folder),)) is None
    registered = {Path(f.fname).name for f in manager.ttflist}
    assert "wqy-microhei.ttf" in registered and "NotoSansCJK-Regular.ttc" not in registered
