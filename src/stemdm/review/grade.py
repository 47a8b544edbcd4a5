"""Certainty of evidence (GRADE) per pooled result, and the summary-of-findings rows.

Rules (GRADE Handbook, Schünemann et al. 2013; Guyatt et al. 2011 J Clin Epidemiol 64:1283 and 64:1294):
evidence from randomized trials starts at high and is rated down one level per serious concern:

- risk of bias: no RoB 2 judgements recorded (cannot be judged low), or trials at high risk carry >= 50 % of
  the weight;
- inconsistency: I2 > 50 %, or the prediction interval crosses no effect while the CI does not;
- indirectness: >= 50 % of the weight from trials whose product is not MSC alone (co-administered cells) or
  whose numbers carry an indirectness flag (not culture-expanded MSC, nonrandomized);
- imprecision: the CI includes no effect or crosses the minimal important difference (MID) on the side of
  benefit; rated down twice when, in addition, the total n is below the optimal information size (OIS: a
  two-arm trial powered at 80 % (alpha 0.05) to detect the MID with the pooled SD);
- publication bias: Egger's test p < 0.10 when k reaches the protocol's minimum; below it, not assessable
  (stated, not rated down).
"""

from __future__ import annotations

import math

from scipy import stats

from stemdm.review.analysis import PooledResult

LEVELS = ("very low", "low", "moderate", "high")
INDIRECT_FLAGS = {"not_culture_expanded_msc", "nonrandomized", "no_untreated_control"}
DIRECT_PRODUCTS = {
    "msc",
    "mesenchymal_precursor",
}  # MSC alone; other products (e.g. MSC + BM-MNC) are indirect


def pooled_sd(result: PooledResult) -> float | None:
    """Pooled within-arm SD of the trials (n-weighted variance), for OIS and absolute effects. A contrast row
    contributes the SD its SE implies, SE / sqrt(1/n1 + 1/n2) (Cochrane Handbook 6.5.2.3); None when no row
    gives one."""
    numerator = denominator = 0.0
    for r in result.rows:
        if r.sd1 is not None and r.sd2 is not None:
            numerator += (r.n1 - 1) * r.sd1**2 + (r.n2 - 1) * r.sd2**2
        elif r.data_kind == "contrast":
            implied = math.sqrt(r.vi) / math.sqrt(1 / r.n1 + 1 / r.n2)
            numerator += (r.n1 + r.n2 - 2) * implied**2
        else:
            continue
        denominator += r.n1 + r.n2 - 2
    return math.sqrt(numerator / denominator) if denominator > 0 else None


def control_risk(result: PooledResult) -> float | None:
    """Pooled risk in the control arms of the count rows (events / n), or None."""
    counted = [r for r in result.rows if r.events2 is not None]
    total = sum(r.n2 for r in counted)
    return sum(r.events2 for r in counted) / total if total else None


def n_per_arm_binary(risk: float, rr: float, alpha: float, power: float) -> int | None:
    """Patients per arm to detect a risk ratio ``rr`` from control risk ``risk`` (normal approximation for two
    proportions: (z_a + z_b)^2 (p1 q1 + p0 q0) / (p1 - p0)^2); None when not computable or beyond any
    trial."""
    p1 = min(risk * rr, 0.999999)
    if not 0 < risk < 1 or p1 == risk:
        return None
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    n = z * z * (p1 * (1 - p1) + risk * (1 - risk)) / (p1 - risk) ** 2
    return math.ceil(n) if n <= MAX_PER_ARM else None


#: Above this many patients per arm a "sample size" is not a trial; it is reported as infeasible (None).
MAX_PER_ARM = 10**9


def n_per_arm(delta: float, sd: float, alpha: float, power: float) -> int | None:
    """Patients per arm to detect ``delta`` (two-sided ``alpha``, ``power``) with common SD ``sd``:
    2 (z_{1-alpha/2} + z_{power})^2 sd^2 / delta^2 (normal approximation for a difference in means); None
    when that exceeds ``MAX_PER_ARM`` (a difference too small for any trial to detect)."""
    if not delta > 0 or not sd > 0:
        raise ValueError("delta and sd must be positive")
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    ratio = float(z * sd / delta)
    if not math.isfinite(ratio) or 2 * ratio * ratio > MAX_PER_ARM:
        return None
    return math.ceil(2 * ratio * ratio)


