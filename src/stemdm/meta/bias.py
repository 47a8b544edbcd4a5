"""Small-study effects and publication bias: Egger's test, Begg's rank test, trim-and-fill.

* Egger et al. (1997): weighted regression y_i = b0 + b1 SE_i with weights 1/v_i; t test of b1
  on k-2 df (metafor ``regtest(model="lm")``); b0 is the limit estimate as SE -> 0 (PET);
  the same regression on v_i gives PEESE (Stanley & Doucouliagos 2014).
* Rosenthal (1979) fail-safe N.
* Begg & Mazumdar (1994): Kendall's tau between standardized effects
  (y_i - theta_FE)/sqrt(v_i - 1/sum w) and v_i; exact p without ties, normal approximation with
  ties (metafor ``ranktest``).
* Duval & Tweedie (2000): trim-and-fill with the L0 estimator; the side is chosen as metafor
  does, from the sign of the slope of a meta-regression on SE_i (negative: missing on the right).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from stemdm.meta.effects import StudyEffects
from stemdm.meta.errors import MetaInputError
from stemdm.meta.model import MetaResult, fit_effects


def _plain(result: MetaResult, what: str, min_k: int) -> None:
    if result.subgroups is not None or result.X is not None:
        raise MetaInputError(f"{what} needs an intercept-only model (no subgroups or moderators)")
    if result.k < min_k:
        raise MetaInputError(f"{what} needs at least {min_k} studies (k = {result.k})")


def _require_spread(predictor: np.ndarray) -> None:
    """A small-study regression needs studies of different precision (metafor stops on the rank-deficient
    model matrix too)."""
    if np.ptp(predictor) <= 1e-12 * max(1.0, float(np.max(np.abs(predictor)))):
        raise MetaInputError(
            "every study has the same standard error: a small-study (funnel) regression has nothing to "
            "regress on, so small-study effects cannot be assessed this way",
            field="vi",
        )


def _small_study_regression(result: MetaResult, predictor: np.ndarray) -> dict[str, float]:
    """Weighted least squares y_i = b0 + b1 x_i with weights 1/v_i and a multiplicative error
    term (metafor ``regtest(model="lm")``): t tests on k-2 df; b0 is the effect as x -> 0."""
    y, v = result.effects.yi, result.effects.vi
    _require_spread(predictor)
    X = np.column_stack([np.ones_like(predictor), predictor])
    w = 1 / v
    xtwx_inv = np.linalg.inv(X.T @ (w[:, None] * X))
    beta = xtwx_inv @ (X.T @ (w * y))
    df = result.k - 2
    sigma2 = np.sum(w * (y - X @ beta) ** 2) / df
    se = np.sqrt(np.diag(xtwx_inv) * sigma2)
    t = beta / se
    crit = stats.t.ppf(1 - (1 - result.level / 100) / 2, df)
    return {
        "statistic": float(t[1]),
        "df": df,
        "pval": float(2 * stats.t.sf(abs(t[1]), df)),
        "slope": float(beta[1]),
        "limit_estimate": float(beta[0]),
        "limit_se": float(se[0]),
        "limit_pval": float(2 * stats.t.sf(abs(t[0]), df)),
        "limit_ci_lb": float(beta[0] - crit * se[0]),
        "limit_ci_ub": float(beta[0] + crit * se[0]),
    }


def egger_test(result: MetaResult) -> dict[str, float]:
    """Egger's regression test (predictor: standard error): {statistic (t), df, pval,
    limit_estimate (PET), ...}; a note when k < 10, where the test has little power."""
    _plain(result, "Egger's test", 3)
    out = _small_study_regression(result, np.sqrt(result.effects.vi))
    out["note"] = "fewer than 10 studies: the test has little power" if result.k < 10 else ""
    return out


def pet_peese(result: MetaResult, alpha: float = 0.05) -> dict[str, object]:
    """PET-PEESE (Stanley & Doucouliagos 2014): the effect extrapolated to a study of infinite
    precision, by regression on the SE (PET) or on the variance (PEESE). The conditional
    estimator takes PEESE when PET's limit estimate differs from 0 at ``alpha`` (two-sided),
    else PET. Limit estimates are on the analysis scale (log for ratios)."""
    _plain(result, "PET-PEESE", 3)
    pet = _small_study_regression(result, np.sqrt(result.effects.vi))
    peese = _small_study_regression(result, result.effects.vi)
    chosen = "PEESE" if pet["limit_pval"] < alpha else "PET"
    return {"pet": pet, "peese": peese, "chosen": chosen,
            "estimate": (peese if chosen == "PEESE" else pet)["limit_estimate"]}  # fmt: skip


def fail_safe_n(result: MetaResult, alpha: float = 0.05) -> dict[str, float]:
    """Rosenthal's (1979) fail-safe N: how many null studies would bring Stouffer's combined
    z below the one-sided critical value z_alpha. N = max(0, k (z_sum/sqrt(k) / z_alpha)^2 - k),
    rounded up (metafor ``fsn``). A widely criticized statistic, kept for comparison with
    published reviews."""
    _plain(result, "fail-safe N", 2)
    z = result.effects.yi / np.sqrt(result.effects.vi)
    z_average = abs(np.sum(z)) / np.sqrt(result.k)
    critical = stats.norm.ppf(1 - alpha)
    n = max(0.0, result.k * (z_average / critical) ** 2 - result.k)
    return {"fsn": int(np.ceil(n)), "pval": float(stats.norm.sf(z_average)), "alpha": alpha}


def begg_test(result: MetaResult) -> dict[str, float]:
    """Begg and Mazumdar's rank correlation test: {tau, pval, method}."""
    _plain(result, "Begg's rank test", 3)
    y, v = result.effects.yi, result.effects.vi
    w = 1 / v
    theta = np.sum(w * y) / np.sum(w)
    y_star = (y - theta) / np.sqrt(v - 1 / np.sum(w))
    ties = len(np.unique(y_star)) < len(y_star) or len(np.unique(v)) < len(v)
    method = "asymptotic" if ties else "exact"
    res = stats.kendalltau(y_star, v, method=method)
    return {"tau": float(res.statistic), "pval": float(res.pvalue), "method": method}


