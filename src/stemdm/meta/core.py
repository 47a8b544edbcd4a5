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
  y'PPy = sum w (ML) or y'PPy = tr(P) (REML).
* EB (Morris 1983) and PM (Paule & Mandel 1982): the root of the generalized Q,
  y'P(t)y = k - p (EB's scoring fixed point is the PM root).

Root finding (iterative estimators and Q-profile bounds) is one safeguarded Newton iteration:
Newton steps with the exact derivative where it is available (intercept-only models), Fisher
scoring steps otherwise, kept inside a bracket [lo, hi] that every evaluation narrows, and
bisection of that bracket whenever a step would leave it. It therefore converges wherever a
sign change exists, including data on which metafor's plain Fisher scoring gives up. The
(restricted) likelihood can be bimodal: where ML/REML land on the boundary tau^2 = 0, a grid
search looks for a higher interior maximum (``_interior_maximum``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

ESTIMATORS = ("FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
TESTS = ("z", "knha", "adhoc")

#: Stopping rule on the change in tau^2: |change| <= TOL * (1 + tau^2).
TOL = 1e-12
MAX_SCORING_ITER = 500


@dataclass
class Batch:
    """m meta-analyses, padded to a common k; ``mask`` marks real studies."""

    y: np.ndarray  # (m, k)
    v: np.ndarray  # (m, k)
    X: np.ndarray  # (m, k, p)
    mask: np.ndarray  # (m, k) bool
    intercept_only: bool = False

    @property
    def k(self) -> np.ndarray:
        return self.mask.sum(axis=1)

    @property
    def p(self) -> int:
        return self.X.shape[2]

    @property
    def df(self) -> np.ndarray:
        return self.k - self.p


def per_df(function, df: np.ndarray, *args) -> np.ndarray:
    """A scipy.special function of the degrees of freedom, computed once per distinct df
    (batches share a handful of k values; these functions are costly per element)."""
    if len(df) < 64:
        return function(df, *args)
    unique, index = np.unique(df, return_inverse=True)
    return function(unique, *args)[index]


def rowsum(a: np.ndarray) -> np.ndarray:
    """Sum over studies (axis 1). For large batches a BLAS matrix-vector product, several times
    faster than ``a.sum(axis=1)`` on the short rows (k ~ 10) of simulation studies."""
    if a.shape[0] < 64:
        return np.add.reduce(a, axis=1)
    return a @ np.ones(a.shape[1])


def make_batch(y: np.ndarray, v: np.ndarray, X: np.ndarray | None = None) -> Batch:
    """A Batch from (m, k) arrays with NaN padding; X defaults to the intercept.

    Padded studies get y = 0 and v = inf, so that their weight 1/(v + tau^2) is exactly 0.
    """
    y = np.atleast_2d(np.asarray(y, dtype=float))
    v = np.atleast_2d(np.asarray(v, dtype=float))
    mask = np.isfinite(y) & np.isfinite(v)
    y = np.where(mask, y, 0.0)
    v = np.where(mask, v, np.inf)
    intercept_only = X is None
    if X is None:
        X = np.ones(y.shape + (1,))
    X = np.asarray(X, dtype=float)
    if X.ndim == 2:
        X = np.broadcast_to(X, y.shape + (X.shape[1],))
    X = np.where(mask[..., None], X, 0.0)
    return Batch(y, v, X, mask, intercept_only)


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
        return rowsum(self.w * self.resid**2)


def wls(batch: Batch, w: np.ndarray) -> WLS:
    if batch.intercept_only:  # plain weighted means: no einsum, no matrix inverse
        total = rowsum(w)
        beta = rowsum(w * batch.y) / total
        resid = batch.y - beta[:, None]  # padded entries carry weight 0 wherever resid is used
        return WLS(w, beta[:, None], (1 / total)[:, None, None], resid)
    X = batch.X
    A = np.einsum("mkp,mk,mkq->mpq", X, w, X)
    A_inv = np.linalg.inv(A)
    Xwy = np.einsum("mkp,mk,mk->mp", X, w, batch.y)
    beta = np.einsum("mpq,mq->mp", A_inv, Xwy)
    resid = batch.y - np.einsum("mkp,mp->mk", X, beta)
    return WLS(w, beta, A_inv, np.where(batch.mask, resid, 0.0))


def weights(batch: Batch, tau2: np.ndarray) -> np.ndarray:
    """1/(v + tau^2), exactly 0 for padded studies (v = inf)."""
    w = batch.v + np.asarray(tau2)[:, None]
    return np.reciprocal(w, out=w)


def _trace_ainv_xwx(batch: Batch, fit: WLS, w_power: np.ndarray) -> np.ndarray:
    """tr(A^-1 X' diag(w_power) X), the pieces of tr(P) and tr(PP)."""
    if batch.intercept_only:  # X is a column of ones; w_power is 0 on padded studies
        return rowsum(w_power) * fit.A_inv[:, 0, 0]
    B = np.einsum("mkp,mk,mkq->mpq", batch.X, w_power, batch.X)
    return np.einsum("mpq,mqp->m", fit.A_inv, B)


def trace_P(batch: Batch, fit: WLS) -> np.ndarray:
    """tr(P) = sum w - tr(A^-1 X'W^2 X)."""
    return rowsum(fit.w) - _trace_ainv_xwx(batch, fit, fit.w**2)


def trace_PP(batch: Batch, fit: WLS) -> np.ndarray:
    """tr(PP) for the general model (intercept-only fits get it in _intercept_only_equation)."""
    w = fit.w
    B2 = np.einsum("mkp,mk,mkq->mpq", batch.X, w**2, batch.X)
    C = np.einsum("mpq,mqr->mpr", fit.A_inv, B2)
    return np.sum(w**2, axis=1) - 2 * _trace_ainv_xwx(batch, fit, w**3) + np.einsum("mpq,mqp->m", C, C)


def q_generalized(batch: Batch, tau2: np.ndarray) -> np.ndarray:
    """Generalized Q: y'P(tau^2)y, decreasing in tau^2."""
    return wls(batch, weights(batch, tau2)).rss


# --- closed-form estimators -------------------------------------------------------------------


def tau2_dl(batch: Batch) -> np.ndarray:
    fit = wls(batch, weights(batch, np.zeros(len(batch.y))))
    return np.maximum(0.0, (fit.rss - batch.df) / trace_P(batch, fit))


def tau2_he(batch: Batch) -> np.ndarray:
    ols = wls(batch, batch.mask.astype(float))
    v = np.where(batch.mask, batch.v, 0.0)
    tr_pv = rowsum(v) - _trace_ainv_xwx(batch, ols, v)
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


def _estimating_equation(batch: Batch, tau2: np.ndarray, method: str, target=None):
    """g(tau^2), positive left of the root that is the estimate; dg/dtau^2 (NaN where unknown);
    and a Fisher-type information giving the scale of a scoring step.

    Each equation balances two positive terms, a(tau^2) = b(tau^2):
      ML:   y'PPy = tr(W)          REML: y'PPy = tr(P)          Q: y'Py = target
    (PM/EB: target k - p; Q-profile bounds: chi^2 quantiles). The general model uses the
    difference g = b - a with Fisher information. With an intercept only, g = 1 - a/b and its
    exact derivative are used instead: with equal sampling variances a/b is linear in tau^2, so
    Newton steps on this form converge in very few iterations. Derivatives: d tr(P) = -tr(PP),
    d tr(W) = -tr(WW), d y'Py = -y'PPy, d y'PPy = -2 y'PPPy, and with an intercept only
    y'PPPy = sum w^3 r^2 - (sum w^2 r)^2 / sum w.
    """
    if batch.intercept_only:
        return _intercept_only_equation(batch, tau2, method, target)
    fit = wls(batch, weights(batch, tau2))
    w = fit.w
    wr = w * fit.resid
    ypp = rowsum(wr * wr)  # y'PPy
    if method == "Q":
        g, info = fit.rss - target, ypp
    elif method == "ML":
        g, info = ypp - rowsum(w), rowsum(w * w)
    else:
        g, info = ypp - trace_P(batch, fit), trace_PP(batch, fit)
    return g, np.full(len(w), np.nan), info


def _intercept_only_equation(batch: Batch, tau2: np.ndarray, method: str, target=None):
    """The ratio form 1 - a/b of ``_estimating_equation`` with an intercept only, each weighted
    sum computed once (this is the innermost loop of every batch fit)."""
    w = weights(batch, tau2)
    sum_w = rowsum(w)
    inv_sum_w = 1 / sum_w
    r = batch.y - (rowsum(w * batch.y) * inv_sum_w)[:, None]
    wr = w * r
    wr_sq = wr * wr
    ypp = rowsum(wr_sq)  # y'PPy
    if method == "Q":
        b, db = rowsum(wr * r), -ypp
        a, da, info = target, 0.0, ypp
    else:
        b = ypp
        db = -2 * (rowsum(wr_sq * w) - rowsum(wr * w) ** 2 * inv_sum_w)  # -2 y'PPPy
        w_sq = w * w
        sum_w2 = rowsum(w_sq)
        if method == "ML":
            a, info = sum_w, sum_w2
        else:
            a = sum_w - sum_w2 * inv_sum_w  # tr(P)
            info = sum_w2 - 2 * rowsum(w_sq * w) * inv_sum_w + (sum_w2 * inv_sum_w) ** 2  # tr(PP)
        da = -info
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = -(da * b - a * db) / (b * b)
        return 1 - a / b, slope, info / b


def _intercept_only_equation_1d(y: np.ndarray, v: np.ndarray, tau2: float, method: str, target):
    """``_intercept_only_equation`` for one analysis, with dot products and Python floats
    (a single fit is dominated by per-call overhead, not arithmetic)."""
    w = 1 / (v + tau2)
    sum_w = w.sum()
    r = y - (w @ y) / sum_w
    wr = w * r
    ypp = wr @ wr
    if method == "Q":
        b, db, a, da, info = wr @ r, -ypp, target, 0.0, ypp
    else:
        wrw = wr * w
        b, db = ypp, -2 * (wrw @ wr - (wrw.sum()) ** 2 / sum_w)
        w_sq = w * w
        sum_w2 = w_sq.sum()
        if method == "ML":
            a, info = sum_w, sum_w2
        else:
            a = sum_w - sum_w2 / sum_w
            info = sum_w2 - 2 * (w_sq @ w) / sum_w + (sum_w2 / sum_w) ** 2
        da = -info
    if b == 0:
        return -math.inf, math.nan, math.inf
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # b ~ 1e-170: b*b underflows
        return 1 - a / b, -(da * b - a * db) / (b * b), info / b


def _subset(batch: Batch, rows: np.ndarray) -> Batch:
    X = batch.X if batch.intercept_only else batch.X[rows]  # X is unused without moderators
    return Batch(batch.y[rows], batch.v[rows], X, batch.mask[rows], batch.intercept_only)


def solve_root(
    batch: Batch,
    method: str,
    start: np.ndarray,
    target: np.ndarray | None = None,
    lower: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Root in tau^2 >= lower (default 0) of the estimating equation ``method`` for each row:
    (root, converged).

    Rows where g(lower) <= 0 get ``lower`` (the boundary). Elsewhere: safeguarded Newton (see
    module docstring) from ``start``, working only on the rows not yet converged.
    """
    m = len(batch.y)
    lower = np.zeros(m) if lower is None else np.asarray(lower, dtype=float)
    if m == 1:
        first = float(np.asarray(start).ravel()[0])
        return _solve_root_single(batch, method, first, target, float(lower[0]))
    root = lower.copy()
    converged = np.ones(m, dtype=bool)
    g0, slope0, info0 = _estimating_equation(batch, lower, method, target)
    active = np.flatnonzero(g0 > 0)
    if active.size == 0:
        return root, converged
    sub = _subset(batch, active)
    sub_target = None if target is None else target[active]
    t = np.maximum(np.asarray(start, dtype=float)[active], lower[active])
    lo, hi = lower[active].copy(), np.full(active.size, np.inf)
    done = np.zeros(active.size, dtype=bool)
    # where the start is the lower bound, its evaluation is already at hand
    cached = (g0[active], slope0[active], info0[active]) if np.all(t == lower[active]) else None
    # Converged rows are dropped from the working set only once they are half of it: copying the
    # arrays every iteration would cost more than evaluating a few finished rows again.
    working, part, part_target = np.arange(active.size), sub, sub_target
    for _ in range(MAX_SCORING_ITER):
        pending = ~done[working]
        if not pending.any():
            break
        if pending.sum() < working.size // 2:
            keep = np.flatnonzero(pending)
            working, part = working[keep], _subset(part, keep)
            part_target = None if part_target is None else part_target[keep]
        todo = working
        tt = t[todo]
        if cached is not None:
            g, slope, info = cached
            cached = None
        else:
            g, slope, info = _estimating_equation(part, tt, method, part_target)
        positive = g > 0
        lo_t = np.where(positive, np.maximum(lo[todo], tt), lo[todo])
        hi_t = np.where(positive, hi[todo], np.minimum(hi[todo], tt))
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = np.where(slope < 0, tt - g / slope, tt + g / info)
        inside = np.isfinite(newton) & (newton > lo_t) & (newton < hi_t)
        outward = np.maximum(2 * tt, tt + np.abs(g / info))  # no upper bracket yet: expand
        bisection = np.where(np.isfinite(hi_t), 0.5 * (lo_t + hi_t), outward)
        proposal = np.where(inside, newton, bisection)
        proposal = np.where(g == 0, tt, proposal)  # an exact root: keep it
        step = np.abs(proposal - tt)
        settled = (step <= TOL * (1 + tt)) | (hi_t - lo_t <= TOL * (1 + lo_t)) | (g == 0)
        # rows already finished stay as they were
        finished = done[todo]
        t[todo] = np.where(finished, tt, proposal)
        lo[todo] = np.where(finished, lo[todo], lo_t)
        hi[todo] = np.where(finished, hi[todo], hi_t)
        done[todo] = finished | settled
    root[active] = t
    converged[active] = done & np.isfinite(t)
    return root, converged


def _solve_root_single(
    batch: Batch, method: str, start: float, target, lower: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """solve_root for one analysis with Python floats for the bookkeeping (same steps; the
    array version's per-call overhead dominates a single fit)."""

    if batch.intercept_only:
        y, v = batch.y[0], batch.v[0]
        value = None if target is None else float(np.asarray(target).ravel()[0])

        def evaluate(t: float) -> tuple[float, float, float]:
            return _intercept_only_equation_1d(y, v, t, method, value)
    else:

        def evaluate(t: float) -> tuple[float, float, float]:
            g, slope, info = _estimating_equation(batch, np.array([t]), method, target)
            return float(g[0]), float(slope[0]), float(info[0])

    g, slope, info = evaluate(lower)
    if not g > 0:
        return np.array([lower]), np.ones(1, dtype=bool)
    t, lo, hi = max(start, lower), lower, math.inf
    if t > lower:
        g, slope, info = evaluate(t)
    for _ in range(MAX_SCORING_ITER):
        if g == 0:
            return np.array([t]), np.ones(1, dtype=bool)
        lo, hi = (max(lo, t), hi) if g > 0 else (lo, min(hi, t))
        newton = t - g / slope if slope < 0 else t + g / info
        if math.isfinite(newton) and lo < newton < hi:
            proposal = newton
        elif math.isfinite(hi):
            proposal = 0.5 * (lo + hi)
        else:
            proposal = max(2 * t, t + abs(g / info))
        if abs(proposal - t) <= TOL * (1 + t) or hi - lo <= TOL * (1 + lo):
            return np.array([proposal]), np.array([math.isfinite(proposal)])
        t = proposal
        g, slope, info = evaluate(t)
    return np.array([t]), np.zeros(1, dtype=bool)


def log_likelihood(batch: Batch, tau2: np.ndarray, restricted: bool) -> np.ndarray:
    """(Restricted) log-likelihood of the random-/mixed-effects model, without its constant:
    -1/2 [sum log(v_i + tau^2) + y'Py (+ log det X'WX for REML)] (Viechtbauer 2005)."""
    fit = wls(batch, weights(batch, tau2))
    log_v = rowsum(np.log(np.where(batch.mask, batch.v + tau2[:, None], 1.0)))
    value = -0.5 * (log_v + fit.rss)
    if restricted:
        value += 0.5 * np.linalg.slogdet(fit.A_inv)[1]  # -1/2 log det(X'WX)
    return value


GRID_POINTS = 16


def _interior_maximum(batch: Batch, method: str, tau2: np.ndarray) -> np.ndarray:
    """A boundary solution (tau^2 = 0, where the likelihood falls from 0) can hide a higher
    interior maximum: the (restricted) likelihood of the random-effects model can be bimodal.
    metafor, by Fisher scoring from one start, may return either. stemdm searches a geometric
    grid of tau^2 from min(v)/16 up to the squared range of y (beyond it the ML score is
    negative, as sum w^2 r^2 <= range^2 max(w) sum w), takes the best grid point where the
    score is positive, solves for the root above it and keeps whichever maximum is higher."""
    y_range = np.where(batch.mask, batch.y, np.nan)
    spread = (np.nanmax(y_range, axis=1) - np.nanmin(y_range, axis=1)) ** 2
    v_min = np.min(batch.v, axis=1)
    rows = np.flatnonzero((tau2 == 0) & (spread > v_min))
    if rows.size == 0:
        return tau2
    sub = _subset(batch, rows)
    grid = np.exp(np.linspace(np.log(v_min[rows] / 16), np.log(spread[rows]), GRID_POINTS, axis=1))
    repeated = _subset(sub, np.repeat(np.arange(rows.size), GRID_POINTS))
    score, _, _ = _estimating_equation(repeated, grid.ravel(), method)
    restricted = method == "REML"
    fit = log_likelihood(repeated, grid.ravel(), restricted)
    candidate = np.where(score.reshape(grid.shape) > 0, fit.reshape(grid.shape), -np.inf)
    best = np.argmax(candidate, axis=1)
    rising = np.isfinite(candidate[np.arange(rows.size), best])
    if not rising.any():
        return tau2
    keep = np.flatnonzero(rising)
    rows, sub, start = rows[keep], _subset(sub, keep), grid[keep, best[keep]]
    interior, converged = solve_root(sub, method, start, lower=start)
    higher = log_likelihood(sub, interior, restricted) > log_likelihood(sub, np.zeros(rows.size), restricted)
    tau2 = tau2.copy()
    tau2[rows[converged & higher]] = interior[converged & higher]
    return tau2


def tau2_iterative(batch: Batch, method: str) -> tuple[np.ndarray, np.ndarray]:
    """ML, REML, EB or PM estimate of tau^2, started at the DL estimate: (tau2, converged).

    For ML and REML a boundary solution is checked against an interior maximum (the
    likelihood can be bimodal, e.g. in meta-regressions of few studies)."""
    if method in ("EB", "PM"):
        return solve_root(batch, "Q", tau2_dl(batch), batch.df.astype(float))
    tau2, converged = solve_root(batch, method, tau2_dl(batch))
    return _interior_maximum(batch, method, tau2), converged


def estimate_tau2(batch: Batch, method: str) -> tuple[np.ndarray, np.ndarray]:
    """tau^2 of each meta-analysis by ``method``: (tau2, converged)."""
    m = len(batch.y)
    closed_form = {"DL": tau2_dl, "HE": tau2_he, "HS": tau2_hs, "SJ": tau2_sj}
    if method == "FE":
        return np.zeros(m), np.ones(m, dtype=bool)
    if method in closed_form:
        return closed_form[method](batch), np.ones(m, dtype=bool)
    if method in ("ML", "REML", "EB", "PM"):
        return tau2_iterative(batch, method)
    raise ValueError(f"unknown method {method!r}")


# --- Q-profile interval -----------------------------------------------------------------------


def tau2_ci_qprofile(batch: Batch, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Q-profile confidence interval for tau^2 (Viechtbauer 2007, Stat Med 26:37-52):
    the tau^2 values where the generalized Q equals the chi^2_{k-p} quantiles; 0 where Q(0) is
    already below the quantile."""
    alpha = 1 - level / 100
    df = batch.df.astype(float)
    lower, _ = solve_root(batch, "Q", np.zeros(len(df)), per_df(special.chdtri, df, alpha / 2))
    upper, _ = solve_root(batch, "Q", lower, per_df(special.chdtri, df, 1 - alpha / 2))
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
        crit = per_df(special.stdtrit, dist_df, 1 - alpha / 2)
    else:
        dist_df = np.full(len(batch.y), np.inf)
        crit = np.full(len(batch.y), special.ndtri(1 - alpha / 2))
    vb = fit.A_inv * s2w[:, None, None]
    se = np.sqrt(np.einsum("mpp->mp", vb))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = fit.beta / se
    if test == "z":
        pval = 2 * special.ndtr(-np.abs(stat))
    else:
        pval = 2 * special.stdtr(dist_df[:, None], -np.abs(stat))
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
    return Heterogeneity(q, df, special.chdtrc(df, q), typical_v, i2, h2)


def i2_from_tau2(tau2: np.ndarray, typical_v: np.ndarray) -> np.ndarray:
    return 100 * tau2 / (typical_v + tau2)


def h2_from_tau2(tau2: np.ndarray, typical_v: np.ndarray) -> np.ndarray:
    return tau2 / typical_v + 1
