"""Standard error of the tau^2 estimate of each estimator, as metafor 4's ``rma.uni`` (``se.tau2``).

DL, HS, HE and SJ are quadratic forms in y, so their variance follows from the moments of a quadratic form
in normal variables (Viechtbauer 2005, J Educ Behav Stat 30:261; Sidik & Jonkman 2007 for SJ); ML and REML
use the inverse Fisher information (2 / sum w^2 and 2 / tr(PP)); EB and PM 2 k^2 / (k - p) / (sum w)^2. Here
W = diag(w) and P = W - W X (X'WX)^-1 X'W.
"""

from __future__ import annotations

import math

import numpy as np


def _gram(X: np.ndarray, d: np.ndarray) -> np.ndarray:
    """X' diag(d) X."""
    return (X.T * d) @ X


def _trace_pd(X: np.ndarray, w: np.ndarray, d: np.ndarray) -> float:
    """tr(P D) for P = W - W X A^-1 X'W, A = X'WX, D = diag(d): sum w d - tr(A^-1 X' diag(w^2 d) X)."""
    A = _gram(X, w)
    return float(np.sum(w * d) - np.trace(np.linalg.solve(A, _gram(X, w * w * d))))


def _trace_pdpe(X: np.ndarray, w: np.ndarray, d: np.ndarray, e: np.ndarray) -> float:
    """tr(P D P E) = sum w^2 d e - 2 tr(A^-1 X' diag(w^3 d e) X) + tr(A^-1 C_d A^-1 C_e), with
    C_x = X' diag(w^2 x) X: O(k p^2), never the k x k matrix P (a fit of 100,000 studies stays small)."""
    A = _gram(X, w)
    middle = np.trace(np.linalg.solve(A, _gram(X, w**3 * d * e)))
    last = np.trace(np.linalg.solve(A, _gram(X, w * w * d)) @ np.linalg.solve(A, _gram(X, w * w * e)))
    return float(np.sum(w * w * d * e) - 2 * middle + last)


def se_tau2(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float, method: str) -> float | None:
    """Standard error of the tau^2 estimate of ``method`` (None for FE: tau^2 is not estimated). In metafor's
    notation sum(P*P) = tr(PP), sum(PV*t(PV)) = tr(PVPV) and sum(PV*P) = tr(PVP), since P is symmetric."""
    k, p = X.shape
    t = max(tau2, 0.0)
    one = np.ones(k)
    if method == "FE" or k <= p:
        return None
    if method in ("DL", "HS"):
        w = 1 / v
        spread = 2 * (k - p) + 4 * t * _trace_pd(X, w, one) + 2 * t * t * _trace_pdpe(X, w, one, one)
        scale = np.sum(w) if method == "HS" else _trace_pd(X, w, one)
        return float(math.sqrt(spread) / scale)
    if method == "HE":  # P = I - X (X'X)^-1 X'
        spread = 2 * _trace_pdpe(X, one, v, v) + 4 * t * _trace_pd(X, one, v) + 2 * t * t * (k - p)
        return float(math.sqrt(spread) / (k - p))
    if method == "SJ":
        start = float(np.sum((y - y.mean()) ** 2) / k)
        w = 1 / (v + start)
        spread = (
            2 * _trace_pdpe(X, w, v, v)
            + 4 * t * _trace_pdpe(X, w, v, one)
            + 2 * t * t * _trace_pdpe(X, w, one, one)
        )
        return float(start * math.sqrt(spread) / (k - p))
    w = 1 / (v + t)
    if method == "ML":
        return float(math.sqrt(2 / np.sum(w * w)))
    if method == "REML":
        return float(math.sqrt(2 / _trace_pdpe(X, w, one, one)))
    return float(math.sqrt(2 * k * k / (k - p)) / np.sum(w))  # EB, PM
