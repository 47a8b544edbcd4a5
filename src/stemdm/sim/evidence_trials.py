"""The trials the Bayesian calibration uses, each as an in-silico design plus the numbers it reported (read
from the bundled evidence base, so each keeps its source), and what the simulator must reproduce.

- Zang 2022 (UC-MSC x3 IV, 48 weeks, insulin-treated T2DM): the targets of ``calibrate.targets()`` but
  Kashbour 2025's pooled MD (it pools Zang 2022 itself with T1DM trials: a held-out check below).
- The liraglutide + UC-MSC trial (LIRA_hUCMSC2016; 6 + 6 patients, 24 weeks): HbA1c at 24 weeks, MSC vs sham,
  both on liraglutide; the MD of final values (no baseline in the curated data; in a randomized trial it
  estimates the MD of change). ± read as SD (flag pm_unlabelled).
- Bhansali 2017 (autologous BM-MSC vs sham, insulin-treated T2DM, 10 + 10, 1 year): responders (HbA1c
  < 7 % with insulin halved) 6/10 vs 0/10 as a risk difference; SE by the Agresti-Caffo adjustment (a zero
  cell makes the plain Wald SE 0 for the control arm).

Held out (posterior predictive checks, never in the likelihood): Cai 2016 (T1DM, UC-MSC + BM-MNC via the
pancreatic artery, 21 + 21, 1 year: HbA1c and fasting-glucose MDs and the relative change of insulin dose on
an insulin-deficient cohort; a structural misfit of the model, see ``_cai2016``), Zang 2023 (possibly the
same participants as Zang 2022), Bhansali 2014 (bone-marrow mononuclear cells, not MSC), Kashbour 2025's
five 12-month MDs (as a T1DM/T2DM mix) and Zhang HC 2025's HbA1c and insulin time course (both reviews
overlap the trials above).

Design details the sources do not give are ASSUMPTIONS, named on each design: baseline HbA1c, infusion
interval where the record has none; routes, administrations, follow-up, diabetes type, dose and insulin use
are read from the bundled records and checked against them (``design_disagreements``, tested).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from stemdm.evidence.bundled import load_bundled
from stemdm.sim.calibrate import simulated_from, targets, zang_design
from stemdm.sim.domain import SIM_ROUTES
from stemdm.sim.parameters import Parameters
from stemdm.sim.trial import TrialDesign, TrialResult, run_trial

HELD_OUT = ("HbA1c 12-month MD, pooled (%)", "fasting C-peptide 12-month MD, pooled (ng/mL)")
#: Kashbour 2025 pooled 13 RCTs, 507 patients: 199 with T1DM, 308 with T2DM (its abstract)
KASHBOUR_T1_SHARE = 199 / 507

_RUNS: dict[tuple[Parameters, str], TrialResult] = {}


def _run(params: Parameters, design: TrialDesign) -> TrialResult:
    """``run_trial`` remembered for the last few (parameters, design) pairs: several evidence sources share
    one in-silico design (Zang 2022 and 2023, the pooled reviews), so each design point simulates it once."""
    key = (params, design.model_dump_json())
    if key not in _RUNS:
        while len(_RUNS) >= 8:
            _RUNS.pop(next(iter(_RUNS)))
        _RUNS[key] = run_trial(design, params)
    return _RUNS[key]


def _md_change(result: TrialResult, endpoint: str, visit: int = -1) -> float:
    """Therapy minus placebo mean change from baseline to the visit (index into the design's visits)."""
    therapy, placebo = (result.arms[a].values[endpoint] for a in ("therapy", "placebo"))
    return float(np.nanmean(therapy[visit] - therapy[0]) - np.nanmean(placebo[visit] - placebo[0]))


def _relative_change(result: TrialResult, arm: str, endpoint: str) -> float:
    v = result.arms[arm].values[endpoint]
    return float(np.mean((v[-1] - v[0]) / v[0]))


def _zang_simulate(params: Parameters, design: TrialDesign) -> np.ndarray:
    """Zang 2022's likelihood targets (``calibrate.targets()`` order, the pooled MD left out: it belongs to
    the pooled reviews below)."""
    result = _run(params, design)
    values = simulated_from(result)
    fitted = [v for v, t in zip(values, targets(), strict=True) if t.name not in HELD_OUT]
    return np.array([*fitted, _sd_shrinkage(result)])


def _sd_shrinkage(result: TrialResult) -> float:
    """(SD of HbA1c at the last visit / at baseline) in the therapy arm over the same in the placebo arm."""

    def spread(arm: str) -> float:
        v = result.arms[arm].values["hba1c"]
        return float(np.nanstd(v[-1], ddof=1) / np.nanstd(v[0], ddof=1))

    return spread("therapy") / spread("placebo")


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
    """The liraglutide + UC-MSC trial as its bundled record describes it: 1e6 cells/kg on days 1, 8, 15 and
    22, the first into the pancreatic artery and the rest IV, 24 weeks, patients on insulin (with metformin,
    a secretagogue and liraglutide). Baseline HbA1c 8.5 (1.0) % is an ASSUMPTION (inclusion 7-10 %)."""
    return TrialDesign(
        pathway="msc", source="umbilical_cord", route="arterial-then-iv", dose=1.0, infusions=4,
        interval_weeks=1, weeks=24, visits=[0, 24], patients_per_arm=patients, hba1c=8.5, hba1c_sd=1.0,
        insulin_treated=True, seed=seed,
    )  # fmt: skip


def _bhansali_design(patients: int, seed: int) -> TrialDesign:
    """Bhansali 2017 as its bundled record describes it: BM-MSC 1e6 cells/kg twice, first into the superior
    pancreaticoduodenal artery, then IV, insulin-requiring T2DM, 1 year. The 12-week interval (Bhansali
    2014's) and baseline HbA1c 8.0 (1.0) % are ASSUMPTIONS."""
    return TrialDesign(
        pathway="msc", source="bone_marrow", route="arterial-then-iv", dose=1.0, infusions=2,
        interval_weeks=12, weeks=52, visits=[0, 52], patients_per_arm=patients, hba1c=8.0, hba1c_sd=1.0,
        insulin_treated=True, seed=seed,
    )  # fmt: skip


def design_disagreements(design: TrialDesign, trial) -> list[str]:
    """Where an in-silico design departs from the bundled trial record (route, administrations, interval,
    follow-up, diabetes type, dose, source, insulin treatment); a field the record leaves empty is not
    checked (the design's value is then an ASSUMPTION, named on the design)."""
    found = []

    def differs(field: str, ours: object, theirs: object) -> None:
        found.append(f"{trial.trial_id}: {field}: design {ours!r}, bundled record {theirs!r}")

    if trial.route in SIM_ROUTES and SIM_ROUTES[trial.route] != design.route:
        differs("route", design.route, trial.route)
    if trial.n_infusions is not None and trial.n_infusions != design.infusions:
        differs("infusions", design.infusions, trial.n_infusions)
    interval = trial.infusion_interval_weeks
    if interval is not None and design.infusions > 1 and not math.isclose(interval, design.interval_weeks):
        differs("interval_weeks", design.interval_weeks, interval)
    if trial.follow_up_weeks is not None and design.weeks != round(trial.follow_up_weeks):
        differs("weeks", design.weeks, trial.follow_up_weeks)
    if (
        trial.diabetes_type is not None
        and design.diabetes_type != {"T1DM": "t1", "T2DM": "t2"}[trial.diabetes_type]
    ):
        differs("diabetes_type", design.diabetes_type, trial.diabetes_type)
    if (
        trial.dose_unit == "cells/kg"
        and trial.dose_per_infusion
        and not math.isclose(design.dose, trial.dose_per_infusion / 1e6)
    ):
        differs("dose (1e6 cells/kg)", design.dose, trial.dose_per_infusion / 1e6)
    if trial.cell_source in ("bone_marrow", "umbilical_cord", "wharton_jelly", "adipose") and (
        trial.cell_source != design.source
    ):
        differs("source", design.source, trial.cell_source)
    population = (trial.population or "").lower()
    if "insulin" in population and "non-insulin" not in population and not design.insulin_treated:
        differs("insulin_treated", design.insulin_treated, trial.population)
    return found


def _cai_design(patients: int, seed: int) -> TrialDesign:
    """Cai 2016 in silico: T1DM, one intra-arterial (pancreatic artery) administration of 1.1e6/kg UC-MSC,
    52 weeks, insulin-treated, baseline HbA1c 8.65 (0.86) % (the arms' mean). The co-infused autologous
    BM-MNC (106.8e6/kg) are not modelled; BMI 21 and duration 8 years are ASSUMPTIONS."""
    return TrialDesign(
        pathway="msc", source="umbilical_cord", route="intra-arterial", dose=1.1, infusions=1, weeks=52,
        visits=[0, 52], patients_per_arm=patients, hba1c=8.65, hba1c_sd=0.86, bmi=21.0, duration_years=8.0,
        insulin_treated=True, diabetes_type="t1", seed=seed,
    )  # fmt: skip


def _hba1c_md(params: Parameters, design: TrialDesign) -> np.ndarray:
    return np.array([_md_change(_run(params, design), "hba1c")])


def _responder_rd(params: Parameters, design: TrialDesign) -> np.ndarray:
    rates = _run(params, design).responders()
    return np.array([rates["therapy"] - rates["placebo"]])


def _cai_simulate(params: Parameters, design: TrialDesign) -> np.ndarray:
    result = _run(params, design)
    insulin = _relative_change(result, "therapy", "insulin_dose") - _relative_change(
        result, "placebo", "insulin_dose"
    )
    return np.array([_md_change(result, "hba1c"), _md_change(result, "fbg"), insulin])


#: the pooled reviews' outcomes, in the order ``_pooled_simulate`` returns them
POOLED_OUTCOMES = ("hba1c", "fbg", "ppbg", "cpep_fasting", "insulin_dose")


def _pooled_designs(patients: int, seed: int) -> tuple[TrialDesign, TrialDesign]:
    return zang_design(patients, seed), _cai_design(patients, seed)


def _pooled_simulate(params: Parameters, designs: tuple[TrialDesign, TrialDesign]) -> np.ndarray:
    """Kashbour 2025's five 12-month MDs as the T1DM / T2DM patient-share mix of the Cai-like and Zang-like
    designs (ASSUMPTION: a pooled MD behaves like a patient-weighted mix), then Zhang HC 2025's T2DM-only
    HbA1c at 6 and 12 months and insulin dose at 3, 6 and 12 months from the Zang-like design."""
    zang, cai = (_run(params, d) for d in designs)
    w = KASHBOUR_T1_SHARE
    kashbour = [(1 - w) * _md_change(zang, e) + w * _md_change(cai, e) for e in POOLED_OUTCOMES]
    zhang = [_md_change(zang, "hba1c", 2), _md_change(zang, "hba1c", 3)]
    zhang += [_md_change(zang, "insulin_dose", visit) for visit in (1, 2, 3)]
    return np.array(kashbour + zhang)


def _measure(bundle, trial: str, outcome: str, arm: str, weeks: float):
    return next(
        m
        for m in bundle["measurements"]
        if (m.trial_id, m.outcome_id, m.arm_id, m.timepoint_weeks) == (trial, outcome, arm, weeks)
    )


def _measure_typed(bundle, trial: str, outcome: str, arm: str, weeks: float, value_type: str):
    return next(
        m for m in bundle["measurements"]
        if (m.trial_id, m.outcome_id, m.arm_id, m.timepoint_weeks, m.value_type)
        == (trial, outcome, arm, weeks, value_type)
    )  # fmt: skip


def _estimate(bundle, review: str, outcome: str, months: float):
    return next(
        p for p in bundle["published_estimates"]
        if (p.review_id, p.outcome_id, p.timepoint_months) == (review, outcome, months)
    )  # fmt: skip


def _zang2022(bundle) -> CalibrationTrial:
    """Zang 2022's calibration targets and the spread of its arms: HbA1c SD at 48 weeks over the SD at
    baseline, MSC over placebo ((1.07/1.27)/(1.02/1.11) = 0.92: the MSC arm's spread shrank no more than
    placebo's), which informs between-patient variability of the response. SE of the log ratio: four SDs of
    about 45 patients each, 1/sqrt(2(n-1)) apiece, taken as independent (conservative)."""
    sd = {
        (arm, w): _measure_typed(bundle, "Zang2022", "hba1c", arm, w, "final").pm
        for arm in ("msc", "control") for w in (0.0, 48.0)
    }  # fmt: skip
    n = {a.arm_id: a.n_randomized for a in bundle["arms"] if a.trial_id == "Zang2022"}
    ratio = (sd[("msc", 48.0)] / sd[("msc", 0.0)]) / (sd[("control", 48.0)] / sd[("control", 0.0)])
    log_se = math.sqrt(sum(2 / (2 * (n[a] - 1)) for a in ("msc", "control")))
    spread = TrialTarget(
        "Zang2022", "HbA1c SD shrinkage, MSC / placebo (ratio)", ratio, ratio * log_se,
        f"Zang 2022 final-value SDs: MSC {sd[('msc', 0.0)]} -> {sd[('msc', 48.0)]}, placebo "
        f"{sd[('control', 0.0)]} -> {sd[('control', 48.0)]} % (± read as SD)",
    )  # fmt: skip
    return CalibrationTrial(
        "Zang2022", zang_design, _zang_simulate,
        tuple(
            TrialTarget("Zang2022", t.name, t.value, t.se, t.source)
            for t in targets()
            if t.name not in HELD_OUT
        ) + (spread,),
        "dose per infusion 1e6 cells/kg (not in the curated data)",
    )  # fmt: skip


def _zang2023(bundle) -> CalibrationTrial:
    """Held out: Zang 2023 may share participants with Zang 2022 (same team, same design), so it is a check,
    never a second count. Only mean changes are reported: the SE borrows Zang 2022's change SDs (Cochrane
    Handbook 6.5.2.7, imputing from another study) at Zang 2023's arm sizes."""
    change = {arm: _measure(bundle, "Zang2023_SCTM", "hba1c", arm, 48.0).mean for arm in ("msc", "control")}
    n = {a.arm_id: a.n_randomized for a in bundle["arms"] if a.trial_id == "Zang2023_SCTM"}
    n22 = {a.arm_id: a.n_randomized for a in bundle["arms"] if a.trial_id == "Zang2022"}
    md22 = next(t for t in targets() if t.name == "HbA1c change, MSC - placebo (%)")
    se = md22.se * math.sqrt((1 / n["msc"] + 1 / n["control"]) / (1 / n22["msc"] + 1 / n22["control"]))
    return CalibrationTrial(
        "Zang2023_SCTM", zang_design, _hba1c_md,
        (TrialTarget("Zang2023_SCTM", "HbA1c change at 48 weeks, MSC - placebo (%)",
                     change["msc"] - change["control"], se,
                     f"Zang 2023: mean changes {change['msc']} vs {change['control']} % (n {n['msc']}/"
                     f"{n['control']}); SE imputed from Zang 2022's change SDs", held_out=True),),
        "the Zang 2022 design (same team, dose and schedule); held out: possibly the same participants",
    )  # fmt: skip


def _lira(bundle) -> CalibrationTrial:
    msc, ctl = (_measure(bundle, "LIRA_hUCMSC2016", "hba1c", arm, 24.0) for arm in ("msc", "control"))
    return CalibrationTrial(
        "LIRA_hUCMSC2016", _lira_design, _hba1c_md,
        (TrialTarget("LIRA_hUCMSC2016", "HbA1c at 24 weeks, MSC - sham (%)", msc.mean - ctl.mean,
                     math.sqrt(msc.pm**2 / msc.n + ctl.pm**2 / ctl.n),
                     f"LIRA_hUCMSC2016: {msc.mean} ± {msc.pm} vs {ctl.mean} ± {ctl.pm} % "
                     f"(n {msc.n}/{ctl.n}; ± read as SD)"),),
        "baseline HbA1c 8.5 (1.0) %: an ASSUMPTION (not in the curated data); schedule, routes and insulin "
        "treatment as the bundled record gives them",
    )  # fmt: skip


def _responder_target(bundle, trial: str, held_out: bool, note: str) -> TrialTarget:
    events = {
        arm: _measure(bundle, trial, "responder_hba1c7_insulin50", arm, 52.0) for arm in ("msc", "control")
    }
    n = {a.arm_id: a.n_randomized for a in bundle["arms"] if a.trial_id == trial}
    (e1, n1), (e2, n2) = ((events[a].events, events[a].n or n[a]) for a in ("msc", "control"))
    p1, p2 = (e1 + 1) / (n1 + 2), (e2 + 1) / (n2 + 2)  # Agresti & Caffo 2000
    return TrialTarget(
        trial, "responders, MSC - sham (risk difference)", e1 / n1 - e2 / n2,
        math.sqrt(p1 * (1 - p1) / (n1 + 2) + p2 * (1 - p2) / (n2 + 2)),
        f"{trial}: {e1}/{n1} vs {e2}/{n2} (HbA1c < 7 % with insulin halved, 1 year); SE by Agresti-Caffo"
        + note, held_out,
    )  # fmt: skip


def _cai2016(bundle) -> CalibrationTrial:
    """Cai 2016 (T1DM): MDs of change; SD of change = the final SD (Handbook 6.5.2.8 with r = 0.5 and equal
    SDs, ASSUMPTION); insulin as the relative change of IU/kg/day. Held out, because the model cannot
    reproduce it: a calibration that fitted it (200 design runs, 2026-11-30) still predicted an HbA1c MD of
    -0.17 % (-0.43 to 0.09) against -1.2 %, fasting glucose -3 against -41 mg/dL, and dragged the T2DM
    fits off (Zang 2022's HOMA-B difference +14 against 0). The model has no way to restore insulin
    secretion in insulin-deficient patients at the pace Cai 2016 reports (its C-peptide AUC doubled), and
    the co-infused BM-MNC are not modelled: a structural misfit, shown rather than fitted."""
    m = {
        (outcome, arm, w): _measure(bundle, "Cai2016", outcome, arm, w)
        for outcome in ("hba1c", "fbg", "insulin_dose") for arm in ("msc", "control") for w in (0.0, 52.0)
    }  # fmt: skip
    n = {a.arm_id: a.n_randomized for a in bundle["arms"] if a.trial_id == "Cai2016"}

    def md(outcome: str) -> tuple[float, float]:
        change = {a: m[(outcome, a, 52.0)].mean - m[(outcome, a, 0.0)].mean for a in ("msc", "control")}
        se = math.sqrt(sum(m[(outcome, a, 52.0)].pm ** 2 / n[a] for a in ("msc", "control")))
        return change["msc"] - change["control"], se

    dose = {(a, w): m[("insulin_dose", a, w)] for a in ("msc", "control") for w in (0.0, 52.0)}
    rel = {a: dose[(a, 52.0)].mean / dose[(a, 0.0)].mean - 1 for a in ("msc", "control")}
    arms = ("msc", "control")
    rel_se = math.sqrt(sum((dose[(a, 52.0)].pm / dose[(a, 0.0)].mean) ** 2 / n[a] for a in arms))
    source = (
        "Cai 2016 (T1DM, open label; ± read as SD; change SD = final SD, r = 0.5 ASSUMPTION); held out: the "
        "model cannot reach it (fitted with it, 2026-11-30: HbA1c MD -0.17 % predicted vs -1.2 % reported)"
    )
    return CalibrationTrial(
        "Cai2016", _cai_design, _cai_simulate,
        (
            TrialTarget("Cai2016", "HbA1c change at 1 year, MSC - standard care (%)", *md("hba1c"), source,
                        True),
            TrialTarget("Cai2016", "fasting glucose change at 1 year, MSC - standard care (mg/dL)",
                        *md("fbg"), source, True),
            TrialTarget("Cai2016", "relative insulin dose change, MSC - standard care",
                        rel["msc"] - rel["control"], rel_se, source + "; IU/kg/day", True),
        ),
        "the co-infused BM-MNC are not modelled; BMI 21 and duration 8 years are ASSUMPTIONS",
    )  # fmt: skip


def _pooled(bundle) -> CalibrationTrial:
    """Held out: the pooled reviews overlap the trials above (Kashbour 2025 likely pools Zang 2022 and Cai
    2016; Zhang HC 2025 includes non-randomized studies), so they are checks, never likelihood terms."""
    goal = []
    for outcome in POOLED_OUTCOMES:
        p = _estimate(bundle, "Kashbour2025", outcome, 12.0)
        goal.append(TrialTarget(
            "pooled reviews", f"Kashbour 2025 {outcome} 12-month MD ({p.unit_note})", p.estimate,
            (p.ci_ub - p.ci_lb) / 3.92,
            f"{p.citation}, {p.locator}; T1DM and T2DM pooled (predicted as a {KASHBOUR_T1_SHARE:.0%} T1DM "
            "mix)",
            True,
        ))  # fmt: skip
    for outcome, months in (("hba1c", 6.0), ("hba1c", 12.0), ("insulin_dose", 3.0), ("insulin_dose", 6.0),
                            ("insulin_dose", 12.0)):  # fmt: skip
        p = _estimate(bundle, "ZhangHC2025", outcome, months)
        goal.append(TrialTarget(
            "pooled reviews", f"Zhang HC 2025 {outcome} {months:g}-month MD", p.estimate,
            (p.ci_ub - p.ci_lb) / 3.92, f"{p.citation}; T2DM, 11 trials (not RCT-only); Zang-like design",
            True,
        ))  # fmt: skip
    return CalibrationTrial(
        "pooled reviews",
        _pooled_designs,
        _pooled_simulate,
        tuple(goal),
        "a pooled MD read as the patient-weighted mix of one T1DM and one T2DM design (ASSUMPTION)",
    )


def calibration_trials() -> tuple[CalibrationTrial, ...]:
    """The trials and their targets (numbers from the bundled evidence base). In the likelihood: Zang 2022,
    the liraglutide trial, Bhansali 2017. Held out (checks only): Cai 2016 (a misfit the model cannot
    reach), Zang 2023 (possible overlap), Bhansali 2014 (mononuclear cells, not MSC), and the pooled reviews
    (they overlap the trials)."""
    bundle = load_bundled()
    bhansali_2017 = CalibrationTrial(
        "Bhansali2017",
        _bhansali_design,
        _responder_rd,
        (_responder_target(bundle, "Bhansali2017", False, ""),),
        "baseline HbA1c 8.0 (1.0) % and the 12-week interval: ASSUMPTIONS (not in the curated data)",
    )
    bhansali_2014 = CalibrationTrial(
        "Bhansali2014",
        _bhansali_design,
        _responder_rd,
        (_responder_target(bundle, "Bhansali2014", True, "; held out: BM mononuclear cells, not MSC"),),
        "the Bhansali 2017 design; the cells (BM-MNC) are modelled as MSC only for this check",
    )
    return (
        _zang2022(bundle), _lira(bundle), bhansali_2017, _cai2016(bundle),
        _zang2023(bundle), bhansali_2014, _pooled(bundle),
    )  # fmt: skip
