"""Figures of a Bayesian random-effects fit (matplotlib; .png, .svg or .pdf by extension):

- ``bayes_forest_plot``: each study's own estimate and CI beside its shrinkage estimate (posterior mean and
  central interval of its true effect), the pooled mu and the predictive interval of a new study.
- ``bayes_density_plot``: prior and posterior densities of tau and of mu (an improper prior is said, not
  drawn).
Ratio measures are shown back-transformed on a log axis.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy import special, stats

from stemdm.meta.bayes import BayesResult
from stemdm.meta.effects import RATIO_MEASURES
from stemdm.meta.plots import _check_path, _require_plottable, _save, plain_text, plt


@plain_text
def bayes_forest_plot(result: BayesResult, path: str | Path) -> Path:
    """Observed estimates (open squares, z-based CIs) beside shrinkage estimates (filled dots, credible
    intervals) per study; the pooled mu as a diamond and the predictive interval as a bar."""
    _require_plottable(result, "forest plot")
    path = _check_path(path)
    d = result.to_dict()
    alpha = (1 - result.level / 100) / 2
    z = float(stats.norm.ppf(1 - alpha))
    y, se = result.effects.yi, np.sqrt(result.effects.vi)
    shrink_lb, shrink_ub = _shrinkage_intervals(result, alpha)
    k = result.k
    fig, ax = plt.subplots(figsize=(8, 1.6 + 0.42 * (k + 3)))
    rows = np.arange(k, 0, -1) + 2
    ax.errorbar(y, rows + 0.15, xerr=[y - (y - z * se), z * se], fmt="s", mfc="white", color="#555555",
                label="study estimate", capsize=2)  # fmt: skip
    means = np.array(d["shrink_mean"])
    ax.errorbar(means, rows - 0.15, xerr=[means - shrink_lb, shrink_ub - means], fmt="o", color="#1f5fa8",
                label="shrinkage estimate", capsize=2)  # fmt: skip
    diamond_x = [d["mu_ci_lb"], d["mu_median"], d["mu_ci_ub"], d["mu_median"]]
    ax.fill(diamond_x, [1.5, 1.8, 1.5, 1.2], color="black", label=f"mu ({result.level:g}% credible interval)")
    ax.plot([d["pred_lb"], d["pred_ub"]], [0.7, 0.7], color="#b22222", lw=3, label="predictive interval")
    ax.axvline(0, color="#888888", lw=0.8)
    ax.set_yticks([*rows, 1.5, 0.7], [*result.effects.study, "mu", "new study"])
    _axis_scale(ax, result)
    ax.set_title(
        f"Bayesian random effects: tau ~ {result.tau_prior.text}; mu ~ {result.mu_prior.text}", fontsize=9
    )
    ax.legend(fontsize=7, loc="best")
    fig.subplots_adjust(bottom=0.12, left=0.25)
    return _save(fig, path)


@plain_text
def bayes_density_plot(result: BayesResult, path: str | Path) -> Path:
    """Prior (dashed) and posterior (solid) densities of tau (left) and mu (right)."""
    path = _check_path(path)
    fig, (ax_tau, ax_mu) = plt.subplots(1, 2, figsize=(10, 4))
    tau_top = result.tau_quantile(0.995)
    tau = np.linspace(max(result.tau_prior.lower, 1e-9 * tau_top), tau_top, 400)
    from stemdm.meta.bayes import _log_posterior

    log_post, _, _ = _log_posterior(tau, result.effects, result.tau_prior, result.mu_prior)
    ax_tau.plot(tau, np.exp(log_post - result.grid.log_evidence), color="#1f5fa8", label="posterior")
    if result.tau_prior.proper:
        ax_tau.plot(tau, np.exp(result.tau_prior.log_density(tau, result.effects.vi)), "--", color="#555555",
                    label=f"prior {result.tau_prior.text}")  # fmt: skip
    else:
        ax_tau.text(0.98, 0.95, f"prior {result.tau_prior.text}: improper, not drawn", ha="right", va="top",
                    transform=ax_tau.transAxes, fontsize=7)  # fmt: skip
    ax_tau.set_xlabel("tau (between-study SD, analysis scale)")
    mu = np.linspace(result.mu_quantile(0.001), result.mu_quantile(0.999), 400)
    g = result.grid
    density = np.sum(
        g.weight[:, None] * stats.norm.pdf(mu[None, :], g.mu_hat[:, None], np.sqrt(g.mu_var)[:, None]), 0
    )
    ax_mu.plot(mu, density, color="#1f5fa8", label="posterior")
    if result.mu_prior.proper:
        ax_mu.plot(mu, stats.norm.pdf(mu, result.mu_prior.mean, result.mu_prior.sd), "--", color="#555555",
                   label=f"prior {result.mu_prior.text}")  # fmt: skip
    else:
        ax_mu.text(0.98, 0.95, "prior: uniform (improper), not drawn", ha="right", va="top",
                   transform=ax_mu.transAxes, fontsize=7)  # fmt: skip
    ax_mu.axvline(0, color="#888888", lw=0.8)
    ax_mu.set_xlabel(f"mu ({result.effects.measure}, analysis scale)")
    for ax in (ax_tau, ax_mu):
        ax.set_ylabel("density")
        ax.legend(fontsize=7, loc="upper left")
    fig.subplots_adjust(bottom=0.18, wspace=0.3)
    return _save(fig, path)


def _shrinkage_intervals(result: BayesResult, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Central intervals of each study's true effect: quantiles of the normal mixture over the tau nodes."""
    from scipy import optimize

    g, y, v = result.grid, result.effects.yi, result.effects.vi
    lower, upper = [], []
    for i in range(result.k):
        tau2 = g.tau**2
        shrink = v[i] / (v[i] + tau2)
        mean = y[i] - shrink * (y[i] - g.mu_hat)
        var = np.where(tau2 > 0, 1 / (1 / v[i] + 1 / np.maximum(tau2, 1e-300)), 0.0) + shrink**2 * g.mu_var
        sd = np.sqrt(np.maximum(var, 1e-300))

        def cdf(x: float, mean=mean, sd=sd) -> float:
            return float(np.sum(g.weight * special.ndtr((x - mean) / sd)))

        low, high = float(np.min(mean - 40 * sd)), float(np.max(mean + 40 * sd))
        lower.append(optimize.brentq(lambda x: cdf(x) - alpha, low, high))
        upper.append(optimize.brentq(lambda x: cdf(x) - (1 - alpha), low, high))
    return np.array(lower), np.array(upper)


def _axis_scale(ax, result: BayesResult) -> None:
    if result.effects.measure not in RATIO_MEASURES:
        ax.set_xlabel(f"{result.effects.measure}")
        return
    ticks = ax.get_xticks()
    ax.set_xticks(ticks, [f"{math.exp(t):.2g}" for t in ticks])
    ax.set_xlabel(f"{result.effects.measure} (log scale, back-transformed)")
