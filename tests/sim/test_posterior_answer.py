"""The simulator's default answer on the calibration's own designs (issue 21): summarised over posterior
draws, it contains what Zang 2022 observed; mechanism magnitudes stay within physiology; the C-peptide moves
the way the trials saw it move; the time course is either supported or said not to be."""

from __future__ import annotations

import numpy as np
import pytest

from stemdm.sim.calibrate import zang_design
from stemdm.sim.domain import time_course
from stemdm.sim.parameters import default_parameters
from stemdm.sim.posterior import load_draws, params_for_draw
from stemdm.sim.predict import predictive
from stemdm.sim.trial import run_trial

#: Zang 2022's printed HbA1c difference at 48 weeks (MSC minus placebo change, %)
ZANG_2022_HBA1C_MD = -0.68


@pytest.fixture(scope="module")
def posterior():
    return predictive(zang_design(100, 1), None, 40)


def _row(posterior, outcome: str, week: int) -> dict:
    return next(r for r in posterior["effects"] if r["outcome"] == outcome and r["week"] == week)


def test_the_default_answer_contains_zang_2022(posterior):
    row = _row(posterior, "hba1c", 48)
    assert row["param_lb"] <= ZANG_2022_HBA1C_MD <= row["param_ub"], row
    assert posterior["posterior_draws"] == 40


@pytest.mark.xfail(
    strict=True,
    reason="known defect left open (issue 21): insulin sensitization is the mechanism the calibration "
    "moves, so less insulin is secreted and fasting C-peptide falls early, opposite to the trials; the "
    "beta-cell regeneration effect is not identified. Strict: this fails (xpass) once a beta-cell path "
    "fixes it",
)
def test_fasting_c_peptide_does_not_fall_with_cells(posterior):
    """The trials and Kashbour 2025 (+0.24 ng/mL) saw C-peptide rise or stay: the posterior median does not
    fall at any visit."""
    for week in (12, 24, 48):
        assert _row(posterior, "cpep_fasting", week)["param_median"] >= -0.01


def _treated_gain(params) -> np.ndarray:
    """The treated arm's mean insulin sensitivity relative to baseline at each visit (Zang's design)."""
    sensitivity = run_trial(zang_design(100, 1), params).arms["therapy"].sensitivity
    return np.nanmean(sensitivity / sensitivity[0], axis=1)


def test_treated_arm_sensitivity_below_twice_baseline():
    """Insulin sensitivity of the treated arm (its mean relative to baseline) stays below x2 at every visit
    for the default dose: under the central parameters, and at the posterior median of 12 random draws (v2
    reached x2.24 at 12 weeks); the strongest draws stay within a few percent of x2 (physiological priors)."""
    base = default_parameters()
    names, values, _ = load_draws()
    assert np.all(_treated_gain(base) < 2.0)
    picks = np.random.default_rng(3).choice(len(values), 12, replace=False)
    gains = np.array([_treated_gain(params_for_draw(base, names, values[i])) for i in picks])
    assert np.all(np.median(gains, axis=0) < 2.0)
    strength = values[:, names.index("therapy.e_sens")] + values[:, names.index("placebo.e_sens")]
    strongest = _treated_gain(params_for_draw(base, names, values[int(np.argmax(strength))]))
    assert np.all(strongest < 2.1)


def test_time_course_supported_or_said_not_to_be(posterior):
    early, late = _row(posterior, "hba1c", 12)["param_median"], _row(posterior, "hba1c", 48)["param_median"]
    effects = [{"outcome": "hba1c", "week": w, "md": m} for w, m in ((12, early), (48, late))]
    said = any("time course not identified" in n for n in time_course(zang_design(10, 1), effects))
    assert said or 1 / 1.5 <= early / late <= 1.5
