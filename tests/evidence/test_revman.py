"""RevMan import: a RevMan 5 .rm5 file and a Cochrane data-package CSV, mapped to outcome ids."""

from __future__ import annotations

import pytest

from stemdm.evidence.errors import EvidenceError
from stemdm.evidence.revman import read_data_package_csv, read_revman, read_rm5
from stemdm.evidence.store import Store

RM5 = """<?xml version="1.0" encoding="UTF-8"?>
<COCHRANE_REVIEW>
 <STUDIES_AND_REFERENCES><STUDIES><INCLUDED_STUDIES>
  <STUDY ID="STD-Zang-2022" NAME="Zang 2022" YEAR="2022"/>
  <STUDY ID="STD-Other-2019" NAME="Other 2019" YEAR="2019"/>
 </INCLUDED_STUDIES></STUDIES></STUDIES_AND_REFERENCES>
 <ANALYSES_AND_DATA>
  <COMPARISON ID="CMP-001" NO="1"><NAME>MSC vs placebo</NAME>
   <CONT_OUTCOME ID="CMP-001.01" NO="1"><NAME>HbA1c at 12 months</NAME>
    <CONT_SUBGROUP NO="1"><NAME>T2DM</NAME>
     <CONT_DATA STUDY_ID="STD-Other-2019" MEAN_1="7.2" SD_1="0.9" TOTAL_1="20"
                MEAN_2="7.9" SD_2="1.1" TOTAL_2="19"/>
    </CONT_SUBGROUP>
   </CONT_OUTCOME>
   <DICH_OUTCOME ID="CMP-001.02" NO="2"><NAME>Serious adverse events</NAME>
    <DICH_DATA STUDY_ID="STD-Other-2019" EVENTS_1="1" TOTAL_1="20" EVENTS_2="0" TOTAL_2="19"/>
   </DICH_OUTCOME>
   <CONT_OUTCOME ID="CMP-001.03" NO="3"><NAME>Quality of life</NAME>
    <CONT_DATA STUDY_ID="STD-Other-2019" MEAN_1="50" SD_1="9" TOTAL_1="20" MEAN_2="48" SD_2="8" TOTAL_2="19"/>
   </CONT_OUTCOME>
  </COMPARISON>
 </ANALYSES_AND_DATA>
</COCHRANE_REVIEW>
"""

MAPPING = """
[defaults]
diabetes_type = "T2DM"
experimental_arm = "msc"
control_arm = "control"

[[outcome]]
name = "HbA1c at 12 months"
outcome_id = "hba1c"
timepoint_weeks = 52
unit = "%"

[[outcome]]
name = "Serious adverse events"
event_type = "serious_adverse_event"
timepoint_weeks = 52
"""

PACKAGE = """Analysis group,Analysis number,Analysis name,Study,Study year,Experimental cases,Experimental N,\
Control cases,Control N,Experimental mean,Experimental SD,Control mean,Control SD
1,1,HbA1c at 12 months,Other 2019,2019,,20,,19,7.2,0.9,7.9,1.1
1,2,Serious adverse events,Other 2019,2019,1,20,0,19,,,,
"""


@pytest.fixture
def files(tmp_path):
    (tmp_path / "review.rm5").write_text(RM5)
    (tmp_path / "map.toml").write_text(MAPPING)
    (tmp_path / "package.csv").write_text(PACKAGE)
    return tmp_path


def test_rm5_and_data_package_read_the_same_numbers(files):
    rm5 = [r for r in read_rm5(files / "review.rm5") if r.outcome != "Quality of life"]
    package = read_data_package_csv(files / "package.csv")
    assert [(r.outcome, r.study, r.kind, r.values) for r in rm5] == [
        (r.outcome, r.study, r.kind, r.values) for r in package
    ]


def test_import_maps_outcomes_and_reports_unmapped(files, tmp_path):
    bundle, problems = read_revman(files / "review.rm5", files / "map.toml", known_trials=set())
    assert [p.value for p in problems] == ["Quality of life"]
    hba1c = {m.arm_id: m for m in bundle["measurements"]}
    assert (hba1c["msc"].mean, hba1c["msc"].sd, hba1c["msc"].n, hba1c["control"].n) == (7.2, 0.9, 20, 19)
    assert {(e.arm_id, e.events, e.n_at_risk) for e in bundle["adverse_events"]} == {
        ("msc", 1, 20),
        ("control", 0, 19),
    }
    assert bundle["trials"][0].trial_id == "Other2019" and bundle["trials"][0].inclusion_status == "uncertain"
    store = Store.open(str(tmp_path / "s.sqlite"), bootstrap=False)
    with pytest.raises(EvidenceError, match="not in the mapping"):  # an unmapped outcome stops the import
        store.import_bundle(bundle, "review.rm5", problems)
    report = store.import_bundle(bundle, "review.rm5")
    assert report.inserted == 7  # trial, 2 arms, 2 measurements, 2 adverse events


def test_not_a_data_package(tmp_path):
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(EvidenceError, match="data-package"):
        read_data_package_csv(tmp_path / "x.csv")
