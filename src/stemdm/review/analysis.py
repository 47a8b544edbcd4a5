"""Every analysis the protocol asks for, on ``stemdm.meta``: pooled effects per outcome x timepoint x
subgroup, tests for subgroup differences, dose meta-regression, sensitivity analyses, small-study tests
and safety.

Each result keeps the study rows it came from; what cannot be analysed becomes a :class:`Skipped` with its
reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from stemdm import meta
from stemdm.meta.api import fit_pooled, fit_subgroups
from stemdm.meta.bayes import bayes_effects
from stemdm.meta.effects import StudyEffects, compute_effects
from stemdm.meta.errors import ConvergenceError, MetaInputError
from stemdm.meta.model import MetaResult
from stemdm.meta.priors import parse_mu_prior, parse_tau_prior
from stemdm.review.protocol import OutcomeRule, Protocol
from stemdm.review.resolve import EventRow, Skipped, StudyRow

#: Posterior columns of every pooled row (results.json, --json): median and credible interval of the pooled
#: effect, the predictive interval of a new trial's true effect, P(benefit), P(benefit >= MID), the prior.
POSTERIOR_KEYS = (
    "post_median", "post_ci_lb", "post_ci_ub", "post_pred_lb", "post_pred_ub", "p_benefit", "p_mid", "mid",
    "tau_prior",
)  # fmt: skip


def posterior_summary(result: PooledResult, rule: OutcomeRule, protocol: Protocol) -> dict[str, Any]:
    """The Bayesian random-effects model on the same study effects (stemdm.meta.bayes): the outcome's tau
    prior (or the protocol's default), the protocol's mu prior and level. Benefit is the side ``better`` says;
    P(MID) is the probability that the effect is at least the MID on that side."""
    bayes_model = protocol.model.bayes
    tau_prior = parse_tau_prior(rule.tau_prior or bayes_model.default_tau_prior)
    posterior = bayes_effects(
        result.fit.effects, tau_prior, parse_mu_prior(bayes_model.mu_prior), result.fit.level
    )
    d = posterior.to_dict()
    side = "below" if rule.better == "lower" else "above"
    mid = -rule.analysis_mid if rule.better == "lower" else rule.analysis_mid
    back = math.exp if rule.is_ratio else float
    return {
        "post_median": back(d["mu_median"]),
        "post_ci_lb": back(d["mu_ci_lb"]), "post_ci_ub": back(d["mu_ci_ub"]),
        "post_pred_lb": back(d["pred_lb"]), "post_pred_ub": back(d["pred_ub"]),
        "p_benefit": posterior.prob_beyond(0.0, side), "p_mid": posterior.prob_beyond(mid, side),
        "mid": rule.mid, "tau_prior": tau_prior.text, "post_tau_median": d["tau_median"],
    }  # fmt: skip


def prior_sensitivity(result: PooledResult, rule: OutcomeRule, protocol: Protocol) -> list[dict[str, Any]]:
    """The posterior under three tau priors: the protocol's, a half-normal with half its scale (more weight on
    homogeneity) and a half-Cauchy with its scale (heavier tail: more room for heterogeneity). With few trials
    the prior on tau decides much of the width; this table shows how much."""
    chosen = parse_tau_prior(rule.tau_prior or protocol.model.bayes.default_tau_prior)
    scale = (
        chosen.params[-1] if chosen.family in ("halfnormal", "halfcauchy", "halft") else 2 * rule.analysis_mid
    )
    rows = []
    for text in (chosen.text, f"halfnormal({scale / 2:g})", f"halfcauchy({scale:g})"):
        alternative = rule.model_copy(update={"tau_prior": text})
        summary = posterior_summary(result, alternative, protocol)
        rows.append({key: summary[key] for key in ("tau_prior", "post_median", "post_ci_lb", "post_ci_ub",
                                                    "p_benefit", "p_mid")})  # fmt: skip
    return rows


#: Unit of a pooled result by measure (MD: the outcome's unit).
REPORTING_UNITS = {"SMD": "SD", "RR": "ratio", "OR": "ratio", "RD": "risk difference"}


@dataclass
class PooledResult:
    """One pooled analysis: outcome x timepoint x subgroup, with its model and study rows."""

    outcome: str
    timepoint_months: float | None
    subgroup: str
    measure: str
    unit: str
    better: str
    rows: list[StudyRow]
    fit: MetaResult
    certainty: str | None = None
    grade: dict[str, Any] = field(default_factory=dict)
    #: Bayesian pooling of the same rows (posterior_summary), or None where it could not be done
    posterior: dict[str, Any] | None = None

    @property
    def k(self) -> int:
        return len(self.rows)

    @property
    def n(self) -> int:
        return int(sum(r.n1 + r.n2 for r in self.rows))

    @property
    def is_ratio(self) -> bool:
        return self.measure in ("RR", "OR")

    def _range_note(self, d: dict) -> list[str]:
        if self.measure == "RD" and (d["ci_lb"] < -1 or d["ci_ub"] > 1):
            return [
                "the confidence interval extends beyond the possible range of a risk difference (-1 to 1): "
                f"with k = {self.k} trials the interval says nothing; read the credible interval"
            ]
        return []

    def summary(self) -> dict[str, Any]:
        """The row of results.json: frequentist and Bayesian columns on the reporting scale (ratios as
        ratios), and where each trial's numbers came from (``data_kinds``)."""
        d = self.fit.to_dict()
        if self.is_ratio:
            for key in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
                d[key] = None if d.get(key) is None else math.exp(d[key])
        return {
            "outcome": self.outcome,
            "timepoint_months": self.timepoint_months,
            "subgroup": self.subgroup,
            "k": self.k,
            "n": self.n,
            "measure": self.measure,
            "unit": REPORTING_UNITS.get(self.measure, self.unit),
            "better": self.better,
            "estimate": d["estimate"],
            "ci_lb": d["ci_lb"],
            "ci_ub": d["ci_ub"],
            "level": self.fit.level,
            "pval": d["pval"],
            "i2": d["i2"],
            "tau2": d["tau2"],
            "pi_lb": d.get("pi_lb"),
            "pi_ub": d.get("pi_ub"),
            "certainty": self.certainty,
            **{key: (self.posterior or {}).get(key) for key in POSTERIOR_KEYS},
            "method": d["method"],
            "test": d["test"],
            "trials": [r.trial_id for r in self.rows],
            "data_kinds": {r.trial_id: r.data_kind for r in self.rows},
            "notes": d["notes"] + self._range_note(d),
        }


