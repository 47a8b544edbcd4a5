"""``stemdm evidence ...``: list, show, coverage, validate, import, export, history, status, template.

Every command takes ``--db`` (else ``STEMDM_DB``, else the per-user SQLite file) and ``--json``. Bad input
exits with code 2 and lists every problem (row, field, value, why); nothing is changed.
"""

from __future__ import annotations

import json
import sys
import typing
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from stemdm import NOT_MEDICAL_ADVICE
from stemdm.cli_checks import UsageError, choice, number, output_path
from stemdm.evidence.bundled import bundled_caveats
from stemdm.evidence.coverage import coverage
from stemdm.evidence.errors import EvidenceError, Problem
from stemdm.evidence.formats import NOT_READ, EvidenceBundle, read_any, write_any, write_csv_dir
from stemdm.evidence.records import Trial
from stemdm.evidence.revman import read_revman
from stemdm.evidence.store import Store, redact
from stemdm.evidence.validate import check_bundle, overlap_warnings
from stemdm.evidence.vocab import REVIEW_OUTCOMES, DiabetesType
from stemdm.evidence.vocab import Inclusion as InclusionStatus
from stemdm.sanitize import term

app = typer.Typer(
    help="The evidence base: trials, outcome data, adverse events, published meta-analyses.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Piped output (files, CI logs) gets a wide table rather than rich's 80-column fallback.
console = Console(width=None if sys.stdout.isatty() else 180)
errors = Console(stderr=True, width=None if sys.stderr.isatty() else 180)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL or SQLite path (default: STEMDM_DB, else ~/.local/share/stemdm/evidence.sqlite).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
MAX_HISTORY_ROWS = 1_000_000


def _print_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=1, ensure_ascii=False, default=str))


def _fail_problems(problems: list[Problem], as_json: bool, context: str) -> None:
    problem_errors = [p for p in problems if p.severity == "error"]
    if as_json:
        _print_json({"ok": False, "context": context, "problems": [p.to_dict() for p in problems]})
    else:
        errors.print(
            f"[bold red]error:[/] {term(context)}: {len(problem_errors)} problem(s); nothing was changed",
            highlight=False,
        )
        for problem in problems:
            errors.print(f"  {term(str(problem))}", highlight=False)
    raise typer.Exit(code=2)


def _fail_usage(error: UsageError, as_json: bool) -> None:
    option = str(error).split(":", 1)[0]
    _fail_problems([Problem("option", None, "-", option, None, str(error))], as_json, "invalid option")


def _load(db: str | None, as_json: bool, *, strict: bool = True) -> EvidenceBundle:
    """The store's records; stored records that fail the current rules are listed (exit 2) unless not
    ``strict`` (export, so that they can be corrected)."""
    store = _open(db, as_json)
    try:
        return store.load(strict=strict)
    except EvidenceError as error:
        _fail_problems(error.problems, as_json, str(error).splitlines()[0])
    raise AssertionError("unreachable")


def _open(db: str | None, as_json: bool, *, bootstrap: bool = True) -> Store:
    try:
        store = Store.open(db, bootstrap=bootstrap)
    except EvidenceError as error:
        _fail_problems(error.problems, as_json, "cannot open the evidence store")
    announce_bundled_update(store, errors)
    return store


def announce_bundled_update(store: Store, to: Console, lang: str = "en") -> None:
    """The one line saying what opening ``store`` did to its bundled evidence (on stderr; nothing when it
    did nothing), with every conflict and problem below it."""
    update = store.bundled_update
    line = update.summary(lang) if update is not None else None
    if line is None:
        return
    to.print(f"[yellow]{term(line)}[/]", highlight=False)
    for detail in [*update.conflicts, *(str(p) for p in update.problems)][:20]:
        to.print(f"  {term(detail)}", highlight=False)


def _footer(trial_ids: set[str] | None = None) -> None:
    """The dataset's caveats (those concerning the trials shown) and the not-medical-advice line."""
    for caveat in bundled_caveats():
        if trial_ids is None or not caveat["trials"] or set(caveat["trials"]) & trial_ids:
            console.print(f"[yellow]caveat:[/] {term(caveat['text'])}", highlight=False)
    console.print(f"[dim]{NOT_MEDICAL_ADVICE}[/]")


