"""The insulin titration rule cannot make a cell arm worse than placebo (issue 21): a therapy whose effect
comes and goes leaves both arms titrated into the same band, so in insulin-deficient (type 1) cohorts the
cell arm's HbA1c and fasting glucose never end above placebo's, at any visit, for any dose, route or
schedule, under the shipped parameters and under posterior draws with strong and with short-lived effects.

The comparison is paired: the same virtual patients simulated with and without cells (the counterfactual a
real trial cannot see), so the difference is the therapy's and the dose rule's, not two cohorts' sampling."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from stemdm.sim.parameters import default_parameters
from stemdm.sim.posterior import load_draws, params_for_draw
from stemdm.sim.predict import paired_run
from stemdm.sim.trial import TrialDesign

#: tolerance of a paired mean difference (the titration steps are discrete: 2 IU)
TOLERANCE = {"hba1c": 0.01, "fbg": 0.5}


def _parameter_sets():
    base = default_parameters()
    names, values, _ = load_draws()
    gain = values[:, names.index("therapy.signal_gain")]
    half_life = values[:, names.index("therapy.signal_half_life")]
    picks = {int(np.argmax(gain)), int(np.argmin(half_life)), int(np.argmax(half_life))}
    return [base] + [params_for_draw(base, names, values[i]) for i in sorted(picks)]


@pytest.mark.parametrize("params", _parameter_sets(), ids=lambda p: p.version[:12])
def test_type_1_cell_arm_never_worse_than_placebo(params):
    for dose, infusions, route in itertools.product((0.3, 1.1, 3.0), (1, 3), ("iv", "intra-arterial")):
        design = TrialDesign(
            pathway="msc", route=route, dose=dose, infusions=infusions, interval_weeks=4, weeks=78,
            visits=[0, 13, 26, 52, 78], patients_per_arm=150, hba1c=8.65, hba1c_sd=0.86, bmi=21.0,
            duration_years=8.0, insulin_treated=True, diabetes_type="t1", seed=5,
        )  # fmt: skip
        pair = paired_run(design, params)  # the same patients with and without cells
        cells, none = pair.arms["therapy"], pair.arms["placebo"]
        for outcome, tolerance in TOLERANCE.items():
            paired = np.nanmean(cells.values[outcome] - none.values[outcome], axis=1)
            assert np.all(paired <= tolerance), (dose, infusions, route, outcome, paired.round(3))
