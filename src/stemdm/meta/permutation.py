"""Permutation tests for (mixed-effects) meta-analysis models (Follmann & Proschan 1999;
Higgins & Thompson 2004), as metafor's ``permutest``.

* Intercept-only model: under H0 (mu = 0) the effects are symmetric about 0, so the reference
  distribution of the test statistic comes from flipping the signs of the y_i.
* Meta-regression: under H0 (no moderator effect) the moderators are exchangeable, so rows of
  the design matrix are permuted against (y_i, v_i); the QM statistic and each coefficient's
  test statistic are referred to their permutation distributions.

Exact when every sign pattern / distinct permutation fits within ``iterations``; otherwise a
random sample (the observed arrangement counted as the first). All refits go through the
vectorized engine at once (one batch of m analyses), not a Python loop.
p = share of arrangements whose |statistic| >= the observed one (less a tolerance of
sqrt(machine epsilon), as metafor, so that ties at the observed value count).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from stemdm.meta import core
from stemdm.meta.errors import MetaInputError
from stemdm.meta.model import MetaResult

COMPARISON_TOLERANCE = np.sqrt(np.finfo(float).eps)


def _statistics(batch: core.Batch, method: str, test: str, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Per analysis: the coefficients' test statistics (m, p) and the QM statistic (m,)."""
    tau2, converged = core.estimate_tau2(batch, method)
    if not converged.all():
        raise MetaInputError(f"{method} did not converge on {np.sum(~converged)} permuted data set(s)")
    inference = core.infer(batch, tau2, test, level)
    if batch.p == 1:
        return inference.stat, inference.stat[:, 0] ** 2
    b = inference.beta[:, 1:]
    V = inference.vb[:, 1:, 1:]
    qm = np.einsum("mp,mp->m", b, np.linalg.solve(V, b[..., None])[..., 0])
    if test != "z":
        qm = qm / (batch.p - 1)
    return inference.stat, qm


def _sign_flips(k: int, iterations: int, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    if 2**k <= iterations:
        grid = np.array(list(itertools.product((1.0, -1.0), repeat=k)))
        return grid, True
    signs = rng.choice((-1.0, 1.0), size=(iterations, k))
    signs[0] = 1.0
    return signs, False


def _row_permutations(X: np.ndarray, iterations: int, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    k = len(X)
    if math.factorial(k) <= 50 * iterations:
        orders = np.array(list(itertools.permutations(range(k))))
        permuted = X[orders]
        _, first = np.unique(permuted.reshape(len(orders), -1), axis=0, return_index=True)
        if len(first) <= iterations:
            distinct = orders[np.sort(first)]
            identity = np.all(distinct == np.arange(k), axis=1)
            return np.vstack([np.arange(k), distinct[~identity]]), True
    orders = np.array([rng.permutation(k) for _ in range(iterations)])
    orders[0] = np.arange(k)
    return orders, False


def permutation_test(result: MetaResult, iterations: int = 1000, seed: int | None = 0) -> dict[str, object]:
    """Permutation p-values of an inverse-variance model: {pval (per coefficient), qm_pval,
    exact, iterations}. ``seed`` makes the random version reproducible."""
    if result.pooling != "IV" or result.subgroups is not None:
        raise MetaInputError("permutation tests need an inverse-variance model without subgroups")
    if result.k < 3:
        raise MetaInputError("permutation tests need at least 3 studies")
    rng = np.random.default_rng(seed)
    y, v = result.effects.yi, result.effects.vi
    if result.X is None:
        signs, exact = _sign_flips(result.k, iterations, rng)
        batch = core.make_batch(signs * y, np.broadcast_to(v, signs.shape))
    else:
        orders, exact = _row_permutations(result.X, iterations, rng)
        m = len(orders)
        batch = core.make_batch(
            np.broadcast_to(y, (m, result.k)), np.broadcast_to(v, (m, result.k)), result.X[orders]
        )
    stats, qm = _statistics(batch, result.method, result.test, result.level)
    observed_stats, observed_qm = stats[0], qm[0]
    pval = np.mean(np.abs(stats) >= np.abs(observed_stats) - COMPARISON_TOLERANCE, axis=0)
    out = {
        "pval": [float(p) for p in pval],
        "exact": exact,
        "iterations": len(stats),
    }
    if result.X is not None:
        out["qm_pval"] = float(np.mean(qm >= observed_qm - COMPARISON_TOLERANCE))
    return out
