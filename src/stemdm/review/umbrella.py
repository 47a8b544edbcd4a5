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

import re

from stemdm.evidence.records import PublishedEstimate
from stemdm.evidence.units import GLUCOSE_MG_DL_PER_MMOL_L
from stemdm.i18n.messages import Message, clauses, msg, term


def harmonize(estimate: PublishedEstimate, unit: str) -> dict:
    """A published estimate on the re-analysis's scale where possible, with flags saying what was done."""
    flags = []
    value, lb, ub = estimate.estimate, estimate.ci_lb, estimate.ci_ub
    note = " ".join(
        x for x in (estimate.unit_note, estimate.outcome_as_reported, estimate.notes) if x
    ).lower()
    if "baseline minus follow-up" in note:
        value, lb, ub = -value, -ub, -lb
        flags.append(msg("sign flipped (review prints baseline minus follow-up)"))
    elif "sign" in note:
        flags.append(msg("sign convention unclear (as printed)"))
    glucose = estimate.outcome_id in ("fbg", "ppbg")
    if estimate.measure == "MD" and glucose and "mmol/l" in note and unit == "mg/dL":
        value, lb, ub = (x * GLUCOSE_MG_DL_PER_MMOL_L for x in (value, lb, ub))
        presumed = "presum" in note or "probably" in note
        flags.append(msg("converted from mmol/L to mg/dL (unit presumed, not printed)") if presumed
                     else msg("converted from mmol/L to mg/dL"))  # fmt: skip
    elif estimate.measure == "MD" and (
        estimate.unit_note is None
        or "unclear" in note
        or "presumably" in note
        or "suggests" in note
        or "not stated" in note
    ):
        flags.append(msg("unit not stated by the review"))
    if estimate.comparison != "between_arm":
        flags.append(
            msg("%(comparison)s comparison: not comparable with between-arm results",
                comparison=term(estimate.comparison))
        )  # fmt: skip
    if "not rct-only" in estimate.scope.lower():
        flags.append(msg("not RCT-only"))
    if "fixed-effect" in note or "fixed effect" in note:
        flags.append(msg("fixed-effect model (no between-trial heterogeneity allowed)"))
    if "overlapping trial set" in note:
        flags.append(msg("trial set probably overlaps another review's"))
    group = f"{estimate.measure}, {estimate.comparison.replace('_', ' ')}"
    other_unit = _other_unit(note, unit)
    if other_unit:
        flags.append(msg("in %(unit)s, not %(ours)s: drawn on its own axis", unit=other_unit, ours=unit))
        group = f"{group} ({other_unit})"
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


def _other_unit(note: str, unit: str) -> str | None:
    """A unit the note names that differs from the re-analysis's (e.g. IU/kg/day beside IU/day)."""
    for candidate in ("iu/kg/day", "mmol/mol", "nmol/l", "pmol/l"):
        if candidate in note and candidate != unit.lower() and "converted" not in note:
            return {"iu/kg/day": "IU/kg/day", "mmol/mol": "mmol/mol", "nmol/l": "nmol/L", "pmol/l": "pmol/L"}[
                candidate
            ]
    return None


def umbrella(published: list[PublishedEstimate], reanalysis: list[dict], units: dict[str, str]) -> list[dict]:
    """Rows per outcome: every published estimate (harmonized) and the re-analysis results (overall
    subgroup)."""
    rows = [harmonize(p, units.get(p.outcome_id, "")) | {"source": "published"} for p in published]
    for result in reanalysis:
        if result["subgroup"] != "overall" or result["estimate"] is None or result["ci_lb"] is None:
            continue  # a result not estimable on its scale is not drawn (its explanation says so)
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


def _published_size(row: dict) -> tuple[int | None, int | None]:
    """Trials and patients a published estimate rests on: its own k and n, else those its scope states for
    the whole review ("13 RCTs 507 patients")."""
    k, n = row.get("k"), row.get("n")
    scope = row.get("scope") or ""
    if k is None:
        found = re.search(r"(\d+)\s+(?:RCTs|trials|studies|clinical trials)", scope)
        k = int(found.group(1)) if found else None
    if n is None:
        found = re.search(r"(\d+)\s+(?:patients|participants|subjects)", scope)
        n = int(found.group(1)) if found else None
    return k, n


