"""The review as files: ``report.html`` (one self-contained page, figures embedded), ``results.json`` and
``figures/`` (the same figures as PNG files)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, Undefined, select_autoescape
from markupsafe import Markup, escape

from stemdm import NOT_MEDICAL_ADVICE_BY_LANGUAGE, __version__
from stemdm.evidence.vocab import OUTCOMES
from stemdm.i18n import figure_language, translations
from stemdm.i18n.fonts import MISSING, cjk_font
from stemdm.i18n.messages import translatable
from stemdm.meta import forest_plot, funnel_plot
from stemdm.review.narrative import fmt, percent, prior_sensitivity_sentences, prior_text
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
                title=f"{label} ({_(figure_measure(result))}), "
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
    # text quoted from a source or written by a user: shown as written, marked as such (and as English)
    english = Markup(' lang="en" translate="no" data-verbatim') if lang != "en" else Markup(" data-verbatim")

    def term(value: object) -> str:
        return translation.gettext(str(value))

    def marked(text: object) -> Markup:
        """A message rendered in the page's language; other text translated when the catalog has it, else
        shown as written and marked as English (never passed off as Chinese)."""
        if text is None:
            return Markup("—")
        if translatable(text):
            return escape(text.render(lang))
        translated = translation.gettext(str(text))
        if lang == "en" or translated != str(text):
            return escape(translated)
        return Markup('<span lang="en" translate="no">') + escape(text) + Markup("</span>")

    def subgroup(value: object) -> Markup:
        name, _, level = str(value).partition(": ")
        return escape(term(name)) + (escape(": ") + escape(term(level)) if level else Markup(""))

    env.filters["num"] = lambda v, d=2: "—" if v is None or isinstance(v, Undefined) else fmt(v, d)
    env.filters["pval"] = lambda p: "—" if p is None else ("<0.001" if p < 0.001 else f"{p:.3f}")
    env.filters["safe_url"] = safe_url
    env.filters["term"] = term
    env.filters["reason"] = marked
    env.filters["subgroup"] = subgroup
    env.filters["analysis_name"] = lambda name: analysis_label(str(name), lang)
    env.filters["timepoint"] = lambda text: timepoint_label(str(text), lang)
    env.filters["prior"] = lambda text: "—" if not text else prior_text(str(text), lang)
    env.filters["percent"] = lambda p: "—" if p is None else percent(p)
    env.filters["record"] = lambda key: record_label(str(key), lang)
    env.filters["group"] = lambda group: group_label(str(group), lang)
    env.filters["statistics"] = lambda text: ", ".join(
        term(x.strip()) for x in str(text).split(",") if x.strip()
    )
    env.globals.update(
        anchor=anchor, result_id=result_id, OUTCOMES=OUTCOMES, data_lang=english, narrative_key=lang,
        html_lang={"en": "en", "zh": "zh-Hans"}[lang],
        narrative_for=lambda narrative, result: next(
            (s[lang] for s in narrative if (s["outcome"], s["timepoint_months"], s["subgroup"])
             == (result.outcome, result.timepoint_months, result.subgroup)), None),
        prior_words=lambda reading: prior_sensitivity_sentences(reading)[lang],
    )  # fmt: skip
    return env


def figure_measure(result) -> str:
    """What a forest plot's title names: the measure actually pooled (with the unit for an MD)."""
    if result.measure == "MD":
        return result.unit
    return {"SMD": "Std. Mean Difference", "RR": "Risk Ratio", "OR": "Odds Ratio",
            "RD": "Risk Difference"}.get(result.measure, result.measure)  # fmt: skip


def record_label(key: str, lang: str) -> str:
    """A record's natural key for people: trial · outcome · week · arm · statistic · unit (the parts through
    the term catalog; the machine key stays in results.json and in the anchors)."""
    _ = translations(lang).gettext
    parts = []
    for part in key.split("/"):
        if part in ("True", "False", ""):
            continue
        try:
            weeks = float(part)
        except ValueError:
            parts.append(_(part))
        else:
            parts.append(_("%(w)s wk") % {"w": f"{weeks:g}"})
    return " · ".join(parts)


