"""``stemdm serve``, ``stemdm db upgrade`` and ``stemdm users add|token``.

The store is ``--db URL`` (or a SQLite path), else ``STEMDM_DB``, else the per-user SQLite file; the server's
secret key lives in the data directory (``STEMDM_DATA_DIR``, default ``~/.local/share/stemdm``). Passwords
come from ``STEMDM_PASSWORD`` or a hidden prompt and are never printed.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from stemdm.evidence.cli import announce_bundled_update
from stemdm.evidence.errors import EvidenceError
from stemdm.evidence.store import Store, normalize_url, redact
from stemdm.sanitize import term
from stemdm.web import accounts
from stemdm.web.tables import ROLES

console = Console()
errors = Console(stderr=True)
DbOption = Annotated[
    str | None, typer.Option("--db", help="Database URL or SQLite path (default: STEMDM_DB)")
]

db_app = typer.Typer(help="The database: schema version, backup and restore.", no_args_is_help=True)
users_app = typer.Typer(help="Accounts of the web workbench.", no_args_is_help=True)
runs_app = typer.Typer(
    help="Background runs of the workbench (reviews, in-silico trials).", no_args_is_help=True
)


def _fail(message: str) -> None:
    errors.print(f"[bold red]error:[/] {term(message)}", highlight=False)
    raise typer.Exit(code=2)


def _store(db: str | None) -> Store:
    try:
        store = Store.open(db)
    except EvidenceError as error:
        _fail(str(error.problems[0]) if error.problems else str(error))
    announce_bundled_update(store, errors)
    return store


@db_app.command("upgrade")
def upgrade(db: DbOption = None) -> None:
    """Migrate the store to the newest schema (a new store is created and loaded with the bundled evidence;
    a store made before migrations is completed and stamped first; nothing is lost)."""
    from stemdm.db.migrate import current_revision

    store = _store(db)
    with store.engine.connect() as connection:
        console.print(f"{term(redact(store.url))}: schema {current_revision(connection)}")


def _password() -> str:
    password = os.environ.get("STEMDM_PASSWORD")
    if password is None:
        if not sys.stdin.isatty():
            _fail("password: set STEMDM_PASSWORD or run in a terminal to be asked")
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@db_app.command("backup")
def backup_command(
    target: Annotated[Path, typer.Argument(help="A new folder for the backup")],
    db: DbOption = None,
) -> None:
    """Back up the whole workbench: the database (evidence, accounts, extractions, audit, runs; SQLite by its
    online backup API, PostgreSQL by pg_dump) and the data folder's signing key and run files."""
    from stemdm.db.backup import BackupError, backup

    store = _store(db)
    try:
        manifest = backup(store, accounts.data_dir(), target)
    except (BackupError, OSError, sqlite3.Error) as error:
        _fail(f"backup: {error}")
    tables = manifest["counts"]
    console.print(
        f"backed up {term(redact(store.url))} (schema {manifest['schema_revision']}) into "
        f"{term(str(target))}: "
        f"{tables.get('users', 0)} accounts, {tables.get('extractions', 0)} extractions, "
        f"{tables.get('audit', 0) + tables.get('web_audit', 0)} audit rows, {tables.get('jobs', 0)} runs"
    )


@db_app.command("restore")
def restore_command(
    source: Annotated[Path, typer.Argument(help="A folder written by `stemdm db backup`")],
    db: DbOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing store and move run files aside")
    ] = False,
) -> None:
    """Restore a backup into the store (--db) and the data folder (STEMDM_DATA_DIR); the store is then
    migrated to this stemdm's schema. Stop the server first."""
    from stemdm.db.backup import BackupError, restore
    from stemdm.evidence.store import default_url

    url = normalize_url(db or default_url())
    try:
        manifest = restore(source, url, accounts.data_dir(), force=force)
    except (BackupError, OSError, sqlite3.Error, KeyError, ValueError) as error:
        _fail(f"restore: {error}")
    store = _store(db)  # migrates the restored store to this stemdm's schema
    console.print(
        f"restored {term(str(source))} (made {manifest['at']} by stemdm {manifest['stemdm_version']}) into "
        f"{term(redact(store.url))}"
    )


@runs_app.command("list")
def list_runs(db: DbOption = None) -> None:
    """The newest runs of each kind: id, kind, status, progress, who started them, when."""
    from stemdm.web import jobs

    engine = _store(db).engine
    for kind in jobs.KINDS:
        for run in jobs.listing(engine, kind, limit=20):
            console.print(
                f"{kind} #{run['id']}: {run['status']} ({run['progress'] * 100:.0f} %), "
                f"by {term(run['user'])}, {str(run['created_at'])[:19]}"
                + (f" - {term(run['error'])}" if run["error"] else ""),
                highlight=False,
            )


@runs_app.command("cancel")
def cancel_run(run_id: int, db: DbOption = None) -> None:
    """Cancel a queued or running run (its worker stops at its next progress report)."""
    from stemdm.web import jobs

    engine = _store(db).engine
    if jobs.get(engine, run_id) is None:
        _fail(f"run: no run {run_id}")
    if not jobs.cancel(engine, run_id, accounts.User(0, "cli", "admin")):
        _fail(f"run: #{run_id} had already ended ({jobs.get(engine, run_id)['status']})")
    console.print(f"cancelled run #{run_id}")


