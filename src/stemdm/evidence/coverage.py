"""Coverage view: which trial reports which outcome at which time, with what statistic and which flags, and
which review timepoint (3, 6, 12 months) each reported time maps to."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass

from stemdm.evidence.formats import EvidenceBundle
from stemdm.evidence.records import Arm, Trial
from stemdm.evidence.windows import DEFAULT_WINDOWS, TimeWindow, map_timepoint


@dataclass(frozen=True)
class CoverageCell:
    """What one trial reports for one outcome at one reported time (all arms together)."""

    trial_id: str
    diabetes_type: str
    outcome_id: str
    timepoint_weeks: float
    timepoint_label: str
    review_months: float | None  # window the time maps to (None: outside every window)
    window_rule: str
    arms: tuple[str, ...]
    between_arm: bool  # an experimental and a control arm both report it
    statistics: tuple[str, ...]
    value_types: tuple[str, ...]
    units: tuple[str, ...]
    flags: tuple[str, ...]

    def to_dict(self) -> dict:
        return asdict(self)


def coverage(bundle: EvidenceBundle, windows: tuple[TimeWindow, ...] = DEFAULT_WINDOWS) -> list[CoverageCell]:
    """One cell per (trial, outcome, reported time) of measurements, plus adverse events as outcome
    ``ae:<event type>``, in trial / outcome / time order."""
    trials: dict[str, Trial] = {t.trial_id: t for t in bundle["trials"]}
    roles = {(a.trial_id, a.arm_id): a.role for a in bundle["arms"] if isinstance(a, Arm)}
    groups: dict[tuple, list] = defaultdict(list)
    for m in bundle["measurements"]:
        groups[(m.trial_id, m.outcome_id, m.timepoint_weeks)].append(
            (m.arm_id, m.statistic, m.value_type, m.unit, m.flags, m.timepoint_label)
        )
    for e in bundle["adverse_events"]:
        groups[(e.trial_id, f"ae:{e.event_type}", e.timepoint_weeks)].append(
            (e.arm_id, "count", "final", "patients", e.flags, e.timepoint_label)
        )
    cells = []
    for (trial_id, outcome_id, weeks), items in sorted(groups.items()):
        mapping = map_timepoint(weeks, windows)
        arms = tuple(sorted({item[0] for item in items}))
        arm_roles = {roles.get((trial_id, arm)) for arm in arms}
        trial = trials.get(trial_id)
        cells.append(
            CoverageCell(
                trial_id=trial_id,
                diabetes_type=trial.diabetes_type if trial else "?",
                outcome_id=outcome_id,
                timepoint_weeks=weeks,
                timepoint_label=items[0][5],
                review_months=mapping.months,
                window_rule=mapping.rule,
                arms=arms,
                between_arm="experimental" in arm_roles and "control" in arm_roles,
                statistics=tuple(sorted({item[1] for item in items})),
                value_types=tuple(sorted({item[2] for item in items})),
                units=tuple(sorted({item[3] for item in items})),
                flags=tuple(sorted({flag for item in items for flag in item[4]})),
            )
        )
    return cells
