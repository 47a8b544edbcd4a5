"""Review tests: a private evidence store per test (STEMDM_DB), and a synthetic evidence base whose pooled
results are known from the committed metafor fixtures (dat.normand1999)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stemdm.evidence.formats import EvidenceBundle
from stemdm.evidence.records import Arm, Measurement, Trial

FIXTURES = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "metafor_cases.json").read_text())
CASES = {case["id"]: case for case in FIXTURES["cases"]}


@pytest.fixture(autouse=True)
def _private_store(tmp_path, monkeypatch):
    monkeypatch.setenv("STEMDM_DB", str(tmp_path / "evidence.sqlite"))


SYNTHETIC_URL = "https://example.org/synthetic"


def synthetic_trial(trial_id: str, year: int, citation: str, diabetes_type: str = "T2DM") -> Trial:
    """An included placebo-controlled UC-MSC trial with 52 weeks of follow-up (the synthetic test trials)."""
    return Trial(
        trial_id=trial_id, year=year, citation=citation, country="none", randomized="yes",
        design_as_reported="synthetic", diabetes_type=diabetes_type, cell_source="umbilical_cord",
        cell_type="msc", product_as_reported="synthetic", control_type="placebo", follow_up_weeks=52,
        inclusion_status="included", inclusion_reason="synthetic test trial", source_url=SYNTHETIC_URL,
    )  # fmt: skip


def synthetic_measurement(trial_id: str, arm: str, outcome: str, n: int, **reported) -> Measurement:
    """One arm's final value at 52 weeks; ``reported`` holds the statistic and its fields and the unit."""
    return Measurement(
        trial_id=trial_id, outcome_id=outcome, timepoint_weeks=52, timepoint_label="1 year", arm_id=arm, n=n,
        value_type="final", source_url=SYNTHETIC_URL, **reported,
    )  # fmt: skip


def add_arms(bundle: EvidenceBundle, trial_id: str, n1: int, n2: int) -> None:
    for arm, role, n in (("msc", "experimental", n1), ("control", "control", n2)):
        bundle.add(Arm(trial_id=trial_id, arm_id=arm, role=role, label=arm, n_randomized=n))


def normand_bundle() -> EvidenceBundle:
    """The 9 normand1999 trials as a complete synthetic evidence base: fbg (mg/dL) at 52 weeks, final
    values."""
    bundle = EvidenceBundle()
    for i, row in enumerate(CASES["normand_MD_REML_knha"]["data"]):
        trial_id = f"Syn{i + 1}"
        citation = f"synthetic from dat.normand1999 ({row['study']})"
        bundle.add(synthetic_trial(trial_id, 2000 + i, citation, "T2DM" if i % 2 else "T1DM"))
        add_arms(bundle, trial_id, row["n1i"], row["n2i"])
        for arm, mean, sd, n in (
            ("msc", row["m1i"], row["sd1i"], row["n1i"]),
            ("control", row["m2i"], row["sd2i"], row["n2i"]),
        ):
            bundle.add(
                synthetic_measurement(
                    trial_id, arm, "fbg", n, statistic="mean_sd", mean=mean, sd=sd, unit="mg/dL"
                )
            )
    return bundle
