"""Where a simulated design lies against what the calibration saw, and what its result rests on that no data
inform: said with every output (CLI, JSON, the workbench, figure captions).

- ``calibrated_domain()``: what the trials in the calibration's likelihood span, from their bundled records:
  pathways, sources, routes, doses, administrations, follow-up, diabetes type, insulin treatment.
- ``out_of_domain(design)``: each way a design leaves that domain, and the held-out checks the model missed
  when the design resembles them (read from the posterior record, so they follow the shipped calibration).
- ``not_informed(design)``: generated from the calibration record (prior vs posterior of each calibrated
  parameter, identified or not) and the parameters that are never calibrated, so it cannot contradict the
  shipped parameters.
- ``time_course(design, effects)``: the signal half-life's posterior beside every trajectory, and a warning
  when the early effect differs from the late one by more than ``TIME_COURSE_FACTOR``.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

#: parameters the calibration never fits: their coded values are assumptions (docs/MODEL.md)
FIXED_MECHANISMS = ("e_protect", "e_micro", "e_immuno")
#: an early (about 3-month) effect more than this many times the late one, or less than its inverse, is a
#: time course the trials do not support (Zang 2023: -0.83 at 9 weeks, -0.85 at 48; issue 21)
TIME_COURSE_FACTOR = 1.5


@functools.cache
def _record(path: str) -> dict[str, Any]:
    data = json.loads(Path(path).read_text())
    data.pop("draws", None)
    return data


def posterior_record() -> dict[str, Any] | None:
    """The calibration record of the chosen parameter file's posterior (the shipped one by default)."""
    from stemdm.sim.parameters import chosen_posterior_file

    path = chosen_posterior_file() or Path(str(resources.files("stemdm.sim") / "data" / "posterior.json"))
    return _record(str(path)) if path.exists() else None


#: the bundled records' routes as the simulator names them
SIM_ROUTES = {"iv": "iv", "intra_arterial": "intra-arterial", "arterial_then_iv": "arterial-then-iv"}


def calibrated_domain() -> dict[str, Any]:
    """What the fitted trials span (the trials whose numbers are in the likelihood, read from the chosen
    posterior record; their designs from the bundled trial records, which the in-silico designs are tested
    to match: ``evidence_trials.design_disagreements``). Read from data, so this module imports no simulator
    code."""
    record = posterior_record() or {}
    return _domain_of(
        tuple(sorted({t["trial"] for t in record.get("targets", []) if t.get("in_likelihood")}))
    )


@functools.cache
def _domain_of(fitted: tuple[str, ...]) -> dict[str, Any]:
    from stemdm.evidence.bundled import load_bundled

    trials = [t for t in load_bundled()["trials"] if t.trial_id in fitted]
    doses = [t.dose_per_infusion / 1e6 for t in trials if t.dose_unit == "cells/kg" and t.dose_per_infusion]
    infusions = [t.n_infusions for t in trials if t.n_infusions]
    return {
        "trials": list(fitted),
        "pathways": ["msc"] if trials else [],
        "sources": sorted({t.cell_source for t in trials if t.cell_source}),
        "routes": sorted({SIM_ROUTES[t.route] for t in trials if t.route in SIM_ROUTES}),
        "dose": (min(doses), max(doses)) if doses else (1.0, 1.0),
        "infusions": (min(infusions), max(infusions)) if infusions else (1, 1),
        "weeks": int(max((t.follow_up_weeks or 0) for t in trials)) if trials else 0,
        "diabetes_types": sorted(
            {{"T1DM": "t1", "T2DM": "t2"}[t.diabetes_type] for t in trials if t.diabetes_type}
        ),
        "insulin_treated": sorted({"insulin" in (t.population or "").lower() for t in trials}),
    }


def _missed(record: dict[str, Any] | None, trial: str) -> list[str]:
    """Held-out and leave-one-trial-out numbers of ``trial`` outside their 95 % predictive intervals."""
    if not record:
        return []
    rows = record.get("held_out", {}).get("rows", []) + record.get("leave_one_trial_out", {}).get("rows", [])
    return [
        f"{r['name']}: reported {r['target']:.3g}, predicted {r['posterior_predictive'][1]:.3g} "
        f"({r['posterior_predictive'][0]:.3g} to {r['posterior_predictive'][2]:.3g})"
        for r in rows
        if r["trial"] == trial and not r["covered"]
    ]


