"""Invariants of the engine on random data (hypothesis)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stemdm import meta

METHODS = ["FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM"]
# derandomize (CI) and print_blob come from the loaded profile (tests/conftest.py); examples per test here
EXAMPLES = 1000 if os.environ.get("HYPOTHESIS_PROFILE") == "thorough" else 60
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def generic_studies(draw, min_k=3, max_k=15):
    k = draw(st.integers(min_k, max_k))
    yi = draw(st.lists(st.floats(-3, 3, allow_nan=False), min_size=k, max_size=k))
    vi = draw(st.lists(st.floats(0.005, 2.0, allow_nan=False), min_size=k, max_size=k))
    return pd.DataFrame({"study": [f"s{i}" for i in range(k)], "yi": yi, "vi": vi})


@st.composite
def continuous_studies(draw, min_k=3, max_k=10):
    k = draw(st.integers(min_k, max_k))
    column = lambda lo, hi: draw(st.lists(st.floats(lo, hi), min_size=k, max_size=k))  # noqa: E731
    sizes = lambda: draw(st.lists(st.integers(5, 200), min_size=k, max_size=k))  # noqa: E731
    return pd.DataFrame({
        "m1i": column(-50, 50), "sd1i": column(0.5, 30), "n1i": sizes(),
        "m2i": column(-50, 50), "sd2i": column(0.5, 30), "n2i": sizes(),
    })  # fmt: skip


KEYS = ("estimate", "se", "ci_lb", "ci_ub", "tau2", "i2", "q", "tau2_ci_lb", "tau2_ci_ub")


@SETTINGS
@given(data=generic_studies(), method=st.sampled_from(METHODS), seed=st.integers(0, 2**16))
def test_permuting_studies_changes_nothing(data, method, seed):
    shuffled = data.sample(frac=1, random_state=seed).reset_index(drop=True)
    a = meta.fit(data, measure="GEN", method=method).to_dict()
    b = meta.fit(shuffled, measure="GEN", method=method).to_dict()
    for key in KEYS:
        # Q-profile bounds are roots of a flat function: summation order moves them ~1e-8
        rel = 1e-6 if key.startswith("tau2_ci") else 1e-7
        if a[key] is None:
            assert b[key] is None
        else:
            assert b[key] == pytest.approx(a[key], rel=rel, abs=1e-9), key


@SETTINGS
@given(data=continuous_studies(), method=st.sampled_from(METHODS),
       factor=st.floats(0.01, 100).flatmap(lambda f: st.sampled_from([f, -f])))  # fmt: skip
def test_scaling_outcomes_scales_md_results(data, method, factor):
    scaled = data.copy()
    for column in ("m1i", "m2i"):
        scaled[column] = data[column] * factor
    for column in ("sd1i", "sd2i"):
        scaled[column] = data[column] * abs(factor)
    a = meta.fit(data, measure="MD", method=method).to_dict()
    b = meta.fit(scaled, measure="MD", method=method).to_dict()
    assert b["estimate"] == pytest.approx(factor * a["estimate"], rel=1e-6, abs=1e-9)
    assert b["se"] == pytest.approx(abs(factor) * a["se"], rel=1e-6)
    assert b["tau2"] == pytest.approx(factor**2 * a["tau2"], rel=1e-6, abs=1e-9)
    assert b["i2"] == pytest.approx(a["i2"], rel=1e-6, abs=1e-6)
    assert b["q"] == pytest.approx(a["q"], rel=1e-6)
    lo, hi = sorted((factor * a["ci_lb"], factor * a["ci_ub"]))
    assert (b["ci_lb"], b["ci_ub"]) == pytest.approx((lo, hi), rel=1e-6, abs=1e-9)


@SETTINGS
@given(data=generic_studies(), method=st.sampled_from(METHODS[1:]))
def test_fe_equals_any_estimator_when_tau2_is_zero(data, method):
    random = meta.fit(data, measure="GEN", method=method)
    common = meta.fit(data, measure="GEN", method="FE")
    if random.tau2 == 0:
        assert random.estimate == pytest.approx(common.estimate, rel=1e-12, abs=1e-12)
        assert random.se == pytest.approx(common.se, rel=1e-12)


@given(data=generic_studies(), method=st.sampled_from(METHODS[1:]))
@SETTINGS
def test_homogeneous_data_make_every_estimator_common_effect(data, method):
    same = data.assign(yi=0.3)
    random = meta.fit(same, measure="GEN", method=method)
    common = meta.fit(same, measure="GEN", method="FE")
    assert random.tau2 == pytest.approx(0, abs=1e-12)
    assert random.estimate == pytest.approx(common.estimate)


@SETTINGS
@given(data=generic_studies(), method=st.sampled_from(METHODS), test=st.sampled_from(["z", "knha", "adhoc"]))
def test_heterogeneity_statistics_are_in_range(data, method, test):
    values = meta.fit(data, measure="GEN", method=method, test=test).to_dict()
    assert 0 <= values["i2"] <= 100
    # H^2 = tau^2/vt + 1 >= 1 under random effects; Q/df (may be < 1) under a common effect
    assert values["h2"] >= (0 if method == "FE" else 1 - 1e-12)
    assert values["tau2"] >= 0
    assert values["ci_lb"] <= values["estimate"] <= values["ci_ub"]
    if method != "FE":
        assert 0 <= values["tau2_ci_lb"] <= values["tau2_ci_ub"]
        assert values["pi_lb"] <= values["ci_lb"] + 1e-12
    if test == "adhoc":
        z = meta.fit(data, measure="GEN", method=method, test="z").to_dict()
        assert values["se"] >= z["se"] * (1 - 1e-12)


@SETTINGS
@given(data=continuous_studies())
def test_swapping_groups_flips_smd_and_md(data):
    swapped = data.rename(columns={"m1i": "m2i", "m2i": "m1i", "sd1i": "sd2i", "sd2i": "sd1i",
                                   "n1i": "n2i", "n2i": "n1i"})  # fmt: skip
    for measure in ("MD", "SMD"):
        a = meta.compute_effects(data, measure)
        b = meta.compute_effects(swapped, measure)
        np.testing.assert_allclose(b.yi, -a.yi, atol=1e-12)
        np.testing.assert_allclose(b.vi, a.vi, rtol=1e-12)


@SETTINGS
@given(m=st.integers(1, 30), k=st.integers(3, 12), seed=st.integers(0, 2**16),
       method=st.sampled_from(["ML", "REML", "EB", "PM"]))  # fmt: skip
def test_iterative_estimators_converge_on_random_batches(m, k, seed, method):
    rng = np.random.default_rng(seed)
    vi = rng.chisquare(1, size=(m, k)) * 0.1 + 1e-3
    yi = rng.normal(0, np.sqrt(vi + rng.exponential(1.0, size=(m, 1))))
    out = meta.fit_batch(yi, vi, method=method)
    assert out["converged"].all()
    assert np.all(out["tau2"] >= 0)


def _log_likelihood(tau2: float, y: np.ndarray, v: np.ndarray, restricted: bool) -> float:
    """(Restricted) log-likelihood of the random-effects model, up to a constant."""
    w = 1 / (v + tau2)
    mu = np.sum(w * y) / np.sum(w)
    value = -0.5 * (np.sum(np.log(v + tau2)) + np.sum(w * (y - mu) ** 2))
    return value - 0.5 * np.log(np.sum(w)) if restricted else value


@SETTINGS
@given(data=generic_studies(), method=st.sampled_from(["ML", "REML"]))
def test_ml_and_reml_maximize_their_likelihood(data, method):
    """Independent check: no tau2 in [0, 100] found by a bounded scalar optimizer beats ours."""
    from scipy.optimize import minimize_scalar

    y, v = data["yi"].to_numpy(), data["vi"].to_numpy()
    restricted = method == "REML"
    ours = meta.fit(data, measure="GEN", method=method).tau2
    best = minimize_scalar(
        lambda t: -_log_likelihood(t, y, v, restricted), bounds=(0, 100), method="bounded",
        options={"xatol": 1e-10},
    )  # fmt: skip
    for candidate in (best.x, 0.0):
        assert _log_likelihood(ours, y, v, restricted) >= _log_likelihood(candidate, y, v, restricted) - 1e-9


@SETTINGS
@given(
    m=st.integers(2, 12),
    k=st.integers(3, 9),
    seed=st.integers(0, 2**16),
    method=st.sampled_from(METHODS),
    test=st.sampled_from(["z", "knha", "adhoc"]),
)
def test_fit_batch_rows_equal_single_fits(m, k, seed, method, test):
    rng = np.random.default_rng(seed)
    vi = rng.chisquare(1, size=(m, k)) * 0.1 + 1e-3
    yi = rng.normal(0, np.sqrt(vi + rng.exponential(0.2, size=(m, 1))))
    out = meta.fit_batch(yi, vi, method=method, test=test)
    for row in range(m):
        single = meta.fit(
            pd.DataFrame({"yi": yi[row], "vi": vi[row]}), measure="GEN", method=method, test=test
        )
        expected = single.to_dict()
        for key in ("estimate", "se", "ci_lb", "ci_ub", "tau2", "i2", "q", "pi_lb", "pi_ub", "tau2_ci_ub"):
            if expected[key] is None:
                assert np.isnan(out[key][row])
            else:
                assert out[key][row] == pytest.approx(expected[key], rel=1e-6, abs=1e-9), key
