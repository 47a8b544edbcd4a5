"""One sentence per result, in English and in Chinese, generated from the numbers only.

Each sentence states the direction and size with its CI, whether the difference is statistically significant
(a CI that includes 0 is "no significant difference"), the number of trials and participants, and the
certainty
of evidence. Words are chosen by rules on the numbers (tested by a property test): nothing the numbers do not
support.
"""

from __future__ import annotations

import re

from stemdm.evidence.vocab import OUTCOMES

OUTCOME_ZH = {
    "hba1c": "糖化血红蛋白（HbA1c）",
    "fbg": "空腹血糖",
    "ppbg": "餐后血糖",
    "cpep_fasting": "空腹C肽",
    "cpep_stimulated": "刺激后C肽",
    "insulin_dose": "每日胰岛素剂量",
    "homa_b": "HOMA-β",
    "homa_ir": "HOMA-IR",
    "responder_hba1c7_insulin50": "HbA1c < 7%且胰岛素剂量减少至少一半",
}
CERTAINTY_ZH = {"high": "高", "moderate": "中", "low": "低", "very low": "极低", None: "未评价"}
UNIT_ZH = {"%": "个百分点", "index": "", "SD": "个标准差"}


def fmt(value: float, digits: int = 2) -> str:
    """A number with ``digits`` decimals, never '-0.00'."""
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def level_label(result: dict) -> str:
    """The confidence level the interval was computed at, as printed ("95", "80", "97.5")."""
    return f"{result.get('level', 95):g}"


def _digits(result: dict) -> int:
    scale = max(abs(result["estimate"]), abs(result["ci_lb"]), abs(result["ci_ub"]))
    return 2 if scale < 10 else 1


def is_ratio(result: dict) -> bool:
    return result.get("measure") in ("RR", "OR")


def significant(result: dict) -> bool:
    """Statistically significant at the CI's level: the CI excludes no effect (0; 1 for a ratio)."""
    null = 1.0 if is_ratio(result) else 0.0
    return result["ci_lb"] > null or result["ci_ub"] < null


def _when(result: dict) -> str:
    months = result["timepoint_months"]
    return f"At {months:g} months" if months is not None else "At the end of follow-up"


def _unit_en(result: dict) -> str:
    unit = result["unit"]
    if unit == "risk difference":
        return " (risk difference)"
    return {"%": " percentage points", "index": "", "SD": " standard deviations"}.get(unit, f" {unit}")


def _subgroup_en(result: dict) -> str:
    return "" if result["subgroup"] == "overall" else f" ({result['subgroup'].replace('=', ': ')})"


BINARY_NAMES = {"RD": ("risk difference", "率差"), "RR": ("risk ratio", "相对危险度"),
                "OR": ("odds ratio", "比值比")}  # fmt: skip


def _binary_english(result: dict) -> str:
    """A binary outcome: the proportion of patients with it, as a ratio (or a risk difference)."""
    label = OUTCOMES[result["outcome"]].label
    name = BINARY_NAMES[result["measure"]][0]
    basis = f"{result['k']} trials, {result['n']} participants"
    head = (
        f"{_when(result)}{_subgroup_en(result)}, patients reaching '{label}' with cell therapy vs control: "
    )
    if result["estimate"] is None or result["ci_lb"] is None:
        return f"{head}{name} not estimable ({basis}). Certainty of evidence: {result.get('certainty') or 'not rated'}."
    ci = f"{level_label(result)}% CI {fmt(result['ci_lb'])} to {fmt(result['ci_ub'])}"
    verdict = "statistically significant" if significant(result) else "not statistically significant"
    return (
        f"{head}{name} {fmt(result['estimate'])} ({ci}; {basis}; p = {_p(result['pval'])}), {verdict}. "
        f"Certainty of evidence: {result.get('certainty') or 'not rated'}."
    )


def _binary_chinese(result: dict) -> str:
    label = OUTCOME_ZH.get(result["outcome"], OUTCOMES[result["outcome"]].label)
    months = result["timepoint_months"]
    when = f"{months:g}个月时" if months is not None else "随访结束时"
    name = BINARY_NAMES[result["measure"]][1]
    certainty = CERTAINTY_ZH.get(result.get("certainty"), "未评价")
    head = f"{when}，达到“{label}”的患者比例（干细胞治疗组对比对照组）："
    basis = f"{result['k']}项试验，{result['n']}名受试者"
    if result["estimate"] is None or result["ci_lb"] is None:
        return f"{head}{name}无法估计（{basis}）。证据确定性：{certainty}。"
    ci = f"{level_label(result)}%置信区间 {fmt(result['ci_lb'])} 至 {fmt(result['ci_ub'])}"
    verdict = "差异有统计学意义" if significant(result) else "差异无统计学意义"
    return (
        f"{head}{name} {fmt(result['estimate'])}（{ci}；{basis}；p = {_p(result['pval'])}），{verdict}。"
        f"证据确定性：{certainty}。"
    )


