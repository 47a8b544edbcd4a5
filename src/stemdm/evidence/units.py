"""Unit conversions for the outcomes of diabetes trials, each returned with its derivation.

Factors and sources:

- Glucose: 1 mmol/L = 18.016 mg/dL (molar mass of glucose 180.16 g/mol; 1 mg/dL = 10 mg/L).
- C-peptide: molar mass 3020.3 g/mol, so 1 ng/mL = 1/3.0203 nmol/L = 0.33109 nmol/L; pmol/mL equals nmol/L;
  1 nmol/L = 1000 pmol/L.
- HbA1c: the IFCC-NGSP master equation, NGSP(%) = 0.09148 x IFCC(mmol/mol) + 2.152 (Hoelzel et al., Clin Chem
  2004;50:166-174), i.e. IFCC = (NGSP - 2.152) / 0.09148. It is affine: a level converts with the offset, a
  change, an SD or an SE scales by 1/0.09148 only.
- Insulin dose: IU/kg/day x body weight (kg) = IU/day; never without a body weight.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from stemdm.evidence.errors import ConversionError

GLUCOSE_MG_DL_PER_MMOL_L = 18.016
CPEPTIDE_NMOL_L_PER_NG_ML = 1.0 / 3.0203
HBA1C_NGSP_SLOPE = 0.09148
HBA1C_NGSP_INTERCEPT = 2.152

# Linear factors to a dimension's reference unit (value_in_reference = value * factor).
_LINEAR: dict[str, dict[str, float]] = {
    "glucose": {"mg/dL": 1.0, "mmol/L": GLUCOSE_MG_DL_PER_MMOL_L},
    "c_peptide": {
        "ng/mL": 1.0,
        "nmol/L": 1.0 / CPEPTIDE_NMOL_L_PER_NG_ML,
        "pmol/mL": 1.0 / CPEPTIDE_NMOL_L_PER_NG_ML,
        "pmol/L": 1.0 / (1000.0 * CPEPTIDE_NMOL_L_PER_NG_ML),
    },
}
_SOURCES = {
    "glucose": "glucose molar mass 180.16 g/mol: 1 mmol/L = 18.016 mg/dL",
    "c_peptide": "C-peptide molar mass 3020.3 g/mol: 1 ng/mL = 0.33109 nmol/L",
    "hba1c": "IFCC-NGSP master equation, Hoelzel et al. 2004 (Clin Chem 50:166)",
    "insulin_dose": "IU/day = IU/kg/day x body weight (kg)",
}


@dataclass(frozen=True)
class Derivation:
    """How a derived number was computed: method, inputs, reference, and the resulting values."""

    method: str
    inputs: dict[str, Any]
    reference: str
    result: dict[str, float]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> str:
        return json.dumps(
            {
                "method": self.method,
                "inputs": self.inputs,
                "reference": self.reference,
                "result": self.result,
                "notes": list(self.notes),
            },
            sort_keys=True,
        )


def dimension_of(unit: str) -> str | None:
    """The convertible dimension a unit belongs to, or None (unit not convertible)."""
    for dimension, units in _LINEAR.items():
        if unit in units:
            return dimension
    if unit in ("%", "mmol/mol"):
        return "hba1c"
    if unit in ("IU/day", "IU/kg/day"):
        return "insulin_dose"
    return None


def convert(
    value: float,
    from_unit: str,
    to_unit: str,
    *,
    is_level: bool = True,
    weight_kg: float | None = None,
    dimension: str | None = None,
) -> tuple[float, Derivation]:
    """Convert ``value`` from ``from_unit`` to ``to_unit``.

    ``is_level``: True for a level (mean, median, quantile, CI limit of a level); False for a change, an SD or
    an SE, which scale without the HbA1c offset. ``weight_kg`` is required for IU/kg/day -> IU/day.
    ``dimension`` disambiguates "%" (HbA1c by default)."""
    if from_unit == to_unit:
        return value, Derivation("identity", {"value": value, "unit": from_unit}, "", {"value": value})
    dim = dimension or dimension_of(from_unit)
    if dim is None or dimension_of(to_unit) != dim:
        raise ConversionError(f"cannot convert {from_unit!r} to {to_unit!r}: not units of one dimension")
    if dim in _LINEAR:
        factor = _LINEAR[dim][from_unit] / _LINEAR[dim][to_unit]
        result = value * factor
    elif dim == "hba1c":
        result = _hba1c(value, from_unit, is_level)
    else:
        result = _insulin(value, from_unit, to_unit, weight_kg)
    inputs = {"value": value, "from": from_unit, "to": to_unit, "is_level": is_level}
    if weight_kg is not None:
        inputs["weight_kg"] = weight_kg
    return result, Derivation(f"unit:{dim}", inputs, _SOURCES[dim], {"value": result})


def _hba1c(value: float, from_unit: str, is_level: bool) -> float:
    if from_unit == "%":
        shifted = value - HBA1C_NGSP_INTERCEPT if is_level else value
        return shifted / HBA1C_NGSP_SLOPE
    scaled = value * HBA1C_NGSP_SLOPE
    return scaled + HBA1C_NGSP_INTERCEPT if is_level else scaled


def _insulin(value: float, from_unit: str, to_unit: str, weight_kg: float | None) -> float:
    if weight_kg is None:
        raise ConversionError(
            f"insulin dose {from_unit} -> {to_unit} needs a body weight (kg); none was given"
        )
    if not weight_kg > 0:
        raise ConversionError(f"body weight must be positive, got {weight_kg}")
    return value * weight_kg if from_unit == "IU/kg/day" else value / weight_kg
