"""From the evidence base to analysable study rows, under a protocol, with every choice recorded.

For each outcome and timepoint window: the eligible trials' reported numbers inside the window are turned
into one experimental-vs-control pair per trial (mean, SD, n in the protocol's unit) through the
``stemdm.evidence.derive`` conversions; what cannot be used is reported with its reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from stemdm.evidence.derive import combine, in_unit, to_mean_sd
from stemdm.evidence.errors import ConversionError
from stemdm.evidence.formats import EvidenceBundle
from stemdm.evidence.records import AdverseEvent, Arm, Measurement, Trial
from stemdm.evidence.validate import overlap_groups
from stemdm.evidence.windows import WEEKS_PER_MONTH, TimeWindow
from stemdm.review.protocol import OutcomeRule, Protocol


@dataclass
class StudyRow:
    """One trial's experimental-vs-control data for one outcome and timepoint (arm 1 = cells)."""

    trial_id: str
    m1: float
    sd1: float
    n1: int
    m2: float
    sd2: float
    n2: int
    value_type: str
    weeks: float
    flags: tuple[str, ...]
    sources: tuple[str, ...]  # natural keys of the reported measurements used
    steps: tuple[str, ...]  # derivation steps, in words
    attrs: dict[str, str] = field(default_factory=dict)  # subgroup variables
    dose_per_kg: float | None = None
    rob_overall: str | None = None
    cell_type: str = "msc"


@dataclass
class Skipped:
    """An analysis that could not be done, and why (never silently dropped)."""

    outcome: str
    timepoint_months: float | None
    subgroup: str
    reason: str

    def to_dict(self) -> dict:
        return {
            "outcome": self.outcome,
            "timepoint_months": self.timepoint_months,
            "subgroup": self.subgroup,
            "reason": self.reason,
        }


@dataclass
class Eligibility:
    trials: dict[str, Trial]
    excluded: dict[str, str]  # trial id -> reason


def dose_band(trial: Trial) -> str:
    """Dose per infusion in bands (cells/kg) or 'fixed dose' (cells) or 'not reported'."""
    if trial.dose_per_infusion is None:
        return "not reported"
    if trial.dose_unit == "cells":
        return "fixed dose (cells)"
    if trial.dose_per_infusion < 1e6:
        return "<1 million/kg"
    if trial.dose_per_infusion < 2e6:
        return "1-2 million/kg"
    return ">=2 million/kg"


def eligible_trials(bundle: EvidenceBundle, protocol: Protocol) -> Eligibility:
    """Trials meeting the protocol's inclusion rules; of each overlap group only the largest is kept."""
    rules = protocol.inclusion
    n_total = _randomized_totals(bundle)
    trials, excluded = {}, {}
    for trial in bundle["trials"]:
        reason = _exclusion_reason(trial, rules)
        if reason:
            excluded[trial.trial_id] = reason
        else:
            trials[trial.trial_id] = trial
    for group in overlap_groups(list(trials.values())):
        kept = max(sorted(group), key=lambda t: n_total.get(t, 0))
        for other in sorted(group - {kept}):
            excluded[other] = f"may share participants with {kept}; the larger trial ({kept}) is kept"
            trials.pop(other, None)
    return Eligibility(trials, excluded)


def _exclusion_reason(trial: Trial, rules) -> str | None:
    checks = (
        ("randomized", trial.randomized, rules.randomized),
        ("inclusion status", trial.inclusion_status, rules.inclusion_status),
        ("cell type", trial.cell_type, rules.cell_types),
        ("control", trial.control_type, rules.control_types),
    )
    for name, value, allowed in checks:
        if value not in allowed:
            return f"{name} '{value}' not in the protocol's {', '.join(allowed)}"
    return None


def _randomized_totals(bundle: EvidenceBundle) -> dict[str, int]:
    totals: dict[str, int] = {}
    for arm in bundle["arms"]:
        if arm.role != "all" and arm.n_randomized:
            totals[arm.trial_id] = totals.get(arm.trial_id, 0) + arm.n_randomized
    return totals


