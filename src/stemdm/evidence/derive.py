"""From numbers as reported to numbers a meta-analysis can use, each step recorded.

Every function takes :class:`Measurement` records as reported and returns a new, *derived* measurement
(``derived = True``, flag ``derived``, ``derivation`` = JSON list of steps: method, inputs, reference,
result; the flags of its inputs are kept) or raises :class:`ConversionError` saying what is missing. The
reported records are never changed.
"""

from __future__ import annotations

import json
from typing import Literal

from stemdm.evidence.dispersion import (
    MeanMethod,
    SdMethod,
    change_sd,
    combine_arms,
    correlation_from_sds,
    mean_sd_from_quantiles,
    sd_from_ci,
    sd_from_se,
)
from stemdm.evidence.errors import ConversionError
from stemdm.evidence.formats import EvidenceBundle
from stemdm.evidence.records import Measurement
from stemdm.evidence.units import Derivation, convert
from stemdm.evidence.vocab import STATISTIC_FIELDS

PmAs = Literal["sd", "se"]


def _where(m: Measurement) -> str:
    return f"{m.trial_id}/{m.outcome_id}/{m.timepoint_weeks:g} wk/{m.arm_id}"


def _derived(source: Measurement, derivations: list[Derivation], **values) -> Measurement:
    """A copy of ``source`` holding only ``values`` as a mean-SD report, marked derived with its steps."""
    data = source.model_dump()
    for name in STATISTIC_FIELDS:
        data[name] = None
    steps = [json.loads(d.to_json()) for d in derivations]
    data.update(values)
    data.update(
        statistic="mean_sd",
        derived=True,
        flags=sorted(set(source.flags) | {"derived"}),
        derivation=json.dumps(steps, sort_keys=True),
    )
    return Measurement.model_validate(data)


def _n(m: Measurement, n_fallback: int | None) -> tuple[int, list[str]]:
    if m.n is not None:
        return m.n, []
    if n_fallback is None:
        raise ConversionError(f"{_where(m)}: n analysed not reported; pass the randomized n as n_fallback")
    return n_fallback, [f"n analysed not reported; randomized n = {n_fallback} used"]


def to_mean_sd(
    m: Measurement,
    *,
    pm_as: PmAs | None = None,
    n_fallback: int | None = None,
    mean_method: MeanMethod = "luo2018",
    sd_method: SdMethod = "shi2020",
) -> Measurement:
    """Mean and SD from any reported continuous statistic.

    ``pm_as`` decides what an unlabelled ± is (required for ``mean_pm``; the flag stays on the result).
    ``n_fallback``: the n to use when n analysed is not reported (normally the arm's randomized n)."""
    if m.statistic == "mean_sd":
        return m
    if m.statistic in ("mean_only", "count", "proportion"):
        raise ConversionError(f"{_where(m)}: {m.statistic} has no dispersion to derive an SD from")
    if m.statistic == "mean_pm":
        if pm_as is None:
            raise ConversionError(f"{_where(m)}: '± {m.pm:g}' is unlabelled; choose pm_as='sd' or pm_as='se'")
        if pm_as == "sd":
            step = Derivation("pm_as_sd", {"pm": m.pm}, "user choice: unlabelled ± read as SD", {"sd": m.pm})
            return _derived(m, [step], mean=m.mean, sd=m.pm)
    n, notes = _n(m, n_fallback)
    if m.statistic == "mean_pm" or m.statistic == "mean_se":
        se = m.pm if m.statistic == "mean_pm" else m.se
        sd, step = sd_from_se(se, n)
        return _derived(m, [_note(step, notes)], mean=m.mean, sd=sd)
    if m.statistic == "mean_ci":
        sd, step = sd_from_ci(m.ci_lb, m.ci_ub, n, level=m.ci_level)
        return _derived(m, [_note(step, notes)], mean=m.mean, sd=sd)
    mean, sd, step = mean_sd_from_quantiles(
        n,
        m.median,
        q1=m.q1,
        q3=m.q3,
        minimum=m.minimum,
        maximum=m.maximum,
        mean_method=mean_method,
        sd_method=sd_method,
    )
    return _derived(m, [_note(step, notes)], mean=mean, sd=sd)


def _note(step: Derivation, notes: list[str]) -> Derivation:
    if not notes:
        return step
    return Derivation(step.method, step.inputs, step.reference, step.result, step.notes + tuple(notes))


