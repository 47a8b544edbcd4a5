"""Certainty of evidence (GRADE) per result, domain by domain, each judgment with its reason, and the
summary-of-findings rows with their footnotes and absolute effects.

Rules (GRADE Handbook, Schünemann et al. 2013; Guyatt et al. 2011 J Clin Epidemiol 64:1283 and 64:1294;
imprecision by Zeng et al. 2022, GRADE guidance 34 and 35, J Clin Epidemiol 150:216 and 150:225). Evidence
from randomized trials starts at high and is rated down one level per serious concern:

- risk of bias: unassessed trials count as unassessed, never as low: rated down once when trials without an
  RoB 2 judgment, at high risk or with some concerns carry >= 50 % of the weight, twice when trials at high
  risk carry >= 50 %;
- inconsistency: I2 > 50 % (or a prediction interval that includes no effect although the CI does not),
  except with k = 2 when both estimates lie on the same side and their CIs overlap (then I2 says little,
  and the reason says so);
- indirectness: one level per serious concern, at most two: a pool mixing type 1 and type 2 diabetes (each
  with >= 10 % of the weight); >= 50 % of the weight from products that are not MSC alone (co-infused cells)
  or numbers with an indirectness flag; a surrogate outcome that is not a validated one (HbA1c is validated
  for glycaemic control and not rated down; C-peptide, HOMA indices, glucose levels and insulin dose are
  surrogates of the outcomes that matter to patients);
- imprecision: the CI against the MID on both sides (benefit and harm): it includes no effect and one MID:
  once; it includes appreciable benefit and appreciable harm (both MIDs): twice; it extends beyond twice the
  MID on both sides: three times (GRADE 34 allows three levels for very wide intervals; the factor 2 is
  stemdm's assumption); a CI clear of both MIDs is still rated down once when n is below the optimal
  information size (OIS: a two-arm trial powered at 80 % (alpha 0.05) to detect the MID with the pooled SD,
  or for a ratio from the control risk);
- publication bias: Egger's test p < 0.10 when k reaches the protocol's minimum; below it, not assessable
  (stated, not rated down).
"""

from __future__ import annotations

import math

from scipy import stats

from stemdm.i18n.messages import Message, clauses, msg, term
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


#: outcomes GRADE treats as validated surrogates of patient-important glycaemic outcomes (not rated down)
VALIDATED_SURROGATES = {"hba1c"}
#: binary outcomes that are patient-important as defined (a responder endpoint combining HbA1c and insulin)
PATIENT_IMPORTANT = {"responder_hba1c7_insulin50", "insulin_independence"}
#: stemdm's factor beyond which an interval is "very wide": it extends past this many MIDs on both sides
VERY_WIDE_MIDS = 2.0
#: share of the weight each diabetes type needs for a pool to count as mixed
MIXED_MIN_SHARE = 0.1


def rate(result: PooledResult, mid: float, min_k: int, egger_p: float | None = None) -> dict:
    """GRADE domains (each: levels rated down and the reason as a message) and the final certainty for
    one result (``mid`` on the analysis scale: log for ratios)."""
    d = result.fit.to_dict()
    weights = _weights(result)
    domains: dict[str, tuple[int, Message]] = {
        "risk of bias": _risk_of_bias(result, weights),
        "inconsistency": _inconsistency(result, d),
        "indirectness": _indirectness(result, weights),
        "imprecision": _imprecision(result, d, mid),
        "publication bias": _publication_bias(result.k, min_k, egger_p),
    }
    down = sum(level for level, _ in domains.values())
    certainty = LEVELS[max(0, 3 - down)]
    return {
        "certainty": certainty,
        "domains": {name: {"downgrade": level, "reason": why} for name, (level, why) in domains.items()},
    }


def _risk_of_bias(result: PooledResult, weights: list[float]) -> tuple[int, Message]:
    shares = {"low": 0.0, "some_concerns": 0.0, "high": 0.0, None: 0.0}
    for w, r in zip(weights, result.rows, strict=True):
        shares[r.rob_overall if r.rob_overall in shares else None] += w
    unassessed, high, concerns = shares[None], shares["high"], shares["some_concerns"]
    described = msg(
        "weight from trials at low risk %(low)s, some concerns %(some)s, high risk %(high)s, not assessed "
        "%(none)s",
        low=_share(shares["low"]),
        some=_share(concerns),
        high=_share(high),
        none=_share(unassessed),
    )
    if unassessed >= 0.999:
        return 1, msg("no RoB 2 judgements recorded for these trials: risk of bias cannot be judged low")
    if high >= 0.5:
        return 2, msg("%(share)s of the weight from trials at high risk of bias (%(shares)s)",
                      share=_share(high), shares=described)  # fmt: skip
    if unassessed + high + concerns >= 0.5:
        return 1, msg("most of the weight is not from trials at low risk of bias: an unassessed trial cannot "
                      "count as low risk (%(shares)s)", shares=described)  # fmt: skip
    return 0, msg("most of the weight from trials at low risk of bias (%(shares)s)", shares=described)


