"""The message catalogs (issue 12): every message in the sources and every data term has its Chinese
translation, placeholders survive translation, and language negotiation follows Accept-Language."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from stemdm.i18n import LANGUAGES, catalog_path, negotiate, translations
from stemdm.i18n.terms import all_terms

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _catalog(lang: str):
    with catalog_path(lang).open("rb") as handle:
        return read_po(handle)


def _extracted() -> set[str]:
    spec = importlib.util.spec_from_file_location("update_catalogs", ROOT / "tools" / "update_catalogs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {m.id for m in module.extracted() if m.id}


def test_every_message_in_the_sources_is_in_the_catalogs():
    """A new ``_("...")`` without a catalog entry fails here: run tools/update_catalogs.py and translate."""
    messages = _extracted()
    for lang in LANGUAGES:
        assert messages <= {m.id for m in _catalog(lang) if m.id}, sorted(
            messages - {m.id for m in _catalog(lang)}
        )


def test_every_chinese_message_is_translated_with_its_placeholders():
    untranslated = [m.id for m in _catalog("zh") if m.id and not m.string]
    assert untranslated == []
    for message in _catalog("zh"):
        if message.id:
            assert set(PLACEHOLDER.findall(message.id)) == set(PLACEHOLDER.findall(message.string)), (
                message.id
            )


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_data_term_has_a_display_name(lang):
    strings = {m.id: m.string for m in _catalog(lang) if m.id}
    missing = [term for term in all_terms() if not strings.get(term)]
    assert missing == []


def test_clinical_chinese_terms():
    zh = translations("zh").gettext
    assert "糖化血红蛋白" in zh("hba1c") and zh("fbg") == "空腹血糖" and zh("msc") == "间充质干细胞"
    assert "C肽" in zh("cpep_fasting")


def test_accept_language():
    assert negotiate("zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert negotiate("en-GB,en;q=0.9") == "en"
    assert negotiate("fr-FR, zh;q=0.3") == "zh"
    assert negotiate("en;q=0.2, zh-TW;q=0.8") == "zh"
    assert negotiate(None) == negotiate("") == negotiate("fr") == "en"


def test_figures_without_a_cjk_font_say_which_font_is_missing(monkeypatch):
    """Chinese asked for, no CJK font installed: English labels, and the figure's footer says what to
    install (never boxes where the characters should be)."""
    from stemdm.i18n import figure_footer, figure_language, figure_text, fonts

    monkeypatch.setattr(fonts, "cjk_font", lambda: None)
    with figure_language("zh"):
        assert figure_text("Study") == "Study"
        assert "fonts-wqy-microhei" in figure_footer() and "Not medical advice" in figure_footer()
    monkeypatch.setattr(fonts, "cjk_font", lambda: "WenQuanYi Micro Hei")
    with figure_language("zh"):
        assert figure_text("Study") == "研究" and "不构成医疗建议" in figure_footer()
        assert "fonts-wqy" not in figure_footer()
    assert figure_text("Study") == "Study"  # outside: English again
