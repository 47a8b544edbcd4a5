"""The meal test (Dalla Man 2007, normal set scaled by the slow states): basal steady state, a healthy 75 g
OGTT within the normal range, diabetic responses worse, C-peptide rising with secretion."""

from __future__ import annotations

import numpy as np

from stemdm.sim.meal import meal_test, van_cauter_rates


def run(G, insulin, bfun, sp, sh, carbs=75.0, minutes=180):
    n = len(G)
    k10, k12, k21 = van_cauter_rates(np.full(n, 55.0))
    return meal_test(
        np.array(G),
        np.array(insulin),
        np.array(bfun),
        np.array(sp),
        np.array(sh),
        np.full(n, 78.0),
        np.full(n, 1.5),
        k10,
        k12,
        k21,
        carbs_g=carbs,
        minutes=minutes,
    )


def test_no_meal_keeps_the_basal_state():
    result = run([100.0, 180.0], [10.0, 12.0], [1.0, 0.4], [1.0, 0.4], [1.0, 0.6], carbs=1e-9)
    assert np.allclose(result.glucose_120, [100.0, 180.0]) and np.allclose(result.c_peptide_90, 1.5)


def test_healthy_ogtt_is_normal_and_diabetes_is_not():
    result = run([100.0, 180.0], [10.0, 12.0], [1.0, 0.35], [1.0, 0.4], [1.0, 0.6], minutes=240)
    healthy, diabetic = result.glucose_120
    assert 100 < healthy < 140  # WHO: 2-h glucose < 140 mg/dL is normal
    assert diabetic >= 200  # WHO: >= 200 mg/dL is diabetic
    assert (
        result.c_peptide_90[0] > result.c_peptide_90[1] > 1.5 * 0.9
    )  # secretion rises, less with less function


def test_injected_insulin_is_never_counted_as_secreted():
    """Issue 10: at identical beta-cell function, C-peptide at 90 min was 2.46 ng/mL with 36 IU/day of basal
    insulin and 1.64 without. The same patient (cells, sensitivities) is taken to its fasting state with and
    without the insulin, then given the test: glucose responds to injected insulin, C-peptide follows
    endogenous secretion only, so the patient on insulin (lower glucose) cannot show more C-peptide."""
    from stemdm.sim.meal import fasting_c_peptide
    from stemdm.sim.parameters import default_parameters
    from stemdm.sim.physiology import fasting_state

    p = default_parameters().physiology
    n = 2
    bfun, sp, sh = np.full(n, 0.35), np.full(n, 0.45), np.full(n, 0.6)
    weight, age, bsa, male = np.full(n, 80.0), np.full(n, 55.0), np.full(n, 1.9), np.array([True, False])
    k10, k12, k21 = van_cauter_rates(age)
    results = []
    for exo in (np.zeros(n), np.full(n, p.exo_per_iu * 36.0)):
        G, endogenous = fasting_state(p, bfun, sp, sh, exo, np.full(n, 150.0))
        cpep = fasting_c_peptide(endogenous, weight, age, bsa, male)
        results.append(meal_test(G, endogenous, bfun, sp, sh, weight, cpep, k10, k12, k21, I_exo=exo))
    without, with_insulin = results
    assert np.all(with_insulin.glucose_120 < without.glucose_120)
    assert np.all(with_insulin.c_peptide_90 <= without.c_peptide_90 + 1e-9)


def test_insulinogenic_index_separates_healthy_from_diabetic_secretion():
    """Seltzer 1967's insulinogenic index (dI30/dG30) of the test: a healthy subject at least 0.4 uU/mL per
    mg/dL (the Japan Diabetes Society's threshold for normal early-phase secretion, Seino et al. 2010), a
    diabetic one below it."""
    result = run([100.0, 180.0], [10.0, 12.0], [1.0, 0.35], [1.0, 0.4], [1.0, 0.6])
    healthy, diabetic = result.insulinogenic_index
    assert healthy >= 0.4 > diabetic
