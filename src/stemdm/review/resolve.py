"""From the evidence base to analysable study rows, under a protocol, with every choice recorded.

For each outcome and timepoint window: the eligible trials' reported numbers inside the window are turned
into one experimental-vs-control pair per trial (mean, SD, n in the protocol's unit) through the
``stemdm.evidence.derive`` conversions; what cannot be used is reported with its reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from stemdm.evidence.derive import combine, in_unit, to_mean_sd
from stemdm.evidence.errors import ConversionError
from stemdm.evidence.formats import EvidenceBundle
from stemdm.evidence.plausibility import SD_FLOORS, implausibly_small_sd
from stemdm.evidence.records import AdverseEvent, Arm, Contrast, Measurement, Trial
from stemdm.evidence.validate import overlap_groups
from stemdm.evidence.vocab import OUTCOMES
from stemdm.evidence.windows import WEEKS_PER_MONTH, TimeWindow
from stemdm.i18n.messages import clauses, msg, term, verbatim
from stemdm.review.protocol import OutcomeRule, Protocol
from stemdm.review.rows import StudyRow, contrast_row, count_row, effect_of


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
            excluded[other] = msg(
                "may share participants with %(kept)s; the larger trial (%(kept)s) is kept", kept=kept
            )
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
            return msg(
                "%(field)s '%(value)s' not in the protocol's %(allowed)s",
                field=term(name),
                value=term(value),
                allowed=[term(a) for a in allowed],
            )
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
    there but cannot be used. Arm-level numbers come first; a reported between-group contrast is used where
    they are missing or unusable (each row says which, and why)."""
    arms = {(a.trial_id, a.arm_id): a for a in bundle["arms"]}
    reported: dict[str, list[Measurement]] = {}
    for m in bundle["measurements"]:
        if m.outcome_id == rule.id and not m.derived and window.contains(m.timepoint_weeks):
            reported.setdefault(m.trial_id, []).append(m)
    contrasts: dict[str, list[Contrast]] = {}
    for c in bundle["contrasts"]:
        if c.outcome_id == rule.id and window.contains(c.timepoint_weeks):
            contrasts.setdefault(c.trial_id, []).append(c)
    corrections = _corrections_by_trial(bundle)
    rows, skipped = [], []
    for trial_id in sorted(set(reported) | set(contrasts)):
        if trial_id not in eligibility.trials:
            continue
        trial = eligibility.trials[trial_id]
        found, offered = reported.get(trial_id, []), contrasts.get(trial_id, [])
        row, errors = _row(trial, found, offered, arms, protocol, rule, window)
        if row is None:
            why = msg("%(trial)s: %(errors)s", trial=trial_id, errors=clauses(errors))
            skipped.append(Skipped(rule.id, window.months, "overall", why))
            continue
        if trial_id in corrections:
            row.flags = tuple(sorted({*row.flags, "correction_flagged"}))
            row.steps += tuple(corrections[trial_id])
        rows.append(row)
    return rows, skipped


def _row(
    trial: Trial,
    measurements: list[Measurement],
    contrasts: list[Contrast],
    arms: dict,
    protocol: Protocol,
    rule: OutcomeRule,
    window: TimeWindow,
) -> tuple[StudyRow | None, list[str]]:
    """Arm-level row if the numbers allow, else a contrast row; and the reasons when neither works."""
    errors: list[str] = []
    if measurements:
        try:
            row = _pair(trial, measurements, arms, protocol, rule, window)
        except ConversionError as error:
            errors.append(msg("arm-level numbers not usable: %(error)s", error=error.reason)
                          if contrasts else error.reason)  # fmt: skip
        else:
            if contrasts:
                row.steps += (
                    msg("a reported between-group contrast exists too; arm-level numbers take precedence"),
                )
            return row, []
    if contrasts:
        try:
            row = contrast_row(trial, contrasts, arms, protocol, rule, window)
        except ConversionError as error:
            errors.append(msg("contrast not usable: %(error)s", error=error.reason))
        else:
            _trial_fields(row, trial, protocol)
            if errors:
                row.steps = (
                    msg("%(error)s; the reported contrast is used instead", error=errors[0]),
                    *row.steps,
                )
            return row, []
    return None, errors


def _corrections_by_trial(bundle: EvidenceBundle) -> dict[str, list[str]]:
    """Open corrections (flagged, not applied) per trial, in words for the rows' steps."""
    out: dict[str, list[str]] = {}
    for c in bundle["corrections"]:
        if c.status == "flagged":
            what = f"{c.record_kind}.{c.field}" + (f" ({c.outcome_id})" if c.outcome_id else "")
            out.setdefault(c.trial_id, []).append(
                msg(
                    "correction flagged, not applied: %(what)s: %(value)s",
                    what=what,
                    value=verbatim(c.reported_value),
                )
            )
    return out


