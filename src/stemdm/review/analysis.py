"""Every analysis the protocol asks for, on ``stemdm.meta``: pooled effects per outcome x timepoint x
subgroup, tests for subgroup differences, dose meta-regression, sensitivity analyses, small-study tests
and safety.

Each result keeps the study rows it came from; what cannot be analysed becomes a :class:`Skipped` with its
reason.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from stemdm import meta
from stemdm.i18n.messages import clauses, msg, term, verbatim
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
        "tau_quantiles": {
            "probabilities": list(TAU_PROBABILITIES),
            "prior": [tau_prior.quantile(q) for q in TAU_PROBABILITIES],
            "posterior": [posterior.tau_quantile(q) for q in TAU_PROBABILITIES],
        },
    }  # fmt: skip


#: quantiles at which the prior and the posterior of tau are compared
TAU_PROBABILITIES = (0.025, 0.25, 0.5, 0.75, 0.975)
#: the data "do not update" the tau prior when every posterior quantile above the 2.5 % one lies within this
#: factor of the prior's (a reading rule of stemdm, stated where it is applied)
TAU_NOT_UPDATED_FACTOR = 4 / 3


def prior_set(rule: OutcomeRule, protocol: Protocol) -> list[str]:
    """The protocol's tau prior and four alternatives around its scale s: half-normal(s/2) (more weight on
    homogeneity), half-normal(2s) and uniform(0, 5s) (wider: heterogeneity up to several times the effect
    worth having), half-Cauchy(s) (a heavy tail). Without a scale (e.g. a Turner prior) s = 2 x MID."""
    chosen = parse_tau_prior(rule.tau_prior or protocol.model.bayes.default_tau_prior)
    if chosen.family in ("halfnormal", "halfcauchy", "halft"):
        scale = chosen.params[-1]
    else:
        scale = 2 * rule.analysis_mid
    texts = [chosen.text, f"halfnormal({scale / 2:g})", f"halfnormal({2 * scale:g})",
             f"uniform(0,{5 * scale:g})", f"halfcauchy({scale:g})"]  # fmt: skip
    return list(dict.fromkeys(texts))


def prior_sensitivity(result: PooledResult, rule: OutcomeRule, protocol: Protocol) -> dict[str, Any]:
    """The posterior under the priors of ``prior_set`` (the protocol's first), and what they say together:
    whether the credible interval's exclusion of no effect or P(>= MID) crossing 50 % depends on the prior,
    and whether the data updated the protocol's tau prior at all (prior vs posterior quantiles of tau)."""
    rows = []
    for text in prior_set(rule, protocol):
        alternative = rule.model_copy(update={"tau_prior": text})
        summary = posterior_summary(result, alternative, protocol)
        null = 1.0 if rule.is_ratio else 0.0
        excludes = summary["post_ci_lb"] > null or summary["post_ci_ub"] < null
        rows.append(
            {
                key: summary[key]
                for key in ("tau_prior", "post_median", "post_ci_lb", "post_ci_ub", "p_benefit", "p_mid")
            }  # fmt: skip
            | {"ci_excludes_null": excludes, "wider_than_protocol": _wider(text, rows)}
        )
    quantiles = (result.posterior or {}).get("tau_quantiles") or {}
    return {
        "rows": rows,
        "ci_exclusion_depends": len({r["ci_excludes_null"] for r in rows}) > 1,
        "mid_crosses_half": min(r["p_mid"] for r in rows) < 0.5 < max(r["p_mid"] for r in rows),
        "tau_not_updated": tau_not_updated(quantiles),
        "tau_quantiles": quantiles,
    }


def _wider(text: str, rows: list[dict]) -> bool:
    """Whether a prior puts more mass on large heterogeneity than the protocol's (first) one: a higher 75 %
    quantile of tau."""
    if not rows:
        return False
    first, this = parse_tau_prior(rows[0]["tau_prior"]), parse_tau_prior(text)
    q_first, q_this = first.quantile(0.75), this.quantile(0.75)
    return q_first is not None and q_this is not None and q_this > q_first * 1.0001


def tau_not_updated(quantiles: dict) -> bool:
    """True when the posterior of tau is essentially its prior: every quantile from 25 % to 97.5 % within a
    factor of ``TAU_NOT_UPDATED_FACTOR`` of the prior's (the 2.5 % quantile is near 0 for both and says
    little)."""
    prior, posterior = quantiles.get("prior") or [], quantiles.get("posterior") or []
    pairs = [(a, b) for a, b in zip(prior[1:], posterior[1:], strict=False) if a and b]
    if not pairs or any(a is None for a in prior):
        return False
    return all(1 / TAU_NOT_UPDATED_FACTOR <= b / a <= TAU_NOT_UPDATED_FACTOR for a, b in pairs)


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

    def summary(self) -> dict[str, Any]:
        """The row of results.json: frequentist and Bayesian columns on the reporting scale (ratios as
        ratios), and where each trial's numbers came from (``data_kinds``). An interval with a bound
        outside the measure's possible range (a risk difference beyond -1 to 1) is never given: it is
        None, and ``not_estimable`` says why."""
        d = self.fit.to_dict()
        if self.is_ratio:
            for key in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
                d[key] = None if d.get(key) is None else math.exp(d[key])
        out = {
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
            "diabetes_types": {r.trial_id: r.attrs.get("diabetes_type") for r in self.rows},
            "data_kinds": {r.trial_id: r.data_kind for r in self.rows},
            "notes": [note_message(n) for n in d["notes"]],
            "not_estimable": {},
        }
        return within_range(out, self.measure, self.k)


def within_range(out: dict[str, Any], measure: str, k: int) -> dict[str, Any]:
    """``out`` with every interval whose bound leaves the measure's possible range removed (None) and the
    reason under ``not_estimable``: a risk difference lies in [-1, 1]. Ratios and differences in means are
    unbounded on their scale, so nothing is removed for them."""
    if measure != "RD":
        return out
    pairs = {"ci": ("ci_lb", "ci_ub"), "pi": ("pi_lb", "pi_ub"), "post_ci": ("post_ci_lb", "post_ci_ub"),
             "post_pred": ("post_pred_lb", "post_pred_ub")}  # fmt: skip
    reasons = out.setdefault("not_estimable", {})
    for name, (lb, ub) in pairs.items():
        low, high = out.get(lb), out.get(ub)
        if low is not None and high is not None and (low < -1 or high > 1):
            out[lb] = out[ub] = None
            reasons[name] = msg(
                "not estimable: with %(k)s trials this interval extends beyond the possible range of a risk "
                "difference (-1 to 1); the risk ratio and its absolute effect per 1,000 are shown instead",
                k=k,
            )
    if reasons.get("ci"):
        out["estimate"] = out["pval"] = None
        reasons["estimate"] = reasons["ci"]
    return out


def note_message(note: str) -> str:
    """A note of the meta engine as a message of the review (its wording is the engine's; the known ones
    are translated, others kept verbatim)."""
    found = re.fullmatch(r"k = (\d+) under test='knha': t on (\d+) df, so the interval is very wide", note)
    if found:
        return msg("k = %(k)s under the Hartung-Knapp test: t on %(df)s df, so the interval is very wide",
                   k=int(found.group(1)), df=int(found.group(2)))  # fmt: skip
    return verbatim(note)


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
    rows: list[StudyRow],
    rule: OutcomeRule,
    protocol: Protocol,
    method: str | None = None,
    test: str | None = None,
) -> MetaResult:
    """Pool rows by inverse variance (protocol model unless ``method``/``test`` say otherwise; knha on 1 df
    allowed for k = 2, with its note)."""
    model = protocol.model
    effects = row_effects(rows, rule.measure)
    return fit_pooled(effects, method or model.method, test or model.test, model.level, allow_small_df=True)


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
        single = single_study_effect(rows[0], rule, protocol, months)
        extras["single_study"] = single
        reason = msg("1 trial (%(trial)s); no pooling (its own effect is shown)", trial=rows[0].trial_id)
        return [], [], [Skipped(rule.id, months, "overall", reason)], extras
    try:
        overall = PooledResult(
            rule.id, months, "overall", rule.measure, rule.unit, rule.better, rows, pool(rows, rule, protocol)
        )
    except (MetaInputError, ConvergenceError) as error:
        return (
            [],
            [],
            [Skipped(rule.id, months, "overall", msg("cannot pool: %(error)s", error=verbatim(error)))],
            extras,
        )
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


