"""The next trial: sample size of a two-arm parallel RCT to detect the pooled effect, and to detect the
effect a
new setting may have (the prediction-interval limit nearest no effect).

n per arm = 2 (z_{1-alpha/2} + z_{power})^2 SD^2 / delta^2 (normal approximation for a difference in means;
e.g. Julious 2004 Stat Med 23:1921), SD the trials' pooled within-arm SD, delta the effect to detect.
"""

from __future__ import annotations

from stemdm.i18n.messages import msg
from stemdm.review.analysis import PooledResult
from stemdm.review.grade import MAX_PER_ARM, n_per_arm, pooled_sd


def _total(per_arm: int | None) -> int | None:
    return None if per_arm is None else 2 * per_arm


def next_trial(result: PooledResult, mid: float, alpha: float, powers: list[float]) -> dict:
    """Sample sizes for a new trial of ``result``'s outcome (to detect the pooled effect, the
    prediction-interval
    limit nearest no effect, and the minimal important difference ``mid``), against the trials run so far."""
    d = result.fit.to_dict()
    sd = pooled_sd(result)
    effect = abs(d["estimate"])
    largest = max(r.n1 + r.n2 for r in result.rows)
    out = {
        "outcome": result.outcome,
        "timepoint_months": result.timepoint_months,
        "sd": sd,
        "pooled_effect": effect,
        "largest_trial_n": largest,
        "k": result.k,
        "rows": [],
    }
    for power in powers:
        per_arm = n_per_arm(effect, sd, alpha, power) if effect > 0 else None
        out["rows"].append(
            {
                "target": "pooled effect",
                "delta": effect,
                "power": power,
                "n_per_arm": per_arm,
                "total": _total(per_arm),
            }
        )
    pi_lb, pi_ub = d.get("pi_lb"), d.get("pi_ub")
    if pi_lb is None or pi_ub is None:
        out["pi_statement"] = msg("no prediction interval (fewer than 2 trials)")
    elif pi_lb <= 0 <= pi_ub:
        out["pi_statement"] = msg(
            "the prediction interval [%(lb)s, %(ub)s] includes no effect: in a new setting the effect may be "
            "nil, so no sample size guarantees a positive trial",
            lb=f"{pi_lb:.3g}",
            ub=f"{pi_ub:.3g}",
        )
    else:
        nearest = min(abs(pi_lb), abs(pi_ub))
        out["pi_statement"] = msg(
            "the prediction-interval limit nearest no effect is %(x)s", x=f"{nearest:.3g}"
        )
        for power in powers:
            per_arm = n_per_arm(nearest, sd, alpha, power)
            out["rows"].append(
                {
                    "target": "prediction-interval limit",
                    "delta": nearest,
                    "power": power,
                    "n_per_arm": per_arm,
                    "total": _total(per_arm),
                }
            )
    for power in powers:
        per_arm = n_per_arm(mid, sd, alpha, power)
        out["rows"].append(
            {
                "target": "minimal important difference",
                "delta": mid,
                "power": power,
                "n_per_arm": per_arm,
                "total": _total(per_arm),
            }
        )
    out["multicentre_statement"] = _size_statement(out["rows"], largest)
    return out


def _size_statement(rows: list[dict], largest: int) -> str:
    """What the sizes mean next to the largest trial so far, in words chosen by the numbers."""
    first = next(r for r in rows if r["target"] == "minimal important difference")
    mid_total, power = first["total"], f"{first['power'] * 100:g}%"
    if mid_total is None:
        return msg(
            "Detecting the minimal important difference with %(power)s power would need more than %(n)s "
            "patients: no trial can; check the protocol's MID",
            power=power,
            n=f"{2 * MAX_PER_ARM:,}",
        )
    ratio = mid_total / largest
    if ratio > 1:
        return msg(
            "Detecting the minimal important difference with %(power)s power needs %(n)s patients, %(ratio)s "
            "times the largest trial so far (%(largest)s): larger, multicentre trials are needed",
            power=power,
            n=mid_total,
            ratio=f"{ratio:.1f}",
            largest=largest,
        )
    return msg(
        "The largest trial so far (%(largest)s) already had the size to detect the minimal important "
        "difference (%(n)s needed); the remaining uncertainty comes from heterogeneity between trials, which "
        "more and more varied trials, not a larger single one, resolve",
        largest=largest,
        n=mid_total,
    )
