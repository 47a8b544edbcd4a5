"""In-silico randomized trials: a design, a seeded randomization of a matched virtual cohort into a therapy
arm
and a placebo arm, daily simulation, and the trials' own endpoints at the visits.

Endpoints (canonical ids shared with the review): ``hba1c`` (%), ``fbg`` (mg/dL), ``cpep_fasting`` (ng/mL),
``insulin_dose`` (IU/day), ``homa_b``, ``homa_ir`` (HOMA1 from endogenous insulin: exogenous insulin would
contaminate a measured fasting insulin, so this is what a C-peptide-based HOMA approximates; ASSUMPTION);
``ppbg`` (2-h glucose) and ``cpep_stimulated`` (90-min C-peptide) from a 75 g oral glucose test at each visit
(Dalla Man 2007 meal model, ``meal.py``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from scipy import stats

from stemdm import NOT_MEDICAL_ADVICE
from stemdm.meta.report import json_safe
from stemdm.sim.cohort import Baseline, Cohort, make_cohort
from stemdm.sim.meal import daily_mean_glucose, fasting_c_peptide, meal_test, van_cauter_rates
from stemdm.sim.parameters import Parameters, Physiology, default_parameters
from stemdm.sim.physiology import (
    MG_DL_PER_MMOL_L,
    apoptosis_factor,
    capacity,
    effective_sensitivity,
    fasting_state,
    glucotoxicity,
    hba1c_percent,
    homa,
    relax,
    replication_factor,
    step_rbc,
    tone_target,
)
from stemdm.sim.therapy import Pathway, Regimen, Route, Source, TherapyState, step_therapy

ENDPOINTS = (
    "hba1c", "fbg", "ppbg", "cpep_fasting", "cpep_stimulated", "insulin_dose", "homa_b", "homa_ir",
    "cpep_index", "insulinogenic_index",
)  # fmt: skip
MAX_GRAFT = 3.0  # ASSUMPTION: grafts above 3 x a healthy beta-cell mass are outside the model's validity
#: Largest MSC / exosome dose per administration, in 1e6 cells/kg (trials gave 0.5-10; 100 = 1e8 cells/kg).
MAX_DOSE = 100.0
MAX_INFUSIONS = 100
MAX_VISITS = 200
#: Patients per arm: memory grows ~linearly (about 1 GB per 100,000 at 48 weeks); beyond this, use chunks.
MAX_PATIENTS_PER_ARM = 100_000
#: Work budget of one trial, per arm: patient-weeks simulated (100,000 patients x 2 years, about 2 minutes
#: on a 2-core machine: benchmarks/bench_sim_scale.py) and patient-visits (each visit runs a meal test).
MAX_PATIENT_WEEKS = 100_000 * 104
MAX_PATIENT_VISITS = 100_000 * 26
#: Seconds to wait for a Dask scheduler before saying it cannot be reached.
SCHEDULER_TIMEOUT_S = 10


class TrialDesign(BaseModel):
    """A two-arm trial: therapy vs placebo, n per arm, duration, visits, the regimen and the cohort
    baseline."""

    model_config = ConfigDict(extra="forbid")

    pathway: str = "msc"
    source: str = "umbilical_cord"
    route: str = "iv"
    dose: float = Field(
        1.0,
        ge=0,
        allow_inf_nan=False,
        description="MSC / exosome: 1e6 cells/kg per administration; PSC: beta-equivalents",
    )
    infusions: int = Field(3, ge=1, le=MAX_INFUSIONS)
    interval_weeks: float = Field(4.0, ge=0, le=520, allow_inf_nan=False)
    encapsulated: bool = True
    weeks: int = Field(48, ge=1, le=520)
    visits: list[int] = Field([0, 12, 24, 48], max_length=MAX_VISITS)
    patients_per_arm: int = Field(200, ge=1, le=MAX_PATIENTS_PER_ARM)
    hba1c: float = Field(8.9, allow_inf_nan=False)
    hba1c_sd: float = Field(1.2, gt=0, le=5, allow_inf_nan=False)
    bmi: float = Field(27.0, allow_inf_nan=False)
    duration_years: float = Field(10.0, ge=0, le=80, allow_inf_nan=False)
    insulin_treated: bool = True
    cpep_fasting: float | None = Field(None, allow_inf_nan=False)
    cpep_fasting_sd: float | None = Field(None, gt=0, le=10, allow_inf_nan=False)
    seed: int = Field(1, ge=0, le=2**63 - 1)
    #: background insulin: titrated toward the fasting target ("target", reversible) or held fixed ("fixed")
    titration: Literal["target", "fixed"] = "target"
    #: inclusion criteria applied to the cohort: HbA1c window (%) and fasting C-peptide floor (ng/mL)
    hba1c_min: float | None = Field(None, ge=3, le=20, allow_inf_nan=False)
    hba1c_max: float | None = Field(None, ge=3, le=20, allow_inf_nan=False)
    cpep_min: float | None = Field(None, ge=0, le=10, allow_inf_nan=False)
    #: "t2", or "t1": insulin-deficient (C-peptide near zero), insulin-treated cohorts
    diabetes_type: Literal["t2", "t1"] = "t2"

    @field_validator("diabetes_type", "titration", mode="before")
    @classmethod
    def _lowercase(cls, value: object) -> object:
        """'T1', 'type-1', 'type_1' and 't1' all name type 1; 'Fixed' is fixed."""
        if not isinstance(value, str):
            return value
        key = _spelling_key(value).replace("type_", "t").replace("type", "t")
        return key

    @field_validator("pathway", "source", "route", mode="before")
    @classmethod
    def _spelling(cls, value: object, info: ValidationInfo) -> object:
        """Case and '-' versus '_' carry no meaning in these choices: 'Bone-Marrow' is bone_marrow."""
        if not isinstance(value, str):
            return value
        allowed = typing.get_args({"pathway": Pathway, "source": Source, "route": Route}[info.field_name])
        return {_spelling_key(a): a for a in allowed}.get(_spelling_key(value), value)

    @model_validator(mode="after")
    def _check(self) -> TrialDesign:
        if self.patients_per_arm < 2:
            raise ValueError("patients_per_arm: at least 2 per arm (an SD and a between-arm CI need them)")
        bad = [v for v in self.visits if v < 0 or v > self.weeks]
        if bad:
            raise ValueError(f"visits {bad} lie outside the trial (0-{self.weeks} weeks)")
        if not any(v > 0 for v in self.visits):
            raise ValueError(
                "visits: give at least one visit after week 0 (the endpoints are changes from it)"
            )
        if self.infusions > 1 and self.interval_weeks <= 0:
            raise ValueError("interval_weeks: must be > 0 when there is more than one administration")
        if 0 not in self.visits:
            self.visits = [0, *self.visits]
        self.visits = sorted(set(self.visits))
        last_dose_day = (self.infusions - 1) * self.interval_weeks * 7
        if last_dose_day > self.weeks * 7:
            raise ValueError(f"the last administration (day {last_dose_day:g}) falls after the trial's end")
        if self.pathway != "psc-islet" and self.dose > MAX_DOSE:
            raise ValueError(
                f"dose: {self.dose:g} means {self.dose * 1e6:.3g} cells/kg per administration (the dose "
                f"is in millions of cells per kg; trials gave 0.5-10); at most {MAX_DOSE:g}"
            )
        if self.pathway == "psc-islet" and self.dose * self.infusions > MAX_GRAFT:
            raise ValueError(
                f"a PSC-islet graft of {self.dose * self.infusions:g} beta-cell equivalents exceeds "
                f"{MAX_GRAFT:g} x a healthy beta-cell mass; dose is in healthy-mass units"
            )
        self._check_budget()
        self.regimen()  # validates pathway, source, route, dose
        self.baseline()
        return self

    def _check_budget(self) -> None:
        """Refuse designs whose work is absurd (hours of CPU) before anything runs: the same limit for the
        CLI, the workbench and the API."""
        patient_weeks = self.patients_per_arm * self.weeks
        if patient_weeks > MAX_PATIENT_WEEKS:
            raise ValueError(
                f"patients_per_arm: {self.patients_per_arm:,} patients x {self.weeks} weeks = "
                f"{patient_weeks:,} patient-weeks per arm, more than the {MAX_PATIENT_WEEKS:,} one run may "
                "take; fewer patients or a shorter trial (weeks)"
            )
        patient_visits = self.patients_per_arm * len(set(self.visits))
        if patient_visits > MAX_PATIENT_VISITS:
            raise ValueError(
                f"visits: {len(set(self.visits))} visits x {self.patients_per_arm:,} patients = "
                f"{patient_visits:,} meal tests per arm, more than the {MAX_PATIENT_VISITS:,} one run may "
                "take; fewer visits or patients (patients_per_arm)"
            )

    def regimen(self) -> Regimen:
        days = tuple(int(round(i * self.interval_weeks * 7)) for i in range(self.infusions))
        return Regimen(self.pathway, self.source, self.route, self.dose, days, self.encapsulated)  # type: ignore[arg-type]

    def baseline(self) -> Baseline:
        return Baseline(
            self.hba1c,
            self.hba1c_sd,
            self.bmi,
            self.duration_years,
            self.insulin_treated,
            self.cpep_fasting,
            self.cpep_fasting_sd,
            self.hba1c_min,
            self.hba1c_max,
            self.cpep_min,
            self.diabetes_type,
        )


def design_problems(error: ValidationError) -> list[dict[str, str]]:
    """A design's validation errors as ``{"field", "why"}``, naming the field even for checks that span
    several fields (the field a message starts with or names first, else "design")."""
    out = []
    for item in error.errors():
        why = item["msg"].removeprefix("Value error, ")
        field = ".".join(map(str, item["loc"]))
        if not field:
            words = re.findall(r"[a-z_]+", why)
            field = next((w for w in words if w in TrialDesign.model_fields), "design")
        out.append({"field": field, "why": why})
    return out


def _spelling_key(text: str) -> str:
    return text.strip().lower().replace("-", "_")


@dataclass
class ArmRun:
    """Per-patient endpoint values at each visit: endpoint -> (visits, patients) array. ``sensitivity``
    holds the effective peripheral insulin sensitivity (relative) at each visit (clamp-GIR counterpart)."""

    name: str
    values: dict[str, np.ndarray]
    sensitivity: np.ndarray | None = None


@dataclass
class TrialResult:
    design: TrialDesign
    parameters_version: str
    arms: dict[str, ArmRun]
    acceptance_rate: float

    def arm_summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, arm in self.arms.items():
            rows = {}
            for endpoint, values in arm.values.items():
                rows[endpoint] = [
                    {
                        "week": week,
                        "mean": float(np.nanmean(v)),
                        "sd": float(np.nanstd(v, ddof=1)),
                        "n": int(np.isfinite(v).sum()),
                    }
                    for week, v in zip(self.design.visits, values, strict=True)
                ]
            out[name] = rows
        return out

    def effects(self, level: float = 95.0) -> list[dict[str, Any]]:
        """Between-arm mean differences of the change from baseline (therapy - placebo), Welch t CIs."""
        effects = []
        therapy, placebo = self.arms["therapy"], self.arms["placebo"]
        for endpoint in ENDPOINTS:
            for i, week in enumerate(self.design.visits[1:], start=1):
                a = therapy.values[endpoint][i] - therapy.values[endpoint][0]
                b = placebo.values[endpoint][i] - placebo.values[endpoint][0]
                effects.append({"week": week, "outcome": endpoint, **_welch(a, b, level)})
        return effects

    def responders(self) -> dict[str, Any]:
        """The trials' own responder definition at the last visit: HbA1c < 7 % with the insulin dose down
        >= 50 % for patients on insulin at baseline (Zang 2022, Bhansali 2014/2017 primary endpoint), HbA1c
        < 7 % alone for patients not on insulin (an insulin halving is not defined for them)."""
        out = {}
        for name, arm in self.arms.items():
            hba1c = arm.values["hba1c"][-1]
            dose0, dose1 = arm.values["insulin_dose"][0], arm.values["insulin_dose"][-1]
            on_insulin = dose0 > 0
            with np.errstate(invalid="ignore", divide="ignore"):
                reduced = np.where(on_insulin, (dose0 - dose1) / dose0 >= 0.5, True)
            out[name] = float(np.mean((hba1c < 7.0) & reduced))
        definition = (
            "HbA1c < 7 % and, for patients on insulin at baseline, insulin dose reduced >= 50 %, "
            "at the last visit"
        )
        return {"definition": definition, **out}

    def to_frame(self) -> pd.DataFrame:
        rows = []
        for arm, endpoints in self.arm_summary().items():
            for endpoint, visits in endpoints.items():
                rows += [{"arm": arm, "outcome": endpoint, **visit} for visit in visits]
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: undefined quantities (e.g. HOMA-B at fasting glucose <= 63 mg/dL) are None, not NaN."""
        return json_safe(
            {
                "design": self.design.model_dump(),
                "parameters_version": self.parameters_version,
                "arms": self.arm_summary(),
                "effects": self.effects(),
                "responders": self.responders(),
                "cohort_acceptance_rate": self.acceptance_rate,
                "not_informed_by_data": self.not_informed(),
                "warnings": self.warnings(),
                "disclaimer": NOT_MEDICAL_ADVICE,
            }
        )

    def not_informed(self) -> list[str]:
        """What this design's result rests on that no data inform (said with every result; generated from
        the calibration record by ``stemdm.sim.domain``)."""
        from stemdm.sim.domain import not_informed

        return not_informed(self.design)

    def warnings(self) -> list[str]:
        """Where the design leaves the calibrated domain, and what the time course rests on."""
        from stemdm.sim.domain import out_of_domain, time_course

        return out_of_domain(self.design) + time_course(self.design, self.effects())

    def summary(self) -> str:
        lines = [
            f"In-silico trial: {self.design.pathway} ({self.design.source}, {self.design.route}, "
            f"{self.design.dose:g} x {self.design.infusions}) vs placebo, {self.design.patients_per_arm} "
            f"per arm, "
            f"{self.design.weeks} weeks; parameters {self.parameters_version}",
            "  MD of change (95 % Monte Carlo interval of this virtual cohort only, not what a trial",
            "  would see: stemdm simulate --trial-size N1,N2 gives that):",
        ]
        for e in self.effects():
            if e["week"] == self.design.visits[-1]:
                lines.append(f"  {e['outcome']:>15}: {e['md']:+.3g} ({e['ci_lb']:.3g} to {e['ci_ub']:.3g})")
        rates = self.responders()
        lines.append(
            f"  responders ({rates['definition']}): therapy {rates['therapy']:.1%}, "
            f"placebo {rates['placebo']:.1%}"
        )
        lines += [f"  warning: {note}" for note in self.warnings()]
        lines += [f"  not informed by data: {note}" for note in self.not_informed()]
        lines.append(NOT_MEDICAL_ADVICE)
        return "\n".join(lines)


