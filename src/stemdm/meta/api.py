"""``meta.fit``: the one entry point from a DataFrame to a fitted meta-analysis."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from stemdm.meta.binary import fit_binary
from stemdm.meta.effects import StudyEffects, compute_effects, omit_missing, study_labels
from stemdm.meta.errors import MetaInputError
from stemdm.meta.model import MetaResult, fit_effects

POOLING_METHODS = ("MH", "PETO")


def fit(
    data: pd.DataFrame,
    measure: str = "GEN",
    method: str = "REML",
    test: str = "z",
    level: float = 95,
    by: str | None = None,
    mods: Sequence[str] | str | None = None,
    add: float = 0.5,
    to: str = "only0",
    na_action: str = "fail",
    weights: str | Sequence[float] | None = None,
) -> MetaResult:
    """Fit a meta-analysis to ``data`` (a DataFrame with metafor's column names).

    measure: MD, SMD, ROM, RR, OR, RD or GEN (see :mod:`stemdm.meta.effects`).
    method: FE, DL, HE, HS, SJ, ML, REML, EB, PM (inverse variance) or MH / PETO (2x2 tables).
    test: "z", "knha" (Hartung-Knapp-Sidik-Jonkman, t with k-p df) or "adhoc" (knha whose SE is
    never below the z-test's). level: confidence level in percent.
    by: a column whose levels get separate models plus the test for subgroup differences
    (Q between, as RevMan: Borenstein et al. 2009, ch. 19). mods: moderator columns for a
    mixed-effects meta-regression (text columns become treatment-coded dummies, first level
    in sorted order as reference, as R's ``model.matrix``).
    add, to: continuity correction for 2x2 data (metafor's ``add``/``to``).
    na_action: "fail" (a missing value is an error) or "omit" (rows with missing values left out, named in the
    notes).
    weights: a column name or one number per study: user weights for the pooled estimate / coefficients
    instead of inverse-variance weights (metafor's ``weights=``; tau^2 and heterogeneity as usual).
    """
    method = str(method).upper()
    omitted: list[str] = []
    if na_action == "omit" and isinstance(data, pd.DataFrame):
        data, omitted = omit_missing(data, measure)  # before subgroups and moderators read the rows
    effects = compute_effects(data, measure, add=add, to=to, na_action=na_action)
    effects.notes = omitted + effects.notes
    if by is not None and mods:
        raise MetaInputError("use either by= (subgroups) or mods= (meta-regression), not both")
    user_weights = None if weights is None else _user_weights(data, weights, effects.study, method, by)
    if by is not None:
        return fit_subgroups(data, effects, by, method, test, level, add, to)
    if mods:
        if method in POOLING_METHODS:
            raise MetaInputError(f"method='{method}' cannot take moderators", field="mods")
        X, names = design_matrix(data, [mods] if isinstance(mods, str) else list(mods))
        return fit_effects(effects, method, test, level, X=X, coef_names=names, user_weights=user_weights)
    if user_weights is not None:
        return fit_effects(effects, method, test, level, user_weights=user_weights)
    return fit_pooled(effects, method, test, level, add, to)


def _user_weights(
    data: pd.DataFrame, weights: str | Sequence[float], labels: list[str], method: str, by: str | None
) -> np.ndarray:
    """User weights as an array, each finite and >= 0, not all 0; errors name the study."""
    if method in POOLING_METHODS or by is not None:
        raise MetaInputError(
            "weights: only for inverse-variance models without by= subgroups", field="weights"
        )
    if isinstance(weights, str):
        if weights not in data.columns:
            raise MetaInputError(f"weights: no column {weights!r} in the data", field="weights")
        values = pd.to_numeric(data[weights], errors="coerce").to_numpy(dtype=float)
    else:
        values = np.asarray(list(weights), dtype=float)
    if len(values) != len(labels):
        raise MetaInputError(f"weights: {len(values)} values for {len(labels)} studies", field="weights")
    for label, value in zip(labels, values, strict=True):
        if not (math.isfinite(value) and value >= 0):
            raise MetaInputError(
                f"study {label}: weight {value} must be a finite number >= 0", field="weights"
            )
    if not values.sum() > 0:
        raise MetaInputError("weights: all weights are 0", field="weights")
    return values


def fit_pooled(
    effects: StudyEffects, method: str, test: str, level: float, add: float = 0.5,
    to: str = "only0", allow_small_df: bool = False,
) -> MetaResult:  # fmt: skip
    """Pooling of study effects by inverse variance (any estimator) or MH / Peto.

    ``allow_small_df``: let knha run on 1 residual df (a subgroup of 2 studies), with a note.
    """
    if method in POOLING_METHODS:
        return fit_binary(effects, method, level, add, to)
    result = fit_effects(effects, method, test, level, allow_small_df=allow_small_df)
    if test != "z" and result.k == 2:
        result.notes.append(f"k = 2 under test='{test}': t on 1 df, so the interval is very wide")
    return result


def fit_subgroups(
    data: pd.DataFrame, effects: StudyEffects, by: str, method: str, test: str, level: float,
    add: float = 0.5, to: str = "only0",
) -> MetaResult:  # fmt: skip
    """A separate model per level of ``by``, the overall model, and Q between subgroups.

    Q_between = sum_g w_g (theta_g - theta_bar)^2 with w_g = 1/SE_g^2 of each subgroup's pooled
    estimate, df = G - 1 (the test for subgroup differences RevMan reports).
    """
    groups = subgroup_labels(data, by)
    levels = _levels(data[by], groups)
    subgroups: dict[str, MetaResult] = {}
    for level_name in levels:
        mask = np.array([g == level_name for g in groups])
        if not mask.any():
            raise MetaInputError(f"subgroup '{level_name}' has no studies", field=by)
        try:
            subgroups[level_name] = fit_pooled(
                effects.subset(mask), method, test, level, add, to, allow_small_df=True
            )
        except MetaInputError as error:
            raise MetaInputError(f"in subgroup '{level_name}' of '{by}': {error}", field=by) from None
    if len(subgroups) < 2:
        raise MetaInputError(f"'{by}' has a single level: no subgroups to compare", field=by)
    overall = fit_pooled(effects, method, test, level, add, to)
    overall.subgroups = subgroups
    overall.by = by
    overall.q_between_df = len(subgroups) - 1
    estimates = np.array([s.estimate for s in subgroups.values()])
    ses = np.array([s.se for s in subgroups.values()])
    if not np.all(np.isfinite(ses) & (ses > 0)):
        zero = ", ".join(name for name, sub in subgroups.items() if not sub.se > 0)
        overall.notes.append(
            f"test for subgroup differences undefined: subgroup(s) {zero} have a zero-width CI "
            "(Knapp-Hartung scale 0); use test='adhoc' or 'z'"
        )
        return overall
    w = 1 / ses**2
    pooled = np.sum(w * estimates) / np.sum(w)
    overall.q_between = float(np.sum(w * (estimates - pooled) ** 2))
    overall.q_between_pval = float(stats.chi2.sf(overall.q_between, overall.q_between_df))
    return overall


def subgroup_labels(data: pd.DataFrame, by: str) -> list[str]:
    if by not in data.columns:
        raise MetaInputError(f"subgroup column '{by}' not in the data", field=by)
    labels = study_labels(data)
    values = data[by].tolist()
    for label, value in zip(labels, values, strict=True):
        if pd.isna(value) or str(value).strip() == "":
            raise MetaInputError("subgroup value is missing", study=label, field=by)
    return [str(v) for v in values]


def _levels(column: pd.Series, groups: list[str]) -> list[str]:
    """Subgroup levels: a categorical's declared order (so empty ones are caught), numbers in
    numeric order, text sorted (R's default factor order)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return [str(c) for c in column.cat.categories]
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return [str(v) for v in sorted(set(column.tolist()))]
    return sorted(set(groups))


def design_matrix(data: pd.DataFrame, mods: list[str]) -> tuple[np.ndarray, list[str]]:
    """Intercept plus moderators; text/categorical columns as treatment-coded dummies."""
    labels = study_labels(data)
    columns = [np.ones(len(data))]
    names = ["intrcpt"]
    for name in mods:
        if name not in data.columns:
            raise MetaInputError(f"moderator column '{name}' not in the data", field=name)
        column = data[name]
        for label, value in zip(labels, column.tolist(), strict=True):
            if pd.isna(value):
                raise MetaInputError("moderator value is missing", study=label, field=name)
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            values = column.to_numpy(dtype=float)
            if np.ptp(values) == 0:
                raise MetaInputError(
                    f"moderator '{name}' is constant ({values[0]:g}) and explains nothing", field=name
                )
            columns.append(values)
            names.append(name)
        else:
            text = column.astype(str)
            levels = _levels(column, text.tolist())
            if len(set(text)) < 2:
                raise MetaInputError(f"moderator '{name}' has a single level ('{text.iloc[0]}')", field=name)
            for level_name in levels[1:]:
                columns.append((text == level_name).to_numpy(dtype=float))
                names.append(f"{name}{level_name}")
    X = np.column_stack(columns)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise MetaInputError(
            f"moderators {mods} are collinear (design matrix rank {np.linalg.matrix_rank(X)} "
            f"< {X.shape[1]} coefficients)",
            field=",".join(mods),
        )
    if X.shape[0] <= X.shape[1]:
        raise MetaInputError(
            f"{X.shape[0]} studies cannot estimate {X.shape[1]} coefficients", field=",".join(mods)
        )
    return X, names
