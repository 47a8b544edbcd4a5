"""``stemdm review run [--protocol FILE] [--db URL] [--out DIR] [--json]``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from stemdm import NOT_MEDICAL_ADVICE, NOT_MEDICAL_ADVICE_BY_LANGUAGE
from stemdm.cli_checks import UsageError, choice, output_path
from stemdm.evidence.cli import announce_bundled_update
from stemdm.evidence.errors import EvidenceError
from stemdm.evidence.store import Store
from stemdm.i18n import translations
from stemdm.i18n.messages import render
from stemdm.review.analysis import POSTERIOR_KEYS
from stemdm.review.narrative import fmt
from stemdm.review.protocol import ProtocolError, load_protocol
from stemdm.review.report import write_report
from stemdm.review.run import Review, run_review
from stemdm.sanitize import term

app = typer.Typer(
    help="The systematic review as a runnable protocol.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(width=None if sys.stdout.isatty() else 160)
errors = Console(stderr=True)

JSON_KEYS = (
    "outcome",
    "timepoint_months",
    "subgroup",
    "k",
    "n",
    "measure",
    "estimate",
    "ci_lb",
    "ci_ub",
    "pval",
    "i2",
    "tau2",
    "pi_lb",
    "pi_ub",
    "certainty",
    *POSTERIOR_KEYS,
    "trials",
    "data_kinds",
)


def _fail(message: str) -> None:
    errors.print(f"[bold red]error:[/] {term(message)}", highlight=False)
    raise typer.Exit(code=2)


@app.command()
def run(
    protocol: Annotated[
        Path | None, typer.Option(help="Protocol TOML (default: the bundled seed-review protocol)")
    ] = None,
    db: Annotated[str | None, typer.Option("--db", help="Evidence store URL or SQLite path")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write report.html, results.json and figures/ here")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the results and skipped analyses as JSON")
    ] = False,
    lang: Annotated[
        str,
        typer.Option(
            help="Report language: split (report.html in English + report.zh.html in Chinese, linked), "
            "en, zh, or both (English then Chinese in one report.html)"
        ),
    ] = "split",
) -> None:
    """Run the review: pool every outcome x timepoint x subgroup with data, grade it, compare with published
    meta-analyses, size the next trial; report what could not be analysed and why."""
    try:
        lang = choice(lang, ("split", "en", "zh", "both"), "--lang")
        if out is not None:
            output_path(out, "--out", folder=True)
        chosen = load_protocol(protocol)
        store = Store.open(db)
        announce_bundled_update(store, errors, "zh" if lang == "zh" else "en")
        review = run_review(store.load(), chosen)
    except (ProtocolError, EvidenceError, UsageError) as error:
        _fail(str(error))
    try:
        paths = write_report(review, out, lang=lang) if out is not None else None
    except OSError as error:
        _fail(f"--out: cannot write the report to {out}: {error.strerror or error}")
    if as_json:
        typer.echo(json.dumps(review_json(review), indent=1, ensure_ascii=False))
        return
    _print(review, "zh" if lang == "zh" else "en")
    if paths:
        console.print(
            term(f"Report: {paths['report']}  (results: {paths['results']}, figures: {paths['figures']})")
        )
    console.print(f"[italic]{NOT_MEDICAL_ADVICE_BY_LANGUAGE['zh' if lang == 'zh' else 'en']}[/]")


def review_json(review: Review) -> dict:
    """What ``stemdm review run --json`` prints (and the web API's result of a review run)."""
    payload = review.to_dict()
    return {
        "results": [{key: r[key] for key in JSON_KEYS} for r in payload["results"]],
        "skipped": payload["skipped"],
        "disclaimer": NOT_MEDICAL_ADVICE,
    }


def _percent(p: float | None) -> str:
    return "—" if p is None else f"{100 * p:.0f}%"


def results_table(review: Review, title: str, overall_only: bool = False, lang: str = "en") -> Table:
    """The pooled results for a terminal: frequentist estimate and CI beside the Bayesian median, credible
    interval, P(benefit) and P(>= MID), with the certainty of evidence (``overall_only``: the overall rows, in
    fewer columns), headed and labelled in ``lang``."""
    _ = translations(lang).gettext
    level = {"level": f"{review.protocol.model.level:g}"}
    table = Table(title=term(title))
    for column, wanted in (
        (_("outcome"), True), (_("months"), True), (_("subgroup"), not overall_only), ("k", True),
        ("n", True), (_("estimate (%(level)s%% CI)") % level, True), ("p", not overall_only),
        ("I2", not overall_only), (_("Bayesian median (%(level)s%% CrI)") % level, True),
        (_("P(benefit)"), True), (_("P(≥ MID)"), True), (_("certainty"), True),
    ):  # fmt: skip
        if wanted:
            table.add_column(term(column))
    for r in review.summaries():
        if overall_only and r["subgroup"] != "overall":
            continue
        to = _("to")
        bayes = (
            "—" if r["post_median"] is None or r["post_ci_lb"] is None
            else f"{fmt(r['post_median'])} ({fmt(r['post_ci_lb'])} {to} {fmt(r['post_ci_ub'])})"
        )  # fmt: skip
        frequentist = (
            term(_("not estimable")) if r["estimate"] is None or r["ci_lb"] is None
            else term(f"{fmt(r['estimate'])} ({fmt(r['ci_lb'])} {to} {fmt(r['ci_ub'])}) {_(r['unit'])}")
        )  # fmt: skip
        cells = [_(r["outcome"]), f"{r['timepoint_months']:g}"]
        cells += [] if overall_only else [term(_(r["subgroup"]))]
        cells += [str(r["k"]), str(r["n"]), frequentist]
        cells += (
            []
            if overall_only
            else [
                "—" if r["pval"] is None else "<0.001" if r["pval"] < 0.001 else f"{r['pval']:.3f}",
                f"{r['i2']:.0f}%",
            ]  # fmt: skip
        )
        cells += [bayes, _percent(r["p_benefit"]), _percent(r["p_mid"]), _(str(r["certainty"]))]
        table.add_row(*cells)
    return table


def _print(review: Review, lang: str = "en") -> None:
    _ = translations(lang).gettext
    console.print(results_table(review, review.protocol.title, lang=lang))
    for sentence in review.narrative:
        console.print(term(sentence[lang]))
    console.print(
        _("%(n)s analyses not done (reasons in the report and in --json), e.g.:") % {"n": len(review.skipped)}
    )
    for skipped in review.skipped[:5]:
        months = (
            ""
            if skipped.timepoint_months is None
            else _("%(m)s months") % {"m": f"{skipped.timepoint_months:g}"}
        )
        reason = render(skipped.reason, lang)
        console.print(term(f"  {_(skipped.outcome)} {months} {_(skipped.subgroup)}: {reason}"))
