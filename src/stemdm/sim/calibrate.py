"""Calibration of the placebo and mechanism parameters to the evidence (``stemdm calibrate``).

Targets (numbers read from the bundled evidence base, so each keeps its source):
- Zang 2022 (UC-MSC x3 IV, 48 weeks, insulin-treated T2DM): placebo HbA1c change (8.89 -> 8.19 %), the
  between-arm difference in HbA1c change (MSC 9.02 -> 7.52 %), insulin-dose reductions of 15.62 % (placebo)
  and 27.78 % (MSC), and "no improvement in beta-cell function" (HOMA-B difference 0).
- Kashbour 2025: pooled 12-month HbA1c mean difference -0.72 % (95 % CI -1.11 to -0.33).
- Zang 2022's clamp glucose infusion rates (MSC 3.12 -> 4.76, placebo 3.26 -> 3.60 mg/kg/min): the ratio of
  the two arms' relative gains (1.38), matched by the model's effective peripheral insulin sensitivity (SE
  0.15 assumed: no dispersion reported).

Standard errors: change SDs are not reported, so they are imputed from baseline and final SDs with a
correlation of 0.5 (Cochrane Handbook 6.5.2.8; ASSUMPTION); the insulin reductions have no dispersion, so
an SD of 25 percentage points is assumed; the beta-function target's SE (5 HOMA-B points) is an assumption.

Method: weighted least squares (scipy.optimize.least_squares, bounded) on a simulated Zang-like trial with
common random numbers (fixed seed). Uncertainty: Laplace approximation, covariance (J'J)^-1 of the weighted
residuals at the optimum; CIs of the simulated targets by the delta method. Six parameters are fitted: the
placebo sensitivity effect and insulin reduction (closer care), the MSC sensitivity mechanism, the
effect-signal gain and half-life, and the insulin de-escalation threshold; the other mechanisms keep their
priors (the data cannot separate them).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from scipy import optimize

from stemdm.evidence.bundled import load_bundled
from stemdm.evidence.dispersion import change_sd
from stemdm.sim.parameters import Parameters
from stemdm.sim.trial import TrialDesign, run_trial

#: (block, name, lower, upper) of the fitted parameters
FITTED = (
    ("placebo", "e_sens", 0.0, 0.3),
    ("placebo", "dose_reduction", 0.0, 0.4),
    ("therapy", "e_sens", 0.0, 0.7),  # MSC raise sensitivity by at most 70 % at full signal (posterior.py)
    ("therapy", "signal_gain", 0.05, 5.0),
    ("therapy", "signal_half_life", 20.0, 400.0),
    ("physiology", "deescalate_below", 90.0, 170.0),
)
INSULIN_PCT_SD = 25.0  # ASSUMPTION: SD of individual % insulin reductions
BETA_TARGET_SE = 5.0  # ASSUMPTION: HOMA-B points
GIR_RATIO_SE = 0.15  # ASSUMPTION: no dispersion reported for the clamp glucose infusion rates


@dataclass(frozen=True)
class Target:
    name: str
    value: float
    se: float
    source: str


def _measurement(
    bundle,
    trial: str,
    outcome: str,
    weeks: float,
    arm: str,
    unit: str | None = None,
    value_type: str | None = None,
):
    return next(
        m
        for m in bundle["measurements"]
        if (m.trial_id, m.outcome_id, m.timepoint_weeks, m.arm_id) == (trial, outcome, weeks, arm)
        and (unit is None or m.unit == unit)
        and (value_type is None or m.value_type == value_type)
    )


def targets() -> list[Target]:
    """The calibration targets with their SEs, read from the bundled evidence base."""
    bundle = load_bundled()
    z = {
        # endpoint means (final values); the printed mean changes come from another analysis set
        (arm, w): _measurement(bundle, "Zang2022", "hba1c", w, arm, value_type="final")
        for arm in ("msc", "control")
        for w in (0.0, 48.0)
    }
    n = {a.arm_id: a.n_randomized for a in bundle["arms"] if a.trial_id == "Zang2022"}
    sd_change = {arm: change_sd(z[(arm, 0.0)].pm, z[(arm, 48.0)].pm, 0.5)[0] for arm in ("msc", "control")}
    change = {arm: z[(arm, 48.0)].mean - z[(arm, 0.0)].mean for arm in ("msc", "control")}
    se = {arm: sd_change[arm] / math.sqrt(n[arm]) for arm in ("msc", "control")}
    insulin = {
        arm: _measurement(bundle, "Zang2022", "insulin_dose_reduction_pct", 48.0, arm).mean
        for arm in ("msc", "control")
    }
    gir = {
        (arm, w): _measurement(bundle, "Zang2022", "clamp_gir", w, arm).mean
        for arm in ("msc", "control")
        for w in (0.0, 48.0)
    }
    gir_ratio = (gir[("msc", 48.0)] / gir[("msc", 0.0)]) / (gir[("control", 48.0)] / gir[("control", 0.0)])
    kashbour = next(
        p for p in bundle["published_estimates"] if p.review_id == "Kashbour2025" and p.outcome_id == "hba1c"
    )
    zang = "Zang 2022 (bundled evidence, 48 weeks; ± read as SD, change SD imputed with r = 0.5)"
    return [
        Target("placebo HbA1c change (%)", change["control"], se["control"], zang),
        Target(
            "HbA1c change, MSC - placebo (%)",
            change["msc"] - change["control"],
            math.hypot(se["msc"], se["control"]),
            zang,
        ),
        Target(
            "placebo insulin dose reduction (%)",
            insulin["control"],
            INSULIN_PCT_SD / math.sqrt(n["control"]),
            "Zang 2022 (no dispersion reported; SD 25 points assumed)",
        ),
        Target(
            "MSC insulin dose reduction (%)",
            insulin["msc"],
            INSULIN_PCT_SD / math.sqrt(n["msc"]),
            "Zang 2022 (no dispersion reported; SD 25 points assumed)",
        ),
        Target(
            "HOMA-B change, MSC - placebo",
            0.0,
            BETA_TARGET_SE,
            "Zang 2022: no improvement in beta-cell function (SE assumed)",
        ),
        Target(
            "HbA1c 12-month MD, pooled (%)",
            kashbour.estimate,
            (kashbour.ci_ub - kashbour.ci_lb) / 3.92,
            "Kashbour 2025 (abstract), 12 months",
        ),
        Target(
            "insulin sensitivity gain, MSC / placebo (ratio)",
            gir_ratio,
            GIR_RATIO_SE,
            "Zang 2022 clamp GIR 3.12 -> 4.76 (MSC) vs 3.26 -> 3.60 mg/kg/min (placebo); SE assumed",
        ),
        Target(
            "placebo insulin sensitivity gain (ratio)",
            gir[("control", 48.0)] / gir[("control", 0.0)],
            GIR_RATIO_SE,
            "Zang 2022 placebo clamp GIR 3.26 -> 3.60 mg/kg/min; SE assumed",
        ),
    ]


def zang_design(patients: int, seed: int) -> TrialDesign:
    """Zang 2022's trial in silico: UC-MSC 1e6/kg IV x3 at 4-week intervals, 48 weeks, insulin-treated,
    baseline HbA1c 8.95 (1.2) % (the two arms' mean). The dose per infusion is not in the curated data:
    ASSUMPTION 1e6 cells/kg."""
    return TrialDesign(
        pathway="msc",
        source="umbilical_cord",
        route="iv",
        dose=1.0,
        infusions=3,
        interval_weeks=4,
        weeks=48,
        visits=[0, 12, 24, 48],  # Zhang HC 2025's pooled time course is read at 3, 6 and 12 months
        patients_per_arm=patients,
        hba1c=8.95,
        hba1c_sd=1.2,
        insulin_treated=True,
        seed=seed,
    )


def simulated(params: Parameters, design: TrialDesign) -> np.ndarray:
    """The simulated counterparts of ``targets()`` (same order)."""
    return simulated_from(run_trial(design, params))


def simulated_from(result) -> np.ndarray:
    """``simulated`` on a trial already run (a ``TrialResult`` of a Zang-like design)."""

    def change(arm: str, endpoint: str) -> float:
        v = result.arms[arm].values[endpoint]
        return float(np.nanmean(v[-1] - v[0]))

    def insulin_pct(arm: str) -> float:
        v = result.arms[arm].values["insulin_dose"]
        return float(np.mean((v[0] - v[-1]) / v[0]) * 100)

    def sensitivity_gain(arm: str) -> float:
        v = result.arms[arm].sensitivity
        return float(np.mean(v[-1] / v[0]))

    md = change("therapy", "hba1c") - change("placebo", "hba1c")
    return np.array(
        [
            change("placebo", "hba1c"),
            md,
            insulin_pct("placebo"),
            insulin_pct("therapy"),
            change("therapy", "homa_b") - change("placebo", "homa_b"),
            md,
            sensitivity_gain("therapy") / sensitivity_gain("placebo"),
            sensitivity_gain("placebo"),
        ]
    )


def with_values(params: Parameters, values: np.ndarray) -> Parameters:
    blocks = {"physiology": params.physiology, "therapy": params.therapy, "placebo": params.placebo}
    for (block, name, _, _), value in zip(FITTED, values, strict=True):
        blocks[block] = dataclasses.replace(blocks[block], **{name: float(value)})
    return Parameters(blocks["physiology"], blocks["therapy"], blocks["placebo"], params.version)


def calibrate(
    patients: int = 200,
    seed: int = 20221,
    max_evals: int = 60,
    start: Parameters | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Fit the parameters; returns the calibrated ``Parameters`` (as a dict) and the calibration record."""
    start = start or Parameters()
    goal = targets()
    value = np.array([t.value for t in goal])
    se = np.array([t.se for t in goal])
    design = zang_design(patients, seed)
    lower = np.array([f[2] for f in FITTED])
    upper = np.array([f[3] for f in FITTED])
    x0 = np.clip(np.array([getattr(getattr(start, f[0]), f[1]) for f in FITTED]), lower, upper)
    calls = 0

    def residuals(x: np.ndarray) -> np.ndarray:
        nonlocal calls
        calls += 1
        if progress:
            progress(calls)
        return (simulated(with_values(start, x), design) - value) / se

    fit = optimize.least_squares(
        residuals, x0, bounds=(lower, upper), x_scale=(upper - lower) / 4, diff_step=0.05, max_nfev=max_evals
    )
    jac = fit.jac
    cov = np.linalg.pinv(jac.T @ jac)
    fitted = with_values(start, fit.x)
    sim = value + fit.fun * se
    sim_se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", jac * se[:, None], cov, jac * se[:, None]), 0))
    record = {
        "date": datetime.now(UTC).isoformat()[:19],
        "patients_per_arm": patients,
        "seed": seed,
        "evaluations": calls,
        "converged": bool(fit.success),
        "cost": float(fit.cost),
        "parameters": [
            {
                "block": b,
                "name": n,
                "estimate": float(x),
                "se": float(math.sqrt(max(cov[i, i], 0))),
                "bounds": [lo, hi],
            }
            for i, ((b, n, lo, hi), x) in enumerate(zip(FITTED, fit.x, strict=True))
        ],
        "targets": [
            {
                "name": t.name,
                "target": t.value,
                "target_ci": [t.value - 1.96 * t.se, t.value + 1.96 * t.se],
                "simulated": float(s),
                "simulated_ci": [float(s - 1.96 * e), float(s + 1.96 * e)],
                "source": t.source,
            }
            for t, s, e in zip(goal, sim, sim_se, strict=True)
        ],
        "method": "weighted least squares with common random numbers; Laplace covariance; delta-method CIs",
    }
    calibrated = dataclasses.replace(fitted, version=f"1-calibrated-{record['date'][:10]}")
    return {"parameters": calibrated, "record": record}


def save(parameters: Parameters, record: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(parameters.to_dict() | {"calibration": record}, indent=1) + "\n")
    return path