def select_arms(
    measurements: list[Measurement], arms: dict, trial: Trial, protocol: Protocol
) -> tuple[dict[str, list[Measurement]], list[str]]:
    """The measurements of the arms that enter the comparison, by role, and what was left out in words: an
    experimental arm whose product is not one of the protocol's cell types, and the parts of an arm that
    reports as a whole (never counted twice)."""
    by_role: dict[str, list[Measurement]] = {"experimental": [], "control": []}
    reporting = {m.arm_id for m in measurements}
    notes: set[str] = set()
    for m in measurements:
        arm: Arm | None = arms.get((m.trial_id, m.arm_id))
        if arm is None or arm.role not in by_role:
            continue
        if arm.part_of is not None and arm.part_of in reporting:
            notes.add(
                msg(
                    "arm %(arm)s is part of arm %(whole)s, which is used (not counted twice)",
                    arm=arm.arm_id,
                    whole=arm.part_of,
                )
            )
            continue
        product = arm.cell_type or trial.cell_type
        if arm.role == "experimental" and product not in protocol.inclusion.cell_types:
            notes.add(
                msg(
                    "arm %(arm)s (%(product)s) left out: not one of the protocol's cell types",
                    arm=arm.arm_id,
                    product=term(product),
                )
            )
            continue
        by_role[arm.role].append(m)
    return by_role, sorted(notes)


def _pair(
    trial: Trial,
    measurements: list[Measurement],
    arms: dict,
    protocol: Protocol,
    rule: OutcomeRule,
    window: TimeWindow,
) -> StudyRow:
    by_role, arm_notes = select_arms(measurements, arms, trial, protocol)
    if not by_role["control"] or not by_role["experimental"]:
        missing = "control" if not by_role["control"] else "cell-therapy"
        raise ConversionError(
            msg(
                "no %(role)s-arm number for %(outcome)s in this window",
                role=term(missing),
                outcome=term(rule.id),
            )
        )
    if OUTCOMES[rule.id].kind == "binary":
        row = count_row(trial, by_role, arms, protocol, rule)
    else:
        row = _mean_row(trial, by_role, arms, protocol, rule, window)
        _flag_possible_se(row, rule, protocol)
    row.steps = tuple(arm_notes) + row.steps
    _trial_fields(row, trial, protocol)
    return row


def _flag_possible_se(row: StudyRow, rule: OutcomeRule, protocol: Protocol) -> None:
    """An unlabelled ± read as SD whose SD is below the outcome's plausible floor (evidence.plausibility):
    flagged "possibly_se" with a step saying so; the numbers are not changed (the sensitivity analysis reads
    ± as SE)."""
    if "pm_unlabelled" not in row.flags or protocol.data.pm_as != "sd":
        return
    small = [(arm, sd) for arm, sd in ((term("cells"), row.sd1), (term("control"), row.sd2))
             if implausibly_small_sd(rule.id, rule.unit, sd) is not None]  # fmt: skip
    if not small:
        return
    floor = SD_FLOORS[(rule.id, rule.unit)]
    row.flags = tuple(sorted({*row.flags, "possibly_se"}))
    row.steps += tuple(
        msg("%(arm)s: possibly an SE: the unlabelled ± read as SD gives SD %(sd)s %(unit)s, below the "
            "smallest SD plausible for %(outcome)s (%(floor)s)", arm=arm, sd=f"{sd:.3g}", unit=rule.unit,
            outcome=term(rule.id), floor=f"{floor:.3g}")
        for arm, sd in small
    )  # fmt: skip


def _trial_fields(row: StudyRow, trial: Trial, protocol: Protocol) -> None:
    row.attrs = _attrs(trial, protocol)
    row.dose_per_kg = trial.dose_per_infusion if trial.dose_unit == "cells/kg" else None
    row.rob_overall = trial.rob_overall
    row.cell_type = trial.cell_type


def _mean_row(
    trial: Trial,
    by_role: dict[str, list[Measurement]],
    arms: dict,
    protocol: Protocol,
    rule: OutcomeRule,
    window: TimeWindow,
) -> StudyRow:
    errors = []
    for value_type in _value_types(by_role, rule):
        try:
            experimental = _arm_values(by_role["experimental"], value_type, arms, protocol, rule, window)
            control = _arm_values(by_role["control"], value_type, arms, protocol, rule, window)
            break
        except ConversionError as error:
            errors.append(msg("%(scores)s scores: %(error)s", scores=term(value_type), error=error.reason))
    else:
        raise ConversionError(clauses(errors))
    if len(control) > 1:
        raise ConversionError(msg("more than one control arm; split the comparison in the evidence base"))
    steps = []
    if len(experimental) > 1:
        combined = experimental[0]
        for other in experimental[1:]:
            combined = combine(combined, other, "cells_combined")
        steps.append(
            msg(
                "cell-therapy arms %(arms)s combined (Cochrane Handbook 6.5.2.10)",
                arms=", ".join(m.arm_id for m in experimental),
            )
        )
        experimental = [combined]
    e, c = experimental[0], control[0]
    used = tuple(sorted({m.natural_key() for m in by_role["experimental"] + by_role["control"]}))
    if errors:
        steps.append(
            msg("%(error)s; %(scores)s scores used instead", error=errors[0], scores=term(value_type))
        )
    steps = _describe(e, "cells") + _describe(c, "control") + steps
    yi, vi, notes = effect_of(
        {"m1i": e.mean, "sd1i": e.sd, "n1i": e.n, "m2i": c.mean, "sd2i": c.sd, "n2i": c.n}, rule.measure
    )
    return StudyRow(
        trial_id=trial.trial_id, yi=yi, vi=vi, n1=e.n, n2=c.n, value_type=value_type,
        weeks=c.timepoint_weeks, flags=tuple(sorted(set(e.flags) | set(c.flags))), sources=used,
        steps=tuple(steps + notes), m1=e.mean, sd1=e.sd, m2=c.mean, sd2=c.sd,
    )  # fmt: skip


