"""Virtual patients matched to a trial's published baseline by acceptance-rejection (Allen, Rieger & Musante
2016: plausible patients within physiological bounds, then selection by prevalence matching, never weights).

Plausible patients draw their physiology from wide priors (ASSUMPTION, design doc 7.7): beta-cell mass falling
with diabetes duration (about 7 %/year), secretory function, peripheral and hepatic insulin sensitivity,
inflammatory tone, age, BMI, sex and (for insulin-treated cohorts) a basal dose. Their baseline HbA1c
follows from
the model; candidates are then accepted with probability proportional to target density / candidate density of
HbA1c, so the accepted cohort has the trial's mean and SD without weighting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stemdm.sim.meal import daily_mean_glucose, fasting_c_peptide
from stemdm.sim.parameters import Physiology
from stemdm.sim.physiology import (
    MG_DL_PER_MMOL_L,
    State,
    bmi_sensitivity,
    capacity,
    effective_sensitivity,
    fasting_state,
    glucotoxicity,
    hba1c_chain_steady,
    hba1c_percent,
    tone_target,
)

HEIGHT_CM = 170.0  # ASSUMPTION: one height for all virtual patients (weight from BMI)


@dataclass(frozen=True)
class Baseline:
    """A trial's published baseline: HbA1c mean (SD) in %, BMI, diabetes duration (years), insulin use, and
    optionally fasting C-peptide mean (SD) in ng/mL."""

    hba1c: float = 8.9
    hba1c_sd: float = 1.2
    bmi: float = 27.0
    duration_years: float = 10.0
    insulin_treated: bool = True
    cpep_fasting: float | None = None  # ng/mL; matched too when given
    cpep_fasting_sd: float | None = None
    #: the trial's inclusion criteria, applied to every candidate: HbA1c window (%), fasting C-peptide floor
    hba1c_min: float | None = None
    hba1c_max: float | None = None
    cpep_min: float | None = None  # ng/mL
    #: "t2" (type 2) or "t1" (insulin-deficient, C-peptide near zero, always insulin-treated)
    diabetes_type: str = "t2"

    def __post_init__(self) -> None:
        if self.diabetes_type not in ("t1", "t2"):
            raise ValueError(f"diabetes type {self.diabetes_type!r}: use t1 or t2")
        if self.diabetes_type == "t1" and not self.insulin_treated:
            raise ValueError("type 1 (insulin-deficient) cohorts are insulin-treated")
        if not 5.0 <= self.hba1c <= 14.0:
            raise ValueError(f"baseline HbA1c {self.hba1c} % is outside 5-14 %")
        if not self.hba1c_sd > 0:
            raise ValueError("baseline HbA1c SD must be positive")
        if not 15 <= self.bmi <= 60:
            raise ValueError(f"BMI {self.bmi} is outside 15-60")
        if self.duration_years < 0:
            raise ValueError("diabetes duration must be >= 0 years")
        if (self.cpep_fasting is None) != (self.cpep_fasting_sd is None):
            raise ValueError("give the fasting C-peptide mean and SD together")
        if self.cpep_fasting is not None and not (0 < self.cpep_fasting < 10 and self.cpep_fasting_sd > 0):
            raise ValueError("fasting C-peptide must lie in (0, 10) ng/mL with a positive SD")
        low = self.hba1c_min if self.hba1c_min is not None else 0.0
        high = self.hba1c_max if self.hba1c_max is not None else 99.0
        if not low < high:
            raise ValueError(f"inclusion HbA1c window [{low}, {high}] % is empty")
        if not low <= self.hba1c <= high:
            raise ValueError(
                f"baseline HbA1c {self.hba1c} % lies outside the inclusion window [{low}, {high}] %"
            )
        if self.cpep_min is not None and not 0 <= self.cpep_min < 10:
            raise ValueError(f"inclusion C-peptide floor {self.cpep_min} ng/mL must lie in [0, 10)")

    def included(self, hba1c: np.ndarray, c_peptide: np.ndarray) -> np.ndarray:
        """The candidates meeting the inclusion criteria (HbA1c window, fasting C-peptide floor)."""
        ok = np.ones(hba1c.shape, dtype=bool)
        if self.hba1c_min is not None:
            ok &= hba1c >= self.hba1c_min
        if self.hba1c_max is not None:
            ok &= hba1c <= self.hba1c_max
        if self.cpep_min is not None:
            ok &= c_peptide >= self.cpep_min
        return ok


@dataclass
class Cohort:
    state: State
    age: np.ndarray
    weight: np.ndarray
    bsa: np.ndarray
    male: np.ndarray
    duration: np.ndarray
    acceptance_rate: float
    #: each patient's multiplier of the therapy's effect signals (None: 1 for everyone)
    response: np.ndarray | None = None
    #: each patient's shift of the titration thresholds, mg/dL (None: 0 for everyone)
    titration_offset: np.ndarray | None = None

    @property
    def n(self) -> int:
        return self.age.shape[0]


def _candidates(p: Physiology, base: Baseline, m: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    duration = np.clip(rng.normal(base.duration_years, max(2.0, 0.4 * base.duration_years), m), 0.5, 40)
    bmi = np.clip(rng.normal(base.bmi, 4.0, m), 18, 55)
    if base.diabetes_type == "t1":
        # ASSUMPTION: autoimmune loss leaves 0-15 % of the beta-cell mass (fasting C-peptide from about 0 to
        # 0.4 ng/mL) in patients of near-normal insulin sensitivity
        mass, sp_median, sh_median = rng.uniform(0.0, 0.15, m), 0.9, 0.9
    else:
        # ASSUMPTION: patients not needing insulin keep more beta-cell mass and insulin sensitivity
        b_low, sp_median = (0.4, 0.5) if base.insulin_treated else (0.7, 0.65)
        mass, sh_median = np.clip(np.exp(-0.04 * duration) * rng.uniform(b_low, 1.4, m), 0.05, 1.2), 0.7
    c = {
        "duration": duration,
        "B": mass,
        "F_intrinsic": rng.uniform(0.4, 1.0, m),
        # peripheral sensitivity falls with BMI (Ferrannini 1997) around the wide prior
        "Sp_target": np.exp(rng.normal(np.log(sp_median), 0.55, m)) * bmi_sensitivity(p, bmi),
        "Sh_target": np.exp(rng.normal(np.log(sh_median), 0.4, m)),
        # median tone 0.019: with its glucose drive about Palmér's disease occupancy, net beta loss ~7 %/year
        "Z_base": np.exp(rng.normal(np.log(0.019), 0.25, m)),
        "age": np.clip(rng.normal(55, 9, m), 25, 80),
        "bmi": bmi,
        "male": rng.random(m) < 0.55,
    }
    c["Sp_target"] = np.minimum(c["Sp_target"], 1.2)
    c["Sh_target"] = np.minimum(c["Sh_target"], 1.2)
    c["weight"] = c["bmi"] * (HEIGHT_CM / 100) ** 2
    if base.diabetes_type == "t1":  # ~0.6 IU/kg/day in all, held as a steady level (no boluses; ASSUMPTION)
        c["dose"] = np.clip(rng.normal(0.6, 0.15, m), 0.2, 1.2) * c["weight"]
    elif base.insulin_treated:
        c["dose"] = np.clip(rng.normal(0.5, 0.15, m), 0.1, 1.2) * c["weight"]  # IU/day (0.5 IU/kg/day)
    else:
        c["dose"] = np.zeros(m)
    c["insulin_treated"] = np.full(m, base.insulin_treated)
    return c


def _baseline_hba1c(p: Physiology, c: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Baseline fasting glucose with the inflammatory tone at its glucose-driven level (two fixed-point
    passes),
    and the HbA1c of the red-cell chain at steady state."""
    G = np.full_like(c["B"], 150.0)
    for _ in range(3):
        c["Z"] = tone_target(p, c["Z_base"], G, 0.0)
        Q = capacity(p, c["Z"])
        c["F"] = c["F_intrinsic"] * glucotoxicity(p, G)  # the slow function starts at its steady state
        sp, sh = effective_sensitivity(p, c["Sp_target"], c["Sh_target"], c["Z"], 0.0)
        G, endogenous = fasting_state(p, c["B"] * c["F"] * Q, sp, sh, p.exo_per_iu * c["dose"], G)
    c["endogenous"] = endogenous
    c["mean_G"] = daily_mean_glucose(
        G,
        endogenous,
        p.exo_per_iu * c["dose"],
        c["B"] * c["F"] * Q,
        sp,
        sh,
        c["weight"],
        p.meal_carbs,
        p.meals_per_day,
        p.meal_window,
    )
    rbc, a1c = hba1c_chain_steady(p, c["mean_G"] / MG_DL_PER_MMOL_L)
    return hba1c_percent(rbc, a1c), G, Q


