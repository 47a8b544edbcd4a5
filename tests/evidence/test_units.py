"""Unit conversions against published conversion tables and the bundled Cai 2016 report (both units)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stemdm.evidence.bundled import load_bundled
from stemdm.evidence.errors import ConversionError
from stemdm.evidence.units import convert


def test_glucose_reference_values():
    # 100 mg/dL = 5.55 mmol/L and 7.0 mmol/L = 126 mg/dL (the diabetes diagnostic threshold, both units)
    assert convert(100, "mg/dL", "mmol/L")[0] == pytest.approx(5.55, abs=0.005)
    assert convert(7.0, "mmol/L", "mg/dL")[0] == pytest.approx(126, abs=0.2)


@pytest.mark.parametrize(
    ("ngsp", "ifcc"), [(5.0, 31), (6.0, 42), (6.5, 48), (7.0, 53), (8.0, 64), (9.0, 75), (10.0, 86)]
)
def test_hba1c_matches_the_ngsp_ifcc_table(ngsp, ifcc):
    # NGSP/IFCC conversion table (rounded to whole mmol/mol), from the master equation of Hoelzel 2004
    assert round(convert(ngsp, "%", "mmol/mol")[0]) == ifcc


def test_hba1c_change_and_sd_scale_without_offset():
    level, _ = convert(1.0, "%", "mmol/mol")
    change, derivation = convert(1.0, "%", "mmol/mol", is_level=False)
    assert change == pytest.approx(10.93, abs=0.01)
    assert level != change
    assert derivation.inputs["is_level"] is False


def test_cai2016_reports_agree_across_units():
    """Cai 2016 printed HbA1c in % and mmol/mol; the converter reproduces the printed mmol/mol within the
    rounding of the printed % (0.05 % = 0.55 mmol/mol) plus the paper's own rounding."""
    bundle = load_bundled()
    cai = [m for m in bundle["measurements"] if m.trial_id == "Cai2016" and m.outcome_id == "hba1c"]
    pairs = {}
    for m in cai:
        pairs.setdefault((m.timepoint_weeks, m.arm_id), {})[m.unit] = m
    assert len(pairs) == 4
    for pair in pairs.values():
        converted, _ = convert(pair["%"].mean, "%", "mmol/mol")
        assert converted == pytest.approx(pair["mmol/mol"].mean, abs=1.6)


def test_c_peptide():
    assert convert(1.0, "ng/mL", "nmol/L")[0] == pytest.approx(0.331, abs=0.0005)
    assert convert(1.0, "nmol/L", "pmol/mL")[0] == pytest.approx(1.0)
    assert convert(331.09, "pmol/L", "ng/mL")[0] == pytest.approx(1.0, abs=1e-3)


def test_insulin_needs_a_body_weight():
    with pytest.raises(ConversionError, match="body weight"):
        convert(0.5, "IU/kg/day", "IU/day")
    assert convert(0.5, "IU/kg/day", "IU/day", weight_kg=80)[0] == pytest.approx(40)
    with pytest.raises(ConversionError, match="positive"):
        convert(0.5, "IU/kg/day", "IU/day", weight_kg=0)


def test_incompatible_units_are_refused():
    with pytest.raises(ConversionError, match="dimension"):
        convert(5, "mg/dL", "ng/mL")
    with pytest.raises(ConversionError):
        convert(5, "furlong", "mg/dL")


units = st.sampled_from(
    [("mg/dL", "mmol/L"), ("ng/mL", "nmol/L"), ("pmol/L", "ng/mL"), ("%", "mmol/mol"), ("pmol/mL", "pmol/L")]
)


@given(units, st.floats(min_value=-1e4, max_value=1e4, allow_nan=False), st.booleans())
def test_round_trip(pair, value, is_level):
    there, _ = convert(value, pair[0], pair[1], is_level=is_level)
    back, _ = convert(there, pair[1], pair[0], is_level=is_level)
    assert math.isclose(back, value, rel_tol=1e-12, abs_tol=1e-9)


@given(units, st.floats(min_value=0, max_value=1e4), st.floats(min_value=1e-6, max_value=1e3))
def test_monotone(pair, value, step):
    low, _ = convert(value, pair[0], pair[1])
    high, _ = convert(value + step, pair[0], pair[1])
    assert high > low
