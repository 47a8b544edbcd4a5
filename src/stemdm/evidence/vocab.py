"""Controlled vocabularies of the evidence base: outcome ids and their units, flags, enumerations.

Everything a record may say in a coded field is listed here, with what it means, so that an unknown outcome
id, unit or flag is an error that names the allowed values, never a silent new category.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: Units of measurement known to the converters (``units.py``), grouped by dimension.
UNITS_BY_DIMENSION: dict[str, tuple[str, ...]] = {
    "hba1c": ("%", "mmol/mol"),
    "glucose": ("mg/dL", "mmol/L"),
    "c_peptide": ("ng/mL", "nmol/L", "pmol/mL", "pmol/L"),
    "insulin_dose": ("IU/day", "IU/kg/day"),
    "percent": ("%",),
    "index": ("index",),
    "gir": ("mg/kg/min",),
    "years": ("years",),
    "patients": ("patients",),
}

#: A unit printed so unclearly that it cannot be converted; the verbatim text is kept in unit_as_reported.
UNIT_AS_PRINTED = "as printed"

ALL_UNITS: tuple[str, ...] = tuple(sorted({u for units in UNITS_BY_DIMENSION.values() for u in units})) + (
    UNIT_AS_PRINTED,
)


@dataclass(frozen=True)
class OutcomeSpec:
    """One outcome the evidence base knows: its id, label, kind, dimension and canonical unit."""

    id: str
    label: str
    kind: Literal["continuous", "binary"]
    dimension: str
    canonical_unit: str
    review: bool  # one of the seed review's canonical outcome ids (shared README)
    higher_is_better: bool | None = None


def _spec(*args, **kwargs) -> OutcomeSpec:
    return OutcomeSpec(*args, **kwargs)


#: Canonical outcome ids of the shared evidence README (review = True), plus the further outcomes the trials
#: report that the curated data keep (review = False). Units: the README's canonical units.
OUTCOMES: dict[str, OutcomeSpec] = {
    spec.id: spec
    for spec in (
        _spec("hba1c", "HbA1c", "continuous", "hba1c", "%", True, False),
        _spec("fbg", "Fasting blood glucose", "continuous", "glucose", "mg/dL", True, False),
        _spec("ppbg", "Postprandial (2-h) blood glucose", "continuous", "glucose", "mg/dL", True, False),
        _spec("cpep_fasting", "Fasting C-peptide", "continuous", "c_peptide", "ng/mL", True, True),
        _spec("cpep_stimulated", "Stimulated C-peptide", "continuous", "c_peptide", "ng/mL", True, True),
        _spec(
            "cpep_auc",
            "C-peptide area under the curve",
            "continuous",
            "c_peptide_auc",
            UNIT_AS_PRINTED,
            True,
            True,
        ),
        _spec("insulin_dose", "Daily insulin dose", "continuous", "insulin_dose", "IU/day", True, False),
        _spec("homa_b", "HOMA-beta", "continuous", "percent", "%", True, True),
        _spec("homa_ir", "HOMA-IR", "continuous", "index", "index", True, False),
        _spec("adverse_events", "Adverse events", "binary", "patients", "patients", True, False),
        _spec("hypoglycaemia", "Hypoglycaemia", "binary", "patients", "patients", True, False),
        # Further outcomes reported by the bundled trials (not pooled by the seed review).
        _spec(
            "insulin_dose_reduction_pct",
            "Daily insulin dose, % reduction from baseline",
            "continuous",
            "percent",
            "%",
            False,
            True,
        ),
        _spec(
            "insulin_auc", "Insulin area under the curve", "continuous", "insulin_auc", UNIT_AS_PRINTED, False
        ),
        _spec(
            "cpep_early_phase",
            "Early-phase C-peptide secretion (dCP30/dG30)",
            "continuous",
            "ratio",
            UNIT_AS_PRINTED,
            False,
            True,
        ),
        _spec(
            "clamp_gir",
            "Glucose infusion rate, hyperinsulinaemic clamp",
            "continuous",
            "gir",
            "mg/kg/min",
            False,
            True,
        ),
        _spec("tir", "Time in range (CGM)", "continuous", "percent", "%", False, True),
        _spec("age", "Age", "continuous", "years", "years", False),
        _spec(
            "responder_hba1c7_insulin50",
            "HbA1c < 7% and insulin dose reduced >= 50%",
            "binary",
            "patients",
            "patients",
            False,
            True,
        ),
        _spec(
            "responder_tir70_hba1c7",
            "TIR >= 70% and HbA1c < 7%",
            "binary",
            "patients",
            "patients",
            False,
            True,
        ),
        _spec("hba1c_below_7", "HbA1c < 7% maintained", "binary", "patients", "patients", False, True),
        _spec(
            "cpeptide_remission",
            "Clinical remission (>= 10% rise in C-peptide)",
            "binary",
            "patients",
            "patients",
            False,
            True,
        ),
        _spec("insulin_independence", "Insulin independence", "binary", "patients", "patients", False, True),
    )
}

REVIEW_OUTCOMES: tuple[str, ...] = tuple(o.id for o in OUTCOMES.values() if o.review)


def allowed_units(outcome_id: str, statistic: str) -> tuple[str, ...]:
    """Units a measurement of ``outcome_id`` reported as ``statistic`` may carry."""
    spec = OUTCOMES[outcome_id]
    if statistic == "count":
        return ("patients",)
    if statistic == "proportion":
        return ("%",)
    return UNITS_BY_DIMENSION.get(spec.dimension, ()) + (UNIT_AS_PRINTED,)


#: Flags on a number: each is data the user must see. Key: flag id; value: what it means.
FLAGS: dict[str, str] = {
    "pm_unlabelled": "reported as mean ± x without saying whether x is an SD or an SE",
    "n_analysed_not_reported": "n analysed at this time not stated; the randomized n is the only n known",
    "window_mapped": "reported time mapped by the curators to a review window (e.g. 48 weeks -> 12 months)",
    "unit_unclear": "unit not stated or printed ambiguously; not convertible",
    "unit_inferred": "unit not printed; inferred by the curators from magnitude or context",
    "iqr_presumed": "interval presumed to be the interquartile range (P25, P75)",
    "not_culture_expanded_msc": "bone-marrow mononuclear / BM-derived cells, not culture-expanded MSC",
    "nonrandomized": "the comparison is not randomized",
    "no_untreated_control": "the comparator arm also received cells",
    "possible_overlap": "participants may overlap with another trial in the evidence base",
    "source_truncated": "the source text was truncated next to this number",
    "counts_not_reported": "a proportion was reported without its counts",
    "derived": "computed by stemdm from reported numbers (see derivation)",
    "estimate_derived": "the between-group estimate was computed by the curators from printed arm numbers "
    "(see derivation), not printed as such",
    "correction_flagged": "a later curation pass flagged a possible error in this trial's record (see the "
    "corrections table); nothing was overwritten",
}

STATISTICS: dict[str, tuple[str, ...]] = {
    # statistic as reported -> fields it requires
    "mean_sd": ("mean", "sd"),
    "mean_se": ("mean", "se"),
    "mean_ci": ("mean", "ci_lb", "ci_ub"),
    "mean_pm": ("mean", "pm"),  # mean ± x, x unlabelled (flag pm_unlabelled)
    "mean_only": ("mean",),
    "median_iqr": ("median", "q1", "q3"),
    "median_range": ("median", "minimum", "maximum"),
    "median_iqr_range": ("median", "q1", "q3", "minimum", "maximum"),
    "count": ("events",),
    "proportion": ("proportion",),
}
STATISTIC_FIELDS: tuple[str, ...] = (
    "mean",
    "sd",
    "se",
    "ci_lb",
    "ci_ub",
    "pm",
    "median",
    "q1",
    "q3",
    "minimum",
    "maximum",
    "events",
    "proportion",
)

Statistic = Literal[
    "mean_sd",
    "mean_se",
    "mean_ci",
    "mean_pm",
    "mean_only",
    "median_iqr",
    "median_range",
    "median_iqr_range",
    "count",
    "proportion",
]
ValueType = Literal["final", "change"]
ArmRole = Literal["experimental", "control", "comparator", "all"]
DiabetesType = Literal["T1DM", "T2DM"]
CellSource = Literal[
    "bone_marrow",
    "umbilical_cord",
    "wharton_jelly",
    "adipose",
    "peripheral_blood",
    "psc_islet",
    "exosome",
    "mixed",
    "not_reported",
]
CellType = Literal[
    "msc",
    "mesenchymal_precursor",
    "mononuclear",
    "hsc",
    "msc_plus_mononuclear",
    "msc_plus_hsc",
    "islet_like",
    "exosome",
    "not_reported",
]
Donor = Literal["autologous", "allogeneic", "mixed", "not_reported"]
DoseUnit = Literal["cells/kg", "cells"]
Route = Literal["iv", "intra_arterial", "arterial_then_iv", "portal_multisite", "not_reported"]
ControlType = Literal["placebo", "sham", "standard_care", "active_comparator", "none", "not_reported"]
Randomized = Literal["yes", "no", "unclear"]
Blinding = Literal["open", "single", "double", "triple", "not_reported"]
ArmsDesign = Literal["parallel", "crossover", "single_arm"]
Inclusion = Literal["included", "excluded", "uncertain"]
RobJudgement = Literal["low", "some_concerns", "high"]
Comparison = Literal["between_arm", "pre_post", "mixed"]
Measure = Literal["MD", "SMD", "RR", "OR", "RD"]
#: A between-group contrast as the source prints it: a difference (MD, SMD) or a ratio, printed on its own
#: scale (RR, OR) or as a log ratio (logRR, logOR). Ratios are analysed on the log scale.
ContrastMeasure = Literal["MD", "SMD", "RR", "OR", "logRR", "logOR", "RD"]
RATIO_MEASURES: tuple[str, ...] = ("RR", "OR")
LOG_RATIO_MEASURES: tuple[str, ...] = ("logRR", "logOR")
#: What a contrast report gives besides its estimate (Cochrane Handbook 6.3 and 6.5.2.3 derive the SE from
#: each).
CONTRAST_STATISTICS: dict[str, tuple[str, ...]] = {
    "estimate_se": ("se",),
    "estimate_ci": ("ci_lb", "ci_ub"),
    "estimate_p": ("p_value",),
    "estimate_t": ("t_value",),
}
ContrastStatistic = Literal["estimate_se", "estimate_ci", "estimate_p", "estimate_t"]
#: Unit of a contrast that is not in the outcome's own unit (a risk difference is printed in percentage points
#: or as a proportion; it is analysed as a proportion).
CONTRAST_UNITS: dict[str, tuple[str, ...]] = {
    "SMD": ("SD",), "RR": ("ratio",), "OR": ("ratio",), "logRR": ("log ratio",), "logOR": ("log ratio",),
    "RD": ("percentage points", "proportion"),
}  # fmt: skip
#: Records a correction may concern.
CORRECTABLE_KINDS: tuple[str, ...] = ("trials", "arms", "measurements", "adverse_events", "contrasts")
CorrectionStatus = Literal["flagged", "applied", "rejected"]

#: Adverse-event types (key) and what they cover.
EVENT_TYPES: dict[str, str] = {
    "serious_adverse_event": "serious adverse events (any cause)",
    "treatment_related_sae": "serious adverse events judged treatment-related",
    "serious_hypoglycaemia": "serious hypoglycaemia adverse events",
    "hypoglycaemia": "hypoglycaemic episodes or attacks",
    "discontinuation_ae": "discontinuations due to adverse events",
    "fever": "fever",
    "infusion_reaction": "infusion reaction",
    "death": "death (any cause)",
    "any_adverse_event": "any adverse event",
    "treatment_related_ae": "adverse events or side effects judged related to the cell treatment "
    "(any severity)",
}