def make_cohort(
    p: Physiology, base: Baseline, n: int, rng: np.random.Generator, max_rounds: int = 20
) -> Cohort:
    """``n`` patients whose baseline HbA1c follows N(mean, SD) of ``base`` (acceptance-rejection)."""
    if n < 1:
        raise ValueError(f"a cohort needs at least 1 patient, got {n}")
    accepted: list[dict[str, np.ndarray]] = []
    drawn = kept = 0
    for _ in range(max_rounds):
        m = max(4 * n, 2000)
        c = _candidates(p, base, m, rng)
        h, G, Q = _baseline_hba1c(p, c)
        c.update(hba1c=h, G=G, Q=Q)
        ok = _accept(h, base.hba1c, base.hba1c_sd, rng) & (G > 70) & (G < 450)
        # inclusion criteria truncate the target distribution (ASSUMPTION: the published mean and SD describe
        # the untruncated draw; with a window well outside mean +- 1 SD the difference is small)
        ok &= base.included(h, _candidate_c_peptide(p, c))
        if base.cpep_fasting is not None:
            # joint target taken as the product of the two published marginals (ASSUMPTION: independence)
            ok &= _accept(_candidate_c_peptide(p, c), base.cpep_fasting, base.cpep_fasting_sd, rng)
        drawn += m
        kept += int(ok.sum())
        accepted.append({k: v[ok] for k, v in c.items()})
        if kept >= n:
            break
    else:
        raise ValueError(
            f"could not find {n} plausible patients with HbA1c {base.hba1c} ({base.hba1c_sd}) % "
            f"after {drawn} candidates; the baseline may be outside what the model reaches"
        )
    pool = {k: np.concatenate([a[k] for a in accepted]) for k in accepted[0]}
    pick = rng.permutation(pool["B"].shape[0])[:n]
    sel = {k: v[pick] for k, v in pool.items()}
    rbc, a1c = hba1c_chain_steady(p, sel["mean_G"] / MG_DL_PER_MMOL_L)
    state = State(
        B=sel["B"],
        F=sel["F"],
        F_intrinsic=sel["F_intrinsic"],
        Q=sel["Q"],
        Sp=sel["Sp_target"].copy(),
        Sh=sel["Sh_target"].copy(),
        Sp_target=sel["Sp_target"],
        Sh_target=sel["Sh_target"],
        Z=sel["Z"],
        Z_base=sel["Z_base"],
        rbc=rbc,
        a1c=a1c,
        G=sel["G"],
        meal_excess=sel["mean_G"] - sel["G"],
        dose=sel["dose"],
        insulin_treated=sel["insulin_treated"],
    )
    return Cohort(
        state,
        sel["age"],
        sel["weight"],
        body_surface(sel["weight"]),
        sel["male"],
        sel["duration"],
        kept / drawn,
    )