def english(result: dict) -> str:
    if result.get("measure") in ("RD", "RR", "OR"):
        return _binary_english(result) + _bayes_en(result)
    label = OUTCOMES[result["outcome"]].label
    digits = _digits(result)
    est, lb, ub = result["estimate"], result["ci_lb"], result["ci_ub"]
    direction = "lower" if est < 0 else "higher"
    size = f"{fmt(abs(est), digits)}{_unit_en(result)}"
    ci = f"{level_label(result)}% CI {fmt(lb, digits)} to {fmt(ub, digits)}"
    basis = f"{result['k']} trials, {result['n']} participants"
    certainty = result.get("certainty") or "not rated"
    if significant(result):
        verdict = (
            f"{label} was {size} {direction} with cell therapy than with control ({ci}; {basis}); "
            f"the difference is statistically significant (p = {_p(result['pval'])})"
        )
    else:
        verdict = (
            f"there was no significant difference in {label} between cell therapy and control "
            f"(mean difference {fmt(est, digits)}{_unit_en(result)}, {ci}; {basis}; p = {_p(result['pval'])})"
        )
    sentence = f"{_when(result)}{_subgroup_en(result)}, {verdict}. Certainty of evidence: {certainty}."
    return sentence + _bayes_en(result)


def chinese(result: dict) -> str:
    if result.get("measure") in ("RD", "RR", "OR"):
        return _binary_chinese(result) + _bayes_zh(result)
    label = OUTCOME_ZH.get(result["outcome"], OUTCOMES[result["outcome"]].label)
    digits = _digits(result)
    est, lb, ub = result["estimate"], result["ci_lb"], result["ci_ub"]
    months = result["timepoint_months"]
    when = f"{months:g}个月时" if months is not None else "随访结束时"
    subgroup = "" if result["subgroup"] == "overall" else f"（亚组 {result['subgroup']}）"
    unit = UNIT_ZH.get(result["unit"], f" {result['unit']}")
    ci = f"{level_label(result)}%置信区间 {fmt(lb, digits)} 至 {fmt(ub, digits)}"
    basis = f"{result['k']}项试验，{result['n']}名受试者"
    certainty = CERTAINTY_ZH.get(result.get("certainty"), "未评价")
    if significant(result):
        direction = "降低" if est < 0 else "升高"
        verdict = (
            f"与对照组相比，干细胞治疗组{label}{direction}{fmt(abs(est), digits)}{unit}（{ci}；{basis}），"
            f"差异有统计学意义（p = {_p(result['pval'])}）"
        )
    else:
        verdict = (
            f"干细胞治疗组与对照组的{label}差异无统计学意义（均数差 {fmt(est, digits)}{unit}，{ci}；{basis}；"
            f"p = {_p(result['pval'])}）"
        )
    return f"{when}{subgroup}，{verdict}。证据确定性：{certainty}。{_bayes_zh(result)}"


def percent(p: float) -> str:
    """A probability as a whole percentage, never 0 % or 100 % (the posterior is never certain)."""
    if p < 0.005:
        return "<1%"
    if p > 0.995:
        return ">99%"
    return f"{p * 100:.0f}%"


def prior_text(text: str, lang: str) -> str:
    """A tau prior as readers write it: half-normal HN(s), half-Cauchy HC(s), uniform U(a, b); in Chinese
    半正态先验 HN(s) and so on. Other priors as written."""
    found = re.fullmatch(r"(halfnormal|halfcauchy|uniform|halft)\(([^)]*)\)", text.strip())
    if not found:
        return text
    family, args = found.groups()
    args = ", ".join(a.strip() for a in args.split(","))
    names = {"halfnormal": ("half-normal HN", "半正态先验 HN"), "halfcauchy": ("half-Cauchy HC", "半柯西先验 HC"),
             "uniform": ("uniform U", "均匀先验 U"), "halft": ("half-t", "半t先验 ")}[family]  # fmt: skip
    return f"{names[0 if lang == 'en' else 1]}({args})"


def _bayes_en(result: dict) -> str:
    """The Bayesian probabilities in words, when the result has them."""
    if result.get("p_mid") is None or result.get("post_ci_lb") is None:
        return ""
    label = OUTCOMES[result["outcome"]].label
    verb = "lowers" if result.get("better", "lower") == "lower" else "raises"
    digits = 2
    if result.get("measure") in ("RD", "RR", "OR"):
        label = f"the share of patients reaching '{label}'"
    return (
        f" Bayesian analysis (prior on heterogeneity: {prior_text(result['tau_prior'], 'en')}): median "
        f"{fmt(result['post_median'], digits)}, {level_label(result)}% credible interval "
        f"{fmt(result['post_ci_lb'], digits)} to {fmt(result['post_ci_ub'], digits)}; probability that cell "
        f"therapy {verb} {label} at all: {percent(result['p_benefit'])}; by at least "
        f"{_mid_text(result, 'en')}: {percent(result['p_mid'])}."
    )


