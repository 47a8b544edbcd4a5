"""Command line: ``stemdm meta DATA.csv ...`` and ``stemdm demo``.

Bad input exits with code 2 and a one-line message naming the study and field; no traceback.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from stemdm import NOT_MEDICAL_ADVICE, __version__
from stemdm.cli_checks import UsageError, choice, input_file, number, output_path
from stemdm.evidence.cli import app as evidence_app
from stemdm.meta import MetaInputError, MetaResult, fit, forest_plot, funnel_plot
from stemdm.meta.api import POOLING_METHODS
from stemdm.meta.bayes import bayes
from stemdm.meta.bayes_plots import bayes_density_plot, bayes_forest_plot
from stemdm.meta.core import ESTIMATORS, TESTS
from stemdm.meta.effects import CONTINUITY_RULES, MEASURES
from stemdm.meta.errors import ConvergenceError
from stemdm.meta.plots import FORMATS
from stemdm.meta.report import effect_line, fmt, fmt_p, heterogeneity_line, json_safe, shown
from stemdm.review.cli import app as review_app
from stemdm.sanitize import term
from stemdm.sim.cli import calibrate_command
from stemdm.sim.cli import simulate as simulate_command
from stemdm.web.cli import db_app, runs_app, users_app
from stemdm.web.cli import serve as serve_command

app = typer.Typer(
    help="stemdm: evidence and mechanisms of stem-cell therapy for diabetes. Not medical advice.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(evidence_app, name="evidence")
app.add_typer(review_app, name="review")
app.command("simulate")(simulate_command)
app.command("calibrate")(calibrate_command)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(runs_app, name="runs")
app.command("serve")(serve_command)
console = Console()
errors = Console(stderr=True)


def _fail(message: str) -> None:
    errors.print(f"[bold red]error:[/] {term(message)}", highlight=False)
    raise typer.Exit(code=2)


def _read_table(path: Path) -> pd.DataFrame:
    """The studies table; a damaged, foreign or ambiguous file is a message, not a traceback."""
    try:
        input_file(path, "DATA")
        excel = path.suffix.lower() in (".xlsx", ".xls")
        reader = pd.read_excel if excel else functools.partial(pd.read_csv, comment="#")
        header = reader(path, header=None, nrows=1, dtype=str).iloc[0].tolist()
        repeated = sorted({str(name) for name in header if header.count(name) > 1})
        if repeated:
            raise UsageError(f"column {', '.join(repeated)} appears more than once; keep one")
        return reader(path)
    except UsageError as error:
        _fail(f"{path}: {error}")
    except Exception as error:  # pandas and its engines raise many types for a damaged or foreign file
        _fail(f"cannot read {path}: {type(error).__name__}: {str(error)[:300]}")
    raise AssertionError("unreachable")


def _study_table(result: MetaResult) -> Table:
    scale = f"{result.measure} (exp)" if result.is_ratio else result.measure
    table = Table(title=f"Studies (k = {result.k})", show_lines=False)
    for column in ("Study", scale, f"{result.level:g}% CI", "Weight %"):
        table.add_column(column, justify="left" if column == "Study" else "right")
    frame = result.study_table()
    for _, row in frame.iterrows():
        table.add_row(
            term(row["study"]),
            fmt(shown(result, row["yi"]), 3),
            f"[{fmt(shown(result, row['ci_lb']), 3)}, {fmt(shown(result, row['ci_ub']), 3)}]",
            fmt(row["weight"], 1),
        )
    return table


def _print_result(result: MetaResult) -> None:
    console.print(_study_table(result))
    if result.subgroups is not None:
        sub_table = Table(title=f"Subgroups by {term(result.by)}")
        for column in ("Subgroup", "k", "Estimate", "CI", "p", "I2 %", "tau2"):
            sub_table.add_column(column, justify="left" if column == "Subgroup" else "right")
        for name, sub in result.subgroups.items():
            sub_table.add_row(
                term(name), str(sub.k), fmt(shown(sub, sub.estimate)),
                f"[{fmt(shown(sub, sub.ci_lb))}, {fmt(shown(sub, sub.ci_ub))}]",
                fmt_p(sub.pval), fmt(sub.i2, 1), fmt(sub.tau2, 4),
            )  # fmt: skip
        console.print(sub_table)
        console.print(
            f"Test for subgroup differences: Q = {fmt(result.q_between, 2)}, "
            f"df = {result.q_between_df}, p = {fmt_p(result.q_between_pval)}"
        )
    if result.coef is not None:
        coef_table = Table(title="Meta-regression (analysis scale)")
        for column in ("Coefficient", "Estimate", "SE", "p", "CI"):
            coef_table.add_column(column, justify="left" if column == "Coefficient" else "right")
        lower, upper = result.coef_ci
        for j, name in enumerate(result.coef_names):
            coef_table.add_row(
                term(name), fmt(result.coef[j], 4), fmt(result.coef_se[j], 4), fmt_p(result.coef_pval[j]),
                f"[{fmt(lower[j], 4)}, {fmt(upper[j], 4)}]",
            )  # fmt: skip
        console.print(coef_table)
        console.print(f"QM = {fmt(result.qm, 3)}, p = {fmt_p(result.qm_pval)}; R2 = {fmt(result.r2, 1)}%")
    label = "Intercept" if result.coef is not None else "Pooled"
    console.print(term(effect_line(result, label)), highlight=False)
    console.print(term(heterogeneity_line(result)), highlight=False)
    for note in result.notes:
        console.print(f"[dim]note: {term(note)}[/]")
    console.print(f"[italic]{NOT_MEDICAL_ADVICE}[/]")


@app.command("meta")
def meta_command(
    data: Annotated[Path, typer.Argument(help="CSV (or .xlsx) with metafor's column names")],
    measure: Annotated[str, typer.Option(help="MD, SMD, ROM, RR, OR, RD or GEN")] = "GEN",
    method: Annotated[str, typer.Option(help="FE DL HE HS SJ ML REML EB PM, or MH / PETO")] = "REML",
    test: Annotated[str, typer.Option(help="z, knha or adhoc")] = "z",
    level: Annotated[float, typer.Option(help="confidence level, percent")] = 95,
    by: Annotated[str | None, typer.Option(help="subgroup column")] = None,
    mods: Annotated[list[str] | None, typer.Option(help="moderator column (repeat for more)")] = None,
    weights: Annotated[
        str | None, typer.Option(help="column of user weights for the pooled estimate (metafor's weights=)")
    ] = None,
    add: Annotated[float, typer.Option(help="continuity correction added to 2x2 cells")] = 0.5,
    to: Annotated[str, typer.Option(help="which 2x2 studies get it: only0, all, if0all, none")] = "only0",
    forest: Annotated[Path | None, typer.Option(help="write a forest plot (.png/.svg/.pdf)")] = None,
    funnel: Annotated[Path | None, typer.Option(help="write a funnel plot (.png/.svg/.pdf)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print to_dict() as JSON")] = False,
    bayesian: Annotated[
        bool, typer.Option("--bayes", help="Bayesian random-effects model (normal-normal, by quadrature)")
    ] = False,
    tau_prior: Annotated[
        str,
        typer.Option(
            help="with --bayes: halfnormal(s), halfcauchy(s), halft(df,s), uniform(a,b), jeffreys, ..."
        ),
    ] = "halfnormal(0.5)",
    mu_prior: Annotated[str | None, typer.Option(help="with --bayes: normal(m,s); default uniform")] = None,
    densities: Annotated[
        Path | None,
        typer.Option(help="with --bayes: prior and posterior densities of tau and mu (.png/.svg/.pdf)"),
    ] = None,
) -> None:
    """Meta-analysis of a table of studies: summary table, or JSON with --json (--bayes: posterior)."""
    try:
        measure = choice(measure, MEASURES, "--measure")
        method = choice(method, (*ESTIMATORS, *POOLING_METHODS), "--method")
        test = choice(test, TESTS, "--test")
        to = choice(to, CONTINUITY_RULES, "--to")
        number(level, "--level", low=1, high=99.99)
        number(add, "--add", low=0, high=1)
        for option, path in (("--forest", forest), ("--funnel", funnel), ("--densities", densities)):
            if path is not None:
                output_path(path, option, suffixes=FORMATS)
    except UsageError as error:
        _fail(str(error))
    frame = _read_table(data)
    if bayesian:
        _bayes_command(frame, (measure, tau_prior, mu_prior, level, add, to), as_json, forest, densities)
        return
    try:
        result = fit(
            frame, measure=measure, method=method, test=test, level=level, by=by, mods=mods, add=add, to=to,
            weights=weights,
        )  # fmt: skip
        if forest is not None:
            forest_plot(result, forest)
        if funnel is not None:
            funnel_plot(result, funnel)
    except (MetaInputError, ConvergenceError, OSError) as error:
        _fail(str(error))
    if as_json:
        _print_json(result.to_dict())
        return
    _print_result(result)


def _print_json(payload: dict) -> None:
    """A result as JSON on stdout (NaN/inf as null), with the not-medical-advice line."""
    out = json_safe(payload) | {"not_medical_advice": NOT_MEDICAL_ADVICE}
    sys.stdout.write(json.dumps(out, indent=2) + "\n")


def _bayes_command(frame, options: tuple, as_json: bool, forest: Path | None, densities: Path | None) -> None:
    measure, tau_prior, mu_prior, level, add, to = options
    try:
        result = bayes(frame, measure, tau_prior, mu_prior, level, add=add, to=to)
        summary = result.to_dict()
        if forest is not None:
            bayes_forest_plot(result, forest)
        if densities is not None:
            bayes_density_plot(result, densities)
    except (MetaInputError, ConvergenceError, OSError) as error:
        _fail(str(error))
    if as_json:
        _print_json(summary)
        return
    console.print(term(result.summary()), highlight=False)


@app.command("demo")
def demo_command(
    out: Annotated[Path, typer.Option(help="output folder")] = Path("out"),
    with_bcg: Annotated[
        bool, typer.Option("--with-bcg", help="Also the engine's worked example on the BCG vaccine trials")
    ] = False,
) -> None:
    """The bundled evidence on stem-cell therapy for diabetes, the systematic review (out/report.html, English
    and Chinese) and an in-silico trial; --with-bcg adds the engine's BCG worked example."""
    from stemdm.demo import run_demo

    try:
        output_path(out, "--out", folder=True)
        run_demo(out, console, with_bcg=with_bcg)
    except UsageError as error:
        _fail(str(error))
    except OSError as error:
        _fail(f"--out: cannot write to {out}: {error.strerror or error}")


@app.command("version")
def version_command() -> None:
    """Print the version."""
    console.print(__version__)


#: Exit code of a failure that is stemdm's fault, not the input's (BSD sysexits EX_SOFTWARE).
INTERNAL_ERROR = 70


def main() -> None:
    """Entry point. Bad input exits 2 with a message (each command's own checks); should anything else
    escape, the user still gets one line, not a traceback (STEMDM_DEBUG=1 shows it), and exit code 70."""
    try:
        app()
    except KeyboardInterrupt:
        errors.print("interrupted", highlight=False)
        raise SystemExit(130) from None
    except MemoryError:
        errors.print("[bold red]error:[/] out of memory: make the job smaller (fewer patients or studies)")
        raise SystemExit(2) from None
    except Exception as error:
        if os.environ.get("STEMDM_DEBUG"):
            raise
        errors.print(
            f"[bold red]internal error[/] ({type(error).__name__}): {term(str(error)[:300])}; this is a "
            "bug in stemdm, please report it with the command you ran (STEMDM_DEBUG=1 shows the traceback)",
            highlight=False,
        )
        raise SystemExit(INTERNAL_ERROR) from None
