"""The narrative says only what the numbers support (property test), in English and Chinese."""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from stemdm.review.narrative import chinese, english, fmt, significant

numbers = st.floats(min_value=-500, max_value=500, allow_nan=False)


@st.composite
def results(draw):
    lb = draw(numbers)
    ub = draw(st.floats(min_value=lb, max_value=lb + 300))
    estimate = draw(st.floats(min_value=lb, max_value=ub))
    assume(abs(estimate) > 1e-6 and abs(lb) > 1e-6 and abs(ub) > 1e-6)
    return {
        "outcome": draw(st.sampled_from(["hba1c", "fbg", "cpep_fasting", "homa_ir", "insulin_dose"])),
        "timepoint_months": draw(st.sampled_from([3.0, 6.0, 12.0])),
        "subgroup": "overall",
        "k": draw(st.integers(2, 30)),
        "n": draw(st.integers(10, 5000)),
        "estimate": estimate,
        "ci_lb": lb,
        "ci_ub": ub,
        "pval": draw(st.floats(0, 1)),
        "unit": draw(st.sampled_from(["%", "mg/dL", "ng/mL"])),
        "certainty": draw(st.sampled_from(["high", "moderate", "low", "very low"])),
    }


@given(results())
def test_english_matches_the_numbers(r):
    text = english(r)
    digits = 2 if max(abs(r["estimate"]), abs(r["ci_lb"]), abs(r["ci_ub"])) < 10 else 1
    assert f"95% CI {fmt(r['ci_lb'], digits)} to {fmt(r['ci_ub'], digits)}" in text
    assert (
        f"{r['k']} trials, {r['n']} participants" in text
        and f"Certainty of evidence: {r['certainty']}." in text
    )
    if significant(r):
        assert "statistically significant" in text and "no significant" not in text
        word = "lower" if r["estimate"] < 0 else "higher"
        assert f"{fmt(abs(r['estimate']), digits)}" in text and f" {word} with cell therapy" in text
        assert (r["ci_ub"] < 0) == (r["estimate"] < 0)  # a significant CI lies on the estimate's side
    else:
        assert "no significant difference" in text and "statistically significant" not in text
        assert " lower with" not in text and " higher with" not in text
        assert r["ci_lb"] <= 0 <= r["ci_ub"]


@given(results())
def test_chinese_matches_the_numbers(r):
    text = chinese(r)
    digits = 2 if max(abs(r["estimate"]), abs(r["ci_lb"]), abs(r["ci_ub"])) < 10 else 1
    assert f"95%置信区间 {fmt(r['ci_lb'], digits)} 至 {fmt(r['ci_ub'], digits)}" in text
    assert f"{r['k']}项试验，{r['n']}名受试者" in text
    if significant(r):
        assert "差异有统计学意义" in text and "无统计学意义" not in text
        assert ("降低" if r["estimate"] < 0 else "升高") in text
    else:
        assert "差异无统计学意义" in text and "降低" not in text and "升高" not in text


def test_fmt_never_prints_negative_zero():
    assert fmt(-0.001) == "0.00" and fmt(-0.006) == "-0.01"


def test_prior_sensitivity_in_words():
    from stemdm.review.narrative import prior_sensitivity_sentences

    def rows(*p_mid):
        return {"rows": [{"tau_prior": f"p{i}", "p_benefit": 0.9, "p_mid": p} for i, p in enumerate(p_mid)]}

    steady = prior_sensitivity_sentences(rows(0.8, 0.85, 0.9))
    assert "does not hinge" in steady["en"] and "80% to 90%" in steady["en"]
    assert "不随" in steady["zh"] and "80%至90%" in steady["zh"]
    for decisive in (rows(0.45, 0.55, 0.5), rows(0.6, 0.7, 0.85)):  # straddles 50 %, or spreads > 20 points
        words = prior_sensitivity_sentences(decisive)
        assert "the prior, not the data, decides" in words["en"] and "取决于先验" in words["zh"]
    unread = prior_sensitivity_sentences(
        rows(0.8, 0.85, 0.9) | {"tau_not_updated": True, "ci_exclusion_depends": True}
    )
    assert (
        "the data do not inform it" in unread["en"]
        and "excludes no effect depends on the prior" in unread["en"]
    )
    assert "数据未提供关于异质性的信息" in unread["zh"]