def _welch(a: np.ndarray, b: np.ndarray, level: float) -> dict[str, float]:
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    md = float(a.mean() - b.mean())
    if a.size < 2 or b.size < 2:
        return {"md": md, "ci_lb": math.nan, "ci_ub": math.nan}
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    if se == 0:
        return {"md": md, "ci_lb": md, "ci_ub": md}
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    t = float(stats.t.ppf(1 - (1 - level / 100) / 2, df))
    return {"md": md, "ci_lb": md - t * se, "ci_ub": md + t * se}


def run_trial(
    design: TrialDesign,
    params: Parameters | None = None,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    chunk: int = 20_000,
    progress: Callable[[int], None] | None = None,
) -> TrialResult:
    """Simulate ``design`` (``params`` None = the parameter file shipped with the package).

    The cohort is drawn and randomized here, with ``design.seed``; the daily simulation is elementwise over
    patients, so it can run in chunks: ``workers`` starts a dask.distributed LocalCluster, ``scheduler`` uses
    an existing cluster. Results are identical to the single-process run for the same seed."""
    params = params or default_parameters()
    if design.titration != params.physiology.titration:
        params = dataclasses.replace(
            params, physiology=dataclasses.replace(params.physiology, titration=design.titration)
        )
    rng = np.random.default_rng(design.seed)
    cohort = make_cohort(params.physiology, design.baseline(), 2 * design.patients_per_arm, rng)
    order = rng.permutation(cohort.n)  # randomization
    cohort = with_response(cohort, params.therapy.response_sd_log, design.seed)
    cohort = with_titration_spread(cohort, params.physiology.titration_sd, design.seed)
    plan = (
        ("therapy", order[: design.patients_per_arm], design.regimen()),
        ("placebo", order[design.patients_per_arm :], None),
    )
    if workers is None and scheduler is None:
        arms = _run_local(plan, cohort, params, design, chunk, progress)
    else:
        arms = _run_distributed(plan, cohort, params, design, workers, scheduler, chunk)
    return TrialResult(design, params.version, arms, cohort.acceptance_rate)


