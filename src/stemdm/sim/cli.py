"""``stemdm simulate``: an in-silico two-arm trial of one pathway against placebo."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from stemdm import NOT_MEDICAL_ADVICE
from stemdm.cli_checks import UsageError, number, output_path
from stemdm.sanitize import term
from stemdm.sim.parameters import default_parameters
from stemdm.sim.trial import ENDPOINTS, MAX_PATIENTS_PER_ARM, TrialDesign, run_trial

console = Console(width=None if sys.stdout.isatty() else 160)
#: Local Dask worker processes at most: twice the cores (more only queue, each costs a process and memory).
MAX_WORKERS = max(2, 2 * (os.cpu_count() or 1))
FIGURE_FORMATS = (".png", ".svg", ".pdf")
errors = Console(stderr=True)


def _fail(message: str) -> None:
    errors.print(f"[bold red]error:[/] {term(message)}", highlight=False)
    raise typer.Exit(code=2)


#: --dose-unit spellings -> factor to 1e6 cells/kg
DOSE_UNITS = {"1e6 cells/kg": 1.0, "10^6 cells/kg": 1.0, "million cells/kg": 1.0, "cells/kg": 1e-6}


def _dose_in_millions_per_kg(dose: float, unit: str, pathway: str) -> float:
    """The dose in the design's unit (1e6 cells/kg; PSC grafts in beta-cell equivalents, no conversion)."""
    key = " ".join(unit.strip().lower().split())
    if key not in DOSE_UNITS:
        raise UsageError(f"--dose-unit: {unit!r}; use one of {', '.join(DOSE_UNITS)}")
    if DOSE_UNITS[key] != 1.0 and pathway.strip().lower().replace("_", "-") == "psc-islet":
        raise UsageError("--dose-unit: a PSC-islet graft is dosed in beta-cell equivalents, not cells/kg")
    return dose * DOSE_UNITS[key]