def in_unit(m: Measurement, unit: str, *, weight_kg: float | None = None) -> Measurement:
    """A mean-SD measurement converted to ``unit`` (levels with offsets, changes and SDs scaled only)."""
    if m.statistic != "mean_sd":
        raise ConversionError(f"{_where(m)}: convert to mean and SD first (statistic is {m.statistic})")
    if m.unit == unit:
        return m
    is_level = m.value_type == "final"
    mean, step_mean = convert(m.mean, m.unit, unit, is_level=is_level, weight_kg=weight_kg)
    sd, step_sd = convert(m.sd, m.unit, unit, is_level=False, weight_kg=weight_kg)
    return _derived(m, _previous(m) + [step_mean, step_sd], mean=mean, sd=sd, unit=unit)


def _previous(m: Measurement) -> list[Derivation]:
    if not m.derivation:
        return []
    return [
        Derivation(s["method"], s["inputs"], s["reference"], s["result"], tuple(s.get("notes", [])))
        for s in json.loads(m.derivation)
    ]


def change_from_baseline(
    baseline: Measurement, final: Measurement, correlation: float, *, correlation_source: str
) -> Measurement:
    """Change score (final - baseline) with SD from the correlation (Cochrane Handbook 6.5.2.8).
    ``correlation_source`` says where r came from (given, or estimated from named trials)."""
    for m in (baseline, final):
        if m.statistic != "mean_sd" or m.value_type != "final":
            raise ConversionError(f"{_where(m)}: need final values as mean and SD")
    if (baseline.trial_id, baseline.arm_id, baseline.outcome_id, baseline.unit) != (
        final.trial_id,
        final.arm_id,
        final.outcome_id,
        final.unit,
    ):
        raise ConversionError(
            f"{_where(baseline)} and {_where(final)} are not the same arm, outcome and unit"
        )
    sd, step = change_sd(baseline.sd, final.sd, correlation)
    step = Derivation(
        step.method, step.inputs | {"correlation_source": correlation_source}, step.reference, step.result
    )
    mean = final.mean - baseline.mean
    steps = _previous(baseline) + _previous(final) + [step]
    return _derived(final, steps, mean=mean, sd=sd, value_type="change")


def estimate_correlations(bundle: EvidenceBundle, outcome_id: str) -> list[tuple[str, str, float, float]]:
    """Baseline-final correlations (trial, arm, weeks, r) from every arm reporting baseline, final and change
    SDs of ``outcome_id`` in one unit (Cochrane Handbook 6.5.2.8). Empty when no trial reports all three."""
    by_arm: dict[tuple, dict] = {}
    for m in bundle["measurements"]:
        if m.outcome_id != outcome_id or m.statistic != "mean_sd":
            continue
        slot = "baseline" if m.timepoint_weeks == 0 else f"{m.value_type}@{m.timepoint_weeks:g}"
        by_arm.setdefault((m.trial_id, m.arm_id, m.unit), {})[slot] = m
    found = []
    for (trial, arm, _unit), slots in sorted(by_arm.items()):
        if "baseline" not in slots:
            continue
        for key, change in slots.items():
            if key.startswith("change@"):
                final = slots.get("final@" + key.split("@")[1])
                if final is not None:
                    r, _ = correlation_from_sds(slots["baseline"].sd, final.sd, change.sd)
                    found.append((trial, arm, change.timepoint_weeks, r))
    return found


def combine(a: Measurement, b: Measurement, arm_id: str) -> Measurement:
    """Two arms (e.g. two doses) as one (Cochrane Handbook 6.5.2.10); both mean-SD with n, same outcome, time
    and unit."""
    for m in (a, b):
        if m.statistic != "mean_sd" or m.n is None:
            raise ConversionError(f"{_where(m)}: need mean, SD and n to combine arms")
    if (a.trial_id, a.outcome_id, a.timepoint_weeks, a.unit, a.value_type) != (
        b.trial_id,
        b.outcome_id,
        b.timepoint_weeks,
        b.unit,
        b.value_type,
    ):
        raise ConversionError(
            f"{_where(a)} and {_where(b)} are not the same outcome, time, unit and value type"
        )
    n, mean, sd, step = combine_arms(a.n, a.mean, a.sd, b.n, b.mean, b.sd)
    derived = _derived(a, _previous(a) + _previous(b) + [step], mean=mean, sd=sd)
    return derived.with_changes(arm_id=arm_id, n=n, flags=sorted(set(a.flags) | set(b.flags) | {"derived"}))