def _dose(trial: Trial) -> str:
    if trial.dose_per_infusion is None:
        return "not reported"
    return f"{trial.dose_per_infusion:.3g} {trial.dose_unit}"


@app.command("list")
def list_trials(
    db: DbOption = None,
    as_json: JsonOption = False,
    diabetes_type: Annotated[str | None, typer.Option("--type", help="T1DM or T2DM")] = None,
    status: Annotated[str | None, typer.Option(help="included, excluded or uncertain")] = None,
) -> None:
    """The trials in the evidence base, with design, cells, route, dose, n and inclusion."""
    try:
        if diabetes_type is not None:
            diabetes_type = choice(diabetes_type, typing.get_args(DiabetesType), "--type")
        if status is not None:
            status = choice(status, typing.get_args(InclusionStatus), "--status")
    except UsageError as error:
        _fail_usage(error, as_json)
    bundle = _load(db, as_json)
    counts: dict[str, int] = {}
    for m in bundle["measurements"]:
        counts[m.trial_id] = counts.get(m.trial_id, 0) + 1
    arms = _arms_by_trial(bundle)
    trials = [
        t
        for t in bundle["trials"]
        if (diabetes_type is None or t.diabetes_type == diabetes_type)
        and (status is None or t.inclusion_status == status)
    ]
    if as_json:
        _print_json(
            {
                "trials": [
                    t.model_dump(mode="json")
                    | {"n_measurements": counts.get(t.trial_id, 0), "arms": arms.get(t.trial_id, [])}
                    for t in trials
                ],
                "caveats": bundled_caveats(),
                "disclaimer": NOT_MEDICAL_ADVICE,
            }
        )
        return
    table = Table(title=f"Trials ({len(trials)})")
    for column in (
        "trial",
        "type",
        "cells",
        "route",
        "dose/infusion",
        "n per arm",
        "follow-up",
        "inclusion",
        "numbers",
    ):
        table.add_column(column)
    for t in trials:
        n_arms = ", ".join(
            f"{a['arm_id']} {a['n_randomized'] if a['n_randomized'] is not None else '?'}"
            for a in arms.get(t.trial_id, [])
        )
        follow = f"{t.follow_up_weeks:g} wk" if t.follow_up_weeks is not None else "not reported"
        overlap = f" (overlaps {', '.join(t.overlaps_with)})" if t.overlaps_with else ""
        table.add_row(
            t.trial_id,
            t.diabetes_type,
            f"{t.cell_type} / {t.cell_source} / {t.donor}",
            t.route,
            _dose(t),
            n_arms,
            follow,
            term(t.inclusion_status + overlap),
            str(counts.get(t.trial_id, 0)),
        )
    console.print(table)
    _footer()


def _arms_by_trial(bundle: EvidenceBundle) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for arm in bundle["arms"]:
        out.setdefault(arm.trial_id, []).append(arm.model_dump(mode="json"))
    return out


