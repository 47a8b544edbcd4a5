"""The job runner survives what a server meets (issue 19): absurd designs refused before they start (API and
CLI, naming the fields), runs cancelled from the API and the page, runs left queued or running by a stopped
server resubmitted or failed with the reason on start, a pool whose worker was killed replaced with its
runs failed, run folders keyed by a run key and files served only for finished runs."""

from __future__ import annotations

import concurrent.futures
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select, update
from typer.testing import CliRunner

from stemdm.cli import app as cli
from stemdm.web import accounts, jobs
from stemdm.web.tables import jobs as jobs_table
from tests.web.conftest import client_for, csrf_of

SMALL = {"patients_per_arm": 12, "weeks": 8, "visits": [0, 8], "infusions": 1, "seed": 3}
ABSURD = {"patients_per_arm": 100_000, "weeks": 520, "infusions": 100, "interval_weeks": 5,
          "visits": list(range(0, 520, 3))}  # fmt: skip


def _token(app, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {accounts.new_token(app.state.engine, name)}"}


def _wait(client, path: str, headers: dict[str, str], until=("done", "failed", "cancelled"), seconds=240):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = client.get(path, headers=headers).json()
        if state["status"] in until:
            return state
        time.sleep(0.3)
    raise AssertionError(f"{path} did not reach {until}")


def test_an_absurd_design_is_refused_naming_the_fields(app):
    client = client_for(app, None)
    response = client.post("/api/simulations", json=ABSURD, headers=_token(app, "alice"))
    assert response.status_code == 422
    assert {"patients_per_arm"} <= {d["field"] for d in response.json()["detail"]}, response.json()
    result = CliRunner().invoke(cli, ["simulate", "--patients", "100000", "--weeks", "520",
                                      "--visits", "0,520", "--infusions", "1"])  # fmt: skip
    assert result.exit_code == 2 and "patient-weeks" in " ".join(result.output.split())


def test_a_run_is_cancelled_from_the_api(app):
    client = client_for(app, None)
    headers = _token(app, "alice")
    long_run = SMALL | {"patients_per_arm": 2000, "weeks": 104, "visits": [0, 52, 104]}
    started = client.post("/api/simulations", json=long_run, headers=headers).json()
    path = f"/api/simulations/{started['id']}"
    assert client.post(f"{path}/cancel", headers=_token(app, "bob")).status_code == 403  # not bob's run
    cancelled = client.post(f"{path}/cancel", headers=headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    time.sleep(2)  # the worker stops at its next progress report; the status stays cancelled
    final = client.get(path, headers=headers).json()
    assert final["status"] == "cancelled" and "alice" in final["error"]


def test_a_run_is_cancelled_from_its_page_and_files_only_come_when_done(app):
    alice = client_for(app, "alice")
    headers = _token(app, "alice")
    started = alice.post("/api/simulations", json=SMALL | {"patients_per_arm": 2000, "weeks": 104},
                         headers=headers).json()  # fmt: skip
    page = alice.get(f"/simulations/{started['id']}").text
    assert "Cancel this run" in page
    assert alice.get(f"/simulations/{started['id']}/files/result.json").status_code == 404  # not done
    done = alice.post(f"/simulations/{started['id']}/cancel", data={"csrf_token": csrf_of(page)})
    assert done.status_code == 200 and "The run was cancelled" in done.text


def test_runs_left_by_a_stopped_server_are_resubmitted_or_failed_on_start(app):
    engine = app.state.engine
    alice = accounts.find_user(engine, "alice")
    now = datetime.now(UTC)
    params = '{"design": ' + __import__("json").dumps(SMALL) + "}"
    with engine.begin() as connection:
        stale = connection.execute(insert(jobs_table).values(
            kind="simulation", status="running", progress=0.4, params=params, lang="en", created_by=alice.id,
            created_at=now - timedelta(hours=1), started_at=now - timedelta(hours=1),
            heartbeat_at=now - timedelta(hours=1), run_key="stale0000000000",
        )).inserted_primary_key[0]  # fmt: skip
        queued = connection.execute(insert(jobs_table).values(
            kind="simulation", status="queued", progress=0.0, params=params, lang="en", created_by=alice.id,
            created_at=now - timedelta(minutes=5), run_key="queued000000000",
        )).inserted_primary_key[0]  # fmt: skip
    restarted = jobs.JobRunner(app.state.store.url, app.state.data_dir, workers=1)
    try:
        assert restarted.recover(engine) == {"failed": [stale], "resubmitted": [queued]}
        assert "server stopped" in jobs.get(engine, stale)["error"]
        client = client_for(app, None)
        done = _wait(client, f"/api/simulations/{queued}", _token(app, "alice"))
        assert done["status"] == "done", done
        assert (app.state.data_dir / "jobs" / "queued000000000" / "result.json").is_file()
    finally:
        restarted.shutdown()


def test_a_run_submitted_twice_runs_once(app):
    engine = app.state.engine
    alice = accounts.find_user(engine, "alice")
    job_id = app.state.runner.submit(engine, alice, "simulation", {"design": SMALL}, "en")
    again = app.state.runner  # a second server resubmitting the same queued run
    again._dispatch(
        engine, job_id, "simulation", jobs.folder_of(app.state.data_dir, jobs.get(engine, job_id))
    )
    client = client_for(app, None)
    assert _wait(client, f"/api/simulations/{job_id}", _token(app, "alice"))["status"] == "done"
    time.sleep(1)
    assert jobs.get(engine, job_id)["status"] == "done"  # the second worker found it taken, changed nothing


def test_a_broken_pool_is_replaced_and_its_runs_failed(app):
    engine, runner = app.state.engine, app.state.runner
    alice = accounts.find_user(engine, "alice")
    job_id = runner.submit(engine, alice, "simulation", {"design": SMALL | {"patients_per_arm": 3000}}, "en")
    for process in list(runner.pool._processes.values()):  # what an OOM killer does
        process.kill()
    deadline = time.monotonic() + 60
    while jobs.get(engine, job_id)["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.3)
    lost = jobs.get(engine, job_id)
    assert lost["status"] == "failed" and "worker process was stopped" in lost["error"]
    after = runner.submit(engine, alice, "simulation", {"design": SMALL}, "en")  # the pool works again
    client = client_for(app, None)
    assert _wait(client, f"/api/simulations/{after}", _token(app, "alice"))["status"] == "done"
    assert isinstance(runner.pool, concurrent.futures.ProcessPoolExecutor)


def test_run_folders_are_keyed_and_cleared(app):
    engine = app.state.engine
    alice = accounts.find_user(engine, "alice")
    job_id = app.state.runner.submit(engine, alice, "simulation", {"design": SMALL}, "en")
    with engine.connect() as connection:
        key = connection.execute(select(jobs_table.c.run_key).where(jobs_table.c.id == job_id)).scalar_one()
    assert key and len(key) == 16
    assert jobs.folder_of(app.state.data_dir, jobs.get(engine, job_id)).name == key
    with engine.begin() as connection:  # a run made before run keys keeps its id folder
        connection.execute(update(jobs_table).where(jobs_table.c.id == job_id).values(run_key=None))
    assert jobs.folder_of(app.state.data_dir, jobs.get(engine, job_id)).name == str(job_id)


def test_runs_are_listed_and_cancelled_from_the_command_line(app, store_url):
    engine = app.state.engine
    alice = accounts.find_user(engine, "alice")
    long_run = {"design": SMALL | {"patients_per_arm": 3000, "weeks": 104}}
    job_id = app.state.runner.submit(engine, alice, "simulation", long_run, "en")
    runner = CliRunner()
    assert f"simulation #{job_id}" in runner.invoke(cli, ["runs", "list", "--db", store_url]).output
    done = runner.invoke(cli, ["runs", "cancel", str(job_id), "--db", store_url])
    assert done.exit_code == 0 and jobs.get(engine, job_id)["status"] == "cancelled"
    again = runner.invoke(cli, ["runs", "cancel", str(job_id), "--db", store_url])
    assert again.exit_code == 2 and "already ended" in again.output
    assert runner.invoke(cli, ["runs", "cancel", "99999", "--db", store_url]).exit_code == 2


def test_a_run_whose_worker_stops_beating_is_failed_without_a_restart(app):
    engine = app.state.engine
    alice = accounts.find_user(engine, "alice")
    now = datetime.now(UTC)
    params = '{"design": ' + __import__("json").dumps(SMALL) + "}"
    with engine.begin() as connection:  # its server was killed a minute and a half ago and restarted since
        lost = connection.execute(insert(jobs_table).values(
            kind="simulation", status="running", progress=0.3, params=params, lang="en", created_by=alice.id,
            created_at=now - timedelta(minutes=3), started_at=now - timedelta(minutes=3),
            heartbeat_at=now - timedelta(seconds=90), run_key="lostlostlostlost",
        )).inserted_primary_key[0]  # fmt: skip
    assert app.state.runner.reap(engine) == [lost]
    assert "no sign of life" in jobs.get(engine, lost)["error"]


def test_killing_the_worker_of_a_two_process_run_fails_it(app):
    """A trial large enough to run its therapy arm in a forked child: the child dies with the worker, so the
    pool sees the death (before, the orphan held the worker's pipes and the run stayed 'running')."""
    engine, runner = app.state.engine, app.state.runner
    alice = accounts.find_user(engine, "alice")
    big = {"design": SMALL | {"patients_per_arm": 1500, "weeks": 104, "visits": [0, 104]}}
    job_id = runner.submit(engine, alice, "simulation", big, "en")
    deadline = time.monotonic() + 120
    while (jobs.get(engine, job_id)["progress"] < 0.01) and time.monotonic() < deadline:
        time.sleep(0.3)
    for process in list(runner.pool._processes.values()):
        process.kill()
    deadline = time.monotonic() + 60
    while jobs.get(engine, job_id)["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.3)
    lost = jobs.get(engine, job_id)
    assert lost["status"] == "failed" and "worker process was stopped" in lost["error"], lost
