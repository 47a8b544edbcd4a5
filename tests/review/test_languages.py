"""The report in English, Chinese or both (issue 12): ``stemdm review run --lang``; headings, tables,
methods, GRADE and figure labels translated; sentences built from data that have no translation are shown
in English and marked lang="en", never passed off as Chinese; CJK figure labels need a CJK font."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from stemdm.cli import app
from stemdm.i18n.fonts import MISSING, cjk_font

runner = CliRunner()


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    out = {}
    for lang in ("en", "zh", "both"):
        folder = tmp_path_factory.mktemp(lang)
        result = runner.invoke(app, ["review", "run", "--lang", lang, "--out", str(folder)])
        assert result.exit_code == 0, result.output
        out[lang] = (folder / "report.html").read_text(encoding="utf-8"), folder
    return out


def test_chinese_report(reports):
    html, folder = reports["zh"]
    assert '<html lang="zh-Hans">' in html
    for heading in (
        "摘要",
        "证据的注意事项",
        "实际运行的方法",
        "结果总结",
        "安全性",
        "下一项试验",
        "未分析项及原因",
    ):
        assert f">{heading}</h2>" in html, heading
    assert "证据确定性（GRADE）" in html and "有利于细胞治疗" not in html or cjk_font() is not None
    assert "不构成医疗建议" in html and "Not medical advice" not in html
    assert "Summary of findings" not in html and "Methods as run" not in html
    # English that remains is marked as such (data, and sentences built in Python without a translation)
    body = html.split("<body>")[1]
    unmarked = re.sub(r'<span lang="en" translate="no">.*?</span>', "", body, flags=re.S)
    assert "no pooling (its own effect is shown)" not in unmarked
    if cjk_font() is None:
        assert MISSING in html
    else:
        assert any(p.name.endswith("_zh.png") for p in (folder / "figures").iterdir())


def test_english_and_bilingual_reports(reports):
    english, _ = reports["en"]
    assert '<html lang="en">' in english and "Summary of findings" in english and "摘要" not in english
    both, _ = reports["both"]
    assert 'id="summary"' in both and 'id="zh-summary"' in both  # both complete, no clashing anchors
    assert both.count("<h2") == 2 * english.count("<h2")
    assert "Summary of findings" in both and "结果总结" in both


def test_bad_language_is_refused():
    result = runner.invoke(app, ["review", "run", "--lang", "fr"])
    assert result.exit_code == 2 and "--lang" in result.output
