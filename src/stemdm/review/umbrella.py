"""Umbrella comparison: the published meta-analyses beside the re-analysis, harmonized where possible and
flagged where not (shared README: reviews differ in scope, comparison, measure, units and sign).

Harmonization rules:
- sign: a review printing baseline minus follow-up (its ``unit_note`` or ``outcome_as_reported`` says "sign")
  is shown as printed and flagged; it is negated only when the note states the convention explicitly
  ("baseline minus follow-up").
- scale: an MD whose note says mmol/L for a glucose outcome is converted to mg/dL (x 18.016) and flagged.
- comparison: pre/post and mixed estimates are kept in their own group, never on the between-arm axis.
- measure: SMD and MD are separate groups (different scales).
"""

from __future__ import annotations

from stemdm.evidence.records import PublishedEstimate
from stemdm.evidence.units import GLUCOSE_MG_DL_PER_MMOL_L


def harmonize(estimate: PublishedEstimate, unit: str) -> dict:
    """A published estimate on the re-analysis's scale where possible, with flags saying what was done."""
    flags = []
    value, lb, ub = estimate.estimate, estimate.ci_lb, estimate.ci_ub
    note = " ".join(
        x for x in (estimate.unit_note, estimate.outcome_as_reported, estimate.notes) if x
    ).lower()
    if "baseline minus follow-up" in note:
        value, lb, ub = -value, -ub, -lb
        flags.append("sign flipped (review prints baseline minus follow-up)")
    elif "sign" in note:
        flags.append("sign convention unclear (as printed)")
    glucose = estimate.outcome_id in ("fbg", "ppbg")
    if estimate.measure == "MD" and glucose and "mmol/l" in note and unit == "mg/dL":
        value, lb, ub = (x * GLUCOSE_MG_DL_PER_MMOL_L for x in (value, lb, ub))
        presumed = " (unit presumed, not printed)" if ("presum" in note or "probably" in note) else ""
        flags.append(f"converted from mmol/L to mg/dL{presumed}")
    elif estimate.measure == "MD" and (
        estimate.unit_note is None
        or "unclear" in note
        or "presumably" in note
        or "suggests" in note
        or "not stated" in note
    ):
        flags.append("unit not stated by the review")
    if estimate.comparison != "between_arm":
        flags.append(
            f"{estimate.comparison.replace('_', '/')} comparison: not comparable with between-arm results"
        )
    if "not rct-only" in estimate.scope.lower():
        flags.append("not RCT-only")
    if "fixed-effect" in note or "fixed effect" in note:
        flags.append("fixed-effect model (no between-trial heterogeneity allowed)")
    if "overlapping trial set" in note:
        flags.append("trial set probably overlaps another review's")
    group = f"{estimate.measure}, {estimate.comparison.replace('_', ' ')}"
    return {
        "review_id": estimate.review_id,
        "citation": estimate.citation,
        "outcome": estimate.outcome_id,
        "subgroup": estimate.subgroup,
        "timepoint": estimate.timepoint_label,
        "measure": estimate.measure,
        "comparison": estimate.comparison,
        "group": group,
        "estimate": value,
        "ci_lb": lb,
        "ci_ub": ub,
        "as_printed": f"{estimate.estimate:g} [{estimate.ci_lb:g}, {estimate.ci_ub:g}]",
        "i2": estimate.i2_percent,
        "k": estimate.k,
        "n": estimate.n,
        "ci_width": ub - lb,
        "rct_only": "rct" in estimate.scope.lower() and "not rct-only" not in estimate.scope.lower(),
        "scope": estimate.scope,
        "flags": flags,
        "source_url": estimate.source_url,
        "locator": estimate.locator,
    }


def umbrella(published: list[PublishedEstimate], reanalysis: list[dict], units: dict[str, str]) -> list[dict]:
    """Rows per outcome: every published estimate (harmonized) and the re-analysis results (overall
    subgroup)."""
    rows = [harmonize(p, units.get(p.outcome_id, "")) | {"source": "published"} for p in published]
    for result in reanalysis:
        if result["subgroup"] != "overall":
            continue
        rows.append(
            {
                "review_id": "stemdm re-analysis",
                "citation": "this report",
                "outcome": result["outcome"],
                "subgroup": "overall",
                "timepoint": f"{result['timepoint_months']:g} months",
                "measure": result["measure"],
                "comparison": "between_arm",
                "group": f"{result['measure']}, between arm",
                "estimate": result["estimate"],
                "ci_lb": result["ci_lb"],
                "ci_ub": result["ci_ub"],
                "as_printed": "",
                "i2": result["i2"],
                "k": result["k"],
                "n": result["n"],
                "ci_width": result["ci_ub"] - result["ci_lb"],
                "rct_only": True,
                "scope": "RCTs in the bundled evidence base under the protocol",
                "flags": [],
                "source": "stemdm",
                "source_url": None,
                "locator": None,
            }
        )
    return sorted(rows, key=lambda r: (r["outcome"], r["group"], r["source"] != "stemdm", r["review_id"]))
