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
from stemdm.meta.report import json_safe
from stemdm.paths import calibration_dir
from stemdm.sanitize import term
from stemdm.sim.parameters import (
    PARAMS_ENV,
    ParameterFileError,
    chosen_parameter_file,
    default_parameters,
)
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
    route: Annotated[
        str,
        typer.Option(help="iv, intra-arterial, or arterial-then-iv (the first dose arterial, the rest IV)"),
    ] = "iv",
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
    diabetes_type: Annotated[
        str, typer.Option(help="t2, or t1: insulin-deficient (C-peptide near zero), insulin-treated cohort")
    ] = "t2",
    titration: Annotated[
        str, typer.Option(help="Background insulin: target (titrated both ways) or fixed")
    ] = "target",
    trial_size: Annotated[
        str | None,
        typer.Option(
            help="N_THERAPY,N_PLACEBO: add 95 % predictive intervals of what such a trial would observe"
        ),
    ] = None,
    posterior_draws: Annotated[
        int,
        typer.Option(
            help="posterior draws simulated for the answer (the true MD's median and 95 % interval "
            "over the calibration's posterior; with --trial-size also what such a trial sees)"
        ),
    ] = 40,
    encapsulated: Annotated[
        bool, typer.Option("--encapsulated/--not-encapsulated", help="PSC grafts")
    ] = True,
    seed: Annotated[int, typer.Option(help="Randomization and cohort seed")] = 1,
    workers: Annotated[
        int | None, typer.Option(help="Start a local Dask cluster with N worker processes")
    ] = None,
    scheduler: Annotated[str | None, typer.Option(help="Use an existing Dask scheduler at ADDRESS")] = None,
    params: Annotated[
        str | None,
        typer.Option(
            "--params",
            help="'central' (one parameter set: the posterior's central draw, no posterior summary) or a "
            "parameter file from `stemdm calibrate` (one set; a --bayes file brings its posterior draws). "
            "Default: STEMDM_SIM_PARAMS, else the shipped calibration, summarised over its posterior",
        ),
    ] = None,
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
        size = _trial_size(trial_size)
        number(posterior_draws, "--posterior-draws", low=2, high=400, integer=True)
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
            titration=titration,
            diabetes_type=diabetes_type,
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
    single = params is not None and params.strip().lower() == "central"
    _use_parameter_file(None if single else (Path(params) if params is not None else None))
    single = single or not _has_posterior()
    try:
        result = _run_with_progress(design, workers, scheduler)
    except ValueError as error:
        _fail(str(error))
    except (OSError, TimeoutError) as error:  # dask: scheduler unreachable, cluster failed to start
        _fail(f"--scheduler/--workers: cannot run on the Dask cluster: {type(error).__name__}: {error}")
    _figures(design, result, plot, responders)
    payload = result.to_dict() | {"parameter_file": str(chosen_parameter_file())}
    prediction = None if single and size is None else _predict(design, size, posterior_draws)
    if prediction is not None:
        _merge_prediction(payload, prediction)
    payload["headline"] = (
        "single parameter set (the central draw or the given file): not a prediction; the MD's interval is "
        "the virtual cohort's Monte Carlo error only" if single else
        f"the true between-arm MD over {prediction['posterior_draws']} posterior draws "
        "(median, 95 % interval)"
    )  # fmt: skip
    if as_json:
        typer.echo(json.dumps(json_safe(payload), indent=1))
        return
    console.print(_table(design, result, payload, prediction, size, single))
    console.print(term(f"Answer: {payload['headline']}."))
    if prediction is not None and size is not None:
        console.print(
            f"Predictive intervals: {prediction['posterior_draws']} posterior draws (parameter uncertainty), "
            "the trial's sampling error, and between-trial heterogeneity where the evidence has it:"
        )
        for note in prediction["heterogeneity"].values():
            console.print(term(f"  {note}"))
    for note in payload["warnings"]:
        console.print("Warning: " + term(note))
    for note in result.not_informed():
        console.print(term(f"Not informed by data: {note}"))
    responders = result.responders()
    console.print(
        f"Responders ({responders['definition']}): therapy {responders['therapy']:.1%}, placebo "
        f"{responders['placebo']:.1%}. Parameters: {result.parameters_version}."
    )
    console.print(f"[italic]{NOT_MEDICAL_ADVICE}[/]")