def study_rows(
    bundle: EvidenceBundle,
    protocol: Protocol,
    eligibility: Eligibility,
    rule: OutcomeRule,
    window: TimeWindow,
) -> tuple[list[StudyRow], list[Skipped]]:
    """The analysable rows for one outcome and window, and a Skipped entry per trial that reports the outcome
    there but cannot be used."""
    arms = {(a.trial_id, a.arm_id): a for a in bundle["arms"]}
    reported: dict[str, list[Measurement]] = {}
    for m in bundle["measurements"]:
        if m.outcome_id == rule.id and not m.derived and window.contains(m.timepoint_weeks):
            reported.setdefault(m.trial_id, []).append(m)
    rows, skipped = [], []
    for trial_id in sorted(reported):
        if trial_id not in eligibility.trials:
            continue
        try:
            rows.append(_pair(eligibility.trials[trial_id], reported[trial_id], arms, protocol, rule, window))
        except ConversionError as error:
            skipped.append(Skipped(rule.id, window.months, "overall", f"{trial_id}: {error}"))
    return rows, skipped


def _pair(
    trial: Trial,
    measurements: list[Measurement],
    arms: dict,
    protocol: Protocol,
    rule: OutcomeRule,
    window: TimeWindow,
) -> StudyRow:
    by_role: dict[str, list[Measurement]] = {"experimental": [], "control": []}
    for m in measurements:
        arm: Arm | None = arms.get((m.trial_id, m.arm_id))
        if arm is not None and arm.role in by_role:
            by_role[arm.role].append(m)
    if not by_role["control"] or not by_role["experimental"]:
        missing = "control" if not by_role["control"] else "cell-therapy"
        raise ConversionError(f"no {missing}-arm number for {rule.id} in this window")
    value_type = _value_type(by_role, rule)
    experimental = _arm_values(by_role["experimental"], value_type, arms, protocol, rule, window)
    control = _arm_values(by_role["control"], value_type, arms, protocol, rule, window)
    if len(control) > 1:
        raise ConversionError("more than one control arm; split the comparison in the evidence base")
    steps = []
    if len(experimental) > 1:
        combined = experimental[0]
        for other in experimental[1:]:
            combined = combine(combined, other, "cells_combined")
        steps.append(
            f"cell-therapy arms {', '.join(m.arm_id for m in experimental)} combined "
            "(Cochrane Handbook 6.5.2.10)"
        )
        experimental = [combined]
    e, c = experimental[0], control[0]
    used = tuple(
        sorted({src for m in by_role["experimental"] + by_role["control"] for src in [m.natural_key()]})
    )
    steps = _describe(e, "cells") + _describe(c, "control") + steps
    return StudyRow(
        trial_id=trial.trial_id,
        m1=e.mean,
        sd1=e.sd,
        n1=e.n,
        m2=c.mean,
        sd2=c.sd,
        n2=c.n,
        value_type=value_type,
        weeks=c.timepoint_weeks,
        flags=tuple(sorted(set(e.flags) | set(c.flags))),
        sources=used,
        steps=tuple(steps),
        attrs=_attrs(trial, protocol),
        dose_per_kg=trial.dose_per_infusion if trial.dose_unit == "cells/kg" else None,
        rob_overall=trial.rob_overall,
        cell_type=trial.cell_type,
    )


def _value_type(by_role: dict[str, list[Measurement]], rule: OutcomeRule) -> str:
    types = [{m.value_type for m in ms} for ms in by_role.values()]
    if rule.scores != "either":
        if not all(rule.scores in t for t in types):
            raise ConversionError(f"the protocol asks for {rule.scores} scores; both arms do not report them")
        return rule.scores
    # MD may mix final and change scores across trials, never within one trial's comparison
    for choice in ("change", "final"):
        if all(choice in t for t in types):
            return choice
    raise ConversionError("the arms report different score types (final vs change)")