#: Patient-days per arm above which the two arms run in two processes (below it, starting one costs more).
PARALLEL_ARMS_FROM = 1_000_000


def _run_local(
    plan, cohort: Cohort, params: Parameters, design: TrialDesign, chunk: int,
    progress: Callable[[int], None] | None,
) -> dict[str, ArmRun]:  # fmt: skip
    """Both arms on this machine: patients in chunks of ``chunk`` (arrays that stay in cache run faster:
    about 17 % at 100,000 patients), and with two or more cores and a large trial the therapy arm in a child
    process while this one runs the placebo arm (the progress bar follows this process's arm, counted
    twice). Results are identical to one pass over all patients."""

    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    (t_name, t_index, t_regimen), (p_name, p_index, _) = plan
    big = design.patients_per_arm * design.weeks * 7 >= PARALLEL_ARMS_FROM
    run = functools.partial(
        _chunked_arm, params=params, weeks=design.weeks, visits=design.visits, chunk=chunk
    )
    if not big or (os.cpu_count() or 1) < 2:
        return {name: run(name, _subset(cohort, index), regimen, progress) for name, index, regimen in plan}
    import concurrent.futures
    import multiprocessing

    context = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context, initializer=_die_with_parent) as pool:
        therapy = pool.submit(run, t_name, _subset(cohort, t_index), t_regimen, None)
        placebo = run(p_name, _subset(cohort, p_index), None, progress, 2.0)
        return {t_name: therapy.result(), p_name: placebo}


