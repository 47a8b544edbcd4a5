"""Checks across records: references, duplicates, n against the randomized n, timepoints against the
follow-up, and overlapping trials. Field-level checks live in the record models (``records.py``).

Every check returns :class:`Problem` objects naming record type, file row, natural key and field; errors stop
an import, warnings travel with the data to the user.
"""

from __future__ import annotations

from collections import defaultdict

from pydantic import ValidationError

from stemdm.evidence.errors import Problem, validation_problems
from stemdm.evidence.formats import EvidenceBundle
from stemdm.evidence.records import AdverseEvent, Arm, Contrast, Measurement, Record, Trial

#: Without a stated number of dropouts, an n below this share of the randomized n is worth a warning.
MIN_SHARE_ANALYSED = 0.8


def check_bundle(incoming: EvidenceBundle, existing: EvidenceBundle | None = None) -> list[Problem]:
    """All cross-record problems of ``incoming``, resolving references against ``incoming`` first and then
    ``existing`` (what a store already holds)."""
    existing = existing or EvidenceBundle()
    trials = _by_key(existing["trials"]) | _by_key(incoming["trials"])
    arms = _by_key(existing["arms"]) | _by_key(incoming["arms"])
    problems = _revalidate(incoming) + _duplicates(incoming)
    for arm in incoming["arms"]:
        problems += _check_trial_ref(incoming, arm, trials)
        problems += _check_part_of(incoming, arm, arms)
    for record in incoming["measurements"] + incoming["adverse_events"]:
        problems += _check_trial_ref(incoming, record, trials)
        problems += _check_arm_ref(incoming, record, arms)
    for measurement in incoming["measurements"]:
        problems += _check_measurement(incoming, measurement, trials, arms)
    for event in incoming["adverse_events"]:
        problems += _check_event(incoming, event, trials, arms)
    for contrast in incoming["contrasts"]:
        problems += _check_trial_ref(incoming, contrast, trials)
        problems += _check_contrast(incoming, contrast, trials, arms)
    for correction in incoming["corrections"]:
        problems += _check_trial_ref(incoming, correction, trials)
    problems += overlap_warnings(list(trials.values()), incoming)
    return problems


def _revalidate(bundle: EvidenceBundle) -> list[Problem]:
    """Every record checked again by its model (ranges, control characters, statistic rules): a record
    built in code without validation gets the same verdict as one read from a file."""
    problems = []
    for record in bundle.all():
        try:
            type(record).model_validate(record.model_dump())
        except ValidationError as error:
            problems += validation_problems(record.kind, bundle.row_of(record), record.natural_key(), error)
    return problems


def _by_key(records: list[Record]) -> dict[str, Record]:
    return {record.natural_key(): record for record in records}


def _problem(bundle: EvidenceBundle, record: Record, field: str, value, why: str, severity: str = "error"):
    return Problem(record.kind, bundle.row_of(record), record.natural_key(), field, value, why, severity)


def _duplicates(bundle: EvidenceBundle) -> list[Problem]:
    problems = []
    for kind, records in bundle.records.items():
        seen: dict[str, Record] = {}
        for record in records:
            key = record.natural_key()
            if key in seen:
                first = bundle.row_of(seen[key])
                where = f" (first at row {first})" if first is not None else ""
                problems.append(
                    _problem(
                        bundle,
                        record,
                        "natural_key",
                        key,
                        f"duplicate {kind} record{where}: same natural key twice in one import",
                    )
                )
            else:
                seen[key] = record
    return problems


def _check_trial_ref(bundle: EvidenceBundle, record: Record, trials: dict[str, Record]) -> list[Problem]:
    if record.trial_id in trials:
        return []
    return [
        _problem(
            bundle,
            record,
            "trial_id",
            record.trial_id,
            "no such trial (import the trial first or in the same file set)",
        )
    ]


def _check_arm_ref(bundle: EvidenceBundle, record: Record, arms: dict[str, Record]) -> list[Problem]:
    key = f"{record.trial_id}/{record.arm_id}"
    if key in arms:
        return []
    known = sorted(k.split("/")[1] for k in arms if k.startswith(record.trial_id + "/"))
    return [
        _problem(
            bundle,
            record,
            "arm_id",
            record.arm_id,
            f"trial {record.trial_id} has no arm {record.arm_id!r} (arms: {', '.join(known) or 'none'})",
        )
    ]


def _check_follow_up(bundle, record: Measurement | AdverseEvent | Contrast, trials) -> list[Problem]:
    trial: Trial | None = trials.get(record.trial_id)
    if trial is None or trial.follow_up_weeks is None or record.timepoint_weeks <= trial.follow_up_weeks:
        return []
    why = f"after the trial's follow-up of {trial.follow_up_weeks:g} weeks"
    return [_problem(bundle, record, "timepoint_weeks", record.timepoint_weeks, why)]


