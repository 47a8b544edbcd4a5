"""Bayesian random-effects meta-analysis: the normal-normal hierarchical model computed by quadrature.

Model (Röver 2020, J Stat Softw 93(6); Friede et al. 2017, Res Synth Methods 8:79):
y_i ~ N(theta_i, sigma_i^2), theta_i ~ N(mu, tau^2), priors p(tau) (``stemdm.meta.priors``) and p(mu)
uniform or normal(m0, s0^2).

Given tau everything is normal: with w_i = 1 / (sigma_i^2 + tau^2) and W = sum w_i (+ 1/s0^2), the
conditional posterior is mu | tau, y ~ N(mu_hat(tau), 1/W), mu_hat = (sum w_i y_i (+ m0/s0^2)) / W, and the
marginal likelihood of tau is prod (sigma_i^2 + tau^2)^(-1/2) W^(-1/2)
exp(-(sum w_i y_i^2 (+ m0^2/s0^2) - W mu_hat^2) / 2) (times 1/s0 under a normal prior). So the marginal
posterior of tau is one-dimensional: it is integrated by composite Gauss-Legendre quadrature in u, with
tau = c u / (1 - u) (or linear on a finite support), the panels doubled until the normalising constant and
the posterior mean of mu agree to 1e-10 relative. The posteriors of mu, of a new study's true effect
(mu + N(0, tau^2)) and of each study's true effect are then finite normal mixtures over the nodes;
quantiles are roots of the mixture CDF. No MCMC, no sampling noise.

Improper priors are allowed only where the posterior is proper: the likelihood of tau decays like tau^-(k-1)
(uniform mu) or tau^-k (normal mu), so a prior with tail tau^a needs a - (k-1) < -1 (resp. a - k < -1);
otherwise the fit is refused with the reason (e.g. k = 1 with a Jeffreys prior).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special

from stemdm import NOT_MEDICAL_ADVICE
from stemdm.meta.effects import RATIO_MEASURES, StudyEffects, compute_effects
from stemdm.meta.errors import ConvergenceError, MetaInputError
from stemdm.meta.priors import MuPrior, TauPrior, parse_mu_prior, parse_tau_prior

NODES_PER_PANEL = 20
FIRST_PANELS = 8
MAX_PANELS = 2048
RELATIVE_TOLERANCE = 1e-10
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(NODES_PER_PANEL)


@dataclass
class _Grid:
    """Quadrature nodes in tau with normalised posterior weights, and the conditional moments of mu."""

    tau: np.ndarray
    weight: np.ndarray
    mu_hat: np.ndarray
    mu_var: np.ndarray
    panels: int
    log_evidence: float
    scale: float


@dataclass
class BayesResult:
    """A fitted Bayesian random-effects model (see module docstring). Numbers are on the analysis scale (log
    for ratio measures)."""

    effects: StudyEffects
    tau_prior: TauPrior
    mu_prior: MuPrior
    level: float
    grid: _Grid = field(repr=False)

    @property
    def k(self) -> int:
        return self.effects.k

    # -- marginal posteriors -------------------------------------------------------------------------------

    def mu_cdf(self, x: float) -> float:
        """P(mu <= x | y)."""
        g = self.grid
        return float(np.sum(g.weight * special.ndtr((x - g.mu_hat) / np.sqrt(g.mu_var))))

    def predictive_cdf(self, x: float) -> float:
        """P(theta_new <= x | y), theta_new ~ N(mu, tau^2) the true effect of a new study."""
        g = self.grid
        return float(np.sum(g.weight * special.ndtr((x - g.mu_hat) / np.sqrt(g.mu_var + g.tau**2))))

    def tau_cdf(self, t: float) -> float:
        """P(tau <= t | y): the whole panels below u(t) from the fitted weights, plus one Gauss-Legendre
        panel over the rest (the quadrature the fit converged with, in u)."""
        prior, grid = self.tau_prior, self.grid
        if t <= prior.lower:
            return 0.0
        if t >= prior.upper:
            return 1.0
        u_t = _u_of_tau(t, prior, grid.scale)
        whole = int(u_t * grid.panels)
        below = float(np.sum(grid.weight[: whole * NODES_PER_PANEL]))
        start = whole / grid.panels
        if u_t <= start:
            return min(1.0, below)
        nodes, weights = _panel_nodes(1, prior, grid.scale, u_t, start)
        log_post, _, _ = _log_posterior(nodes, self.effects, prior, self.mu_prior)
        return float(min(1.0, below + np.sum(weights * np.exp(log_post - grid.log_evidence))))

    def mu_quantile(self, p: float) -> float:
        g = self.grid
        spread = np.sqrt(g.mu_var)
        return _quantile(
            self.mu_cdf, p, float(np.min(g.mu_hat - 60 * spread)), float(np.max(g.mu_hat + 60 * spread))
        )

    def predictive_quantile(self, p: float) -> float:
        g = self.grid
        spread = np.sqrt(g.mu_var + g.tau**2)
        low, high = float(np.min(g.mu_hat - 60 * spread)), float(np.max(g.mu_hat + 60 * spread))
        return _quantile(self.predictive_cdf, p, low, high)

    def tau_quantile(self, p: float) -> float:
        low = self.tau_prior.lower
        high = self.tau_prior.upper if math.isfinite(self.tau_prior.upper) else float(np.max(self.grid.tau))
        return _quantile(self.tau_cdf, p, low, high)

    def prob_beyond(self, threshold: float, direction: str = "below") -> float:
        """Posterior probability that mu lies below (or above) ``threshold`` (analysis scale)."""
        if direction not in ("below", "above"):
            raise MetaInputError("direction must be 'below' or 'above'", field="direction")
        below = self.mu_cdf(threshold)
        return below if direction == "below" else 1.0 - below

    def shrinkage_means(self) -> np.ndarray:
        """Posterior means of each study's true effect theta_i (input order): y_i - B_i (y_i - mu_hat), with
        B_i = sigma_i^2 / (sigma_i^2 + tau^2), averaged over the posterior of tau."""
        g, y, v = self.grid, self.effects.yi, self.effects.vi
        shrink = v[None, :] / (v[None, :] + g.tau[:, None] ** 2)
        means = y[None, :] - shrink * (y[None, :] - g.mu_hat[:, None])
        return g.weight @ means

    # -- reports -----------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The issue-9 keys: k, mu (mean, median, central interval), tau (median, interval), the predictive
        interval of a new study's true effect, P(mu < 0), P(mu > 0), shrinkage means, the priors."""
        alpha = (1 - self.level / 100) / 2
        below0 = self.mu_cdf(0.0)
        return {
            "k": self.k,
            "measure": self.effects.measure,
            "level": self.level,
            "mu_mean": float(np.sum(self.grid.weight * self.grid.mu_hat)),
            "mu_median": self.mu_quantile(0.5),
            "mu_ci_lb": self.mu_quantile(alpha),
            "mu_ci_ub": self.mu_quantile(1 - alpha),
            "tau_median": self.tau_quantile(0.5),
            "tau_ci_lb": self.tau_quantile(alpha),
            "tau_ci_ub": self.tau_quantile(1 - alpha),
            "pred_lb": self.predictive_quantile(alpha),
            "pred_ub": self.predictive_quantile(1 - alpha),
            "prob_mu_below_0": below0,
            "prob_mu_above_0": 1.0 - below0,
            "shrink_mean": [float(x) for x in self.shrinkage_means()],
            "tau_prior": self.tau_prior.text,
            "mu_prior": self.mu_prior.text,
        }

    def summary(self) -> str:
        """The posterior in words and numbers (ratios back-transformed), the priors, the disclaimer."""
        d = self.to_dict()
        show = math.exp if self.effects.measure in RATIO_MEASURES else (lambda x: x)
        scale = (
            f"{self.effects.measure} (exp)"
            if self.effects.measure in RATIO_MEASURES
            else self.effects.measure
        )
        return "\n".join(
            [
                f"Bayesian random-effects meta-analysis, k = {self.k} ({scale})",
                f"priors: tau ~ {self.tau_prior.text}; mu ~ {self.mu_prior.text}",
                f"mu: median {show(d['mu_median']):.4g}, {self.level:g}% credible interval "
                f"[{show(d['mu_ci_lb']):.4g}, {show(d['mu_ci_ub']):.4g}]",
                f"tau: median {d['tau_median']:.4g} [{d['tau_ci_lb']:.4g}, {d['tau_ci_ub']:.4g}]",
                f"new study's true effect: [{show(d['pred_lb']):.4g}, {show(d['pred_ub']):.4g}]",
                f"P(mu < 0) = {d['prob_mu_below_0']:.4g}; P(mu > 0) = {d['prob_mu_above_0']:.4g}",
                NOT_MEDICAL_ADVICE,
            ]
        )


