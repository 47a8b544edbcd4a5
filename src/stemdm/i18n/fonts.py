"""A CJK font for Chinese figure labels: matplotlib has none of its own. The first installed font of
``CJK_FONTS`` is used as a fallback after DejaVu Sans (Latin letters and digits keep their usual look);
with none installed, figures keep English labels and the report says which font to install."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

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


@functools.cache
def cjk_font() -> str | None:
    """The name of an installed font that draws Chinese, or None."""
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


@contextlib.contextmanager
def chinese_font(lang: str) -> Iterator[None]:
    """Inside: matplotlib draws Chinese with the CJK font (when ``lang`` is not English and one exists)."""
    font = cjk_font() if lang != "en" else None
    if font is None:
        yield
        return
    import matplotlib

    with matplotlib.rc_context({"font.family": ["DejaVu Sans", font]}):
        yield
