"""The physiology: healthy fixed point, HbA1c vs ADAG, natural history at the published rate, physical
states."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stemdm.sim.cohort import Baseline, make_cohort
from stemdm.sim.parameters import Parameters, Physiology, Placebo
from stemdm.sim.physiology import (
    capacity,
    effective_sensitivity,
    fasting_state,
    glucose_balance,
    hba1c_chain_steady,
    hba1c_percent,
    homa,
)
from stemdm.sim.trial import _advance, _copy_state

P = Physiology()


def test_healthy_fixed_point():
    """Topp 2000's physiological fixed point: fasting glucose 100 mg/dL (5.5 mmol/L), insulin 10 uU/mL."""
    one = np.ones(4)
    G, insulin = fasting_state(P, one, one, one, np.zeros(4), np.array([50.0, 100.0, 300.0, 1000.0]))
    assert np.allclose(G, 100.0, rtol=1e-9) and np.allclose(insulin, 10.0, rtol=1e-9)
    ir, b = homa(G, insulin)
    assert ir == pytest.approx(np.full(4, 100 * 10 / 405)) and b == pytest.approx(np.full(4, 360 * 10 / 37))
    assert capacity(P, np.array([P.z_healthy])) == pytest.approx(1.0)


@pytest.mark.parametrize("mmol", [5.5, 7.0, 8.6, 10.8, 13.4])
def test_hba1c_within_the_adag_band(mmol):
    """Steady-state HbA1c of the red-cell chain vs ADAG (Nathan 2008: AG mg/dL = 28.7 A1C - 46.7): within
    0.4."""
    rbc, a1c = hba1c_chain_steady(P, np.array([mmol]))
    adag = (mmol * 18.016 + 46.7) / 28.7
    assert abs(hba1c_percent(rbc, a1c)[0] - adag) < 0.4


@pytest.mark.parametrize(("insulin_treated", "hba1c"), [(False, 7.5), (True, 8.9)])
def test_untreated_t2dm_progresses_at_the_published_rate(insulin_treated, hba1c):
    """Beta-cell function (B F Q) falls about 6-8 %/year without treatment change (design doc 7.7)."""
    params = Parameters(placebo=Placebo(e_sens=0.0))
    p = params.physiology
    cohort = make_cohort(
        p,
        Baseline(hba1c=hba1c, hba1c_sd=0.8, insulin_treated=insulin_treated),
        1500,
        np.random.default_rng(11),
    )
    s = _copy_state(cohort.state)
    before = s.B * s.F * s.Q
    zeros = np.zeros(cohort.n)
    for _ in range(730):
        sp, sh = effective_sensitivity(p, s.Sp, s.Sh, s.Z, 0.0)
        s.G, _ = fasting_state(p, s.B * s.F * s.Q, sp, sh, p.exo_per_iu * s.dose, s.G)
        _advance(p, params.therapy, s, s.G, zeros, zeros)
    yearly_decline = 1 - np.median((s.B * s.F * s.Q) / before) ** 0.5
    assert 0.055 <= yearly_decline <= 0.085
    assert hba1c_percent(s.rbc, s.a1c).mean() > hba1c_percent(cohort.state.rbc, cohort.state.a1c).mean()


positive = st.floats(min_value=1e-3, max_value=5.0)


@settings(max_examples=60)
@given(
    bfun=positive,
    sp=positive,
    sh=positive,
    dose=st.floats(min_value=0, max_value=300),
    start=st.floats(min_value=30, max_value=1500),
)
def test_fasting_state_is_physical(bfun, sp, sh, dose, start):
    a = np.array
    G, insulin = fasting_state(P, a([bfun]), a([sp]), a([sh]), a([P.exo_per_iu * dose]), a([start]))
    assert np.isfinite(G).all() and 0 < G[0] <= 3000 and insulin[0] >= 0
    flux, slope, _ = glucose_balance(P, G, a([bfun]), a([sp]), a([sh]), a([P.exo_per_iu * dose]))
    assert abs(flux[0]) <= 1e-6 * P.R0 and slope[0] < 0  # the balance holds at the root, which is unique


