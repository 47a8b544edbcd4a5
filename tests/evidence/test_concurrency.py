"""Writers at once, on SQLite and PostgreSQL, through the command users type (``stemdm evidence import``) in
separate processes: no update is lost, the audit chain is unbroken (each update's old value is the previous
one's new value), a new store is set up exactly once, and readers are not blocked by a writer."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

from tests.evidence.helpers import small_bundle

from stemdm.evidence.bundled import BUNDLED_SOURCE
from stemdm.evidence.formats import write_any
from stemdm.evidence.store import Store

WRITERS = 4
KEY = "Test2024/hba1c/52/msc/final/%/False"


def _cli(*args: str) -> subprocess.Popen:
    code = "from stemdm.cli import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finish(processes: list[subprocess.Popen], timeout: float = 240) -> list[tuple[int, str, str]]:
    """Exit code, stdout and stderr of each process (communicate drains the pipes: waiting first would
    deadlock once an output outgrows the pipe buffer)."""
    results = []
    for p in processes:
        out, err = p.communicate(timeout=timeout)
        results.append((p.returncode, out, err))
    return results


def test_concurrent_updates_of_one_record_keep_every_change(store_url, tmp_path):
    store = Store.open(store_url, bootstrap=False)
    store.import_bundle(small_bundle(), "original.json")
    files = []
    for i in range(WRITERS):
        path = tmp_path / f"update{i}.json"
        write_any(small_bundle(mean=round(6.0 + i / 10, 1)), path, "json")
        files.append(path)
    results = _finish([_cli("evidence", "import", str(f), "--db", store_url, "--json") for f in files])
    for code, out, err in results:
        assert code == 0, err
        assert json.loads(out)["updated"] == 1  # each one changed the value the previous one left
    chain = [
        row
        for row in reversed(store.history())
        if row["natural_key"] == KEY and row["action"] == "update" and row["field"] == "mean"
    ]
    assert len(chain) == WRITERS
    assert chain[0]["old_value"] == "7.1"
    for before, after in zip(chain, chain[1:], strict=False):
        assert after["old_value"] == before["new_value"], chain
    final = next(m for m in store.load()["measurements"] if m.natural_key() == KEY)
    assert json.dumps(final.mean) == chain[-1]["new_value"]
    assert len({row["new_value"] for row in chain}) == WRITERS


def test_new_store_opened_by_many_processes_is_set_up_once(store_url):
    results = _finish([_cli("evidence", "list", "--db", store_url, "--json") for _ in range(WRITERS)])
    for code, _out, err in results:
        assert code == 0, err
    assert [i["source"] for i in Store.open(store_url).imports()] == [BUNDLED_SOURCE]


def test_same_file_imported_at_once_is_inserted_once(store_url, tmp_path):
    Store.open(store_url, bootstrap=False)
    path = tmp_path / "same.json"
    write_any(small_bundle(), path, "json")
    results = _finish([_cli("evidence", "import", str(path), "--db", store_url, "--json") for _ in range(3)])
    reports = []
    for code, out, err in results:
        assert code == 0, err
        reports.append(json.loads(out))
    assert sorted(r["inserted"] for r in reports) == [0, 0, 4]
    assert sorted(r["unchanged"] for r in reports) == [0, 4, 4]


def test_readers_are_not_blocked_by_a_writer(store_url):
    store = Store.open(store_url)
    holding, release = threading.Event(), threading.Event()

    def hold_write_lock() -> None:
        with store._writing():
            holding.set()
            release.wait(60)

    writer = threading.Thread(target=hold_write_lock)
    writer.start()
    try:
        assert holding.wait(30)
        # the writer holds its lock for up to 60 s; a reader that waited for it would time out here
        code, out, err = _finish([_cli("evidence", "list", "--db", store_url, "--json")], timeout=30)[0]
        assert code == 0, err
        assert json.loads(out)["trials"]
    finally:
        release.set()
        writer.join()
