"""The review end to end on a synthetic complete dataset whose pooled results are known from metafor
(tests/fixtures/metafor_cases.json, dat.normand1999)."""

from __future__ import annotations

import pytest

from stemdm.review.protocol import OutcomeRule, load_protocol
from stemdm.review.run import run_review
from tests.review.conftest import CASES, normand_bundle

KEYS = ("estimate", "ci_lb", "ci_ub", "tau2", "i2", "pi_lb", "pi_ub", "pval")


def protocol_for(measure="MD", scores="either", subgroups=("diabetes_type",)):
    protocol = load_protocol()
    rule = OutcomeRule(id="fbg", unit="mg/dL", better="lower", measure=measure, scores=scores, mid=18.0)
    data = protocol.model_dump() | {
        "outcomes": [rule.model_dump()],
        "subgroups": {"variables": list(subgroups)},
    }
    return type(protocol).model_validate(data)


def overall(review, months=12.0):
    return next(
        r for r in review.summaries() if r["subgroup"] == "overall" and r["timepoint_months"] == months
    )


@pytest.mark.parametrize(
    ("measure", "scores", "case"),
    [("MD", "either", "normand_MD_REML_knha"), ("SMD", "final", "normand_SMD_REML_knha")],
)
def test_pooled_result_equals_metafor(measure, scores, case):
    review = run_review(normand_bundle(), protocol_for(measure, scores))
    result = overall(review)
    expected = CASES[case]["expected"]
    assert (result["k"], result["measure"]) == (9, measure)
    for key in KEYS:
        assert result[key] == pytest.approx(expected[key], rel=1e-6), key
    assert result["n"] == sum(r["n1i"] + r["n2i"] for r in CASES[case]["data"])


def test_sensitivity_models_equal_metafor():
    review = run_review(normand_bundle(), protocol_for())
    rows = review.to_dict()["sensitivity"]["fbg 12 months"]
    sensitivity = {str(a["analysis"]): a for a in rows}
    by_model = {(a.get("method"), a.get("test")): a for a in rows}
    for method in ("FE", "DL"):  # the sensitivity models use z (FE = the common-effect model)
        expected = CASES[f"normand_MD_{method}_z"]["expected"]
        assert by_model[(method, "z")]["estimate"] == pytest.approx(expected["estimate"], rel=1e-6)
        assert by_model[(method, "z")]["ci_ub"] == pytest.approx(expected["ci_ub"], rel=1e-6)
    assert "common effect (fixed effect, z)" in sensitivity
    loo = CASES["normand_MD_PM_knha_leave1out"]["expected"]
    assert len([a for a in sensitivity if a.startswith("without ")]) == len(loo["estimate"])


def test_everything_else_is_reported():
    review = run_review(normand_bundle(), protocol_for())
    payload = review.to_dict()
    subgroups = {r["subgroup"] for r in payload["results"]}
    assert {"overall", "diabetes_type=T1DM", "diabetes_type=T2DM"} <= subgroups
    (test,) = payload["subgroup_tests"]
    assert test["variable"] == "diabetes_type" and 0 <= test["pval"] <= 1
    reasons = {(s["timepoint_months"], s["reason"]) for s in payload["skipped"]}
    assert (3.0, "no eligible trial reports it in this window") in reasons
    assert payload["small_study"]["fbg 12 months"]["statement"].startswith("k = 9 < 10")
    grade = payload["grade"][0]
    assert grade["certainty"] in ("high", "moderate", "low", "very low")
    assert grade["domains"]["inconsistency"]["downgrade"] == 1  # I2 = 99 %
    trial = payload["next_trial"][0]
    assert trial["rows"][0]["n_per_arm"] > 0 and "prediction interval" in trial["pi_statement"]
    assert all(s["en"] and s["zh"] for s in payload["narrative"])


def test_bundled_review_is_honest_about_coverage():
    from stemdm.evidence.bundled import load_bundled

    payload = run_review(load_bundled(), load_protocol()).to_dict()
    assert payload["excluded_trials"]["Zang2023_SCTM"].startswith("may share participants with Zang2022")
    assert any("1 trial (LIRA_hUCMSC2016); no pooling" in s["reason"] for s in payload["skipped"])
    assert any("body weight" in s["reason"] for s in payload["skipped"])
    published = {row["review_id"] for row in payload["umbrella"]}
    assert {
        "Kashbour2025",
        "Habiba2024",
        "Li2021",
        "Nada2025",
        "Kassem2020",
        "Sun2020",
        "Gan2018",
        "Fei2022",
        "DHR2024",
        "Ranjbaran2021",
        "PMC7951834",
        "ZhangHC2025",
        "EshraghAbad2025",
    } <= published
    rows = {(r["review_id"], r["outcome"], r["timepoint"]): r for r in payload["umbrella"]}
    zhang_fbg = rows[("ZhangHC2025", "fbg", "6 months")]  # README: "unit as printed, probably mmol/L"
    assert zhang_fbg["estimate"] == pytest.approx(-0.83 * 18.016, rel=1e-3)
    assert "converted from mmol/L to mg/dL (unit presumed, not printed)" in zhang_fbg["flags"]
    assert "not RCT-only" in zhang_fbg["flags"]
    eshragh = rows[("EshraghAbad2025", "hba1c", "not stated")]
    assert "fixed-effect model (no between-trial heterogeneity allowed)" in eshragh["flags"]
    assert "trial set probably overlaps another review's" in eshragh["flags"]
    habiba = next(
        r for r in payload["umbrella"] if r["review_id"] == "Habiba2024" and r["outcome"] == "hba1c"
    )
    assert habiba["estimate"] == pytest.approx(-0.95) and "sign flipped" in habiba["flags"][0]