def _share(value: float) -> str:
    return f"{value:.0%}"


def _study_intervals(result: PooledResult) -> list[tuple[float, float, float]]:
    """(estimate, lower, upper) of each trial on the analysis scale, 95 % normal intervals."""
    z = stats.norm.ppf(0.975)
    return [(r.yi, r.yi - z * math.sqrt(r.vi), r.yi + z * math.sqrt(r.vi)) for r in result.rows]


def _inconsistency(result: PooledResult, d: dict) -> tuple[int, Message]:
    i2 = d.get("i2")
    if d["k"] < 2 or i2 is None:
        return 0, msg("single trial: not assessable")
    intervals = _study_intervals(result)
    same_side = all(y > 0 for y, _, _ in intervals) or all(y < 0 for y, _, _ in intervals)
    overlap = max(lb for _, lb, _ in intervals) <= min(ub for _, _, ub in intervals)
    if i2 > 50 and d["k"] == 2 and same_side and overlap:
        return 0, msg("I2 = %(i2)s%% from 2 trials whose estimates lie on the same side and whose CIs "
                      "overlap: not rated down on I2 alone", i2=f"{i2:.0f}")  # fmt: skip
    if i2 > 50:
        return 1, msg("I2 = %(i2)s%% (> 50%%)", i2=f"{i2:.0f}")
    pi_lb, pi_ub = d.get("pi_lb"), d.get("pi_ub")
    ci_excludes = d["ci_lb"] > 0 or d["ci_ub"] < 0
    if ci_excludes and pi_lb is not None and pi_lb < 0 < pi_ub:
        return 1, msg("prediction interval includes no effect although the CI does not")
    return 0, msg("I2 = %(i2)s%%", i2=f"{i2:.0f}")


def _indirectness(result: PooledResult, weights: list[float]) -> tuple[int, Message]:
    serious: list[Message] = []
    noted: list[Message] = []
    by_type: dict[str, float] = {}
    for w, r in zip(weights, result.rows, strict=True):
        kind = r.attrs.get("diabetes_type") or "not stated"
        by_type[kind] = by_type.get(kind, 0.0) + w
    if len([share for share in by_type.values() if share >= MIXED_MIN_SHARE]) > 1:
        mix = [
            msg("%(type)s %(share)s", type=term(kind), share=_share(share))
            for kind, share in sorted(by_type.items())
        ]
        serious.append(msg("type 1 and type 2 diabetes pooled together (weight: %(mix)s)", mix=mix))
    indirect = sum(
        w for w, r in zip(weights, result.rows, strict=True)
        if set(r.flags) & INDIRECT_FLAGS or r.cell_type not in DIRECT_PRODUCTS
    )  # fmt: skip
    products = msg("%(share)s of the weight from trials with co-infused cells, non-MSC products or indirect "
                   "designs", share=_share(indirect))  # fmt: skip
    if indirect >= 0.5:
        serious.append(products)
    elif indirect > 0:
        noted.append(products)
    if result.outcome in VALIDATED_SURROGATES:
        noted.append(
            msg("%(outcome)s is a validated surrogate of glycaemic control", outcome=term(result.outcome))
        )
    elif result.outcome not in PATIENT_IMPORTANT:
        serious.append(msg("%(outcome)s is a surrogate outcome, not one that patients feel",
                           outcome=term(result.outcome)))  # fmt: skip
    if not serious:
        return 0, clauses([msg("population, intervention and outcome match the question"), *noted])
    return min(2, len(serious)), clauses([*serious, *noted])


def _mid_text(result: PooledResult, mid: float) -> str:
    return f"{math.exp(mid):g} ({result.measure})" if result.is_ratio else f"{mid:g}"