def _value_types(by_role: dict[str, list[Measurement]], rule: OutcomeRule) -> list[str]:
    """Score types both arms report, in the order to try: the protocol's, or change before final."""
    types = [{m.value_type for m in ms} for ms in by_role.values()]
    if rule.scores != "either":
        if not all(rule.scores in t for t in types):
            raise ConversionError(
                msg(
                    "the protocol asks for %(scores)s scores; both arms do not report them",
                    scores=term(rule.scores),
                )
            )
        return [rule.scores]
    # MD may mix final and change scores across trials, never within one trial's comparison
    choices = [choice for choice in ("change", "final") if all(choice in t for t in types)]
    if not choices:
        raise ConversionError(msg("the arms report different score types (final vs change)"))
    return choices


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
                errors.append(error.reason)
        else:
            unique = list(dict.fromkeys(errors))
            raise ConversionError(
                clauses(unique)
                if unique
                else msg("arm %(arm)s: no %(scores)s value", arm=arm_id, scores=term(value_type))
            )
    return out


def _usable(m: Measurement, arm: Arm, protocol: Protocol, rule: OutcomeRule) -> Measurement:
    rules = protocol.data
    if m.statistic == "mean_pm" and rules.pm_as == "exclude":
        raise ConversionError(
            msg("arm %(arm)s: unlabelled ± and the protocol excludes such numbers", arm=m.arm_id)
        )
    fallback = arm.n_randomized if rules.n_fallback == "randomized" else None
    pm_as = None if rules.pm_as == "exclude" else rules.pm_as
    derived = to_mean_sd(
        m, pm_as=pm_as, n_fallback=fallback, mean_method=rules.mean_method, sd_method=rules.sd_method
    )
    if derived.unit == "as printed":
        raise ConversionError(
            msg(
                "arm %(arm)s: unit '%(unit)s' cannot be converted to %(target)s",
                arm=m.arm_id,
                unit=verbatim(m.unit_as_reported),
                target=rule.unit,
            )
        )
    derived = in_unit(derived, rule.unit)
    if derived.n is None:
        derived = derived.with_changes(n=fallback)
    if derived.n is None:
        raise ConversionError(msg("arm %(arm)s: n not reported and no randomized n", arm=m.arm_id))
    if not derived.sd > 0:
        raise ConversionError(
            msg("arm %(arm)s: SD is %(sd)s; an MD needs a positive SD", arm=m.arm_id, sd=derived.sd)
        )
    return derived


#: how dispersion.py names the Cochrane Handbook in a derivation's reference
HANDBOOK_PREFIX = "Cochrane Handbook v6.4 (2023) "


def derivation_text(text: str) -> str:
    """A derivation's method id, reference or note as a message: Handbook sections by a message, other
    fixed texts (method ids, conversion sources) through the term catalog (i18n/terms.py: DERIVATIONS)."""
    if text.startswith(HANDBOOK_PREFIX):
        return msg("Cochrane Handbook v6.4 (2023) %(sections)s", sections=text[len(HANDBOOK_PREFIX) :])
    return term(text)


def _describe(m: Measurement, role: str) -> list[str]:
    n_note = (
        [msg("%(role)s: n analysed not reported; randomized n = %(n)s used", role=term(role), n=m.n)]
        if ("n_analysed_not_reported" in m.flags)
        else []
    )
    if not m.derivation:
        return [msg("%(role)s: reported mean and SD used as printed", role=term(role)), *n_note]
    steps = json.loads(m.derivation)
    return n_note + [
        msg("%(role)s: %(method)s (%(reference)s)", role=term(role), method=derivation_text(s["method"]),
            reference=derivation_text(s["reference"]))
        if not _notes(s) else
        msg("%(role)s: %(method)s (%(reference)s); %(notes)s", role=term(role),
            method=derivation_text(s["method"]), reference=derivation_text(s["reference"]),
            notes=clauses(derivation_text(n) for n in _notes(s)))
        for s in steps
    ]  # fmt: skip


def _notes(step: dict) -> list[str]:
    """A derivation step's notes, less the n fallback (the row's own step says it, from the flag)."""
    return [n for n in step.get("notes") or [] if not n.startswith("n analysed not reported")]


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
            notes.append(
                msg("%(trial)s: %(event)s reported for one arm only", trial=trial_id, event=term(event_type))
            )
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