#: How the MID is worded for a ratio and for a risk difference, by language.
MID_WORDS = {
    "en": ("a {measure} of {mid:g}", "{points:g} percentage points"),
    "zh": ("{measure} {mid:g}", "{points:g}个百分点"),
}


def _mid_text(result: dict, language: str) -> str:
    """The MID in words: a ratio, percentage points of a risk difference, or the outcome's own unit."""
    ratio, points = MID_WORDS[language]
    if is_ratio(result):
        return ratio.format(measure=result["measure"], mid=result["mid"])
    if result.get("measure") == "RD":
        return points.format(points=result["mid"] * 100)
    unit = _unit_en(result) if language == "en" else UNIT_ZH.get(result["unit"], " " + result["unit"])
    return f"{result['mid']:g}{unit}"


def _bayes_zh(result: dict) -> str:
    if result.get("p_mid") is None or result.get("post_ci_lb") is None:
        return ""
    label = OUTCOME_ZH.get(result["outcome"], OUTCOMES[result["outcome"]].label)
    verb = "降低" if result.get("better", "lower") == "lower" else "升高"
    digits = _digits(result)
    if result.get("measure") in ("RD", "RR", "OR"):
        label = f"达到“{label}”的患者比例"
    return (
        f"贝叶斯分析（异质性先验：{prior_text(result['tau_prior'], 'zh')}）：中位数 {fmt(result['post_median'], digits)}，"
        f"{level_label(result)}%可信区间 {fmt(result['post_ci_lb'], digits)} 至 "
        f"{fmt(result['post_ci_ub'], digits)}；"
        f"细胞治疗使{label}{verb}的概率为{percent(result['p_benefit'])}，"
        f"{verb}至少{_mid_text(result, 'zh')}的概率为{percent(result['p_mid'])}。"
    )


#: A spread of P(>= MID) across the priors above this many percentage points, or one that straddles 50 %,
#: means the prior, not the data, decides the answer (a reading rule of stemdm, stated in the sentence).
PRIOR_DECIDES_SPREAD = 0.2


def prior_sensitivity_sentences(reading: dict) -> dict[str, str]:
    """The prior-sensitivity table in words (English and Chinese): the range of P(benefit) and P(>= MID)
    across the priors on the heterogeneity, whether the credible interval's exclusion of no effect or
    P(>= MID) crossing 50 % depends on the prior, and whether the data updated the tau prior."""
    rows = reading["rows"]
    priors_en = ", ".join(prior_text(r["tau_prior"], "en") for r in rows)
    priors_zh = "、".join(prior_text(r["tau_prior"], "zh") for r in rows)
    benefit = [r["p_benefit"] for r in rows]
    mid = [r["p_mid"] for r in rows]
    spread = max(mid) - min(mid)
    crosses_half = min(mid) < 0.5 < max(mid)
    decides = spread > PRIOR_DECIDES_SPREAD or crosses_half or reading.get("ci_exclusion_depends")
    en = (
        f"Under {len(rows)} priors on the heterogeneity ({priors_en}) the probability of any benefit ranges "
        f"from {percent(min(benefit))} to {percent(max(benefit))} and of at least the MID from "
        f"{percent(min(mid))} to {percent(max(mid))}: "
        + (
            "with this few trials the prior, not the data, decides the answer"
            if decides
            else "the answer does not hinge on the choice among these priors"
        )
    )
    zh = (
        f"在{len(rows)}种异质性先验（{priors_zh}）下，获益概率为{percent(min(benefit))}至{percent(max(benefit))}，"
        f"达到最小重要差值的概率为{percent(min(mid))}至{percent(max(mid))}："
        + ("试验太少，结论取决于先验而非数据" if decides else "结论不随这些先验的选择而改变")
    )
    if reading.get("ci_exclusion_depends"):
        en += "; whether the credible interval excludes no effect depends on the prior"
        zh += "；可信区间是否排除无效应取决于先验"
    if crosses_half:
        en += "; whether P(>= MID) exceeds 50% depends on the prior"
        zh += "；达到最小重要差值的概率是否超过50%取决于先验"
    if reading.get("tau_not_updated"):
        en += "; the posterior of the heterogeneity is essentially its prior: the data do not inform it"
        zh += "；异质性的后验分布与其先验几乎相同：数据未提供关于异质性的信息"
    return {"en": en + ".", "zh": zh + "。"}


def _p(p: float | None) -> str:
    if p is None:
        return "not available"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def sentences(results: list[dict]) -> list[dict]:
    """English and Chinese sentences for every pooled result."""
    return [
        {
            "outcome": r["outcome"],
            "timepoint_months": r["timepoint_months"],
            "subgroup": r["subgroup"],
            "en": english(r),
            "zh": chinese(r),
        }
        for r in results
    ]
