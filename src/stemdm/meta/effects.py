"""Study-level effect sizes (metafor's ``escalc``) from a DataFrame with metafor's column names.

Formulas (the sampling variances are metafor's default large-sample ones, ``vtype="LS"``):

* MD:  y = m1 - m2,  v = sd1^2/n1 + sd2^2/n2.
* SMD: Hedges' g = c(m) * (m1 - m2) / s_pooled, m = n1 + n2 - 2, with the exact bias correction
  c(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2))  (Hedges 1981);
  v = 1/n1 + 1/n2 + g^2 / (2 (n1 + n2))  (Hedges & Olkin 1985, as metafor).
* ROM: y = log(m1/m2),  v = sd1^2/(n1 m1^2) + sd2^2/(n2 m2^2)  (Hedges, Gurevitch & Curtis 1999).
* RR:  y = log((a/n1)/(c/n2)),  v = 1/a - 1/n1 + 1/c - 1/n2.
* OR:  y = log(a d / (b c)),  v = 1/a + 1/b + 1/c + 1/d.
* RD:  y = a/n1 - c/n2,  v = p1(1-p1)/n1 + p2(1-p2)/n2.
* GEN: y and v (or its standard error) given.

Binary studies with a zero cell get ``add`` (default 1/2) added to all four cells (``to="only0"``,
metafor's default); ``to`` may also be "all", "if0all" or "none".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import gammaln

from stemdm.meta.errors import MetaInputError

CONTINUOUS_MEASURES = ("MD", "SMD", "ROM")
BINARY_MEASURES = ("RR", "OR", "RD")
MEASURES = CONTINUOUS_MEASURES + BINARY_MEASURES + ("GEN",)
#: Measures analysed on the log scale and shown back-transformed (exp) to readers.
RATIO_MEASURES = ("ROM", "RR", "OR")
CONTINUITY_RULES = ("only0", "all", "if0all", "none")
#: Inputs at or beyond this magnitude are entry errors (no outcome, SD or sample size comes close), and far
#: larger ones would overflow squared terms and weights.
LARGEST_VALUE = 1e12
#: Smallest sampling variance analysed (an SE of 1e-12): below it weights overflow and Q, I2 are lost.
SMALLEST_VARIANCE = 1e-24
#: Largest group size or count (no trial arm approaches it; 1e20 would lose integer precision).
MAX_GROUP_SIZE = 1e9


@dataclass
class StudyEffects:
    """Per-study effects ready for pooling.

    ``yi`` is on the analysis scale (log for ratios), ``vi`` its sampling variance.
    For binary data the (uncorrected) 2x2 counts are kept for Mantel-Haenszel and Peto pooling.
    """

    measure: str
    study: list[str]
    yi: np.ndarray
    vi: np.ndarray
    n1: np.ndarray | None = None
    n2: np.ndarray | None = None
    counts: dict[str, np.ndarray] | None = None
    raw: pd.DataFrame | None = field(default=None, repr=False)
    #: what a reader must know about how the effects were computed (e.g. corrected zero cells)
    notes: list[str] = field(default_factory=list)

    @property
    def k(self) -> int:
        return len(self.yi)

    def subset(self, mask: np.ndarray) -> StudyEffects:
        """The studies selected by a boolean mask or index array, in that order."""
        idx = np.arange(self.k)[mask]
        counts = None if self.counts is None else {k: v[idx] for k, v in self.counts.items()}
        return StudyEffects(
            measure=self.measure,
            study=[self.study[i] for i in idx],
            yi=self.yi[idx],
            vi=self.vi[idx],
            n1=None if self.n1 is None else self.n1[idx],
            n2=None if self.n2 is None else self.n2[idx],
            counts=counts,
            raw=None if self.raw is None else self.raw.iloc[idx].reset_index(drop=True),
            notes=list(self.notes),
        )


def study_labels(data: pd.DataFrame) -> list[str]:
    """Study labels from a ``study`` column, else 'row N' (1-based, as a spreadsheet shows)."""
    if "study" in data.columns:
        return [str(s) for s in data["study"].tolist()]
    return [f"row {i + 1}" for i in range(len(data))]


def numeric_column(data: pd.DataFrame, name: str, labels: list[str]) -> np.ndarray:
    """A column as float64, with a clear error for a missing column, a non-number or NaN."""
    if name not in data.columns:
        close = [c for c in data.columns if c.lower() == name.lower()]
        hint = f" (found '{close[0]}': column names are case-sensitive)" if close else ""
        raise MetaInputError(f"missing column '{name}'{hint}", field=name)
    column = data[name]
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        values = column.to_numpy(dtype=float)
    else:
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
    if np.isfinite(values).all() and np.all(np.abs(values) < LARGEST_VALUE):
        return values
    raw = column.to_numpy()
    for i, value in enumerate(values):
        shown = raw[i]
        if not np.isfinite(value):
            text = shown if isinstance(shown, str) else float(shown)
            reason = "is missing (NaN)" if pd.isna(shown) else f"is not a finite number: {text!r}"
            raise MetaInputError(f"value {reason}", study=labels[i], field=name)
        if abs(value) >= LARGEST_VALUE:
            raise MetaInputError(
                f"value {value:g} is too large to analyse (|value| must be below {LARGEST_VALUE:g}); "
                "check the unit or a misplaced decimal point",
                study=labels[i],
                field=name,
            )
    return values


def _require(condition: np.ndarray, labels: list[str], name: str, message: str) -> None:
    bad = np.flatnonzero(~condition)
    if bad.size:
        raise MetaInputError(message, study=labels[bad[0]], field=name)


def _hedges_correction(m: np.ndarray) -> np.ndarray:
    """Exact small-sample correction c(m) of Hedges (1981), via log-gamma for large m."""
    return np.exp(gammaln(m / 2) - 0.5 * np.log(m / 2) - gammaln((m - 1) / 2))


def _continuous(data: pd.DataFrame, measure: str, labels: list[str]) -> StudyEffects:
    m1, sd1, n1 = (numeric_column(data, c, labels) for c in ("m1i", "sd1i", "n1i"))
    m2, sd2, n2 = (numeric_column(data, c, labels) for c in ("m2i", "sd2i", "n2i"))
    for name, sd in (("sd1i", sd1), ("sd2i", sd2)):
        _require(sd > 0, labels, name, "standard deviation must be > 0")
    for name, n in (("n1i", n1), ("n2i", n2)):
        _require(n >= 2, labels, name, "group size must be at least 2")
        _require(n <= MAX_GROUP_SIZE, labels, name, f"group size above {MAX_GROUP_SIZE:,}: not a trial arm")
    if measure == "MD":
        yi = m1 - m2
        vi = sd1**2 / n1 + sd2**2 / n2
    elif measure == "SMD":
        df = n1 + n2 - 2
        pooled_sd = np.sqrt(((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / df)
        yi = _hedges_correction(df) * (m1 - m2) / pooled_sd
        vi = 1 / n1 + 1 / n2 + yi**2 / (2 * (n1 + n2))
    else:  # ROM
        for name, mean in (("m1i", m1), ("m2i", m2)):
            _require(mean > 0, labels, name, "ratio of means needs positive means")
        yi = np.log(m1 / m2)
        vi = sd1**2 / (n1 * m1**2) + sd2**2 / (n2 * m2**2)
    return StudyEffects(measure, labels, yi, vi, n1=n1, n2=n2, raw=data)


def two_by_two(data: pd.DataFrame, labels: list[str]) -> dict[str, np.ndarray]:
    """Cells ai, bi, ci, di from either ``ai n1i ci n2i`` or ``ai bi ci di`` columns, validated."""
    ai = numeric_column(data, "ai", labels)
    ci = numeric_column(data, "ci", labels)
    if {"bi", "di"} <= set(data.columns):
        bi = numeric_column(data, "bi", labels)
        di = numeric_column(data, "di", labels)
        names = {"bi": "bi", "di": "di"}
    else:
        if "n1i" not in data.columns and "bi" not in data.columns:
            raise MetaInputError("binary data need 'ai n1i ci n2i' or 'ai bi ci di'", field="n1i")
        n1 = numeric_column(data, "n1i", labels)
        n2 = numeric_column(data, "n2i", labels)
        _require(ai <= n1, labels, "ai", "events exceed the group size n1i")
        _require(ci <= n2, labels, "ci", "events exceed the group size n2i")
        bi, di = n1 - ai, n2 - ci
        names = {"bi": "n1i", "di": "n2i"}
    cells = {"ai": ai, "bi": bi, "ci": ci, "di": di}
    for cell, values in cells.items():
        name = names.get(cell, cell)
        _require(values >= 0, labels, name, "counts must be non-negative")
        _require(values <= MAX_GROUP_SIZE, labels, name, f"count above {MAX_GROUP_SIZE:,}: not a trial arm")
        _require(values == np.round(values), labels, name, "counts must be whole numbers")
    _require(ai + bi > 0, labels, names["bi"], "zero total in group 1")
    _require(ci + di > 0, labels, names["di"], "zero total in group 2")
    return cells


def continuity_corrected(cells: dict[str, np.ndarray], add: float, to: str) -> dict[str, np.ndarray]:
    """Cells with ``add`` added as metafor's ``to`` rule says (only0, all, if0all, none)."""
    if to not in CONTINUITY_RULES:
        raise MetaInputError(f"unknown continuity rule to={to!r}; use one of {CONTINUITY_RULES}", field="to")
    if not (isinstance(add, int | float) and np.isfinite(add) and 0 <= add <= 1):
        raise MetaInputError(
            f"continuity correction add={add!r} must be a number from 0 to 1 (metafor's default 0.5)",
            field="add",
        )
    stacked = np.vstack([cells[c] for c in ("ai", "bi", "ci", "di")])
    has_zero = (stacked == 0).any(axis=0)
    if to == "all":
        which = np.ones_like(has_zero)
    elif to == "only0":
        which = has_zero
    elif to == "if0all":
        which = np.full_like(has_zero, has_zero.any())
    else:
        which = np.zeros_like(has_zero)
    return {c: v + add * which for c, v in cells.items()}


