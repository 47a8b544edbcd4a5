"""Pages that run things (issue 12): the review (bundled or uploaded protocol, background run, report in the
page, downloads, two runs compared), in-silico trials (design form, background run, figures and effects),
and the next-trial planner. Starting a run needs a reviewer or admin; anyone signed in reads the results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from pydantic import ValidationError

from stemdm.review.protocol import ProtocolError, protocol_from_text
from stemdm.web import jobs
from stemdm.web.app import evidence, forbidden, language, redirect, render, tr
from stemdm.web.pages import _signed_in, _writer_form

router = APIRouter(include_in_schema=False)
#: files of a run that may be downloaded (nothing else in its folder is served)
REVIEW_FILES = ("report.html", "results.json")
SIMULATION_FILES = ("trajectories.png", "responders.png", "responders.csv", "result.json")
#: the report is framed by the run's page: its own styles, no scripts, framed by this site only
REPORT_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; frame-ancestors 'self'"
DESIGN_FIELDS = (
    "pathway", "source", "route", "dose", "infusions", "interval_weeks", "weeks", "visits",
    "patients_per_arm", "hba1c", "hba1c_sd", "bmi", "duration_years", "diabetes_type", "titration", "seed",
)  # fmt: skip


# -- reviews ----------------------------------------------


@router.get("/reviews")
def reviews(request: Request) -> Response:
    user, refused = _signed_in(request)
    if refused:
        return refused
    return render(request, "reviews.html.j2", runs=jobs.listing(request.app.state.engine, "review"))


@router.post("/reviews")
async def start_review(request: Request) -> Response:
    user, form, refused = await _writer_form(request, multipart=True)
    if refused:
        return refused
    raw = None
    upload = form.get("protocol_file")
    text = await upload.read() if upload is not None and hasattr(upload, "read") else b""
    if form.get("protocol") == "upload":
        try:
            raw = protocol_from_text(
                text.decode("utf-8"), getattr(upload, "filename", "protocol") or "protocol"
            )
            raw = raw.model_dump(mode="json")
        except (ProtocolError, UnicodeDecodeError) as error:
            return render(request, "reviews.html.j2", status=422, error=str(error),
                          runs=jobs.listing(request.app.state.engine, "review"))  # fmt: skip
    lang = form.get("lang") if form.get("lang") in ("en", "zh", "both") else "both"
    try:
        job_id = request.app.state.runner.submit(
            request.app.state.engine, user, "review", {"protocol": raw}, lang
        )
    except jobs.JobError as error:
        return render(request, "reviews.html.j2", status=429, error=str(error),
                      runs=jobs.listing(request.app.state.engine, "review"))  # fmt: skip
    return redirect(f"/reviews/{job_id}")


@router.get("/reviews/compare")
def compare(request: Request, a: int, b: int) -> Response:
    user, refused = _signed_in(request)
    if refused:
        return refused
    engine = request.app.state.engine
    first, second = jobs.get(engine, a), jobs.get(engine, b)
    if not first or not second or first["kind"] != "review" or second["kind"] != "review":
        return render(request, "error.html.j2", status=404, message=tr(request, "No such run."))
    if first["status"] != "done" or second["status"] != "done":
        return render(
            request, "error.html.j2", status=409, message=tr(request, "Both runs must be finished.")
        )
    return render(request, "compare.html.j2", a=first, b=second, diff=jobs.compare(engine, first, second))


@router.get("/reviews/{job_id}")
def review_page(request: Request, job_id: int) -> Response:
    return _run_page(request, job_id, "review", "review.html.j2")


@router.get("/reviews/{job_id}/files/{name:path}")
def review_file(request: Request, job_id: int, name: str) -> Response:
    allowed = name in REVIEW_FILES or (name.startswith("figures/") and name.count("/") == 1
                                       and name.endswith((".png", ".svg")))  # fmt: skip
    response = _file(request, job_id, "review", name, allowed)
    if name == "report.html" and isinstance(response, FileResponse):
        response.headers["Content-Security-Policy"] = REPORT_CSP
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


# -- simulations ----------------------------------------------


@router.get("/simulations")
def simulations(request: Request) -> Response:
    user, refused = _signed_in(request)
    if refused:
        return refused
    return _simulations_page(request, {}, [])


def _simulations_page(request: Request, values: dict[str, str], errors: list[str], status: int = 200):
    from stemdm.sim.trial import TrialDesign

    defaults = TrialDesign().model_dump(mode="json")
    defaults["visits"] = ",".join(str(v) for v in defaults["visits"])
    shown = defaults | {k: v for k, v in values.items() if v != ""}
    return render(request, "simulations.html.j2", status=status, values=shown, errors=errors,
                  runs=jobs.listing(request.app.state.engine, "simulation"))  # fmt: skip


@router.post("/simulations")
async def start_simulation(request: Request) -> Response:
    from stemdm.sim.trial import TrialDesign, design_problems

    user, form, refused = await _writer_form(request)
    if refused:
        return refused
    raw: dict[str, Any] = {k: form[k] for k in DESIGN_FIELDS if form.get(k, "") != ""}
    raw["insulin_treated"] = form.get("insulin_treated") == "on"
    if "visits" in raw:
        raw["visits"] = [part.strip() for part in str(raw["visits"]).split(",") if part.strip()]
    try:
        design = TrialDesign.model_validate(raw)
    except ValidationError as error:
        problems = [f"{p['field']}: {p['why']}" for p in design_problems(error)]
        return _simulations_page(request, form, problems, status=422)
    try:
        job_id = request.app.state.runner.submit(
            request.app.state.engine,
            user,
            "simulation",
            {"design": design.model_dump(mode="json")},
            language(request),
        )
    except jobs.JobError as error:
        return _simulations_page(request, form, [str(error)], status=429)
    return redirect(f"/simulations/{job_id}")


@router.get("/simulations/{job_id}")
def simulation_page(request: Request, job_id: int) -> Response:
    return _run_page(request, job_id, "simulation", "simulation.html.j2")


@router.get("/simulations/{job_id}/files/{name}")
def simulation_file(request: Request, job_id: int, name: str) -> Response:
    return _file(request, job_id, "simulation", name, name in SIMULATION_FILES)


@router.post("/reviews/{job_id}/cancel")
async def cancel_review(request: Request, job_id: int) -> Response:
    return await _cancel(request, job_id, "review")


@router.post("/simulations/{job_id}/cancel")
async def cancel_simulation(request: Request, job_id: int) -> Response:
    return await _cancel(request, job_id, "simulation")


async def _cancel(request: Request, job_id: int, kind: str) -> Response:
    """Cancel a queued or running run (its author or an admin)."""
    user, form, refused = await _writer_form(request)
    if refused:
        return refused
    job = jobs.get(request.app.state.engine, job_id)
    if job is None or job["kind"] != kind:
        return render(request, "error.html.j2", status=404, message=tr(request, "No such run."))
    if user.role != "admin" and job["user"] != user.name:
        return forbidden(request, tr(request, "Only the run's author or an admin can cancel it."))
    jobs.cancel(request.app.state.engine, job_id, user)
    return redirect(f"/{kind}s/{job_id}")


# -- the next-trial planner ----------------------------------------------


@router.get("/planner")
def planner(request: Request, outcome: str = "") -> Response:
    user, refused = _signed_in(request)
    if refused:
        return refused
    plans = _plans(request)
    chosen = next((p for p in plans if p["outcome"] == outcome), plans[0] if plans else None)
    return render(request, "planner.html.j2", plans=plans, plan=chosen)


def _plans(request: Request) -> list[dict[str, Any]]:
    """The bundled protocol's next-trial sizes on the current evidence (recomputed when the store changes)."""
    from stemdm.review.protocol import load_protocol
    from stemdm.review.run import run_review

    bundle = evidence(request)
    cache = getattr(request.app.state, "plans", None)
    if cache is None or cache[0] is not bundle:
        review = run_review(bundle, load_protocol())
        request.app.state.plans = cache = (bundle, review.next_trials)
    return cache[1]


