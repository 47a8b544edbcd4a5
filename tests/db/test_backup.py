"""`stemdm db backup` / `stemdm db restore` (issue 19): the whole workbench (evidence, accounts, extractions,
reconciliations, audit, runs, signing key, run files) round-trips; a SQLite backup includes what is still in
the write-ahead log; restore refuses to overwrite without --force and never mixes run folders."""

from __future__ import annotations

import json
import os
import shutil
import stat

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from stemdm.cli import app as cli
from stemdm.evidence.store import Store
from stemdm.web import accounts
from stemdm.web import extraction as ex
from stemdm.web.tables import extractions, users, web_audit

RECORD = {"trial_id": "Zang2022", "outcome_id": "hba1c", "timepoint_weeks": 24, "timepoint_label": "24 w",
          "arm_id": "msc", "n": 40, "value_type": "final", "statistic": "mean_sd", "mean": 7.9, "sd": 1.0,
          "unit": "%", "source_url": "https://example.org/fulltext", "locator": "Table 2"}  # fmt: skip
runner = CliRunner()


def _count(engine, table) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def test_a_sqlite_workbench_round_trips(tmp_path, monkeypatch):
    data, db = tmp_path / "data", tmp_path / "store.sqlite"
    monkeypatch.setenv("STEMDM_DATA_DIR", str(data))
    store = Store.open(db)
    accounts.add_user(store.engine, "alice", "reviewer", "copper meadow falcon 72")
    key = accounts.secret_key(data)
    (data / "jobs" / "abc123").mkdir(parents=True)
    (data / "jobs" / "abc123" / "report.html").write_text("<p>run</p>")
    alice = accounts.find_user(store.engine, "alice")
    ex.save(store.engine, store, alice, RECORD)  # still in the WAL: the pool keeps its connection open
    live_copy = tmp_path / "cp.sqlite"
    shutil.copyfile(db, live_copy)  # what `cp` of a live store gives
    target = tmp_path / "backup"
    done = runner.invoke(cli, ["db", "backup", str(target), "--db", str(db)])
    assert done.exit_code == 0, done.output
    assert "1 accounts, 1 extractions" in " ".join(done.output.split())
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["counts"]["extractions"] == 1 and manifest["signing_key"]
    assert stat.S_IMODE((target / "secret_key").stat().st_mode) == 0o600

    restored_data, restored_db = tmp_path / "data2", tmp_path / "restored.sqlite"
    monkeypatch.setenv("STEMDM_DATA_DIR", str(restored_data))
    back = runner.invoke(cli, ["db", "restore", str(target), "--db", str(restored_db)])
    assert back.exit_code == 0, back.output
    restored = Store.open(restored_db)
    assert _count(restored.engine, extractions) == 1 and _count(restored.engine, users) == 1
    assert _count(restored.engine, web_audit) == _count(store.engine, web_audit)
    assert accounts.verify_password(restored.engine, "alice", "copper meadow falcon 72") is not None
    assert accounts.secret_key(restored_data) == key
    assert (restored_data / "jobs" / "abc123" / "report.html").read_text() == "<p>run</p>"
    assert restored.load().count() == store.load().count()


def test_restore_refuses_to_overwrite_without_force_and_moves_runs_aside(tmp_path, monkeypatch):
    data, db = tmp_path / "data", tmp_path / "store.sqlite"
    monkeypatch.setenv("STEMDM_DATA_DIR", str(data))
    Store.open(db)
    accounts.secret_key(data)
    target = tmp_path / "backup"
    assert runner.invoke(cli, ["db", "backup", str(target), "--db", str(db)]).exit_code == 0
    (data / "jobs" / "1").mkdir(parents=True)
    (data / "jobs" / "1" / "report.html").write_text("a later run")
    refused = runner.invoke(cli, ["db", "restore", str(target), "--db", str(db)])
    assert refused.exit_code == 2 and "--force" in refused.output
    forced = runner.invoke(cli, ["db", "restore", str(target), "--db", str(db), "--force"])
    assert forced.exit_code == 0, forced.output
    assert not (data / "jobs" / "1").exists()  # never mixed with the restored runs ...
    aside = [p for p in data.iterdir() if p.name.startswith("jobs.before-restore-")]
    assert aside and (aside[0] / "1" / "report.html").read_text() == "a later run"  # ... nor lost
    assert runner.invoke(cli, ["db", "backup", str(target), "--db", str(db)]).exit_code == 2  # not empty


def test_a_folder_that_is_not_a_backup_is_refused(tmp_path):
    result = runner.invoke(cli, ["db", "restore", str(tmp_path), "--db", str(tmp_path / "x.sqlite")])
    assert result.exit_code == 2 and "not a stemdm backup" in result.output


def test_a_postgresql_workbench_round_trips(tmp_path, monkeypatch):
    from tests.conftest import PG_URL, empty_postgres

    if not PG_URL or shutil.which("pg_dump") is None:
        pytest.skip("no PostgreSQL server or client tools (CI has both)")
    url = empty_postgres()
    monkeypatch.setenv("STEMDM_DATA_DIR", str(tmp_path / "data"))
    store = Store.open(url)
    accounts.add_user(store.engine, "alice", "reviewer", "copper meadow falcon 72")
    target = tmp_path / "backup"
    done = runner.invoke(cli, ["db", "backup", str(target), "--db", url])
    assert done.exit_code == 0, done.output
    assert (
        "stemdm" not in done.output.split("@")[0]
        or "***" in done.output
        or "stemdm:stemdm" not in done.output
    )
    store.engine.dispose()
    empty_postgres()
    back = runner.invoke(cli, ["db", "restore", str(target), "--db", url, "--force"])
    assert back.exit_code == 0, back.output
    restored = Store.open(url)
    assert accounts.find_user(restored.engine, "alice") is not None
    restored.engine.dispose()
    os.environ.pop("PGPASSWORD", None)
