"""Background runs of reviews and in-silico trials (issue 12).

- A run is validated in the request (a protocol with the CLI's messages; a ``TrialDesign`` with its field
  names), stored as a ``jobs`` row (queued), and handed to a process pool on this machine (``spawn``: a clean
  interpreter per worker, no inherited database connections). A simulation uses the Dask scheduler at
  ``STEMDM_DASK_SCHEDULER`` when one is configured (the CLI's ``--scheduler`` path).
- The worker opens the store itself, marks the job running, reports progress (0-1, at most twice a second),
  writes its files under ``<data dir>/jobs/<id>/`` and stores the JSON the CLI's ``--json`` prints; a failure
  is stored as a one-line reason (never a traceback) and shown in the page.
- Every run has its own folder, named by a random run key (ids can repeat after a store is restored), cleared
  when the run is submitted; its files are served only once it is done.
- Restarts and crashes: a worker marks its run running only if it is still queued (so a run submitted twice
  runs once) and beats its heartbeat every ``HEARTBEAT_S`` (a thread, whatever the run is doing). When a
  server starts, runs left queued are submitted again; a watchdog thread fails, with the reason, every run
  left running without a heartbeat for ``STALE_AFTER`` (its server or worker was killed). A pool whose
  worker was killed (``BrokenProcessPool``) is replaced and its unfinished runs are failed, saying so; the
  therapy arm's child process of a large trial dies with its worker (``sim.trial._die_with_parent``), so the
  pool always learns of the death.
- A queued or running run can be cancelled (page button, API, ``stemdm runs cancel``); the worker stops at
  its next progress report.
- A review run keeps its protocol, the evidence store's version (newest audit id) and its time, so two runs
  can be compared: rows added, removed or changed, with the protocol differences and the evidence records
  changed between the two versions as the reasons.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import multiprocessing
import os
import secrets
import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Engine

from stemdm.evidence.store import Store, audit_table, write_transaction
from stemdm.meta.report import json_safe
from stemdm.web.accounts import User
from stemdm.web.tables import jobs, users

KINDS = ("review", "simulation")
#: most runs waiting or running at once per server process (absurd loads are refused, not queued forever)
MAX_PENDING = 20
PROGRESS_EVERY_S = 0.5
#: a run still queued or running this long after it was started was lost (server restarted, worker killed)
LOST_AFTER = timedelta(hours=6)
#: a worker beats its run's heartbeat this often (seconds), whatever the run is doing
HEARTBEAT_S = 10.0
#: a running run whose worker gave no sign of life for this long was lost (server or worker killed)
STALE_AFTER = timedelta(seconds=60)
#: how often a server looks for lost runs (seconds)
WATCHDOG_S = 15.0


class JobError(ValueError):
    """A run that cannot be started (too many waiting)."""


class CancelledError(Exception):
    """The run was cancelled while it ran."""


def job_dir(data_dir: Path, job_id: int, run_key: str | None = None) -> Path:
    """A run's folder: ``jobs/<run key>`` (runs made before run keys: ``jobs/<id>``)."""
    return data_dir / "jobs" / (run_key if run_key else str(int(job_id)))


def folder_of(data_dir: Path, job: dict[str, Any]) -> Path:
    return job_dir(data_dir, job["id"], job.get("run_key"))