def _has_posterior() -> bool:
    """Whether the chosen parameter file has posterior draws to summarise over."""
    from stemdm.sim.parameters import chosen_parameter_file, chosen_posterior_file, shipped_parameter_file
    from stemdm.sim.posterior import posterior_file

    if chosen_parameter_file() == shipped_parameter_file():
        return posterior_file().exists()
    return chosen_posterior_file() is not None


def _table(design: TrialDesign, result, payload: dict, prediction: dict | None, size, single: bool) -> Table:
    """The terminal table: the answer over the posterior first (unless one parameter set was asked for),
    the virtual cohort's Monte Carlo error labelled as what it is."""
    week = design.visits[-1]
    table = Table(title=f"{design.pathway} vs placebo: change from baseline at week {week}")
    columns = ["outcome", "therapy mean (SD)", "placebo mean (SD)"]
    if not single:
        columns.append(
            f"MD over the posterior: median (95 % interval, {prediction['posterior_draws']} draws)"
        )
    columns.append("MD of this virtual cohort (± Monte Carlo error)" if not single
                   else "MD, one parameter set (95 % Monte Carlo interval; not a prediction)")  # fmt: skip
    if size is not None:
        columns.append(f"a {size[0]} + {size[1]} trial would see (95% PI)")
    for column in columns:
        table.add_column(column)
    arms = result.arm_summary()
    last = {e["outcome"]: e for e in payload["effects"] if e["week"] == week}
    for endpoint in ENDPOINTS:
        t, p, e = arms["therapy"][endpoint][-1], arms["placebo"][endpoint][-1], last[endpoint]
        cells = [endpoint, f"{t['mean']:.3g} ({t['sd']:.2g})", f"{p['mean']:.3g} ({p['sd']:.2g})"]
        if not single:
            median = e.get("param_median")
            shown = "—" if median is None else f"{median:+.3g} ({e['param_lb']:.3g} to {e['param_ub']:.3g})"
            cells.append(shown)
        if single:
            cells.append(f"{e['md']:+.3g} ({e['ci_lb']:.3g} to {e['ci_ub']:.3g})")
        else:
            cells.append(f"{e['md']:+.3g} (± {(e['ci_ub'] - e['ci_lb']) / 2:.2g})")
        if size is not None:
            cells.append("—" if e.get("pred_lb") is None else f"{e['pred_lb']:.3g} to {e['pred_ub']:.3g}")
        table.add_row(*cells)
    return table


def _trial_size(text: str | None) -> tuple[int, int] | None:
    """--trial-size N_THERAPY,N_PLACEBO as two whole numbers of patients."""
    if text is None:
        return None
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        raise UsageError(f"--trial-size: give N_THERAPY,N_PLACEBO as two whole numbers, got {text!r}")
    n1, n2 = (int(part) for part in parts)
    for n in (n1, n2):
        number(n, "--trial-size", low=2, high=MAX_PATIENTS_PER_ARM, integer=True)
    return n1, n2


def _predict(design: TrialDesign, size: tuple[int, int] | None, draws: int) -> dict:
    from rich.progress import Progress

    from stemdm.sim.predict import predictive

    try:
        with Progress(console=errors, transient=True) as bar:
            task = bar.add_task("simulating posterior draws", total=draws)
            return predictive(design, size, draws, progress=lambda done: bar.advance(task, done))
    except FileNotFoundError as error:
        _fail(str(error))


def _merge_prediction(payload: dict, prediction: dict) -> None:
    """Each effects row gains pred_lb/pred_ub (what a trial of the given size would observe) and
    param_lb/param_ub (the true MD across posterior draws); responders gain their predictive intervals."""
    by_key = {(row["outcome"], row["week"]): row for row in prediction["effects"]}
    for row in payload["effects"]:
        extra = by_key.get((row["outcome"], row["week"]), {})
        keys = ("param_median", "param_lb", "param_ub") + (
            ("pred_lb", "pred_ub") if "pred_lb" in extra else ()
        )
        row.update({key: extra.get(key) for key in keys})
        row["ci_is"] = "the virtual cohort's Monte Carlo error (not parameter uncertainty)"
    payload["responders"] |= {
        key: value for key, value in prediction["responders"].items() if key != "definition"
    }
    payload["prediction"] = {
        key: value for key, value in prediction.items() if key not in ("effects", "responders")
    }


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


