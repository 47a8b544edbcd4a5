"""One meta-analysis (or meta-regression): the result object and the fit on study effects."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from stemdm.meta import core
from stemdm.meta.effects import RATIO_MEASURES, StudyEffects
from stemdm.meta.errors import ConvergenceError, MetaInputError
from stemdm.meta.report import summary_text
from stemdm.meta.tau2_se import se_tau2

SUMMARY_KEYS = (
    "k", "estimate", "se", "ci_lb", "ci_ub", "pval", "tau2", "tau2_ci_lb", "tau2_ci_ub",
    "i2", "h2", "q", "q_df", "q_pval", "pi_lb", "pi_ub",
)  # fmt: skip


def _number(value: Any) -> float | int | None:
    """A JSON-safe number; None (never NaN) where a quantity is undefined."""
    if value is None:
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass
class MetaResult:
    """A fitted meta-analysis. Ratios (RR, OR, ROM) are on the log scale.

    ``estimate`` is the pooled effect (or the intercept of a meta-regression), ``weights`` the
    percentage weight of each study, ``notes`` what a reader must know (e.g. undefined statistics).
    """

    effects: StudyEffects
    method: str
    test: str
    level: float
    k: int
    estimate: float
    se: float
    ci_lb: float
    ci_ub: float
    pval: float
    stat: float
    dist_df: float | None
    tau2: float
    tau2_ci_lb: float | None
    tau2_ci_ub: float | None
    i2: float | None
    h2: float | None
    i2_ci: tuple[float, float] | None
    h2_ci: tuple[float, float] | None
    q: float | None
    q_df: int | None
    q_pval: float | None
    pi_lb: float | None
    pi_ub: float | None
    weights: np.ndarray
    notes: list[str] = field(default_factory=list)
    #: Knapp-Hartung scale factor of the sampling variances (1 under the z test)
    s2w: float = 1.0
    # meta-regression
    X: np.ndarray | None = None
    coef_names: list[str] | None = None
    coef: np.ndarray | None = None
    coef_se: np.ndarray | None = None
    coef_pval: np.ndarray | None = None
    coef_ci: tuple[np.ndarray, np.ndarray] | None = None
    vb: np.ndarray | None = None
    qm: float | None = None
    qm_df: tuple[int, int | None] | None = None
    qm_pval: float | None = None
    r2: float | None = None
    # pooled by another method than inverse variance ("IV", "MH", "PETO")
    pooling: str = "IV"
    extra: dict[str, Any] = field(default_factory=dict)
    # subgroups
    subgroups: dict[str, MetaResult] | None = None
    by: str | None = None
    q_between: float | None = None
    q_between_df: int | None = None
    q_between_pval: float | None = None

    @property
    def measure(self) -> str:
        return self.effects.measure

    @property
    def is_ratio(self) -> bool:
        return self.measure in RATIO_MEASURES

    def to_dict(self) -> dict[str, Any]:
        """The documented summary: keys in SUMMARY_KEYS (+ subgroup / moderator keys)."""
        out: dict[str, Any] = {key: _number(getattr(self, key)) for key in SUMMARY_KEYS}
        out.update(
            measure=self.measure, method=self.method, test=self.test, level=self.level,
            pooling=self.pooling, notes=list(self.notes),
        )  # fmt: skip
        if self.coef is not None:
            out.update(
                coef_names=list(self.coef_names or []),
                coef=[_number(c) for c in self.coef],
                se=[_number(s) for s in self.coef_se],
                pval=[_number(p) for p in self.coef_pval],
                qm=_number(self.qm),
                qm_pval=_number(self.qm_pval),
                r2=_number(self.r2),
                qe=_number(self.q),
            )
        if self.subgroups is not None:
            out["subgroups"] = {name: sub.to_dict() for name, sub in self.subgroups.items()}
            out.update(
                by=self.by,
                q_between=_number(self.q_between),
                q_between_df=_number(self.q_between_df),
                q_between_pval=_number(self.q_between_pval),
            )
        for name, bounds in (("i2", self.i2_ci), ("h2", self.h2_ci)):
            lower, upper = bounds if bounds is not None else (None, None)
            out[f"{name}_ci_lb"], out[f"{name}_ci_ub"] = _number(lower), _number(upper)
        for key, value in self.extra.items():
            out[key] = _number(value) if isinstance(value, (float, int, np.number)) else value
        return out

    def study_table(self) -> pd.DataFrame:
        """Per-study effects with CIs (analysis scale) and percentage weights."""
        crit = stats.norm.ppf(1 - (1 - self.level / 100) / 2)
        sei = np.sqrt(self.effects.vi)
        return pd.DataFrame(
            {
                "study": self.effects.study,
                "yi": self.effects.yi,
                "vi": self.effects.vi,
                "ci_lb": self.effects.yi - crit * sei,
                "ci_ub": self.effects.yi + crit * sei,
                "weight": self.weights,
            }
        )

    def summary(self) -> str:
        """A plain-text summary as a reviewer would read it (ratios back-transformed)."""
        return summary_text(self)


def _check_k(effects: StudyEffects, test: str, p: int, allow_small_df: bool) -> None:
    if effects.k == 0:
        raise MetaInputError("no studies to pool (empty data or empty subgroup)")
    if effects.k <= p and p > 1:
        raise MetaInputError(f"{effects.k} studies cannot estimate {p} coefficients", field="mods")
    small = effects.k - p < 2 and effects.k > 1
    if test in ("knha", "adhoc") and small and not allow_small_df:
        raise MetaInputError(
            f"test='{test}' with k={effects.k} studies leaves {effects.k - p} residual degree(s) "
            "of freedom: the t-based interval is uninformative; use test='z' or add studies",
            field="test",
        )


def _single_study(effects: StudyEffects, method: str, test: str, level: float) -> MetaResult:
    """k = 1: the pooled effect is the study itself; heterogeneity is undefined and said so."""
    y, v = float(effects.yi[0]), float(effects.vi[0])
    se = math.sqrt(v)
    crit = stats.norm.ppf(1 - (1 - level / 100) / 2)
    return MetaResult(
        effects=effects, method=method, test="z", level=level, k=1,
        estimate=y, se=se, ci_lb=y - crit * se, ci_ub=y + crit * se,
        pval=float(2 * stats.norm.sf(abs(y / se))), stat=y / se, dist_df=None,
        tau2=0.0, tau2_ci_lb=None, tau2_ci_ub=None, i2=None, h2=None, i2_ci=None, h2_ci=None,
        q=None, q_df=None, q_pval=None, pi_lb=None, pi_ub=None, weights=np.array([100.0]),
        notes=list(effects.notes)
        + [
            "k = 1: the pooled estimate is the single study's; heterogeneity (tau2, I2, H2, Q) "
            "and the prediction interval are undefined"
            + ("; z-test used (no residual df for t)" if test != "z" else "")
        ],
    )  # fmt: skip


def fit_effects(
    effects: StudyEffects,
    method: str = "REML",
    test: str = "z",
    level: float = 95,
    X: np.ndarray | None = None,
    coef_names: list[str] | None = None,
    allow_small_df: bool = False,
    user_weights: np.ndarray | None = None,
) -> MetaResult:
    """Fit the common-effect, random-effects or mixed-effects (X given) model to study effects.

    Same definitions as metafor's ``rma.uni`` (Viechtbauer 2010, J Stat Softw 36(3)), see
    :mod:`stemdm.meta.core` for each estimator's source. Prediction interval as metafor's
    ``predict()``: estimate +/- crit * sqrt(se^2 + tau^2), crit from t(k-p) under knha.
    ``allow_small_df`` lets knha run with 1 residual df (as metafor does; used by sensitivity
    analyses on small subsets); a direct call with k = 2 under knha is an error.
    ``user_weights``: weights for the coefficients instead of 1/(v + tau^2) (metafor ``weights=``): tau^2,
    Q and I^2 as usual, V_b = (X'AX)^-1 X'A M A X (X'AX)^-1 with M = diag(v + tau^2).
    ``extra["se_tau2"]``: the SE of tau^2 (``stemdm.meta.tau2_se``).
    """
    method = method.upper()
    if method not in core.ESTIMATORS:
        raise MetaInputError(f"unknown method {method!r}; use one of {core.ESTIMATORS}", field="method")
    if test not in core.TESTS:
        raise MetaInputError(f"unknown test {test!r}; use one of {core.TESTS}", field="test")
    if not 0 < level < 100:
        raise MetaInputError(f"level must be between 0 and 100 (got {level})", field="level")
    p = 1 if X is None else X.shape[1]
    _check_k(effects, test, p, allow_small_df)
    if X is None and effects.k == 1:
        return _single_study(effects, method, test, level)
    batch = core.make_batch(effects.yi[None, :], effects.vi[None, :], None if X is None else X)
    tau2_arr, converged = core.estimate_tau2(batch, method)
    if not converged[0]:
        raise ConvergenceError(
            f"{method} estimate of tau^2 did not converge (Fisher scoring and bisection both "
            "failed); try method='PM' or 'DL'"
        )
    tau2 = float(tau2_arr[0])
    inference = core.infer(batch, tau2_arr, test, level)
    het = core.heterogeneity(batch, tau2_arr, method)
    notes: list[str] = list(effects.notes)
    if method != "FE":
        ci_lb, ci_ub = (float(b[0]) for b in core.tau2_ci_qprofile(batch, level))
        vt = het.typical_v
        i2_ci = tuple(float(core.i2_from_tau2(np.array([b]), vt)[0]) for b in (ci_lb, ci_ub))
        h2_ci = tuple(float(core.h2_from_tau2(np.array([b]), vt)[0]) for b in (ci_lb, ci_ub))
    else:
        ci_lb = ci_ub = None
        i2_ci = h2_ci = None
        notes.append("common-effect model: tau2 fixed at 0, so no interval for tau2")
    if test == "knha" and float(inference.s2w[0]) == 0.0:
        notes.append(
            "Knapp-Hartung scale s2 = 0 (the effects fit the model exactly), so the SE and CI have zero "
            "width, as in metafor; this is an artefact, not certainty: use test='adhoc' (scale at least 1, "
            "Jackson et al. 2017) or 'z'"
        )
    w = inference.weights[0]
    result = MetaResult(
        effects=effects, method=method, test=test, level=level, k=effects.k,
        estimate=float(inference.beta[0, 0]), se=float(inference.se[0, 0]),
        ci_lb=float(inference.ci_lb[0, 0]), ci_ub=float(inference.ci_ub[0, 0]),
        pval=float(inference.pval[0, 0]), stat=float(inference.stat[0, 0]),
        dist_df=None if test == "z" else float(inference.dist_df[0]),
        tau2=tau2, tau2_ci_lb=ci_lb, tau2_ci_ub=ci_ub,
        i2=float(het.i2[0]), h2=float(het.h2[0]), i2_ci=i2_ci, h2_ci=h2_ci,
        q=float(het.q[0]), q_df=int(het.q_df[0]), q_pval=float(het.q_pval[0]),
        pi_lb=None, pi_ub=None, weights=100 * w / w.sum(), notes=notes,
        s2w=float(inference.s2w[0]),
    )  # fmt: skip
    design = np.ones((effects.k, 1)) if X is None else X
    result.extra["se_tau2"] = se_tau2(effects.yi, effects.vi, design, tau2, method)
    if user_weights is not None:
        _apply_user_weights(result, inference, design, user_weights)
    if X is None:
        half = float(inference.crit[0]) * math.sqrt(result.se**2 + tau2)
        result.pi_lb, result.pi_ub = result.estimate - half, result.estimate + half
    else:
        _add_moderator_tests(result, batch, inference, X, coef_names)
    return result


def _apply_user_weights(result: MetaResult, inference: core.Inference, X: np.ndarray, a: np.ndarray) -> None:
    """Coefficients and their covariance under user weights ``a`` (see fit_effects); the Knapp-Hartung scale
    is the inverse-variance fit's, as in metafor."""
    M = result.effects.vi + result.tau2
    XA = X.T * a
    bread = np.linalg.inv(XA @ X)
    beta = bread @ (XA @ result.effects.yi)
    vb = bread @ (XA * M) @ XA.T @ bread * float(inference.s2w[0])
    se = np.sqrt(np.diag(vb))
    crit = float(inference.crit[0])
    stat = beta / se
    if result.test == "z":
        pval = 2 * stats.norm.sf(np.abs(stat))
    else:
        pval = 2 * stats.t.sf(np.abs(stat), float(inference.dist_df[0]))
    inference.beta, inference.vb, inference.se = beta[None, :], vb[None], se[None, :]
    inference.stat, inference.pval = stat[None, :], pval[None, :]
    inference.ci_lb, inference.ci_ub = (beta - crit * se)[None, :], (beta + crit * se)[None, :]
    result.estimate, result.se, result.stat, result.pval = (
        float(beta[0]),
        float(se[0]),
        float(stat[0]),
        float(pval[0]),
    )
    result.ci_lb, result.ci_ub = float(beta[0] - crit * se[0]), float(beta[0] + crit * se[0])
    result.weights = 100 * a / a.sum()
    result.notes.append(
        "user weights: the estimate and its SE follow the given weights; tau2, Q and I2 are the estimator's "
        "as usual (metafor's weights=)"
    )


def _add_moderator_tests(
    result: MetaResult, batch: core.Batch, inference: core.Inference, X: np.ndarray,
    coef_names: list[str] | None,
) -> None:  # fmt: skip
    """QM omnibus test of all non-intercept coefficients (Wald chi^2, or F under knha) and R^2."""
    p = X.shape[1]
    beta, vb = inference.beta[0], inference.vb[0]
    result.X = X
    result.coef_names = coef_names or [f"x{j}" for j in range(p)]
    result.coef, result.coef_se = beta, inference.se[0]
    result.coef_pval = inference.pval[0]
    result.coef_ci = (inference.ci_lb[0], inference.ci_ub[0])
    result.vb = vb
    b, V = beta[1:], vb[1:, 1:]
    qm = float(b @ np.linalg.solve(V, b))
    df_resid = result.k - p
    if result.test == "z":
        result.qm, result.qm_df = qm, (p - 1, None)
        result.qm_pval = float(stats.chi2.sf(qm, p - 1))
    else:
        result.qm, result.qm_df = qm / (p - 1), (p - 1, df_resid)
        result.qm_pval = float(stats.f.sf(result.qm, p - 1, df_resid))
    result.r2 = _pseudo_r2(result, batch)
    result.notes.append("meta-regression: tau2, I2, H2 and Q are residual heterogeneity")


def _pseudo_r2(result: MetaResult, batch: core.Batch) -> float | None:
    """Proportion of tau^2 explained: max(0, 100 (tau2_RE - tau2_ME)/tau2_RE) (Raudenbush 2009)."""
    if result.method == "FE":
        return _fe_adjusted_r2(result)
    intercept_only = core.make_batch(batch.y[:, batch.mask[0]], batch.v[:, batch.mask[0]])
    tau2_re, _ = core.estimate_tau2(intercept_only, result.method)
    if tau2_re[0] <= 0:
        return 0.0
    return float(max(0.0, 100 * (tau2_re[0] - result.tau2) / tau2_re[0]))


def _fe_adjusted_r2(result: MetaResult) -> float:
    """Adjusted R^2 of the weighted least squares regression, as metafor for FE models."""
    y, w, X = result.effects.yi, 1 / result.effects.vi, result.X
    if np.var(y) == 0:
        return 0.0
    beta = np.linalg.solve(X.T @ (w[:, None] * X), X.T @ (w * y))
    resid = y - X @ beta
    ybar = np.sum(w * y) / np.sum(w)
    n, p = X.shape
    r2 = 1 - np.sum(w * resid**2) / np.sum(w * (y - ybar) ** 2)
    adjusted = 1 - (1 - r2) * (n - 1) / (n - p)
    return float(max(0.0, 100 * adjusted))