def bayes(
    data: pd.DataFrame,
    measure: str = "GEN",
    tau_prior: str = "halfnormal(0.5)",
    mu_prior: str | None = None,
    level: float = 95,
    *,
    add: float = 0.5,
    to: str = "only0",
) -> BayesResult:
    """Fit the Bayesian normal-normal random-effects model to ``data`` (metafor's column names, as
    :func:`stemdm.meta.fit`). Priors as strings (``stemdm.meta.priors``); ``level`` in percent."""
    if not (isinstance(level, int | float) and 0 < level < 100):
        raise MetaInputError(f"level must be between 0 and 100 (got {level})", field="level")
    effects = compute_effects(data, measure, add=add, to=to)
    return bayes_effects(effects, parse_tau_prior(tau_prior), parse_mu_prior(mu_prior), level)


def bayes_effects(
    effects: StudyEffects, tau_prior: TauPrior, mu_prior: MuPrior, level: float = 95
) -> BayesResult:
    """The model for already computed study effects."""
    _require_proper(effects.k, tau_prior, mu_prior)
    return BayesResult(effects, tau_prior, mu_prior, level, _integrate(effects, tau_prior, mu_prior))


def _require_proper(k: int, tau_prior: TauPrior, mu_prior: MuPrior) -> None:
    if k < 1:
        raise MetaInputError("no studies to analyse")
    if tau_prior.proper:
        return
    likelihood_tail = -k if mu_prior.proper else -(k - 1)
    if (tau_prior.tail or 0.0) + likelihood_tail >= -1:
        needed = "more studies" if mu_prior.proper else "more studies or a normal prior on mu"
        raise MetaInputError(
            f"the posterior is improper: with k = {k}, the improper tau prior {tau_prior.text!r} and a "
            f"{'normal' if mu_prior.proper else 'uniform'} prior on mu, p(tau | y) does not integrate; use a "
            f"proper tau prior (e.g. halfnormal(0.5)) or {needed}",
            field="tau_prior",
        )