def optimal_information_size(sd: float, mid: float, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Total n of a two-arm trial detecting ``mid`` with SD ``sd`` (GRADE's OIS); None: beyond any trial."""
    per_arm = n_per_arm(mid, sd, alpha, power)
    return None if per_arm is None else 2 * per_arm


def _weights(result: PooledResult) -> list[float]:
    """Each trial's share of the pooled model's weight."""
    total = float(sum(result.fit.weights))
    return [float(w) / total for w in result.fit.weights]


def rate(result: PooledResult, mid: float, min_k: int, egger_p: float | None = None) -> dict:
    """GRADE domains, reasons and the final certainty for one pooled result (MD scale; ``mid`` in its
    unit)."""
    d = result.fit.to_dict()
    weights = _weights(result)
    domains: dict[str, tuple[int, str]] = {}
    domains["risk of bias"] = _risk_of_bias(result, weights)
    domains["inconsistency"] = _inconsistency(d)
    domains["indirectness"] = _indirectness(result, weights)
    domains["imprecision"] = _imprecision(result, d, mid)
    domains["publication bias"] = _publication_bias(result.k, min_k, egger_p)
    down = sum(level for level, _ in domains.values())
    certainty = LEVELS[max(0, 3 - down)]
    return {
        "certainty": certainty,
        "domains": {name: {"downgrade": level, "reason": why} for name, (level, why) in domains.items()},
    }


def _risk_of_bias(result: PooledResult, weights: list[float]) -> tuple[int, str]:
    if all(r.rob_overall is None for r in result.rows):
        return 1, "no RoB 2 judgements recorded for these trials: risk of bias cannot be judged low"
    high = sum(w for w, r in zip(weights, result.rows, strict=True) if r.rob_overall == "high")
    if high >= 0.5:
        return 1, f"{high:.0%} of the weight from trials at high risk of bias"
    return 0, "most weight from trials at low risk or some concerns"


def _inconsistency(d: dict) -> tuple[int, str]:
    i2 = d.get("i2")
    if d["k"] < 2 or i2 is None:
        return 0, "single trial: not assessable"
    if i2 > 50:
        return 1, f"I2 = {i2:.0f}% (> 50%)"
    pi_lb, pi_ub = d.get("pi_lb"), d.get("pi_ub")
    ci_excludes = d["ci_lb"] > 0 or d["ci_ub"] < 0
    if ci_excludes and pi_lb is not None and pi_lb < 0 < pi_ub:
        return 1, "prediction interval includes no effect although the CI does not"
    return 0, f"I2 = {i2:.0f}%"


def _indirectness(result: PooledResult, weights: list[float]) -> tuple[int, str]:
    indirect = sum(
        w
        for w, r in zip(weights, result.rows, strict=True)
        if set(r.flags) & INDIRECT_FLAGS or r.cell_type not in DIRECT_PRODUCTS
    )
    if indirect >= 0.5:
        return 1, f"{indirect:.0%} of the weight from trials with indirect products or designs"
    return 0, "population, intervention and outcome match the question"


def _credible_interval_reason(result: PooledResult, mid: float) -> str:
    """The Bayesian credible interval read against the MID as well (issue 9): a reason when it includes no
    effect or crosses the MID, else ''. ``mid`` on the analysis scale (log for ratios)."""
    posterior = result.posterior or {}
    lb, ub = posterior.get("post_ci_lb"), posterior.get("post_ci_ub")
    if lb is None or ub is None:
        return ""
    if result.is_ratio:
        lb, ub = math.log(lb), math.log(ub)
    if lb <= 0 <= ub:
        return "credible interval includes no effect"
    if min(abs(lb), abs(ub)) < mid:
        return f"credible interval crosses the MID ({_mid_text(result, mid)})"
    return ""


def _mid_text(result: PooledResult, mid: float) -> str:
    return f"{math.exp(mid):g} ({result.measure})" if result.is_ratio else f"{mid:g}"


def _ois(result: PooledResult, mid: float) -> tuple[int | None, str]:
    """Optimal information size (total n) and how it was computed."""
    if result.measure == "SMD":
        per_arm = n_per_arm(mid, 1.0, 0.05, 0.8)
        return (None if per_arm is None else 2 * per_arm), "SMD"
    if result.measure == "MD":
        sd = pooled_sd(result)
        if sd is None:
            return None, "no SD to size it"
        per_arm = n_per_arm(mid, sd, 0.05, 0.8)
        return (None if per_arm is None else 2 * per_arm), f"SD {sd:.3g}"
    risk = control_risk(result)
    if risk is None or result.measure != "RR":
        return None, "no control risk to size it" if risk is None else f"not sized for {result.measure}"
    per_arm = n_per_arm_binary(risk, math.exp(mid), 0.05, 0.8)
    return (None if per_arm is None else 2 * per_arm), f"control risk {risk:.0%}"


def _imprecision(result: PooledResult, d: dict, mid: float) -> tuple[int, str]:
    """``d`` and ``mid`` on the analysis scale (log for ratios), so no effect is 0 for every measure."""
    lb, ub = d["ci_lb"], d["ci_ub"]
    includes_null = lb <= 0 <= ub
    # CI limit nearest no effect closer to zero than the MID: effects too small to matter remain possible
    crosses_mid = includes_null or min(abs(lb), abs(ub)) < mid
    bayes_reason = _credible_interval_reason(result, mid)
    ois, basis = _ois(result, mid)
    small = ois is None or result.n < ois
    shown = f"{ois}" if ois is not None else f"not computable ({basis})"
    reasons = []
    if includes_null:
        reasons.append("CI includes no effect")
    elif crosses_mid:
        reasons.append(f"CI crosses the MID ({_mid_text(result, mid)})")
    if bayes_reason:
        reasons.append(bayes_reason)
        crosses_mid = True
    if small:
        reasons.append(f"n = {result.n} below the optimal information size {shown}")
    level = (1 if (includes_null or crosses_mid) else 0) + (1 if small else 0)
    clear = f"CI clear of the MID ({_mid_text(result, mid)}); n = {result.n} >= OIS {ois}"
    return min(level, 2), "; ".join(reasons) or clear


def _publication_bias(k: int, min_k: int, egger_p: float | None) -> tuple[int, str]:
    if k < min_k:
        return 0, f"not assessable (k = {k} < {min_k}); not rated down"
    if egger_p is not None and egger_p < 0.10:
        return 1, f"Egger's test p = {egger_p:.3f}"
    return 0, "no small-study effect detected"


def summary_of_findings(result: PooledResult) -> dict:
    """Absolute effect: for an MD, the control arms' mean (n-weighted, arm-level rows) and the mean with
    cells;
    for a risk ratio, the control risk and the risk with cells per 1000; with the pooled effect and its CI
    on the reporting scale. None where the rows do not give the control level (contrast rows only)."""
    summary = result.summary()
    out = {
        "measure": result.measure,
        "effect": summary["estimate"],
        "ci_lb": summary["ci_lb"],
        "ci_ub": summary["ci_ub"],
        "participants": result.n,
        "k": result.k,
        "certainty": result.certainty,
        "control_mean": None,
        "cells_mean": None,
        "control_per_1000": None,
        "cells_per_1000": None,
    }
    if result.measure == "MD":
        out["md"] = summary["estimate"]
        with_means = [r for r in result.rows if r.m2 is not None]
        control_n = sum(r.n2 for r in with_means)
        if control_n:
            control_mean = sum(r.m2 * r.n2 for r in with_means) / control_n
            out |= {"control_mean": control_mean, "cells_mean": control_mean + summary["estimate"]}
    risk = control_risk(result) if result.measure == "RR" else None
    if risk is not None:
        out |= {
            "control_per_1000": 1000 * risk,
            "cells_per_1000": min(1000.0, 1000 * risk * summary["estimate"]),
        }
    return out
