"""Mantel-Haenszel (OR, RR, RD) and Peto odds-ratio pooling of 2x2 tables (common-effect).

Sources: Mantel & Haenszel (1959); variance of the log MH odds ratio by Robins, Breslow &
Greenland (1986); log MH risk ratio variance by Greenland & Robins (1985); MH risk difference
variance by Sato, Greenland & Robins (1989); Peto's one-step odds ratio (Yusuf et al. 1985).
As metafor's ``rma.mh``/``rma.peto``: the pooled estimate uses the raw counts, while the
heterogeneity Q uses the per-study effects with 1/2 added to zero cells (double-zero studies
dropped from Q); I^2 = 100 (Q - df)/Q truncated at 0, H^2 = Q/df.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from stemdm.meta.effects import StudyEffects, binary_effects, continuity_corrected
from stemdm.meta.errors import MetaInputError
from stemdm.meta.model import MetaResult


def _cells(effects: StudyEffects, method: str):
    if effects.counts is None:
        raise MetaInputError(
            f"method='{method}' needs 2x2 counts (ai n1i ci n2i or ai bi ci di)", field="method"
        )
    c = effects.counts
    return c["ai"], c["bi"], c["ci"], c["di"]


def _mh_estimate(a, b, c, d, measure: str) -> tuple[float, float]:
    """(pooled log OR / log RR / RD, its SE) by Mantel-Haenszel."""
    n1, n2 = a + b, c + d
    N = n1 + n2
    if measure == "OR":
        R, S = np.sum(a * d / N), np.sum(b * c / N)
        _require_events(R, S, "odds ratio")
        P, Q = (a + d) / N, (b + c) / N
        r, s = a * d / N, b * c / N
        var = np.sum(P * r) / (2 * R**2) + np.sum(P * s + Q * r) / (2 * R * S) + np.sum(Q * s) / (2 * S**2)
        return float(np.log(R / S)), float(np.sqrt(var))
    if measure == "RR":
        R, S = np.sum(a * n2 / N), np.sum(c * n1 / N)
        _require_events(R, S, "risk ratio")
        var = np.sum((n1 * n2 * (a + c) - a * c * N) / N**2) / (R * S)
        return float(np.log(R / S)), float(np.sqrt(var))
    weight = np.sum(n1 * n2 / N)
    rd = np.sum((a * n2 - c * n1) / N) / weight
    P = (c * n1**2 - a * n2**2 + n1 * n2 * (n2 - n1) / 2) / N**2
    Q = (a * (n2 - c) + c * (n1 - a)) / (2 * N)
    var = (rd * np.sum(P) + np.sum(Q)) / weight**2
    return float(rd), float(np.sqrt(var))


def _require_events(R: float, S: float, what: str) -> None:
    if R == 0 or S == 0:
        raise MetaInputError(
            f"Mantel-Haenszel {what} is undefined: no events (or no non-events) in one arm across "
            "all studies",
            field="ai",
        )


def _heterogeneity(effects: StudyEffects, estimate: float, measure: str, add: float, to: str):
    """Cochran's Q for MH / Peto pooling, over studies with at least one event.

    MH: Q = sum (y_i - theta_MH)^2 / v_i from continuity-corrected per-study effects.
    Peto: Q = sum (O-E)^2/V - (sum (O-E))^2 / sum V from the raw counts (Yusuf et al. 1985).
    """
    a, b, c, d = _cells(effects, "MH")
    double_zero = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
    cells = {k: v[~double_zero] for k, v in effects.counts.items()}
    k_q = len(cells["ai"])
    if k_q < 2:
        return None, None, None, None, None, k_q
    if measure == "PETO":
        o_minus_e, v = _peto_o_minus_e(cells)
        q = float(np.sum(o_minus_e**2 / v) - np.sum(o_minus_e) ** 2 / np.sum(v))
    else:
        yi, vi = binary_effects(continuity_corrected(cells, add, to), measure)
        q = float(np.sum((yi - estimate) ** 2 / vi))
    q = max(0.0, q)
    df = k_q - 1
    i2 = max(0.0, 100 * (q - df) / q) if q > 0 else 0.0
    return q, df, float(stats.chi2.sf(q, df)), i2, q / df, k_q


def _peto_o_minus_e(cells) -> tuple[np.ndarray, np.ndarray]:
    """Observed minus expected events in group 1 and its hypergeometric variance V."""
    a, b, c, d = (cells[k] for k in ("ai", "bi", "ci", "di"))
    n1, n2 = a + b, c + d
    N = n1 + n2
    o_minus_e = a - n1 * (a + c) / N
    v = n1 * n2 * (a + c) * (b + d) / (N**2 * (N - 1))
    return o_minus_e, v


def mh_weights(a, b, c, d, measure: str) -> np.ndarray:
    """Per-study Mantel-Haenszel weights as RevMan shows them (OR: bc/N, RR: c n1/N, RD: n1 n2/N)."""
    n1, n2 = a + b, c + d
    N = n1 + n2
    if measure == "OR":
        return b * c / N
    if measure == "RR":
        return c * n1 / N
    return n1 * n2 / N


def cmh_tests(effects: StudyEffects) -> dict[str, float]:
    """Cochran (1954) and Mantel-Haenszel (1959) chi^2 tests of no association (1 df,
    continuity-corrected). They differ only in the variance: Cochran's uses N, MH's N - 1."""
    a, b, c, d = _cells(effects, "MH")
    n1, n2 = a + b, c + d
    m1, m2 = a + c, b + d
    N = n1 + n2
    numerator = (abs(np.sum(a - n1 * m1 / N)) - 0.5) ** 2
    variance_terms = n1 * n2 * m1 * m2 / N**2
    cochran = float(numerator / np.sum(variance_terms / N))
    single = N > 1  # a study of one person has no hypergeometric variance
    mantel = float(numerator / np.sum(variance_terms[single] / (N[single] - 1)))
    return {
        "cochran_chi2": cochran, "cochran_pval": float(stats.chi2.sf(cochran, 1)),
        "cmh": mantel, "cmh_pval": float(stats.chi2.sf(mantel, 1)),
    }  # fmt: skip


def fit_binary(
    effects: StudyEffects,
    method: str,
    level: float = 95,
    add: float = 0.5,
    to: str = "only0",
) -> MetaResult:
    """Common-effect pooling of 2x2 tables by Mantel-Haenszel (OR, RR, RD) or Peto (OR)."""
    measure = effects.measure
    if method == "PETO" and measure != "OR":
        raise MetaInputError("Peto's method pools odds ratios only: use measure='OR'", field="measure")
    if method == "MH" and measure not in ("OR", "RR", "RD"):
        raise MetaInputError("Mantel-Haenszel needs measure OR, RR or RD", field="measure")
    a, b, c, d = _cells(effects, method)
    if method == "PETO":
        o_minus_e, v = _peto_o_minus_e({"ai": a, "bi": b, "ci": c, "di": d})
        if np.sum(v) == 0:
            raise MetaInputError("Peto odds ratio is undefined: no events in any study", field="ai")
        estimate = float(np.sum(o_minus_e) / np.sum(v))
        se = float(1 / np.sqrt(np.sum(v)))
        study_weight = v
        het = _heterogeneity(effects, estimate, "PETO", add, to)
    else:
        estimate, se = _mh_estimate(a, b, c, d, measure)
        study_weight = mh_weights(a, b, c, d, measure)
        het = _heterogeneity(effects, estimate, measure, add, to)
    if method == "MH" and np.isfinite(estimate) and se == 0:
        return _degenerate_mh(effects, estimate, level, het)
    if not (np.isfinite(se) and se > 0):
        raise MetaInputError(
            f"{'Mantel-Haenszel' if method == 'MH' else 'Peto'} {measure} has no sampling variance here: "
            "every study has all events or no events in both arms, so neither an effect's uncertainty nor "
            "a test exists; report the counts instead of pooling",
            field="ai",
        )
    q, df, q_pval, i2, h2, k_q = het
    crit = stats.norm.ppf(1 - (1 - level / 100) / 2)
    z = estimate / se
    notes = [f"{'Mantel-Haenszel' if method == 'MH' else 'Peto'} common-effect pooling"]
    notes += [note for note in effects.notes if "added to the cells" in note]
    if k_q < effects.k:
        notes.append(f"{effects.k - k_q} study(ies) with no events in either arm excluded from Q")
    if q is None:
        notes.append("fewer than 2 informative studies: heterogeneity undefined")
    result = MetaResult(
        effects=effects, method=method, test="z", level=level, k=effects.k,
        estimate=estimate, se=se, ci_lb=estimate - crit * se, ci_ub=estimate + crit * se,
        pval=float(2 * stats.norm.sf(abs(z))), stat=z, dist_df=None,
        tau2=0.0, tau2_ci_lb=None, tau2_ci_ub=None, i2=i2, h2=h2, i2_ci=None, h2_ci=None,
        q=q, q_df=df, q_pval=q_pval, pi_lb=None, pi_ub=None,
        weights=100 * study_weight / np.sum(study_weight), notes=notes, pooling=method,
    )  # fmt: skip
    if method == "MH" and measure == "OR":
        result.extra.update(cmh_tests(effects))
    return result


def _degenerate_mh(effects: StudyEffects, estimate: float, level: float, het) -> MetaResult:
    """The outcome does not vary within any study (every patient had the event, RR or RD; or none had it,
    RD): the MH estimate is no effect with SE 0 by construction, as metafor's rma.mh returns (estimate 0,
    se 0, z and p undefined). stemdm returns the same estimate and SE but no interval: a zero-width CI
    would claim a certainty the data do not have (a deliberate difference from metafor, tested)."""
    q, df, q_pval, i2, h2, _ = het
    note = (
        "the outcome did not vary within any study (all or none of the patients had the event): the "
        "Mantel-Haenszel estimate is no effect with SE 0 by construction, as in metafor; no test and no "
        "confidence interval exist (report the counts)"
    )
    return MetaResult(
        effects=effects, method="MH", test="z", level=level, k=effects.k,
        estimate=estimate, se=0.0, ci_lb=None, ci_ub=None, pval=None, stat=None, dist_df=None,
        tau2=0.0, tau2_ci_lb=None, tau2_ci_ub=None, i2=i2, h2=h2, i2_ci=None, h2_ci=None,
        q=q, q_df=df, q_pval=q_pval, pi_lb=None, pi_ub=None,
        weights=np.full(effects.k, 100.0 / effects.k), notes=["Mantel-Haenszel common-effect pooling", note],
        pooling="MH",
    )  # fmt: skip