def single_study_effect(
    row: StudyRow, rule: OutcomeRule, protocol: Protocol, months: float
) -> dict[str, Any]:
    yi, vi = row.yi, row.vi
    z = float(stats.norm.ppf(1 - (1 - protocol.model.level / 100) / 2))
    values = {"estimate": yi, "ci_lb": yi - z * math.sqrt(vi), "ci_ub": yi + z * math.sqrt(vi)}
    if rule.is_ratio:
        values = {key: math.exp(value) for key, value in values.items()}
    single = {
        "trial": row.trial_id,
        **values,
        "measure": rule.measure,
        "data_kind": row.data_kind,
        "n": row.n1 + row.n2,
        "diabetes_type": row.attrs.get("diabetes_type"),
        "sources": list(row.sources),
        "steps": list(row.steps),
    }
    return within_range(single, rule.measure, 1)


def single_result(row: StudyRow, rule: OutcomeRule, protocol: Protocol, months: float) -> PooledResult | None:
    """One trial as a result of its own (common effect, z: the trial's own interval), so that it can be
    rated by GRADE like a pooled one (a single small trial is not certain evidence either)."""
    try:
        fitted = pool([row], rule, protocol, "FE", "z")
    except (MetaInputError, ConvergenceError):
        return None
    return PooledResult(rule.id, months, "overall", rule.measure, rule.unit, rule.better, [row], fitted)


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
                    msg(
                        "all %(n)s trials have %(variable)s = %(level)s; no subgroup comparison",
                        n=len(rows),
                        variable=term(variable),
                        level=term(only),
                    ),
                )
            ],
        )
    if max(levels.values()) < 2:
        members = clauses(msg("%(level)s: %(trial)s", level=term(r.attrs[variable]), trial=r.trial_id)
                          for r in rows)  # fmt: skip
        why = msg(
            "every %(variable)s subgroup has a single trial (%(members)s); the comparison would be the "
            "difference between trials, not tested",
            variable=term(variable),
            members=members,
        )
        return [], None, [Skipped(rule.id, months, variable, why)]
    data = frame(rows)
    effects = row_effects(rows, rule.measure)
    model = protocol.model
    try:
        fitted = fit_subgroups(data, effects, variable, model.method, model.test, model.level)
    except (MetaInputError, ConvergenceError) as error:
        return (
            [],
            None,
            [
                Skipped(
                    rule.id,
                    months,
                    variable,
                    msg("subgroups not estimable: %(error)s", error=verbatim(error)),
                )
            ],
        )
    results, skipped = [], []
    for level, sub in (fitted.subgroups or {}).items():
        members = [r for r in rows if r.attrs[variable] == level]
        if len(members) < 2:
            skipped.append(
                Skipped(
                    rule.id,
                    months,
                    f"{variable}={level}",
                    msg("1 trial (%(trial)s); no pooling within this subgroup", trial=members[0].trial_id),
                )
            )
            continue
        results.append(
            PooledResult(
                rule.id, months, f"{variable}={level}", rule.measure, rule.unit, rule.better, members, sub
            )
        )
    if fitted.q_between is None:
        found = next((n for n in fitted.notes if n.startswith("test for subgroup differences")), None)
        why = verbatim(found) if found else msg("test for subgroup differences undefined")
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
        why = msg(
            "%(n)s trial(s) with a dose in cells/kg (%(d)s distinct); meta-regression needs >= 3 trials "
            "and >= 2 doses",
            n=len(dosed),
            d=distinct,
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
        return None, [Skipped(rule.id, months, "dose meta-regression", verbatim(error))]
    d = fitted.to_dict()
    return {
        "k": len(dosed),
        "slope_per_million_cells_per_kg": d["coef"][1],
        "se": d["se"][1],
        "pval": d["pval"][1],
        "qm_pval": d.get("qm_pval"),
    }, []


def model_label(method: str, test: str, primary: bool = False) -> str:
    """The name of a model row: FE with z is the "common effect" model, a random-effects model with z is
    "Wald-type", with knha it is Hartung-Knapp-Sidik-Jonkman (t on k - 1 df)."""
    if method == "FE" and test == "z":
        label = msg("common effect (fixed effect, z)")
    elif method == "FE":
        label = msg("fixed effect with Hartung-Knapp (t)")
    elif test == "z":
        label = msg("%(method)s, Wald-type (z)", method=method)
    else:
        label = msg("%(method)s, Hartung-Knapp-Sidik-Jonkman (t on k - 1 df)", method=method)
    return msg("primary: %(model)s", model=label) if primary else label


def model_variants(protocol: Protocol) -> list[tuple[str, str]]:
    """(method, test) of the model rows: the protocol's primary first, then the same estimator with the
    other test, then each sensitivity estimator with z (common effect for FE)."""
    model = protocol.model
    combos = [(model.method, model.test), (model.method, "z" if model.test != "z" else "knha")]
    combos += [(method, "z") for method in model.sensitivity_methods]
    return list(dict.fromkeys(combos))


def sensitivity(
    rows: list[StudyRow], rule: OutcomeRule, protocol: Protocol, overall: PooledResult
) -> list[dict]:
    """The primary model beside the common-effect and Wald-type models, leave-one-out, binary-outcome
    alternatives (Mantel-Haenszel; the risk difference pooled directly), and the analysis without high-RoB
    trials, without unlabelled-± trials, and with unlabelled ± read as SE."""
    out = []
    for i, (method, test) in enumerate(model_variants(protocol)):
        out.append(variant(model_label(method, test, i == 0), rows, rule, protocol, method, test))
    out += binary_alternatives(rows, rule, protocol)
    if protocol.sensitivity.leave_one_out and len(rows) >= 3:
        for row in rows:
            name = msg("without %(trial)s", trial=row.trial_id)
            out.append(variant(name, [r for r in rows if r is not row], rule, protocol))
    if protocol.sensitivity.exclude_high_rob:
        name = msg("excluding high risk of bias")
        if all(r.rob_overall is None for r in rows):
            out.append({"analysis": name, "skipped": msg("no risk-of-bias judgements recorded")})
        else:
            out.append(variant(name, [r for r in rows if r.rob_overall != "high"], rule, protocol))
    if protocol.sensitivity.exclude_pm_unlabelled:
        name = msg("excluding unlabelled ±")
        kept = [r for r in rows if "pm_unlabelled" not in r.flags]
        if len(kept) == len(rows):
            out.append({"analysis": name, "skipped": msg("no trial has an unlabelled ±")})
        else:
            out.append(variant(name, kept, rule, protocol))
    return out


def binary_alternatives(rows: list[StudyRow], rule: OutcomeRule, protocol: Protocol) -> list[dict]:
    """For a ratio pooled from counts: the Mantel-Haenszel estimate (fixed effect, no continuity
    correction needed) and the risk difference pooled directly by the protocol's model without continuity
    correction; the latter only when its interval lies within -1 to 1 (else not estimable, and why)."""
    counted = [r for r in rows if r.data_kind == "counts"]
    if not rule.is_ratio or len(counted) < 2 or len(counted) < len(rows):
        return []
    data = pd.DataFrame([{"study": r.trial_id, "ai": r.events1, "n1i": r.n1, "ci": r.events2, "n2i": r.n2}
                         for r in counted])  # fmt: skip
    out = []
    name = msg("Mantel-Haenszel %(measure)s (fixed effect)", measure=rule.measure)
    try:
        d = meta.fit(data, measure=rule.measure, method="MH", level=protocol.model.level).to_dict()
        out.append({"analysis": name, "k": len(counted), "estimate": math.exp(d["estimate"]),
                    "ci_lb": math.exp(d["ci_lb"]), "ci_ub": math.exp(d["ci_ub"]), "pval": d["pval"],
                    "i2": d.get("i2"), "method": "MH", "test": "z"})  # fmt: skip
    except (MetaInputError, ConvergenceError) as error:
        out.append({"analysis": name, "skipped": verbatim(str(error))})
    name = msg("risk difference pooled directly (no continuity correction)")
    try:
        effects = compute_effects(data, "RD", to="none")
        fitted = fit_pooled(effects, protocol.model.method, protocol.model.test, protocol.model.level,
                            allow_small_df=True).to_dict()  # fmt: skip
    except (MetaInputError, ConvergenceError) as error:
        return [*out, {"analysis": name, "skipped": verbatim(str(error))}]
    row = within_range({"estimate": fitted["estimate"], "ci_lb": fitted["ci_lb"], "ci_ub": fitted["ci_ub"],
                        "pval": fitted["pval"]}, "RD", len(counted))  # fmt: skip
    if row.get("not_estimable"):
        return [*out, {"analysis": name, "skipped": row["not_estimable"]["ci"]}]
    return [*out, {"analysis": name, "k": len(counted), **row, "i2": fitted["i2"],
                   "method": protocol.model.method, "test": protocol.model.test}]  # fmt: skip


def variant(
    name: str,
    rows: list[StudyRow],
    rule: OutcomeRule,
    protocol: Protocol,
    method: str | None = None,
    test: str | None = None,
):
    if len(rows) < 2:
        return {"analysis": name, "skipped": msg("%(n)s trial(s) left; no pooling", n=len(rows))}
    try:
        fitted = pool(rows, rule, protocol, method, test)
    except (MetaInputError, ConvergenceError) as error:
        return {"analysis": name, "skipped": verbatim(str(error))}
    d = fitted.to_dict()
    back = math.exp if rule.is_ratio else float
    row = {
        "analysis": name,
        "k": len(rows),
        "estimate": back(d["estimate"]),
        "ci_lb": back(d["ci_lb"]),
        "ci_ub": back(d["ci_ub"]),
        "pval": d["pval"],
        "i2": d["i2"],
        "method": method or protocol.model.method,
        "test": test or protocol.model.test,
    }
    checked = within_range(row, rule.measure, len(rows))
    if checked.get("not_estimable"):
        return {"analysis": name, "skipped": checked["not_estimable"]["ci"]}
    checked.pop("not_estimable", None)
    return checked


def small_study(overall: PooledResult, protocol: Protocol) -> dict[str, Any]:
    """Egger's test and trim-and-fill when k reaches the protocol's minimum; else a plain statement."""
    k, min_k = overall.k, protocol.small_study.min_k
    if k < min_k:
        return {
            "run": False,
            "statement": msg(
                "k = %(k)s < %(min_k)s: small-study effects and publication bias cannot be "
                "assessed by funnel-plot tests",
                k=k,
                min_k=min_k,
            ),
        }
    try:
        egger = meta.egger_test(overall.fit)
        filled = meta.trim_and_fill(overall.fit)
    except (MetaInputError, ConvergenceError) as error:
        return {"run": False, "statement": msg("k = %(k)s, but %(error)s", k=k, error=verbatim(error))}
    return {"run": True, "egger": egger, "trim_and_fill": filled.to_dict()}


def analyse_safety(event_type: str, rows: list[EventRow], notes: list[str], level: float) -> SafetyResult:
    """Risk ratio by Mantel-Haenszel and Peto's odds ratio (rare events) for one adverse-event type."""
    result = SafetyResult(event_type, rows, None, None, list(notes))
    if not rows:
        return result
    total_events = sum(r.events1 + r.events2 for r in rows)
    if total_events == 0:
        result.notes.append(
            msg("no events in either arm of %(n)s trial(s): risk ratio not estimable", n=len(rows))
        )
        return result
    data = pd.DataFrame(
        [{"study": r.trial_id, "ai": r.events1, "n1i": r.n1, "ci": r.events2, "n2i": r.n2} for r in rows]
    )
    for measure, method, slot in (("RR", "MH", "rr_mh"), ("OR", "PETO", "or_peto")):
        try:
            setattr(result, slot, meta.fit(data, measure=measure, method=method, level=level))
        except (MetaInputError, ConvergenceError) as error:
            result.notes.append(
                msg(
                    "%(measure)s (%(method)s) not estimable: %(error)s",
                    measure=measure,
                    method=method,
                    error=verbatim(error),
                )
            )
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
