"""Plausible ranges of the numbers a trial can report, per outcome dimension and unit.

A number outside its range is not evidence but an entry error (a wrong unit, a slipped decimal point, a value
from another row), and a number such as 1e300 would break every analysis downstream; the record validator
refuses it with the field, the value and the range. The ranges are ASSUMPTIONS of stemdm, deliberately wide:
they bound what a person (a level) or an arm's summary can physically show, not what is usual.

- HbA1c 3-20 % (the reportable range of NGSP-certified assays is narrower; below 3 % or above 20 % is not a
  measurement); 9-195 mmol/mol by the IFCC-NGSP master equation (Hoelzel et al. 2004).
- Glucose 10-3000 mg/dL (0.55-167 mmol/L at 18.016 mg/dL per mmol/L): hyperosmolar states reach 1000-2000
  mg/dL and the highest published survived value is above 2600 mg/dL.
- C-peptide 0-30 ng/mL (0-10 nmol/L; stimulated values in insulin resistance stay below 15 ng/mL).
- Daily insulin dose 0-3000 IU/day (severe insulin resistance needs more than 1000 IU/day) or 0-30 IU/kg/day.
- HOMA-beta 0-2000 %, HOMA-IR 0-200, other percentages 0-100 %, clamp GIR 0-40 mg/kg/min, age 0-120 years.
- Numbers in a unit printed unclearly ("as printed") only within +-1e6, so that any analysis stays finite.

A change from baseline may lie anywhere within +-(width of the range); a dispersion (SD, SE, unlabelled +-)
within 0 to the width; a confidence limit one width beyond the range (a CI of a mean near 0 may go below 0).
"""

from __future__ import annotations

from typing import Any

from stemdm.evidence.vocab import OUTCOMES, UNIT_AS_PRINTED

#: Largest number of participants in one arm, trial or count (no trial in this field approaches it).
MAX_PARTICIPANTS = 1_000_000
#: Longest time a record may state (50 years, in weeks).
MAX_WEEKS = 2600.0
#: Largest magnitude of a number in an unconvertible unit, or of a published estimate.
MAX_MAGNITUDE = 1e6

#: (dimension, unit) -> (lowest, highest) level.
RANGES: dict[tuple[str, str], tuple[float, float]] = {
    ("hba1c", "%"): (3.0, 20.0),
    ("hba1c", "mmol/mol"): (9.0, 195.0),
    ("glucose", "mg/dL"): (10.0, 3000.0),
    ("glucose", "mmol/L"): (0.55, 167.0),
    ("c_peptide", "ng/mL"): (0.0, 30.0),
    ("c_peptide", "nmol/L"): (0.0, 10.0),
    ("c_peptide", "pmol/mL"): (0.0, 10.0),
    ("c_peptide", "pmol/L"): (0.0, 10_000.0),
    ("insulin_dose", "IU/day"): (0.0, 3000.0),
    ("insulin_dose", "IU/kg/day"): (0.0, 30.0),
    ("percent", "%"): (0.0, 100.0),
    ("index", "index"): (0.0, 200.0),
    ("gir", "mg/kg/min"): (0.0, 40.0),
    ("years", "years"): (0.0, 120.0),
    ("patients", "patients"): (0.0, MAX_PARTICIPANTS),
}
#: outcome id -> range, where the outcome differs from its dimension's.
OUTCOME_RANGES: dict[str, tuple[float, float]] = {
    "homa_b": (0.0, 2000.0),
    "insulin_dose_reduction_pct": (-1000.0, 100.0),
}

LEVEL_FIELDS = ("mean", "median", "q1", "q3", "minimum", "maximum")
LIMIT_FIELDS = ("ci_lb", "ci_ub")
DISPERSION_FIELDS = ("sd", "se", "pm")


def level_range(outcome_id: str, unit: str) -> tuple[float, float]:
    """The plausible range of a level of ``outcome_id`` in ``unit``."""
    if outcome_id in OUTCOME_RANGES:
        return OUTCOME_RANGES[outcome_id]
    if unit == UNIT_AS_PRINTED:
        return (-MAX_MAGNITUDE, MAX_MAGNITUDE)
    return RANGES.get((OUTCOMES[outcome_id].dimension, unit), (-MAX_MAGNITUDE, MAX_MAGNITUDE))


def field_range(outcome_id: str, unit: str, value_type: str, field: str) -> tuple[float, float]:
    """The plausible range of one statistic field of a measurement (see the module docstring)."""
    low, high = level_range(outcome_id, unit)
    width = high - low
    if field in DISPERSION_FIELDS:
        return (0.0, width)
    if value_type == "change" and unit != UNIT_AS_PRINTED:
        return (-width, width)
    if field in LIMIT_FIELDS:
        return (low - width, high + width)
    return (low, high)


def implausible(outcome_id: str, unit: str, value_type: str, values: dict[str, Any]) -> str | None:
    """``"field: why"`` for the first statistic outside its plausible range, else None."""
    if unit == "patients" or outcome_id not in OUTCOMES:
        return None
    label = OUTCOMES[outcome_id].label
    for field in (*LEVEL_FIELDS, *LIMIT_FIELDS, *DISPERSION_FIELDS):
        value = values.get(field)
        if value is None:
            continue
        low, high = field_range(outcome_id, unit, value_type, field)
        if not low <= value <= high:
            what = "dispersion" if field in DISPERSION_FIELDS else f"{value_type} value"
            return (
                f"{field}: {value:g} {unit} is outside the plausible range of a {label} {what} "
                f"({low:g} to {high:g} {unit}); check the unit and the decimal point"
            )
    return None


#: (outcome, unit) -> the smallest between-patient SD plausible for one arm of a diabetes trial.
#: ASSUMPTIONS of stemdm, about half the smallest arm SDs usual in such trials (HbA1c SDs are mostly
#: 0.7-1.5 %, fasting glucose 1.5-3 mmol/L, 2-h glucose 2-4 mmol/L): an unlabelled "mean ± x" whose x,
#: read as an SD, is below its floor is flagged "possibly an SE" (a standard error of a small arm is
#: several times smaller than its SD), never changed silently.
SD_FLOORS: dict[tuple[str, str], float] = {
    ("hba1c", "%"): 0.4,
    ("fbg", "mg/dL"): 0.8 * 18.016,
    ("ppbg", "mg/dL"): 1.5 * 18.016,
    ("cpep_fasting", "ng/mL"): 0.1,
    ("cpep_stimulated", "ng/mL"): 0.2,
    ("insulin_dose", "IU/day"): 2.0,
    ("homa_ir", "index"): 0.5,
    ("homa_b", "%"): 5.0,
}


def implausibly_small_sd(outcome: str, unit: str, sd: float | None) -> float | None:
    """The floor an SD falls below (``SD_FLOORS``), or None when it does not or no floor is set."""
    floor = SD_FLOORS.get((outcome, unit))
    return floor if floor is not None and sd is not None and sd < floor else None