def _ranks_first(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties broken by position (R's ``rank(ties.method="first")``)."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    return ranks


def _side(result: MetaResult) -> str:
    _require_spread(np.sqrt(result.effects.vi))
    X = np.column_stack([np.ones(result.k), np.sqrt(result.effects.vi)])
    slope_fit = fit_effects(result.effects, result.method, "z", result.level, X=X, allow_small_df=True)
    return "right" if slope_fit.coef[1] < 0 else "left"


def trim_and_fill(result: MetaResult, side: str | None = None, max_iter: int = 100) -> MetaResult:
    """Trim-and-fill (L0): the model refitted with k0 imputed mirror-image studies.

    The returned result's ``to_dict()`` adds ``k0`` and ``side``; its effects include the filled
    studies (labelled 'filled N').
    """
    _plain(result, "trim-and-fill", 3)
    if result.pooling != "IV":
        raise MetaInputError("trim-and-fill needs an inverse-variance model", field="method")
    side = side or _side(result)
    if side not in ("left", "right"):
        raise MetaInputError("side must be 'left' or 'right'", field="side")
    sign = -1.0 if side == "right" else 1.0
    order = np.argsort(sign * result.effects.yi, kind="stable")
    y = sign * result.effects.yi[order]
    v = result.effects.vi[order]
    k = result.k
    k0, previous = 0, -1
    for _ in range(max_iter):
        if k0 == previous:
            break
        previous = k0
        trimmed = StudyEffects("GEN", [""] * (k - k0), y[: k - k0], v[: k - k0])
        beta = fit_effects(trimmed, result.method, "z", result.level, allow_small_df=True).estimate
        centred = y - beta
        signed_ranks = np.sign(centred) * _ranks_first(np.abs(centred))
        s_r = np.sum(signed_ranks[signed_ranks > 0])
        k0 = max(0, round((4 * s_r - k * (k + 1)) / (2 * k - 1)))
        k0 = min(k0, k - 1)
    else:
        raise MetaInputError(f"trim-and-fill did not settle on k0 in {max_iter} iterations")
    filled = _filled_effects(result.effects, y, v, beta, k0, sign)
    out = fit_effects(filled, result.method, result.test, result.level, allow_small_df=True)
    out.extra["k0"] = int(k0)
    out.extra["side"] = side
    out.notes.append(f"trim-and-fill (L0): {k0} study(ies) imputed on the {side}")
    return out


def _filled_effects(effects, y_sorted, v_sorted, beta, k0, sign) -> StudyEffects:
    k = len(y_sorted)
    fill_y = sign * (2 * beta - y_sorted[k - k0 :])
    fill_v = v_sorted[k - k0 :]
    return StudyEffects(
        effects.measure,
        list(effects.study) + [f"filled {i + 1}" for i in range(k0)],
        np.concatenate([effects.yi, fill_y]),
        np.concatenate([effects.vi, fill_v]),
    )
