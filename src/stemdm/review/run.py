"""``review.run``: the whole review from a protocol and an evidence bundle, as one :class:`Review` object."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from stemdm import NOT_MEDICAL_ADVICE, __version__
from stemdm.evidence.bundled import bundled_caveats
from stemdm.evidence.coverage import CoverageCell, coverage
from stemdm.evidence.formats import EvidenceBundle
from stemdm.i18n.messages import msg
from stemdm.meta.errors import ConvergenceError, MetaInputError
from stemdm.meta.report import json_safe
from stemdm.review import grade
from stemdm.review.analysis import (
    PooledResult,
    SafetyResult,
    SubgroupTest,
    analyse_outcome,
    analyse_safety,
    model_label,
    posterior_summary,
    prior_sensitivity,
    safety_summary,
    single_result,
    single_study_effect,
    variant,
)
from stemdm.review.narrative import prior_sensitivity_sentences, sentences
from stemdm.review.nexttrial import next_trial
from stemdm.review.protocol import Protocol
from stemdm.review.resolve import Eligibility, Skipped, eligible_trials, event_rows, study_rows
from stemdm.review.umbrella import explanations, umbrella
from stemdm.review.verdict import single_verdict, verdict


@dataclass
class Review:
    """Everything the review computed; ``to_dict()`` is what ``--json`` prints and results.json holds."""

    protocol: Protocol
    eligibility: Eligibility
    results: list[PooledResult] = field(default_factory=list)
    subgroup_tests: list[SubgroupTest] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    extras: dict[tuple[str, float], dict[str, Any]] = field(default_factory=dict)
    safety: list[SafetyResult] = field(default_factory=list)
    umbrella_rows: list[dict] = field(default_factory=list)
    #: one explanation (message) per published estimate beside the re-analysis (umbrella.explanations)
    umbrella_notes: list[dict] = field(default_factory=list)
    next_trials: list[dict] = field(default_factory=list)
    narrative: list[dict] = field(default_factory=list)
    #: the first screen: one verdict per outcome x time (messages; review.verdict)
    verdicts: list[dict] = field(default_factory=list)
    coverage: list[CoverageCell] = field(default_factory=list)
    sources: dict[str, Any] = field(default_factory=dict)  # measurement / event natural key -> record
    caveats: list[dict] = field(default_factory=list)
    #: corrections flagged by a later curation pass (shown, not applied)
    corrections: list[dict] = field(default_factory=list)
    ran_at: str = ""

    def summaries(self) -> list[dict]:
        return [r.summary() for r in self.results]

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                "title": self.protocol.title,
                "results": self.summaries(),
                "skipped": [s.to_dict() for s in self.skipped],
                "excluded_trials": self.eligibility.excluded,
                "included_trials": sorted(self.eligibility.trials),
                "subgroup_tests": [vars(t) for t in self.subgroup_tests],
                "single_studies": {
                    f"{o} {m:g} months": e["single_study"]
                    for (o, m), e in self.extras.items()
                    if "single_study" in e
                },
                "sensitivity": {
                    f"{o} {m:g} months": e.get("sensitivity")
                    for (o, m), e in self.extras.items()
                    if "sensitivity" in e
                },
                "small_study": {
                    f"{o} {m:g} months": e.get("small_study")
                    for (o, m), e in self.extras.items()
                    if "small_study" in e
                },
                "prior_sensitivity": {
                    f"{o} {m:g} months": e["prior_sensitivity"]
                    for (o, m), e in self.extras.items()
                    if "prior_sensitivity" in e
                },
                "dose_regression": {
                    f"{o} {m:g} months": e.get("dose_regression")
                    for (o, m), e in self.extras.items()
                    if e.get("dose_regression")
                },
                "grade": [
                    {
                        "outcome": r.outcome,
                        "timepoint_months": r.timepoint_months,
                        "subgroup": r.subgroup,
                        **r.grade,
                    }
                    for r in self.results
                ],
                "summary_of_findings": [
                    grade.summary_of_findings(r)
                    | {"outcome": r.outcome, "timepoint_months": r.timepoint_months}
                    for r in self.results
                    if r.subgroup == "overall"
                ],
                "safety": [safety_summary(s) for s in self.safety],
                "umbrella": self.umbrella_rows,
                "umbrella_explanations": [
                    {key: note[key] for key in ("review_id", "outcome", "subgroup", "pooled")}
                    | {"en": note["text"].render("en"), "zh": note["text"].render("zh")}
                    for note in self.umbrella_notes
                ],
                "next_trial": self.next_trials,
                "narrative": self.narrative,
                "verdicts": [
                    {
                        "outcome": v["outcome"],
                        "timepoint_months": v["timepoint_months"],
                        "en": f"{v['head']}: {v['text']}",
                        "zh": f"{v['head'].render('zh')}：{v['text'].render('zh')}",
                    }
                    for v in self.verdicts
                ],  # fmt: skip
                "protocol": self.protocol.model_dump(),
                "caveats": self.caveats,
                "corrections": self.corrections,
                "ran_at": self.ran_at,
                "stemdm_version": __version__,
                "disclaimer": NOT_MEDICAL_ADVICE,
            }
        )


def _posterior(result, rule, protocol: Protocol, skipped: list[Skipped]) -> dict | None:
    """The Bayesian pooling of a result, or None with the reason among the skipped analyses."""
    try:
        return posterior_summary(result, rule, protocol)
    except (MetaInputError, ConvergenceError) as error:
        why = f"Bayesian pooling not done: {error}"
        skipped.append(Skipped(rule.id, result.timepoint_months, result.subgroup, why))
        return None


def _add_prior_sentences(review: Review) -> None:
    """Each overall result's sentence ends with its prior sensitivity in words (en/zh)."""
    for sentence in review.narrative:
        if sentence["subgroup"] != "overall":
            continue
        rows = review.extras.get((sentence["outcome"], sentence["timepoint_months"]), {}).get(
            "prior_sensitivity"
        )
        if rows and rows.get("rows"):
            words = prior_sensitivity_sentences(rows)
            sentence["en"] += " " + words["en"]
            sentence["zh"] += words["zh"]