def _use_parameter_file(params: Path | None) -> None:
    """Check the parameter file (``--params``, else ``STEMDM_SIM_PARAMS``) before any work, and make it the
    one every part of this run reads (worker processes inherit the environment)."""
    if params is not None:
        os.environ[PARAMS_ENV] = str(params.expanduser().resolve())
    try:
        default_parameters()
        from stemdm.sim.parameters import chosen_posterior_file

        posterior = chosen_posterior_file()
        if posterior is not None and not posterior.is_file():
            raise ParameterFileError(f"{chosen_parameter_file()}: its posterior file {posterior} is missing")
    except ParameterFileError as error:
        _fail(f"--params: {error}")


def _calibrate_bayes(patients: int, seed: int, design_runs: int, out: Path | None, as_json: bool) -> None:
    """``stemdm calibrate --bayes`` after its options were checked by ``calibrate_command``."""
    from rich.progress import Progress

    from stemdm.sim.posterior import calibrate_bayes, save_posterior

    with Progress(console=errors, transient=True) as bar:
        task = bar.add_task("simulator runs for the emulator", total=design_runs)
        record = calibrate_bayes(design_runs, patients, seed, progress=lambda done: bar.advance(task, done))
    from stemdm.sim.parameters import chosen_parameter_file
    from stemdm.sim.posterior import install_central_draw

    path = out or calibration_dir() / "posterior.json"
    params_path = path.with_name(f"{path.stem}.parameters.json") if out else path.with_name("parameters.json")
    try:  # never the package's own files (tools/update_shipped_calibration.py changes those)
        save_posterior(record, path)
        install_central_draw(record, chosen_parameter_file(), params_path, path)
    except OSError as error:
        _fail(f"--out: cannot write the posterior file: {error.strerror or error}")
    if as_json:
        from stemdm.sim.posterior import coverage_by_outcome

        files = {"file": str(path), "parameter_file": str(params_path)}
        summary = {k: v for k, v in record.items() if k != "draws"} | files
        summary["coverage_by_outcome"] = coverage_by_outcome(record)
        typer.echo(json.dumps(summary, indent=1, default=float))
        return
    table = Table(
        title=f"Bayesian calibration: prior -> posterior (95 % intervals), {design_runs} design runs"
    )
    for column in ("parameter", "prior", "posterior", "profile likelihood 95 %", "what the data say"):
        table.add_column(column)
    profiles = {(q["block"], q["name"]): q for q in record.get("profile_likelihood", [])}
    for p in record["parameters"]:
        table.add_row(
            f"{p['block']}.{p['name']}",
            f"{p['prior_2.5']:.3g} to {p['prior_97.5']:.3g}",
            f"{p['post_50']:.3g} ({p['post_2.5']:.3g} to {p['post_97.5']:.3g})",
            _profile_text(profiles.get((p["block"], p["name"]))),
            term(p["verdict"]),
        )
    console.print(table)
    for t in record["targets"]:
        lo, mid, hi = t["posterior_predictive"]
        role = "fitted" if t["in_likelihood"] else "HELD OUT"
        line = (
            f"{role}: {t['trial']}: {t['name']}: target {t['target']:.3g}, posterior predictive {mid:.3g} "
            f"({lo:.3g} to {hi:.3g}), emulator LOO R2 {t['emulator_loo_r2']:.2f}"
        )
        console.print(term(line))
    loto = record["leave_one_trial_out"]
    console.print(
        f"Leave one trial out: {loto['covered']} of {loto['total']} reported numbers inside their 95 % "
        "predictive intervals (recalibrated without the trial, then predicted):"
    )
    _print_checks(loto["rows"])
    held = record.get("held_out", {"rows": [], "covered": 0, "total": 0})
    console.print(
        f"Held out (overlapping or non-MSC sources, never fitted): {held['covered']} of {held['total']} "
        "inside their 95 % posterior predictive intervals"
    )
    _print_checks(held["rows"])
    _say_where(path, params_path)
    console.print(NOT_MEDICAL_ADVICE)