def _ois(result: PooledResult, mid: float) -> tuple[int | None, Message]:
    """Optimal information size (total n) and how it was computed."""
    if result.measure == "SMD":
        per_arm = n_per_arm(mid, 1.0, 0.05, 0.8)
        return (None if per_arm is None else 2 * per_arm), msg("SMD")
    if result.measure == "MD":
        sd = pooled_sd(result)
        if sd is None:
            return None, msg("no SD to size it")
        per_arm = n_per_arm(mid, sd, 0.05, 0.8)
        return (None if per_arm is None else 2 * per_arm), msg("SD %(sd)s", sd=f"{sd:.3g}")
    risk = control_risk(result)
    if risk is None:
        return None, msg("no control risk to size it")
    if result.measure == "RD":
        per_arm = n_per_arm_binary(risk, (risk + mid) / risk if risk > 0 else math.inf, 0.05, 0.8)
    else:
        per_arm = n_per_arm_binary(risk, math.exp(mid), 0.05, 0.8)
    return (None if per_arm is None else 2 * per_arm), msg("control risk %(risk)s", risk=_share(risk))


def _imprecision(result: PooledResult, d: dict, mid: float) -> tuple[int, Message]:
    """The CI against the MID on both sides (``d`` and ``mid`` on the analysis scale, log for ratios, so no
    effect is 0 and benefit lies on the side ``better`` says)."""
    sign = -1.0 if result.better == "lower" else 1.0
    # on a scale where benefit is positive: the interval's limits towards harm and towards benefit
    towards_harm, towards_benefit = sorted((sign * d["ci_lb"], sign * d["ci_ub"]))
    interval = msg("CI %(lb)s to %(ub)s against the MID %(mid)s on each side", lb=_shown(result, d["ci_lb"]),
                   ub=_shown(result, d["ci_ub"]), mid=_mid_text(result, mid))  # fmt: skip
    if towards_harm < -VERY_WIDE_MIDS * mid and towards_benefit > VERY_WIDE_MIDS * mid:
        return 3, msg("very wide: the %(interval)s runs beyond twice the MID towards both benefit and harm",
                      interval=interval)  # fmt: skip
    if towards_harm < -mid and towards_benefit > mid:
        return 2, msg("the %(interval)s includes both appreciable benefit and appreciable harm",
                      interval=interval)  # fmt: skip
    if towards_harm < 0 or towards_benefit < mid:
        what = (msg("includes no effect") if towards_harm < 0 < towards_benefit
                else msg("includes effects too small to matter"))  # fmt: skip
        return 1, msg("the %(interval)s %(what)s", interval=interval, what=what)
    ois, basis = _ois(result, mid)
    if ois is None or result.n < ois:
        shown = f"{ois}" if ois is not None else msg("not computable (%(basis)s)", basis=basis)
        return 1, msg("the %(interval)s is clear of both MIDs, but n = %(n)s is below the optimal "
                      "information size %(ois)s", interval=interval, n=result.n, ois=shown)  # fmt: skip
    return 0, msg("the %(interval)s is clear of both MIDs; n = %(n)s reaches the optimal information size "
                  "%(ois)s", interval=interval, n=result.n, ois=ois)  # fmt: skip


def _shown(result: PooledResult, value: float) -> str:
    return f"{math.exp(value):.3g}" if result.is_ratio else f"{value:.3g}"


def _publication_bias(k: int, min_k: int, egger_p: float | None) -> tuple[int, Message]:
    if k < min_k:
        return 0, msg("not assessable (k = %(k)s < %(min_k)s); not rated down", k=k, min_k=min_k)
    if egger_p is not None and egger_p < 0.10:
        return 1, msg("Egger's test p = %(p)s", p=f"{egger_p:.3f}")
    return 0, msg("no small-study effect detected")


FOOTNOTE_MARKS = "abcdefghijklmnopqrstuvwxyz"


def footnotes(grade: dict) -> list[dict]:
    """One footnote per domain rated down (the SoF table's reasons), marked a, b, c..."""
    rated = [(name, d) for name, d in grade.get("domains", {}).items() if d["downgrade"]]
    return [
        {"mark": FOOTNOTE_MARKS[i], "domain": name, "downgrade": d["downgrade"], "reason": d["reason"]}
        for i, (name, d) in enumerate(rated)
    ]


def _by_population(rows: list) -> dict[str, list]:
    groups: dict[str, list] = {}
    for r in rows:
        groups.setdefault(r.attrs.get("diabetes_type") or "not stated", []).append(r)
    return dict(sorted(groups.items()))


