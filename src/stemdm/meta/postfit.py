"""What a fitted random-/mixed-effects model offers after the fit, as metafor's ``rma.uni`` does: the standard
error of tau^2, the profile-likelihood CI of tau^2, best linear unbiased predictions (BLUPs) of the study
effects, predictions at new moderator values, and the estimates under user-given weights.

Formulas (matrix notation, W = diag(w), P = W - W X (X'WX)^-1 X'W):

- SE of tau^2: the variance of each estimator's quadratic form in y (DL, HS, HE, SJ: Viechtbauer 2005,
  J Educ Behav Stat 30:261, and Sidik & Jonkman 2007) or the inverse Fisher information (ML: 2 / sum w^2,
  REML: 2 / tr(PP)); EB and PM: 2 k^2 / (k - p) / (sum w)^2. These are the definitions metafor 4 uses.
- Profile-likelihood CI (Hardy & Thompson 1996, Stat Med 15:619): the tau^2 values where the (restricted)
  log-likelihood is chi^2_1(level) / 2 below its maximum; a bound at 0 when the likelihood at 0 is within.
- BLUPs (Raudenbush & Bryk 1985; metafor ``blup``): lambda_i = tau^2 / (tau^2 + v_i),
  pred_i = lambda_i y_i + (1 - lambda_i) x_i'b, var = lambda_i v_i + (1 - lambda_i)^2 x_i' V_b x_i.
- Predictions (metafor ``predict``): x'b with SE sqrt(x' V_b x), CI x'b +- crit SE and prediction interval
  x'b +- crit sqrt(SE^2 + tau^2), crit normal or t(k - p) under Knapp-Hartung.
- User weights a_i (metafor ``rma(weights=)``): b = (X'AX)^-1 X'Ay, V_b = (X'AX)^-1 X'A M A X (X'AX)^-1 with
  M = diag(v + tau^2), scaled by the Knapp-Hartung factor of the inverse-variance fit; tau^2, Q and I^2 stay
  as the estimator gives them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats

from stemdm.meta import core
from stemdm.meta.errors import MetaInputError
from stemdm.meta.model import MetaResult


def _design(result: MetaResult) -> np.ndarray:
    return np.ones((result.k, 1)) if result.X is None else result.X


def _coefficients(result: MetaResult) -> tuple[np.ndarray, np.ndarray]:
    if result.coef is not None:
        return np.asarray(result.coef, dtype=float), np.asarray(result.vb, dtype=float)
    return np.array([result.estimate]), np.array([[result.se**2]])


def _crit(result: MetaResult) -> float:
    alpha = 1 - result.level / 100
    if result.dist_df is None or not math.isfinite(result.dist_df):
        return float(stats.norm.isf(alpha / 2))
    return float(stats.t.isf(alpha / 2, result.dist_df))


def _require_random_effects(result: MetaResult, what: str) -> None:
    if result.pooling != "IV" or result.subgroups is not None:
        raise MetaInputError(
            f"{what} needs an inverse-variance model without subgroups (fit(by=...) per level)"
        )


def tau2_profile_ci(result: MetaResult, level: float | None = None) -> dict[str, float | str | None]:
    """Profile-likelihood CI of tau^2 for an ML or REML fit (metafor ``confint(type="PL")``). Returns
    ``tau2_ci_lb``, ``tau2_ci_ub`` and a ``note`` when a bound lies at the end of the search range."""
    _require_random_effects(result, "a profile-likelihood CI")
    if result.method not in ("ML", "REML"):
        raise MetaInputError(
            f"a profile-likelihood CI needs method ML or REML (got {result.method}); the Q-profile CI "
            "(tau2_ci_lb/ub of every fit) serves the other estimators",
            field="method",
        )
    level = result.level if level is None else level
    if not 0 < level < 100:
        raise MetaInputError(f"level must be between 0 and 100 (got {level})", field="level")
    X = _design(result)
    batch = core.make_batch(
        result.effects.yi[None, :], result.effects.vi[None, :], None if result.X is None else X
    )
    restricted = result.method == "REML"

    def drop(t: float) -> float:
        """Positive inside the interval: log-likelihood above its maximum minus chi^2_1 / 2."""
        return float(core.log_likelihood(batch, np.array([t]), restricted)[0]) - target

    peak = float(core.log_likelihood(batch, np.array([result.tau2]), restricted)[0])
    target = peak - stats.chi2.ppf(level / 100, 1) / 2
    lower = 0.0 if drop(0.0) >= 0 else optimize.brentq(drop, 0.0, result.tau2, xtol=1e-14, rtol=1e-13)
    ceiling = max(100.0, 10 * result.tau2)
    note = None
    if drop(ceiling) > 0:
        upper, note = ceiling, f"upper bound above the search limit {ceiling:g}"
    else:
        upper = optimize.brentq(drop, result.tau2, ceiling, xtol=1e-14, rtol=1e-13)
    return {"tau2_ci_lb": lower, "tau2_ci_ub": upper, "level": level, "note": note}


def blup(result: MetaResult) -> pd.DataFrame:
    """Best linear unbiased predictions of each study's true effect (analysis scale), with SE and prediction
    interval, in input order (metafor ``blup``)."""
    _require_random_effects(result, "BLUPs")
    y, v = result.effects.yi, result.effects.vi
    X = _design(result)
    b, vb = _coefficients(result)
    fitted = X @ b
    shrink = result.tau2 / (result.tau2 + v)
    pred = shrink * y + (1 - shrink) * fitted
    var = shrink * v + (1 - shrink) ** 2 * np.einsum("ij,jk,ik->i", X, vb, X)
    se = np.sqrt(var)
    crit = _crit(result)
    return pd.DataFrame(
        {
            "study": result.effects.study,
            "pred": pred,
            "se": se,
            "pi_lb": pred - crit * se,
            "pi_ub": pred + crit * se,
        }
    )


def _new_design(result: MetaResult, newmods: Mapping[str, Sequence[float]] | pd.DataFrame) -> np.ndarray:
    names = result.coef_names or []
    moderators = names[1:]
    given = pd.DataFrame(newmods)
    missing = [name for name in moderators if name not in given.columns]
    extra = [name for name in given.columns if name not in moderators]
    if missing or extra:
        raise MetaInputError(
            f"newmods: give values for exactly the moderators {', '.join(moderators)}"
            + (f" (missing: {', '.join(missing)})" if missing else "")
            + (f" (unknown: {', '.join(map(str, extra))})" if extra else ""),
            field="newmods",
        )
    values = given[moderators].to_numpy(dtype=float)
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise MetaInputError("newmods: values must be finite numbers", field="newmods")
    return np.column_stack([np.ones(len(values)), values])


def predict(
    result: MetaResult, newmods: Mapping[str, Sequence[float]] | pd.DataFrame | None = None
) -> pd.DataFrame:
    """The model's prediction with CI and prediction interval (analysis scale), at ``newmods`` (moderator
    name -> values; needed for a meta-regression) or, without moderators, the pooled effect (metafor
    ``predict``)."""
    _require_random_effects(result, "predict")
    b, vb = _coefficients(result)
    if result.X is None:
        if newmods is not None:
            raise MetaInputError("newmods: the model has no moderators", field="newmods")
        X_new = np.ones((1, 1))
    else:
        if newmods is None:
            raise MetaInputError(
                "newmods: a meta-regression predicts at given moderator values", field="newmods"
            )
        X_new = _new_design(result, newmods)
    pred = X_new @ b
    se = np.sqrt(np.einsum("ij,jk,ik->i", X_new, vb, X_new))
    crit = _crit(result)
    half_pi = crit * np.sqrt(se**2 + result.tau2)
    out = pd.DataFrame(
        {"pred": pred, "se": se, "ci_lb": pred - crit * se, "ci_ub": pred + crit * se,
         "pi_lb": pred - half_pi, "pi_ub": pred + half_pi}
    )  # fmt: skip
    if result.X is not None:
        out.insert(0, "newmods", [dict(zip(result.coef_names[1:], row[1:], strict=True)) for row in X_new])
    return out