def _say_where(written: Path, parameter_file: Path) -> None:
    """Where the calibration went and how to use it (the shipped calibration is never changed)."""
    console.print(term(f"Wrote {written}" + (f" and {parameter_file}" if written != parameter_file else "")))
    console.print(
        term(f"Simulate with it: stemdm simulate --params {parameter_file} "
             f"(or STEMDM_SIM_PARAMS={parameter_file}); without it stemdm simulate keeps the shipped "
             "calibration.")
    )  # fmt: skip


def _print_checks(rows: list[dict]) -> None:
    """One line per reported number: what was reported, what was predicted (95 % interval), inside or not."""
    for row in rows:
        lo, mid, hi = row["posterior_predictive"]
        mark = "inside" if row["covered"] else "OUTSIDE"
        console.print(term(f"  {row['trial']}: {row['name']}: reported {row['target']:.3g}, predicted "
                           f"{mid:.3g} ({lo:.3g} to {hi:.3g}) {mark}"))  # fmt: skip


def _profile_text(profile: dict | None) -> str:
    """The profile-likelihood interval, saying when it runs into an edge of the prior's support."""
    if profile is None:
        return "—"
    low, high = profile["interval_95"]
    edges = [side for side, hit in (("lower", profile["reaches_lower_edge"]),
                                    ("upper", profile["reaches_upper_edge"])) if hit]  # fmt: skip
    return f"{low:.3g} to {high:.3g}" + (f" (reaches the {' and '.join(edges)} edge)" if edges else "")


def calibrate_command(
    patients: Annotated[int, typer.Option(help="Patients per arm of the simulated Zang 2022 trial")] = 200,
    max_evals: Annotated[int, typer.Option(help="Most model evaluations")] = 150,
    seed: Annotated[int, typer.Option(help="Seed (common random numbers)")] = 20221,
    out: Annotated[
        Path | None,
        typer.Option(
            help="File to write (default: calibration/parameters.json, with --bayes "
            "calibration/posterior.json and its parameters.json, under the user's data folder; never the "
            "package's own files)"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the calibration record as JSON")] = False,
    bayes: Annotated[
        bool, typer.Option("--bayes", help="Bayesian calibration: emulator + MCMC, posterior draws file")
    ] = False,
    design_runs: Annotated[int, typer.Option(help="with --bayes: simulator runs for the emulator")] = 150,
) -> None:
    """Fit the placebo and mechanism parameters to Zang 2022 and Kashbour 2025 (stemdm.sim.calibrate) and
    write a versioned parameter file with the calibration record (targets vs simulated, with CIs). With
    --bayes: priors, an emulator and MCMC (stemdm.sim.posterior); writes the posterior draws file."""
    from rich.progress import Progress

    from stemdm.sim.calibrate import calibrate, save

    try:  # both methods: the same checks, before any work starts
        number(patients, "--patients", low=10, high=MAX_PATIENTS_PER_ARM, integer=True)
        number(seed, "--seed", low=0, high=2**63 - 1, integer=True)
        if bayes:
            number(design_runs, "--design-runs", low=30, high=5000, integer=True)
        else:
            number(max_evals, "--max-evals", low=1, high=10_000, integer=True)
        if out is not None:
            output_path(out, "--out", suffixes=(".json",))
    except UsageError as error:
        _fail(str(error))
    if bayes:
        _calibrate_bayes(patients, seed, design_runs, out, as_json)
        return
    with Progress(console=errors, transient=True) as bar:
        task = bar.add_task("calibrating (model evaluations)", total=max_evals)
        result = calibrate(
            patients=patients,
            seed=seed,
            max_evals=max_evals,
            progress=lambda calls: bar.update(task, completed=min(calls, max_evals)),
        )
    try:
        path = save(result["parameters"], result["record"], out or calibration_dir() / "parameters.json")
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
    console.print(f"Parameter set {result['parameters'].version}.")
    _say_where(path, path)
    console.print(f"[italic]{NOT_MEDICAL_ADVICE}[/]")
