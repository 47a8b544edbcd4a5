"""Study rows: one trial's cell-therapy-vs-control effect for one outcome and window, from arm-level means,
from counts (binary outcomes) or from a reported between-group contrast, with how it was obtained in words.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from stemdm.evidence.contrasts import analysis_measure, contrast_effect
from stemdm.evidence.errors import ConversionError
from stemdm.evidence.records import Arm, Contrast, Measurement, Trial
from stemdm.evidence.windows import WEEKS_PER_MONTH, TimeWindow
from stemdm.meta.effects import compute_effects
from stemdm.review.protocol import OutcomeRule, Protocol


@dataclass
class StudyRow:
    """One trial's cell-therapy-vs-control effect for one outcome and timepoint (arm 1 = cells).

    ``yi``/``vi``: the effect on the analysis scale (log for ratios) and its sampling variance.
    ``data_kind`` says where it came from: ``arm-level`` (means and SDs, in m1..sd2), ``counts`` (events of
    n, in events1/events2) or ``contrast`` (a between-group estimate, see ``stemdm.evidence.contrasts``);
    ``steps`` say how in words."""

    trial_id: str
    yi: float
    vi: float
    n1: int
    n2: int
    value_type: str
    weeks: float
    flags: tuple[str, ...]
    sources: tuple[str, ...]  # natural keys of the reported records used
    steps: tuple[str, ...]  # derivation steps, in words
    data_kind: str = "arm-level"
    m1: float | None = None
    sd1: float | None = None
    m2: float | None = None
    sd2: float | None = None
    events1: int | None = None
    events2: int | None = None
    attrs: dict[str, str] = field(default_factory=dict)  # subgroup variables
    dose_per_kg: float | None = None
    rob_overall: str | None = None
    cell_type: str = "msc"


def effect_of(columns: dict, measure: str) -> tuple[float, float, list[str]]:
    """One study's effect and variance by ``stemdm.meta.effects`` (metafor's escalc definitions), with the
    notes it made (e.g. a continuity correction)."""
    effects = compute_effects(pd.DataFrame([columns]), measure)
    return float(effects.yi[0]), float(effects.vi[0]), list(effects.notes)


def _randomized(arm: Arm | None, protocol: Protocol) -> int | None:
    if arm is None or protocol.data.n_fallback != "randomized":
        return None
    return arm.n_randomized


def _arm_count(
    ms: list[Measurement], arm: Arm, protocol: Protocol
) -> tuple[int, int, Measurement, list[str]]:
    """Events and n of one arm from its count report; a proportion without counts is not enough."""
    counts = [m for m in ms if m.statistic == "count"]
    if not counts:
        kinds = ", ".join(sorted({m.statistic for m in ms}))
        raise ConversionError(f"arm {arm.arm_id}: no counts ({kinds} only; counts cannot be recovered "
                              "without the analysed n)")  # fmt: skip
    m = counts[0]
    if m.n is not None:
        return m.events, m.n, m, []
    fallback = _randomized(arm, protocol)
    if fallback is None:
        raise ConversionError(
            f"arm {arm.arm_id}: n analysed not reported and no randomized n to fall back on"
        )
    return (
        m.events,
        fallback,
        m,
        [f"arm {arm.arm_id}: n analysed not reported; randomized n = {fallback} used"],
    )


def count_row(
    trial: Trial, by_role: dict[str, list[Measurement]], arms: dict, protocol: Protocol, rule: OutcomeRule
) -> StudyRow:
    """A binary outcome's row: events of n per arm (cell-therapy arms summed, Cochrane Handbook 23.3.4), the
    effect by metafor's escalc definitions (0.5 added to every cell of a table with a zero cell)."""
    per_role: dict[str, list[tuple[int, int, Measurement, list[str]]]] = {}
    for role, ms in by_role.items():
        per_role[role] = [
            _arm_count([m for m in ms if m.arm_id == arm_id], arms[(trial.trial_id, arm_id)], protocol)
            for arm_id in sorted({m.arm_id for m in ms})
        ]
    if len(per_role["control"]) > 1:
        raise ConversionError("more than one control arm; split the comparison in the evidence base")
    steps = [note for values in per_role.values() for _, _, _, notes in values for note in notes]
    if len(per_role["experimental"]) > 1:
        names = ", ".join(m.arm_id for _, _, m, _ in per_role["experimental"])
        steps.append(f"cell-therapy arms {names} combined: events and n summed (Cochrane Handbook 23.3.4)")
    events1 = sum(e for e, _, _, _ in per_role["experimental"])
    n1 = sum(n for _, n, _, _ in per_role["experimental"])
    events2, n2, control, _ = per_role["control"][0]
    used = [m for values in per_role.values() for _, _, m, _ in values]
    yi, vi, notes = effect_of({"ai": events1, "n1i": n1, "ci": events2, "n2i": n2}, rule.measure)
    steps.append(f"cells {events1}/{n1} vs control {events2}/{n2}, {rule.measure} as in metafor's escalc")
    flags = tuple(sorted({f for m in used for f in m.flags}))
    return StudyRow(
        trial_id=trial.trial_id, yi=yi, vi=vi, n1=n1, n2=n2, value_type="final",
        weeks=control.timepoint_weeks, flags=flags, sources=tuple(sorted(m.natural_key() for m in used)),
        steps=tuple(steps + notes), data_kind="counts", events1=events1, events2=events2,
    )  # fmt: skip


