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
