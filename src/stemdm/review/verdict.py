"""The first screen of the report: per outcome and time, a short verdict that fits the evidence, as messages
(rendered in the reader's language through the catalogs).

A verdict leads with what the trials themselves show (how many, which way each points, type 1 and type 2
diabetes apart when both contribute), then the pooled estimates: with k <= 3 the Bayesian result before the
frequentist one, and the reason a Hartung-Knapp interval on k - 1 degrees of freedom is uninformative; then
the certainty. Nothing is said that the numbers do not support: "favours cells" is the side of a trial's point
estimate; "clearly" only when its 95 % CI excludes no effect.
"""

from __future__ import annotations

import math
from typing import Any

from stemdm.i18n.messages import Message, clauses, msg, term
from stemdm.review.narrative import fmt, percent

#: with this many trials or fewer the narrative leads with the trials and the Bayesian result
FEW_TRIALS = 3


def effect_text(value: float | None, lb: float | None, ub: float | None, measure: str) -> Message:
    """An estimate with its interval ("-0.95 (-4.94 to 3.03)"), or not estimable."""
    if value is None or lb is None or ub is None:
        return msg("not estimable")
    if measure in ("RR", "OR"):
        shown = [ratio_text(v) for v in (value, lb, ub)]
    else:
        digits = 2 if max(abs(value), abs(lb), abs(ub)) < 10 else 1
        shown = [fmt(v, digits) for v in (value, lb, ub)]
    return msg("%(measure)s %(value)s (%(lb)s to %(ub)s)", measure=term(measure_name(measure)),
               value=shown[0], lb=shown[1], ub=shown[2])  # fmt: skip


def ratio_text(value: float) -> str:
    """A ratio with the digits that keep it readable: 0.018, 1.53, 20.6, 1726 (never a misleading 0.0)."""
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 0.1:
        return f"{value:.2f}"
    return f"{value:.2g}"


def measure_name(measure: str) -> str:
    return {"MD": "mean difference", "SMD": "standardized mean difference", "RR": "risk ratio",
            "OR": "odds ratio", "RD": "risk difference"}.get(measure, measure)  # fmt: skip


def _favours_cells(estimate: float, better: str) -> bool:
    """Whether an effect on the analysis scale (log for ratios, so no effect is 0) lies on the side of
    benefit."""
    return (estimate < 0) if better == "lower" else (estimate > 0)


def trial_effects(result) -> list[dict[str, Any]]:
    """Each trial's own effect on the reporting scale with its 95 % normal CI, its population and side."""
    out = []
    for r in result.rows:
        half = 1.959963984540054 * math.sqrt(r.vi)
        values = (r.yi, r.yi - half, r.yi + half)
        shown = tuple(math.exp(v) for v in values) if result.is_ratio else values
        favours = _favours_cells(r.yi, result.better)
        clear = (values[1] > 0 or values[2] < 0) and favours
        out.append({"trial": r.trial_id, "estimate": shown[0], "ci_lb": shown[1], "ci_ub": shown[2],
                    "favours_cells": favours, "clear": clear,
                    "population": r.attrs.get("diabetes_type") or "not stated"})  # fmt: skip
    return out


def directions(effects: list[dict], k: int) -> Message:
    """Which way the trials point, in words."""
    favouring = sum(e["favours_cells"] for e in effects)
    clear = sum(e["clear"] for e in effects)
    if favouring == k:
        head = msg("both favour cells") if k == 2 else msg("all %(k)s favour cells", k=k)
    elif favouring == 0:
        head = msg("both favour control") if k == 2 else msg("all %(k)s favour control", k=k)
    else:
        head = msg("%(a)s of %(k)s favour cells", a=favouring, k=k)
    if clear:
        return msg("%(head)s (%(clear)s with a 95%% CI excluding no effect)", head=head, clear=clear)
    return head


def populations(effects: list[dict], measure: str) -> Message | None:
    """Type 1 and type 2 diabetes apart, when both contribute: each trial's effect under its population."""
    kinds = sorted({e["population"] for e in effects})
    if len(kinds) < 2:
        return None
    parts = []
    for kind in kinds:
        trials = [msg("%(trial)s %(effect)s", trial=e["trial"],
                      effect=effect_text(e["estimate"], e["ci_lb"], e["ci_ub"], measure))
                  for e in effects if e["population"] == kind]  # fmt: skip
        parts.append(msg("%(population)s: %(trials)s", population=term(kind), trials=trials))
    return clauses(parts)


