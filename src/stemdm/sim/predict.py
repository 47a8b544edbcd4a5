"""What a real trial of a given size would observe: predictive intervals over the posterior draws (``stemdm
simulate --trial-size N1,N2 --posterior-draws N``).

Three sources of uncertainty, each said where it is missing:
1. What we do not know about the parameters: the trial is simulated once per posterior draw
   (``stemdm.sim.posterior``; common random numbers, so draws differ by their parameters only).
2. Sampling error of a trial with ``n1`` and ``n2`` patients: the difference of two means of changes, with the
   arms' simulated SDs of change under that draw (normal approximation).
3. Between-trial heterogeneity, from an informed source stated in the output: Kashbour 2025's I² for the
   outcome's 12-month MD (13 RCTs), converted to tau by Higgins & Thompson 2002 (I² = tau² / (tau² + s²))
   with the typical trial variance s² + tau² = k x SE² of the pooled estimate (k = 13, every trial
   reporting: an ASSUMPTION that gives the largest tau); else the posterior of tau from the bundled review's
   pooling (which, with k = 2, is close to its prior: said); else left out, and the row says so.
4. Model discrepancy: the leave-one-trial-out errors of the calibration beyond their predictive spread
   (HbA1c, the only outcome with such numbers), added for HbA1c.

The predictive interval is the central 95 % of md_draw + tau z1 + delta z2 + SE(n1, n2) z3 over draws and
normal z.
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
#: Patients per draw for the posterior summary: each simulated with and without cells (paired), so the
#: draw's true MD carries little Monte Carlo error from few patients
PAIRED_PATIENTS_PER_DRAW = 60


def _tiled(cohort, k: int):
    """``k`` copies of a cohort side by side (every per-patient array tiled)."""
    import dataclasses

    def copies(v: np.ndarray) -> np.ndarray:  # patients are the first axis (rbc, a1c: patients x cohorts)
        return np.concatenate([v] * k, axis=0)

    state = type(cohort.state)(**{name: copies(v) for name, v in vars(cohort.state).items()})
    arrays = {f.name: copies(getattr(cohort, f.name)) for f in dataclasses.fields(cohort)
              if isinstance(getattr(cohort, f.name), np.ndarray)}  # fmt: skip
    return dataclasses.replace(cohort, state=state, **arrays)


def batched_paired_runs(design: TrialDesign, base, names: list[str], draws: np.ndarray) -> list[TrialResult]:
    """``paired_run`` for every posterior draw at once: the same virtual patients repeated once per draw,
    each block carrying its draw's parameters as per-patient arrays (the model is elementwise over patients),
    so the 40 draws cost about one simulation of 40 x n patients instead of 40 simulations. Identical to
    running the draws one by one (tested)."""
    import dataclasses

    from stemdm.sim.cohort import make_cohort
    from stemdm.sim.trial import simulate_arm, with_titration_spread

    n, k = design.patients_per_arm, len(draws)
    physiology = dataclasses.replace(base.physiology, titration=design.titration)
    rng = np.random.default_rng(design.seed)
    cohort = make_cohort(physiology, design.baseline(), n, rng)
    cohort = with_titration_spread(cohort, physiology.titration_sd, design.seed)
    z = np.random.default_rng([design.seed, 7]).standard_normal(n)  # with_response's stream
    blocks = {"physiology": physiology, "therapy": base.therapy, "placebo": base.placebo}
    for j, name in enumerate(names):
        block, field = name.split(".")
        blocks[block] = dataclasses.replace(blocks[block], **{field: np.repeat(draws[:, j], n)})
    params = dataclasses.replace(base, **blocks)
    sd = np.broadcast_to(np.asarray(params.therapy.response_sd_log, dtype=float), (n * k,))
    response = np.clip(np.exp(sd * np.tile(z, k) - sd**2 / 2), 0.0, 3.0)
    tiled = dataclasses.replace(_tiled(cohort, k), response=response)
    therapy = simulate_arm("therapy", tiled, design.regimen(), params, design.weeks, design.visits)
    placebo = simulate_arm("placebo", tiled, None, params, design.weeks, design.visits)
    out = []
    for j in range(k):
        part = slice(j * n, (j + 1) * n)
        arms = {name: _arm_part(run, part) for name, run in (("therapy", therapy), ("placebo", placebo))}
        out.append(TrialResult(design, base.version, arms, cohort.acceptance_rate))
    return out


def _arm_part(run, part: slice):
    """The patients ``part`` of an arm run."""
    import dataclasses

    values = {endpoint: v[:, part] for endpoint, v in run.values.items()}
    return dataclasses.replace(run, values=values, sensitivity=run.sensitivity[:, part])


def paired_run(design: TrialDesign, params) -> TrialResult:
    """The same virtual patients with and without cells (the counterfactual pair): the arms' difference is
    the draw's effect on that cohort, without two cohorts' sampling difference."""
    import dataclasses

    from stemdm.sim.cohort import make_cohort
    from stemdm.sim.trial import simulate_arm, with_response, with_titration_spread

    if design.titration != params.physiology.titration:
        params = dataclasses.replace(
            params, physiology=dataclasses.replace(params.physiology, titration=design.titration)
        )
    rng = np.random.default_rng(design.seed)
    cohort = make_cohort(params.physiology, design.baseline(), design.patients_per_arm, rng)
    cohort = with_response(cohort, params.therapy.response_sd_log, design.seed)
    cohort = with_titration_spread(cohort, params.physiology.titration_sd, design.seed)
    arms = {
        "therapy": simulate_arm("therapy", cohort, design.regimen(), params, design.weeks, design.visits),
        "placebo": simulate_arm("placebo", cohort, None, params, design.weeks, design.visits),
    }
    return TrialResult(design, params.version, arms, cohort.acceptance_rate)


#: the published review whose I² informs between-trial heterogeneity, with its trial count (its abstract)
HETEROGENEITY_REVIEW, HETEROGENEITY_K = "Kashbour2025", 13


def published_tau(outcome: str) -> tuple[float | None, str]:
    """tau from a published review's I² for the outcome's 12-month MD (module docstring, item 3)."""
    from stemdm.evidence.bundled import load_bundled

    found = [p for p in load_bundled()["published_estimates"]
             if p.review_id == HETEROGENEITY_REVIEW and p.outcome_id == outcome and p.measure == "MD"
             and p.i2_percent is not None and p.timepoint_months == 12]  # fmt: skip
    if not found:
        return None, ""
    p = found[0]
    se = (p.ci_ub - p.ci_lb) / 3.92
    tau = float(np.sqrt(p.i2_percent / 100 * HETEROGENEITY_K * se**2))
    return tau, (
        f"{outcome}: between-trial heterogeneity tau = {tau:.3g} from {p.citation}'s I² = {p.i2_percent:g} % "
        f"(12-month MD, SE {se:.3g}; Higgins & Thompson 2002 with k = {HETEROGENEITY_K}, every trial "
        "reporting, an assumption that gives the largest tau)"
    )


def discrepancy_sd(outcome: str) -> tuple[float, str]:
    """The model's discrepancy SD for an outcome (item 4): root mean square of the leave-one-trial-out errors
    beyond their predictive spread; 0 where no such numbers exist in the outcome's unit."""
    from stemdm.sim.domain import posterior_record

    if outcome != "hba1c":
        return 0.0, ""
    rows = [r for r in (posterior_record() or {}).get("leave_one_trial_out", {}).get("rows", [])
            if "HbA1c" in r["name"] and ("MSC -" in r["name"] or "MSC - sham" in r["name"])]  # fmt: skip
    if not rows:
        return 0.0, ""
    errors = np.array([r["target"] - r["posterior_predictive"][1] for r in rows])
    spread = np.array([(r["posterior_predictive"][2] - r["posterior_predictive"][0]) / 3.92 for r in rows])
    delta = float(np.sqrt(max(0.0, np.mean(errors**2) - np.mean(spread**2))))
    return delta, (f"hba1c: model discrepancy SD {delta:.3g} from {len(rows)} leave-one-trial-out errors "
                   "beyond their predictive spread")  # fmt: skip