def analysis_label(name: str, lang: str) -> str:
    """A results.json key "hba1c 6 months" for people, in ``lang``."""
    _ = translations(lang).gettext
    outcome, _sep, months = name.partition(" ")
    number = months.split(" ")[0]
    return f"{_(outcome)}, " + _("%(m)s months") % {"m": number} if number else _(outcome)


def timepoint_label(text: str, lang: str) -> str:
    """A published timepoint ("12 months", "not stated") in ``lang``."""
    _ = translations(lang).gettext
    number, _sep, unit = text.partition(" ")
    if unit == "months" and number.replace(".", "", 1).isdigit():
        return _("%(m)s months") % {"m": number}
    return _(text)


def group_label(group: str, lang: str) -> str:
    """An umbrella group ("MD, between arm (IU/kg/day)") with its words translated, the unit kept."""
    _ = translations(lang).gettext
    head, _sep, unit = group.partition(" (")
    return _(head) + (f" ({unit}" if unit else "")


#: report file per language when each language has its own file
REPORT_FILES = {"en": "report.html", "zh": "report.zh.html"}


def write_report(review: Review, out: Path, lang: str = "split") -> dict[str, Path]:
    """Write the report, results.json and figures/ under ``out``; returns their paths. ``lang``: "split"
    (the default: report.html in English and report.zh.html in Chinese, each linking to the other), "en" or
    "zh" (report.html in that language only), or "both" (English then Chinese in one report.html)."""
    if lang not in ("en", "zh", "both", "split"):
        raise ValueError(f"lang: {lang!r}; use split, en, zh or both")
    out.mkdir(parents=True, exist_ok=True)
    payload = review.to_dict()
    results_path = out / "results.json"
    results_path.write_text(json.dumps(payload, indent=1, ensure_ascii=False), encoding="utf-8")
    languages = ("en",) if lang == "en" else ("zh",) if lang == "zh" else ("en", "zh")
    figures = {code: _figures(review, out / "figures", code) for code in languages}
    paths = {"results": results_path, "figures": out / "figures"}
    if lang == "both":
        pages = {code: _render(review, payload, figures[code], code, prefix="zh-" if code == "zh" else "")
                 for code in languages}  # fmt: skip
        html = _bilingual(pages["en"], pages["zh"])
        paths["report"] = out / "report.html"
        paths["report"].write_text(html, encoding="utf-8")
        return paths
    for code in languages:
        other = None
        if lang == "split":
            other_code = "zh" if code == "en" else "en"
            other = {"href": REPORT_FILES[other_code], "hreflang": {"en": "en", "zh": "zh-Hans"}[other_code],
                     "name": {"en": "English", "zh": "中文"}[other_code]}  # fmt: skip
        html = _render(review, payload, figures[code], code, prefix="", other_language=other)
        path = out / (REPORT_FILES[code] if lang == "split" else "report.html")
        path.write_text(html, encoding="utf-8")
        paths["report" if code == languages[0] else f"report_{code}"] = path
    return paths


def _render(review: Review, payload: dict, figures: dict, lang: str, prefix: str, other_language=None) -> str:
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
            other_language=other_language,
        )
    )


def _bilingual(english: str, chinese: str) -> str:
    """One document: the English report's head, a language switch, then both bodies (the Chinese one's ids
    prefixed with zh-)."""
    head, _, rest = english.partition("<body>")
    body_en = rest.rpartition("</body>")[0]
    body_zh = chinese.partition("<body>")[2].rpartition("</body>")[0]
    switch = (
        '<nav class="languages"><a href="#verdicts" hreflang="en">English</a> '
        '<a href="#zh-verdicts" hreflang="zh-Hans" lang="zh-Hans">中文</a></nav>'
    )
    return (
        f'{head}<body>\n{switch}\n<div lang="en">{body_en}</div>\n<hr>\n'
        f'<div lang="zh-Hans" class="zh">{body_zh}</div>\n</body>\n</html>\n'
    )
