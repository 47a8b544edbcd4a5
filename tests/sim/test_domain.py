"""Out-of-domain warnings and "not informed by data" notes (issue 21): generated from the calibration's
fitted designs and its record, so they follow the shipped calibration and cannot contradict it."""

from __future__ import annotations

from stemdm.sim.domain import calibrated_domain, not_informed, out_of_domain, posterior_record, time_course
from stemdm.sim.trial import TrialDesign


def _design(**changes) -> TrialDesign:
    zang = {"pathway": "msc", "source": "umbilical_cord", "route": "iv", "dose": 1.0, "infusions": 3,
            "interval_weeks": 4, "weeks": 48, "visits": [0, 12, 48], "insulin_treated": True}  # fmt: skip
    return TrialDesign(**(zang | changes))


def test_the_domain_is_the_fitted_trials():
    domain = calibrated_domain()
    assert domain["trials"] == ["Bhansali2017", "LIRA_hUCMSC2016", "Zang2022"]
    assert domain["diabetes_types"] == ["t2"] and domain["insulin_treated"] == [True]
    assert domain["weeks"] == 52 and domain["pathways"] == ["msc"]


def test_a_fitted_design_raises_no_design_warning():
    notes = " ".join(out_of_domain(_design()))
    for word in ("type 1", "not on insulin", "dose 1 x", "route ", "pathway ", "beyond the longest"):
        assert word not in notes


def test_each_way_out_is_named():
    assert any("type 1 diabetes" in n and "Cai 2016" in n for n in out_of_domain(_design(diabetes_type="t1")))
    assert any("not on insulin" in n for n in out_of_domain(_design(insulin_treated=False)))
    assert any(n.startswith("dose 5") for n in out_of_domain(_design(dose=5.0)))
    assert any("pathway exosome" in n for n in out_of_domain(_design(pathway="exosome")))
    assert any(
        "beyond the longest fitted follow-up" in n for n in out_of_domain(_design(weeks=104, visits=[0, 104]))
    )
    assert any("route intra-arterial" in n for n in out_of_domain(_design(route="intra-arterial")))


def test_not_informed_follows_the_record():
    record = posterior_record()
    notes = " ".join(not_informed(_design()))
    for p in record["parameters"]:
        assert (f"{p['block']}.{p['name']}" in notes) == (p["verdict"] != "identified")
    assert "keep their prior effect sizes" not in notes  # the v2 sentence the shipped e_regen contradicted
    assert "never calibrated" in notes


def test_time_course_warning_when_early_and_late_effects_differ():
    effects = [{"outcome": "hba1c", "week": 12, "md": -1.2}, {"outcome": "hba1c", "week": 48, "md": -0.5}]
    assert any("time course not identified" in n for n in time_course(_design(), effects))
    alike = [{"outcome": "hba1c", "week": 12, "md": -0.8}, {"outcome": "hba1c", "week": 48, "md": -0.7}]
    assert not any("not identified" in n for n in time_course(_design(), alike))
    assert any("half-life" in n for n in time_course(_design(), alike))