def heterogeneity_draws(outcome: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray | None, str]:
    """``n`` draws of tau for ``outcome``: the published review's I² first, else the bundled review's
    posterior (below), else None with the reason."""
    tau, note = published_tau(outcome)
    if tau is not None:
        return np.full(n, tau), note
    return review_heterogeneity_draws(outcome, n, rng)


def review_heterogeneity_draws(
    outcome: str, n: int, rng: np.random.Generator
) -> tuple[np.ndarray | None, str]:
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
        f"median {np.median(grid):.3g}; with so few trials it is close to its prior)"
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
    trial_size: tuple[int, int] | None,
    n_draws: int,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Over ``n_draws`` posterior draws: per (endpoint, week) ``param_median, param_lb, param_ub`` (the true
    between-arm MD across draws: the default answer of ``stemdm simulate``), and with ``trial_size``
    (therapy, placebo patients) ``pred_lb, pred_ub`` (the MD such a trial would observe), notes on
    heterogeneity and responder intervals."""
    names, values, date = load_draws()
    rng = np.random.default_rng(design.seed)
    chosen = rng.choice(len(values), size=min(n_draws, len(values)), replace=False)
    base = default_parameters()
    if trial_size is None:
        draw_design = replace_design(design, min(design.patients_per_arm, PAIRED_PATIENTS_PER_DRAW))
        runs = batched_paired_runs(draw_design, base, names, values[chosen])
        if progress is not None:
            progress(len(runs))
        return _posterior_only(design, runs, date, draw_design.patients_per_arm)
    draw_design = replace_design(design, min(design.patients_per_arm, PATIENTS_PER_DRAW))
    runs = []
    for index in chosen:
        runs.append(run_trial(draw_design, params_for_draw(base, names, values[index])))
        if progress is not None:
            progress(1)
    n1, n2 = trial_size
    rows, notes = [], {}
    for endpoint in runs[0].arms["therapy"].values:
        taus, note = heterogeneity_draws(endpoint, SAMPLES_PER_DRAW * len(runs), rng)
        delta, delta_note = discrepancy_sd(endpoint)
        notes[endpoint] = note + (f"; {delta_note}" if delta_note else "")
        for i, week in enumerate(design.visits):
            if i == 0:
                continue
            rows.append(_row(runs, endpoint, i, week, n1, n2, taus, rng, delta))
    therapy, placebo = np.array([_responder_rates(r) for r in runs]).T
    k = SAMPLES_PER_DRAW
    sampled1 = rng.binomial(n1, np.repeat(therapy, k)) / n1
    sampled2 = rng.binomial(n2, np.repeat(placebo, k)) / n2
    responders = {
        "definition": runs[0].responders()["definition"],
        **_responder_posterior(therapy, placebo),
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


def _true_mds(runs, endpoint: str, i: int) -> list[float]:
    """The between-arm MD of change of each draw's run (the virtual cohort's MD: the draw's true effect, up
    to the cohort's Monte Carlo error)."""
    out = []
    for result in runs:
        a, b = _arm_changes(result, "therapy", endpoint, i), _arm_changes(result, "placebo", endpoint, i)
        if len(a) >= 2 and len(b) >= 2:
            out.append(float(a.mean() - b.mean()))
    return out


