"""Small valid records to build test files from."""

from __future__ import annotations

from stemdm.evidence.formats import EvidenceBundle
from stemdm.evidence.records import Arm, Measurement, Trial

TRIAL = dict(
    trial_id="Test2024",
    year=2024,
    citation="Test et al. 2024",
    country="Nowhere",
    randomized="yes",
    design_as_reported="randomized",
    diabetes_type="T2DM",
    cell_source="umbilical_cord",
    cell_type="msc",
    product_as_reported="UC-MSC",
    control_type="placebo",
    follow_up_weeks=52,
    inclusion_status="included",
    inclusion_reason="test",
    source_url="https://example.org/test",
)
ARMS = [
    dict(trial_id="Test2024", arm_id="msc", role="experimental", label="MSC", n_randomized=20),
    dict(trial_id="Test2024", arm_id="control", role="control", label="placebo", n_randomized=20),
]
MEASUREMENT = dict(
    trial_id="Test2024",
    outcome_id="hba1c",
    timepoint_weeks=52,
    timepoint_label="12 months",
    arm_id="msc",
    n=19,
    value_type="final",
    statistic="mean_sd",
    mean=7.1,
    sd=1.0,
    unit="%",
    source_url="https://example.org/test",
    locator="Table 2",
)


def small_bundle(**measurement_changes) -> EvidenceBundle:
    bundle = EvidenceBundle()
    bundle.add(Trial(**TRIAL))
    for arm in ARMS:
        bundle.add(Arm(**arm))
    bundle.add(Measurement(**(MEASUREMENT | measurement_changes)))
    return bundle
