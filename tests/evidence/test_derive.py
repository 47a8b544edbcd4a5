"""Derived measurements: every step recorded, the reported record untouched, clear errors when missing."""

from __future__ import annotations

import json

import pytest
from tests.evidence.helpers import MEASUREMENT, small_bundle

from stemdm.evidence.bundled import load_bundled
from stemdm.evidence.derive import change_from_baseline, combine, estimate_correlations, in_unit, to_mean_sd
from stemdm.evidence.errors import ConversionError
from stemdm.evidence.formats import EvidenceBundle
from stemdm.evidence.records import Measurement


def bundled(trial, outcome, weeks, arm, unit=None, value_type="final"):
    return next(
        m
        for m in load_bundled()["measurements"]
        if (m.trial_id, m.outcome_id, m.timepoint_weeks, m.arm_id) == (trial, outcome, weeks, arm)
        and (unit is None or m.unit == unit)
        and m.value_type == value_type
    )


def test_unlabelled_pm_needs_a_choice_and_keeps_its_flag():
    zang = bundled("Zang2022", "hba1c", 48.0, "msc")
    with pytest.raises(ConversionError, match="unlabelled"):
        to_mean_sd(zang)
    as_sd = to_mean_sd(zang, pm_as="sd")
    assert (as_sd.mean, as_sd.sd, as_sd.derived) == (7.52, 1.07, True)
    assert {"pm_unlabelled", "derived"} <= set(as_sd.flags)
    with pytest.raises(ConversionError, match="n analysed not reported"):
        to_mean_sd(zang, pm_as="se")
    as_se = to_mean_sd(zang, pm_as="se", n_fallback=45)
    assert as_se.sd == pytest.approx(1.07 * 45**0.5)
    step = json.loads(as_se.derivation)[0]
    assert step["method"] == "sd_from_se" and "randomized n = 45 used" in step["notes"][0]
    assert zang.derived is False and zang.sd is None  # the reported record is unchanged


def test_median_iqr_and_unit_conversion_chain():
    bhansali = bundled("Bhansali2014", "insulin_dose", 52.0, "msc")
    derived = to_mean_sd(bhansali, n_fallback=11)
    assert json.loads(derived.derivation)[0]["method"] == "mean_sd_from_quantiles"
    cai = to_mean_sd(bundled("Cai2016", "fbg", 52.0, "msc"), pm_as="sd")
    mmol = in_unit(cai, "mmol/L")
    assert mmol.mean == pytest.approx(151.2 / 18.016) and mmol.sd == pytest.approx(22.1 / 18.016)
    assert [s["method"] for s in json.loads(mmol.derivation)] == ["pm_as_sd", "unit:glucose", "unit:glucose"]
    insulin = to_mean_sd(bundled("Cai2016", "insulin_dose", 52.0, "msc"), pm_as="sd")
    with pytest.raises(ConversionError, match="body weight"):
        in_unit(insulin, "IU/day")


def test_change_from_baseline_and_correlation_estimate():
    base = Measurement(
        **(MEASUREMENT | {"timepoint_weeks": 0, "timepoint_label": "baseline", "mean": 8.0, "sd": 1.2})
    )
    final = Measurement(**MEASUREMENT)
    change = change_from_baseline(base, final, 0.5, correlation_source="assumed")
    assert change.value_type == "change" and change.mean == pytest.approx(-0.9)
    assert change.sd == pytest.approx((1.2**2 + 1.0**2 - 2 * 0.5 * 1.2 * 1.0) ** 0.5)
    bundle = EvidenceBundle()
    reported_change = Measurement(**(MEASUREMENT | {"value_type": "change", "mean": -0.9, "sd": change.sd}))
    for m in (base, final, reported_change):
        bundle.add(m)
    ((trial, arm, weeks, r),) = estimate_correlations(bundle, "hba1c")
    assert (trial, arm, weeks) == ("Test2024", "msc", 52.0) and r == pytest.approx(0.5)
    assert estimate_correlations(load_bundled(), "hba1c") == []  # no bundled trial reports all three SDs


def test_combine_two_dose_arms():
    a = small_bundle()["measurements"][0]
    b = a.model_copy(update={"arm_id": "control", "mean": 8.1, "n": 20})
    both = combine(a, b, "all_doses")
    assert both.n == 39 and both.arm_id == "all_doses" and both.derived
    with pytest.raises(ConversionError, match="mean, SD and n"):
        combine(a, b.model_copy(update={"n": None}), "x")


def test_derived_numbers_are_stored_beside_the_reported_ones(tmp_path):
    from stemdm.evidence.store import Store

    store = Store.open(str(tmp_path / "s.sqlite"))
    derived = to_mean_sd(bundled("Zang2022", "hba1c", 48.0, "msc"), pm_as="sd")
    incoming = EvidenceBundle()
    incoming.add(derived)
    assert store.import_bundle(incoming, "derivations").inserted == 1
    zang = [
        m
        for m in store.load()["measurements"]
        if m.trial_id == "Zang2022"
        and m.outcome_id == "hba1c"
        and m.timepoint_weeks == 48.0
        and m.arm_id == "msc"
        and m.value_type == "final"
    ]
    assert sorted(m.derived for m in zang) == [False, True]