def _responder_posterior(therapy: np.ndarray, placebo: np.ndarray) -> dict[str, Any]:
    difference = therapy - placebo
    return {
        "therapy_median": float(np.median(therapy)), "placebo_median": float(np.median(placebo)),
        "difference_median": float(np.median(difference)),
        "difference_interval": np.quantile(difference, [0.025, 0.975]).tolist(),
    }  # fmt: skip


def _posterior_only(design: TrialDesign, runs, date: str, patients: int) -> dict[str, Any]:
    """The default answer: the true between-arm MD over the posterior (median and central 95 %)."""
    rows = []
    for endpoint in runs[0].arms["therapy"].values:
        for i, week in enumerate(design.visits):
            if i == 0:
                continue
            mds = _true_mds(runs, endpoint, i)
            if not mds:
                rows.append({"week": week, "outcome": endpoint, "param_median": None})
                continue
            lb, median, ub = np.quantile(mds, [0.025, 0.5, 0.975])
            rows.append({"week": week, "outcome": endpoint, "param_median": float(median),
                         "param_lb": float(lb), "param_ub": float(ub)})  # fmt: skip
    therapy, placebo = np.array([_responder_rates(r) for r in runs]).T
    return {
        "posterior_draws": len(runs),
        "posterior_file_date": date,
        "patients_per_arm_per_draw": patients,
        "effects": rows,
        "responders": {
            "definition": runs[0].responders()["definition"],
            **_responder_posterior(therapy, placebo),
        },
    }


def replace_design(design: TrialDesign, patients: int) -> TrialDesign:
    return TrialDesign.model_validate(design.model_dump() | {"patients_per_arm": patients})


def _row(
    runs, endpoint: str, i: int, week: int, n1: int, n2: int, taus, rng, delta: float = 0.0
) -> dict[str, Any]:
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
    if delta > 0:
        spread += delta * rng.standard_normal(md.size)
    lb, ub = np.quantile(md + spread, [0.025, 0.975])
    param_lb, param_median, param_ub = np.quantile(mds, [0.025, 0.5, 0.975])
    return {"week": week, "outcome": endpoint, "pred_lb": float(lb), "pred_ub": float(ub),
            "param_median": float(param_median), "param_lb": float(param_lb),
            "param_ub": float(param_ub)}  # fmt: skip