def _arm_values(
    ms: list[Measurement],
    value_type: str,
    arms: dict,
    protocol: Protocol,
    rule: OutcomeRule,
    window: TimeWindow,
) -> list[Measurement]:
    """One mean-SD measurement per arm in the protocol's unit (closest to the window's nominal time)."""
    centre = window.months * WEEKS_PER_MONTH
    out = []
    for arm_id in sorted({m.arm_id for m in ms}):
        candidates = [m for m in ms if m.arm_id == arm_id and m.value_type == value_type]
        candidates.sort(key=lambda m: (abs(m.timepoint_weeks - centre), m.unit != rule.unit, m.unit))
        errors = []
        for m in candidates:
            try:
                out.append(_usable(m, arms[(m.trial_id, m.arm_id)], protocol, rule))
                break
            except ConversionError as error:
                errors.append(str(error))
        else:
            raise ConversionError("; ".join(dict.fromkeys(errors)) or f"arm {arm_id}: no {value_type} value")
    return out


def _usable(m: Measurement, arm: Arm, protocol: Protocol, rule: OutcomeRule) -> Measurement:
    rules = protocol.data
    if m.statistic == "mean_pm" and rules.pm_as == "exclude":
        raise ConversionError(f"arm {m.arm_id}: unlabelled ± and the protocol excludes such numbers")
    fallback = arm.n_randomized if rules.n_fallback == "randomized" else None
    pm_as = None if rules.pm_as == "exclude" else rules.pm_as
    derived = to_mean_sd(
        m, pm_as=pm_as, n_fallback=fallback, mean_method=rules.mean_method, sd_method=rules.sd_method
    )
    if derived.unit == "as printed":
        raise ConversionError(
            f"arm {m.arm_id}: unit {m.unit_as_reported!r} cannot be converted to {rule.unit}"
        )
    derived = in_unit(derived, rule.unit)
    if derived.n is None:
        derived = derived.with_changes(n=fallback)
    if derived.n is None:
        raise ConversionError(f"arm {m.arm_id}: n not reported and no randomized n")
    if not derived.sd > 0:
        raise ConversionError(f"arm {m.arm_id}: SD is {derived.sd}; an MD needs a positive SD")
    return derived


def _describe(m: Measurement, role: str) -> list[str]:
    n_note = (
        [f"{role}: n analysed not reported; randomized n = {m.n} used"]
        if ("n_analysed_not_reported" in m.flags)
        else []
    )
    if not m.derivation:
        return [f"{role}: reported mean and SD used as printed", *n_note]
    steps = json.loads(m.derivation)
    return n_note + [
        f"{role}: {s['method']} ({s['reference']})" + (f"; {'; '.join(s['notes'])}" if s.get("notes") else "")
        for s in steps
    ]


def _attrs(trial: Trial, protocol: Protocol) -> dict[str, str]:
    out = {}
    for variable in protocol.subgroups.variables:
        out[variable] = dose_band(trial) if variable == "dose_band" else str(getattr(trial, variable))
    return out


@dataclass
class EventRow:
    """One trial's adverse-event counts: cells (arm 1) vs control."""

    trial_id: str
    events1: int
    n1: int
    events2: int
    n2: int
    weeks: float
    sources: tuple[str, ...]


def event_rows(
    bundle: EvidenceBundle, eligibility: Eligibility, event_type: str
) -> tuple[list[EventRow], list[str]]:
    """Pairs of experimental and control counts for one event type (cell arms summed); and notes on trials
    reporting the event in one arm only."""
    arms = {(a.trial_id, a.arm_id): a for a in bundle["arms"]}
    per_trial: dict[str, list[AdverseEvent]] = {}
    for e in bundle["adverse_events"]:
        if e.event_type == event_type and e.trial_id in eligibility.trials:
            per_trial.setdefault(e.trial_id, []).append(e)
    rows, notes = [], []
    for trial_id, events in sorted(per_trial.items()):
        latest = max(e.timepoint_weeks for e in events)
        events = [e for e in events if e.timepoint_weeks == latest]
        cells = [e for e in events if arms[(e.trial_id, e.arm_id)].role == "experimental"]
        control = [e for e in events if arms[(e.trial_id, e.arm_id)].role == "control"]
        if not cells or not control:
            notes.append(f"{trial_id}: {event_type} reported for one arm only")
            continue
        rows.append(
            EventRow(
                trial_id,
                sum(e.events for e in cells),
                sum(e.n_at_risk for e in cells),
                sum(e.events for e in control),
                sum(e.n_at_risk for e in control),
                latest,
                tuple(e.natural_key() for e in cells + control),
            )
        )
    return rows, notes