def simulate(
    pathway: Annotated[str, typer.Option(help="msc, psc-islet or exosome")] = "msc",
    source: Annotated[
        str, typer.Option(help="bone_marrow, umbilical_cord, wharton_jelly or adipose")
    ] = "umbilical_cord",
    route: Annotated[str, typer.Option(help="iv or intra-arterial")] = "iv",
    dose: Annotated[
        float,
        typer.Option(
            help="MSC/exosome: 1e6 cells/kg per administration; PSC: beta-cell "
            "equivalents (1 = a healthy beta-cell mass)"
        ),
    ] = 1.0,
    dose_unit: Annotated[
        str, typer.Option(help="unit of --dose for MSC/exosome: '1e6 cells/kg' (default) or 'cells/kg'")
    ] = "1e6 cells/kg",
    infusions: Annotated[int, typer.Option(help="Number of administrations")] = 3,
    interval_weeks: Annotated[float, typer.Option(help="Weeks between administrations")] = 4.0,
    weeks: Annotated[int, typer.Option(help="Trial duration in weeks")] = 48,
    visits: Annotated[str, typer.Option(help="Visit weeks, comma-separated")] = "0,12,24,48",
    patients: Annotated[int, typer.Option(help="Patients per arm")] = 200,
    hba1c: Annotated[float, typer.Option(help="Baseline HbA1c mean (%)")] = 8.9,
    hba1c_sd: Annotated[float, typer.Option(help="Baseline HbA1c SD (%)")] = 1.2,
    bmi: Annotated[float, typer.Option(help="Baseline BMI mean")] = 27.0,
    duration_years: Annotated[float, typer.Option(help="Diabetes duration, years")] = 10.0,
    insulin_treated: Annotated[bool, typer.Option("--insulin-treated/--no-insulin-treated")] = True,
    cpep: Annotated[
        float | None, typer.Option(help="Baseline fasting C-peptide mean (ng/mL), matched too")
    ] = None,
    cpep_sd: Annotated[float | None, typer.Option(help="Baseline fasting C-peptide SD (ng/mL)")] = None,
    hba1c_min: Annotated[float | None, typer.Option(help="Inclusion: lowest baseline HbA1c (%)")] = None,
    hba1c_max: Annotated[float | None, typer.Option(help="Inclusion: highest baseline HbA1c (%)")] = None,
    cpep_min: Annotated[
        float | None, typer.Option(help="Inclusion: lowest fasting C-peptide (ng/mL)")
    ] = None,
    titration: Annotated[
        str, typer.Option(help="Background insulin: target (titrated both ways) or fixed")
    ] = "target",
    encapsulated: Annotated[
        bool, typer.Option("--encapsulated/--not-encapsulated", help="PSC grafts")
    ] = True,
    seed: Annotated[int, typer.Option(help="Randomization and cohort seed")] = 1,
    workers: Annotated[
        int | None, typer.Option(help="Start a local Dask cluster with N worker processes")
    ] = None,
    scheduler: Annotated[str | None, typer.Option(help="Use an existing Dask scheduler at ADDRESS")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print design, arms and effects as JSON")] = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            help="Write endpoint trajectories by arm (95 % bands) and the mechanism contributions to this PNG"
        ),
    ] = None,
    responders: Annotated[
        Path | None,
        typer.Option(
            help="Write the responder analysis (phenotype quartiles x "
            "pathways) to this PNG, with a CSV beside it"
        ),
    ] = None,
) -> None:
    """Simulate a randomized trial of a stem-cell pathway vs placebo in a virtual cohort matched to the given
    baseline; report each arm's endpoints per visit and the between-arm differences with 95 % CIs."""
    try:
        visit_weeks = [int(v) for v in visits.split(",") if v.strip()]
    except ValueError:
        _fail(f"--visits must be comma-separated whole weeks, got {visits!r}")
    try:
        dose = _dose_in_millions_per_kg(dose, dose_unit, pathway)
        if workers is not None:
            number(workers, "--workers", low=1, high=MAX_WORKERS, integer=True)
        for option, path in (("--plot", plot), ("--responders", responders)):
            if path is not None:
                output_path(path, option, suffixes=FIGURE_FORMATS)
    except UsageError as error:
        _fail(str(error))
    try:
        design = TrialDesign(
            pathway=pathway,
            source=source,
            route=route,
            dose=dose,
            infusions=infusions,
            interval_weeks=interval_weeks,
            weeks=weeks,
            visits=visit_weeks,
            patients_per_arm=patients,
            hba1c=hba1c,
            hba1c_sd=hba1c_sd,
            bmi=bmi,
            duration_years=duration_years,
            insulin_treated=insulin_treated,
            cpep_fasting=cpep,
            cpep_fasting_sd=cpep_sd,
            hba1c_min=hba1c_min,
            hba1c_max=hba1c_max,
            cpep_min=cpep_min,
            titration=titration.strip().lower(),
            encapsulated=encapsulated,
            seed=seed,
        )
    except ValidationError as error:
        _fail(
            "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'design'}: {e['msg'].removeprefix('Value error, ')}"
                for e in error.errors()
            )
        )
    try:
        result = _run_with_progress(design, workers, scheduler)
    except ValueError as error:
        _fail(str(error))
    except (OSError, TimeoutError) as error:  # dask: scheduler unreachable, cluster failed to start
        _fail(f"--scheduler/--workers: cannot run on the Dask cluster: {type(error).__name__}: {error}")
    _figures(design, result, plot, responders)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=1))
        return
    table = Table(title=f"{pathway} vs placebo: change from baseline at week {design.visits[-1]}")
    for column in ("outcome", "therapy mean (SD)", "placebo mean (SD)", "MD of change (95% CI)"):
        table.add_column(column)
    arms = result.arm_summary()
    last = {e["outcome"]: e for e in result.effects() if e["week"] == design.visits[-1]}
    for endpoint in ENDPOINTS:
        t, p = arms["therapy"][endpoint][-1], arms["placebo"][endpoint][-1]
        e = last[endpoint]
        table.add_row(
            endpoint,
            f"{t['mean']:.3g} ({t['sd']:.2g})",
            f"{p['mean']:.3g} ({p['sd']:.2g})",
            f"{e['md']:+.3g} ({e['ci_lb']:.3g} to {e['ci_ub']:.3g})",
        )
    console.print(table)
    responders = result.responders()
    console.print(
        f"Responders ({responders['definition']}): therapy {responders['therapy']:.1%}, placebo "
        f"{responders['placebo']:.1%}. Parameters: {result.parameters_version}."
    )
    console.print(f"[italic]{NOT_MEDICAL_ADVICE}[/]")


