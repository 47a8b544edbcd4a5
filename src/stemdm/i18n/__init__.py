"""Languages of every user-facing string: English (the source text) and Simplified Chinese, from Babel
message catalogs (gettext ``.po`` files in ``locale/<lang>/LC_MESSAGES/messages.po``).

- ``translations(lang)`` gives a gettext translations object (English: the source text itself). Catalogs are
  read from the ``.po`` files shipped in the package and compiled in memory (Babel's ``read_po`` /
  ``write_mo``), so no build step is needed and the catalog in the repository is the one in use.
- ``negotiate(header)`` picks the language of an ``Accept-Language`` header (Babel's ``Locale.negotiate``).
- Medical terms follow Chinese clinical usage (糖化血红蛋白 HbA1c, 空腹血糖, C肽, 间充质干细胞, 随机对照试验,
  置信区间, 可信区间, 预测区间); numbers and units are written the same in both languages.
- ``tools/update_catalogs.py`` extracts the messages (``babel.cfg``) and updates the catalogs; a test fails
  when a message lacks its Chinese translation.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import gettext
import io
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGUAGES = ("en", "zh")
LANGUAGE_NAMES = {"en": "English", "zh": "中文"}


def catalog_path(lang: str) -> Path:
    return Path(str(resources.files("stemdm.i18n") / "locale" / lang / "LC_MESSAGES" / "messages.po"))


@functools.cache
def translations(lang: str) -> gettext.NullTranslations:
    """gettext translations for ``lang`` (English: the source strings, plus display names of data values
    such as outcome ids)."""
    if lang not in LANGUAGES:
        raise ValueError(f"language {lang!r}: use one of {', '.join(LANGUAGES)}")
    with catalog_path(lang).open("rb") as handle:
        catalog = read_po(handle)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def gettext_for(lang: str):
    """The ``_`` function of a language."""
    return translations(lang).gettext


def negotiate(header: str | None) -> str:
    """The best language for an ``Accept-Language`` header (RFC 9110 quality values; English when nothing
    matches): the first wanted language, by quality then order, whose primary subtag is one we have."""
    wanted = []
    for order, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().split("-")[0].split("_")[0].lower()
        if primary and quality > 0:
            wanted.append((-quality, order, primary))
    for _, _, primary in sorted(wanted):
        if primary in LANGUAGES:
            return primary
    return "en"


#: the language figures are labelled in (``figure_language``; English by default), and the one asked for
_FIGURE_LANGUAGE: contextvars.ContextVar[str] = contextvars.ContextVar("figure_language", default="en")
_FIGURE_ASKED: contextvars.ContextVar[str] = contextvars.ContextVar("figure_asked", default="en")


def figure_text(message: str) -> str:
    """``message`` in the current figure language (plots call it as ``_``)."""
    return translations(_FIGURE_LANGUAGE.get()).gettext(message)


def figure_lang() -> str:
    return _FIGURE_LANGUAGE.get()


def figure_footer() -> str:
    """The line under every figure: not medical advice, in the figure's language; when Chinese was asked
    for but no CJK font is installed, also which font to install (the labels stayed in English)."""
    from stemdm import NOT_MEDICAL_ADVICE_BY_LANGUAGE
    from stemdm.i18n.fonts import MISSING

    line = NOT_MEDICAL_ADVICE_BY_LANGUAGE[_FIGURE_LANGUAGE.get()]
    return line if _FIGURE_ASKED.get() == _FIGURE_LANGUAGE.get() else f"{line} ({MISSING})"


@contextlib.contextmanager
def figure_language(lang: str) -> Iterator[None]:
    """Inside: figures are labelled in ``lang`` and drawn with a CJK font for Chinese; without one installed
    they stay in English (``fonts.MISSING`` says so)."""
    from stemdm.i18n.fonts import chinese_font, cjk_font

    usable = lang if lang == "en" or cjk_font() is not None else "en"
    token, asked = _FIGURE_LANGUAGE.set(usable), _FIGURE_ASKED.set(lang)
    try:
        with chinese_font(usable):
            yield
    finally:
        _FIGURE_LANGUAGE.reset(token)
        _FIGURE_ASKED.reset(asked)
