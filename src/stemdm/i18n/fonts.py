"""A CJK font for Chinese figure labels: matplotlib has none of its own. The first installed font of
``CJK_FONTS`` is used as a fallback after DejaVu Sans (Latin letters and digits keep their usual look);
with none installed, figures keep English labels and the report says which font to install."""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

#: fonts that draw Simplified Chinese, in order of preference (Debian: fonts-wqy-microhei, fonts-noto-cjk)
CJK_FONTS = (
    "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "PingFang SC",
    "Microsoft YaHei", "SimHei", "Droid Sans Fallback",
)  # fmt: skip


def _(message: str) -> str:
    """Marks a message for the catalogs (gettext_noop); it is translated where it is shown."""
    return message


MISSING = _(
    "no CJK font is installed (e.g. Debian's fonts-wqy-microhei or fonts-noto-cjk); "
    "figure labels stay in English"
)


#: where fonts are installed when fontconfig is not there to ask (Linux, macOS, Windows)
FONT_FOLDERS = (
    "/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts", "/Library/Fonts",
    "/System/Library/Fonts", "~/Library/Fonts", "C:/Windows/Fonts",
)  # fmt: skip
#: file names of the CJK_FONTS families (Debian, Noto/Source Han, Windows, macOS)
CJK_FILE = re.compile(
    r"(wqy|wenquanyi|notosans.*cjk|notoserif.*cjk|sourcehansans|droidsansfallback|msyh|simhei|pingfang)"
    r".*\.(ttc|ttf|otf)$",
    re.IGNORECASE,
)


@functools.cache
def cjk_font() -> str | None:
    """The name of an installed font that draws Chinese, or None. matplotlib knows only the fonts that were
    installed when it wrote its font cache; a CJK font installed after that (``make demo`` first,
    ``apt-get install fonts-wqy-microhei`` later) is found on disk and registered."""
    from matplotlib import font_manager

    return find_cjk_font(font_manager.fontManager)


def find_cjk_font(manager, folders: tuple[str, ...] | None = None) -> str | None:
    """The first of ``CJK_FONTS`` that ``manager`` knows, after registering CJK font files it lacks (asked of
    fontconfig, else looked for in ``folders``, default ``FONT_FOLDERS``) with ``manager.addfont``."""
    chosen = _known(manager)
    if chosen is not None:
        return chosen
    known_files = {Path(font.fname).resolve() for font in manager.ttflist}
    added = []
    for path in cjk_font_files(folders):
        if path.resolve() not in known_files:
            with contextlib.suppress(Exception):  # a damaged or unreadable file: skip it, try the next
                manager.addfont(str(path))
                added.append(manager.ttflist[-1].name)
    # fontconfig listed them for Chinese, so another family than CJK_FONTS (e.g. AR PL UMing) draws it too
    return _known(manager) or (added[0] if added and folders is None else None)


def _known(manager) -> str | None:
    installed = {font.name for font in manager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def cjk_font_files(folders: tuple[str, ...] | None = None) -> list[Path]:
    """CJK font files on this machine: what fontconfig lists for Chinese (``fc-list :lang=zh``) when no
    ``folders`` are given, and the files in ``folders`` whose names are those of the CJK_FONTS families."""
    found: list[Path] = []
    if folders is None:
        found += _fontconfig_files()
        folders = FONT_FOLDERS
    for folder in folders:
        root = Path(folder).expanduser()
        if root.is_dir():
            found += sorted(p for p in root.rglob("*") if CJK_FILE.search(p.name) and p.is_file())
    return list(dict.fromkeys(found))


def _fontconfig_files() -> list[Path]:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return []
    try:
        listed = subprocess.run(
            [fc_list, ":lang=zh", "file"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    files = [Path(line.strip().rstrip(":")) for line in listed.splitlines() if line.strip()]
    return [path for path in files if path.suffix.lower() in (".ttc", ".ttf", ".otf") and path.is_file()]


@contextlib.contextmanager
def chinese_font(lang: str) -> Iterator[None]:
    """Inside: matplotlib draws Chinese with the CJK font (when ``lang`` is not English and one exists)."""
    font = cjk_font() if lang != "en" else None
    if font is None:
        yield
        return
    import matplotlib

    # CJK fonts such as WenQuanYi have no bold face; matplotlib's fallback to the regular weight is what we
    # want, so its "Failed to find font weight bold" line per title is noise, not news
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    with matplotlib.rc_context({"font.family": ["DejaVu Sans", font]}):
        yield
