"""The second curation pass (shared/evidence/additions_2026-11-30.csv and the README section "Additions and
corrections") coded into stemdm records. Called by curate_shared_evidence.py; not run on its own.

Every number comes from the additions file or the README section, on the row that names its source. What the
curators computed (one between-group estimate per contrast) is marked ``estimate_derived`` with how. The
README's corrections of the first pass become Correction records (shown in every report), never overwrites.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from stemdm.evidence.records import (
    AdverseEvent,
    Arm,
    Contrast,
    Correction,
    Measurement,
    PublishedEstimate,
    Record,
    Trial,
)

ADDITIONS = "additions_2026-11-30.csv"
README_SECTION = "shared/evidence/README.md, section 'Additions and corrections (second curation pass)'"

#: Arms the additions report separately (Skyler 2015's dose arms are parts of its pooled cell arm).
NEW_ARMS: list[dict] = [
    dict(trial_id="Skyler2015", arm_id=f"mpc_{dose}", role="experimental", label=f"MPC {dose} x10^6/kg",
         n_randomized=15, n_as_reported="15 (randomized n per abstract)", dose_per_infusion=float(dose) * 1e6,
         dose_unit="cells/kg", part_of="msc")
    for dose in ("0.3", "1.0", "2.0")
] + [
    dict(trial_id="NCT00767260_BMMNC_HOT", arm_id=arm, role=role, label=label, n_as_reported=text)
    for arm, role, label, text in (
        ("bmmnc_hot", "experimental", "BM-MNC + hyperbaric oxygen", "not given (80 completed, all arms)"),
        ("bmmnc", "experimental", "BM-MNC", "not given (80 completed, all arms)"),
        ("hot", "comparator", "hyperbaric oxygen alone", "not given (80 completed, all arms)"),
        ("control", "control", "standard therapy", "not given (80 completed, all arms)"),
    )
]  # fmt: skip

#: (trial, arm text in the additions file) -> arm id; the arm texts are in the file's note column.
ARM_BY_NOTE = [
    ("Skyler2015", r"placebo arm", "control"),
    ("Skyler2015", r"0\.3 x10\^6/kg", "mpc_0.3"),
    ("Skyler2015", r"1\.0 x10\^6/kg", "mpc_1.0"),
    ("Skyler2015", r"2\.0 x10\^6/kg", "mpc_2.0"),
    ("Bhansali2017", r"ABM-MSC arm", "msc"),
    ("Bhansali2017", r"ABM-MNC arm", "mnc"),
    ("Bhansali2017", r"sham arm", "control"),
    ("NCT00767260_BMMNC_HOT", r"^BM-MNC \+ hyperbaric", "bmmnc_hot"),
    ("NCT00767260_BMMNC_HOT", r"^BM-MNC arm", "bmmnc"),
]

NEW_TRIAL = dict(
    trial_id="NCT00767260_BMMNC_HOT",
    year=2017,
    citation="Autologous bone marrow mononuclear cell infusion and hyperbaric oxygen therapy in type 2 diabetes "
    "mellitus: an open-label, randomized controlled clinical trial (title as given by the source page)",
    registry_ids=["NCT00767260"],
    country="not reported",
    randomized="yes",
    blinding="open",
    arms_design="parallel",
    design_as_reported="open-label factorial RCT (BM-MNC+HOT, BM-MNC, HOT, standard therapy), 80 completed "
    "follow-up",
    diabetes_type="T2DM",
    cell_source="bone_marrow",
    cell_type="mononuclear",
    donor="autologous",
    product_as_reported="autologous bone marrow mononuclear cells, with or without hyperbaric oxygen",
    control_type="standard_care",
    control_as_reported="standard therapy (and a hyperbaric-oxygen-only arm)",
    follow_up_weeks=52.0,
    follow_up_as_reported="12 months",
    inclusion_status="included",
    inclusion_reason="open-label factorial RCT of BM-MNC vs standard therapy (mononuclear cells, not MSC; no "
    "control-arm numbers and no arm sizes in the source)",
    source_url="https://thestemcellfoundation.com/2017/10/17/autologous-bone-marrow-mononuclear-cell-infusion-"
    "and-hyperbaric-oxygen-therapy-in-type-2-diabetes-mellitus-an-open-label-randomized-controlled-clinical-"
    "trial/",
    notes="Added by the second curation pass. year = the source page's date (2017-10-17); the publication year "
    "is not stated there. Adverse events as printed: 'Treatment-related adverse events were mild, including "
    "transient abdominal pain (n = 5) and punctual hemorrhage (n = 3)' - arms and denominators not stated, so "
    "no adverse-event record is coded.",
    rob_source="not assessed: no risk-of-bias judgements in the curated sources",
)

#: Event type of each zero-event safety statement (key: words of the additions' note).
EVENT_TYPE_BY_NOTE = [
    ("major transplantation-related AE", "treatment_related_sae"),
    ("treatment-related serious AE", "treatment_related_sae"),
    ("side effects of MSC treatment", "treatment_related_ae"),
    ("", "treatment_related_ae"),  # Hu 2013/2016: "acute or chronic side effects"
]

#: Between-group contrasts the additions give (or let the curators compute from printed arm numbers).
CONTRASTS: list[dict] = [
    dict(
        trial_id="Zang2022", outcome_id="hba1c", timepoint_weeks=48.0, timepoint_label="48 weeks",
        arm_id="msc", comparator_arm_id="control", measure="MD", value_type="change", statistic="estimate_p",
        estimate=-0.68, p_value=0.0081, unit="%", unit_as_reported="%",
        as_reported="HbA1c decreased 1.31% (UC-MSC) and 0.63% (placebo); p = 0.0081 between both groups",
        estimate_derived=True,
        derivation="difference of the arms' printed mean changes: -1.31 - (-0.63) = -0.68 percentage points "
        "(the printed endpoint means give -1.50 vs -0.70; the two are never mixed)",
        flags=["possible_overlap", "window_mapped"],
        source_url="https://stemcellres.biomedcentral.com/articles/10.1186/s13287-022-02848-6",
        locator="abstract Results",
        notes="no dispersion printed; analysed n not stated (45/46 randomized)",
    ),
    dict(
        trial_id="Zang2022", outcome_id="responder_hba1c7_insulin50", timepoint_weeks=48.0,
        timepoint_label="48 weeks", arm_id="msc", comparator_arm_id="control", measure="RD",
        value_type="final", statistic="estimate_ci", estimate=15.45, ci_lb=2.25, ci_ub=28.66,
        unit="percentage points", unit_as_reported="%",
        as_reported="20.0% vs 4.55%; 95% CI of difference 2.25-28.66%", estimate_derived=True,
        derivation="difference of the printed proportions: 20.0 - 4.55 = 15.45 percentage points (the centre "
        "of the printed CI is 15.455)",
        flags=["possible_overlap", "window_mapped", "counts_not_reported"],
        source_url="https://stemcellres.biomedcentral.com/articles/10.1186/s13287-022-02848-6",
        locator="abstract (Results)",
        notes="responders: HbA1c < 7.0% and insulin reduction >= 50% (primary endpoint); counts not given",
    ),
]  # fmt: skip

#: The README's corrections of the first pass: (trial, record kind, field, outcome, what the later source says).
CORRECTIONS: list[tuple[str, str, str, str | None, str]] = [
    ("Sood2017", "measurements", "pm", None,
     "the abstract says clinical outcomes are mean ± SE and other data mean ± SD, so Table 1 '±' values may be "
     "SEs"),
    ("Sood2017", "trials", "control_type", None, "sham procedure, not standard care"),
    ("Sood2017", "trials", "follow_up_weeks", None, "follow-up 6 months"),
    ("Sood2017", "trials", "registry_ids", None,
     "registry probably NCT01694173 (matched by description, not named in the paper)"),
    ("Skyler2015", "trials", "blinding", None, "company press releases call the trial single-blind"),
    ("Cai2016", "measurements", "unit_as_reported", "cpep_auc", "printed unit pmol/mL/180 min"),
    ("Cai2016", "measurements", "unit_as_reported", "insulin_auc", "printed unit mmol/mL/180 min"),
]  # fmt: skip

#: New published pooled estimates (README section, quoted there from the reviews' abstracts).
ZHANG = dict(
    review_id="ZhangHC2025",
    citation="Zhang HC et al. 2025, Lanzhou Univ J Med 51(9):37-45",
    scope="T2DM; 11 trials (not RCT-only); MSC vs control",
    comparison="between_arm",
    measure="MD",
    k=11,
    locator=README_SECTION,
    notes="also reports before-vs-after results at 3, 6 and 12 months (not coded)",
)
ESHRAGH = dict(
    review_id="EshraghAbad2025",
    citation="Eshragh Abad Shapori & Fathi 2025, IJSRDMS",
    scope="13 RCTs",
    comparison="between_arm",
    measure="MD",
    locator=README_SECTION,
    notes="point estimate equals Kashbour 2025's, which suggests an overlapping trial set",
)
PUBLISHED: list[dict] = [
    ZHANG | dict(outcome_id="insulin_dose", outcome_as_reported="insulin dose", timepoint_months=3.0,
                 estimate=-15.58, ci_lb=-18.26, ci_ub=-12.89),
    ZHANG | dict(outcome_id="insulin_dose", outcome_as_reported="insulin dose", timepoint_months=6.0,
                 estimate=-16.77, ci_lb=-30.09, ci_ub=-3.46),
    ZHANG | dict(outcome_id="insulin_dose", outcome_as_reported="insulin dose", timepoint_months=12.0,
                 estimate=-26.90, ci_lb=-29.59, ci_ub=-24.20),
    ZHANG | dict(outcome_id="hba1c", outcome_as_reported="HbA1c", timepoint_months=6.0,
                 estimate=-0.62, ci_lb=-1.15, ci_ub=-0.09),
    ZHANG | dict(outcome_id="hba1c", outcome_as_reported="HbA1c", timepoint_months=12.0,
                 estimate=-0.75, ci_lb=-1.40, ci_ub=-0.11),
    ZHANG | dict(outcome_id="fbg", outcome_as_reported="FBG", timepoint_months=6.0, estimate=-0.83,
                 ci_lb=-1.57, ci_ub=-0.09, unit_note="unit as printed, probably mmol/L"),
    ESHRAGH | dict(outcome_id="hba1c", outcome_as_reported="HbA1c", estimate=-0.72, ci_lb=-0.95,
                   ci_ub=-0.50, notes=ESHRAGH["notes"] + "; fixed-effect model"),
    ESHRAGH | dict(outcome_id="fbg", outcome_as_reported="FPG in T1DM", subgroup="T1DM", estimate=-29.65,
                   ci_lb=-47.2, ci_ub=-12.28, unit_note="unit not printed"),
]  # fmt: skip

#: Caveats of the section that concern no bundled record.
CAVEATS = [
    {
        "title": "A possible further trial without results",
        "text": "NCT01719640 (BM-MSC + MNC vs MNC vs insulin, T2DM, 22 randomized) may be a further trial; no "
        "results were found, so it is not in the evidence base.",
        "trials": [],
        "source": README_SECTION,
    },
    {
        "title": "What public sources cannot give",
        "text": "No trial's results table at 3, 6 or 12 months for Hu 2013/2016, Carlsson 2015/2023, Izadi "
        "2022, Bhansali 2017, Sood 2017 or Zang 2022, and not Kashbour's forest plots: none of Kashbour's five "
        "pooled 12-month results can be reproduced from public numbers alone; the full texts hold them.",
        "trials": [],
        "source": README_SECTION,
    },
]


def _blank(value: str) -> str | None:
    value = (value or "").strip()
    return value or None


def _arm(row: dict[str, str]) -> str:
    for trial, pattern, arm in ARM_BY_NOTE:
        if row["study_id"] == trial and re.search(pattern, row["note"]):
            return arm
    return "msc" if row["arm"] == "cells" else "control"


def _count(note: str) -> tuple[int, int | None]:
    events = re.search(r"events=(\d+)", note)
    at_risk = re.search(r"n_at_risk=(\d+)", note)
    return int(events.group(1)), int(at_risk.group(1)) if at_risk else None


def _label(row: dict[str, str]) -> str:
    """The time as the source words it."""
    if row["timepoint_weeks"] == "0":
        return "baseline"
    if "during 1-year follow-up" in row["note"]:
        return "during 1-year follow-up"
    if "At 12 months" in row["locator"]:
        return "12 months"
    return f"{row['timepoint_weeks']} weeks"


def _measurement(row: dict[str, str], trial_flags: dict[str, list[str]]) -> Measurement:
    trial, note = row["study_id"], row["note"]
    flags = list(trial_flags.get(trial, []))
    fields: dict = {"statistic": "mean_only", "mean": row["mean"]}
    pm = re.search(r"pm=([\d.]+)", note)
    if pm:
        fields = {"statistic": "mean_pm", "mean": row["mean"], "pm": pm.group(1)}
        flags.append("pm_unlabelled")
    elif note.startswith("COUNT"):
        fields = {"statistic": "count", "events": _count(note)[0]}
    unit, unit_text = row["unit"], row["unit"]
    if unit == "% change from baseline":
        unit = "as printed"
    if _arm(row) == "mnc" or trial == "NCT00767260_BMMNC_HOT":
        flags.append("not_culture_expanded_msc")
    if trial == "Zang2022":
        flags.append("window_mapped")
    if not _blank(row["n"]):
        flags.append("n_analysed_not_reported")
    return Measurement.model_validate(
        {
            "trial_id": trial,
            "outcome_id": row["outcome"],
            "timepoint_weeks": float(row["timepoint_weeks"]),
            "timepoint_label": _label(row),
            "arm_id": _arm(row),
            "n": _blank(row["n"]),
            "value_type": row["statistic"],
            **fields,
            "unit": unit,
            "unit_as_reported": unit_text,
            "as_reported": note.split(";")[0] if not pm else f"{row['mean']} ± {pm.group(1)}",
            "flags": sorted(set(flags)),
            "source_url": row["source_url"],
            "locator": row["locator"],
            "notes": f"second curation pass: {note}",
        }
    )


def _event(row: dict[str, str], trial_flags: dict[str, list[str]]) -> AdverseEvent | None:
    events, at_risk = _count(row["note"])
    if at_risk is None:
        return None  # no denominator: kept in the trial's notes (NCT00767260)
    kind = next(kind for words, kind in EVENT_TYPE_BY_NOTE if words in row["note"])
    return AdverseEvent(
        trial_id=row["study_id"],
        arm_id=_arm(row),
        event_type=kind,
        event_as_reported=row["locator"],
        events=events,
        n_at_risk=at_risk,
        timepoint_weeks=float(row["timepoint_weeks"]),
        timepoint_label=f"{row['timepoint_weeks']} weeks (end of follow-up)",
        flags=trial_flags.get(row["study_id"], []),
        source_url=row["source_url"].split(" ; ")[0],
        locator=row["locator"][:500],
        notes=f"second curation pass: {row['note']}",
    )


def _field_text(records: list[Record], field: str, outcome: str | None) -> str | None:
    values = sorted(
        {
            str(getattr(r, field))
            for r in records
            if getattr(r, field, None) is not None and (outcome is None or r.outcome_id == outcome)
        }
    )
    return "; ".join(values)[:2000] or None


def corrections(bundle) -> list[Correction]:
    """The README's corrections, each with what the bundle says now (so the two can be compared)."""
    out = []
    for trial, kind, field, outcome, reported in CORRECTIONS:
        records = [r for r in bundle[kind] if r.trial_id == trial]
        out.append(
            Correction(
                trial_id=trial,
                record_kind=kind,
                field=field,
                outcome_id=outcome,
                bundled_value=_field_text(records, field, outcome),
                reported_value=reported,
                source_url=README_SECTION,
                locator="Corrections and flags for the first pass",
            )
        )
    return out


def add_second_pass(bundle, shared: Path, trial_flags: dict[str, list[str]]) -> None:
    """Add the second curation pass to ``bundle`` (the first pass already in it)."""
    bundle.add(Trial.model_validate(NEW_TRIAL))
    for arm in NEW_ARMS:
        bundle.add(Arm.model_validate(arm))
    for arm in bundle["arms"]:
        if arm.trial_id == "Bhansali2017" and arm.arm_id == "mnc":
            arm.cell_type = "mononuclear"
    with (shared / ADDITIONS).open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        if row["outcome"] == "adverse_events":
            event = _event(row, trial_flags)
            if event is not None:
                bundle.add(event)
        else:
            bundle.add(_measurement(row, trial_flags))
    for contrast in CONTRASTS:
        bundle.add(Contrast.model_validate(contrast))
    for published in PUBLISHED:
        months = published.get("timepoint_months")
        label = f"{months:g} months" if months is not None else "not stated"
        bundle.add(PublishedEstimate.model_validate(published | {"timepoint_label": label}))
    for correction in corrections(bundle):
        bundle.add(correction)
