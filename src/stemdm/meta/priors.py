"""Priors of the Bayesian normal-normal random-effects model, written as strings.

On the heterogeneity tau (the between-study SD, on the analysis scale):

- ``halfnormal(s)``: p(tau) = 2 / (s sqrt(2 pi)) exp(-tau^2 / (2 s^2)), tau >= 0 (Friede et al. 2017).
- ``halfcauchy(s)``: p(tau) = 2 / (pi s (1 + (tau/s)^2)).
- ``halft(df,s)``: twice the Student-t density of tau/s with df degrees of freedom, over s.
- ``uniform(a,b)``: 1 / (b - a) on [a, b]; ``b`` may be ``inf`` (improper).
- ``jeffreys``: p(tau) proportional to sqrt(sum_i (tau / (sigma_i^2 + tau^2))^2), the Jeffreys prior for tau
  as bayesmeta defines it (Bodnar et al. 2017; Röver 2020, J Stat Softw 93(6)); improper, depends on the SEs.
- ``lognormal_tau2(m,s)``: log(tau^2) ~ Normal(m, s^2), i.e. p(tau) = 2 tau f_LN(tau^2; m, s) (the form of
  Turner et al. 2015's predictive distributions for tau^2).

On the overall effect mu: ``None`` (uniform, improper) or ``normal(m,s)``.

Every prior is a :class:`TauPrior` / :class:`MuPrior` with a log density (unnormalised where improper), its
support, its tail exponent (for the propriety check) and its text for reports.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from stemdm.meta.errors import MetaInputError

#: Prior parameters beyond these are not priors on an effect scale (and overflow the arithmetic).
MAX_PARAMETER = 1e6
MIN_SCALE = 1e-6
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|inf"
_CALL = re.compile(r"^\s*([a-z_0-9]+)\s*(?:\((.*)\))?\s*$")


@dataclass(frozen=True)
class TauPrior:
    """A prior on tau. ``tail`` is the exponent a of p(tau) ~ tau^a as tau -> inf (None: proper, decays faster
    than any power that matters); ``proper`` whether it integrates to 1."""

    text: str
    family: str
    params: tuple[float, ...]
    lower: float = 0.0
    upper: float = math.inf
    proper: bool = True
    tail: float | None = None

    def quantile(self, p: float) -> float | None:
        """The prior's ``p`` quantile of tau (None for an improper prior): what the data would have to move
        for the posterior of tau to say something the prior did not."""
        if not self.proper or not 0 < p < 1:
            return None
        family, params = self.family, self.params
        if family == "halfnormal":
            return float(params[0] * stats.norm.ppf((1 + p) / 2))
        if family == "halfcauchy":
            return float(params[0] * math.tan(math.pi * p / 2))
        if family == "halft":
            return float(params[1] * stats.t.ppf((1 + p) / 2, params[0]))
        if family == "uniform":
            return self.lower + p * (self.upper - self.lower)
        if family == "lognormal_tau2":
            return float(math.exp((params[0] + params[1] * stats.norm.ppf(p)) / 2))
        return None

    def log_density(self, tau: np.ndarray, sigma2: np.ndarray) -> np.ndarray:
        """log p(tau) at each tau (-inf outside the support); ``sigma2`` the studies' variances (jeffreys)."""
        tau = np.asarray(tau, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = self._log_density(tau, sigma2)
        return np.where((tau >= self.lower) & (tau <= self.upper), out, -np.inf)

    def _log_density(self, tau: np.ndarray, sigma2: np.ndarray) -> np.ndarray:
        family, p = self.family, self.params
        if family == "halfnormal":
            return math.log(2.0 / (p[0] * math.sqrt(2 * math.pi))) - tau**2 / (2 * p[0] ** 2)
        if family == "halfcauchy":
            return math.log(2.0 / (math.pi * p[0])) - np.log1p((tau / p[0]) ** 2)
        if family == "halft":
            df, scale = p
            constant = special.gammaln((df + 1) / 2) - special.gammaln(df / 2) - 0.5 * math.log(df * math.pi)
            return math.log(2.0 / scale) + constant - (df + 1) / 2 * np.log1p((tau / scale) ** 2 / df)
        if family == "uniform":
            width = self.upper - self.lower
            return np.full_like(tau, -math.log(width) if math.isfinite(width) else 0.0)
        if family == "jeffreys":
            terms = (tau[:, None] / (sigma2[None, :] + tau[:, None] ** 2)) ** 2
            return 0.5 * np.log(np.sum(terms, axis=1))
        if family == "lognormal_tau2":  # density of tau^2, times d(tau^2)/d tau = 2 tau
            m, s = p
            log_tau = np.log(tau)
            return (
                math.log(2.0 / (s * math.sqrt(2 * math.pi))) - log_tau - (2 * log_tau - m) ** 2 / (2 * s**2)
            )
        raise AssertionError(family)


@dataclass(frozen=True)
class MuPrior:
    """A prior on mu: uniform (improper, ``mean``/``sd`` None) or normal(mean, sd)."""

    text: str
    mean: float | None = None
    sd: float | None = None

    @property
    def proper(self) -> bool:
        return self.sd is not None


#: Turner et al. 2015 (Stat Med 34:984-998), Table IV: predictive distributions log(tau^2) ~ Normal(m, s^2)
#: for log odds ratios, by comparison ("pharma": pharmacological vs placebo/control; "nonpharma":
#: non-pharmacological vs placebo/control) and outcome type (the paper's 16 types, short names here; values
#: as tabulated in bayesmeta 3.4's TurnerEtAlParameters). (m, s) per outcome type.
TURNER: dict[str, dict[str, tuple[float, float]]] = {
    "pharma": {
        "mortality": (-3.95, 1.34),
        "obstetric": (-3.52, 1.74),
        "major_morbidity": (-3.71, 1.74),
        "resource_use": (-2.34, 1.74),
        "surgical": (-2.14, 1.74),
        "withdrawals": (-2.99, 1.74),
        "internal": (-2.71, 1.74),
        "physical_health": (-2.29, 1.53),
        "adverse_events": (-1.87, 1.52),
        "infection": (-2.49, 1.52),
        "signs_symptoms": (-2.06, 1.51),
        "pain": (-1.83, 1.52),
        "quality_of_life": (-2.54, 1.54),
        "mental_health": (-2.12, 1.53),
        "biomarkers": (-1.77, 1.52),
        "subjective": (-2.70, 1.52),
    },
    "nonpharma": {
        "mortality": (-4.17, 1.55),
        "obstetric": (-3.74, 1.91),
        "major_morbidity": (-3.93, 1.91),
        "resource_use": (-2.56, 1.91),
        "surgical": (-2.36, 1.91),
        "withdrawals": (-3.21, 1.91),
        "internal": (-2.93, 1.92),
        "physical_health": (-2.51, 1.72),
        "adverse_events": (-2.10, 1.71),
        "infection": (-2.71, 1.71),
        "signs_symptoms": (-2.28, 1.71),
        "pain": (-2.05, 1.71),
        "quality_of_life": (-2.77, 1.73),
        "mental_health": (-2.34, 1.72),
        "biomarkers": (-1.99, 1.71),
        "subjective": (-2.92, 1.71),
    },
}


def parse_tau_prior(text: str) -> TauPrior:
    """A tau prior from its string (module docstring); MetaInputError naming the prior when not understood."""
    name, args = _call(text, "tau_prior")
    if name == "jeffreys" and not args:
        return TauPrior("jeffreys", "jeffreys", (), proper=False, tail=-1.0)
    if name == "turner":
        return _turner(text, args)
    numbers = _numbers(text, args, "tau_prior")
    expected = {"halfnormal": 1, "halfcauchy": 1, "halft": 2, "uniform": 2, "lognormal_tau2": 2}
    if name not in expected:
        raise MetaInputError(
            f"unknown tau prior {text!r}; use halfnormal(s), halfcauchy(s), halft(df,s), uniform(a,b), "
            "jeffreys, lognormal_tau2(m,s) or turner(pharma|nonpharma, OUTCOME)",
            field="tau_prior",
        )
    if len(numbers) != expected[name]:
        raise MetaInputError(f"{name} takes {expected[name]} number(s), got {text!r}", field="tau_prior")
    if name == "uniform":
        low, high = numbers
        if not (0 <= low < high <= MAX_PARAMETER or high == math.inf) or high - low < MIN_SCALE:
            raise MetaInputError(
                f"uniform(a,b) needs 0 <= a < b <= {MAX_PARAMETER:g} (or inf), b - a >= {MIN_SCALE:g}; "
                f"got {text!r}",
                field="tau_prior",
            )
        proper = math.isfinite(high)
        return TauPrior(text.strip(), "uniform", (low, high), low, high, proper, None if proper else 0.0)
    if not all(math.isfinite(x) and abs(x) <= MAX_PARAMETER for x in numbers) or numbers[-1] < MIN_SCALE:
        raise MetaInputError(
            f"{name}: parameters must lie within +-{MAX_PARAMETER:g} and the scale be at least "
            f"{MIN_SCALE:g}; got {text!r}",
            field="tau_prior",
        )
    if name == "lognormal_tau2" and abs(numbers[0]) > 50:
        raise MetaInputError(f"lognormal_tau2(m,s): |m| <= 50 (log tau^2), got {text!r}", field="tau_prior")
    if name == "halft" and numbers[0] <= 0:
        raise MetaInputError(f"halft(df,s) needs df > 0, got {text!r}", field="tau_prior")
    return TauPrior(text.strip(), name, tuple(numbers))


def parse_mu_prior(text: str | None) -> MuPrior:
    """``None`` (uniform) or ``normal(m,s)``."""
    if text is None or str(text).strip().lower() in ("", "none", "uniform"):
        return MuPrior("uniform (improper)")
    name, args = _call(text, "mu_prior")
    numbers = _numbers(text, args, "mu_prior")
    if name != "normal" or len(numbers) != 2:
        raise MetaInputError(
            f"unknown mu prior {text!r}; use None (uniform) or normal(m,s)", field="mu_prior"
        )
    mean, sd = numbers
    if not (abs(mean) <= MAX_PARAMETER and MIN_SCALE <= sd <= MAX_PARAMETER):
        raise MetaInputError(
            f"normal(m,s) needs |m| <= {MAX_PARAMETER:g} and {MIN_SCALE:g} <= s <= {MAX_PARAMETER:g}; "
            f"got {text!r}",
            field="mu_prior",
        )
    return MuPrior(text.strip(), mean, sd)


def _call(text: str, field: str) -> tuple[str, str | None]:
    match = _CALL.match(str(text).lower())
    if not match:
        raise MetaInputError(f"cannot read the prior {text!r}; write e.g. halfnormal(0.5)", field=field)
    return match.group(1), match.group(2)


def _numbers(text: str, args: str | None, field: str) -> list[float]:
    parts = [part.strip() for part in (args or "").split(",") if part.strip()]
    if not all(re.fullmatch(_NUMBER, part) for part in parts):
        raise MetaInputError(f"the prior {text!r} needs numbers as parameters", field=field)
    return [float(part) for part in parts]


def _turner(text: str, args: str | None) -> TauPrior:
    parts = [part.strip() for part in (args or "").split(",")]
    table = TURNER.get(parts[0], {}) if len(parts) == 2 else {}
    if parts[-1] not in table:
        raise MetaInputError(
            f"turner(COMPARISON, OUTCOME): COMPARISON one of {', '.join(TURNER)}, OUTCOME one of "
            f"{', '.join(TURNER['pharma'])}; got {text!r}",
            field="tau_prior",
        )
    m, s = table[parts[-1]]
    return TauPrior(f"{text.strip()} = lognormal_tau2({m:g},{s:g})", "lognormal_tau2", (m, s))
