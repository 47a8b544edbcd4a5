"""The review on both kinds of data (issue 9, part 3): arm-level numbers where they exist, else a reported
between-group contrast, and binary outcomes from counts; every row says which. Pooled numbers are checked
against the committed metafor fixtures (dat.normand1999 as contrasts, dat.bcg as responder counts)."""

from __future__ import annotations

import math

import pytest

from stemdm.evidence.bundled import load_bundled
from stemdm.evidence.formats import EvidenceBundle
from stemdm.evidence.records import Contrast, Correction, Measurement
from stemdm.review.protocol import OutcomeRule, load_protocol
from stemdm.review.report import write_report
from stemdm.review.run import run_review
from tests.review.conftest import (
    CASES,
    SYNTHETIC_URL,
    add_arms,
    normand_bundle,
    synthetic_measurement,
    synthetic_trial,
)
from tests.review.test_end_to_end import KEYS, overall, protocol_for


def fbg_contrast(trial_id: str, estimate: float, se: float) -> Contrast:
    """A reported MD of final fasting glucose (mg/dL) at 52 weeks, cells vs control, with its SE."""
    return Contrast(
        trial_id=trial_id, outcome_id="fbg", timepoint_weeks=52, timepoint_label="1 year", arm_id="msc",
        comparator_arm_id="control", measure="MD", value_type="final", statistic="estimate_se",
        estimate=estimate, se=se, unit="mg/dL", as_reported="synthetic", source_url=SYNTHETIC_URL,
    )  # fmt: skip


def as_contrasts(bundle: EvidenceBundle, every: int = 1) -> EvidenceBundle:
    """Replace the arm-level numbers of every ``every``-th trial by its MD with SE = sqrt(vi) from metafor."""
    data = CASES["normand_MD_REML_knha"]
    out = EvidenceBundle()
    replaced = set()
    for i, vi in enumerate(data["expected"]["vi"]):
        if i % every == 0:
            replaced.add(f"Syn{i + 1}")
            row = data["data"][i]
            out.add(fbg_contrast(f"Syn{i + 1}", estimate=row["m1i"] - row["m2i"], se=math.sqrt(vi)))
    for record in bundle.all():
        if not (isinstance(record, Measurement) and record.trial_id in replaced):
            out.add(record)
    return out


@pytest.mark.parametrize("every", [1, 2])
def test_contrast_rows_pool_to_metafor(every):
    review = run_review(as_contrasts(normand_bundle(), every), protocol_for())
    result = overall(review)
    expected = CASES["normand_MD_REML_knha"]["expected"]
    for key in KEYS:
        assert result[key] == pytest.approx(expected[key], rel=1e-6), key
    kinds = result["data_kinds"]
    assert kinds["Syn1"] == "contrast" and kinds["Syn2"] == ("contrast" if every == 1 else "arm-level")
    row = next(r for r in review.results[0].rows if r.trial_id == "Syn1")
    assert row.data_kind == "contrast" and any("generic inverse variance" in s for s in row.steps)
    assert result["post_median"] is not None


def test_arm_level_numbers_take_precedence_over_a_contrast():
    bundle = normand_bundle()
    bundle.add(fbg_contrast("Syn1", estimate=-99.0, se=1.0))
    review = run_review(bundle, protocol_for())
    result = overall(review)
    assert result["estimate"] == pytest.approx(
        CASES["normand_MD_REML_knha"]["expected"]["estimate"], rel=1e-6
    )
    row = next(r for r in review.results[0].rows if r.trial_id == "Syn1")
    assert row.data_kind == "arm-level" and any("arm-level numbers take precedence" in s for s in row.steps)


def test_a_contrast_in_another_unit_is_skipped_with_its_reason():
    bundle = as_contrasts(normand_bundle())
    bundle.records["contrasts"][0] = bundle["contrasts"][0].with_changes(unit="mmol/L", estimate=-1.0, se=0.5)
    review = run_review(bundle, protocol_for())
    reasons = [s.reason for s in review.skipped if s.reason.startswith("Syn1:")]
    assert reasons and "no conversion of a contrast" in reasons[0]


def bcg_bundle() -> tuple[EvidenceBundle, list[dict]]:
    """dat.bcg as a responder outcome (events of n per arm), 52 weeks."""
    rows = CASES["bcg_RR_REML_knha"]["data"]
    bundle = EvidenceBundle()
    for i, row in enumerate(rows):
        trial_id = f"Bcg{i + 1}"
        bundle.add(synthetic_trial(trial_id, 1950 + i, row["study"]))
        n1, n2 = row["ai"] + row["bi"], row["ci"] + row["di"]
        add_arms(bundle, trial_id, n1, n2)
        for arm, events, n in (("msc", row["ai"], n1), ("control", row["ci"], n2)):
            bundle.add(
                synthetic_measurement(
                    trial_id, arm, "responder_hba1c7_insulin50", n, statistic="count", events=events,
                    unit="patients",
                )
            )  # fmt: skip
    return bundle, rows