def out_of_domain(design) -> list[str]:
    """Each way ``design`` leaves the calibrated domain, in words (empty: inside it)."""
    domain, record = calibrated_domain(), posterior_record()
    fitted = ", ".join(domain["trials"])
    notes = []
    if design.pathway not in domain["pathways"]:
        notes.append(
            f"pathway {design.pathway}: no fitted trial used it ({fitted} gave MSC); its effect is the "
            "model's assumption"
        )
    if design.pathway == "msc" and design.source not in domain["sources"]:
        notes.append(
            f"source {design.source}: no fitted trial used it (fitted: {', '.join(domain['sources'])})"
        )
    if design.route not in domain["routes"]:
        notes.append(
            f"route {design.route}: no fitted trial used it alone (fitted: {', '.join(domain['routes'])}); "
            "the intra-arterial advantage rests on assumed local shares"
        )
    low, high = domain["dose"]
    if design.pathway == "msc" and not (0.8 * low <= design.dose <= 1.25 * high):
        notes.append(
            f"dose {design.dose:g} x 1e6 cells/kg: every fitted trial gave about {low:g}-{high:g} x 1e6 "
            "cells/kg; dose-response away from it is the model's assumption"
        )
    if design.infusions > domain["infusions"][1]:
        notes.append(
            f"{design.infusions} administrations: fitted trials gave {domain['infusions'][0]}-"
            f"{domain['infusions'][1]}"
        )
    if design.weeks > domain["weeks"]:
        notes.append(f"{design.weeks} weeks: beyond the longest fitted follow-up ({domain['weeks']} weeks)")
    if design.diabetes_type not in domain["diabetes_types"]:
        misses = _missed(record, "Cai2016")
        notes.append(
            "type 1 diabetes: no fitted trial; the held-out type 1 trial (Cai 2016) was missed"
            + (f" ({'; '.join(misses)})" if misses else "")
        )
    if design.insulin_treated not in domain["insulin_treated"]:
        notes.append("patients not on insulin: every fitted trial enrolled insulin-treated patients")
    responders = _missed(record, "Bhansali2017") + _missed(record, "Bhansali2014")
    if responders:
        notes.append(
            "responder rates: the model missed the Bhansali trials' responders ("
            + "; ".join(responders)
            + ")"
        )
    pooled = [m for m in _missed(record, "pooled reviews") if "insulin" in m]
    if pooled and design.insulin_treated:
        notes.append(
            "insulin dose: the pooled reviews' insulin-dose reductions fell outside the predictions ("
            + "; ".join(pooled)
            + ")"
        )
    return notes


def _interval(record: dict[str, Any] | None, block: str, name: str) -> str | None:
    for p in (record or {}).get("parameters", []):
        if (p["block"], p["name"]) == (block, name):
            return f"{p['post_50']:.3g} ({p['post_2.5']:.3g} to {p['post_97.5']:.3g})"
    return None


def not_informed(design) -> list[str]:
    """What this design's result rests on that no data inform, from the calibration record."""
    record = posterior_record()
    notes = []
    if design.pathway == "msc":
        notes.append(
            f"cell source ({design.source}): all sources have the same potency in the model, because no "
            "data tell them apart; results do not depend on the source"
        )
    if design.pathway == "exosome":
        notes.append(
            "exosome dose and effect: the dose has no physical unit (particles or protein) and the effect "
            "size is an assumption with no human data; the result is not informed by data"
        )
    if design.pathway == "psc-islet":
        notes.append(
            "PSC-islet graft maturation, loss and secretion efficiency are assumptions (no trial data in "
            "the evidence base)"
        )
    for p in (record or {}).get("parameters", []):
        if p["verdict"] != "identified":
            notes.append(
                f"{p['block']}.{p['name']}: {p['verdict']} by the calibration trials (prior 95 % "
                f"{p['prior_2.5']:.3g} to {p['prior_97.5']:.3g}, posterior {p['post_2.5']:.3g} to "
                f"{p['post_97.5']:.3g}); results over the posterior carry that uncertainty"
            )
    notes.append(
        f"{', '.join('therapy.' + n for n in FIXED_MECHANISMS)}: never calibrated (no bundled trial "
        "separates them); their coded values are assumptions (docs/MODEL.md)"
    )
    return notes


def time_course(design, effects: list[dict[str, Any]]) -> list[str]:
    """The signal half-life's posterior, and a warning when the HbA1c effect near 3 months and at the last
    visit differ by more than ``TIME_COURSE_FACTOR`` (the trials saw them alike)."""
    record = posterior_record()
    half_life = _interval(record, "therapy", "signal_half_life")
    notes = (
        [
            f"time course: the effect signal's half-life is {half_life} days (posterior); the trials barely "
            "inform it"
        ]
        if half_life
        else []
    )
    hba1c = {e["week"]: e["md"] for e in effects if e["outcome"] == "hba1c" and e.get("md") is not None}
    early = [w for w in hba1c if 8 <= w <= 16]
    late = max(hba1c) if hba1c else None
    if early and late is not None and late >= 36:
        near_3_months = min(early, key=lambda w: abs(w - 12))
        first, last = hba1c[near_3_months], hba1c[late]
        if first * last <= 0 or not (1 / TIME_COURSE_FACTOR <= first / last <= TIME_COURSE_FACTOR):
            notes.append(
                f"time course not identified: the HbA1c effect at week {near_3_months} "
                f"({first:+.2f}) and at week {late} ({last:+.2f}) differ by more than a factor "
                f"{TIME_COURSE_FACTOR:g}, while the trials that measured both (Zang 2023: -0.83 at 9 weeks, "
                "-0.85 at 48) saw them alike"
            )
    return notes