def test_fasting_root_accuracy_over_a_wide_random_grid():
    """Every patient's root is exact (|flux| at the floating-point floor), whatever its neighbours: a patient
    whose flux hits exactly zero must stay there (a regression the hypothesis test found)."""
    rng = np.random.default_rng(0)
    n = 50_000
    bfun, sp, sh = rng.uniform(0.02, 2, n), rng.uniform(0.02, 4, n), rng.uniform(0.02, 4, n)
    i_exo, start = rng.uniform(0, 60, n), rng.uniform(30, 1500, n)
    G, _ = fasting_state(P, bfun, sp, sh, i_exo, start)
    flux, _, _ = glucose_balance(P, G, bfun, sp, sh, i_exo)
    assert np.abs(flux).max() <= 1e-6 * P.R0
    single, _ = fasting_state(P, bfun[:7], sp[:7], sh[:7], i_exo[:7], start[:7])
    np.testing.assert_array_equal(single, G[:7])  # independent of the other patients in the array


def test_secretion_stops_in_hypoglycaemia_so_extra_beta_cells_cannot_drive_fasting_glucose_low():
    """Issue 10: secretion had no glucose threshold, so a graft of several healthy beta-cell masses pushed
    fasting glucose toward 55 mg/dL (6 masses: 56.7 before the fix). Endogenous secretion now falls below
    80 mg/dL and stops at 50 (Mitrakou et al. 1991 thresholds), with counter-regulation below 70."""
    masses = np.array([1.0, 2.0, 3.0, 6.0])
    ones = np.ones(4)
    G, insulin = fasting_state(P, masses, ones, ones, np.zeros(4), np.full(4, 100.0))
    assert G[0] == pytest.approx(100.0)
    assert np.all(np.diff(G) < 0) and np.all(G > 63.0)  # above hypoglycaemia level 1 minus a margin
    low = np.array([50.0, 49.0])
    _, _, at_50 = glucose_balance(P, low, np.full(2, 6.0), np.ones(2), np.ones(2), np.zeros(2))
    assert np.all(at_50 == 0.0)
    # above the threshold Topp 2000's curve is untouched: the healthy fixed point keeps its insulin
    assert insulin[0] == pytest.approx(10.0)


def test_peripheral_sensitivity_falls_with_bmi_at_the_egir_rate():
    """Issue 10: BMI had no physiological effect. Candidates' peripheral sensitivity now falls with BMI at
    Ferrannini et al. 1997's 1.2 umol/min/kg FFM per kg/m2 (relative to the lean value, 45 assumed): the
    slope of log sensitivity on BMI across a large candidate pool matches the relative slope at BMI 27."""
    from stemdm.sim.cohort import _candidates
    from stemdm.sim.physiology import bmi_sensitivity

    c = _candidates(P, Baseline(bmi=30.0), 200_000, np.random.default_rng(3))
    slope = np.polyfit(c["bmi"], np.log(c["Sp_target"]), 1)[0]
    expected = -1.2 / (45.0 - 1.2 * (30.0 - 25.0))  # d log M / d BMI near the cohort's mean BMI
    assert slope == pytest.approx(expected, rel=0.1)
    assert bmi_sensitivity(P, np.array([27.0]))[0] == pytest.approx(1.0)
    assert bmi_sensitivity(P, np.array([45.0]))[0] == pytest.approx((45 - 24) / (45 - 2.4))


def test_insulin_deficient_cohorts_reach_c_peptide_near_zero():
    """Issue 10: cohorts with fasting C-peptide 0.1-0.3 ng/mL (the T1DM patients, 199 of Kashbour 2025's
    507) could not be generated. A type 1 cohort matched to a Cai 2016-like baseline does, insulin-treated."""
    from stemdm.sim.meal import fasting_c_peptide

    base = Baseline(hba1c=8.5, hba1c_sd=1.0, bmi=22.0, duration_years=8, diabetes_type="t1")
    cohort = make_cohort(P, base, 400, np.random.default_rng(5))
    s = cohort.state
    _, endogenous = fasting_state(P, s.B * s.F * s.Q, s.Sp, s.Sh, P.exo_per_iu * s.dose, s.G)
    cpep = fasting_c_peptide(endogenous, cohort.weight, cohort.age, cohort.bsa, cohort.male)
    assert np.median(cpep) < 0.3 and np.quantile(cpep, 0.1) < 0.05
    assert np.all(s.dose > 0)
    assert np.mean(hba1c_percent(s.rbc, s.a1c)) == pytest.approx(8.5, abs=0.15)
    with pytest.raises(ValueError, match="insulin-treated"):
        Baseline(insulin_treated=False, diabetes_type="t1")