def summary_of_findings(result: PooledResult) -> dict:
    """The SoF row: the pooled effect with its CI on the reporting scale, and the absolute effect per
    population (type 1 and type 2 diabetes apart, never averaged together): for an MD the control arms'
    mean (n-weighted, arm-level rows) and the mean with cells; for a ratio the control risk and the risk
    with cells per 1,000 (control risk x RR, as GRADE's SoF tables do), given only when the whole interval
    lies within 0-1,000. Footnotes say why each domain was rated down."""
    summary = result.summary()
    out = {
        "measure": result.measure,
        "effect": summary["estimate"],
        "ci_lb": summary["ci_lb"],
        "ci_ub": summary["ci_ub"],
        "participants": result.n,
        "k": result.k,
        "certainty": result.certainty,
        "populations": [],
        "footnotes": footnotes(result.grade),
        "not_estimable": summary.get("not_estimable", {}),
    }
    for population, rows in _by_population(result.rows).items():
        entry = {"population": population, "trials": [r.trial_id for r in rows]}
        if result.measure == "MD":
            entry |= _absolute_mean(rows, summary)
        elif result.measure == "RR":
            entry |= _absolute_risk(rows, summary)
        elif result.measure == "RD":
            entry |= _absolute_difference(rows, summary)
        out["populations"].append(entry)
    return out


def _absolute_mean(rows: list, summary: dict) -> dict:
    with_means = [r for r in rows if r.m2 is not None]
    control_n = sum(r.n2 for r in with_means)
    if not control_n or summary["estimate"] is None:
        return {"control_mean": None, "cells_mean": None}
    control = sum(r.m2 * r.n2 for r in with_means) / control_n
    return {"control_mean": control, "cells_mean": control + summary["estimate"],
            "cells_lb": control + summary["ci_lb"], "cells_ub": control + summary["ci_ub"]}  # fmt: skip


def _absolute_difference(rows: list, summary: dict) -> dict:
    """Per 1,000 from a risk difference: control risk + RD, only when the RD's interval was estimable and
    the risks stay within 0-1,000."""
    counted = [r for r in rows if r.events2 is not None]
    total = sum(r.n2 for r in counted)
    if not total:
        return {"control_per_1000": None, "cells_per_1000": None}
    risk = sum(r.events2 for r in counted) / total
    if summary["estimate"] is None or summary["ci_lb"] is None:
        return {"control_per_1000": 1000 * risk, "cells_per_1000": None,
                "absolute_note": summary["not_estimable"]["ci"]}  # fmt: skip
    values = [1000 * (risk + summary[key]) for key in ("estimate", "ci_lb", "ci_ub")]
    if min(values) < 0 or max(values) > 1000:
        note = msg("not estimable: the risk difference's interval implies risks outside 0-1,000 per 1,000")
        return {"control_per_1000": 1000 * risk, "cells_per_1000": None, "absolute_note": note}
    return {"control_per_1000": 1000 * risk, "cells_per_1000": values[0], "cells_lb": values[1],
            "cells_ub": values[2]}  # fmt: skip


def _absolute_risk(rows: list, summary: dict) -> dict:
    counted = [r for r in rows if r.events2 is not None]
    total = sum(r.n2 for r in counted)
    if not total:
        return {"control_per_1000": None, "cells_per_1000": None}
    risk = sum(r.events2 for r in counted) / total
    values = [1000 * risk * summary[key] for key in ("estimate", "ci_lb", "ci_ub")]
    entry = {"control_per_1000": 1000 * risk, "cells_per_1000": values[0], "cells_lb": values[1],
             "cells_ub": values[2], "difference_per_1000": values[0] - 1000 * risk,
             "difference_lb": values[1] - 1000 * risk, "difference_ub": values[2] - 1000 * risk}  # fmt: skip
    if risk == 0:
        entry |= {key: None for key in entry if key != "control_per_1000"}
        entry["absolute_note"] = msg("no events in the control arms: the risk ratio gives no absolute effect")
    elif max(values) > 1000:
        entry |= {key: None for key in entry if key != "control_per_1000"}
        entry["absolute_note"] = msg(
            "not estimable: the risk ratio's interval implies more than 1,000 per 1,000 with cells at this "
            "control risk"
        )
    posterior = [summary.get(key) for key in ("post_median", "post_ci_lb", "post_ci_ub")]
    if risk > 0 and None not in posterior and 1000 * risk * posterior[2] <= 1000:
        # the Bayesian pooled ratio (its credible interval) read the same way
        entry |= dict(zip(("bayes_cells_per_1000", "bayes_cells_lb", "bayes_cells_ub"),
                          (1000 * risk * v for v in posterior), strict=True))  # fmt: skip
    return entry