def _log_posterior(
    tau: np.ndarray, effects: StudyEffects, tau_prior: TauPrior, mu_prior: MuPrior
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unnormalised log p(tau | y) at each tau, with mu_hat(tau) and Var(mu | tau, y)."""
    y, v = effects.yi, effects.vi
    total = v[None, :] + tau[:, None] ** 2
    w = 1.0 / total
    W, S, Q = w.sum(axis=1), (w * y).sum(axis=1), (w * y * y).sum(axis=1)
    log_lik = -0.5 * np.log(total).sum(axis=1)
    if mu_prior.proper:
        precision = 1.0 / mu_prior.sd**2
        W, S, Q = W + precision, S + precision * mu_prior.mean, Q + precision * mu_prior.mean**2
        log_lik -= math.log(mu_prior.sd)
    mu_hat = S / W
    log_lik += -0.5 * np.log(W) - 0.5 * (Q - S * mu_hat)
    return tau_prior.log_density(tau, v) + log_lik, mu_hat, 1.0 / W


def _panel_nodes(
    panels: int, prior: TauPrior, scale: float, u_end: float = 1.0, u_start: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss-Legendre nodes in u over [u_start, u_end], mapped to tau on the prior's support: linear
    on a finite one, tau = lower + scale u / (1 - u) on an infinite one; weights include d tau / d u."""
    edges = np.linspace(u_start, u_end, panels + 1)
    half = (edges[1:] - edges[:-1])[:, None] / 2
    u = ((edges[1:] + edges[:-1])[:, None] / 2 + half * _GL_NODES[None, :]).ravel()
    weights = (half * _GL_WEIGHTS[None, :]).ravel()
    if math.isfinite(prior.upper):
        width = prior.upper - prior.lower
        return prior.lower + width * u, weights * width
    return prior.lower + scale * u / (1 - u), weights * scale / (1 - u) ** 2


def _u_of_tau(tau: float, prior: TauPrior, scale: float) -> float:
    if math.isfinite(prior.upper):
        return (tau - prior.lower) / (prior.upper - prior.lower)
    x = (tau - prior.lower) / scale
    return x / (1 + x)


def _integrate(effects: StudyEffects, tau_prior: TauPrior, mu_prior: MuPrior) -> _Grid:
    """Nodes and normalised weights, the panels doubled until Z and E[mu] are stable (module docstring)."""
    scale = _tau_scale(effects, tau_prior)
    previous: tuple[float, float] | None = None
    panels = FIRST_PANELS
    while panels <= MAX_PANELS:
        tau, weights = _panel_nodes(panels, tau_prior, scale)
        log_post, mu_hat, mu_var = _log_posterior(tau, effects, tau_prior, mu_prior)
        keep = np.isfinite(log_post) & (weights > 0)
        if not keep.any():
            raise ConvergenceError(
                "the posterior of tau has no mass the quadrature can see; check the priors"
            )
        top = float(np.max(log_post[keep]))
        mass = np.where(keep, weights * np.exp(np.where(keep, log_post, top) - top), 0.0)
        evidence = float(np.sum(mass))
        mean = float(np.sum(mass * mu_hat) / evidence)
        current = (math.log(evidence) + top, mean)
        if previous is not None and _close(previous, current, mu_var, mass / evidence):
            return _Grid(tau, mass / evidence, mu_hat, mu_var, panels, current[0], scale)
        previous = current
        panels *= 2
    raise ConvergenceError(
        "the posterior of tau could not be integrated to 1e-10 (too concentrated or too wide)"
    )


def _close(previous: tuple[float, float], current: tuple[float, float], mu_var, weight) -> bool:
    spread = math.sqrt(float(np.sum(weight * mu_var)))
    same_evidence = abs(previous[0] - current[0]) < RELATIVE_TOLERANCE * 10
    same_mean = abs(previous[1] - current[1]) <= RELATIVE_TOLERANCE * max(abs(current[1]), spread)
    return same_evidence and same_mean


def _tau_scale(effects: StudyEffects, tau_prior: TauPrior) -> float:
    """Where the mass of tau lies, roughly: the prior's scale or the studies' SEs (for the u-mapping)."""
    typical = float(np.sqrt(np.median(effects.vi)))
    if tau_prior.family in ("halfnormal", "halfcauchy"):
        return max(min(tau_prior.params[0], 10 * typical), typical / 10)
    if tau_prior.family == "halft":
        return max(min(tau_prior.params[1], 10 * typical), typical / 10)
    if tau_prior.family == "lognormal_tau2":
        return max(min(math.exp(tau_prior.params[0] / 2), 10 * typical), typical / 10)
    return typical


def _quantile(cdf, p: float, low: float, high: float) -> float:
    if not 0 < p < 1:
        raise MetaInputError(f"probability must be in (0, 1), got {p}")
    return float(optimize.brentq(lambda x: cdf(x) - p, low, high, xtol=1e-14, rtol=1e-13, maxiter=500))