class JobRunner:
    """The process pool that runs jobs for one server process."""

    def __init__(self, db_url: str, data_dir: Path, workers: int = 2, engine: Engine | None = None) -> None:
        self.db_url, self.data_dir, self.workers = db_url, data_dir, workers
        self.pool = self._new_pool()
        self.running: dict[int, concurrent.futures.Future] = {}
        self._stop = threading.Event()
        if engine is not None:
            self.recover(engine)
            self._watchdog = threading.Thread(target=self._watch, args=(engine,), daemon=True)
            self._watchdog.start()

    def _watch(self, engine: Engine) -> None:
        while not self._stop.wait(WATCHDOG_S):
            with contextlib.suppress(Exception):  # a database hiccup must not end the watchdog
                self.reap(engine)

    def reap(self, engine: Engine) -> list[int]:
        """Fail the runs whose worker gave no sign of life for ``STALE_AFTER`` (killed with its server, or
        stopped); returns their ids. The pool is left as it is: its other runs may be healthy (a worker that
        dies breaks the pool, and that is handled where the pool says so)."""
        cutoff = datetime.now(UTC) - STALE_AFTER
        with engine.connect() as connection:
            running = connection.execute(
                select(jobs.c.id, jobs.c.heartbeat_at, jobs.c.started_at).where(jobs.c.status == "running")
            ).all()
        lost = [r.id for r in running if _older(r.heartbeat_at or r.started_at, cutoff)]
        fail_unfinished(engine, lost, f"its worker stopped (no sign of life for {STALE_AFTER.seconds} s); "
                        "start it again")  # fmt: skip
        return lost

    def _new_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        return concurrent.futures.ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn")
        )

    def submit(self, engine: Engine, user: User, kind: str, params: dict[str, Any], lang: str) -> int:
        """Queue a validated run; returns its id."""
        if kind not in KINDS:
            raise JobError(f"kind: {kind!r}")
        mark_lost(engine)
        run_key = secrets.token_hex(8)
        with write_transaction(engine) as connection:
            pending = connection.execute(
                select(func.count()).where(jobs.c.status.in_(("queued", "running")))
            ).scalar_one()
            if pending >= MAX_PENDING:
                raise JobError(f"{pending} runs are waiting or running; try again when some have finished")
            version = connection.execute(select(func.max(audit_table.c.id))).scalar()
            job_id = connection.execute(
                insert(jobs).values(
                    kind=kind, status="queued", progress=0.0, params=json.dumps(params, ensure_ascii=False),
                    lang=lang, data_version=version, created_by=user.id, created_at=datetime.now(UTC),
                    run_key=run_key,
                )
            ).inserted_primary_key[0]  # fmt: skip
        folder = job_dir(self.data_dir, job_id, run_key)
        shutil.rmtree(folder, ignore_errors=True)  # never another run's files under this run
        self._dispatch(engine, job_id, kind, folder)
        return job_id

    def _dispatch(self, engine: Engine, job_id: int, kind: str, folder: Path) -> None:
        target = _run_review if kind == "review" else _run_simulation
        try:
            future = self.pool.submit(target, self.db_url, job_id, str(folder))
        except concurrent.futures.process.BrokenProcessPool:
            self._replace_pool(engine)
            future = self.pool.submit(target, self.db_url, job_id, str(folder))
        self.running[job_id] = future
        future.add_done_callback(lambda done, job_id=job_id: self._finished(engine, job_id, done))

    def _finished(self, engine: Engine, job_id: int, future: concurrent.futures.Future) -> None:
        self.running.pop(job_id, None)
        if not future.cancelled() and isinstance(
            future.exception(), concurrent.futures.process.BrokenProcessPool
        ):
            fail_unfinished(engine, [job_id], "its worker process was stopped (killed or out of memory)")

    def _replace_pool(self, engine: Engine) -> None:
        """A pool whose worker died accepts nothing more: fail the runs it held, start a new one."""
        lost = list(self.running)
        self.running.clear()
        fail_unfinished(engine, lost, "its worker process was stopped (killed or out of memory)")
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = self._new_pool()

    def recover(self, engine: Engine) -> dict[str, list[int]]:
        """At server start: fail runs left running with no heartbeat for ``STALE_AFTER``, and submit the runs
        left queued again (a worker runs a queued run once, however many servers submit it)."""
        now = datetime.now(UTC)
        with engine.connect() as connection:
            left = connection.execute(
                select(jobs.c.id, jobs.c.kind, jobs.c.status, jobs.c.run_key, jobs.c.heartbeat_at,
                       jobs.c.started_at).where(jobs.c.status.in_(("queued", "running")))
            ).mappings().all()  # fmt: skip
        stale = [j["id"] for j in left if j["status"] == "running"
                 and _older(j["heartbeat_at"] or j["started_at"], now - STALE_AFTER)]  # fmt: skip
        fail_unfinished(engine, stale, "the server stopped while it ran; start it again")
        queued = [j for j in left if j["status"] == "queued"]
        for job in queued:
            self._dispatch(engine, job["id"], job["kind"], job_dir(self.data_dir, job["id"], job["run_key"]))
        return {"failed": stale, "resubmitted": [j["id"] for j in queued]}

    def shutdown(self) -> None:
        self._stop.set()
        self.pool.shutdown(wait=False, cancel_futures=True)