def _check_measurement(bundle, record: Measurement, trials, arms) -> list[Problem]:
    problems = _check_follow_up(bundle, record, trials)
    arm: Arm | None = arms.get(f"{record.trial_id}/{record.arm_id}")
    if arm is None or arm.n_randomized is None:
        return problems
    if record.n is not None:
        problems += _check_n(bundle, record, "n", record.n, arm)
    patients = record.n or arm.n_randomized
    if record.events is not None and record.events > patients:
        why = f"exceeds the {patients} patients of arm {arm.arm_id}"
        problems.append(_problem(bundle, record, "events", record.events, why))
    return problems


def _check_event(bundle, record: AdverseEvent, trials, arms) -> list[Problem]:
    problems = _check_follow_up(bundle, record, trials)
    arm: Arm | None = arms.get(f"{record.trial_id}/{record.arm_id}")
    if arm is not None and arm.n_randomized is not None:
        problems += _check_n(bundle, record, "n_at_risk", record.n_at_risk, arm)
    return problems


def _check_part_of(bundle, arm: Arm, arms: dict[str, Record]) -> list[Problem]:
    """A sub-arm's parent exists in the same trial and its parts do not hold more patients than it."""
    if arm.part_of is None:
        return []
    parent: Arm | None = arms.get(f"{arm.trial_id}/{arm.part_of}")
    if parent is None:
        return [_problem(bundle, arm, "part_of", arm.part_of, f"trial {arm.trial_id} has no such arm")]
    if parent.part_of is not None:
        return [_problem(bundle, arm, "part_of", arm.part_of, "a part of a part: name the outermost arm")]
    parts = [a for a in arms.values() if a.trial_id == arm.trial_id and a.part_of == parent.arm_id]
    total = sum(a.n_randomized or 0 for a in parts)
    if parent.n_randomized is not None and total > parent.n_randomized:
        why = f"its parts hold {total} patients, more than the {parent.n_randomized} of arm {parent.arm_id}"
        return [_problem(bundle, arm, "part_of", arm.part_of, why)]
    return []


def _check_contrast(bundle, record: Contrast, trials, arms) -> list[Problem]:
    """Both arms exist in the trial, each stated n fits its arm, the time lies within the follow-up."""
    problems = _check_follow_up(bundle, record, trials)
    for arm_field, n_field in (("arm_id", "n1"), ("comparator_arm_id", "n2")):
        arm_id = getattr(record, arm_field)
        arm: Arm | None = arms.get(f"{record.trial_id}/{arm_id}")
        if arm is None:
            known = sorted(k.split("/")[1] for k in arms if k.startswith(record.trial_id + "/"))
            why = f"trial {record.trial_id} has no arm {arm_id!r} (arms: {', '.join(known) or 'none'})"
            problems.append(_problem(bundle, record, arm_field, arm_id, why))
        elif getattr(record, n_field) is not None and arm.n_randomized is not None:
            problems += _check_n(bundle, record, n_field, getattr(record, n_field), arm)
    return problems


def _check_n(bundle, record: Record, field: str, n: int, arm: Arm) -> list[Problem]:
    randomized = arm.n_randomized
    if n > randomized:
        return [
            _problem(bundle, record, field, n, f"exceeds the {randomized} randomized to arm {arm.arm_id}")
        ]
    if arm.n_dropouts is not None:
        if n < randomized - arm.n_dropouts:
            return [
                _problem(
                    bundle,
                    record,
                    field,
                    n,
                    f"below the {randomized} randomized minus {arm.n_dropouts} dropouts of arm {arm.arm_id}",
                )
            ]
        return []
    if n < MIN_SHARE_ANALYSED * randomized:
        return [
            _problem(
                bundle,
                record,
                field,
                n,
                f"under {MIN_SHARE_ANALYSED:.0%} of the {randomized} randomized to "
                f"arm {arm.arm_id} and no dropouts recorded",
                "warning",
            )
        ]
    return []


def overlap_warnings(trials: list[Trial], bundle: EvidenceBundle | None = None) -> list[Problem]:
    """One warning per pair of trials that may share participants and are both present: never pool both."""
    present = {trial.trial_id: trial for trial in trials}
    pairs = set()
    for trial in trials:
        for other in trial.overlaps_with:
            if other in present:
                pairs.add(tuple(sorted((trial.trial_id, other))))
    bundle = bundle or EvidenceBundle()
    return [
        _problem(
            bundle,
            present[a],
            "overlaps_with",
            b,
            f"{a} and {b} may share participants: never pool both in one analysis",
            "warning",
        )
        for a, b in sorted(pairs)
    ]


def overlap_groups(trials: list[Trial]) -> list[set[str]]:
    """Groups of trial ids connected by ``overlaps_with`` (an analysis may use at most one of each group)."""
    links: dict[str, set[str]] = defaultdict(set)
    ids = {trial.trial_id for trial in trials}
    for trial in trials:
        for other in trial.overlaps_with:
            if other in ids:
                links[trial.trial_id].add(other)
                links[other].add(trial.trial_id)
    groups, seen = [], set()
    for start in sorted(links):
        if start in seen:
            continue
        group, stack = set(), [start]
        while stack:
            node = stack.pop()
            if node not in group:
                group.add(node)
                stack.extend(links[node] - group)
        seen |= group
        groups.append(group)
    return groups