def binary_effects(cells: dict[str, np.ndarray], measure: str) -> tuple[np.ndarray, np.ndarray]:
    """(yi, vi) of RR, OR or RD from (already corrected) cells; inf where a zero cell was left."""
    ai, bi, ci, di = (cells[c] for c in ("ai", "bi", "ci", "di"))
    n1, n2 = ai + bi, ci + di
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "RR":
            yi = np.log((ai / n1) / (ci / n2))
            vi = 1 / ai - 1 / n1 + 1 / ci - 1 / n2
        elif measure == "OR":
            yi = np.log(ai * di / (bi * ci))
            vi = 1 / ai + 1 / bi + 1 / ci + 1 / di
        else:
            p1, p2 = ai / n1, ci / n2
            yi = p1 - p2
            vi = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
    return yi, vi


def _binary(data: pd.DataFrame, measure: str, labels: list[str], add: float, to: str) -> StudyEffects:
    cells = two_by_two(data, labels)
    yi, vi = binary_effects(continuity_corrected(cells, add, to), measure)
    for i in range(len(yi)):
        if not (np.isfinite(yi[i]) and np.isfinite(vi[i]) and vi[i] > 0):
            raise MetaInputError(
                f"{measure} is undefined for this study (zero cells and to={to!r}, "
                f"or no variability); use to='only0' or drop the study",
                study=labels[i],
                field="ai",
            )
    n1 = cells["ai"] + cells["bi"]
    n2 = cells["ci"] + cells["di"]
    notes = _zero_cell_notes(cells, add, to, labels)
    return StudyEffects(measure, labels, yi, vi, n1=n1, n2=n2, counts=cells, raw=data, notes=notes)


