"""Contrast records (generic inverse-variance data): validation, the SE derivations of the Cochrane Handbook
ch. 6, storage on both back ends, and the corrections that are flagged, never applied.

Quantiles are R 4's ``qt``/``qnorm`` (printed with 15 digits), an independent reference for scipy's."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import create_engine, inspect, text
from tests.evidence.helpers import ARMS, TRIAL

from stemdm.evidence.bundled import load_bundled
from stemdm.evidence.contrasts import contrast_effect
from stemdm.evidence.formats import EvidenceBundle, read_any, write_any
from stemdm.evidence.records import Arm, Contrast, Correction, Trial
from stemdm.evidence.store import Store
from stemdm.evidence.validate import check_bundle
from stemdm.web import tables as web_tables

R_QT_975_38 = 2.02439416391197  # qt(0.975, 38)
R_QT_P0081_89 = 2.70873651330383  # qt(1 - 0.0081/2, 89)
R_QNORM_975 = 1.95996398454005  # qnorm(0.975)
R_QNORM_P003 = 2.17009037758456  # qnorm(1 - 0.03/2)
R_QT_95_18 = 1.73406360661754  # qt(0.95, 18): a 90 % CI with n = 10 + 10

BASE = dict(
    trial_id="Test2024",
    outcome_id="hba1c",
    timepoint_weeks=52,
    timepoint_label="12 months",
    arm_id="msc",
    comparator_arm_id="control",
    measure="MD",
    value_type="change",
    statistic="estimate_ci",
    estimate=-0.5,
    ci_lb=-1.2,
    ci_ub=0.2,
    unit="%",
    as_reported="-0.5 (95% CI -1.2 to 0.2)",
    source_url="https://example.org/test",
)


def contrast(**changes) -> Contrast:
    return Contrast.model_validate(BASE | changes)


def test_se_from_ci_uses_t_below_60_per_group():
    effect = contrast_effect(contrast(n1=20, n2=20))
    assert effect.se == pytest.approx(1.4 / (2 * R_QT_975_38), rel=1e-12)
    assert "t with n1 + n2 - 2 = 38 df" in effect.derivation.method
    assert "6.3.1" in effect.derivation.reference and "6.5.2.3" in effect.derivation.reference


def test_se_from_ci_uses_normal_from_60_per_group_or_without_n():
    for changes in ({"n1": 60, "n2": 61}, {}):
        effect = contrast_effect(contrast(**changes))
        assert effect.se == pytest.approx(1.4 / (2 * R_QNORM_975), rel=1e-12)
        assert "normal" in effect.derivation.method


def test_se_from_a_90_percent_ci():
    effect = contrast_effect(contrast(n1=10, n2=10, ci_level=90))
    assert effect.se == pytest.approx(1.4 / (2 * R_QT_95_18), rel=1e-12)


def test_se_from_exact_p_with_randomized_n_fallback_named():
    c = contrast(statistic="estimate_p", estimate=-0.68, ci_lb=None, ci_ub=None, p_value=0.0081)
    effect = contrast_effect(c, 45, 46)
    assert effect.se == pytest.approx(0.68 / R_QT_P0081_89, rel=1e-12)
    assert any("randomized n = 45 used" in note for note in effect.derivation.notes)


def test_ratio_on_the_log_scale():
    c = contrast(
        outcome_id="adverse_events",
        measure="RR",
        unit="ratio",
        estimate=0.5,
        ci_lb=0.25,
        ci_ub=1.0,
        value_type="final",
    )
    effect = contrast_effect(c, 30, 30)
    assert effect.yi == pytest.approx(math.log(0.5))
    assert effect.se == pytest.approx(math.log(4) / (2 * R_QNORM_975), rel=1e-12)  # never t for a ratio
    by_p = contrast_effect(c.with_changes(statistic="estimate_p", ci_lb=None, ci_ub=None, p_value=0.03))
    assert by_p.se == pytest.approx(abs(math.log(0.5)) / R_QNORM_P003, rel=1e-12)


def test_log_ratio_se_and_t_statistic():
    c = contrast(
        outcome_id="adverse_events",
        measure="logOR",
        unit="log ratio",
        value_type="final",
        statistic="estimate_se",
        estimate=-0.4,
        ci_lb=None,
        ci_ub=None,
        se=0.2,
    )
    effect = contrast_effect(c)
    assert (effect.measure, effect.yi, effect.se) == ("OR", -0.4, 0.2)
    by_t = contrast_effect(contrast(statistic="estimate_t", ci_lb=None, ci_ub=None, t_value=-2.5))
    assert by_t.se == pytest.approx(0.2)


def test_risk_difference_in_percentage_points_is_analysed_as_a_proportion():
    c = contrast(
        outcome_id="responder_hba1c7_insulin50",
        measure="RD",
        unit="percentage points",
        value_type="final",
        estimate=15.45,
        ci_lb=2.25,
        ci_ub=28.66,
    )
    effect = contrast_effect(c)
    assert effect.yi == pytest.approx(0.1545)
    assert effect.se == pytest.approx((0.2866 - 0.0225) / (2 * R_QNORM_975), rel=1e-9)


@given(
    estimate=st.floats(-3, 3),
    half_width=st.floats(0.01, 5),
    n=st.integers(2, 200),
)
def test_ci_round_trip(estimate, half_width, n):
    """The interval rebuilt from the derived SE with the same quantile is the reported one."""
    c = contrast(estimate=estimate, ci_lb=estimate - half_width, ci_ub=estimate + half_width, n1=n, n2=n)
    effect = contrast_effect(c)
    q = half_width / effect.se
    assert effect.yi - q * effect.se == pytest.approx(c.ci_lb, abs=1e-9)
    assert q >= R_QNORM_975 - 1e-9  # t quantiles are wider than the normal one


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"ci_ub": None}, "ci_ub", "required"),
        ({"estimate": 0.5}, "estimate", "outside its CI"),
        ({"comparator_arm_id": "msc"}, "comparator_arm_id", "two different arms"),
        ({"statistic": "estimate_p", "p_value": 0.0}, "p_value", "greater than 0"),
        (
            {"statistic": "estimate_p", "p_value": 0.04, "estimate": 0.0, "ci_lb": None, "ci_ub": None},
            "estimate",
            "gives no SE",
        ),
        ({"measure": "RR", "unit": "ratio"}, "measure", "needs a binary outcome"),
        ({"unit": "mg/dL"}, "unit", "not a unit of hba1c"),
        ({"estimate": -50.0, "ci_lb": -60.0, "ci_ub": -40.0}, "mean", "plausible range"),
        ({"estimate_derived": True}, "derivation", "must record how"),
        ({"se": float("nan"), "statistic": "estimate_se"}, "se", "finite"),
    ],
)
def test_bad_contrasts_are_refused_naming_the_field(changes, field, words):
    with pytest.raises(ValidationError) as caught:
        contrast(**changes)
    assert field in str(caught.value) and words in str(caught.value)


def bundle_with(*records) -> EvidenceBundle:
    bundle = EvidenceBundle()
    bundle.add(Trial(**TRIAL))
    for arm in ARMS:
        bundle.add(Arm(**arm))
    for record in records:
        bundle.add(record)
    return bundle


def test_cross_checks_name_the_arm_and_the_n():
    problems = check_bundle(bundle_with(contrast(arm_id="mscx", n1=25)))
    assert any(p.field == "arm_id" and "no arm 'mscx'" in p.why for p in problems)
    problems = check_bundle(bundle_with(contrast(n1=25)))
    assert any(p.field == "n1" and "exceeds the 20 randomized" in p.why for p in problems)


def test_corrections_name_a_real_field():
    with pytest.raises(ValidationError, match="no field 'blindness'"):
        Correction(
            trial_id="Test2024", record_kind="trials", field="blindness", reported_value="x", source_url="s"
        )
    good = Correction(
        trial_id="Test2024",
        record_kind="trials",
        field="blinding",
        reported_value="single",
        source_url="https://example.org/press",
    )
    assert check_bundle(bundle_with(good)) == []
    assert any(p.field == "trial_id" for p in check_bundle(bundle_with(good.with_changes(trial_id="Nope"))))


def test_contrasts_and_corrections_round_trip_through_files_and_stores(store_url, tmp_path):
    correction = Correction(
        trial_id="Test2024",
        record_kind="measurements",
        field="pm",
        outcome_id="hba1c",
        reported_value="± may be SE",
        source_url="https://example.org/abstract",
    )
    bundle = bundle_with(contrast(n1=18, n2=19), correction)
    for kind in ("json", "xlsx"):
        path = tmp_path / f"b.{kind}"
        write_any(bundle, path, kind)
        again, _ = read_any(path)
        assert again["contrasts"] == bundle["contrasts"] and again["corrections"] == bundle["corrections"]
    store = Store.open(store_url, bootstrap=False)
    assert store.import_bundle(bundle, "test").inserted == 5
    loaded = store.load()
    assert loaded["contrasts"] == bundle["contrasts"] and loaded["corrections"] == bundle["corrections"]


def test_an_older_store_gains_the_new_columns(tmp_path):
    """A store made before arms had cell_type/part_of (and before migrations: no alembic_version) opens, gains
    the columns, is stamped at the migration baseline, and reads them as empty."""
    path = tmp_path / "old.sqlite"
    Store.open(path, bootstrap=False).import_bundle(bundle_with(), "old")
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE arms DROP COLUMN cell_type"))
        connection.execute(text("ALTER TABLE arms DROP COLUMN part_of"))
        connection.execute(text("DROP TABLE contrasts"))
        for table in ("alembic_version", "store_state", *reversed(list(web_tables.metadata.tables))):
            connection.execute(text(f"DROP TABLE {table}"))  # 0.1.0 had none of them
    engine.dispose()
    store = Store.open(path, bootstrap=False)
    columns = {c["name"] for c in inspect(store.engine).get_columns("arms")}
    assert {"cell_type", "part_of"} <= columns
    assert all(arm.part_of is None for arm in store.load()["arms"])


def test_bundled_second_pass():
    """The additions of 2026-11-30: the Zang 2022 contrast derived from its printed numbers, the corrections
    flagged with what the bundle says now, Bhansali 2017's BM-MNC arm marked as such."""
    bundle = load_bundled()
    zang = next(c for c in bundle["contrasts"] if c.outcome_id == "hba1c")
    assert (zang.estimate, zang.p_value, zang.estimate_derived) == (-0.68, 0.0081, True)
    assert "-1.31 - (-0.63)" in zang.derivation
    corrections = {(c.trial_id, c.field, c.outcome_id): c for c in bundle["corrections"]}
    assert corrections[("Skyler2015", "blinding", None)].bundled_value == "double"
    assert corrections[("Skyler2015", "blinding", None)].status == "flagged"
    trial = next(t for t in bundle["trials"] if t.trial_id == "Skyler2015")
    assert trial.blinding == "double"  # flagged, not overwritten
    mnc = next(a for a in bundle["arms"] if (a.trial_id, a.arm_id) == ("Bhansali2017", "mnc"))
    assert mnc.cell_type == "mononuclear"
    doses = [a for a in bundle["arms"] if a.trial_id == "Skyler2015" and a.part_of == "msc"]
    assert sorted(a.dose_per_infusion for a in doses) == [0.3e6, 1.0e6, 2.0e6]
    assert {p.review_id for p in bundle["published_estimates"]} >= {"ZhangHC2025", "EshraghAbad2025"}
