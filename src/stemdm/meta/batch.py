"""``meta.fit_batch``: many intercept-only meta-analyses at once, for simulation studies.

All m analyses go through the same vectorized code as a single fit (:mod:`stemdm.meta.core`),
with no Python loop over analyses; large batches are split into row blocks fitted in threads.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import threadpool_limits

from stemdm.meta import core
from stemdm.meta.effects import LARGEST_VALUE
from stemdm.meta.errors import MetaInputError

#: Below this many analyses per thread, threads cost more than they save.
ROWS_PER_THREAD = 20_000


def fit_batch(
    yi: np.ndarray,
    vi: np.ndarray,
    method: str = "REML",
    test: str = "z",
    level: float = 95,
    tau2_ci: bool = True,
) -> dict[str, np.ndarray]:
    """Fit m intercept-only meta-analyses at once from (m, k) arrays (NaN-padded), vectorized.

    Returns a dict of length-m arrays with the keys of ``MetaResult.to_dict()`` plus
    ``converged`` (False where an iterative estimator found no root: those rows are NaN and
    flagged, never silently wrong). Rows with k < 2 (or k < 3 under knha) are NaN with
    ``converged`` True and ``k`` telling why. ``tau2_ci_lb``/``tau2_ci_ub`` are NaN by design
    for method="FE" (no tau^2 is estimated) and when ``tau2_ci=False`` (skipped for speed).
    """
    method = method.upper()
    if method not in core.ESTIMATORS:
        raise MetaInputError(f"unknown method {method!r}; use one of {core.ESTIMATORS}", field="method")
    if test not in core.TESTS:
        raise MetaInputError(f"unknown test {test!r}; use one of {core.TESTS}", field="test")
    yi = np.atleast_2d(np.asarray(yi, dtype=float))
    vi = np.atleast_2d(np.asarray(vi, dtype=float))
    if yi.shape != vi.shape:
        raise MetaInputError(f"yi {yi.shape} and vi {vi.shape} differ in shape", field="vi")
    _check_cells(yi, vi)
    batch = core.make_batch(yi, vi)
    k = batch.k
    min_k = 3 if test in ("knha", "adhoc") else 2
    usable = np.flatnonzero(k >= min_k)
    out = {key: np.full(len(yi), np.nan) for key in _BATCH_KEYS}
    out["k"] = k
    out["converged"] = np.ones(len(yi), dtype=bool)
    # numpy releases the GIL inside its array kernels, so row blocks fit in parallel threads;
    # BLAS's own threads (used by the row sums) would then only compete with them.
    n_blocks = max(1, min(os.cpu_count() or 1, usable.size // ROWS_PER_THREAD))
    blocks = [rows for rows in np.array_split(usable, n_blocks) if rows.size]
    blas_threads = 1 if len(blocks) > 1 else None
    with (
        threadpool_limits(limits=blas_threads, user_api="blas"),
        ThreadPoolExecutor(len(blocks) or 1) as pool,
    ):
        jobs = [
            pool.submit(_fill_batch, out, core._subset(batch, rows), rows, method, test, level, tau2_ci)
            for rows in blocks
        ]
        for job in jobs:
            job.result()
    return out


def _check_cells(yi: np.ndarray, vi: np.ndarray) -> None:
    """Padding is NaN in both arrays; anything else must be a usable study."""
    padding = np.isnan(yi) & np.isnan(vi)
    problems = (
        (np.isnan(yi) != np.isnan(vi), "yi", "one of yi / vi is NaN: padding must be NaN in both"),
        (~padding & ~np.isfinite(yi), "yi", "effect is not finite"),
        (~padding & (np.abs(yi) >= LARGEST_VALUE), "yi", "effect is too large to analyse"),
        (~padding & ~(vi > 0), "vi", "sampling variance must be > 0 and finite"),
        (~padding & ~np.isfinite(vi), "vi", "sampling variance must be > 0 and finite"),
    )
    for bad, field, message in problems:
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise MetaInputError(
                f"{message} (yi = {yi[row, col]}, vi = {vi[row, col]})",
                study=f"analysis {row}, study {col}",
                field=field,
            )


_BATCH_KEYS = (
    "estimate", "se", "ci_lb", "ci_ub", "pval", "tau2", "tau2_ci_lb", "tau2_ci_ub",
    "i2", "h2", "q", "q_df", "q_pval", "pi_lb", "pi_ub",
)  # fmt: skip


def _fill_batch(out, batch, rows, method, test, level, tau2_ci) -> None:
    tau2, converged = core.estimate_tau2(batch, method)
    inference = core.infer(batch, tau2, test, level)
    het = core.heterogeneity(batch, tau2, method)
    half = inference.crit * np.sqrt(inference.se[:, 0] ** 2 + tau2)
    values = {
        "estimate": inference.beta[:, 0], "se": inference.se[:, 0],
        "ci_lb": inference.ci_lb[:, 0], "ci_ub": inference.ci_ub[:, 0],
        "pval": inference.pval[:, 0], "tau2": tau2, "i2": het.i2, "h2": het.h2,
        "q": het.q, "q_df": het.q_df.astype(float), "q_pval": het.q_pval,
        "pi_lb": inference.beta[:, 0] - half, "pi_ub": inference.beta[:, 0] + half,
    }  # fmt: skip
    if tau2_ci and method != "FE":
        values["tau2_ci_lb"], values["tau2_ci_ub"] = core.tau2_ci_qprofile(batch, level)
    for key, value in values.items():
        out[key][rows] = np.where(converged, value, np.nan)
    out["converged"][rows] = converged
