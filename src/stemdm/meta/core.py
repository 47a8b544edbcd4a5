"""Vectorized random-/mixed-effects engine: m meta-analyses at once, each with k studies and p
coefficients (p = 1 for the intercept-only model).

Arrays are shaped (m, k) for outcomes and variances and (m, k, p) for the design matrix; a boolean
``mask`` marks the real studies so that NaN-padded batches of differing k share one code path
(a padded study gets weight 0). Nothing here forms a k x k matrix: every quantity metafor gets
from the projection P = W - W X (X'WX)^-1 X'W is computed from its O(k p^2) identities, e.g.
y'Py = sum w r^2, y'PPy = sum w^2 r^2, tr(P) = sum w - tr(A^-1 X'W^2 X).

Estimators (formulas as in metafor's ``rma.uni``, Viechtbauer 2005, 2010):

* FE: tau^2 = 0.
* DL (DerSimonian & Laird 1986): (Q_FE - (k-p)) / tr(P_FE), truncated at 0.
* HE (Hedges 1983): (RSS_OLS - tr(P_OLS V)) / (k-p), truncated at 0.
* HS (Hunter & Schmidt 2004): (Q_FE - k) / sum w_FE, truncated at 0.
* SJ (Sidik & Jonkman 2005): t0 * Q(t0) / (k-p) with t0 = population variance of y.
* ML, REML (Viechtbauer 2005): roots of the likelihood score equations
  y'PPy = sum w (ML) or y'PPy = tr(P) (REML), by Fisher scoring from the HE estimate with
  step-halving, and a bracketing bisection fallback where scoring does not settle.
* EB (Morris 1983) and PM (Paule & Mandel 1982): the root of the generalized Q,
  y'P(t)y = k - p (EB's scoring fixed point is the PM root).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

ESTIMATORS = ("FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
TESTS = ("z", "knha", "adhoc")

#: Stopping rule on the change in tau^2: |change| <= TOL * (1 + tau^2).
TOL = 1e-12
MAX_SCORING_ITER = 500
MAX_BISECTION_ITER = 200


@dataclass
class Batch:
    """m meta-analyses, padded to a common k; ``mask`` marks real studies."""

    y: np.ndarray  # (m, k)
    v: np.ndarray  # (m, k)
    X: np.ndarray  # (m, k, p)
    mask: np.ndarray  # (m, k) bool

    @property
    def k(self) -> np.ndarray:
        return self.mask.sum(axis=1)

    @property
    def p(self) -> int:
        return self.X.shape[2]

    @property
    def df(self) -> np.ndarray:
        return self.k - self.p


def make_batch(y: np.ndarray, v: np.ndarray, X: np.ndarray | None = None) -> Batch:
    """A Batch from (m, k) arrays with NaN padding; X defaults to the intercept."""
    y = np.atleast_2d(np.asarray(y, dtype=float))
    v = np.atleast_2d(np.asarray(v, dtype=float))
    mask = np.isfinite(y) & np.isfinite(v)
    y = np.where(mask, y, 0.0)
    v = np.where(mask, v, 1.0)
    if X is None:
        X = np.ones(y.shape + (1,))
    X = np.asarray(X, dtype=float)
    if X.ndim == 2:
        X = np.broadcast_to(X, y.shape + (X.shape[1],))
    X = np.where(mask[..., None], X, 0.0)
    return Batch(y, v, X, mask)


@dataclass
class WLS:
    """Weighted least squares fit of every meta-analysis in a batch at given weights."""

    w: np.ndarray  # (m, k), zero for padding
    beta: np.ndarray  # (m, p)
    A_inv: np.ndarray  # (m, p, p) = (X'WX)^-1
    resid: np.ndarray  # (m, k)

    @property
    def rss(self) -> np.ndarray:
        """y'Py = sum w r^2 (the generalized Q statistic at these weights)."""
        return np.sum(self.w * self.resid**2, axis=1)


def wls(batch: Batch, w: np.ndarray) -> WLS:
    X = batch.X
    A = np.einsum("mkp,mk,mkq->mpq", X, w, X)
    A_inv = np.linalg.inv(A)
    Xwy = np.einsum("mkp,mk,mk->mp", X, w, batch.y)
    beta = np.einsum("mpq,mq->mp", A_inv, Xwy)
    resid = batch.y - np.einsum("mkp,mp->mk", X, beta)
    return WLS(w, beta, A_inv, np.where(batch.mask, resid, 0.0))