def cancel(engine: Engine, job_id: int, by: User) -> bool:
    """Cancel a queued or running run (its worker stops at its next progress report); False when it had
    already ended."""
    with write_transaction(engine) as connection:
        return bool(connection.execute(
            update(jobs).where(jobs.c.id == job_id, jobs.c.status.in_(("queued", "running")))
            .values(status="cancelled", error=f"cancelled by {by.name}", finished_at=datetime.now(UTC))
        ).rowcount)  # fmt: skip


def fail_unfinished(engine: Engine, job_ids: list[int], why: str) -> None:
    if not job_ids:
        return
    with write_transaction(engine) as connection:
        connection.execute(
            update(jobs).where(jobs.c.id.in_(job_ids), jobs.c.status.in_(("queued", "running")))
            .values(status="failed", error=why, finished_at=datetime.now(UTC))
        )  # fmt: skip


def _older(at: datetime | None, cutoff: datetime) -> bool:
    if at is None:
        return True
    return (at if at.tzinfo else at.replace(tzinfo=UTC)) < cutoff


def mark_lost(engine: Engine, now: datetime | None = None) -> int:
    """Runs still queued or running ``LOST_AFTER`` after they started are marked failed, saying why (their
    process is gone: a server restart or a killed worker), so no page waits for them forever and they stop
    counting against ``MAX_PENDING``. Returns how many."""
    cutoff = (now or datetime.now(UTC)) - LOST_AFTER
    with write_transaction(engine) as connection:
        return connection.execute(
            update(jobs)
            .where(jobs.c.status.in_(("queued", "running")), jobs.c.created_at < cutoff)
            .values(status="failed", error=f"no result {LOST_AFTER} after it started: the run was lost "
                    "(server restarted or worker stopped); start it again", finished_at=datetime.now(UTC))
        ).rowcount  # fmt: skip


def get(engine: Engine, job_id: int) -> dict[str, Any] | None:
    with engine.connect() as connection:
        row = connection.execute(
            select(jobs, users.c.name.label("user")).join(users, users.c.id == jobs.c.created_by)
            .where(jobs.c.id == job_id)
        ).mappings().first()  # fmt: skip
    return None if row is None else _as_dict(row)


def listing(engine: Engine, kind: str, limit: int = 50) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(jobs, users.c.name.label("user")).join(users, users.c.id == jobs.c.created_by)
            .where(jobs.c.kind == kind).order_by(jobs.c.id.desc()).limit(limit)
        ).mappings().all()  # fmt: skip
    return [_as_dict(r) for r in rows]


def api_view(job: dict[str, Any]) -> dict[str, Any]:
    """What ``GET /api/<kind>s/{id}`` returns: status, progress and, when done, the CLI's JSON."""
    out = {"id": job["id"], "kind": job["kind"], "status": job["status"], "progress": job["progress"]}
    if job["status"] == "done":
        out["result"] = job["result"]
    if job["status"] in ("failed", "cancelled"):
        out["error"] = job["error"]
    return out


#: numbers compared between two review runs' result rows
COMPARED = ("k", "n", "estimate", "ci_lb", "ci_ub", "certainty")


