"""The review as files: ``report.html`` (one self-contained page, figures embedded), ``results.json`` and
``figures/`` (the same figures as PNG files)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from stemdm import NOT_MEDICAL_ADVICE, __version__
from stemdm.evidence.vocab import OUTCOMES
from stemdm.meta import forest_plot, funnel_plot
from stemdm.review.narrative import fmt
from stemdm.review.plots import umbrella_forest
from stemdm.review.run import Review
from stemdm.sanitize import safe_url


def anchor(key: str) -> str:
    """A stable HTML id for a record's natural key."""
    return "src-" + hashlib.sha1(key.encode()).hexdigest()[:12]


def result_id(outcome: str, months: float | None, subgroup: str) -> str:
    raw = f"{outcome}-{months}-{subgroup}"
    return "res-" + hashlib.sha1(raw.encode()).hexdigest()[:10]


def _embed(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _figures(review: Review, figures: Path) -> dict[str, Any]:
    """Forest plots of every pooled result, funnels where k allows, and one forest of reviews per outcome."""
    figures.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"forest": {}, "funnel": {}, "umbrella": {}}
    for result in review.results:
        rid = result_id(result.outcome, result.timepoint_months, result.subgroup)
        label = OUTCOMES[result.outcome].label
        better = (
            ("Favours cells", "Favours control")
            if result.better == "lower"
            else ("Favours control", "Favours cells")
        )
        path = forest_plot(
            result.fit,
            figures / f"forest_{result.outcome}_{result.timepoint_months:g}m_{rid}.png",
            labels=better,
            group_names=("Cells", "Control"),
            title=f"{label} ({result.unit if result.measure == 'MD' else 'SMD'}), "
            f"{result.timepoint_months:g} months, {result.subgroup}",
        )
        out["forest"][rid] = {"src": _embed(path), "file": path.name}
        if result.subgroup == "overall" and result.k >= review.protocol.small_study.min_k:
            funnel = funnel_plot(
                result.fit, figures / f"funnel_{result.outcome}_{result.timepoint_months:g}m.png"
            )
            out["funnel"][rid] = {"src": _embed(funnel), "file": funnel.name}
    for outcome in sorted({row["outcome"] for row in review.umbrella_rows}):
        path = umbrella_forest(review.umbrella_rows, outcome, figures / f"umbrella_{outcome}.png")
        out["umbrella"][outcome] = {"src": _embed(path), "file": path.name}
    return out


def _coverage_matrix(review: Review) -> dict[str, Any]:
    """Trials x (outcome, review window) with the statistic and flags of what each trial reports."""
    outcomes = [rule.id for rule in review.protocol.outcomes]
    columns = [(o, w.months) for o in outcomes for w in review.protocol.windows()]
    cells: dict[tuple[str, str, float], list] = {}
    for cell in review.coverage:
        if cell.outcome_id in outcomes and cell.review_months is not None:
            cells.setdefault((cell.trial_id, cell.outcome_id, cell.review_months), []).append(cell)
    trials = sorted({c.trial_id for c in review.coverage})
    rows = []
    for trial in trials:
        row = []
        for outcome, months in columns:
            found = cells.get((trial, outcome, months), [])
            row.append(
                {
                    "text": ", ".join(sorted({s for c in found for s in c.statistics})),
                    "flags": sorted({f for c in found for f in c.flags}),
                    "between": any(c.between_arm for c in found),
                }
            )
        rows.append(
            {
                "trial": trial,
                "status": "included"
                if trial in review.eligibility.trials
                else review.eligibility.excluded.get(trial, ""),
                "cells": row,
            }
        )
    return {"columns": [{"outcome": o, "months": m} for o, m in columns], "rows": rows}


def template_environment() -> Environment:
    """The report's Jinja environment: autoescape on for every template (``.html.j2`` included: the
    extension-based default misses it), links only through the ``safe_url`` filter (http/https)."""
    env = Environment(
        loader=PackageLoader("stemdm.review", "templates"),
        autoescape=select_autoescape(["html", "htm", "xml", "j2"], default_for_string=True, default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda v, d=2: "—" if v is None else fmt(v, d)
    env.filters["pval"] = lambda p: "—" if p is None else ("<0.001" if p < 0.001 else f"{p:.3f}")
    env.filters["safe_url"] = safe_url
    env.globals.update(anchor=anchor, result_id=result_id, OUTCOMES=OUTCOMES)
    return env


def write_report(review: Review, out: Path, lang: str = "both") -> dict[str, Path]:
    """Write report.html, results.json and figures/ under ``out``; returns their paths. ``lang``: en, zh
    or both (the bilingual report)."""
    out.mkdir(parents=True, exist_ok=True)
    payload = review.to_dict()
    results_path = out / "results.json"
    results_path.write_text(json.dumps(payload, indent=1, ensure_ascii=False), encoding="utf-8")
    figures = _figures(review, out / "figures")
    html = (
        template_environment()
        .get_template("report.html.j2")
        .render(
            ci_label=f"{review.protocol.model.level:g}% CI",
            review=review,
            data=payload,
            figures=figures,
            coverage=_coverage_matrix(review),
            version=__version__,
            disclaimer=NOT_MEDICAL_ADVICE,
            sources=review.sources,
        )
    )
    report_path = out / "report.html"
    report_path.write_text(html, encoding="utf-8")
    return {"report": report_path, "results": results_path, "figures": out / "figures"}