@app.command()
def show(
    trial_id: Annotated[str, typer.Argument(help="Trial id, e.g. Zang2022")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """One trial: its record, arms, every outcome number with its flags and source, and its adverse events."""
    bundle = _load(db, as_json)
    trials = {t.trial_id: t for t in bundle["trials"]}
    if trial_id not in trials:
        _fail_problems(
            [
                Problem(
                    "trials",
                    None,
                    trial_id,
                    "trial_id",
                    trial_id,
                    f"no such trial; known: {', '.join(sorted(trials))}",
                )
            ],
            as_json,
            "show",
        )
    trial = trials[trial_id]
    parts = {
        kind: [r for r in bundle[kind] if getattr(r, "trial_id", None) == trial_id]
        for kind in ("arms", "measurements", "adverse_events")
    }
    warnings = [w for w in overlap_warnings(list(trials.values())) if trial_id in (w.key, w.value)]
    caveats = [c for c in bundled_caveats() if trial_id in c["trials"]]
    if as_json:
        _print_json(
            {
                "trial": trial.model_dump(mode="json"),
                **{k: [r.model_dump(mode="json") for r in v] for k, v in parts.items()},
                "warnings": [w.to_dict() for w in warnings],
                "caveats": caveats,
                "disclaimer": NOT_MEDICAL_ADVICE,
            }
        )
        return
    info = Table(title=f"{trial_id}", show_header=False)
    for name, value in trial.model_dump().items():
        if value not in (None, [], ""):
            info.add_row(name, term(str(value)))
    console.print(info)
    _measurement_table(parts["measurements"])
    if parts["adverse_events"]:
        events = Table(title="Adverse events")
        for column in ("arm", "event", "events / n", "time", "as reported"):
            events.add_column(column)
        for e in parts["adverse_events"]:
            events.add_row(
                e.arm_id,
                e.event_type,
                f"{e.events} / {e.n_at_risk}",
                term(e.timepoint_label),
                term(e.event_as_reported),
            )
        console.print(events)
    for warning in warnings:
        console.print(f"[yellow]warning:[/] {term(warning.why)}", highlight=False)
    _footer({trial_id} if caveats else set())


def _measurement_table(measurements: list) -> None:
    table = Table(title=f"Outcome numbers ({len(measurements)})")
    for column in ("outcome", "time", "arm", "n", "type", "statistic", "value", "unit", "flags"):
        table.add_column(column)
    for m in measurements:
        table.add_row(
            m.outcome_id,
            f"{m.timepoint_weeks:g} wk ({term(m.timepoint_label)})",
            m.arm_id,
            str(m.n) if m.n else "-",
            m.value_type,
            m.statistic,
            term(m.as_reported or ""),
            term(m.unit_as_reported or m.unit),
            ", ".join(m.flags),
        )
    console.print(table)


@app.command("coverage")
def coverage_command(
    db: DbOption = None,
    as_json: JsonOption = False,
    all_outcomes: Annotated[
        bool, typer.Option("--all", help="Also outcomes the seed review does not pool.")
    ] = False,
) -> None:
    """Which trial reports which outcome at which time (weeks -> review months), with statistic and flags."""
    cells = coverage(_load(db, as_json))
    if not all_outcomes:
        cells = [c for c in cells if c.outcome_id in REVIEW_OUTCOMES or c.outcome_id.startswith("ae:")]
    if as_json:
        _print_json({"coverage": [c.to_dict() for c in cells], "disclaimer": NOT_MEDICAL_ADVICE})
        return
    table = Table(title="Coverage: what each trial reports (time in weeks -> review window)")
    for column in (
        "trial",
        "type",
        "outcome",
        "time",
        "window",
        "arms",
        "statistic",
        "value type",
        "unit",
        "flags",
    ):
        table.add_column(column)
    for c in cells:
        window = f"{c.review_months:g} mo" if c.review_months is not None else "-"
        window = "baseline" if c.timepoint_weeks == 0 else window
        arms = ", ".join(c.arms) + ("" if c.between_arm else " (no between-arm pair)")
        table.add_row(
            c.trial_id,
            c.diabetes_type,
            c.outcome_id,
            f"{c.timepoint_weeks:g} wk",
            window,
            arms,
            ", ".join(c.statistics),
            ", ".join(c.value_types),
            ", ".join(c.units),
            ", ".join(c.flags),
        )
    console.print(table)
    _footer()


def _read(
    file: Path, revman_map: Path | None, store: Store | None, as_json: bool
) -> tuple[EvidenceBundle, list]:
    try:
        if revman_map is not None or file.suffix.lower() == ".rm5":
            if revman_map is None:
                raise EvidenceError(
                    [
                        Problem(
                            "file",
                            None,
                            str(file),
                            "--revman-map",
                            None,
                            "a RevMan file needs --revman-map MAP.toml (outcome ids, units, times)",
                        )
                    ]
                )
            known = {t.trial_id for t in store.load(strict=False)["trials"]} if store else set()
            return read_revman(file, revman_map, known)
        return read_any(file)
    except EvidenceError as error:
        _fail_problems(error.problems, as_json, f"cannot read {file}")
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        why = f"{type(error).__name__}: {str(error)[:300]}"
        _fail_problems([Problem("file", None, str(file), "file", None, why)], as_json, f"cannot read {file}")
    raise AssertionError("unreachable")


StrictOption = Annotated[
    bool,
    typer.Option("--strict", help="A file, sheet or key that is not read is an error, not a warning."),
]


def _strict(problems: list[Problem], strict: bool) -> list[Problem]:
    """With --strict, every 'not read' warning (a file, sheet or JSON key that was skipped) is an error."""
    if not strict:
        return problems
    return [
        Problem(p.record_type, p.row, p.key, p.field, p.value, p.why, "error") if p.field == NOT_READ else p
        for p in problems
    ]


RevmanOption = Annotated[
    Path | None,
    typer.Option(
        "--revman-map",
        help="TOML mapping for a RevMan .rm5 file or data-package CSV (see stemdm.evidence.revman).",
    ),
]


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="CSV (or folder of CSVs), JSON, .xlsx or RevMan file")],
    db: DbOption = None,
    as_json: JsonOption = False,
    revman_map: RevmanOption = None,
    strict: StrictOption = False,
) -> None:
    """Check a file against the schema and against the store (references, n, follow-up, duplicates, overlaps)
    without changing anything. Exit code 2 when there is any error; every file, sheet or key not read is
    named (an error with --strict)."""
    store = _open(db, as_json)
    bundle, problems = _read(file, revman_map, store, as_json)
    problems = _strict(problems, strict)
    problems += check_bundle(bundle, store.load(strict=False))
    if any(p.severity == "error" for p in problems):
        _fail_problems(problems, as_json, f"{file} is not valid")
    if as_json:
        _print_json({"ok": True, "counts": bundle.count(), "problems": [p.to_dict() for p in problems]})
        return
    console.print(f"[green]valid:[/] {term(str(file))}: {bundle.count()}")
    for problem in problems:
        console.print(f"[yellow]{term(str(problem))}[/]", highlight=False)


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="CSV (or folder of CSVs), JSON, .xlsx or RevMan file")],
    db: DbOption = None,
    as_json: JsonOption = False,
    revman_map: RevmanOption = None,
    strict: StrictOption = False,
) -> None:
    """Import a file in one transaction: all rows or none; re-importing the same file changes nothing. Every
    file, sheet or key not read is named (with --strict, nothing is imported then)."""
    store = _open(db, as_json)
    bundle, problems = _read(file, revman_map, store, as_json)
    problems = _strict(problems, strict)
    try:
        report = store.import_bundle(bundle, str(file), problems)
    except EvidenceError as error:
        _fail_problems(error.problems, as_json, f"import of {file}")
    if as_json:
        _print_json({"ok": True} | report.to_dict())
        return
    console.print(
        f"imported {term(str(file))} into {term(redact(store.url))}: {report.inserted} new, "
        f"{report.updated} updated, {report.unchanged} unchanged"
    )
    for warning in report.warnings:
        console.print(f"[yellow]{term(str(warning))}[/]", highlight=False)


