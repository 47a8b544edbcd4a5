"""Sensitivity analyses: leave-one-out, cumulative meta-analysis, influence diagnostics, Baujat.

Definitions follow metafor (``leave1out``, ``cumul``, ``influence.rma.uni``, ``baujat``;
Viechtbauer & Cheung 2010, Res Synth Methods 1:112-125; Baujat et al. 2002, Stat Med 21:2641).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stemdm.meta.binary import fit_binary
from stemdm.meta.errors import MetaInputError
from stemdm.meta.model import MetaResult, fit_effects

TABLE_COLUMNS = ["estimate", "se", "ci_lb", "ci_ub", "pval", "tau2", "i2"]


def refit(result: MetaResult, mask: np.ndarray, allow_small_df: bool = True) -> MetaResult:
    """The same model (method, test, level, pooling, moderators) on a subset of the studies.

    ``mask`` is a boolean mask or an index array (which also sets the order).
    """
    subset = result.effects.subset(mask)
    if result.pooling in ("MH", "PETO"):
        return fit_binary(subset, result.pooling, result.level)
    X = None if result.X is None else result.X[mask]
    return fit_effects(
        subset, result.method, result.test, result.level, X=X, coef_names=result.coef_names,
        allow_small_df=allow_small_df,
    )  # fmt: skip


def _row(fit: MetaResult) -> dict[str, float]:
    i2 = fit.i2 if fit.i2 is not None else np.nan
    return {
        "estimate": fit.estimate, "se": fit.se, "ci_lb": fit.ci_lb, "ci_ub": fit.ci_ub,
        "pval": fit.pval, "tau2": fit.tau2, "i2": i2,
    }  # fmt: skip


def _require_plain(result: MetaResult, what: str) -> None:
    if result.subgroups is not None:
        raise MetaInputError(f"{what} needs a model without subgroups: run it per subgroup")


def leave_one_out(result: MetaResult) -> pd.DataFrame:
    """The model refitted k times, each time without one study (row label: the omitted study)."""
    _require_plain(result, "leave-one-out")
    if result.k < 2:
        raise MetaInputError("leave-one-out needs at least 2 studies")
    rows = []
    for i in range(result.k):
        mask = np.ones(result.k, dtype=bool)
        mask[i] = False
        rows.append(_row(refit(result, mask)))
    return pd.DataFrame(rows, index=pd.Index(result.effects.study, name="omitted"))[TABLE_COLUMNS]


def cumulative(result: MetaResult, order: np.ndarray | None = None) -> pd.DataFrame:
    """The model refitted on the first 1, 2, ..., k studies (data order or ``order``)."""
    _require_plain(result, "cumulative meta-analysis")
    order = np.arange(result.k) if order is None else np.asarray(order)
    rows = [_row(refit(result, order[:j])) for j in range(1, result.k + 1)]
    labels = [result.effects.study[i] for i in order]
    return pd.DataFrame(rows, index=pd.Index(labels, name="added"))[TABLE_COLUMNS]


def influence(result: MetaResult) -> pd.DataFrame:
    """Case-deletion diagnostics of an inverse-variance model (Viechtbauer & Cheung 2010).

    rstudent: (y_i - x_i'b_(-i)) / sqrt(s_(-i) (v_i + tau2_(-i)) + x_i' V_(-i) x_i);
    dffits: (x_i'b - x_i'b_(-i)) / sqrt(s_(-i) h_i (tau2_(-i) + v_i));
    (s_(-i): the deleted fit's Knapp-Hartung factor, 1 under the z test);
    cook_d: (b - b_(-i))' V^-1 (b - b_(-i)); cov_r: det V_(-i) / det V;
    hat: diagonal of X (X'WX)^-1 X'W; weight: 100 w_i / sum w (percent).
    """
    _require_plain(result, "influence diagnostics")
    if result.pooling != "IV":
        raise MetaInputError("influence diagnostics need an inverse-variance model", field="method")
    X = _design(result)
    y, v = result.effects.yi, result.effects.vi
    beta, vb = _coefficients(result)
    w = 1 / (v + result.tau2)
    A_inv = np.linalg.inv(X.T @ (w[:, None] * X))
    hat = w * np.einsum("ip,pq,iq->i", X, A_inv, X)
    out = {key: np.empty(result.k) for key in ("rstudent", "dffits", "cook_d", "cov_r")}
    vb_inv = np.linalg.inv(vb)
    for i in range(result.k):
        mask = np.ones(result.k, dtype=bool)
        mask[i] = False
        deleted = refit(result, mask)
        beta_del, vb_del = _coefficients(deleted)
        x_i = X[i]
        pred_del = x_i @ beta_del
        scale = deleted.s2w
        total_var = v[i] + deleted.tau2
        out["rstudent"][i] = (y[i] - pred_del) / np.sqrt(scale * total_var + x_i @ vb_del @ x_i)
        out["dffits"][i] = (x_i @ beta - pred_del) / np.sqrt(scale * hat[i] * total_var)
        diff = beta - beta_del
        out["cook_d"][i] = diff @ vb_inv @ diff
        out["cov_r"][i] = np.linalg.det(vb_del) / np.linalg.det(vb)
    frame = pd.DataFrame(out, index=pd.Index(result.effects.study, name="study"))
    frame["hat"] = hat
    frame["weight"] = 100 * w / w.sum()
    return frame


def _design(result: MetaResult) -> np.ndarray:
    return np.ones((result.k, 1)) if result.X is None else result.X


def _coefficients(result: MetaResult) -> tuple[np.ndarray, np.ndarray]:
    if result.coef is not None:
        return np.asarray(result.coef), np.asarray(result.vb)
    return np.array([result.estimate]), np.array([[result.se**2]])


def baujat(result: MetaResult) -> pd.DataFrame:
    """Baujat et al. (2002) coordinates for the fitted model, as metafor's ``baujat``.

    x: the study's squared residual, (y_i - x_i'b)^2 / (v_i + tau^2) (its share of Q for a
    common-effect model); y: its influence on the fit, (x_i'b_(-i) - x_i'b)^2 / Var(x_i'b_(-i)),
    with b_(-i) from the same model refitted without the study.
    """
    _require_plain(result, "the Baujat plot")
    X = _design(result)
    beta, _ = _coefficients(result)
    y, v = result.effects.yi, result.effects.vi
    x_coord = (y - X @ beta) ** 2 / (v + result.tau2)
    y_coord = np.empty(result.k)
    for i in range(result.k):
        keep = np.arange(result.k) != i
        beta_del, vb_del = _coefficients(refit(result, keep))
        y_coord[i] = (X[i] @ beta_del - X[i] @ beta) ** 2 / (X[i] @ vb_del @ X[i])
    return pd.DataFrame({"x": x_coord, "y": y_coord}, index=pd.Index(result.effects.study, name="study"))
