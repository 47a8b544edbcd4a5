"""Dispersion and summary conversions for data extraction, each returning a :class:`Derivation`.

Sources:

- SD from SE, from a CI of a group mean, from a CI / t / p value of a difference in means: Cochrane Handbook
  for Systematic Reviews of Interventions v6.4 (2023), sections 6.5.2.2 and 6.5.2.3. Small samples use the
  t distribution (n - 1 degrees of freedom for a group mean, n1 + n2 - 2 for a difference).
- Median, quartiles and/or range -> mean and SD: Wan X, Wang W, Liu J, Tong T (2014) BMC Med Res Methodol
  14:135; Luo D, Wan X, Liu J, Tong T (2018) Stat Methods Med Res 27(6):1785-1805; Shi J, Luo D, Weng H,
  et al. (2020) Res Synth Methods 11(5):641-654. Scenarios: S1 {min, median, max}, S2 {min, q1, median, q3,
  max}, S3 {q1, median, q3}.
- Change-from-baseline SD from baseline and final SDs and a correlation, and the correlation from a trial that
  reports all three SDs: Cochrane Handbook v6.4 section 6.5.2.8.
- Combining two arms into one: Cochrane Handbook v6.4 section 6.5.2.10 (Table 6.5.a).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal

import numpy as np
from scipy import integrate, stats

from stemdm.evidence.errors import ConversionError
from stemdm.evidence.units import Derivation

HANDBOOK = "Cochrane Handbook v6.4 (2023)"
WAN_2014 = "Wan et al. 2014, BMC Med Res Methodol 14:135"
LUO_2018 = "Luo et al. 2018, Stat Methods Med Res 27:1785"
SHI_2020 = "Shi et al. 2020, Res Synth Methods 11:641"

MeanMethod = Literal["luo2018", "wan2014"]
SdMethod = Literal["shi2020", "wan2014"]
CiMethod = Literal["auto", "t", "z"]


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConversionError(message)


def _check_n(n: int, name: str = "n") -> None:
    _require(isinstance(n, int | np.integer) and n >= 2, f"{name} must be an integer >= 2, got {n!r}")


def _finite(**values: float) -> None:
    for name, value in values.items():
        _require(value is not None and math.isfinite(value), f"{name} must be a finite number, got {value!r}")


# ----------------------------------------------------------------------------------------------------------
# SD from SE, CI, t, p
# ----------------------------------------------------------------------------------------------------------


def sd_from_se(se: float, n: int) -> tuple[float, Derivation]:
    """SD = SE x sqrt(n) for a group mean (Handbook 6.5.2.2)."""
    _finite(se=se)
    _require(se > 0, f"SE must be positive, got {se}")
    _require(n >= 1, f"n must be >= 1, got {n}")
    sd = se * math.sqrt(n)
    return sd, Derivation("sd_from_se", {"se": se, "n": n}, f"{HANDBOOK} 6.5.2.2", {"sd": sd})


def _critical(level: float, df: int | None, method: CiMethod, n_for_auto: int) -> tuple[float, str]:
    _require(0 < level < 100, f"confidence level must be in (0, 100), got {level}")
    upper = 1 - (1 - level / 100) / 2
    use_t = method == "t" or (method == "auto" and n_for_auto < 60)
    if use_t:
        _require(df is not None and df >= 1, "a t-based interval needs at least 1 degree of freedom")
        return float(stats.t.ppf(upper, df)), f"t({df})"
    return float(stats.norm.ppf(upper)), "z"


def sd_from_ci(
    lower: float, upper: float, n: int, *, level: float = 95.0, method: CiMethod = "auto"
) -> tuple[float, Derivation]:
    """SD of a group from the CI of its mean: SD = sqrt(n) (upper - lower) / (2 c), with c the t quantile on
    n - 1 df (``auto``: when n < 60, as the Handbook 6.5.2.2 advises for small samples) or the normal one."""
    _finite(lower=lower, upper=upper)
    _require(upper > lower, f"CI upper limit {upper} must exceed lower limit {lower}")
    _check_n(n)
    critical, dist = _critical(level, n - 1, method, n)
    sd = math.sqrt(n) * (upper - lower) / (2 * critical)
    inputs = {"ci_lb": lower, "ci_ub": upper, "n": n, "level": level, "distribution": dist}
    return sd, Derivation("sd_from_ci", inputs, f"{HANDBOOK} 6.5.2.2", {"sd": sd, "critical": critical})


def _pooled_sd_from_se_diff(se_diff: float, n1: int, n2: int) -> float:
    return se_diff / math.sqrt(1 / n1 + 1 / n2)


def sd_from_diff_ci(
    lower: float, upper: float, n1: int, n2: int, *, level: float = 95.0, method: CiMethod = "auto"
) -> tuple[float, Derivation]:
    """Within-group SD (common to both arms) from the CI of a difference in means (Handbook 6.5.2.3):
    SE = (upper - lower) / (2 c) with c on n1 + n2 - 2 df, SD = SE / sqrt(1/n1 + 1/n2)."""
    _finite(lower=lower, upper=upper)
    _require(upper > lower, f"CI upper limit {upper} must exceed lower limit {lower}")
    _check_n(n1, "n1")
    _check_n(n2, "n2")
    critical, dist = _critical(level, n1 + n2 - 2, method, min(n1, n2))
    se = (upper - lower) / (2 * critical)
    sd = _pooled_sd_from_se_diff(se, n1, n2)
    inputs = {"ci_lb": lower, "ci_ub": upper, "n1": n1, "n2": n2, "level": level, "distribution": dist}
    return sd, Derivation("sd_from_diff_ci", inputs, f"{HANDBOOK} 6.5.2.3", {"sd": sd, "se_diff": se})


def sd_from_t(mean_difference: float, t_value: float, n1: int, n2: int) -> tuple[float, Derivation]:
    """Within-group SD from a two-sample t statistic: SE = |MD / t|, SD = SE / sqrt(1/n1 + 1/n2)."""
    _finite(mean_difference=mean_difference, t_value=t_value)
    _require(t_value != 0 and mean_difference != 0, "t and the mean difference must be non-zero")
    _check_n(n1, "n1")
    _check_n(n2, "n2")
    se = abs(mean_difference / t_value)
    sd = _pooled_sd_from_se_diff(se, n1, n2)
    inputs = {"md": mean_difference, "t": t_value, "n1": n1, "n2": n2}
    return sd, Derivation("sd_from_t", inputs, f"{HANDBOOK} 6.5.2.3", {"sd": sd, "se_diff": se})


def sd_from_p(mean_difference: float, p_value: float, n1: int, n2: int) -> tuple[float, Derivation]:
    """Within-group SD from the two-sided p value of a two-sample t test (Handbook 6.5.2.3): t is the
    t quantile on n1 + n2 - 2 df for p, then as :func:`sd_from_t`. A p reported as a bound (p < 0.05) should
    be     entered as the bound, which is conservative (larger SD)."""
    _finite(p_value=p_value)
    _require(0 < p_value < 1, f"p must lie in (0, 1), got {p_value}")
    _check_n(n1, "n1")
    _check_n(n2, "n2")
    t_value = float(stats.t.isf(p_value / 2, n1 + n2 - 2))
    sd, derivation = sd_from_t(mean_difference, t_value, n1, n2)
    inputs = {"md": mean_difference, "p": p_value, "n1": n1, "n2": n2, "t": t_value}
    return sd, Derivation("sd_from_p", inputs, f"{HANDBOOK} 6.5.2.3", derivation.result | {"t": t_value})


# ----------------------------------------------------------------------------------------------------------
# Median, quartiles, range -> mean, SD
# ----------------------------------------------------------------------------------------------------------


def _expected_order_statistic(rank: int, n: int) -> float:
    """E[Z_(rank)] of n standard normal draws, by numerical integration of the order-statistic density."""
    log_const = math.lgamma(n + 1) - math.lgamma(rank) - math.lgamma(n - rank + 1)

    def integrand(x: float) -> float:
        log_density = (
            log_const
            + (rank - 1) * stats.norm.logcdf(x)
            + (n - rank) * stats.norm.logsf(x)
            + stats.norm.logpdf(x)
        )
        return x * math.exp(log_density)

    value, _ = integrate.quad(integrand, -12, 12, limit=200, epsabs=1e-12)
    return value


@lru_cache(maxsize=512)
def xi(n: int) -> float:
    """Wan et al. (2014) xi(n): the expected range of n standard normal draws (their Table 1, exact values,
    for n <= 50), and 2 Phi^-1((n - 0.375) / (n + 0.25)) beyond (their formula 7)."""
    _require(n >= 2, f"n must be >= 2 for a range, got {n}")
    if n > 50:
        return 2 * float(stats.norm.ppf((n - 0.375) / (n + 0.25)))
    return 2 * _expected_order_statistic(n, n)


@lru_cache(maxsize=512)
def eta(n: int) -> float:
    """Wan et al. (2014) eta(n): the expected interquartile range of n standard normal draws, exact for
    n = 4Q + 1 with Q = ceil((n - 1) / 4) when n <= 201 (their Table 2), else 2 Phi^-1((0.75 n - 0.125) /
    (n + 0.25)) (their formula 16)."""
    _require(n >= 3, f"n must be >= 3 for quartiles, got {n}")
    if n > 201:
        return 2 * float(stats.norm.ppf((0.75 * n - 0.125) / (n + 0.25)))
    q = math.ceil((n - 1) / 4)
    return 2 * _expected_order_statistic(3 * q + 1, 4 * q + 1)


def _xi_approx(n: int) -> float:
    return 2 * float(stats.norm.ppf((n - 0.375) / (n + 0.25)))


def _eta_approx(n: int) -> float:
    return 2 * float(stats.norm.ppf((0.75 * n - 0.125) / (n + 0.25)))


def _check_order(**quantiles: float | None) -> None:
    present = [(name, value) for name, value in quantiles.items() if value is not None]
    for name, value in present:
        _finite(**{name: value})
    for (name_a, a), (name_b, b) in zip(present, present[1:], strict=False):
        _require(a <= b, f"{name_a} ({a}) must not exceed {name_b} ({b})")


def mean_sd_from_quantiles(
    n: int,
    median: float,
    *,
    q1: float | None = None,
    q3: float | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    mean_method: MeanMethod = "luo2018",
    sd_method: SdMethod = "shi2020",
) -> tuple[float, float, Derivation]:
    """Estimate a sample mean and SD from the median with the quartiles and/or the range (normal data).

    Mean: Luo et al. (2018) optimal weights (default) or Wan et al. (2014). SD: Wan et al. (2014) for S1 and
    S3; for S2 the smoothly weighted estimator of Shi et al. (2020) (default) or Wan's equal weights.
    Returns (mean, sd, derivation). Skewed data (median far from the mid-quartile) make every method biased.
    """
    _check_n(n)
    has_iqr = q1 is not None and q3 is not None
    has_range = minimum is not None and maximum is not None
    _require(has_iqr or has_range, "need the quartiles (q1, q3) and/or the range (minimum, maximum)")
    _require((q1 is None) == (q3 is None), "give both quartiles or neither")
    _require((minimum is None) == (maximum is None), "give both range limits or neither")
    _check_order(minimum=minimum, q1=q1, median=median, q3=q3, maximum=maximum)
    if has_iqr and has_range:
        scenario = "S2"
        _require(n >= 5, f"n must be >= 5 for a five-number summary, got {n}")
    else:
        scenario = "S3" if has_iqr else "S1"
    mean = _mean(scenario, n, median, q1, q3, minimum, maximum, mean_method)
    sd = _sd(scenario, n, q1, q3, minimum, maximum, sd_method)
    inputs = {
        "n": n,
        "median": median,
        "q1": q1,
        "q3": q3,
        "minimum": minimum,
        "maximum": maximum,
        "scenario": scenario,
        "mean_method": mean_method,
        "sd_method": sd_method,
    }
    inputs = {key: value for key, value in inputs.items() if value is not None}
    reference = {"luo2018": LUO_2018, "wan2014": WAN_2014}[mean_method]
    sd_reference = SHI_2020 if (scenario == "S2" and sd_method == "shi2020") else WAN_2014
    notes = ("sd: " + sd_reference,)
    return mean, sd, Derivation("mean_sd_from_quantiles", inputs, reference, {"mean": mean, "sd": sd}, notes)


def _mean(scenario, n, median, q1, q3, minimum, maximum, method) -> float:
    if method == "wan2014":
        if scenario == "S1":  # Wan 2014 eq. 2 (Hozo et al.'s estimator with its small-sample term)
            return (minimum + 2 * median + maximum) / 4 + (minimum - 2 * median + maximum) / (4 * n)
        if scenario == "S2":  # Wan 2014 eq. 10
            return (minimum + 2 * q1 + 2 * median + 2 * q3 + maximum) / 8
        return (q1 + median + q3) / 3  # Wan 2014 eq. 14
    if scenario == "S1":  # Luo 2018 eq. 7
        weight = 4 / (4 + n**0.75)
        return weight * (minimum + maximum) / 2 + (1 - weight) * median
    if scenario == "S2":  # Luo 2018 eq. 15
        w_range = 2.2 / (2.2 + n**0.75)
        w_iqr = 0.7 - 0.72 / n**0.55
        return w_range * (minimum + maximum) / 2 + w_iqr * (q1 + q3) / 2 + (1 - w_range - w_iqr) * median
    weight = 0.7 + 0.39 / n  # Luo 2018 eq. 11
    return weight * (q1 + q3) / 2 + (1 - weight) * median


def _sd(scenario, n, q1, q3, minimum, maximum, method) -> float:
    if scenario == "S1":
        return (maximum - minimum) / xi(n)
    if scenario == "S3":
        return (q3 - q1) / eta(n)
    if method == "wan2014":  # Wan 2014 eq. 13
        return 0.5 * ((maximum - minimum) / xi(n) + (q3 - q1) / eta(n))
    weight = 1 / (1 + 0.07 * n**0.6)  # Shi 2020: approximate optimal weight
    return weight * (maximum - minimum) / _xi_approx(n) + (1 - weight) * (q3 - q1) / _eta_approx(n)


# ----------------------------------------------------------------------------------------------------------
# Change from baseline, combining arms
# ----------------------------------------------------------------------------------------------------------


def change_sd(sd_baseline: float, sd_final: float, correlation: float) -> tuple[float, Derivation]:
    """SD of the change from baseline (Handbook 6.5.2.8):
    sqrt(SD_b^2 + SD_f^2 - 2 r SD_b SD_f), r the baseline-final correlation."""
    _finite(sd_baseline=sd_baseline, sd_final=sd_final, correlation=correlation)
    _require(sd_baseline > 0 and sd_final > 0, "baseline and final SDs must be positive")
    _require(-1 <= correlation <= 1, f"correlation must lie in [-1, 1], got {correlation}")
    variance = sd_baseline**2 + sd_final**2 - 2 * correlation * sd_baseline * sd_final
    sd = math.sqrt(max(variance, 0.0))
    inputs = {"sd_baseline": sd_baseline, "sd_final": sd_final, "correlation": correlation}
    return sd, Derivation("change_sd", inputs, f"{HANDBOOK} 6.5.2.8", {"sd": sd})


def correlation_from_sds(sd_baseline: float, sd_final: float, sd_change: float) -> tuple[float, Derivation]:
    """Baseline-final correlation from a trial that reports all three SDs (Handbook 6.5.2.8):
    r = (SD_b^2 + SD_f^2 - SD_c^2) / (2 SD_b SD_f). A value outside [-1, 1] means the SDs are inconsistent."""
    _finite(sd_baseline=sd_baseline, sd_final=sd_final, sd_change=sd_change)
    _require(sd_baseline > 0 and sd_final > 0 and sd_change >= 0, "SDs must be positive")
    r = (sd_baseline**2 + sd_final**2 - sd_change**2) / (2 * sd_baseline * sd_final)
    _require(
        abs(r) <= 1 + 1e-9, f"the three SDs are inconsistent: implied correlation {r:.3f} is outside [-1, 1]"
    )
    r = min(max(r, -1.0), 1.0)  # floating-point rounding at |r| = 1 (e.g. SD_c = SD_b + SD_f)
    inputs = {"sd_baseline": sd_baseline, "sd_final": sd_final, "sd_change": sd_change}
    return r, Derivation("correlation_from_sds", inputs, f"{HANDBOOK} 6.5.2.8", {"correlation": r})


def pooled_correlation(correlations: list[float]) -> tuple[float, Derivation]:
    """Mean of correlations estimated from several trials (the Handbook suggests using such a value and a
    sensitivity analysis over their range); returns the mean with min and max in the derivation."""
    values = [float(r) for r in correlations]
    _require(len(values) >= 1, "no correlations to pool")
    for r in values:
        _require(math.isfinite(r) and -1 <= r <= 1, f"correlation {r} is outside [-1, 1]")
    mean = float(np.mean(values))
    result = {"correlation": mean, "min": min(values), "max": max(values)}
    return mean, Derivation("pooled_correlation", {"correlations": values}, f"{HANDBOOK} 6.5.2.8", result)


def combine_arms(
    n1: int, mean1: float, sd1: float, n2: int, mean2: float, sd2: float
) -> tuple[int, float, float, Derivation]:
    """Combine two arms into one (Handbook 6.5.2.10, Table 6.5.a): N = N1 + N2, M = (N1 M1 + N2 M2) / N,
    SD = sqrt(((N1-1) SD1^2 + (N2-1) SD2^2 + N1 N2 / N (M1^2 + M2^2 - 2 M1 M2)) / (N - 1)).
    Exact: equals the mean and SD of the two samples pooled."""
    _finite(mean1=mean1, sd1=sd1, mean2=mean2, sd2=sd2)
    _require(n1 >= 1 and n2 >= 1, "both arms need n >= 1")
    _require(sd1 >= 0 and sd2 >= 0, "SDs must be non-negative")
    total = n1 + n2
    mean = (n1 * mean1 + n2 * mean2) / total
    between = n1 * n2 / total * (mean1 - mean2) ** 2
    sd = math.sqrt(((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2 + between) / (total - 1))
    inputs = {"n1": n1, "mean1": mean1, "sd1": sd1, "n2": n2, "mean2": mean2, "sd2": sd2}
    return (
        total,
        mean,
        sd,
        Derivation("combine_arms", inputs, f"{HANDBOOK} 6.5.2.10", {"n": total, "mean": mean, "sd": sd}),
    )