@app.command()
def export(
    fmt: Annotated[str, typer.Option("--format", help="csv (a folder), json or xlsx")] = "csv",
    out: Annotated[
        Path | None, typer.Option("--out", help="Output path (default: evidence-export[.json|.xlsx])")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Export the whole evidence base (round-trips through import unchanged)."""
    try:
        fmt = choice(fmt, ("csv", "json", "xlsx"), "--format")
        target = out or Path("evidence-export" + ("" if fmt == "csv" else f".{fmt}"))
        output_path(target, "--out", folder=fmt == "csv", suffixes=() if fmt == "csv" else (f".{fmt}",))
    except UsageError as error:
        _fail_usage(error, as_json)
    try:
        paths = write_any(_load(db, as_json, strict=False), target, fmt)
    except OSError as error:
        _fail_problems([Problem("export", None, "-", "--out", str(target), str(error))], as_json, "export")
    if as_json:
        _print_json({"ok": True, "format": fmt, "paths": [str(p) for p in paths]})
    else:
        console.print(f"wrote {', '.join(term(str(p)) for p in paths)}")


@app.command()
def history(
    db: DbOption = None,
    as_json: JsonOption = False,
    limit: Annotated[int, typer.Option(help="Most recent audit rows to show (1 to 1,000,000)")] = 50,
    since_import: Annotated[int | None, typer.Option(help="Only changes after this import id")] = None,
) -> None:
    """What changed, when and from which source (one audit row per new record or changed field)."""
    try:
        number(limit, "--limit", low=1, high=MAX_HISTORY_ROWS, integer=True)
        if since_import is not None:
            number(since_import, "--since-import", low=0, high=2**62, integer=True)
    except UsageError as error:
        _fail_usage(error, as_json)
    store = _open(db, as_json)
    rows = store.history(limit=limit, since_import=since_import)
    if as_json:
        _print_json({"imports": store.imports(), "changes": rows})
        return
    imports = Table(title="Imports")
    for column in ("id", "at", "source", "new", "updated", "unchanged"):
        imports.add_column(column)
    for row in store.imports():
        imports.add_row(
            str(row["id"]),
            str(row["at"])[:19],
            term(row["source"]),
            str(row["inserted"]),
            str(row["updated"]),
            str(row["unchanged"]),
        )
    console.print(imports)
    changes = Table(title=f"Changes (latest {limit})")
    for column in ("import", "record", "key", "action", "field", "old", "new"):
        changes.add_column(column)
    for row in rows:
        changes.add_row(
            str(row["import_id"]),
            row["record_type"],
            term(row["natural_key"]),
            row["action"],
            row["field"] or "",
            term((row["old_value"] or "")[:40]),
            term((row["new_value"] or "")[:40]),
        )
    console.print(changes)


@app.command()
def status(db: DbOption = None, as_json: JsonOption = False) -> None:
    """The store (password hidden), its schema version, the bundled evidence it follows, records per type
    (bundled and yours) and the last change. Changes no record: a pending update of the bundled evidence is
    shown, and made by the next ordinary command (the schema is migrated on open, as by every command)."""
    report = _open(db, as_json, bootstrap=False).status()
    if as_json:
        _print_json(report)
        return
    bundled, schema = report["bundled"], report["schema"]
    console.print(f"store: {term(report['store'])}", highlight=False)
    console.print(
        f"schema: {schema['revision']}" + ("" if schema["current"] else f" (newest {schema['newest']})"),
        highlight=False,
    )
    which = (
        "older_unrecorded" if bundled["status"] == "older" and not bundled["follows"] else bundled["status"]
    )
    console.print(f"bundled evidence: {_BUNDLED_STATUS[which].format(**bundled)}", highlight=False)
    table = Table(title="Records")
    for column in ("type", "total", "bundled", "yours"):
        table.add_column(column, justify="left" if column == "type" else "right")
    for kind, counts in report["records"].items():
        table.add_row(kind, str(counts["total"]), str(counts["bundled"]), str(counts["yours"]))
    console.print(table)
    last = report["last_change"]
    console.print(
        "last change: "
        + ("none" if last is None else f"{last['at'][:19]} {term(last['source'])} ({last['action']} "
                                       f"{last['record_type']} {term(last['natural_key'])})"),
        highlight=False,
    )  # fmt: skip


_BUNDLED_STATUS = {
    "current": "{follows}, this stemdm's (recorded {recorded_at})",
    "older_unrecorded": "made by a release before 0.2.0 (its version was not recorded), older than this "
    "stemdm's {this_stemdm}; the next command that opens the store brings it up to date (your own records "
    "are kept)",
    "older": "older than this stemdm's {this_stemdm} (follows: {follows}); the next command that opens the "
    "store brings it up to date (your own records are kept)",
    "newer": "{follows}, from a newer stemdm than this one ({this_stemdm}): left as it is",
    "none": "none (a store of your own records; the bundled evidence is not loaded into it)",
}


@app.command()
def template(
    out: Annotated[Path, typer.Option("--out", help="Folder for the empty CSV templates")] = Path(
        "templates"
    ),
) -> None:
    """Write empty CSV templates, one per record type; the header comment lists fields and allowed values."""
    try:
        output_path(out, "--out", folder=True)
        paths = write_csv_dir(EvidenceBundle(), out)
    except UsageError as error:
        _fail_usage(error, False)
    except OSError as error:
        _fail_problems([Problem("template", None, "-", "--out", str(out), str(error))], False, "template")
    for path in paths:
        console.print(f"wrote {term(str(path))}")