def _pm_as_se(bundle, protocol: Protocol, eligibility, rule, window, rows, extras: dict) -> None:
    """Where an unlabelled ± was read as SD: the same analysis with ± read as SE, and how it changes
    (a sensitivity row for a pool, ``pm_as_se`` beside a single trial's effect)."""
    if protocol.data.pm_as != "sd" or not any("pm_unlabelled" in r.flags for r in rows):
        return
    as_se = protocol.model_copy(update={"data": protocol.data.model_copy(update={"pm_as": "se"})})
    alternative, _ = study_rows(bundle, as_se, eligibility, rule, window)
    name = msg("unlabelled ± read as SE")
    if "single_study" in extras and len(alternative) == 1:
        effect = _single_effect(alternative[0], rule, protocol)
        extras["single_study"]["pm_as_se"] = effect
        return
    if "sensitivity" in extras:
        extras["sensitivity"].append(variant(name, alternative, rule, protocol))


def _single_effect(row, rule, protocol: Protocol) -> dict:
    single = single_study_effect(row, rule, protocol, 0.0)
    return {key: single.get(key) for key in ("estimate", "ci_lb", "ci_ub")}


def _single_summaries(review: Review) -> list[dict]:
    """Outcomes a single trial reports, shaped like results rows (for the umbrella comparison)."""
    out = []
    for (outcome, months), extras in review.extras.items():
        single = extras.get("single_study")
        if single:
            out.append({"outcome": outcome, "timepoint_months": months, "subgroup": "overall", "k": 1,
                        "n": single["n"], "measure": single["measure"], "estimate": single.get("estimate"),
                        "ci_lb": single.get("ci_lb"), "ci_ub": single.get("ci_ub")})  # fmt: skip
    return out


def _grade_single(single: dict, row, rule, protocol: Protocol, months: float) -> None:
    """A single trial's effect rated by GRADE like a pooled one (it is not certain evidence either)."""
    result = single_result(row, rule, protocol, months)
    if result is None:
        return
    result.grade = grade.rate(result, rule.analysis_mid, protocol.small_study.min_k)
    single["certainty"] = result.certainty = result.grade["certainty"]
    single["grade"] = result.grade
    single["footnotes"] = grade.footnotes(result.grade)