def _closest(results: list[dict], outcome: str, months: float | None) -> dict | None:
    """Our overall result for the outcome at the published timepoint, else at the nearest one."""
    ours = [r for r in results if r["outcome"] == outcome and r["subgroup"] == "overall"]
    if not ours:
        return None
    return min(ours, key=lambda r: abs((r["timepoint_months"] or 0) - (months if months is not None else 99)))


def _inside(value: float, result: dict) -> list[Message]:
    """Which of our intervals contain a published estimate."""
    named = (("ci_lb", "ci_ub", msg("the confidence interval")), ("post_ci_lb", "post_ci_ub",
             msg("the credible interval")), ("pi_lb", "pi_ub", msg("the prediction interval")))  # fmt: skip
    return [
        name
        for lb, ub, name in named
        if result.get(lb) is not None and result.get(ub) is not None and result[lb] <= value <= result[ub]
    ]


def explanations(
    published: list[PublishedEstimate], results: list[dict], model: str, skipped: list[dict], units: dict
) -> list[dict]:
    """For every published pooled estimate on an outcome the re-analysis pools: one sentence (a message)
    saying how many trials and patients each rests on, how the methods differ, whether the directions agree
    and whether the published estimate lies inside our intervals. For outcomes a review pooled that the
    re-analysis cannot: the reason. Estimates on another scale or comparison are not compared (said)."""
    out = []
    for estimate in published:
        row = harmonize(estimate, units.get(estimate.outcome_id, ""))
        ours = _closest(results, estimate.outcome_id, estimate.timepoint_months)
        head = {
            "review_id": estimate.review_id,
            "outcome": estimate.outcome_id,
            "subgroup": estimate.subgroup,
        }
        if ours is None:
            reason = next((s["reason"] for s in skipped if s["outcome"] == estimate.outcome_id
                           and s["subgroup"] == "overall"), msg("no eligible trial reports it"))  # fmt: skip
            text = msg(
                "%(review)s pooled %(outcome)s; this re-analysis cannot: %(reason)s",
                review=estimate.review_id,
                outcome=term(estimate.outcome_id),
                reason=reason,
            )
            out.append(head | {"pooled": False, "text": text})
            continue
        out.append(head | {"pooled": True, "text": _compare(estimate, row, ours, model)})
    return out


def _compare(estimate: PublishedEstimate, row: dict, ours: dict, model: str) -> Message:
    k, n = _published_size(row)
    size = msg("%(review)s: %(k)s trial(s), %(n)s patients; this re-analysis: %(ours_k)s trial(s), "
               "%(ours_n)s patients", review=estimate.review_id, k=k if k is not None else "?",
               n=n if n is not None else "?", ours_k=ours["k"], ours_n=ours["n"])  # fmt: skip
    comparable = (estimate.comparison == "between_arm" and estimate.measure == ours["measure"]
                  and "(" not in row["group"])  # fmt: skip
    if ours["k"] == 1:
        differences = [msg("ours is a single trial's own estimate, not a pool")]
    else:
        differences = [msg("our model %(model)s (with k = %(k)s the interval is t on %(df)s df)", model=model,
                           k=ours["k"], df=ours["k"] - 1)]  # fmt: skip
    if estimate.subgroup != "overall":
        differences.append(
            msg("their estimate is for the subgroup %(subgroup)s", subgroup=term(estimate.subgroup))
        )
    differences += list(row["flags"])
    if not comparable or ours.get("estimate") is None:
        return clauses([size, msg("not compared on one scale (%(measure)s, %(comparison)s)",
                                  measure=estimate.measure, comparison=term(estimate.comparison)),
                        msg("differences: %(d)s", d=differences)])  # fmt: skip
    ratio = ours["measure"] in ("RR", "OR")
    null = 1.0 if ratio else 0.0
    agree = (row["estimate"] - null) * (ours["estimate"] - null) > 0
    direction = msg("both point the same way") if agree else msg("the directions differ")
    values = msg(
        "%(theirs)s vs our %(ours)s", theirs=f"{row['estimate']:.3g}", ours=f"{ours['estimate']:.3g}"
    )
    inside = _inside(row["estimate"], ours)
    where = (msg("their estimate lies inside our %(names)s", names=inside) if inside
             else msg("their estimate lies outside our intervals"))  # fmt: skip
    return clauses([size, msg("%(direction)s (%(values)s)", direction=direction, values=values), where,
                    msg("differences: %(d)s", d=differences)])  # fmt: skip
