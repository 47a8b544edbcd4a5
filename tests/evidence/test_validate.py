"""Cross-record checks: references, n against randomized n, follow-up, duplicates, overlapping trials."""

from __future__ import annotations

from tests.evidence.helpers import MEASUREMENT, TRIAL, small_bundle

from stemdm.evidence.bundled import load_bundled
from stemdm.evidence.formats import EvidenceBundle
from stemdm.evidence.records import Arm, Measurement, Trial
from stemdm.evidence.validate import check_bundle, overlap_groups


def fields(problems, severity="error"):
    return {(p.field, p.why.split(" ")[0]) for p in problems if p.severity == severity}


def test_valid_bundle_has_no_problems():
    assert check_bundle(small_bundle()) == []


def test_n_above_randomized_is_an_error():
    problems = check_bundle(small_bundle(n=21))
    assert any(p.field == "n" and "exceeds the 20 randomized" in p.why for p in problems)


def test_n_far_below_randomized_is_a_warning_unless_dropouts_say_otherwise():
    problems = check_bundle(small_bundle(n=12))
    assert [p.severity for p in problems] == ["warning"]
    bundle = small_bundle(n=12)
    bundle["arms"][0] = Arm(
        trial_id="Test2024", arm_id="msc", role="experimental", label="MSC", n_randomized=20, n_dropouts=2
    )
    problems = check_bundle(bundle)
    assert any(p.severity == "error" and "minus 2 dropouts" in p.why for p in problems)


def test_timepoint_after_follow_up():
    problems = check_bundle(small_bundle(timepoint_weeks=60))
    assert any(p.field == "timepoint_weeks" and "follow-up of 52 weeks" in p.why for p in problems)


def test_unknown_arm_and_trial():
    problems = check_bundle(small_bundle(arm_id="placebo"))
    assert any(p.field == "arm_id" and "control, msc" in p.why for p in problems)
    bundle = EvidenceBundle()
    bundle.add(Measurement(**MEASUREMENT))
    assert any(p.field == "trial_id" for p in check_bundle(bundle))


def test_duplicate_rows():
    bundle = small_bundle()
    bundle.add(Measurement(**MEASUREMENT), row=12)
    problems = check_bundle(bundle)
    assert any("duplicate" in p.why and p.row == 12 for p in problems)


def test_references_resolve_against_the_store():
    incoming = EvidenceBundle()
    incoming.add(Measurement(**MEASUREMENT))
    assert check_bundle(incoming, small_bundle()) == []


def test_zang_overlap_is_warned_and_grouped():
    bundle = load_bundled()
    warnings = [p for p in check_bundle(bundle) if p.severity == "warning"]
    assert any(
        {"Zang2022", "Zang2023_SCTM"} <= {p.key, p.value} and "never pool both" in p.why for p in warnings
    )
    assert {"Zang2022", "Zang2023_SCTM"} in overlap_groups(bundle["trials"])


def test_bundled_dataset_is_valid():
    assert [p for p in check_bundle(load_bundled()) if p.severity == "error"] == []


def test_overlap_needs_both_trials():
    trial = Trial(**(TRIAL | {"overlaps_with": ["Other2020"]}))
    assert overlap_groups([trial]) == []