def _zero_cell_notes(cells: dict[str, np.ndarray], add: float, to: str, labels: list[str]) -> list[str]:
    """Say which studies had zero cells corrected, and which had no events in either arm."""
    notes = []
    has_zero = np.vstack(list(cells.values())).min(axis=0) == 0
    if to == "all" and add > 0:
        notes.append(f"{add:g} added to every cell of every study (to='all')")
    elif has_zero.any() and to != "none" and add > 0:
        names = ", ".join(label for label, zero in zip(labels, has_zero, strict=True) if zero)
        notes.append(f"{add:g} added to the cells of studies with a zero cell ({names})")
    no_events = ((cells["ai"] == 0) & (cells["ci"] == 0)) | ((cells["bi"] == 0) & (cells["di"] == 0))
    if no_events.any():
        names = ", ".join(label for label, none in zip(labels, no_events, strict=True) if none)
        notes.append(
            f"studies with no events (or no non-events) in both arms are included with the correction, as "
            f"metafor does ({names}); Cochrane (Handbook ch. 10) leaves them out of RR and OR analyses"
        )
    return notes


def _generic(data: pd.DataFrame, labels: list[str]) -> StudyEffects:
    yi = numeric_column(data, "yi", labels)
    if "vi" in data.columns:
        source, vi = "vi", numeric_column(data, "vi", labels)
        _require(vi > 0, labels, "vi", "sampling variance must be > 0")
    elif "sei" in data.columns:
        source, sei = "sei", numeric_column(data, "sei", labels)
        _require(sei > 0, labels, "sei", "standard error must be > 0")
        vi = sei**2
    else:
        raise MetaInputError("measure GEN needs 'yi' with 'vi' or 'sei'", field="vi")
    _require(
        vi >= SMALLEST_VARIANCE, labels, source,
        f"sampling variance below {SMALLEST_VARIANCE:g} (an SE below 1e-12) is not a measurement; "
        "check the unit or whether an SE was entered as a variance",
    )  # fmt: skip
    n1 = numeric_column(data, "n1i", labels) if "n1i" in data.columns else None
    n2 = numeric_column(data, "n2i", labels) if "n2i" in data.columns else None
    return StudyEffects("GEN", labels, yi, vi, n1=n1, n2=n2, raw=data)


