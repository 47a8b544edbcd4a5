"""Backup and restore of a whole workbench: the database (evidence, accounts, extractions, reconciliations,
both audit trails, runs) and the data folder's signing key and run files.

- SQLite: the online backup API (``sqlite3.Connection.backup``), a consistent copy even while the server
  writes; a plain ``cp`` of a live store misses what is still in its write-ahead log.
- PostgreSQL: ``pg_dump --format=custom`` / ``pg_restore --clean`` when the client tools are installed (the
  password goes through ``PGPASSWORD``, never on a command line or screen); else the commands to run.
- A backup is a folder: ``store.sqlite`` or ``store.pgdump``, ``secret_key`` (0600), ``jobs/`` and
  ``manifest.json`` (stemdm version, schema revision, when, counts per table).
- Restore refuses to overwrite a SQLite file or a data folder that holds runs unless ``force``; the data
  folder's ``jobs/`` is moved aside, never merged, so a restored run id can never show another run's files
  (runs made since 0.2.0 are also named by a random run key).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, func, select
from sqlalchemy.engine import make_url

from stemdm import __version__

MANIFEST = "manifest.json"


class BackupError(ValueError):
    """A backup or restore that cannot be done, with what to do."""


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    return Path(parsed.database) if parsed.get_backend_name() == "sqlite" and parsed.database else None


def _counts(engine) -> dict[str, int]:
    reflected = MetaData()
    reflected.reflect(engine)
    with engine.connect() as connection:
        return {
            name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in sorted(reflected.tables.items())
        }


def backup(store, data_dir: Path, target: Path) -> dict[str, Any]:
    """Write a backup of ``store`` (an open :class:`stemdm.evidence.store.Store`) and ``data_dir`` into the
    new folder ``target``. Returns the manifest."""
    from stemdm.db.migrate import current_revision

    if target.exists() and any(target.iterdir()):
        raise BackupError(f"{target}: not empty; give a new folder for the backup")
    target.mkdir(parents=True, exist_ok=True, mode=0o700)
    source = _sqlite_path(store.url)
    if source is not None:
        with sqlite3.connect(source) as live, sqlite3.connect(target / "store.sqlite") as copy:
            live.backup(copy)  # pages copied under SQLite's own locking: the WAL's content included
        database = "store.sqlite"
    else:
        _pg(["pg_dump", "--format=custom", "--no-owner", f"--file={target / 'store.pgdump'}"], store.url)
        database = "store.pgdump"
    key = data_dir / "secret_key"
    if key.is_file():
        shutil.copyfile(key, target / "secret_key")
        os.chmod(target / "secret_key", 0o600)
    if (data_dir / "jobs").is_dir():
        shutil.copytree(data_dir / "jobs", target / "jobs")
    with store.engine.connect() as connection:
        revision = current_revision(connection)
    manifest = {
        "stemdm_version": __version__, "schema_revision": revision, "at": datetime.now(UTC).isoformat()[:19],
        "database": database, "signing_key": key.is_file(), "run_folders": (data_dir / "jobs").is_dir(),
        "counts": _counts(store.engine),
    }  # fmt: skip
    (target / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def restore(source: Path, url: str, data_dir: Path, force: bool = False) -> dict[str, Any]:
    """Restore the backup folder ``source`` into the database at ``url`` and the data folder ``data_dir``.
    Returns the backup's manifest. The store is migrated to this stemdm's schema when it is next opened."""
    manifest_path = source / MANIFEST
    if not manifest_path.is_file():
        raise BackupError(f"{source}: no {MANIFEST}; not a stemdm backup folder")
    manifest = json.loads(manifest_path.read_text())
    target = _sqlite_path(url)
    if manifest["database"] == "store.sqlite":
        if target is None:
            raise BackupError("--db: a SQLite backup restores into a SQLite file (give a path)")
        if target.exists() and target.stat().st_size and not force:
            raise BackupError(f"{target}: exists; restore into a new file, or give --force to replace it")
        target.parent.mkdir(parents=True, exist_ok=True)
        # the backup API writes through SQLite (its WAL and locks included), so an open store stays sound
        with sqlite3.connect(source / "store.sqlite") as saved, sqlite3.connect(target) as live:
            saved.backup(live)
    else:
        if target is not None:
            raise BackupError("--db: a PostgreSQL backup restores into a PostgreSQL database (give its URL)")
        if not force:
            raise BackupError("restoring replaces every table of the database; give --force to do it")
        _pg(["pg_restore", "--clean", "--if-exists", "--no-owner", str(source / "store.pgdump")], url)
    _restore_data(source, data_dir, force)
    return manifest


def _restore_data(source: Path, data_dir: Path, force: bool) -> None:
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    jobs = data_dir / "jobs"
    if jobs.is_dir() and any(jobs.iterdir()):
        if not force:
            raise BackupError(f"{jobs}: holds run files; give --force to move them aside and restore")
        jobs.rename(data_dir / f"jobs.before-restore-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}")
    if (source / "jobs").is_dir():
        shutil.copytree(source / "jobs", jobs)
    if (source / "secret_key").is_file():
        key = data_dir / "secret_key"
        key.unlink(missing_ok=True)
        shutil.copyfile(source / "secret_key", key)
        os.chmod(key, 0o600)


def _pg(command: list[str], url: str) -> None:
    """Run a PostgreSQL client tool on ``url`` with the password in the environment only."""
    parsed = make_url(url)
    if shutil.which(command[0]) is None:
        raise BackupError(
            f"{command[0]} is not installed (Debian: postgresql-client); run it yourself: "
            f"PGPASSWORD=... {command[0]} {' '.join(command[1:])} --dbname={parsed.database} "
            f"--host={parsed.host} --port={parsed.port or 5432} --username={parsed.username}"
        )
    env = os.environ | {"PGPASSWORD": parsed.password or ""}
    full = [*command, f"--host={parsed.host or 'localhost'}", f"--port={parsed.port or 5432}",
            f"--username={parsed.username}", f"--dbname={parsed.database}"]  # fmt: skip
    done = subprocess.run(full, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        if parsed.password:
            last = last.replace(parsed.password, "***")
        raise BackupError(f"{command[0]} failed: {last}")