@users_app.command("add")
def add(
    name: str,
    role: Annotated[str, typer.Option(help=f"one of {', '.join(ROLES)}")] = "reviewer",
    db: DbOption = None,
) -> None:
    """Add an account; the password comes from STEMDM_PASSWORD or a prompt (12-128 characters, not a common
    or guessable one)."""
    store = _store(db)
    try:
        user = accounts.add_user(store.engine, name, role, _password())
    except accounts.AccountError as error:
        _fail(str(error))
    console.print(f"added {term(user.name)} ({user.role})")


@users_app.command("token")
def token(
    name: str,
    db: DbOption = None,
    days: Annotated[int, typer.Option(help="Days the token is valid (1 to 3660)")] = accounts.TOKEN_DAYS,
) -> None:
    """Print a new API token for NAME (last line; shown once, only its hash is kept); it expires."""
    store = _store(db)
    try:
        value = accounts.new_token(store.engine, name, days)
    except accounts.AccountError as error:
        _fail(str(error))
    console.print(
        f"API token for {term(name)}, valid {days} days "
        "(send as 'Authorization: Bearer <token>'; shown once):"
    )
    typer.echo(value)


@users_app.command("list")
def list_accounts(
    db: DbOption = None, as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False
) -> None:
    """Every account: role, active, created, open sign-in sessions and live API tokens (no secrets)."""
    rows = accounts.list_users(_store(db).engine)
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
        return
    for row in rows:
        state = "active" if row["active"] else "deactivated"
        console.print(
            f"{term(row['name'])}  {row['role']}  {state}  created {row['created_at']}  "
            f"sessions {row['sessions']}  tokens {row['tokens']}",
            highlight=False,
        )


@users_app.command("deactivate")
def deactivate(name: str, db: DbOption = None) -> None:
    """Deactivate NAME: no sign-in, every session ended, every token revoked (their work stays)."""
    try:
        accounts.deactivate(_store(db).engine, name)
    except accounts.AccountError as error:
        _fail(str(error))
    console.print(f"deactivated {term(name)}: sessions ended, tokens revoked")


@users_app.command("passwd")
def passwd(name: str, db: DbOption = None) -> None:
    """Set NAME's password (STEMDM_PASSWORD or a prompt); every session of NAME ends."""
    try:
        accounts.set_password(_store(db).engine, name, _password())
    except accounts.AccountError as error:
        _fail(str(error))
    console.print(f"password of {term(name)} changed; their sign-in sessions ended")


@users_app.command("tokens")
def tokens(name: str, db: DbOption = None) -> None:
    """NAME's API tokens: id, created, expires, revoked (never the token itself)."""
    for row in accounts.tokens_of(_store(db).engine, name):
        state = f"revoked {row['revoked_at']}" if row["revoked_at"] else f"expires {row['expires_at']}"
        console.print(f"token {row['id']}: created {row['created_at']}, {state}", highlight=False)


@users_app.command("revoke")
def revoke(
    name: str,
    token_id: Annotated[
        int | None, typer.Option("--id", help="The token to revoke (default: all of NAME's)")
    ] = None,
    db: DbOption = None,
) -> None:
    """Revoke one API token of NAME (--id, from `stemdm users tokens`) or all of them."""
    try:
        count = accounts.revoke_token(_store(db).engine, name, token_id)
    except accounts.AccountError as error:
        _fail(str(error))
    console.print(f"revoked {count} token(s) of {term(name)}")


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    db: DbOption = None,
    workers: Annotated[
        int, typer.Option(help="uvicorn worker processes (a team: several, behind a proxy)")
    ] = 1,
    secure_cookies: Annotated[
        bool,
        typer.Option("--secure-cookies/--no-secure-cookies", help="Cookies only over HTTPS (behind TLS)"),
    ] = False,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Proxies whose X-Forwarded-For is believed (comma-separated addresses, e.g. 127.0.0.1 for a "
            "proxy on this machine); default none: the client is the peer address, so a forged header cannot "
            "dodge the sign-in limits"
        ),
    ] = None,
) -> None:
    """Serve the web workbench (migrating the store first; an empty store gets the bundled evidence)."""
    import uvicorn

    from stemdm.cli_checks import UsageError, number

    try:
        number(port, "--port", low=1, high=65535, integer=True)
        number(workers, "--workers", low=1, high=64, integer=True)
    except UsageError as error:
        _fail(str(error))
    store = _store(db)  # migrate once here, before any worker starts
    os.environ["STEMDM_DB"] = store.url
    os.environ["STEMDM_SECURE_COOKIES"] = "1" if secure_cookies else "0"
    try:
        accounts.secret_key()  # created once here, shared by the workers
    except accounts.AccountError as error:
        _fail(str(error))
    console.print(f"stemdm workbench on http://{host}:{port} (store {term(redact(store.url))})")
    trusted = [ip.strip() for ip in (forwarded_allow_ips or "").split(",") if ip.strip()]
    uvicorn.run(
        "stemdm.web.main:app", host=host, port=port, workers=workers, log_level="warning",
        proxy_headers=bool(trusted), forwarded_allow_ips=trusted or None,
    )  # fmt: skip
