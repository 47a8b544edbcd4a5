"""Study rows: one trial's cell-therapy-vs-control effect for one outcome and window, from arm-level means,
from counts (binary outcomes) or from a reported between-group contrast, with how it was obtained in words.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import pandas as pd

from stemdm.evidence.contrasts import analysis_measure, contrast_effect
from stemdm.evidence.errors import ConversionError
from stemdm.evidence.records import Arm, Contrast, Measurement, Trial
from stemdm.evidence.windows import WEEKS_PER_MONTH, TimeWindow
from stemdm.i18n.messages import clauses, msg, term, verbatim
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


def printed_decimals(m: Measurement) -> int:
    """Decimals the proportion was printed with (from ``as_reported``, e.g. '4.55%' -> 2), else from the
    stored number."""
    text = f"{m.proportion:g}"
    for found in re.findall(r"\d+(?:\.\d+)?", m.as_reported or ""):
        if math.isclose(float(found), m.proportion or 0.0, abs_tol=1e-9):
            text = found
            break
    return len(text.partition(".")[2])


def recover_counts(percent: float, decimals: int, n_max: int) -> tuple[int, int] | None:
    """Events and n that reproduce a printed percentage exactly: 100 k / n rounded to the printed decimals
    equals it. Of the n that do (from ``n_max``, the randomized n, down to half of it), the largest: it
    assumes the fewest patients lost, and is stated as an assumption. None when no n does."""
    for n in range(n_max, max(0, n_max // 2), -1):
        k = round(percent * n / 100)
        if 0 <= k <= n and round(100 * k / n, decimals) == round(percent, decimals):
            return k, n
    return None


def _arm_count(
    ms: list[Measurement], arm: Arm, protocol: Protocol
) -> tuple[int, int, Measurement, list[str]]:
    """Events and n of one arm from its count report, or recovered from a printed percentage."""
    counts = [m for m in ms if m.statistic == "count"]
    if not counts:
        return _recovered_count(ms, arm, protocol)
    m = counts[0]
    if m.n is not None:
        return m.events, m.n, m, []
    fallback = _randomized(arm, protocol)
    if fallback is None:
        raise ConversionError(
            msg("arm %(arm)s: n analysed not reported and no randomized n to fall back on", arm=arm.arm_id)
        )
    return (
        m.events,
        fallback,
        m,
        [msg("arm %(arm)s: n analysed not reported; randomized n = %(n)s used", arm=arm.arm_id, n=fallback)],
    )


def _recovered_count(
    ms: list[Measurement], arm: Arm, protocol: Protocol
) -> tuple[int, int, Measurement, list[str]]:
    proportions = [m for m in ms if m.statistic == "proportion" and m.proportion is not None]
    n_max = proportions[0].n if proportions and proportions[0].n else _randomized(arm, protocol)
    found = None
    if proportions and n_max:
        m = proportions[0]
        found = recover_counts(m.proportion, printed_decimals(m), n_max)
    if found is None:
        kinds = ", ".join(sorted({m.statistic for m in ms}))
        raise ConversionError(
            msg("arm %(arm)s: no counts (%(kinds)s only; no events/n up to the randomized n reproduces the "
                "printed percentage)", arm=arm.arm_id, kinds=kinds)
        )  # fmt: skip
    events, n = found
    step = msg(
        "arm %(arm)s: counts recovered from the printed %(printed)s%%: %(k)s/%(n)s = %(exact)s%% reproduces "
        "it (the largest n up to the randomized %(n_max)s that does; assumption: the fewest patients lost)",
        arm=arm.arm_id, printed=f"{m.proportion:.{printed_decimals(m)}f}", k=events, n=n,
        exact=f"{100 * events / n:.3f}", n_max=n_max,
    )  # fmt: skip
    return events, n, m, [step]


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
        raise ConversionError(msg("more than one control arm; split the comparison in the evidence base"))
    steps = [note for values in per_role.values() for _, _, _, notes in values for note in notes]
    if len(per_role["experimental"]) > 1:
        names = ", ".join(m.arm_id for _, _, m, _ in per_role["experimental"])
        steps.append(
            msg(
                "cell-therapy arms %(arms)s combined: events and n summed (Cochrane Handbook 23.3.4)",
                arms=names,
            )
        )
    events1 = sum(e for e, _, _, _ in per_role["experimental"])
    n1 = sum(n for _, n, _, _ in per_role["experimental"])
    events2, n2, control, _ = per_role["control"][0]
    used = [m for values in per_role.values() for _, _, m, _ in values]
    yi, vi, notes = count_effect(events1, n1, events2, n2, rule.measure)
    steps.append(msg("cells %(a)s/%(n1)s vs control %(c)s/%(n2)s, %(measure)s as in metafor's escalc",
                     a=events1, n1=n1, c=events2, n2=n2, measure=rule.measure))  # fmt: skip
    flags = tuple(sorted({f for m in used for f in m.flags}))
    return StudyRow(
        trial_id=trial.trial_id, yi=yi, vi=vi, n1=n1, n2=n2, value_type="final",
        weeks=control.timepoint_weeks, flags=flags, sources=tuple(sorted(m.natural_key() for m in used)),
        steps=tuple(steps + notes), data_kind="counts", events1=events1, events2=events2,
    )  # fmt: skip


def count_effect(
    events1: int, n1: int, events2: int, n2: int, measure: str
) -> tuple[float, float, list[str]]:
    """One 2x2 table's effect (metafor's escalc). Ratios: 0.5 added to every cell of a table with a zero
    cell (metafor's default, to="only0"), said in a step. A risk difference is never corrected (Cochrane
    Handbook 6.4.1.2 and RevMan: it is defined with a zero cell); its variance then comes from the observed
    proportions (p1 q1 / n1 + p2 q2 / n2)."""
    cells = {"ai": events1, "n1i": n1, "ci": events2, "n2i": n2}
    if measure == "RD":
        effects = compute_effects(pd.DataFrame([cells]), measure, to="none")
        if not effects.vi[0] > 0:
            raise ConversionError(msg("risk difference with no variability (0 or all events in both arms)"))
        return float(effects.yi[0]), float(effects.vi[0]), []
    effects = compute_effects(pd.DataFrame([cells]), measure)
    zero = 0 in (events1, n1 - events1, events2, n2 - events2)
    notes = [msg("0.5 added to each cell of this table (a zero cell; metafor's default for a %(measure)s)",
                 measure=measure)] if zero else []  # fmt: skip
    return float(effects.yi[0]), float(effects.vi[0]), notes


def _fits_rule(c: Contrast, rule: OutcomeRule) -> str | None:
    """Why contrast ``c`` cannot enter this outcome's analysis, or None."""
    if analysis_measure(c.measure) != rule.measure:
        return msg(
            "contrast is a %(measure)s; the protocol pools %(pooled)s", measure=c.measure, pooled=rule.measure
        )
    if c.measure == "MD" and c.unit != rule.unit:
        return msg(
            "contrast is in %(unit)s; the protocol's unit is %(target)s (no conversion of a contrast)",
            unit=c.unit,
            target=rule.unit,
        )
    if rule.scores != "either" and c.value_type != rule.scores:
        return msg(
            "contrast compares %(scores)s scores; the protocol asks for %(wanted)s scores",
            scores=term(c.value_type),
            wanted=term(rule.scores),
        )
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
            why = msg(
                "contrast %(arm)s vs %(other)s is not cell therapy vs control",
                arm=c.arm_id,
                other=c.comparator_arm_id,
            )
        elif why is None and (arm.cell_type or trial.cell_type) not in protocol.inclusion.cell_types:
            why = msg(
                "arm %(arm)s (%(product)s) is not one of the protocol's cell types",
                arm=arm.arm_id,
                product=term(arm.cell_type),
            )
        if why:
            reasons.append(why)
            continue
        effect = contrast_effect(c, _randomized(arm, protocol), _randomized(comparator, protocol))
        if effect.n1 is None or effect.n2 is None:
            reasons.append(msg("arm sizes neither stated nor randomized n known"))
            continue
        return StudyRow(
            trial_id=trial.trial_id, yi=effect.yi, vi=effect.vi, n1=effect.n1, n2=effect.n2,
            value_type=c.value_type, weeks=c.timepoint_weeks, flags=tuple(c.flags),
            sources=(c.natural_key(),),
            steps=(msg("reported between-group %(measure)s used (generic inverse variance): %(reported)s",
                       measure=term(c.measure), reported=verbatim(c.as_reported or "")),
                   effect.describe()),
            data_kind="contrast",
        )  # fmt: skip
    raise ConversionError(clauses(dict.fromkeys(reasons)))
