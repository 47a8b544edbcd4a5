"""Record validation: every bad field gives a problem that names the row, the record and the field."""

from __future__ import annotations

import pytest
from tests.evidence.helpers import MEASUREMENT, TRIAL

from stemdm.evidence.formats import parse_rows


def problems_for(kind, row):
    records, problems = parse_rows(kind, [row], first_row=7)
    assert not records
    return problems


@pytest.mark.parametrize(
    ("change", "field", "why"),
    [
        ({"outcome_id": "hba1cc"}, "outcome_id", "unknown outcome id"),
        ({"unit": "mg/dL"}, "unit", "not a unit of hba1c"),
        ({"unit": "stone"}, "unit", "not a unit"),
        ({"sd": -1.0}, "sd", "greater than or equal to 0"),
        ({"n": 0}, "n", "greater than or equal to 1"),
        ({"statistic": "mean_se"}, "se", "required when statistic is mean_se"),
        ({"statistic": "mean_pm", "pm": 1.0, "sd": None}, "flags", "pm_unlabelled"),
        ({"mean": "nan"}, "mean", "finite"),
        ({"timepoint_weeks": -4}, "timepoint_weeks", "greater than or equal to 0"),
        ({"flags": "made_up_flag"}, "flags", "unknown flag"),
        ({"source_url": ""}, "source_url", "required"),
        ({"statistic": "count", "events": 25, "mean": None, "sd": None}, "statistic", "binary"),
    ],
)
def test_measurement_problems_name_row_and_field(change, field, why):
    row = {k: v for k, v in (MEASUREMENT | change).items() if v is not None}
    problems = problems_for("measurements", row)
    assert any(p.field == field and why.lower() in p.why.lower() and p.row == 7 for p in problems), problems
    assert all(p.key.startswith("Test2024/") for p in problems)


def test_events_above_n():
    row = MEASUREMENT | {
        "outcome_id": "insulin_independence",
        "statistic": "count",
        "events": 25,
        "n": 20,
        "unit": "patients",
    }
    row = {k: v for k, v in row.items() if k not in ("mean", "sd")}
    problems = problems_for("measurements", row)
    assert any(p.field == "events" and "exceed" in p.why for p in problems)


def test_adverse_event_problems():
    row = dict(
        trial_id="Test2024",
        arm_id="msc",
        event_type="fever",
        event_as_reported="fever",
        events=5,
        n_at_risk=4,
        timepoint_weeks=4,
        timepoint_label="4 weeks",
        source_url="x",
    )
    assert any(p.field == "events" for p in problems_for("adverse_events", row))
    assert any(
        p.field == "event_type"
        for p in problems_for("adverse_events", row | {"event_type": "gout", "events": 1})
    )


def test_trial_problems():
    assert any(p.field == "diabetes_type" for p in problems_for("trials", TRIAL | {"diabetes_type": "T3DM"}))
    assert any(p.field == "dose_unit" for p in problems_for("trials", TRIAL | {"dose_per_infusion": 1e6}))
    assert any(
        p.field == "year" for p in problems_for("trials", {k: v for k, v in TRIAL.items() if k != "year"})
    )


def test_published_estimate_outside_its_ci():
    row = dict(
        review_id="R1",
        citation="R 2024",
        scope="RCTs",
        comparison="between_arm",
        outcome_id="hba1c",
        outcome_as_reported="HbA1c",
        measure="MD",
        estimate=1.0,
        ci_lb=-0.5,
        ci_ub=0.5,
    )
    assert any(p.field == "estimate" for p in problems_for("published_estimates", row))


def test_unknown_column_is_named():
    problems = problems_for("measurements", MEASUREMENT | {"colour": "red"})
    assert problems[0].field == "colour" and "unknown column" in problems[0].why
