"""The report in English, Chinese or both (issue 12): ``stemdm review run --lang``; headings, tables,
methods, GRADE and figure labels translated; sentences built from data that have no translation are shown
in English and marked lang="en", never passed off as Chinese; CJK figure labels need a CJK font."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from stemdm.cli import app
from stemdm.i18n.fonts import cjk_font

runner = CliRunner()


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    out = {}
    for lang in ("en", "zh", "both"):
        folder = tmp_path_factory.mktemp(lang)
        store = folder / "evidence.sqlite"  # made here from the current bundle: never the user's store
        result = runner.invoke(
            app, ["review", "run", "--lang", lang, "--out", str(folder), "--db", str(store)]
        )
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
    if cjk_font() is None:  # the note in the reader's language, naming the font to install
        assert "未安装中日韩（CJK）字体" in html and "fonts-wqy-microhei" in html
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
    # a contrast row: its clauses nest (method, quantile, reference), data inside is kept as printed
    contrast = (
        "contrast: SE from the 95% CI: (upper - lower) / (2 x 2.0484), "
        "t with n1 + n2 - 2 = 28 df (fewer than 60 per group) "
        "(Cochrane Handbook v6.4 (Higgins et al. 2023) 6.3.1, 6.5.2.3); n of msc not stated; "
        "randomized n = 15 used; the estimate itself was computed by the curators: 7.1 - 6.2 = 0.9"
    )
    assert translate(contrast, "zh") == (
        "组间比较：由 95% 置信区间推算标准误：（上限 − 下限）/（2 × 2.0484），"
        "t 分布分位数，自由度 n1 + n2 − 2 = 28"
        "（每组少于 60 例）（Cochrane 系统评价手册 v6.4（Higgins 等，2023）第 6.3.1, 6.5.2.3 节）；"
        "间充质干细胞的例数未说明；使用随机例数 n = 15；估计值本身由数据整理者计算：7.1 - 6.2 = 0.9"
    )
    # a nested clause without a pattern leaves the whole sentence untranslated, never half
    assert (
        translate("contrast: SE from the 95% CI: (upper - lower) / (2 x 1.96), lognormal (reported)", "zh")
        is None
    )
    assert translate(
        "correction flagged, not applied: measurements.unit_as_reported (cpep_auc): pmol/mL", "zh"
    ) == ("已标记、未采用的更正：measurements.unit_as_reported (cpep_auc)：pmol/mL")
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