def verdict(result, summary: dict, sensitivity: list[dict] | None, prior: dict | None) -> dict[str, Any]:
    """The verdict of one overall result (``summary`` its results.json row) as a message, and its parts."""
    effects = trial_effects(result)
    parts: list[Message] = [msg("%(k)s trials, %(n)s patients: %(directions)s", k=result.k, n=result.n,
                                directions=directions(effects, result.k))]  # fmt: skip
    split = populations(effects, result.measure)
    if split is not None:
        parts.append(msg("type 1 and type 2 diabetes apart: %(split)s", split=split))
    bayes = _bayes_part(summary, result)
    frequentist = _frequentist_part(summary, result, sensitivity, split is not None)
    parts += [bayes, frequentist] if result.k <= FEW_TRIALS else [frequentist, bayes]
    if prior and prior.get("tau_not_updated"):
        parts.append(msg("the data barely update the prior on heterogeneity (its posterior is close to the "
                         "prior), so the Bayesian interval leans on that prior"))  # fmt: skip
    if any(r.rob_overall is None for r in result.rows):
        parts.append(
            msg(
                "probabilities assume trials free of bias: risk of bias not assessed for %(u)s of "
                "%(k)s trials",
                u=sum(r.rob_overall is None for r in result.rows),
                k=result.k,
            )
        )
    parts.append(msg("certainty %(certainty)s", certainty=term(result.certainty or "not rated")))
    head = msg("%(outcome)s, %(months)s months", outcome=term(result.outcome),
               months=f"{result.timepoint_months:g}")  # fmt: skip
    return {"outcome": result.outcome, "timepoint_months": result.timepoint_months, "head": head,
            "text": clauses([p for p in parts if p]), "trial_effects": effects}  # fmt: skip


def _bayes_part(summary: dict, result) -> Message | None:
    if summary.get("post_median") is None:
        return None
    value = effect_text(summary["post_median"], summary.get("post_ci_lb"), summary.get("post_ci_ub"),
                        result.measure)  # fmt: skip
    return msg("Bayesian %(value)s, P(benefit) %(p)s", value=value, p=percent(summary["p_benefit"]))


def _frequentist_part(summary: dict, result, sensitivity: list[dict] | None, mixed: bool) -> Message:
    pooled = effect_text(summary.get("estimate"), summary.get("ci_lb"), summary.get("ci_ub"), result.measure)
    label = msg("pooled across both types") if mixed else msg("pooled")
    text = msg("%(label)s %(value)s", label=label, value=pooled)
    if summary.get("test") == "knha" and result.k <= FEW_TRIALS:
        common = next((s for s in sensitivity or [] if s.get("method") == "FE" and s.get("test") == "z"
                       and s.get("estimate") is not None), None)  # fmt: skip
        why = msg("the Hartung-Knapp interval uses t on %(df)s df, too wide to inform with %(k)s trials",
                  df=result.k - 1, k=result.k)  # fmt: skip
        if common:
            fixed = effect_text(common["estimate"], common["ci_lb"], common["ci_ub"], result.measure)
            return msg("%(text)s: %(why)s (common effect, z: %(fixed)s)", text=text, why=why, fixed=fixed)
        return msg("%(text)s: %(why)s", text=text, why=why)
    return text


def single_verdict(outcome: str, months: float, single: dict, better: str) -> dict[str, Any]:
    """A verdict for an outcome only one trial reports: its own effect, its population, its certainty."""
    estimate = single.get("estimate")
    on_analysis_scale = math.log(estimate) if estimate and single["measure"] in ("RR", "OR") else estimate
    favours = estimate is not None and _favours_cells(on_analysis_scale, better)
    side = msg("favours cells") if favours else msg("favours control")
    text = clauses([
        msg("1 trial (%(trial)s, %(population)s, %(n)s patients): %(effect)s, %(side)s",
            trial=single["trial"], n=single["n"],
            population=term(single.get("diabetes_type") or "not stated"),
            effect=effect_text(estimate, single.get("ci_lb"), single.get("ci_ub"), single["measure"]),
            side=side),
        msg("not pooled"),
        msg("certainty %(certainty)s", certainty=term(single.get("certainty") or "not rated")),
    ])  # fmt: skip
    head = msg("%(outcome)s, %(months)s months", outcome=term(outcome), months=f"{months:g}")
    return {"outcome": outcome, "timepoint_months": months, "head": head, "text": text, "single": True}