#: Columns each measure reads (the first alternative that is present), for na_action="omit".
INPUT_COLUMNS = {
    "MD": ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"), "SMD": ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"),
    "ROM": ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"), "RR": ("ai", "bi", "ci", "di", "n1i", "n2i"),
    "OR": ("ai", "bi", "ci", "di", "n1i", "n2i"), "RD": ("ai", "bi", "ci", "di", "n1i", "n2i"),
    "GEN": ("yi", "vi", "sei"),
}  # fmt: skip


def omit_missing(data: pd.DataFrame, measure: str) -> tuple[pd.DataFrame, list[str]]:
    """``data`` without the rows that miss a value the measure reads (metafor's na.omit), and a note naming
    them (study label or row number) and the columns."""
    columns = [c for c in INPUT_COLUMNS.get(str(measure).upper(), ()) if c in data.columns]
    missing = data[columns].isna().any(axis=1) if columns else pd.Series(False, index=data.index)
    if not missing.any():
        return data, []
    labels = study_labels(data)
    omitted = [labels[i] for i in np.flatnonzero(missing.to_numpy())]
    note = f"{len(omitted)} study(ies) with missing values omitted (na_action='omit'): {', '.join(omitted)}"
    return data.loc[~missing].reset_index(drop=True), [note]


def compute_effects(
    data: pd.DataFrame, measure: str, *, add: float = 0.5, to: str = "only0", na_action: str = "fail"
) -> StudyEffects:
    """Per-study effects of ``measure`` (see module docstring for formulas and sources). ``na_action``:
    "fail" (default: a missing value is an error naming the study and field) or "omit" (such rows are left
    out and named in the notes, as metafor does with a warning)."""
    if na_action not in ("fail", "omit"):
        raise MetaInputError(f"na_action must be 'fail' or 'omit', got {na_action!r}", field="na_action")
    if na_action == "omit" and isinstance(data, pd.DataFrame):
        data, notes = omit_missing(data, measure)
        effects = compute_effects(data, measure, add=add, to=to)
        effects.notes = notes + effects.notes
        return effects
    if not isinstance(data, pd.DataFrame):
        raise MetaInputError("data must be a pandas DataFrame with metafor's column names")
    measure = measure.upper() if isinstance(measure, str) else measure
    if measure not in MEASURES:
        raise MetaInputError(f"unknown measure {measure!r}; use one of {MEASURES}", field="measure")
    if len(data) == 0:
        raise MetaInputError("no studies in the data")
    duplicated = data.columns[data.columns.duplicated()]
    if len(duplicated):
        raise MetaInputError("column appears more than once; keep one", field=str(duplicated[0]))
    labels = study_labels(data)
    if measure in CONTINUOUS_MEASURES:
        return _continuous(data, measure, labels)
    if measure in BINARY_MEASURES:
        return _binary(data, measure, labels, add, to)
    return _generic(data, labels)