def compare(engine: Engine, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Two finished review runs side by side: result rows added, removed or changed (and which numbers),
    with the reasons the data give: protocol settings that differ, and the evidence records changed between
    the two runs' evidence versions (the store's audit trail)."""

    def rows(job: dict[str, Any]) -> dict[tuple, dict[str, Any]]:
        return {(r["outcome"], r["timepoint_months"], r["subgroup"]): r for r in job["result"]["results"]}

    first, second = rows(a), rows(b)
    changes = []
    for key in sorted(set(first) | set(second), key=str):
        old, new = first.get(key), second.get(key)
        if old is None or new is None:
            changes.append(
                {"key": key, "change": "added" if old is None else "removed", "old": old, "new": new}
            )
            continue
        fields = [f for f in COMPARED if not _same(old.get(f), new.get(f))]
        if fields:
            changes.append({"key": key, "change": "changed", "fields": fields, "old": old, "new": new})
    low, high = sorted((a["data_version"] or 0, b["data_version"] or 0))
    with engine.connect() as connection:
        records = connection.execute(
            select(audit_table.c.record_type, audit_table.c.natural_key, audit_table.c.action,
                   audit_table.c.field, audit_table.c.source)
            .where(audit_table.c.id > low, audit_table.c.id <= high).order_by(audit_table.c.id).limit(500)
        ).mappings().all()  # fmt: skip
    return {
        "rows": changes,
        "protocol": _flat_differences(a["params"].get("protocol"), b["params"].get("protocol")),
        "evidence": [dict(r) for r in records],
        "same_data": low == high,
    }


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, float) and isinstance(y, float):
        return abs(x - y) <= 1e-9 * max(1.0, abs(x), abs(y))
    return x == y


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out |= _flat(inner, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(value, list):
        out = {}
        for i, inner in enumerate(value):
            out |= _flat(inner, f"{prefix}[{i}]")
        return out
    return {prefix: value}


def _flat_differences(a: Any, b: Any) -> list[dict[str, Any]]:
    """Protocol settings that differ (None: the bundled protocol)."""
    from stemdm.review.protocol import load_protocol

    bundled = load_protocol().model_dump(mode="json")
    left, right = _flat(a if a is not None else bundled), _flat(b if b is not None else bundled)
    return [{"setting": k, "a": left.get(k), "b": right.get(k)}
            for k in sorted(set(left) | set(right)) if left.get(k) != right.get(k)]  # fmt: skip


def _as_dict(row) -> dict[str, Any]:
    data = dict(row)
    data["params"] = json.loads(data["params"])
    data["result"] = json.loads(data["result"]) if data["result"] else None
    return data


# -- the workers (run in pool processes) ------------------------------------------------------


class _Progress:
    """Writes a job's progress at most every PROGRESS_EVERY_S seconds."""

    def __init__(self, engine: Engine, job_id: int) -> None:
        self.engine, self.job_id, self.last = engine, job_id, 0.0

    def __call__(self, share: float) -> None:
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY_S:
            self.last = now
            with write_transaction(self.engine) as connection:
                moved = connection.execute(
                    update(jobs).where(jobs.c.id == self.job_id, jobs.c.status == "running")
                    .values(progress=min(max(float(share), 0.0), 0.99), heartbeat_at=datetime.now(UTC))
                ).rowcount  # fmt: skip
            if not moved:  # cancelled (or failed by a restarting server): stop here
                raise CancelledError(f"run {self.job_id} is no longer running")


def _start(db_url: str, job_id: int) -> tuple[Store, dict[str, Any]]:
    """Mark the run running if it is still queued (else :class:`CancelledError`: cancelled, or already
    taken by another submission of the same run)."""
    store = Store(db_url)
    now = datetime.now(UTC)
    with write_transaction(store.engine) as connection:
        claimed = connection.execute(
            update(jobs).where(jobs.c.id == job_id, jobs.c.status == "queued")
            .values(status="running", started_at=now, heartbeat_at=now, progress=0.0)
        ).rowcount  # fmt: skip
    if not claimed:
        raise CancelledError(f"run {job_id} is not queued")
    job = get(store.engine, job_id)
    assert job is not None
    return store, job


class _Heartbeat:
    """In a worker: beats the run's heartbeat every ``HEARTBEAT_S`` while the run executes, also through
    steps that report no progress (figures, the report), so a server can tell a slow run from a lost one."""

    def __init__(self, engine: Engine, job_id: int) -> None:
        self.engine, self.job_id, self.stop = engine, job_id, threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop.set()

    def _beat(self) -> None:
        while not self.stop.wait(HEARTBEAT_S):
            with contextlib.suppress(Exception), write_transaction(self.engine) as connection:
                connection.execute(
                    update(jobs).where(jobs.c.id == self.job_id, jobs.c.status == "running")
                    .values(heartbeat_at=datetime.now(UTC))
                )  # fmt: skip