@dataclass
class SubgroupTest:
    outcome: str
    timepoint_months: float
    variable: str
    levels: dict[str, int]  # level -> k
    q_between: float
    df: int
    pval: float


@dataclass
class SafetyResult:
    event_type: str
    rows: list[EventRow]
    rr_mh: MetaResult | None
    or_peto: MetaResult | None
    notes: list[str]


def frame(rows: list[StudyRow]) -> pd.DataFrame:
    """The study rows as effects (``yi``, ``vi`` on the analysis scale, ``n1i``, ``n2i``) plus trial
    attributes: arm-level, count and contrast rows alike (generic inverse variance)."""
    return pd.DataFrame(
        [
            {"study": r.trial_id, "yi": r.yi, "vi": r.vi, "n1i": r.n1, "n2i": r.n2, "dose": r.dose_per_kg,
             **r.attrs}
            for r in rows
        ]
    )  # fmt: skip


def row_effects(rows: list[StudyRow], measure: str) -> StudyEffects:
    """The rows' effects for pooling, labelled with the outcome's measure (so ratios are back-transformed)."""
    data = frame(rows)
    generic = compute_effects(data, "GEN")
    return StudyEffects(measure, generic.study, generic.yi, generic.vi, generic.n1, generic.n2, raw=data)


def pool(
    rows: list[StudyRow], rule: OutcomeRule, protocol: Protocol, method: str | None = None
) -> MetaResult:
    """Pool rows by inverse variance (protocol model; knha on 1 df allowed for k = 2, with its note)."""
    model = protocol.model
    effects = row_effects(rows, rule.measure)
    return fit_pooled(effects, method or model.method, model.test, model.level, allow_small_df=True)


def analyse_outcome(
    rows: list[StudyRow], rule: OutcomeRule, protocol: Protocol, months: float
) -> tuple[list[PooledResult], list[SubgroupTest], list[Skipped], dict[str, Any]]:
    """Overall and subgroup pooling, subgroup tests, dose regression, sensitivity and small-study tests for
    one
    outcome at one timepoint."""
    skipped: list[Skipped] = []
    extras: dict[str, Any] = {}
    if len(rows) == 0:
        return [], [], [], extras
    if len(rows) == 1:
        single = _single_study(rows[0], rule, protocol, months)
        extras["single_study"] = single
        reason = f"1 trial ({rows[0].trial_id}); no pooling (its own effect is shown)"
        return [], [], [Skipped(rule.id, months, "overall", reason)], extras
    try:
        overall = PooledResult(
            rule.id, months, "overall", rule.measure, rule.unit, rule.better, rows, pool(rows, rule, protocol)
        )
    except (MetaInputError, ConvergenceError) as error:
        return [], [], [Skipped(rule.id, months, "overall", f"cannot pool: {error}")], extras
    results = [overall]
    tests = []
    for variable in protocol.subgroups.variables:
        found, test, skip = _subgroups(rows, rule, protocol, months, variable)
        results += found
        tests += [test] if test else []
        skipped += skip
    extras["dose_regression"], skip = _dose_regression(rows, rule, protocol, months)
    skipped += skip
    extras["sensitivity"] = sensitivity(rows, rule, protocol, overall)
    extras["small_study"] = small_study(overall, protocol)
    return results, tests, skipped, extras


