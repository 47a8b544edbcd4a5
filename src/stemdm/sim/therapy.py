"""The three clinical pathways as pharmacology feeding two effect signals, and the four mechanisms.

Pathways (all forms ASSUMPTION, design doc section 7.3; parameters in ``parameters.Therapy``):
- MSC infusion: viable cells (10^6/kg) decay with a ~1-day half-life (mouse viability, Eggenhofer 2012);
  their saturating signal Cm / (Cm + EC50) drives a systemic effect signal E_s (all routes) and an
  islet-local signal E_i (a small share after IV because of lung first pass, a larger one after
  intra-arterial delivery). The signals decay over weeks (effect compartment): cells are gone within days,
  effects last months.
- Exosome / secretome: the same signals from a fast-cleared dose with a smaller maximal effect.
- PSC-derived islet-like cells: a graft of beta-cell equivalents (relative to a healthy beta mass) matures
  over months and adds to secretion (halved when encapsulated), with slow attrition; its survival also
  benefits from the islet microenvironment mechanism.

Mechanisms, each its own parameter (``Therapy.e_*``), acting at full signal E = 1: (1) immunomodulation
lowers inflammatory tone Z; (2) beta-cell protection lowers apoptosis and regeneration raises replication;
(3) islet microenvironment raises native beta-cell function and graft survival; (4) systemic insulin
sensitivity raises Sp and Sh.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from stemdm.sim.parameters import Therapy

Pathway = Literal["msc", "psc-islet", "exosome"]
Source = Literal["bone_marrow", "umbilical_cord", "wharton_jelly", "adipose"]
#: "arterial-then-iv": the first administration into the pancreatic artery, the rest intravenous (Bhansali
#: 2017, LIRA_hUCMSC2016 as the bundled records describe them)
Route = Literal["iv", "intra-arterial", "arterial-then-iv"]

#: Source potency multipliers: no quantitative source-specific data were found (design doc 6.2): all 1.
SOURCE_POTENCY: dict[str, float] = {
    "bone_marrow": 1.0,
    "umbilical_cord": 1.0,
    "wharton_jelly": 1.0,
    "adipose": 1.0,
}


@dataclass(frozen=True)
class Regimen:
    """What is given: pathway, source, route, dose per administration and schedule (day numbers)."""

    pathway: Pathway = "msc"
    source: Source = "umbilical_cord"
    route: Route = "iv"
    dose: float = 1.0  # MSC: 1e6 cells/kg; exosome: same scale (cell-equivalents); PSC: beta-equivalents
    days: tuple[int, ...] = (0,)
    encapsulated: bool = True  # PSC grafts only

    def __post_init__(self) -> None:
        if self.dose < 0:
            raise ValueError(f"dose must be >= 0, got {self.dose}")
        if self.pathway not in ("msc", "psc-islet", "exosome"):
            raise ValueError(f"unknown pathway {self.pathway!r}; one of msc, psc-islet, exosome")
        if self.source not in SOURCE_POTENCY:
            raise ValueError(f"unknown source {self.source!r}; one of {', '.join(SOURCE_POTENCY)}")
        if self.route not in ("iv", "intra-arterial", "arterial-then-iv"):
            raise ValueError(f"unknown route {self.route!r}; one of iv, intra-arterial, arterial-then-iv")

    def arterial(self, day: int) -> bool:
        """Whether the administration on ``day`` goes into the pancreatic artery."""
        return self.route == "intra-arterial" or (self.route == "arterial-then-iv" and day == self.days[0])


@dataclass
class TherapyState:
    """Per-patient pharmacology state (arrays of shape (n,))."""

    cells: np.ndarray
    #: the part of ``cells`` given into the pancreatic artery (same clearance; sets the local share)
    arterial: np.ndarray
    e_sys: np.ndarray
    e_islet: np.ndarray
    graft_immature: np.ndarray
    graft_mature: np.ndarray

    @classmethod
    def empty(cls, n: int) -> TherapyState:
        zeros = np.zeros(n)
        return cls(zeros.copy(), zeros.copy(), zeros.copy(), zeros.copy(), zeros.copy(), zeros.copy())


#: Topp, Promislow, deVries, Miura & Finegood 2000 (J Theor Biol 206:605), beta-cell mass dynamics
#: d(beta)/dt = (-d0 + r1 G - r2 G^2) beta, per day, G in mg/dL: net loss below 100 mg/dL.
TOPP_D0, TOPP_R1, TOPP_R2 = 0.06, 0.84e-3, 0.24e-5


def topp_net_rate(glucose: np.ndarray) -> np.ndarray:
    """Topp 2000's net beta-cell growth rate (per day) at fasting glucose ``glucose`` (mg/dL); zero at 100."""
    return -TOPP_D0 + TOPP_R1 * glucose - TOPP_R2 * glucose**2


def step_therapy(
    t: Therapy,
    regimen: Regimen | None,
    state: TherapyState,
    day: int,
    dt: float = 1.0,
    glucose: np.ndarray | None = None,
) -> None:
    """Advance the pharmacology one day (dose events at the start of their day). A mature PSC graft also
    follows Topp 2000's glucose-dependent beta-cell homeostasis on its loss side: below a fasting glucose
    of 100 mg/dL it shrinks (at 70 mg/dL by about 1.3 %/day), so a graft larger than the patient needs cannot
    hold glucose low for long. Its growth side (above 100 mg/dL) is not applied: grafted cells are taken
    not to replicate (ASSUMPTION)."""
    if regimen is None:
        return
    given = day in regimen.days
    if regimen.pathway == "psc-islet":
        if given:
            state.graft_immature += regimen.dose
        mature_rate = 1.0 / t.graft_maturation
        matured = state.graft_immature * (1 - math.exp(-mature_rate * dt))
        state.graft_immature -= matured
        loss = t.graft_loss * (1 - t.e_micro * np.clip(state.e_islet, 0, 1))
        if glucose is not None:
            loss = loss - np.minimum(topp_net_rate(glucose), 0.0)
        state.graft_mature = (state.graft_mature + matured) * np.exp(-loss * dt)
        return
    if given:
        state.cells += regimen.dose * SOURCE_POTENCY[regimen.source]
        if regimen.arterial(day):
            state.arterial += regimen.dose * SOURCE_POTENCY[regimen.source]
    half_life = t.msc_half_life if regimen.pathway == "msc" else t.exosome_half_life
    emax = 1.0 if regimen.pathway == "msc" else t.exosome_emax
    decay = math.log(2) / half_life
    before = state.cells
    after = before * math.exp(-decay * dt)
    # exact area under the saturating signal C / (C + EC50) while C decays exponentially over the day
    area = emax / decay * np.log((before + t.msc_ec50) / (after + t.msc_ec50))
    # the islet share of the signal: each administration's cells keep the share of their route (arterial or
    # IV); both clear alike, so the mixture's share is the arterial fraction of what remains
    arterial_fraction = np.divide(state.arterial, before, out=np.zeros_like(before), where=before > 0)
    local = t.f_local_iv + (t.f_local_arterial - t.f_local_iv) * arterial_fraction
    state.cells = after
    state.arterial = state.arterial * math.exp(-decay * dt)
    keep = np.exp(-math.log(2) / np.asarray(t.signal_half_life) * dt)  # per patient when draws are batched
    state.e_sys = state.e_sys * keep + t.signal_gain * area
    state.e_islet = state.e_islet * keep + t.signal_gain * area * local / t.f_local_arterial