def binary_protocol(measure: str):
    protocol = load_protocol()
    mid = 1.25 if measure == "RR" else 0.05
    rule = OutcomeRule(
        id="responder_hba1c7_insulin50", unit="patients", better="lower", measure=measure, mid=mid
    )
    data = protocol.model_dump() | {"outcomes": [rule.model_dump()], "subgroups": {"variables": []}}
    return type(protocol).model_validate(data)


@pytest.mark.parametrize("measure", ["RR", "RD"])
def test_binary_outcome_pools_to_metafor(measure):
    bundle, _ = bcg_bundle()
    result = overall(run_review(bundle, binary_protocol(measure)))
    expected = CASES[f"bcg_{measure}_REML_knha"]["expected"]
    back = math.exp if measure == "RR" else float
    assert result["k"] == 13 and result["measure"] == measure
    for key in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
        assert result[key] == pytest.approx(back(expected[key]), rel=1e-6), key
    for key in ("tau2", "i2", "pval"):
        assert result[key] == pytest.approx(expected[key], rel=1e-6), key
    assert set(result["data_kinds"].values()) == {"counts"}
    # posterior on the reporting scale too, and P(at least the MID) below P(any benefit)
    assert result["post_ci_lb"] < result["post_median"] < result["post_ci_ub"]
    assert 0 < result["p_mid"] < result["p_benefit"] < 1
    if measure == "RR":
        assert result["post_ci_lb"] > 0 and result["post_median"] == pytest.approx(0.49, abs=0.1)


def test_binary_rules_are_checked():
    with pytest.raises(ValueError, match="ratio above 1"):
        OutcomeRule(id="responder_hba1c7_insulin50", unit="patients", better="higher", measure="RR", mid=0.8)
    with pytest.raises(ValueError, match="needs a continuous outcome"):
        OutcomeRule(id="responder_hba1c7_insulin50", unit="patients", better="higher", measure="MD", mid=0.8)
    with pytest.raises(ValueError, match="needs a binary outcome"):
        OutcomeRule(id="hba1c", unit="%", better="lower", measure="RR", mid=1.2)


def test_bundled_review_pools_responders_from_counts_and_a_contrast(tmp_path):
    review = run_review(load_bundled(), load_protocol())
    result = next(r for r in review.results if r.outcome == "responder_hba1c7_insulin50")
    summary = result.summary()
    # Zang 2022's printed percentages give back its counts (9/45, 2/44): arm-level counts beat the contrast
    assert summary["data_kinds"] == {"Bhansali2017": "counts", "Zang2022": "counts"}
    bhansali = next(r for r in result.rows if r.trial_id == "Bhansali2017")
    assert (bhansali.events1, bhansali.n1, bhansali.events2, bhansali.n2) == (6, 10, 0, 10)
    assert any("arm mnc (mononuclear cells) left out" in s for s in bhansali.steps)
    zang = next(r for r in result.rows if r.trial_id == "Zang2022")
    assert any("counts recovered from the printed 20.0%" in s for s in zang.steps)
    assert any("arm-level numbers take precedence" in s for s in zang.steps)
    sentence = next(s for s in review.narrative if s["outcome"] == "responder_hba1c7_insulin50")
    assert "risk ratio" in sentence["en"] and "probability" in sentence["en"]
    assert "相对危险度" in sentence["zh"] and "概率" in sentence["zh"] and "风险比" not in sentence["zh"]
    html = write_report(review, tmp_path)["report"].read_text(encoding="utf-8")
    assert "Corrections flagged by a later curation pass" in html
    assert "company press releases call the trial single-blind" in html


def test_flagged_corrections_mark_the_rows_of_their_trial():
    bundle = normand_bundle()
    bundle.add(
        Correction(
            trial_id="Syn3",
            record_kind="measurements",
            field="sd",
            reported_value="may be SE",
            source_url="https://example.org/erratum",
        )
    )
    review = run_review(bundle, protocol_for())
    row = next(r for r in review.results[0].rows if r.trial_id == "Syn3")
    assert "correction_flagged" in row.flags
    assert any("correction flagged, not applied: measurements.sd" in s for s in row.steps)
    # flagged, not applied: the numbers are unchanged
    assert overall(review)["estimate"] == pytest.approx(
        CASES["normand_MD_REML_knha"]["expected"]["estimate"], rel=1e-6
    )
