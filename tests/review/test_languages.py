"""The report in English, Chinese or both (issue 12): ``stemdm review run --lang``; headings, tables,
methods, GRADE and figure labels translated; sentences built from data that have no translation are shown
in English and marked lang="en", never passed off as Chinese; CJK figure labels need a CJK font."""

from __future__ import annotations

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
    # every sentence the bundled review builds in Python has its Chinese (none left marked as English)
    assert '<span lang="en" translate="no">' not in html
    assert "不合并（显示其自身效应）" in html and "比较的将是试验之间的差异，故不检验" in html
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


def test_sentences_built_with_numbers_are_translated_whole_or_not_at_all():
    from stemdm.i18n.sentences import translate

    assert translate("1 trial (Cai2016); no pooling (its own effect is shown)", "zh") == (
        "1 项试验（Cai2016）；不合并（显示其自身效应）"
    )
    assert translate("cells: n analysed not reported; randomized n = 21 used", "zh") == (
        "细胞治疗组：未报告分析例数；使用随机例数 n = 21"
    )
    assert translate("all 2 trials have diabetes_type = T2DM; no subgroup comparison", "zh") == (
        "全部 2 项试验的糖尿病类型均为 2型糖尿病；不做亚组比较"
    )
    assert translate("I2 = 66% (> 50%); a sentence nobody wrote a pattern for", "zh") is None
    assert translate("anything", "en") == "anything"


def test_a_sentence_without_a_translation_is_marked_english(tmp_path):
    from stemdm.review.report import template_environment

    env = template_environment("zh")
    rendered = env.from_string("{{ text|reason }}").render(text="<b>an unknown</b> sentence")
    assert rendered == '<span lang="en" translate="no">&lt;b&gt;an unknown&lt;/b&gt; sentence</span>'


def test_bad_language_is_refused():
    result = runner.invoke(app, ["review", "run", "--lang", "fr"])
    assert result.exit_code == 2 and "--lang" in result.output


def test_terminal_output_in_chinese():
    result = runner.invoke(app, ["review", "run", "--lang", "zh"])
    assert result.exit_code == 0
    for text in ("糖化血红蛋白", "证据确定性", "不构成医疗建议"):
        assert text in result.output
    assert "analyses not done" not in result.output and "Not medical advice" not in result.output