# -- shared ----------------------------------------------


def _run_page(request: Request, job_id: int, kind: str, template: str) -> Response:
    user, refused = _signed_in(request)
    if refused:
        return refused
    job = jobs.get(request.app.state.engine, job_id)
    if job is None or job["kind"] != kind:
        return render(request, "error.html.j2", status=404, message=tr(request, "No such run."))
    others = [
        r for r in jobs.listing(request.app.state.engine, kind) if r["id"] != job_id and r["status"] == "done"
    ]
    folder = jobs.folder_of(request.app.state.data_dir, job) / "figures"
    figures = sorted(p.name for p in folder.glob("*.png")) if folder.is_dir() else []
    return render(request, template, job=job, others=others, figures=figures,
                  params_json=json.dumps(job["params"], indent=1))  # fmt: skip


def _file(request: Request, job_id: int, kind: str, name: str, allowed: bool) -> Response:
    user, refused = _signed_in(request)
    if refused:
        return refused
    job = jobs.get(request.app.state.engine, job_id)
    if job is None or job["kind"] != kind or not allowed or job["status"] != "done" or "\x00" in name:
        return render(request, "error.html.j2", status=404, message=tr(request, "No such file."))
    folder = jobs.folder_of(request.app.state.data_dir, job).resolve()
    path = (folder / name).resolve()
    if folder not in path.parents or not path.is_file():
        return render(request, "error.html.j2", status=404, message=tr(request, "No such file."))
    return FileResponse(path, filename=Path(name).name if name.endswith((".json", ".csv")) else None)
