"""Reviews, in-silico trials and the planner from the workbench and the API (issue 12): background runs
with progress, the CLI's JSON as the result, 422 naming the field, role boundaries, files and comparison."""

from __future__ import annotations

import time

from stemdm.web import accounts
from tests.web.conftest import client_for, csrf_of

SMALL = {"patients_per_arm": 12, "weeks": 8, "visits": [0, 8], "infusions": 1, "seed": 3}


def _token(app, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {accounts.new_token(app.state.engine, name)}"}


def _wait(client, path: str, headers: dict[str, str], seconds: float = 240) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = client.get(path, headers=headers).json()
        assert 0 <= state["progress"] <= 1
        if state["status"] in ("done", "failed"):
            return state
        time.sleep(0.5)
    raise AssertionError(f"{path} did not finish")


def test_api_runs_a_simulation_and_a_review_with_the_clis_json(app):
    client = client_for(app, None)
    headers = _token(app, "alice")
    started = client.post("/api/simulations", json=SMALL, headers=headers)
    assert started.status_code == 202 and started.json()["status"] == "queued"
    review = client.post("/api/reviews", json={}, headers=headers)
    assert review.status_code == 202
    simulation = _wait(client, f"/api/simulations/{started.json()['id']}", headers)
    assert simulation["status"] == "done", simulation
    assert {"design", "arms", "effects", "responders"} <= set(simulation["result"])
    assert simulation["result"]["design"]["patients_per_arm"] == 12
    done = _wait(client, f"/api/reviews/{review.json()['id']}", headers)
    assert done["status"] == "done", done
    assert {"results", "skipped", "disclaimer"} <= set(done["result"]) and done["result"]["results"]
    assert (
        client.get(f"/api/reviews/{started.json()['id']}", headers=headers).status_code == 404
    )  # a simulation


def test_api_refuses_bad_designs_and_protocols_naming_the_field(app):
    client = client_for(app, None)
    headers = _token(app, "alice")
    for design, field in (
        (SMALL | {"dose": -1}, "dose"), (SMALL | {"pathway": "gene"}, "pathway"),
        (SMALL | {"patients_per_arm": 10**9}, "patients_per_arm"), (SMALL | {"colour": 1}, "colour"),
    ):  # fmt: skip
        response = client.post("/api/simulations", json=design, headers=headers)
        assert response.status_code == 422 and any(d["field"] == field for d in response.json()["detail"]), (
            field
        )
    bad = client.post("/api/reviews", json={"protocol": {"title": "x"}}, headers=headers)
    assert bad.status_code == 422 and any(d["field"] == "outcomes" for d in bad.json()["detail"])
    assert client.post("/api/reviews", json={"lang": "fr"}, headers=headers).status_code == 422


def test_roles_for_runs(app):
    client = client_for(app, None)
    assert client.post("/api/simulations", json=SMALL).status_code == 401
    assert client.get("/api/simulations/1").status_code == 401
    viewer = _token(app, "vic")
    assert client.post("/api/simulations", json=SMALL, headers=viewer).status_code == 403
    assert client.post("/api/reviews", json={}, headers=viewer).status_code == 403
    vic = client_for(app, "vic")
    page = vic.get("/simulations")
    assert page.status_code == 200 and 'id="simulation-form"' not in page.text
    assert vic.post("/simulations", data={"csrf_token": csrf_of(page.text)}).status_code == 403
    assert vic.get("/planner").status_code == 200


def test_pages_run_compare_and_serve_only_their_files(app):
    ada = client_for(app, "ada")
    page = ada.get("/reviews")
    started = [
        ada.post("/reviews", data={"csrf_token": csrf_of(page.text), "protocol": "bundled", "lang": lang},
                 files={"protocol_file": ("", b"")}, follow_redirects=False)
        for lang in ("en", "zh")
    ]  # fmt: skip
    ids = [int(r.headers["location"].rsplit("/", 1)[1]) for r in started]
    headers = _token(app, "ada")
    for job_id in ids:
        assert _wait(ada, f"/api/reviews/{job_id}", headers)["status"] == "done"
    shown = ada.get(f"/reviews/{ids[0]}")
    assert "report.html" in shown.text and "<iframe" in shown.text
    report = ada.get(f"/reviews/{ids[0]}/files/report.html")
    assert report.status_code == 200 and "frame-ancestors 'self'" in report.headers["content-security-policy"]
    assert ada.get(f"/reviews/{ids[0]}/files/results.json").status_code == 200
    figure = next(
        line for line in shown.text.split('href="') if line.startswith(f"/reviews/{ids[0]}/files/figures/")
    )
    png = ada.get(figure.split('"')[0])
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    for name in ("../../secret_key", "figures/../../../secret_key", "params.json", "figures/x.txt"):
        assert ada.get(f"/reviews/{ids[0]}/files/{name}").status_code in (404, 422), name  # never served
    compared = ada.get(f"/reviews/compare?a={ids[0]}&b={ids[1]}")
    assert compared.status_code == 200 and "The evidence did not change between the runs." in compared.text
    upload = ada.post("/reviews", data={"csrf_token": csrf_of(page.text), "protocol": "upload", "lang": "en"},
                      files={"protocol_file": ("p.toml", b"title = 3\n")})  # fmt: skip
    assert upload.status_code == 422 and "p.toml" in upload.text and "title" in upload.text


def test_simulation_page_refuses_an_absurd_design_before_it_starts(app):
    ada = client_for(app, "ada")
    page = ada.get("/simulations")
    form = {"csrf_token": csrf_of(page.text), "pathway": "msc", "dose": "2e6", "weeks": "8", "visits": "0,8",
            "infusions": "1", "patients_per_arm": "12", "insulin_treated": "on"}  # fmt: skip
    refused = ada.post("/simulations", data=form)
    assert refused.status_code == 422 and "dose" in refused.text  # 2e6 x 1e6 cells/kg
    started = ada.post("/simulations", data=form | {"dose": "1"}, follow_redirects=False)
    assert started.status_code == 303
    job_id = int(started.headers["location"].rsplit("/", 1)[1])
    assert _wait(ada, f"/api/simulations/{job_id}", _token(app, "ada"))["status"] == "done"
    shown = ada.get(f"/simulations/{job_id}").text
    assert "trajectories.png" in shown and "responders.png" in shown
    assert ada.get(f"/simulations/{job_id}/files/trajectories.png").headers["content-type"] == "image/png"


def test_a_lost_run_is_marked_failed_and_stops_blocking(app):
    """A run whose process vanished (server restart) would stay queued forever and count against the limit:
    after LOST_AFTER it is failed with the reason, and new runs are accepted again."""
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from stemdm.web import jobs
    from stemdm.web.tables import jobs as jobs_table

    engine = app.state.engine
    ada = accounts.find_user(engine, "ada")
    old = datetime.now(UTC) - jobs.LOST_AFTER * 2
    with engine.begin() as connection:
        for _ in range(jobs.MAX_PENDING):
            connection.execute(insert(jobs_table).values(
                kind="simulation", status="queued", progress=0.0, params='{"design": {}}', lang="en",
                created_by=ada.id, created_at=old,
            ))  # fmt: skip
    client = client_for(app, None)
    started = client.post("/api/simulations", json=SMALL, headers=_token(app, "ada"))
    assert started.status_code == 202  # the stale ones no longer count
    lost = client.get("/api/simulations/1", headers=_token(app, "ada")).json()
    assert lost["status"] == "failed" and "lost" in lost["error"]
