"""Regenerate the bundled evidence base (src/stemdm/evidence/data/) from ../shared/evidence/.

Run:  .venv/bin/python tools/curate_shared_evidence.py [--shared ../shared/evidence]

The shared files keep each number as read in its source, with free-text cells. This script codes them into
stemdm's records without changing any number: the coded fields (cell source, route, dose, follow-up in weeks,
outcome ids, units, statistic type, flags) are the curation, written out below where a reader can check them;
the verbatim text stays beside each coded field (``*_as_reported``). Counts that the shared rows hold in text
("9/11") are read from that text. Nothing is imputed.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from stemdm.evidence.formats import EvidenceBundle, write_csv_dir  # noqa: E402
from stemdm.evidence.records import AdverseEvent, Arm, Measurement, PublishedEstimate, Trial  # noqa: E402
from stemdm.evidence.windows import months_to_weeks  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from curate_additions import CAVEATS, add_second_pass  # noqa: E402

OUT = ROOT / "src" / "stemdm" / "evidence" / "data"

# --- Trials: coded fields per study (verbatim text is taken from trials.csv) ------------------------------
# Keys: year, doi, pmid, registry (ids), randomized, blinding, arms_design, type, source, cell_type, donor,
# dose (per infusion), dose_unit, route, n_infusions, interval (weeks), control, follow_up (weeks),
# inclusion (status, reason), overlaps.
CURATION: dict[str, dict] = {
    "Carlsson2015": dict(
        year=2015,
        pmid="25204974",
        registry=["NCT01068951"],
        randomized="yes",
        blinding="open",
        type="T1DM",
        source="bone_marrow",
        cell_type="msc",
        donor="autologous",
        dose=2.75e6,
        dose_unit="cells/kg",
        route="iv",
        n_infusions=1,
        control="standard_care",
        follow_up=52,
        inclusion=("included", "RCT; MSC vs insulin only"),
    ),
    "Carlsson2023": dict(
        year=2023,
        doi="10.1007/s00125-023-05934-3",
        registry=["NCT03406585"],
        randomized="yes",
        blinding="double",
        type="T1DM",
        source="wharton_jelly",
        cell_type="msc",
        donor="allogeneic",
        route="iv",
        n_infusions=1,
        control="placebo",
        follow_up=52,
        inclusion=("included", "randomized double-blind placebo-controlled part (phase II)"),
    ),
    "Hu2013": dict(
        year=2013,
        registry=["NCT01219465"],
        randomized="yes",
        blinding="double",
        type="T1DM",
        source="wharton_jelly",
        cell_type="msc",
        donor="allogeneic",
        route="iv",
        n_infusions=2,
        interval=4,
        control="placebo",
        follow_up=104,
        inclusion=("included", "RCT; WJ-MSC vs saline + intensive insulin"),
    ),
    "Cai2016": dict(
        year=2016,
        doi="10.2337/dc15-0171",
        registry=["NCT01374854"],
        randomized="yes",
        blinding="open",
        type="T1DM",
        source="mixed",
        cell_type="msc_plus_mononuclear",
        donor="mixed",
        dose=1.1e6,
        dose_unit="cells/kg",
        route="intra_arterial",
        n_infusions=1,
        control="standard_care",
        follow_up=52,
        inclusion=("included", "RCT; UC-MSC + autologous BM-MNC vs standard care"),
    ),
    "Lu2021": dict(
        year=2021,
        doi="10.1186/s13287-021-02417-3",
        randomized="no",
        blinding="open",
        type="T1DM",
        source="umbilical_cord",
        cell_type="msc",
        donor="allogeneic",
        route="iv",
        n_infusions=2,
        interval=13,
        control="standard_care",
        follow_up=52,
        inclusion=("excluded", "nonrandomized controlled study"),
    ),
    "Izadi2022": dict(
        year=2022,
        doi="10.1186/s13287-022-02941-w",
        registry=["IRCT2016070428786N1", "NCT04078308"],
        randomized="yes",
        blinding="triple",
        arms_design="crossover",
        type="T1DM",
        source="bone_marrow",
        cell_type="msc",
        donor="autologous",
        dose=1e6,
        dose_unit="cells/kg",
        route="iv",
        n_infusions=2,
        control="placebo",
        follow_up=52,
        inclusion=("included", "randomized triple-blind placebo-controlled (first 12 months)"),
    ),
    "Thakkar2015": dict(
        year=2015,
        randomized="unclear",
        blinding="open",
        type="T1DM",
        source="mixed",
        cell_type="msc_plus_hsc",
        donor="mixed",
        route="portal_multisite",
        n_infusions=1,
        control="active_comparator",
        follow_up=None,
        inclusion=("excluded", "no non-cell control (autologous vs allogeneic cells)"),
    ),
    "Skyler2015": dict(
        year=2015,
        doi="10.2337/dc14-2830",
        registry=["NCT01576328"],
        randomized="yes",
        blinding="double",
        type="T2DM",
        source="bone_marrow",
        cell_type="mesenchymal_precursor",
        donor="allogeneic",
        route="iv",
        n_infusions=1,
        control="placebo",
        follow_up=12,
        inclusion=("included", "RCT; placebo-controlled dose escalation"),
    ),
    "Hu2016": dict(
        year=2016,
        doi="10.3892/etm.2016.3544",
        randomized="yes",
        blinding="double",
        type="T2DM",
        source="wharton_jelly",
        cell_type="msc",
        donor="allogeneic",
        route="iv",
        n_infusions=2,
        interval=4,
        control="placebo",
        follow_up=156,
        inclusion=("included", "RCT; WJ-MSC vs saline"),
    ),
    "Zang2022": dict(
        year=2022,
        doi="10.1186/s13287-022-02848-6",
        registry=["NCT02302599"],
        randomized="yes",
        blinding="double",
        type="T2DM",
        source="umbilical_cord",
        cell_type="msc",
        donor="allogeneic",
        route="iv",
        n_infusions=3,
        interval=4,
        control="placebo",
        follow_up=48,
        inclusion=("included", "double-blind placebo-controlled RCT"),
        overlaps=["Zang2023_SCTM"],
    ),
    "Bhansali2017": dict(
        year=2017,
        randomized="yes",
        blinding="single",
        type="T2DM",
        source="bone_marrow",
        cell_type="msc",
        donor="autologous",
        dose=1e6,
        dose_unit="cells/kg",
        route="arterial_then_iv",
        n_infusions=2,
        control="sham",
        follow_up=52,
        inclusion=("included", "RCT; MSC and BM-MNC arms vs sham"),
    ),
    "Bhansali2014": dict(
        year=2014,
        doi="10.3727/096368913X665576",
        randomized="yes",
        blinding="single",
        type="T2DM",
        source="bone_marrow",
        cell_type="mononuclear",
        donor="autologous",
        route="arterial_then_iv",
        n_infusions=2,
        interval=12,
        control="sham",
        follow_up=52,
        inclusion=("included", "RCT; BM-derived cells (not culture-expanded MSC) vs sham"),
    ),
    "Zhang2016_ADMSC": dict(
        year=2016,
        randomized="yes",
        type="T1DM",
        source="adipose",
        cell_type="msc",
        dose=1e7,
        dose_unit="cells/kg",
        route="iv",
        control="standard_care",
        follow_up=104,
        inclusion=("uncertain", "listed as RCT by a review (Sun 2020); primary report not seen"),
    ),
    "WJCC2023_hUCMSC": dict(
        year=2023,
        doi="10.12998/wjcc.v11.i21.5083",
        randomized="unclear",
        blinding="open",
        type="T2DM",
        source="umbilical_cord",
        cell_type="msc",
        donor="allogeneic",
        control="placebo",
        follow_up=None,
        inclusion=("uncertain", "placebo-controlled; randomization details not captured"),
    ),
    "Sood2017": dict(
        year=2017,
        doi="10.4239/wjd.v8.i7.381",
        randomized="yes",
        type="T2DM",
        source="bone_marrow",
        cell_type="mononuclear",
        donor="autologous",
        n_infusions=1,
        route="arterial_then_iv",
        control="standard_care",
        follow_up=None,
        inclusion=("included", "RCT of BM-MNC by route vs standard care"),
    ),
    "NasliEsfahani2015": dict(
        year=2015,
        randomized="no",
        blinding="open",
        arms_design="single_arm",
        type="T1DM",
        source="bone_marrow",
        cell_type="msc",
        donor="autologous",
        dose=2e6,
        dose_unit="cells/kg",
        route="iv",
        control="none",
        follow_up=39,
        inclusion=("excluded", "single-arm study; no control group"),
    ),
    "Ghodsi2012": dict(
        year=2012,
        randomized="yes",
        type="T1DM",
        source="peripheral_blood",
        cell_type="hsc",
        route="iv",
        control="standard_care",
        follow_up=52,
        inclusion=("uncertain", "haematopoietic, not mesenchymal, cells; RCT per a review"),
    ),
    "Zang2023_SCTM": dict(
        year=2023,
        randomized="yes",
        type="T2DM",
        source="umbilical_cord",
        cell_type="msc",
        dose=1e6,
        dose_unit="cells/kg",
        route="iv",
        n_infusions=3,
        interval=4,
        control="placebo",
        follow_up=48,
        overlaps=["Zang2022"],
        inclusion=("included", "placebo-controlled RCT; may share participants with Zang2022"),
    ),
    "LIRA_hUCMSC2016": dict(
        year=2016,
        registry=["NCT01954147"],
        randomized="yes",
        blinding="single",
        type="T2DM",
        source="umbilical_cord",
        cell_type="msc",
        dose=1e6,
        dose_unit="cells/kg",
        route="arterial_then_iv",
        n_infusions=4,
        interval=1,
        control="sham",
        follow_up=24,
        inclusion=("included", "randomized sham-controlled (both arms on liraglutide)"),
    ),
    "Packham2016": dict(
        year=2016,
        doi="10.1016/j.ebiom.2016.09.011",
        pmid="27743903",
        registry=["NCT01843387"],
        randomized="yes",
        blinding="double",
        type="T2DM",
        source="bone_marrow",
        cell_type="mesenchymal_precursor",
        donor="allogeneic",
        route="iv",
        n_infusions=1,
        control="placebo",
        follow_up=60,
        inclusion=("included", "RCT in diabetic nephropathy; safety data only"),
    ),
    "Perico2023_NEPHSTROM": dict(
        year=2023,
        doi="10.1681/ASN.0000000000000189",
        registry=["NCT02585622"],
        randomized="yes",
        type="T2DM",
        source="bone_marrow",
        cell_type="msc",
        donor="allogeneic",
        dose=80e6,
        dose_unit="cells",
        route="iv",
        n_infusions=1,
        control="placebo",
        follow_up=78,
        inclusion=("included", "RCT in diabetic kidney disease; safety data only"),
    ),
    "Dantas2020_ASC_VitD": dict(
        year=2020,
        doi="10.3389/fimmu.2020.00993",
        randomized="unclear",
        blinding="open",
        type="T1DM",
        source="adipose",
        cell_type="msc",
        donor="allogeneic",
        dose=1e6,
        dose_unit="cells/kg",
        n_infusions=1,
        control="standard_care",
        follow_up=13,
        inclusion=("excluded", "open pilot; randomization not stated"),
    ),
}

# --- Arms: (arm_id, role, label, n randomized, n as reported, dose per infusion, dose unit) ----------------
ARMS: dict[str, list[tuple]] = {
    "Carlsson2015": [
        (
            "msc",
            "experimental",
            "autologous BM-MSC",
            10,
            "10 randomized (9 listed as MSC-treated in a review table)",
        ),
        ("control", "control", "insulin only", 10, "10"),
    ],
    "Carlsson2023": [
        ("msc", "experimental", "WJ-MSC (ProTrans)", 10, "10 (randomized part)"),
        ("control", "control", "placebo", 5, "5 (placebo)"),
    ],
    "Hu2013": [("msc", "experimental", "WJ-MSC", 15, "15"), ("control", "control", "saline", 14, "14")],
    "Cai2016": [
        ("msc", "experimental", "UC-MSC + aBM-MNC via pancreatic artery", 21, "21"),
        ("control", "control", "standard care", 21, "21"),
    ],
    "Lu2021": [
        ("msc", "experimental", "UC-MSC", 27, "27"),
        ("control", "control", "intensive insulin", 26, "26"),
    ],
    "Izadi2022": [
        ("msc", "experimental", "BM-MSC", None, "21 randomized in total (arm split not captured)"),
        ("control", "control", "placebo (saline)", None, "not captured"),
    ],
    "Thakkar2015": [
        ("autologous", "experimental", "autologous IS-AD-MSC + BM-HSC", 10, "10"),
        ("allogeneic", "comparator", "allogeneic IS-AD-MSC + BM-HSC", 10, "10"),
    ],
    "Skyler2015": [
        ("msc", "experimental", "MPC 0.3, 1.0 or 2.0 x10^6/kg (15 per dose)", 45, "45 (15 per dose)"),
        ("control", "control", "placebo", 16, "16"),
        ("all", "all", "all randomized", 61, "61"),
    ],
    "Hu2016": [("msc", "experimental", "WJ-MSC", 31, "31"), ("control", "control", "saline", 30, "30")],
    "Zang2022": [("msc", "experimental", "UC-MSC x3", 45, "45"), ("control", "control", "placebo", 46, "46")],
    "Bhansali2017": [
        ("msc", "experimental", "autologous BM-MSC", 10, "10"),
        ("mnc", "experimental", "autologous BM-MNC", 10, "10 (BM-MNC)"),
        ("control", "control", "sham", 10, "10 (sham/placebo)"),
    ],
    "Bhansali2014": [
        ("msc", "experimental", "autologous BM-derived stem cells (ABMSCT)", 11, "11"),
        ("control", "control", "sham procedure", 10, "10"),
    ],
    "Zhang2016_ADMSC": [
        ("msc", "experimental", "AD-MSC", 16, "16"),
        ("control", "control", "insulin", 17, "17"),
    ],
    "WJCC2023_hUCMSC": [
        ("msc", "experimental", "hUC-MSC", 24, "24"),
        ("control", "control", "placebo (acellular saline)", 10, "10"),
    ],
    "Sood2017": [
        ("g1", "experimental", "BM-MNC via superior pancreaticoduodenal/SMA artery", 7, "7"),
        ("g2", "experimental", "BM-MNC via splenic artery", 7, "7"),
        ("g3", "experimental", "BM-MNC IV", 7, "7"),
        ("control", "control", "standard care", 7, "7"),
    ],
    "NasliEsfahani2015": [("msc", "experimental", "autologous BM-MSC", 23, "23")],
    "Ghodsi2012": [
        ("hsc", "experimental", "peripheral-blood HSC", 13, "13"),
        ("control", "control", "insulin", 17, "17"),
    ],
    "Zang2023_SCTM": [
        ("msc", "experimental", "UC-MSC x3", 37, "37"),
        ("control", "control", "placebo", 36, "36"),
    ],
    "LIRA_hUCMSC2016": [
        ("msc", "experimental", "liraglutide + hUC-MSC", 6, "6"),
        ("control", "control", "liraglutide + sham saline", 6, "6"),
    ],
    "Packham2016": [
        ("msc", "experimental", "rexlemestrocel-L 150 or 300 x10^6 (pooled)", 20, "20 (10 + 10)"),
        ("control", "control", "placebo", 10, "10"),
    ],
    "Perico2023_NEPHSTROM": [
        ("msc", "experimental", "ORBCEL-M 80 x10^6", 12, "12"),
        ("control", "control", "placebo", 4, "4"),
    ],
    "Dantas2020_ASC_VitD": [
        ("msc", "experimental", "ASC + cholecalciferol", 8, "8"),
        ("control", "control", "standard insulin", 5, "5"),
    ],
}

OUTCOME_IDS = [
    (r"^HbA1c <7% maintained", "hba1c_below_7"),
    (r"^HbA1c", "hba1c"),
    (r"^(FBG|FPG)", "fbg"),
    (r"insulin requirement", "insulin_dose"),
    (r"^C-peptide AUC", "cpep_auc"),
    (r"^insulin AUC", "insulin_auc"),
    (r"^glucose infusion rate", "clamp_gir"),
    (r"^daily insulin dose, percent reduction", "insulin_dose_reduction_pct"),
    (r"^responders: HbA1c<7.0% AND insulin", "responder_hba1c7_insulin50"),
    (r"^responders: insulin reduction >=50% with HbA1c<7%", "responder_hba1c7_insulin50"),
    (r"^responders: TIR", "responder_tir70_hba1c7"),
    (r"^(serum|fasting) C-peptide", "cpep_fasting"),
    (r"^stimulated C-peptide", "cpep_stimulated"),
    (r"^HOMA-IR", "homa_ir"),
    (r"^HOMA-B", "homa_b"),
    (r"^time in range", "tir"),
    (r"^2-h postprandial glucose", "ppbg"),
    (r"^early-phase C-peptide", "cpep_early_phase"),
    (r"^clinical remission", "cpeptide_remission"),
    (r"^insulin independence", "insulin_independence"),
    (r"^age", "age"),
]

UNITS = {  # unit as printed in the shared rows -> (coded unit, extra flag or None)
    "%": ("%", None),
    "mmol/mol": ("mmol/mol", None),
    "mg/dL": ("mg/dL", None),
    "IU/day/kg": ("IU/kg/day", None),
    "IU/day": ("IU/day", None),
    "ng/mL": ("ng/mL", None),
    "mmol/L": ("mmol/L", None),
    "mg/min/kg": ("mg/kg/min", None),
    "% reduction": ("%", None),
    "% of patients": ("%", None),
    "patients": ("patients", None),
    "index": ("index", None),
    "years": ("years", None),
    "% (percentage points)": ("%", None),
    "pmol/mL/180 min": ("as printed", "unit_unclear"),
    "as printed: mmol/mL/180 min": ("as printed", "unit_unclear"),
    "IU/day (unit not printed)": ("IU/day", "unit_inferred"),
    "mg/dL (unit not printed)": ("mg/dL", "unit_inferred"),
    "as printed 'HOMA-IR%'": ("index", "unit_unclear"),
    "as printed 'HOMA-B%'": ("%", None),
    "as printed (unit not given in abstract)": ("as printed", "unit_unclear"),
    "as printed (unit not stated in abstract; TIR is conventionally % of time)": ("%", "unit_inferred"),
}

TRIAL_FLAGS = {  # flags every number of a trial carries
    "Bhansali2014": ["not_culture_expanded_msc"],
    "Sood2017": ["not_culture_expanded_msc"],
    "Lu2021": ["nonrandomized"],
    "Thakkar2015": ["no_untreated_control"],
    "Zang2023_SCTM": ["possible_overlap"],
    "Zang2022": ["possible_overlap"],
}

EVENT_TYPES = [  # (outcome as printed prefix, event types it reports)
    (
        "AE: serious adverse events / serious hypoglycaemia AEs / discontinuations due to AEs",
        ["serious_adverse_event", "serious_hypoglycaemia", "discontinuation_ae"],
    ),
    ("AE: transient fever", ["fever"]),
    ("AE: serious adverse events", ["serious_adverse_event"]),
    ("AE: hypoglycaemic attack", ["hypoglycaemia"]),
    ("AE: infusion reaction", ["infusion_reaction"]),
    ("death during follow-up", ["death"]),
    ("AE: treatment-related serious adverse events", ["treatment_related_sae"]),
]


def blank(value: str) -> str | None:
    value = (value or "").strip()
    return value or None


def read(shared: Path, name: str) -> list[dict[str, str]]:
    with (shared / name).open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def trial_record(row: dict[str, str]) -> Trial:
    cure = CURATION[row["study_id"]]
    status, reason = cure["inclusion"]
    return Trial(
        trial_id=row["study_id"],
        first_author=blank(row["first_author"]) if "not captured" not in row["first_author"] else None,
        year=cure["year"],
        citation=row["journal_doi"],
        doi=cure.get("doi"),
        pmid=cure.get("pmid"),
        registry_ids=cure.get("registry", []),
        registry_note=blank(row["trial_registration"]),
        country=row["country"],
        randomized=cure["randomized"],
        blinding=cure.get("blinding", "not_reported"),
        arms_design=cure.get("arms_design", "parallel"),
        design_as_reported=row["design"],
        diabetes_type=cure["type"],
        population=row["diabetes_type"],
        cell_source=cure["source"],
        cell_type=cure["cell_type"],
        donor=cure.get("donor", "not_reported"),
        product_as_reported=f"{row['cell_source']} ({row['autologous_allogeneic']})".replace(" ()", ""),
        dose_per_infusion=cure.get("dose"),
        dose_unit=cure.get("dose_unit"),
        dose_as_reported=blank(row["cell_dose"]),
        route=cure.get("route", "not_reported"),
        route_as_reported=blank(row["route"]),
        n_infusions=cure.get("n_infusions"),
        infusion_interval_weeks=cure.get("interval"),
        control_type=cure["control"],
        control_as_reported=blank(row["control_type"]),
        follow_up_weeks=cure.get("follow_up"),
        follow_up_as_reported=blank(row["follow_up"]),
        inclusion_status=status,
        inclusion_reason=reason,
        seed_review_status=row["kashbour_inclusion_status"],
        overlaps_with=cure.get("overlaps", []),
        source_url=row["source_url"],
        notes=blank(row["notes"]),
        rob_source="not assessed: no risk-of-bias judgements in the curated sources",
    )


def arm_records(trial_id: str) -> list[Arm]:
    return [
        Arm(trial_id=trial_id, arm_id=a, role=role, label=label, n_randomized=n, n_as_reported=text)
        for a, role, label, n, text in ARMS[trial_id]
    ]


def arm_id(trial_id: str, text: str) -> str:
    text = text.strip()
    if trial_id == "Thakkar2015":
        return "autologous" if text.startswith("msc") else "allogeneic"
    if trial_id == "Sood2017":
        for key, arm in (("control", "control"), ("group III", "g3"), ("group II", "g2"), ("group I", "g1")):
            if key in text:
                return arm
    for prefix in ("msc", "control", "all"):
        if text.startswith(prefix):
            return prefix
    raise ValueError(f"{trial_id}: arm {text!r} not mapped")


def timepoint_weeks(label: str, months: str) -> float:
    match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*weeks", label)
    if match:
        return float(match.group(1))
    if label.strip() == "baseline":
        return 0.0
    if label.strip() == "within 1 month":
        return months_to_weeks(1)
    return months_to_weeks(float(months))


def outcome_id(text: str) -> str:
    for pattern, ident in OUTCOME_IDS:
        if re.search(pattern, text):
            return ident
    raise ValueError(f"outcome {text!r} not mapped")


def statistic_fields(row: dict[str, str]) -> tuple[dict, list[str]]:
    """The statistic of a shared row as stemdm fields, and the flags it implies."""
    kind = row["dispersion_type"]
    value = blank(row["dispersion_value"]) or blank(row["sd"])
    mean = blank(row["mean"])
    if kind.startswith("SD (labelled)"):
        return {"statistic": "mean_sd", "mean": mean, "sd": value}, []
    if kind.startswith("±"):
        return {"statistic": "mean_pm", "mean": mean, "pm": value}, ["pm_unlabelled"]
    if kind.startswith("median"):
        median = re.search(r"median=([\d.]+)", row["notes"]).group(1)
        q1, q3 = re.split(r"\s*[-,]\s*", value)
        flags = ["iqr_presumed"] if "presumed" in kind else []
        return {"statistic": "median_iqr", "median": median, "q1": q1, "q3": q3}, flags
    if kind.startswith("none"):
        return {"statistic": "mean_only", "mean": mean}, []
    if kind == "proportion":
        return {"statistic": "proportion", "proportion": mean}, ["counts_not_reported"]
    if kind == "count":
        events = mean or re.match(r"^(\d+)\s*/", row["dispersion_as_reported"]).group(1)
        return {"statistic": "count", "events": str(int(float(events)))}, []
    raise ValueError(f"dispersion type {kind!r} not mapped")


def measurement_record(row: dict[str, str]) -> Measurement:
    trial = row["study_id"]
    fields, flags = statistic_fields(row)
    unit, unit_flag = UNITS[row["unit"]]
    flags += TRIAL_FLAGS.get(trial, [])
    if unit_flag:
        flags.append(unit_flag)
    if "truncated" in row["notes"]:
        flags.append("source_truncated")
    n = blank(row["n"])
    if n is None:
        flags.append("n_analysed_not_reported")
    value_type = "change" if row["value_type"].startswith("change") else "final"
    return Measurement.model_validate(
        {
            "trial_id": trial,
            "outcome_id": outcome_id(row["outcome"]),
            "timepoint_weeks": timepoint_weeks(row["timepoint_label"], row["timepoint_months"]),
            "timepoint_label": row["timepoint_label"],
            "arm_id": arm_id(trial, row["arm"]),
            "n": n,
            "value_type": value_type,
            **fields,
            "unit": unit,
            "unit_as_reported": row["unit"],
            "as_reported": blank(row["dispersion_as_reported"]) or blank(row["mean"]),
            "flags": flags,
            "source_url": row["source_url"],
            "locator": blank(row["locator"]),
            "notes": "; ".join(x for x in (row["outcome"], blank(row["notes"])) if x),
        }
    )


def adverse_event_records(row: dict[str, str]) -> list[AdverseEvent]:
    types = next(types for prefix, types in EVENT_TYPES if row["outcome"].startswith(prefix))
    trial = row["study_id"]
    events = int(float(blank(row["mean"]) or 0)) if row["value_type"] != "count (0)" else 0
    return [
        AdverseEvent(
            trial_id=trial,
            arm_id=arm_id(trial, row["arm"]),
            event_type=kind,
            event_as_reported=row["outcome"],
            events=events,
            n_at_risk=int(row["n_randomized"]),
            timepoint_weeks=timepoint_weeks(row["timepoint_label"], row["timepoint_months"]),
            timepoint_label=row["timepoint_label"],
            flags=TRIAL_FLAGS.get(trial, []),
            source_url=row["source_url"],
            locator=blank(row["locator"]),
            notes="; ".join(x for x in (blank(row["dispersion_as_reported"]), blank(row["notes"])) if x)
            or None,
        )
        for kind in types
    ]


def published_record(row: dict[str, str], inferences: dict[tuple, str]) -> PublishedEstimate:
    p_text = blank(row["p_value"])
    p_exact = float(p_text) if p_text and re.fullmatch(r"[\d.]+", p_text) else None
    months = blank(row["timepoint_months"])
    numeric = months is not None and re.fullmatch(r"[\d.]+", months)
    note = inferences.get((row["review_id"], row["outcome"], months))
    return PublishedEstimate(
        review_id=row["review_id"],
        citation=row["citation"],
        doi=blank(row["doi"]),
        search_to=blank(row["search_to"]),
        scope=row["scope"],
        comparison=row["comparison"],
        outcome_id=row["outcome"],
        outcome_as_reported=row["outcome_as_reported"],
        subgroup=blank(row["subgroup"]) or "overall",
        timepoint_months=float(months) if numeric else None,
        timepoint_label=(f"{months} months" if numeric else months) or "not stated",
        measure=row["measure"],
        estimate=float(row["estimate"]),
        ci_lb=float(row["ci_lb"]),
        ci_ub=float(row["ci_ub"]),
        p_value=p_exact,
        p_value_as_reported=p_text,
        i2_percent=float(row["i2_percent"]) if blank(row["i2_percent"]) else None,
        k=int(row["k"]) if blank(row["k"]) else None,
        n=int(row["n"]) if blank(row["n"]) else None,
        unit_note=blank(row["unit_note"]),
        source_url=blank(row["source_url"]),
        locator=blank(row["locator"]),
        notes=note,
    )


def per_study_inferences(shared: Path) -> dict[tuple, str]:
    """The one per-study effect quoted by a review: its note (an inference on the unnamed trial) is attached
    to the matching published estimate (DHR2024 insulin dose, 24 months), which holds the same numbers."""
    notes = {}
    for row in read(shared, "per_study_effects.csv"):
        notes[("DHR2024", "insulin_dose", row["timepoint_months"])] = (
            f"k = 1 ({row['study_id']}): {row['notes']}"
        )
    return notes


CAVEAT_TRIALS = {  # caveat (by its opening words) -> the trials it concerns
    "**Time windows**": ["Zang2022"],
    "**Overlap**": ["Zang2022", "Zang2023_SCTM"],
    "**Registry corrections**": ["Cai2016", "Carlsson2023", "Hu2013", "LIRA_hUCMSC2016", "Zang2022"],
    "Two T2DM trials in diabetic kidney disease": ["Packham2016", "Perico2023_NEPHSTROM"],
}


def caveats(shared: Path) -> list[dict]:
    """The shared README's caveats, one entry each, with the trials they concern."""
    text = (shared / "README.md").read_text(encoding="utf-8")
    section = text.split("## Caveats that must reach the user", 1)[1].split("\n## ", 1)[0]
    items = [item.strip() for item in re.split(r"\n- ", "\n" + section.strip()) if item.strip()]
    out = []
    for item in items:
        body = " ".join(line.strip() for line in item.splitlines())
        title = re.match(r"\*\*(.+?)\*\*", body)
        trials = next((ids for key, ids in CAVEAT_TRIALS.items() if body.startswith(key)), [])
        out.append(
            {
                "title": title.group(1).rstrip(".") if title else body.split(":")[0],
                "text": re.sub(r"\*\*", "", body),
                "trials": trials,
                "source": "shared/evidence/README.md, section 'Caveats that must reach the user'",
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "evidence")
    args = parser.parse_args()
    bundle = EvidenceBundle()
    for row in read(args.shared, "trials.csv"):
        bundle.add(trial_record(row))
        for arm in arm_records(row["study_id"]):
            bundle.add(arm)
    for row in read(args.shared, "arm_level_data.csv"):
        if row["outcome"].startswith(("AE:", "death")):
            for event in adverse_event_records(row):
                bundle.add(event)
        else:
            bundle.add(measurement_record(row))
    inferences = per_study_inferences(args.shared)
    for row in read(args.shared, "published_meta_analyses.csv"):
        bundle.add(published_record(row, inferences))
    add_second_pass(bundle, args.shared, TRIAL_FLAGS)
    OUT.mkdir(parents=True, exist_ok=True)
    for path in write_csv_dir(bundle.sorted(), OUT):
        print(f"wrote {path.relative_to(ROOT)}")
    (OUT / "caveats.json").write_text(
        json.dumps(caveats(args.shared) + CAVEATS, indent=1, ensure_ascii=False) + "\n"
    )
    print(f"wrote {(OUT / 'caveats.json').relative_to(ROOT)}; counts: {bundle.count()}")


if __name__ == "__main__":
    main()