def _fits_rule(c: Contrast, rule: OutcomeRule) -> str | None:
    """Why contrast ``c`` cannot enter this outcome's analysis, or None."""
    if analysis_measure(c.measure) != rule.measure:
        return f"contrast is a {c.measure}; the protocol pools {rule.measure}"
    if c.measure == "MD" and c.unit != rule.unit:
        return f"contrast is in {c.unit}; the protocol's unit is {rule.unit} (no conversion of a contrast)"
    if rule.scores != "either" and c.value_type != rule.scores:
        return f"contrast compares {c.value_type} scores; the protocol asks for {rule.scores} scores"
    return None


def contrast_row(
    trial: Trial,
    contrasts: list[Contrast],
    arms: dict,
    protocol: Protocol,
    rule: OutcomeRule,
    window: TimeWindow,
) -> StudyRow:
    """A row from the reported contrast closest to the window's time (generic inverse variance data): its
    arms must be a protocol cell-therapy arm and the control arm."""
    centre = window.months * WEEKS_PER_MONTH
    reasons = []
    for c in sorted(contrasts, key=lambda c: abs(c.timepoint_weeks - centre)):
        arm, comparator = arms.get((c.trial_id, c.arm_id)), arms.get((c.trial_id, c.comparator_arm_id))
        why = _fits_rule(c, rule)
        if why is None and (arm is None or arm.role != "experimental" or comparator is None
                            or comparator.role != "control"):  # fmt: skip
            why = f"contrast {c.arm_id} vs {c.comparator_arm_id} is not cell therapy vs control"
        elif why is None and (arm.cell_type or trial.cell_type) not in protocol.inclusion.cell_types:
            why = f"arm {arm.arm_id} ({arm.cell_type}) is not one of the protocol's cell types"
        if why:
            reasons.append(why)
            continue
        effect = contrast_effect(c, _randomized(arm, protocol), _randomized(comparator, protocol))
        if effect.n1 is None or effect.n2 is None:
            reasons.append("arm sizes neither stated nor randomized n known")
            continue
        return StudyRow(
            trial_id=trial.trial_id, yi=effect.yi, vi=effect.vi, n1=effect.n1, n2=effect.n2,
            value_type=c.value_type, weeks=c.timepoint_weeks, flags=tuple(c.flags),
            sources=(c.natural_key(),),
            steps=(f"reported between-group {c.measure} used (generic inverse variance): {c.as_reported}",
                   effect.describe()),
            data_kind="contrast",
        )  # fmt: skip
    raise ConversionError("; ".join(dict.fromkeys(reasons)))