def weights(batch: Batch, tau2: np.ndarray) -> np.ndarray:
    return batch.mask / (batch.v + np.asarray(tau2)[:, None])


def _trace_ainv_xwx(batch: Batch, fit: WLS, w_power: np.ndarray) -> np.ndarray:
    """tr(A^-1 X' diag(w_power) X), the pieces of tr(P) and tr(PP)."""
    B = np.einsum("mkp,mk,mkq->mpq", batch.X, w_power, batch.X)
    return np.einsum("mpq,mqp->m", fit.A_inv, B)


def trace_P(batch: Batch, fit: WLS) -> np.ndarray:
    return fit.w.sum(axis=1) - _trace_ainv_xwx(batch, fit, fit.w**2)


def trace_PP(batch: Batch, fit: WLS) -> np.ndarray:
    w = fit.w
    B2 = np.einsum("mkp,mk,mkq->mpq", batch.X, w**2, batch.X)
    C = np.einsum("mpq,mqr->mpr", fit.A_inv, B2)
    return (
        np.sum(w**2, axis=1)
        - 2 * _trace_ainv_xwx(batch, fit, w**3)
        + np.einsum("mpq,mqp->m", C, C)
    )


def q_generalized(batch: Batch, tau2: np.ndarray) -> np.ndarray:
    """Generalized Q: y'P(tau^2)y, decreasing in tau^2."""
    return wls(batch, weights(batch, tau2)).rss


# --- closed-form estimators -------------------------------------------------------------------


def tau2_dl(batch: Batch) -> np.ndarray:
    fit = wls(batch, weights(batch, np.zeros(len(batch.y))))
    return np.maximum(0.0, (fit.rss - batch.df) / trace_P(batch, fit))


def tau2_he(batch: Batch) -> np.ndarray:
    ols = wls(batch, batch.mask.astype(float))
    tr_pv = np.sum(batch.mask * batch.v, axis=1) - _trace_ainv_xwx(
        batch, ols, batch.mask * batch.v
    )
    return np.maximum(0.0, (ols.rss - tr_pv) / batch.df)


def tau2_hs(batch: Batch) -> np.ndarray:
    fit = wls(batch, weights(batch, np.zeros(len(batch.y))))
    return np.maximum(0.0, (fit.rss - batch.k) / fit.w.sum(axis=1))


def tau2_sj(batch: Batch) -> np.ndarray:
    k = batch.k
    mean = np.sum(batch.y * batch.mask, axis=1) / k
    tau2_start = np.sum(batch.mask * (batch.y - mean[:, None]) ** 2, axis=1) / k
    return tau2_start * q_generalized(batch, tau2_start) / batch.df


# --- iterative estimators ---------------------------------------------------------------------


def _score_and_information(batch: Batch, tau2: np.ndarray, method: str):
    """Estimating-equation value g(tau^2) (root = estimate) and Fisher information for scoring."""
    fit = wls(batch, weights(batch, tau2))
    w = fit.w
    if method == "ML":
        score = np.sum(w**2 * fit.resid**2, axis=1) - w.sum(axis=1)
        info = np.sum(w**2, axis=1)
    elif method == "REML":
        score = np.sum(w**2 * fit.resid**2, axis=1) - trace_P(batch, fit)
        info = trace_PP(batch, fit)
    else:  # EB / PM: generalized Q equals its degrees of freedom; Newton step on Q
        score = fit.rss - batch.df
        info = np.sum(w**2 * fit.resid**2, axis=1)  # -dQ/dtau^2 = y'PPy
    return score, info


def _upper_bracket(batch: Batch, method: str, start: np.ndarray) -> np.ndarray:
    """An upper bound where the estimating equation is negative, by doubling."""
    upper = np.maximum(np.maximum(start, 1.0) * 2, 100.0)
    for _ in range(200):
        score, _ = _score_and_information(batch, upper, method)
        high = score > 0
        if not high.any():
            break
        upper = np.where(high, upper * 4, upper)
    return upper


