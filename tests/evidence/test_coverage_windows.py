"""Coverage of the bundled data, and time windows."""

from __future__ import annotations

import pytest

from stemdm.evidence.bundled import load_bundled
from stemdm.evidence.coverage import coverage
from stemdm.evidence.errors import ConversionError
from stemdm.evidence.windows import DEFAULT_WINDOWS, TimeWindow, check_windows, map_timepoint


def test_real_coverage():
    cells = {(c.trial_id, c.outcome_id, c.timepoint_weeks): c for c in coverage(load_bundled())}
    zang = cells[("Zang2022", "hba1c", 48.0)]
    assert zang.review_months == 12 and zang.between_arm
    assert {"pm_unlabelled", "possible_overlap", "n_analysed_not_reported"} <= set(zang.flags)
    assert cells[("Zang2023_SCTM", "hba1c", 9.0)].review_months is None  # about 2 months: no window
    assert cells[("LIRA_hUCMSC2016", "ppbg", 24.0)].review_months == 6
    assert cells[("Skyler2015", "ae:serious_adverse_event", 12.0)].review_months == 3
    assert cells[("Bhansali2014", "insulin_dose", 52.0)].statistics == ("median_iqr",)
    assert not cells[("Lu2021", "cpeptide_remission", 52.0)].between_arm


def test_windows():
    assert map_timepoint(48).months == 12
    assert map_timepoint(12).months == 3
    assert "outside" in map_timepoint(80).rule
    with pytest.raises(ConversionError, match="overlap"):
        check_windows([TimeWindow(3, 8, 20), TimeWindow(6, 20, 30)])
    with pytest.raises(ConversionError):
        map_timepoint(-1)
    check_windows(DEFAULT_WINDOWS)


def test_schema_doc_is_current():
    """docs/EVIDENCE.md embeds the generated schema; regenerate with tools/make_schema_doc.py."""
    from pathlib import Path

    from stemdm.evidence.schema import schema_markdown

    doc = (Path(__file__).resolve().parents[2] / "docs" / "EVIDENCE.md").read_text(encoding="utf-8")
    assert schema_markdown() in doc