def _candidate_c_peptide(p: Physiology, c: dict[str, np.ndarray]) -> np.ndarray:
    return fasting_c_peptide(c["endogenous"], c["weight"], c["age"], body_surface(c["weight"]), c["male"])


def body_surface(weight: np.ndarray) -> np.ndarray:
    """Body-surface area (m2, Mosteller) at the assumed height."""
    return np.sqrt(HEIGHT_CM * weight / 3600.0)


def _accept(h: np.ndarray, mean: float, sd: float, rng: np.random.Generator) -> np.ndarray:
    """Accept candidates so that accepted values ~ N(mean, SD): probability target(h) / (M candidate(h))."""
    edges = np.linspace(
        min(h.min(), mean - 4 * sd) - 1e-9,
        max(h.max(), mean + 4 * sd) + 1e-9,
        61,
    )
    counts, _ = np.histogram(h, edges)
    width = edges[1] - edges[0]
    density = counts / (counts.sum() * width)
    index = np.clip(np.searchsorted(edges, h) - 1, 0, len(counts) - 1)
    candidate = density[index]
    target = np.exp(-0.5 * ((h - mean) / sd) ** 2) / (sd * np.sqrt(2 * np.pi))
    centers = 0.5 * (edges[1:] + edges[:-1])
    target_centers = np.exp(-0.5 * ((centers - mean) / sd) ** 2) / (sd * np.sqrt(2 * np.pi))
    # the envelope comes from well-populated bins within 2.5 SD: a handful of candidates in a far tail
    # must not
    # drive acceptance to zero everywhere (those tails are then slightly under-filled; documented)
    usable = (counts >= 5) & (np.abs(centers - mean) <= 2.5 * sd)
    ratio = np.where(usable, target_centers / np.where(usable, density, 1), 0)
    scale = ratio.max() if ratio.max() > 0 else 1.0
    probability = np.where(candidate > 0, target / (scale * candidate), 0)
    return rng.random(h.shape[0]) < np.clip(probability, 0, 1)