def _finish(store: Store, job_id: int, result: dict[str, Any]) -> None:
    payload = json.dumps(json_safe(result), ensure_ascii=False)
    with write_transaction(store.engine) as connection:
        connection.execute(
            update(jobs).where(jobs.c.id == job_id, jobs.c.status == "running")
            .values(status="done", progress=1.0, result=payload, finished_at=datetime.now(UTC))
        )  # fmt: skip


def _fail(db_url: str, job_id: int, error: BaseException) -> None:
    if isinstance(error, CancelledError):
        return  # its status already says why
    why = f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"[:500]
    with write_transaction(Store(db_url).engine) as connection:
        connection.execute(
            update(jobs).where(jobs.c.id == job_id, jobs.c.status.in_(("queued", "running")))
            .values(status="failed", error=why, finished_at=datetime.now(UTC))
        )  # fmt: skip


def _run_review(db_url: str, job_id: int, out: str) -> None:
    try:
        from stemdm.review.cli import review_json
        from stemdm.review.protocol import load_protocol, protocol_from_dict
        from stemdm.review.report import write_report
        from stemdm.review.run import run_review

        store, job = _start(db_url, job_id)
        with _Heartbeat(store.engine, job_id):
            raw = job["params"].get("protocol")
            protocol = load_protocol() if raw is None else protocol_from_dict(raw, "protocol")
            review = run_review(store.load(strict=False), protocol, progress=_Progress(store.engine, job_id))
            write_report(review, Path(out), lang=job["lang"])
            _finish(store, job_id, review_json(review))
    except Exception as error:  # any failure becomes the job's stated reason
        _fail(db_url, job_id, error)


def _run_simulation(db_url: str, job_id: int, out: str) -> None:
    try:
        store, job = _start(db_url, job_id)
        with _Heartbeat(store.engine, job_id):
            _simulate(store, job, job_id, Path(out))
    except Exception as error:  # any failure becomes the job's stated reason
        _fail(db_url, job_id, error)


#: posterior draws a workbench simulation summarises over (the answer shown first; stemdm simulate's default)
WEB_POSTERIOR_DRAWS = 40


def _posterior_summary(design, tick) -> dict[str, Any] | None:
    """The true between-arm MD over posterior draws (median, 95 % interval), or None without a posterior."""
    from stemdm.sim.predict import predictive

    done = [0]

    def draw(n: int) -> None:
        done[0] += n
        tick(0.5 + 0.3 * done[0] / WEB_POSTERIOR_DRAWS)

    try:
        return predictive(design, None, WEB_POSTERIOR_DRAWS, progress=draw)
    except FileNotFoundError:
        return None


def _simulate(store: Store, job: dict[str, Any], job_id: int, folder: Path) -> None:
    """A simulation run's work (in a worker, inside its heartbeat): the trial, responders, figures, JSON."""
    from stemdm.i18n import figure_language
    from stemdm.sim.parameters import default_parameters
    from stemdm.sim.plots import responder_plot, trajectory_plot
    from stemdm.sim.responders import responder_analysis
    from stemdm.sim.trial import TrialDesign, run_trial

    design = TrialDesign.model_validate(job["params"]["design"])
    total = 2 * (design.weeks * 7 + 1)
    tick = _Progress(store.engine, job_id)
    done = [0.0]

    def days(n: float) -> None:
        done[0] += n
        tick(0.5 * done[0] / total)  # then the posterior draws (0.5-0.8) and the figures

    scheduler = os.environ.get("STEMDM_DASK_SCHEDULER") or None
    result = run_trial(
        design, default_parameters(), scheduler=scheduler, progress=None if scheduler else days
    )
    folder.mkdir(parents=True, exist_ok=True)
    table = responder_analysis(design, max(200, min(2 * design.patients_per_arm, 2000)))
    table.to_csv(folder / "responders.csv", index=False)
    with figure_language(job["lang"]):  # labels in the language of the page that started the run
        trajectory_plot(result, folder / "trajectories.png")
        responder_plot(table, folder / "responders.png")
    payload = result.to_dict() | {"posterior": _posterior_summary(design, tick)}
    (folder / "result.json").write_text(json.dumps(json_safe(payload), ensure_ascii=False), encoding="utf-8")
    _finish(store, job_id, payload)
