"""Plain-text summaries of fitted models, ratios back-transformed for readers."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from stemdm import NOT_MEDICAL_ADVICE

if TYPE_CHECKING:  # annotations only: model.py imports this module, so no import back at run time
    from stemdm.meta.model import MetaResult

METHOD_NAMES = {
    "FE": "common-effect (inverse variance)",
    "DL": "random-effects, DerSimonian-Laird tau2",
    "HE": "random-effects, Hedges tau2",
    "HS": "random-effects, Hunter-Schmidt tau2",
    "SJ": "random-effects, Sidik-Jonkman tau2",
    "ML": "random-effects, maximum-likelihood tau2",
    "REML": "random-effects, restricted maximum-likelihood tau2",
    "EB": "random-effects, empirical Bayes tau2",
    "PM": "random-effects, Paule-Mandel tau2",
    "MH": "common-effect, Mantel-Haenszel",
    "PETO": "common-effect, Peto odds ratio",
}
COMMON_EFFECT = ("FE", "MH", "PETO")
TEST_NAMES = {
    "z": "Wald z",
    "knha": "Hartung-Knapp-Sidik-Jonkman t",
    "adhoc": "Hartung-Knapp-Sidik-Jonkman t (ad hoc: SE never below Wald)",
}


def json_safe(value):
    """A structure for json.dumps with every non-finite float as None (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}"


def fmt_p(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return "n/a"
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}"


def shown(result: MetaResult, value: float | None) -> float | None:
    """A value on the reader's scale: exp() for ratio measures."""
    if value is None:
        return None
    return math.exp(value) if result.is_ratio else value


def effect_line(result: MetaResult, label: str = "Pooled") -> str:
    scale = f"{result.measure} (back-transformed)" if result.is_ratio else result.measure
    line = (
        f"{label} {scale}: {fmt(shown(result, result.estimate))} "
        f"[{fmt(shown(result, result.ci_lb))}, {fmt(shown(result, result.ci_ub))}] "
        f"({result.level:g}% CI), p = {fmt_p(result.pval)}"
    )
    if result.pi_lb is not None:
        line += (
            f"; prediction interval [{fmt(shown(result, result.pi_lb))}, {fmt(shown(result, result.pi_ub))}]"
        )
    return line


def heterogeneity_line(result: MetaResult) -> str:
    if result.q is None:
        return "Heterogeneity: undefined (fewer than 2 informative studies)"
    parts = [
        f"Q = {fmt(result.q, 2)} (df = {result.q_df}, p = {fmt_p(result.q_pval)})",
        f"I2 = {fmt(result.i2, 1)}%",
    ]
    if result.method in COMMON_EFFECT:
        parts.append("tau2 not estimated (common-effect model)")
    else:
        parts.append(f"tau2 = {fmt(result.tau2, 4)}")
        if result.tau2_ci_lb is not None:
            parts[-1] += f" [{fmt(result.tau2_ci_lb, 4)}, {fmt(result.tau2_ci_ub, 4)}]"
    return "Heterogeneity: " + "; ".join(parts)


def summary_text(result: MetaResult) -> str:
    """Model, pooled effect with CI and prediction interval, heterogeneity, notes."""
    lines = [
        f"Meta-analysis of k = {result.k} studies, measure {result.measure}",
        f"Model: {METHOD_NAMES.get(result.method, result.method)}; "
        f"test: {TEST_NAMES.get(result.test, result.test)}",
        effect_line(result),
        heterogeneity_line(result),
    ]
    if result.coef is not None:
        lines.append("Meta-regression coefficients (analysis scale):")
        for name, b, se, p in zip(
            result.coef_names, result.coef, result.coef_se, result.coef_pval, strict=True
        ):
            lines.append(f"  {name:<20} {fmt(b, 4):>10} (SE {fmt(se, 4)}), p = {fmt_p(p)}")
        lines.append(f"  QM = {fmt(result.qm, 3)}, p = {fmt_p(result.qm_pval)}; R2 = {fmt(result.r2, 1)}%")
    if result.subgroups is not None:
        for name, sub in result.subgroups.items():
            lines.append(f"  [{result.by} = {name}, k = {sub.k}] " + effect_line(sub, "Pooled"))
        lines.append(
            f"Test for subgroup differences: Q = {fmt(result.q_between, 2)}, "
            f"df = {result.q_between_df}, p = {fmt_p(result.q_between_pval)}"
        )
    lines.extend(f"Note: {note}" for note in result.notes)
    lines.append(NOT_MEDICAL_ADVICE)
    return "\n".join(lines)
