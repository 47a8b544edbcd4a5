"""What a real trial of a given size would observe: predictive intervals over the posterior draws (``stemdm
simulate --trial-size N1,N2 --posterior-draws N``).

Three sources of uncertainty, each said where it is missing:
1. What we do not know about the parameters: the trial is simulated once per posterior draw
   (``stemdm.sim.posterior``; common random numbers, so draws differ by their parameters only).
2. Sampling error of a trial with ``n1`` and ``n2`` patients: the difference of two means of changes, with the
   arms' simulated SDs of change under that draw (normal approximation).
3. Between-trial heterogeneity: the posterior of tau from the bundled review's Bayesian pooling of the same
   outcome at 12 months (``stemdm.meta.bayes`` with the protocol's prior); where the evidence pools no trials
   for an outcome, heterogeneity is left out and the row says so (the interval is then too narrow by that).

The predictive interval is the central 95 % of md_draw + tau * z1 + SE(n1, n2) * z2 over draws and normal z.
Responders (the trials' definition) get predictive intervals of each arm's rate and their difference from
binomial sampling of the drawn rates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from stemdm.sim.parameters import default_parameters
from stemdm.sim.posterior import load_draws, params_for_draw
from stemdm.sim.trial import TrialDesign, TrialResult, run_trial

#: Monte Carlo samples per posterior draw for the predictive quantiles.
SAMPLES_PER_DRAW = 400
#: Patients per arm simulated per draw (at most; the design's size when smaller).
PATIENTS_PER_DRAW = 200


def heterogeneity_draws(outcome: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray | None, str]:
    """``n`` draws of tau (the between-trial SD of true effects, in the outcome's unit) from the bundled
    review's
    Bayesian pooling at 12 months, or None with the reason."""
    from stemdm.evidence.bundled import load_bundled
    from stemdm.meta.bayes import bayes_effects
    from stemdm.meta.priors import parse_mu_prior, parse_tau_prior
    from stemdm.review.protocol import load_protocol
    from stemdm.review.run import run_review

    protocol = load_protocol()
    rules = [rule for rule in protocol.outcomes if rule.id == outcome]
    if not rules:
        return None, f"{outcome}: not an outcome of the review protocol"
    data = protocol.model_dump() | {"outcomes": [rules[0].model_dump()], "subgroups": {"variables": []}}
    review = run_review(load_bundled(), type(protocol).model_validate(data))
    pooled = [r for r in review.results if r.subgroup == "overall" and r.timepoint_months == 12]
    if not pooled:
        return (
            None,
            f"{outcome}: the evidence pools no trials at 12 months, so between-trial heterogeneity is left "
            "out",
        )
    bayes = protocol.model.bayes
    posterior = bayes_effects(
        pooled[0].fit.effects,
        parse_tau_prior(rules[0].tau_prior or bayes.default_tau_prior),
        parse_mu_prior(bayes.mu_prior),
        95,
    )
    grid = np.array([posterior.tau_quantile(p) for p in (np.arange(100) + 0.5) / 100])
    note = (
        f"{outcome}: between-trial heterogeneity from the bundled review's posterior of tau at 12 months "
        f"(k = {pooled[0].k}, prior {rules[0].tau_prior or bayes.default_tau_prior}; "
        f"median {np.median(grid):.3g})"
    )
    return rng.choice(grid, size=n), note


def _arm_changes(result: TrialResult, arm: str, endpoint: str, visit: int) -> np.ndarray:
    values = result.arms[arm].values[endpoint]
    change = values[visit] - values[0]
    return change[np.isfinite(change)]


def _responder_rates(result: TrialResult) -> tuple[float, float]:
    rates = result.responders()
    return rates["therapy"], rates["placebo"]


def predictive(
    design: TrialDesign,
    trial_size: tuple[int, int],
    n_draws: int,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Predictive intervals for a trial of ``trial_size`` (therapy, placebo) patients, over ``n_draws``
    posterior draws: per (endpoint, week) ``pred_lb, pred_ub`` (the MD such a trial would observe) and
    ``param_lb, param_ub`` (the true MD across draws), notes on heterogeneity, responder intervals."""
    names, values, date = load_draws()
    rng = np.random.default_rng(design.seed)
    chosen = rng.choice(len(values), size=min(n_draws, len(values)), replace=False)
    draw_design = replace_design(design, min(design.patients_per_arm, PATIENTS_PER_DRAW))
    base = default_parameters()
    runs = []
    for index in chosen:
        runs.append(run_trial(draw_design, params_for_draw(base, names, values[index])))
        if progress is not None:
            progress(1)
    n1, n2 = trial_size
    rows, notes = [], {}
    for endpoint in runs[0].arms["therapy"].values:
        taus, note = heterogeneity_draws(endpoint, SAMPLES_PER_DRAW * len(runs), rng)
        notes[endpoint] = note
        for i, week in enumerate(design.visits):
            if i == 0:
                continue
            rows.append(_row(runs, endpoint, i, week, n1, n2, taus, rng))
    therapy, placebo = np.array([_responder_rates(r) for r in runs]).T
    k = SAMPLES_PER_DRAW
    sampled1 = rng.binomial(n1, np.repeat(therapy, k)) / n1
    sampled2 = rng.binomial(n2, np.repeat(placebo, k)) / n2
    responders = {
        "definition": runs[0].responders()["definition"],
        "therapy_pred": np.quantile(sampled1, [0.025, 0.975]).tolist(),
        "placebo_pred": np.quantile(sampled2, [0.025, 0.975]).tolist(),
        "difference_pred": np.quantile(sampled1 - sampled2, [0.025, 0.975]).tolist(),
    }
    return {
        "trial_size": {"therapy": n1, "placebo": n2},
        "posterior_draws": len(runs),
        "posterior_file_date": date,
        "patients_per_arm_per_draw": draw_design.patients_per_arm,
        "effects": rows,
        "responders": responders,
        "heterogeneity": notes,
    }


def replace_design(design: TrialDesign, patients: int) -> TrialDesign:
    return TrialDesign.model_validate(design.model_dump() | {"patients_per_arm": patients})


def _row(runs, endpoint: str, i: int, week: int, n1: int, n2: int, taus, rng) -> dict[str, Any]:
    mds, ses = [], []
    for result in runs:
        a, b = _arm_changes(result, "therapy", endpoint, i), _arm_changes(result, "placebo", endpoint, i)
        if len(a) < 2 or len(b) < 2:
            continue
        mds.append(a.mean() - b.mean())
        ses.append(np.sqrt(a.var(ddof=1) / n1 + b.var(ddof=1) / n2))
    if not mds:
        return {"week": week, "outcome": endpoint, "pred_lb": None, "pred_ub": None}
    md, se = np.repeat(mds, SAMPLES_PER_DRAW), np.repeat(ses, SAMPLES_PER_DRAW)
    spread = se * rng.standard_normal(md.size)
    if taus is not None:
        spread += taus[: md.size] * rng.standard_normal(md.size)
    lb, ub = np.quantile(md + spread, [0.025, 0.975])
    param_lb, param_ub = np.quantile(mds, [0.025, 0.975])
    return {"week": week, "outcome": endpoint, "pred_lb": float(lb), "pred_ub": float(ub),
            "param_lb": float(param_lb), "param_ub": float(param_ub)}  # fmt: skip