def _die_with_parent() -> None:
    """In the therapy arm's child: be killed when the process that forked it dies (Linux prctl
    PR_SET_PDEATHSIG), so a killed worker never leaves an orphan holding its pipes (its pool would then never
    learn that the worker died). Elsewhere a no-op."""
    import ctypes
    import signal
    import sys

    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def _chunked_arm(
    name: str, cohort: Cohort, regimen: Regimen | None, report: Callable[[float], None] | None,
    weight: float = 1.0, *, params: Parameters, weeks: int, visits: list[int], chunk: int,
) -> ArmRun:  # fmt: skip
    """One arm simulated ``chunk`` patients at a time; ``report`` hears the arm's share of each day x
    ``weight``."""
    pieces = max(1, -(-cohort.n // chunk))
    if report is not None:  # each chunk walks every day
        report = functools.partial(_scaled, report, weight / pieces)
    runs = [
        simulate_arm(name, _subset(cohort, np.arange(i, min(i + chunk, cohort.n))), regimen, params, weeks,
                     visits, progress=report)
        for i in range(0, cohort.n, chunk)
    ]  # fmt: skip
    return _join(name, runs)


def _scaled(report: Callable[[float], None], factor: float, days: int) -> None:
    report(days * factor)


def _join(name: str, runs: list[ArmRun]) -> ArmRun:
    """Chunks of one arm joined in patient order."""
    if len(runs) == 1:
        return runs[0]
    values = {e: np.concatenate([r.values[e] for r in runs], axis=1) for e in ENDPOINTS}
    return ArmRun(name, values, np.concatenate([r.sensitivity for r in runs], axis=1))


def _run_distributed(
    plan,
    cohort: Cohort,
    params: Parameters,
    design: TrialDesign,
    workers: int | None,
    scheduler: str | None,
    chunk: int,
) -> dict[str, ArmRun]:
    """Chunks of patients simulated on a Dask cluster, then joined in patient order."""
    from dask.distributed import Client, LocalCluster

    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    if scheduler is not None:
        client, cluster = Client(scheduler, timeout=SCHEDULER_TIMEOUT_S), None
    else:
        if workers is None or workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
    try:
        arms = {}
        for name, index, regimen in plan:
            pieces = [index[i : i + chunk] for i in range(0, index.size, chunk)]
            futures = [
                client.submit(
                    simulate_arm,
                    name,
                    _subset(cohort, piece),
                    regimen,
                    params,
                    design.weeks,
                    design.visits,
                    pure=False,
                )
                for piece in pieces
            ]
            arms[name] = _join(name, client.gather(futures))
        return arms
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def with_response(cohort: Cohort, sd_log: float, seed: int) -> Cohort:
    """The cohort with each patient's response multiplier, a mean-one log-normal with SD ``sd_log`` on the log
    scale, drawn from its own stream (seed, 7) so the cohort and the randomization stay as they were."""
    z = np.random.default_rng([seed, 7]).standard_normal(cohort.n)
    return dataclasses.replace(cohort, response=np.clip(np.exp(sd_log * z - sd_log**2 / 2), 0.0, 3.0))


def with_titration_spread(cohort: Cohort, sd: float, seed: int) -> Cohort:
    """The cohort with each patient's shift of the titration thresholds, N(0, ``sd``) mg/dL, from its own
    stream (seed, 11): the cohort, the randomization and the response multipliers stay as they were."""
    z = np.random.default_rng([seed, 11]).standard_normal(cohort.n)
    return dataclasses.replace(cohort, titration_offset=np.clip(sd * z, -3 * sd, 3 * sd))


def _subset(cohort: Cohort, index: np.ndarray) -> Cohort:
    state = type(cohort.state)(**{k: v[index] for k, v in vars(cohort.state).items()})
    return Cohort(
        state,
        cohort.age[index],
        cohort.weight[index],
        cohort.bsa[index],
        cohort.male[index],
        cohort.duration[index],
        cohort.acceptance_rate,
        None if cohort.response is None else cohort.response[index],
        None if cohort.titration_offset is None else cohort.titration_offset[index],
    )


def simulate_arm(
    name: str,
    cohort: Cohort,
    regimen: Regimen | None,
    params: Parameters,
    weeks: int,
    visits: list[int],
    progress: Callable[[int], None] | None = None,
) -> ArmRun:
    """Daily simulation of one arm; endpoints recorded at the visit weeks."""
    p, t, placebo = params.physiology, params.therapy, params.placebo
    s = _copy_state(cohort.state)
    n = s.B.shape[0]
    ther = TherapyState.empty(n)
    visit_days = {int(v * 7): i for i, v in enumerate(visits)}
    values = {e: np.full((len(visits), n), np.nan) for e in ENDPOINTS}
    sensitivity = np.full((len(visits), n), np.nan)
    baseline_fpg = s.G.copy()
    starting_dose = s.dose.copy()
    graft_efficiency = t.graft_encapsulated_efficiency if (regimen and regimen.encapsulated) else 1.0
    G, insulin = s.G, np.zeros(n)
    response = 1.0 if cohort.response is None else cohort.response
    offset = 0.0 if cohort.titration_offset is None else cohort.titration_offset
    for day in range(weeks * 7 + 1):
        # a patient's response scales the signal, which saturates at the full signal (an Emax model: no
        # patient exceeds what full exposure does, so mechanism magnitudes stay within the prior's range)
        e_sys = np.clip(ther.e_sys * response, 0, 1)
        e_islet = np.clip(ther.e_islet * response, 0, 1)
        trial_effect = placebo.e_sens * (1 - math.exp(-day / placebo.onset))
        sp, sh = effective_sensitivity(p, s.Sp, s.Sh, s.Z, t.e_sens * e_sys + trial_effect)
        bfun = s.B * s.F * s.Q + graft_efficiency * ther.graft_mature
        care = 1 - math.exp(-day / placebo.onset)  # how far the trial's closer care has taken effect
        dose_taken = s.dose * (1 - placebo.dose_reduction * care)
        G, insulin = fasting_state(p, bfun, sp, sh, p.exo_per_iu * dose_taken, s.G)
        s.G = G
        if day > 0 and day % p.representative_day_every == 0:
            mean_G = daily_mean_glucose(
                G,
                insulin,
                p.exo_per_iu * dose_taken,
                bfun,
                sp,
                sh,
                cohort.weight,
                p.meal_carbs * (1 - placebo.e_diet * care),
                p.meals_per_day,
                p.meal_window,
            )
            s.meal_excess = mean_G - G
        if day in visit_days:
            _record(values, visit_days[day], s, G, insulin, cohort, dose_taken)
            sensitivity[visit_days[day]] = sp
            exo = p.exo_per_iu * dose_taken
            _record_meal_test(values, visit_days[day], G, insulin, exo, bfun, sp, sh, cohort)
        _advance(p, t, s, G, e_sys, e_islet)
        if p.titration == "target" and day % p.titration_days == p.titration_days - 1:
            _titrate(s, G, baseline_fpg, starting_dose, p, offset)
        step_therapy(t, regimen, ther, day, glucose=G)
        if progress is not None:
            progress(1)  # one simulated day of this arm
    return ArmRun(name, values, sensitivity)


def _advance(p: Physiology, t, s, G: np.ndarray, e_sys: np.ndarray, e_islet: np.ndarray) -> None:
    """One day of the slow states (exact relaxations; beta-cell mass by its net growth rate)."""
    s.rbc, s.a1c = step_rbc(p, s.rbc, s.a1c, (G + s.meal_excess) / MG_DL_PER_MMOL_L)
    s.Z = relax(s.Z, tone_target(p, s.Z_base, G, t.e_immuno * e_sys), p.kZ)
    s.Q = relax(s.Q, capacity(p, s.Z), p.kQ)
    growth = replication_factor(p, s.Z) * (1 + t.e_regen * e_islet) - apoptosis_factor(p, s.Z) * (
        1 - t.e_protect * e_islet
    )
    s.B = np.clip(s.B * np.exp(growth), 0.0, 1.5)
    f_target = s.F_intrinsic * glucotoxicity(p, G) * (1 + t.e_micro * e_islet)
    s.F = relax(s.F, f_target, 1 / p.tau_F)
    s.Sp = relax(s.Sp, s.Sp_target, 1 / p.tau_S)
    s.Sh = relax(s.Sh, s.Sh_target, 1 / p.tau_S)


def _titrate(
    s, G: np.ndarray, baseline_fpg: np.ndarray, starting_dose: np.ndarray, p: Physiology,
    offset: np.ndarray | float = 0.0,
) -> None:  # fmt: skip
    """Weekly basal-insulin adjustment (ASSUMPTION modelled on trial practice and Treat-to-Target steps), in
    both directions: -4 IU below 72 mg/dL; -2 IU below ``deescalate_below`` (de-escalation as glucose
    improves); +2 IU when fasting glucose rises 20 mg/dL above its baseline (deterioration), and +2 IU while
    the dose is below the starting dose and fasting glucose is above ``deescalate_below + titration_band``
    (at most ``fpg_target``): insulin removed during the trial is given back as soon as glucose leaves a
    narrow band above the de-escalation threshold, so both arms settle in the same band whichever way they
    came and an effect that comes and goes cannot leave a patient worse than placebo through the dose rule
    alone (issue 21: with the give-back threshold at ``fpg_target`` the 26-mg/dL dead band left type 1 cell
    arms at a higher glucose and a lower dose than placebo after the effect faded). Patients on insulin at the
    start only; a dose stopped at 0 can be restarted. ``offset`` (mg/dL, per patient) shifts the de-escalation
    and target thresholds: patients and physicians apply the algorithm differently (``titration_sd``)."""
    treated = s.insulin_treated
    deteriorates = baseline_fpg + 20 < G
    give_back_above = np.minimum(p.fpg_target, p.deescalate_below + p.titration_band) + offset
    gives_back = (give_back_above < G) & (s.dose < starting_dose)
    up = np.where(deteriorates | gives_back, 2.0, 0.0)
    change = np.where(G < 72, -4.0, np.where(p.deescalate_below + offset > G, -2.0, up))
    s.dose = np.where(treated, np.maximum(s.dose + change, 0.0), s.dose)


def _record(values, i: int, s, G: np.ndarray, insulin: np.ndarray, cohort: Cohort, dose: np.ndarray) -> None:
    ir, b = homa(G, insulin)
    values["hba1c"][i] = hba1c_percent(s.rbc, s.a1c)
    values["fbg"][i] = G
    values["insulin_dose"][i] = dose
    values["homa_ir"][i] = ir
    values["homa_b"][i] = b
    values["cpep_fasting"][i] = fasting_c_peptide(insulin, cohort.weight, cohort.age, cohort.bsa, cohort.male)
    # glucose-matched beta-cell index beside HOMA: C-peptide index = 100 x fasting C-peptide (ng/mL) / fasting
    # glucose (mg/dL) (Funakoshi et al. 2008, Diabetes Res Clin Pract 82:353)
    values["cpep_index"][i] = 100 * values["cpep_fasting"][i] / G


def _record_meal_test(values, i: int, G, insulin, exo, bfun, sp, sh, cohort: Cohort) -> None:
    """75 g oral glucose test from today's fasting state: 2-h glucose and 90-min C-peptide (``meal.py``;
    C-peptide from endogenous secretion only)."""
    k10, k12, k21 = van_cauter_rates(cohort.age)
    cpep = values["cpep_fasting"][i]
    test = meal_test(G, insulin, bfun, sp, sh, cohort.weight, cpep, k10, k12, k21, I_exo=exo)
    values["ppbg"][i] = test.glucose_120
    values["cpep_stimulated"][i] = test.c_peptide_90
    values["insulinogenic_index"][i] = test.insulinogenic_index


def _copy_state(state):
    return type(state)(**{k: v.copy() for k, v in vars(state).items()})