def _verdicts(review: Review) -> list[dict]:
    """One verdict per outcome x time: pooled results first, then outcomes a single trial reports."""
    out = []
    summaries = {(r.outcome, r.timepoint_months, r.subgroup): r.summary() for r in review.results}
    for result in review.results:
        if result.subgroup != "overall":
            continue
        extras = review.extras.get((result.outcome, result.timepoint_months), {})
        summary = summaries[(result.outcome, result.timepoint_months, "overall")]
        out.append(verdict(result, summary, extras.get("sensitivity"), extras.get("prior_sensitivity")))
    better = {rule.id: rule.better for rule in review.protocol.outcomes}
    for (outcome, months), extras in review.extras.items():
        if "single_study" in extras:
            out.append(single_verdict(outcome, months, extras["single_study"], better[outcome]))
    order = {rule.id: i for i, rule in enumerate(review.protocol.outcomes)}
    return sorted(
        out, key=lambda v: (v.get("single", False), order.get(v["outcome"], 99), v["timepoint_months"])
    )


def run_review(
    bundle: EvidenceBundle, protocol: Protocol, progress: Callable[[float], None] | None = None
) -> Review:
    """Run every analysis of ``protocol`` on ``bundle`` (see the module docstrings of resolve and
    analysis); ``progress`` hears the share of outcome x window analyses done (0-1)."""
    protocol.check_subgroups()
    total = max(1, len(protocol.outcomes) * len(list(protocol.windows())))
    done = 0
    eligibility = eligible_trials(bundle, protocol)
    review = Review(
        protocol, eligibility, caveats=bundled_caveats(), ran_at=datetime.now(UTC).isoformat()[:19]
    )
    records = {
        r.natural_key(): r for kind in ("measurements", "adverse_events", "contrasts") for r in bundle[kind]
    }
    for rule in protocol.outcomes:
        for window in protocol.windows():
            rows, skipped = study_rows(bundle, protocol, eligibility, rule, window)
            if not rows:
                why = (
                    msg("no eligible trial reports usable numbers in this window")
                    if skipped
                    else msg("no eligible trial reports it in this window")
                )
                skipped.append(Skipped(rule.id, window.months, "overall", why))
            results, tests, more_skipped, extras = analyse_outcome(rows, rule, protocol, window.months)
            _pm_as_se(bundle, protocol, eligibility, rule, window, rows, extras)
            if "single_study" in extras:
                _grade_single(extras["single_study"], rows[0], rule, protocol, window.months)
            for result in results:
                result.posterior = _posterior(result, rule, protocol, skipped)
                if result.subgroup == "overall" and result.posterior is not None:
                    extras["prior_sensitivity"] = prior_sensitivity(result, rule, protocol)
                egger = extras.get("small_study", {}).get("egger") if result.subgroup == "overall" else None
                result.grade = grade.rate(
                    result,
                    rule.analysis_mid,
                    protocol.small_study.min_k,
                    egger.get("pval") if egger else None,
                )
                result.certainty = result.grade["certainty"]
            review.results += results
            review.subgroup_tests += tests
            review.skipped += skipped + more_skipped
            review.extras[(rule.id, window.months)] = extras
            for row in rows:
                review.sources.update({key: records[key] for key in row.sources})
            done += 1
            if progress is not None:
                progress(done / total)
            overall = [r for r in results if r.subgroup == "overall"]
            # sample sizes are computed for differences in means with a known SD only (nexttrial's formula)
            if overall and overall[0].measure == "MD" and grade.pooled_sd(overall[0]) is not None:
                review.next_trials.append(
                    next_trial(overall[0], rule.mid, protocol.next_trial.alpha, protocol.next_trial.power)
                )
    for event_type in protocol.safety.event_types:
        rows, notes = event_rows(bundle, eligibility, event_type)
        if rows or notes:
            review.safety.append(analyse_safety(event_type, rows, notes, protocol.model.level))
            for row in rows:
                review.sources.update({key: records[key] for key in row.sources})
    review.corrections = [c.model_dump() for c in bundle["corrections"]]
    units = {rule.id: rule.unit for rule in protocol.outcomes}
    review.umbrella_rows = umbrella(list(bundle["published_estimates"]), review.summaries(), units)
    review.umbrella_notes = explanations(
        list(bundle["published_estimates"]),
        review.summaries() + _single_summaries(review),
        model_label(protocol.model.method, protocol.model.test),
        [s.to_dict() for s in review.skipped],
        units,
    )
    review.narrative = sentences(review.summaries())
    review.verdicts = _verdicts(review)
    _add_prior_sentences(review)
    review.coverage = coverage(bundle, tuple(protocol.windows()))
    return review
