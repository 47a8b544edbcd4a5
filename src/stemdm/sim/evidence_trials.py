"""The trials the Bayesian calibration uses, each as an in-silico design plus the numbers it reported (read
from the bundled evidence base, so each keeps its source), and what the simulator must reproduce.

- Zang 2022 (UC-MSC x3 IV, 48 weeks, insulin-treated T2DM): the targets of ``calibrate.targets()``; Kashbour
  2025's pooled 12-month MD is held out (it pools Zang 2022 itself with T1DM trials).
- The liraglutide + UC-MSC trial (LIRA_hUCMSC2016; 6 + 6 patients, 24 weeks): HbA1c at 24 weeks, MSC vs sham,
  both on liraglutide; the MD of final values (no baseline in the curated data; in a randomized trial it
  estimates the MD of change). ± read as SD (flag pm_unlabelled).
- Bhansali 2017 (autologous BM-MSC vs sham, insulin-treated T2DM, 10 + 10, 1 year): responders (HbA1c
  < 7 % with insulin halved) 6/10 vs 0/10 as a risk difference; SE by the Agresti-Caffo adjustment (a zero
  cell makes the plain Wald SE 0 for the control arm).

Design details the sources do not give are ASSUMPTIONS, named on each design: baseline HbA1c, infusion
interval and insulin use; intra-arterial routes are modelled as the simulator's intra-arterial route.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from stemdm.evidence.store import load_bundled
from stemdm.sim.calibrate import simulated_from, targets, zang_design
from stemdm.sim.parameters import Parameters
from stemdm.sim.trial import TrialDesign, run_trial

HELD_OUT = ("HbA1c 12-month MD, pooled (%)", "fasting C-peptide 12-month MD, pooled (ng/mL)")


def _zang_simulate(params: Parameters, design: TrialDesign) -> np.ndarray:
    """Zang 2022's targets (``calibrate.targets()`` order) and the fasting C-peptide MD of change, from one
    run."""
    result = run_trial(design, params)
    therapy, placebo = (result.arms[a].values["cpep_fasting"] for a in ("therapy", "placebo"))
    cpep = np.nanmean(therapy[-1] - therapy[0]) - np.nanmean(placebo[-1] - placebo[0])
    return np.append(simulated_from(result), cpep)


@dataclass(frozen=True)
class TrialTarget:
    trial: str
    name: str
    value: float
    se: float
    source: str
    held_out: bool = False  # reported as an out-of-sample check, never in the likelihood


@dataclass(frozen=True)
class CalibrationTrial:
    """A trial in silico: its design (patients per arm, seed) and the simulated counterparts of its
    targets."""

    trial: str
    design: Callable[[int, int], TrialDesign]
    simulate: Callable[[Parameters, TrialDesign], np.ndarray]
    targets: tuple[TrialTarget, ...]
    assumptions: str


def _lira_design(patients: int, seed: int) -> TrialDesign:
    return TrialDesign(
        pathway="msc", source="umbilical_cord", route="intra-arterial", dose=1.0, infusions=4,
        interval_weeks=2, weeks=24, visits=[0, 24], patients_per_arm=patients, hba1c=8.5, hba1c_sd=1.0,
        insulin_treated=False, seed=seed,
    )  # fmt: skip


def _bhansali_design(patients: int, seed: int) -> TrialDesign:
    return TrialDesign(
        pathway="msc", source="bone_marrow", route="intra-arterial", dose=1.0, infusions=2, interval_weeks=12,
        weeks=52, visits=[0, 52], patients_per_arm=patients, hba1c=8.0, hba1c_sd=1.0, insulin_treated=True,
        seed=seed,
    )  # fmt: skip


def _hba1c_md(params: Parameters, design: TrialDesign) -> np.ndarray:
    result = run_trial(design, params)
    therapy, placebo = (result.arms[a].values["hba1c"] for a in ("therapy", "placebo"))
    return np.array([np.nanmean(therapy[-1] - therapy[0]) - np.nanmean(placebo[-1] - placebo[0])])


def _responder_rd(params: Parameters, design: TrialDesign) -> np.ndarray:
    rates = run_trial(design, params).responders()
    return np.array([rates["therapy"] - rates["placebo"]])


def _measure(bundle, trial: str, outcome: str, arm: str, weeks: float):
    return next(
        m
        for m in bundle["measurements"]
        if (m.trial_id, m.outcome_id, m.arm_id, m.timepoint_weeks) == (trial, outcome, arm, weeks)
    )


def calibration_trials() -> tuple[CalibrationTrial, ...]:
    """The trials and their targets (numbers from the bundled evidence base)."""
    bundle = load_bundled()
    kashbour = next(
        p for p in bundle["published_estimates"]
        if p.review_id == "Kashbour2025" and p.outcome_id == "cpep_fasting"
    )  # fmt: skip
    cpep = TrialTarget(
        "Zang2022", HELD_OUT[1], kashbour.estimate, (kashbour.ci_ub - kashbour.ci_lb) / 3.92,
        "Kashbour 2025 (abstract), 12 months; unit not stated (ng/mL presumed); T1DM and T2DM trials pooled; "
        "held out: compared with the Zang-like design's fasting C-peptide MD", True,
    )  # fmt: skip
    zang = CalibrationTrial(
        "Zang2022", zang_design, _zang_simulate,
        tuple(
            TrialTarget("Zang2022", t.name, t.value, t.se, t.source, t.name in HELD_OUT) for t in targets()
        ) + (cpep,),
        "dose per infusion 1e6 cells/kg (not in the curated data)",
    )  # fmt: skip
    msc, ctl = (_measure(bundle, "LIRA_hUCMSC2016", "hba1c", arm, 24.0) for arm in ("msc", "control"))
    lira = CalibrationTrial(
        "LIRA_hUCMSC2016", _lira_design, _hba1c_md,
        (TrialTarget("LIRA_hUCMSC2016", "HbA1c at 24 weeks, MSC - sham (%)", msc.mean - ctl.mean,
                     math.sqrt(msc.pm**2 / msc.n + ctl.pm**2 / ctl.n),
                     f"LIRA_hUCMSC2016: {msc.mean} ± {msc.pm} vs {ctl.mean} ± {ctl.pm} % "
                     f"(n {msc.n}/{ctl.n}; ± read as SD)"),),
        "baseline HbA1c 8.5 (1.0) %, not on insulin, infusions every 2 weeks: ASSUMPTIONS (not in the "
        "curated data)",
    )  # fmt: skip
    events = {
        arm: _measure(bundle, "Bhansali2017", "responder_hba1c7_insulin50", arm, 52.0)
        for arm in ("msc", "control")
    }
    (e1, n1), (e2, n2) = ((events[a].events, events[a].n) for a in ("msc", "control"))
    p1, p2 = (e1 + 1) / (n1 + 2), (e2 + 1) / (n2 + 2)  # Agresti & Caffo 2000
    bhansali = CalibrationTrial(
        "Bhansali2017", _bhansali_design, _responder_rd,
        (TrialTarget("Bhansali2017", "responders, MSC - sham (risk difference)", e1 / n1 - e2 / n2,
                     math.sqrt(p1 * (1 - p1) / (n1 + 2) + p2 * (1 - p2) / (n2 + 2)),
                     f"Bhansali 2017: {e1}/{n1} vs {e2}/{n2} (HbA1c < 7 % with insulin halved, 1 year); "
                     "SE by Agresti-Caffo"),),
        "baseline HbA1c 8.0 (1.0) %, two infusions 12 weeks apart: ASSUMPTIONS (not in the curated data)",
    )  # fmt: skip
    return (zang, lira, bhansali)