def _single_study(row: StudyRow, rule: OutcomeRule, protocol: Protocol, months: float) -> dict[str, Any]:
    yi, vi = row.yi, row.vi
    z = float(stats.norm.ppf(1 - (1 - protocol.model.level / 100) / 2))
    values = {"estimate": yi, "ci_lb": yi - z * math.sqrt(vi), "ci_ub": yi + z * math.sqrt(vi)}
    if rule.is_ratio:
        values = {key: math.exp(value) for key, value in values.items()}
    return {
        "trial": row.trial_id,
        **values,
        "measure": rule.measure,
        "data_kind": row.data_kind,
        "n": row.n1 + row.n2,
        "sources": list(row.sources),
        "steps": list(row.steps),
    }


def _subgroups(rows, rule, protocol, months, variable):
    levels: dict[str, int] = {}
    for row in rows:
        levels[row.attrs[variable]] = levels.get(row.attrs[variable], 0) + 1
    if len(levels) < 2:
        only = next(iter(levels))
        return (
            [],
            None,
            [
                Skipped(
                    rule.id,
                    months,
                    variable,
                    f"all {len(rows)} trials have {variable} = {only}; no subgroup comparison",
                )
            ],
        )
    if max(levels.values()) < 2:
        members = "; ".join(f"{level}: {r.trial_id}" for r in rows for level in [r.attrs[variable]])
        why = (
            f"every {variable} subgroup has a single trial ({members}); the comparison would be the "
            f"difference "
            "between trials, not tested"
        )
        return [], None, [Skipped(rule.id, months, variable, why)]
    data = frame(rows)
    effects = row_effects(rows, rule.measure)
    model = protocol.model
    try:
        fitted = fit_subgroups(data, effects, variable, model.method, model.test, model.level)
    except (MetaInputError, ConvergenceError) as error:
        return [], None, [Skipped(rule.id, months, variable, f"subgroups not estimable: {error}")]
    results, skipped = [], []
    for level, sub in (fitted.subgroups or {}).items():
        members = [r for r in rows if r.attrs[variable] == level]
        if len(members) < 2:
            skipped.append(
                Skipped(
                    rule.id,
                    months,
                    f"{variable}={level}",
                    f"1 trial ({members[0].trial_id}); no pooling within this subgroup",
                )
            )
            continue
        results.append(
            PooledResult(
                rule.id, months, f"{variable}={level}", rule.measure, rule.unit, rule.better, members, sub
            )
        )
    if fitted.q_between is None:
        why = next((n for n in fitted.notes if n.startswith("test for subgroup differences")), "undefined")
        return results, None, [*skipped, Skipped(rule.id, months, variable, why)]
    test = SubgroupTest(
        rule.id,
        months,
        variable,
        levels,
        float(fitted.q_between),
        int(fitted.q_between_df),
        float(fitted.q_between_pval),
    )
    return results, test, skipped


def _dose_regression(rows, rule, protocol, months) -> tuple[dict | None, list[Skipped]]:
    dosed = [r for r in rows if r.dose_per_kg is not None]
    distinct = len({r.dose_per_kg for r in dosed})
    if len(dosed) < 3 or distinct < 2:
        why = (
            f"{len(dosed)} trial(s) with a dose in cells/kg ({distinct} distinct); meta-regression needs "
            f">= 3 "
            "trials and >= 2 doses"
        )
        return None, [Skipped(rule.id, months, "dose meta-regression", why)]
    data = frame(dosed)
    data["dose_million_per_kg"] = data["dose"] / 1e6
    model = protocol.model
    try:
        fitted = meta.fit(
            data,
            measure="GEN",
            method=model.method,
            test=model.test,
            level=model.level,
            mods=["dose_million_per_kg"],
        )
    except (MetaInputError, ConvergenceError) as error:
        return None, [Skipped(rule.id, months, "dose meta-regression", str(error))]
    d = fitted.to_dict()
    return {
        "k": len(dosed),
        "slope_per_million_cells_per_kg": d["coef"][1],
        "se": d["se"][1],
        "pval": d["pval"][1],
        "qm_pval": d.get("qm_pval"),
    }, []


