"""Dispersion conversions against worked examples (Wan et al. 2014 Table 1; Cochrane Handbook examples) and
against exact computations on samples (combining arms), plus hypothesis properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from scipy import stats

from stemdm.evidence.dispersion import (
    change_sd,
    combine_arms,
    correlation_from_sds,
    eta,
    mean_sd_from_quantiles,
    sd_from_ci,
    sd_from_diff_ci,
    sd_from_p,
    sd_from_se,
    sd_from_t,
    xi,
)
from stemdm.evidence.errors import ConversionError

# Wan et al. 2014, BMC Med Res Methodol 14:135, Table 1: xi(n) for n <= 50 (printed to 3 decimals).
WAN_TABLE_1 = {
    2: 1.128,
    3: 1.693,
    4: 2.059,
    5: 2.326,
    6: 2.534,
    10: 3.078,
    11: 3.173,
    15: 3.472,
    20: 3.735,
    21: 3.778,
    25: 3.931,
    30: 4.086,
    31: 4.113,
    40: 4.322,
    41: 4.341,
    45: 4.415,
    49: 4.482,
    50: 4.498,
}


@pytest.mark.parametrize(("n", "printed"), sorted(WAN_TABLE_1.items()))
def test_xi_reproduces_wan_2014_table_1(n, printed):
    assert round(xi(n), 3) == printed


def test_xi_and_eta_join_their_large_n_approximations():
    # Beyond the tables Wan uses 2 Phi^-1(...) formulas; the exact values approach them.
    assert xi(51) == pytest.approx(2 * stats.norm.ppf((51 - 0.375) / 51.25))
    assert eta(201) == pytest.approx(2 * stats.norm.ppf((0.75 * 201 - 0.125) / 201.25), rel=1e-3)
    assert eta(5) == pytest.approx(0.990, abs=1e-3)  # 2 E[Z_(4)] of 5 normal draws = 2 x 0.4950


def test_handbook_p_value_example():
    """Cochrane Handbook 6.5.2.3: MD 3.8, P = 0.008, n 25 and 22 -> t = 2.78 (45 df), SE = 3.8/2.78 = 1.37."""
    sd, derivation = sd_from_p(3.8, 0.008, 25, 22)
    assert derivation.result["t"] == pytest.approx(2.78, abs=0.005)
    assert derivation.result["se_diff"] == pytest.approx(1.37, abs=0.005)
    assert sd == pytest.approx(1.37 / math.sqrt(1 / 25 + 1 / 22), rel=0.005)
    assert sd_from_t(3.8, derivation.result["t"], 25, 22)[0] == pytest.approx(sd)


def test_handbook_correlation_example():
    """Cochrane Handbook v5.1 16.4.6.4: SDs 2.38 and 2.21, imputed correlation 0.68, n = 10 -> SE of the
    paired difference 0.583 (SD of the differences / sqrt(10))."""
    sd_diff, _ = change_sd(2.38, 2.21, 0.68)
    assert sd_diff / math.sqrt(10) == pytest.approx(0.583, abs=0.0005)


def test_handbook_large_sample_ci_divisor_is_3_92():
    sd, derivation = sd_from_ci(10.0, 13.92, n=100)
    assert sd == pytest.approx(10.0 * 3.92 / (2 * stats.norm.ppf(0.975)))
    assert derivation.inputs["distribution"] == "z"


def test_small_sample_ci_uses_t():
    # n = 25: divisor 2 x t(0.975, 24) = 4.128 (Handbook 6.5.2.2)
    sd, derivation = sd_from_ci(30.0, 34.128, n=25)
    assert derivation.inputs["distribution"] == "t(24)"
    assert sd == pytest.approx(5 * 4.128 / (2 * stats.t.ppf(0.975, 24)))
    assert sd == pytest.approx(5.0, abs=1e-3)


def test_sd_from_se_and_diff_ci():
    assert sd_from_se(0.5, 16)[0] == pytest.approx(2.0)
    sd, derivation = sd_from_diff_ci(-2.0, 2.0, 30, 30, method="z")
    se = 4.0 / (2 * stats.norm.ppf(0.975))
    assert derivation.result["se_diff"] == pytest.approx(se)
    assert sd == pytest.approx(se / math.sqrt(2 / 30))


def test_quantiles_recover_normal_parameters():
    """Population quartiles and range of N(10, 2^2) at n = 401: every method returns mean 10 and an SD close
    to 2 (exactly 2 for the IQR in the limit)."""
    n, mu, sigma = 401, 10.0, 2.0
    q1, q3 = mu + sigma * stats.norm.ppf([0.25, 0.75])
    lo, hi = mu - sigma * xi(n) / 2, mu + sigma * xi(n) / 2
    for kwargs in (
        {"q1": q1, "q3": q3},
        {"minimum": lo, "maximum": hi},
        {"q1": q1, "q3": q3, "minimum": lo, "maximum": hi},
    ):
        for mean_method in ("luo2018", "wan2014"):
            mean, sd, derivation = mean_sd_from_quantiles(n, mu, mean_method=mean_method, **kwargs)
            assert mean == pytest.approx(mu, abs=1e-9 + 0.003 * (mean_method == "wan2014"))
            assert sd == pytest.approx(sigma, rel=0.01)
            assert derivation.inputs["scenario"] in ("S1", "S2", "S3")


def test_luo_weights_shift_the_mean_towards_the_median_as_n_grows():
    small, _, _ = mean_sd_from_quantiles(10, 5.0, minimum=0.0, maximum=20.0)
    large, _, _ = mean_sd_from_quantiles(1000, 5.0, minimum=0.0, maximum=20.0)
    assert 5.0 < large < small < 10.0


def test_bundled_bhansali_median_iqr_converts():
    mean, sd, derivation = mean_sd_from_quantiles(11, 42.0, q1=31.0, q3=64.0)
    assert 31 < mean < 64 and sd > 0
    assert derivation.method == "mean_sd_from_quantiles" and "Luo" in derivation.reference


@pytest.mark.parametrize(
    "bad",
    [
        {"q1": 5.0, "q3": 3.0},
        {"q1": 1.0},
        {"minimum": 9.0, "maximum": 20.0},
        {},
    ],
)
def test_quantile_input_errors(bad):
    with pytest.raises(ConversionError):
        mean_sd_from_quantiles(20, 4.0, **bad)


def test_inconsistent_sds_are_refused():
    with pytest.raises(ConversionError, match="inconsistent"):
        correlation_from_sds(1.0, 1.0, 5.0)
    with pytest.raises(ConversionError):
        change_sd(1.0, 1.0, 1.5)
    with pytest.raises(ConversionError):
        sd_from_se(-1.0, 10)
    with pytest.raises(ConversionError):
        sd_from_ci(5.0, 4.0, 10)
    with pytest.raises(ConversionError):
        sd_from_p(1.0, 1.5, 10, 10)


samples = st.lists(st.floats(min_value=-100, max_value=100, allow_nan=False), min_size=2, max_size=30)


@given(samples, samples)
def test_combine_arms_equals_pooled_sample(a, b):
    a, b = np.asarray(a), np.asarray(b)
    n, mean, sd, derivation = combine_arms(len(a), a.mean(), a.std(ddof=1), len(b), b.mean(), b.std(ddof=1))
    pooled = np.concatenate([a, b])
    assert n == len(pooled)
    assert mean == pytest.approx(pooled.mean(), abs=1e-9)
    assert sd == pytest.approx(pooled.std(ddof=1), abs=1e-7)
    assert derivation.reference.endswith("6.5.2.10")


positive = st.floats(min_value=1e-3, max_value=1e3)


@given(positive, positive, st.floats(min_value=-1, max_value=1))
def test_change_sd_bounds_and_inverse(sd_b, sd_f, r):
    sd_c, _ = change_sd(sd_b, sd_f, r)
    assert abs(sd_b - sd_f) - 1e-9 * (sd_b + sd_f) <= sd_c <= sd_b + sd_f + 1e-9
    assume(sd_c > 1e-6 * (sd_b + sd_f))
    back, _ = correlation_from_sds(sd_b, sd_f, sd_c) if abs(r) < 1 else (r, None)
    assert back == pytest.approx(r, abs=1e-6)


@given(
    st.integers(min_value=5, max_value=500),
    st.floats(min_value=-50, max_value=50),
    st.floats(min_value=0.01, max_value=20),
    st.floats(min_value=0.01, max_value=20),
    st.floats(min_value=0, max_value=30),
    st.floats(min_value=0, max_value=30),
)
def test_quantile_estimates_positive_monotone_and_inside(n, median, below, above, tail_lo, tail_hi):
    q1, q3 = median - below, median + above
    lo, hi = q1 - tail_lo, q3 + tail_hi
    mean, sd, _ = mean_sd_from_quantiles(n, median, q1=q1, q3=q3, minimum=lo, maximum=hi)
    assert sd > 0 and lo <= mean <= hi
    _, wider, _ = mean_sd_from_quantiles(
        n, median, q1=q1 - 1.0, q3=q3 + 1.0, minimum=lo - 1.0, maximum=hi + 1.0
    )
    assert wider > sd


@given(st.integers(min_value=2, max_value=200), positive, positive)
def test_sd_from_ci_positive_and_monotone_in_width(n, lower, width):
    sd, _ = sd_from_ci(lower, lower + width, n)
    wider, _ = sd_from_ci(lower, lower + 2 * width, n)
    assert sd > 0 and wider == pytest.approx(2 * sd)


def test_correlation_at_the_bounds_survives_rounding():
    # SD_change = SD_b + SD_f is r = -1 exactly; floating point may put it a hair outside [-1, 1]
    sd_c, _ = change_sd(1.0, 15.378763455322712, -0.9999999999999999)
    assert correlation_from_sds(1.0, 15.378763455322712, sd_c)[0] == pytest.approx(-1.0)