def _bisect(batch: Batch, method: str, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Vectorized bisection of g on [lower, upper] where g(lower) > 0 > g(upper)."""
    for _ in range(MAX_BISECTION_ITER):
        mid = 0.5 * (lower + upper)
        score, _ = _score_and_information(batch, mid, method)
        positive = score > 0
        lower = np.where(positive, mid, lower)
        upper = np.where(positive, upper, mid)
        if np.all(upper - lower <= TOL * (1 + upper)):
            break
    return 0.5 * (lower + upper)


def tau2_iterative(batch: Batch, method: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ML, REML, EB or PM: (tau2, converged, iterations).

    Step-halving Fisher scoring (metafor's algorithm) from the HE estimate; a zero estimate when
    the estimating equation is already non-positive at tau^2 = 0 (the likelihood falls from the
    boundary); bisection on a doubling bracket for analyses where scoring did not settle.
    """
    m = len(batch.y)
    score0, _ = _score_and_information(batch, np.zeros(m), method)
    at_boundary = score0 <= 0
    tau2 = np.where(at_boundary, 0.0, tau2_he(batch))
    done = at_boundary.copy()
    iterations = np.zeros(m, dtype=int)
    for _ in range(MAX_SCORING_ITER):
        if done.all():
            break
        score, info = _score_and_information(batch, tau2, method)
        step = score / info
        proposal = tau2 + step
        # step-halving keeps tau^2 inside the parameter space
        proposal = np.where(proposal < 0, tau2 / 2, proposal)
        change = np.abs(proposal - tau2)
        tau2 = np.where(done, tau2, proposal)
        iterations += ~done
        done |= change <= TOL * (1 + tau2)
    failed = ~done | ~np.isfinite(tau2)
    if failed.any():
        sub = _subset(batch, failed)
        upper = _upper_bracket(sub, method, np.where(np.isfinite(tau2[failed]), tau2[failed], 1.0))
        tau2[failed] = _bisect(sub, method, np.zeros(failed.sum()), upper)
    score, _ = _score_and_information(batch, tau2, method)
    scale = np.abs(score0) + 1.0
    converged = at_boundary | (np.abs(score) <= 1e-6 * scale) | (tau2 == 0)
    return tau2, converged & np.isfinite(tau2), iterations


def _subset(batch: Batch, rows: np.ndarray) -> Batch:
    return Batch(batch.y[rows], batch.v[rows], batch.X[rows], batch.mask[rows])


def estimate_tau2(batch: Batch, method: str) -> tuple[np.ndarray, np.ndarray]:
    """tau^2 of each meta-analysis by ``method``: (tau2, converged)."""
    m = len(batch.y)
    closed_form = {"DL": tau2_dl, "HE": tau2_he, "HS": tau2_hs, "SJ": tau2_sj}
    if method == "FE":
        return np.zeros(m), np.ones(m, dtype=bool)
    if method in closed_form:
        return closed_form[method](batch), np.ones(m, dtype=bool)
    if method in ("ML", "REML", "EB", "PM"):
        tau2, converged, _ = tau2_iterative(batch, "PM" if method == "EB" else method)
        return tau2, converged
    raise ValueError(f"unknown method {method!r}")


# --- Q-profile interval -----------------------------------------------------------------------


def solve_q_equals(batch: Batch, target: np.ndarray) -> np.ndarray:
    """tau^2 where the generalized Q equals ``target`` (0 where Q(0) <= target).

    Safeguarded Newton from the left (dQ/dtau^2 = -y'PPy) inside a bisection bracket.
    """
    m = len(batch.y)
    lower = np.zeros(m)
    q0 = q_generalized(batch, lower)
    none = q0 <= target
    upper = np.full(m, 100.0)
    for _ in range(200):
        high = (q_generalized(batch, upper) > target) & ~none
        if not high.any():
            break
        upper = np.where(high, upper * 4, upper)
    tau2 = lower.copy()
    for _ in range(MAX_BISECTION_ITER):
        fit = wls(batch, weights(batch, tau2))
        value = fit.rss - target
        slope = np.sum(fit.w**2 * fit.resid**2, axis=1)
        lower = np.where(value > 0, tau2, lower)
        upper = np.where(value > 0, upper, tau2)
        newton = tau2 + value / np.where(slope > 0, slope, np.inf)
        inside = (newton > lower) & (newton < upper)
        proposal = np.where(inside, newton, 0.5 * (lower + upper))
        change = np.abs(proposal - tau2)
        tau2 = np.where(none, 0.0, proposal)
        if np.all(none | (change <= TOL * (1 + tau2))):
            break
    return tau2


def tau2_ci_qprofile(batch: Batch, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Q-profile confidence interval for tau^2 (Viechtbauer 2007, Stat Med 26:37-52)."""
    alpha = 1 - level / 100
    df = batch.df
    lower = solve_q_equals(batch, stats.chi2.ppf(1 - alpha / 2, df))
    upper = solve_q_equals(batch, stats.chi2.ppf(alpha / 2, df))
    return lower, upper


# --- inference given tau^2 --------------------------------------------------------------------


@dataclass
class Inference:
    beta: np.ndarray  # (m, p)
    vb: np.ndarray  # (m, p, p)
    se: np.ndarray  # (m, p)
    stat: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    crit: np.ndarray  # (m,) critical value used for CIs and prediction intervals
    dist_df: np.ndarray  # (m,) t degrees of freedom (inf for z)
    weights: np.ndarray  # (m, k) model weights 1/(v + tau^2)
    s2w: np.ndarray  # (m,) Knapp-Hartung scale factor (1 under z)


def infer(batch: Batch, tau2: np.ndarray, test: str, level: float) -> Inference:
    """Coefficients, SEs, tests and CIs at tau^2 (Wald z, or Knapp & Hartung 2003 t)."""
    fit = wls(batch, weights(batch, tau2))
    alpha = 1 - level / 100
    s2w = np.ones(len(batch.y))
    if test in ("knha", "adhoc"):
        s2w = fit.rss / batch.df
        s2w = np.where(fit.rss <= np.finfo(float).eps, 0.0, s2w)
        if test == "adhoc":  # never below the unadjusted SE (Jackson et al. 2017)
            s2w = np.maximum(1.0, s2w)
        dist_df = batch.df.astype(float)
        crit = stats.t.ppf(1 - alpha / 2, dist_df)
    else:
        dist_df = np.full(len(batch.y), np.inf)
        crit = np.full(len(batch.y), stats.norm.ppf(1 - alpha / 2))
    vb = fit.A_inv * s2w[:, None, None]
    se = np.sqrt(np.einsum("mpp->mp", vb))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = fit.beta / se
    if test == "z":
        pval = 2 * stats.norm.sf(np.abs(stat))
    else:
        pval = 2 * stats.t.sf(np.abs(stat), dist_df[:, None])
    return Inference(
        beta=fit.beta,
        vb=vb,
        se=se,
        stat=stat,
        pval=pval,
        ci_lb=fit.beta - crit[:, None] * se,
        ci_ub=fit.beta + crit[:, None] * se,
        crit=crit,
        dist_df=dist_df,
        weights=fit.w,
        s2w=s2w,
    )


@dataclass
class Heterogeneity:
    q: np.ndarray
    q_df: np.ndarray
    q_pval: np.ndarray
    typical_v: np.ndarray  # metafor's "vt": (k-p)/tr(P_FE)
    i2: np.ndarray
    h2: np.ndarray


def heterogeneity(batch: Batch, tau2: np.ndarray, method: str) -> Heterogeneity:
    """Cochran's Q (common-effect weights), I^2 and H^2 (Higgins & Thompson 2002).

    Random effects: I^2 = 100 tau^2/(tau^2 + vt), H^2 = tau^2/vt + 1 with vt = (k-p)/tr(P_FE),
    as metafor; common effect: I^2 = 100 (Q - df)/Q truncated at 0, H^2 = Q/df.
    """
    fit = wls(batch, weights(batch, np.zeros(len(batch.y))))
    q = fit.rss
    df = batch.df
    typical_v = df / trace_P(batch, fit)
    if method == "FE":
        with np.errstate(divide="ignore", invalid="ignore"):
            i2 = np.where(q > 0, np.maximum(0.0, 100 * (q - df) / q), 0.0)
            h2 = q / df
    else:
        i2 = 100 * tau2 / (typical_v + tau2)
        h2 = tau2 / typical_v + 1
    return Heterogeneity(q, df, stats.chi2.sf(q, df), typical_v, i2, h2)


def i2_from_tau2(tau2: np.ndarray, typical_v: np.ndarray) -> np.ndarray:
    return 100 * tau2 / (typical_v + tau2)


def h2_from_tau2(tau2: np.ndarray, typical_v: np.ndarray) -> np.ndarray:
    return tau2 / typical_v + 1