def sensitivity(
    rows: list[StudyRow], rule: OutcomeRule, protocol: Protocol, overall: PooledResult
) -> list[dict]:
    """Alternative models, leave-one-out, and the analysis without high-RoB or unlabelled-± trials."""
    out = []
    for method in protocol.model.sensitivity_methods:
        out.append(_variant(f"model {method}", rows, rule, protocol, method))
    if protocol.sensitivity.leave_one_out and len(rows) >= 3:
        for row in rows:
            out.append(_variant(f"without {row.trial_id}", [r for r in rows if r is not row], rule, protocol))
    if protocol.sensitivity.exclude_high_rob:
        if all(r.rob_overall is None for r in rows):
            out.append(
                {"analysis": "excluding high risk of bias", "skipped": "no risk-of-bias judgements recorded"}
            )
        else:
            out.append(
                _variant(
                    "excluding high risk of bias",
                    [r for r in rows if r.rob_overall != "high"],
                    rule,
                    protocol,
                )
            )
    if protocol.sensitivity.exclude_pm_unlabelled:
        kept = [r for r in rows if "pm_unlabelled" not in r.flags]
        if len(kept) == len(rows):
            out.append({"analysis": "excluding unlabelled ±", "skipped": "no trial has an unlabelled ±"})
        else:
            out.append(_variant("excluding unlabelled ±", kept, rule, protocol))
    return out


def _variant(
    name: str, rows: list[StudyRow], rule: OutcomeRule, protocol: Protocol, method: str | None = None
):
    if len(rows) < 2:
        return {"analysis": name, "skipped": f"{len(rows)} trial(s) left; no pooling"}
    try:
        d = pool(rows, rule, protocol, method).to_dict()
    except (MetaInputError, ConvergenceError) as error:
        return {"analysis": name, "skipped": str(error)}
    return {
        "analysis": name,
        "k": len(rows),
        "estimate": d["estimate"],
        "ci_lb": d["ci_lb"],
        "ci_ub": d["ci_ub"],
        "pval": d["pval"],
        "i2": d["i2"],
    }


def small_study(overall: PooledResult, protocol: Protocol) -> dict[str, Any]:
    """Egger's test and trim-and-fill when k reaches the protocol's minimum; else a plain statement."""
    k, min_k = overall.k, protocol.small_study.min_k
    if k < min_k:
        return {
            "run": False,
            "statement": f"k = {k} < {min_k}: small-study effects and publication bias cannot be "
            "assessed by funnel-plot tests",
        }
    try:
        egger = meta.egger_test(overall.fit)
        filled = meta.trim_and_fill(overall.fit)
    except (MetaInputError, ConvergenceError) as error:
        return {"run": False, "statement": f"k = {k}, but {error}"}
    return {"run": True, "egger": egger, "trim_and_fill": filled.to_dict()}


def analyse_safety(event_type: str, rows: list[EventRow], notes: list[str], level: float) -> SafetyResult:
    """Risk ratio by Mantel-Haenszel and Peto's odds ratio (rare events) for one adverse-event type."""
    result = SafetyResult(event_type, rows, None, None, list(notes))
    if not rows:
        return result
    total_events = sum(r.events1 + r.events2 for r in rows)
    if total_events == 0:
        result.notes.append(f"no events in either arm of {len(rows)} trial(s): risk ratio not estimable")
        return result
    data = pd.DataFrame(
        [{"study": r.trial_id, "ai": r.events1, "n1i": r.n1, "ci": r.events2, "n2i": r.n2} for r in rows]
    )
    for measure, method, slot in (("RR", "MH", "rr_mh"), ("OR", "PETO", "or_peto")):
        try:
            setattr(result, slot, meta.fit(data, measure=measure, method=method, level=level))
        except (MetaInputError, ConvergenceError) as error:
            result.notes.append(f"{measure} ({method}) not estimable: {error}")
    return result


def safety_summary(result: SafetyResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "event_type": result.event_type,
        "k": len(result.rows),
        "events_cells": sum(r.events1 for r in result.rows),
        "n_cells": sum(r.n1 for r in result.rows),
        "events_control": sum(r.events2 for r in result.rows),
        "n_control": sum(r.n2 for r in result.rows),
        "notes": result.notes,
        "trials": [r.trial_id for r in result.rows],
    }
    for slot, label in (("rr_mh", "rr_mh"), ("or_peto", "or_peto")):
        fitted = getattr(result, slot)
        if fitted is not None:
            d = fitted.to_dict()
            out[label] = {
                key: (None if d[key] is None else float(np.exp(d[key])))
                for key in ("estimate", "ci_lb", "ci_ub")
            } | {"pval": d["pval"]}
    return out
