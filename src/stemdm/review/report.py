"""The review as files: ``report.html`` (one self-contained page, figures embedded), ``results.json`` and
``figures/`` (the same figures as PNG files)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from stemdm import NOT_MEDICAL_ADVICE_BY_LANGUAGE, __version__
from stemdm.evidence.vocab import OUTCOMES
from stemdm.i18n import figure_language, translations
from stemdm.i18n.fonts import MISSING, cjk_font
from stemdm.i18n.sentences import translate
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


def _figures(review: Review, figures: Path, lang: str = "en") -> dict[str, Any]:
    """Forest plots of every pooled result, funnels where k allows, and one forest of reviews per outcome,
    labelled in ``lang`` (a CJK font is looked up for Chinese; ``plots.cjk_font`` says which is missing)."""
    figures.mkdir(parents=True, exist_ok=True)
    drawable = lang == "en" or cjk_font() is not None
    _ = translations(lang if drawable else "en").gettext
    suffix = "" if lang == "en" else f"_{lang}"
    out: dict[str, Any] = {
        "forest": {},
        "funnel": {},
        "umbrella": {},
        "font_note": None if drawable else MISSING,
    }
    for result in review.results:
        rid = result_id(result.outcome, result.timepoint_months, result.subgroup)
        label = _(result.outcome)
        better = (
            (_("Favours cells"), _("Favours control"))
            if result.better == "lower"
            else (_("Favours control"), _("Favours cells"))
        )
        with figure_language(lang):
            path = forest_plot(
                result.fit,
                figures / f"forest_{result.outcome}_{result.timepoint_months:g}m_{rid}{suffix}.png",
                labels=better,
                group_names=(_("Cells"), _("Control")),
                title=f"{label} ({result.unit if result.measure == 'MD' else 'SMD'}), "
                + _("%(m)s months") % {"m": f"{result.timepoint_months:g}"}
                + f", {_(result.subgroup)}",
            )
        out["forest"][rid] = {"src": _embed(path), "file": path.name}
        if result.subgroup == "overall" and result.k >= review.protocol.small_study.min_k:
            with figure_language(lang):
                funnel = funnel_plot(
                    result.fit, figures / f"funnel_{result.outcome}_{result.timepoint_months:g}m{suffix}.png"
                )
            out["funnel"][rid] = {"src": _embed(funnel), "file": funnel.name}
    for outcome in sorted({row["outcome"] for row in review.umbrella_rows}):
        with figure_language(lang):
            path = umbrella_forest(review.umbrella_rows, outcome, figures / f"umbrella_{outcome}{suffix}.png")
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


def template_environment(lang: str = "en") -> Environment:
    """The report's Jinja environment in one language (gettext from the Babel catalogs): autoescape on for
    every template (``.html.j2`` included: the extension-based default misses it), links only through the
    ``safe_url`` filter (http/https); data values through ``term``. In Chinese, text that comes from the data
    or from sentences built in Python without a translation is marked ``lang="en"`` (never passed off as
    Chinese)."""
    env = Environment(
        loader=PackageLoader("stemdm.review", "templates"),
        autoescape=select_autoescape(["html", "htm", "xml", "j2"], default_for_string=True, default=True),
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    translation = translations(lang)
    env.install_gettext_translations(translation, newstyle=True)  # type: ignore[attr-defined]
    english = Markup(' lang="en" translate="no"') if lang != "en" else Markup("")

    def term(value: object) -> str:
        return translation.gettext(str(value))

    def marked(text: object) -> Markup:
        """A sentence translated when the catalog has it, else shown as English and marked so."""
        translated = translation.gettext(str(text))
        if lang == "en" or translated != str(text):
            return escape(translated)
        sentence = translate(str(text), lang)
        if sentence is not None:
            return escape(sentence)
        return Markup('<span lang="en" translate="no">') + escape(text) + Markup("</span>")

    def subgroup(value: object) -> Markup:
        name, _, level = str(value).partition(": ")
        return escape(term(name)) + (escape(": ") + escape(term(level)) if level else Markup(""))

    env.filters["num"] = lambda v, d=2: "—" if v is None else fmt(v, d)
    env.filters["pval"] = lambda p: "—" if p is None else ("<0.001" if p < 0.001 else f"{p:.3f}")
    env.filters["safe_url"] = safe_url
    env.filters["term"] = term
    env.filters["reason"] = marked
    env.filters["subgroup"] = subgroup
    env.filters["analysis_name"] = lambda name: marked(name)
    env.globals.update(
        anchor=anchor, result_id=result_id, OUTCOMES=OUTCOMES, data_lang=english, narrative_key=lang,
        html_lang={"en": "en", "zh": "zh-Hans"}[lang],
    )  # fmt: skip
    return env


def write_report(review: Review, out: Path, lang: str = "both") -> dict[str, Path]:
    """Write report.html, results.json and figures/ under ``out``; returns their paths. ``lang``: "en",
    "zh", or "both" (the whole report in English, then the whole report in Chinese, in one file)."""
    if lang not in ("en", "zh", "both"):
        raise ValueError(f"lang: {lang!r}; use en, zh or both")
    out.mkdir(parents=True, exist_ok=True)
    payload = review.to_dict()
    results_path = out / "results.json"
    results_path.write_text(json.dumps(payload, indent=1, ensure_ascii=False), encoding="utf-8")
    languages = ("en", "zh") if lang == "both" else (lang,)
    pages = {
        code: _render(review, payload, _figures(review, out / "figures", code), code,
                      prefix="zh-" if lang == "both" and code == "zh" else "")
        for code in languages
    }  # fmt: skip
    html = pages[lang] if lang != "both" else _bilingual(pages["en"], pages["zh"])
    report_path = out / "report.html"
    report_path.write_text(html, encoding="utf-8")
    return {"report": report_path, "results": results_path, "figures": out / "figures"}


def _render(review: Review, payload: dict, figures: dict, lang: str, prefix: str) -> str:
    level = review.protocol.model.level
    _ = translations(lang).gettext
    return (
        template_environment(lang)
        .get_template("report.html.j2")
        .render(
            ci_label=_("%(level)s%% CI") % {"level": f"{level:g}"},
            cri_label=_("%(level)s%% credible interval") % {"level": f"{level:g}"},
            review=review,
            data=payload,
            figures=figures,
            coverage=_coverage_matrix(review),
            version=__version__,
            disclaimer=NOT_MEDICAL_ADVICE_BY_LANGUAGE[lang],
            sources=review.sources,
            p=prefix,
        )
    )


def _bilingual(english: str, chinese: str) -> str:
    """One document: the English report's head, a language switch, then both bodies (the Chinese one's ids
    prefixed with zh-)."""
    head, _, rest = english.partition("<body>")
    body_en = rest.rpartition("</body>")[0]
    body_zh = chinese.partition("<body>")[2].rpartition("</body>")[0]
    switch = (
        '<nav class="languages"><a href="#summary" hreflang="en">English</a> '
        '<a href="#zh-summary" hreflang="zh-Hans" lang="zh-Hans">中文</a></nav>'
    )
    return (
        f'{head}<body>\n{switch}\n<div lang="en">{body_en}</div>\n<hr>\n'
        f'<div lang="zh-Hans" class="zh">{body_zh}</div>\n</body>\n</html>\n'
    )