def _run_with_progress(design: TrialDesign, workers: int | None, scheduler: str | None):
    """A rich progress bar (on stderr) over simulated days when the cohort takes more than a moment."""
    from rich.progress import Progress

    big = design.patients_per_arm * design.weeks >= 200_000
    if workers is not None or scheduler is not None or not big:
        return run_trial(design, default_parameters(), workers=workers, scheduler=scheduler)
    with Progress(console=errors, transient=True) as bar:
        task = bar.add_task(
            f"simulating 2 x {design.patients_per_arm} patients", total=2 * (design.weeks * 7 + 1)
        )
        return run_trial(design, default_parameters(), progress=lambda days: bar.advance(task, days))


def _figures(design: TrialDesign, result, plot: Path | None, responders: Path | None) -> None:
    from stemdm.sim.plots import responder_plot, trajectory_plot
    from stemdm.sim.responders import mechanism_contributions, responder_analysis

    try:
        if plot is not None:
            contributions = mechanism_contributions(design, min(design.patients_per_arm, 1000))
            trajectory_plot(result, plot, contributions)
            errors.print(f"wrote {term(plot)}")
        if responders is not None:
            table = responder_analysis(design, max(400, min(4 * design.patients_per_arm, 4000)))
            table.to_csv(responders.with_suffix(".csv"), index=False)
            responder_plot(table, responders)
            errors.print(f"wrote {term(responders)} and {term(responders.with_suffix('.csv'))}")
    except (OSError, ValueError) as error:
        _fail(f"cannot write the figure: {error}")


def calibrate_command(
    patients: Annotated[int, typer.Option(help="Patients per arm of the simulated Zang 2022 trial")] = 200,
    max_evals: Annotated[int, typer.Option(help="Most model evaluations")] = 150,
    seed: Annotated[int, typer.Option(help="Seed (common random numbers)")] = 20221,
    out: Annotated[
        Path | None, typer.Option(help="Parameter file to write (default: the package's own)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the calibration record as JSON")] = False,
) -> None:
    """Fit the placebo and mechanism parameters to Zang 2022 and Kashbour 2025 (stemdm.sim.calibrate) and
    write a versioned parameter file with the calibration record (targets vs simulated, with CIs)."""
    from rich.progress import Progress

    from stemdm.sim.calibrate import calibrate, parameter_file, save

    try:
        number(patients, "--patients", low=10, high=MAX_PATIENTS_PER_ARM, integer=True)
        number(max_evals, "--max-evals", low=1, high=10_000, integer=True)
        number(seed, "--seed", low=0, high=2**63 - 1, integer=True)
        if out is not None:
            output_path(out, "--out", suffixes=(".json",))
    except UsageError as error:
        _fail(str(error))
    with Progress(console=errors, transient=True) as bar:
        task = bar.add_task("calibrating (model evaluations)", total=max_evals)
        result = calibrate(
            patients=patients,
            seed=seed,
            max_evals=max_evals,
            progress=lambda calls: bar.update(task, completed=min(calls, max_evals)),
        )
    try:
        path = save(result["parameters"], result["record"], out or parameter_file())
    except OSError as error:
        _fail(f"--out: cannot write the parameter file: {error.strerror or error}")
    record = result["record"]
    if as_json:
        typer.echo(json.dumps(record | {"file": str(path)}, indent=1))
        return
    table = Table(
        title=f"Calibration ({record['evaluations']} evaluations, converged: {record['converged']})"
    )
    for column in ("target", "value (95% CI)", "simulated (95% CI)", "source"):
        table.add_column(column)
    for t in record["targets"]:
        table.add_row(
            t["name"],
            f"{t['target']:.3g} ({t['target_ci'][0]:.3g} to {t['target_ci'][1]:.3g})",
            f"{t['simulated']:.3g} ({t['simulated_ci'][0]:.3g} to {t['simulated_ci'][1]:.3g})",
            term(t["source"]),
        )
    console.print(table)
    for p in record["parameters"]:
        console.print(f"  {p['block']}.{p['name']} = {p['estimate']:.4g} (SE {p['se']:.3g})")
    console.print(f"Wrote {path} ({result['parameters'].version}). [italic]{NOT_MEDICAL_ADVICE}[/]")
