"""Who benefits: individual treatment effects in silico, by baseline phenotype and pathway, and the share of
the effect each mechanism carries.

In silico every virtual patient can be simulated twice, with and without therapy (both with the trial
effect), so the individual effect is the difference of the two runs for the same patient. Effects are then
summarized by quartiles of baseline phenotypes: residual fasting C-peptide, insulin resistance (HOMA-IR),
inflammatory tone and diabetes duration. This is a hypothesis generator for patient selection, not evidence
about real patients.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from stemdm.sim.cohort import Cohort, make_cohort
from stemdm.sim.parameters import Parameters, default_parameters
from stemdm.sim.therapy import Regimen
from stemdm.sim.trial import TrialDesign, simulate_arm

PATHWAYS: dict[str, dict] = {
    "MSC IV": {"pathway": "msc", "route": "iv"},
    "MSC intra-arterial": {"pathway": "msc", "route": "intra-arterial"},
    "exosome": {"pathway": "exosome", "route": "iv"},
    "PSC-islet (encapsulated)": {"pathway": "psc-islet", "route": "iv", "dose": 0.3, "infusions": 1},
}
MECHANISMS = {
    "immunomodulation": ("e_immuno",),
    "beta-cell protection/regeneration": ("e_protect", "e_regen"),
    "islet microenvironment": ("e_micro",),
    "insulin sensitivity": ("e_sens",),
}


def _phenotypes(cohort: Cohort, baseline: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {
        "fasting C-peptide": baseline["cpep_fasting"][0],
        "HOMA-IR": baseline["homa_ir"][0],
        "inflammatory tone": cohort.state.Z,
        "duration (years)": cohort.duration,
    }


def responder_analysis(
    design: TrialDesign, patients: int = 2000, params: Parameters | None = None, outcome: str = "hba1c"
) -> pd.DataFrame:
    """Mean individual effect on ``outcome`` at the last visit (therapy - no therapy, same patient) by
    quartile of each baseline phenotype, for each pathway of ``PATHWAYS`` (other settings from ``design``)."""
    params = params or default_parameters()
    cohort = make_cohort(params.physiology, design.baseline(), patients, np.random.default_rng(design.seed))
    control = simulate_arm("placebo", cohort, None, params, design.weeks, design.visits)
    phenotypes = _phenotypes(cohort, control.values)
    rows = []
    for label, change in PATHWAYS.items():
        regimen = TrialDesign.model_validate(design.model_dump() | change).regimen()
        treated = simulate_arm("therapy", cohort, regimen, params, design.weeks, design.visits)
        effect = treated.values[outcome][-1] - control.values[outcome][-1]
        for name, values in phenotypes.items():
            edges = np.quantile(values, [0, 0.25, 0.5, 0.75, 1])
            bins = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, 3)
            for q in range(4):
                chosen = effect[bins == q]
                rows.append(
                    {
                        "pathway": label,
                        "phenotype": name,
                        "quartile": q + 1,
                        "range": f"{edges[q]:.3g}-{edges[q + 1]:.3g}",
                        "n": int(chosen.size),
                        "mean_effect": float(chosen.mean()),
                        "se": float(chosen.std(ddof=1) / np.sqrt(chosen.size)),
                        "responders_pct": float(np.mean(chosen <= -0.5) * 100)
                        if outcome == "hba1c"
                        else None,
                    }
                )
    return pd.DataFrame(rows)


def mechanism_contributions(
    design: TrialDesign, patients: int = 1000, params: Parameters | None = None, outcome: str = "hba1c"
) -> pd.DataFrame:
    """Effect at the last visit with all mechanisms, and with each mechanism alone (the others set to 0)."""
    params = params or default_parameters()
    cohort = make_cohort(params.physiology, design.baseline(), patients, np.random.default_rng(design.seed))
    regimen: Regimen = design.regimen()
    control = simulate_arm("placebo", cohort, None, params, design.weeks, design.visits)
    rows = []
    zero = {name: 0.0 for names in MECHANISMS.values() for name in names}
    variants = {"all mechanisms": params.therapy}
    for label, names in MECHANISMS.items():
        variants[f"{label} alone"] = dataclasses.replace(
            params.therapy, **(zero | {n: getattr(params.therapy, n) for n in names})
        )
    for label, therapy in variants.items():
        run = simulate_arm(
            "therapy",
            cohort,
            regimen,
            dataclasses.replace(params, therapy=therapy),
            design.weeks,
            design.visits,
        )
        effect = run.values[outcome][-1] - control.values[outcome][-1]
        rows.append(
            {
                "mechanisms": label,
                "mean_effect": float(effect.mean()),
                "se": float(effect.std(ddof=1) / np.sqrt(effect.size)),
            }
        )
    return pd.DataFrame(rows)
