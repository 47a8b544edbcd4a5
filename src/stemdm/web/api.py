"""The JSON API (``/api/``; OpenAPI at ``/docs``): trials with provenance, and extractions.

Authentication: ``Authorization: Bearer <token>`` (``stemdm users token NAME``), or a signed-in session
plus the ``X-CSRF-Token`` header for writes. No credentials: 401; a viewer writing: 403; an invalid record:
422 naming each field (the evidence import's own validation); a stale update: 409.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response

from stemdm.web import accounts
from stemdm.web import extraction as ex
from stemdm.web.accounts import User
from stemdm.web.app import csrf_ok, evidence, forbidden, problems_json, session_user

router = APIRouter(prefix="/api", tags=["api"])


def _user(request: Request, writing: bool) -> User | Response:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        user = accounts.user_for_token(request.app.state.engine, header[7:].strip())
        if user is None:
            return JSONResponse({"detail": "unknown or revoked token"}, status_code=401)
        return user
    user = session_user(request)
    if user is None:
        return JSONResponse({"detail": "sign in or send Authorization: Bearer <token>"}, status_code=401)
    if writing and not csrf_ok(request, request.headers.get("x-csrf-token")):
        return forbidden(request, "missing or wrong X-CSRF-Token header")
    return user


@router.get("/trials")
def list_trials(request: Request) -> Any:
    """Every trial: id, citation, diabetes type, cell source and route, arms with randomized n."""
    user = _user(request, writing=False)
    if isinstance(user, Response):
        return user
    bundle = evidence(request)
    arms: dict[str, list[dict[str, Any]]] = {}
    for arm in bundle["arms"]:
        arms.setdefault(arm.trial_id, []).append(
            {"arm_id": arm.arm_id, "role": arm.role, "n": arm.n_randomized}
        )
    return [
        {"trial_id": t.trial_id, "citation": t.citation, "year": t.year, "diabetes_type": t.diabetes_type,
         "cell_source": t.cell_source, "route": t.route, "arms": arms.get(t.trial_id, [])}
        for t in bundle["trials"]
    ]  # fmt: skip


@router.get("/trials/{trial_id}")
def one_trial(request: Request, trial_id: str) -> Any:
    """A trial with its arms, measurements, contrasts and adverse events, each with source URL and locator."""
    user = _user(request, writing=False)
    if isinstance(user, Response):
        return user
    bundle = evidence(request)
    trial = next((t for t in bundle["trials"] if t.trial_id == trial_id), None)
    if trial is None:
        return JSONResponse({"detail": f"no trial {trial_id!r}"}, status_code=404)

    def of(kind: str) -> list[dict[str, Any]]:
        return [r.model_dump(mode="json") for r in bundle[kind] if r.trial_id == trial_id]

    return {
        "trial": trial.model_dump(mode="json"), "arms": of("arms"), "measurements": of("measurements"),
        "contrasts": of("contrasts"), "adverse_events": of("adverse_events"),
    }  # fmt: skip


@router.post("/extractions", status_code=201)
def post_extraction(request: Request, record: dict[str, Any] = Body(...)) -> Any:  # noqa: B008
    """One measurement as the caller extracted it (the fields of measurements.csv from ``stemdm evidence
    template``); ``version`` updates the caller's earlier extraction of the same slot. Returns its id."""
    user = _user(request, writing=True)
    if isinstance(user, Response):
        return user
    if not user.can_write():
        return forbidden(request, f"{user.name} is a {user.role}: viewers cannot write")
    version = record.pop("version", None)
    try:
        saved = ex.save(request.app.state.engine, request.app.state.store, user, record,
                        expected_version=int(version) if version is not None else None)  # fmt: skip
    except ex.ExtractionError as error:
        return problems_json(error)
    except ex.StaleError as error:
        return JSONResponse({"detail": str(error)}, status_code=409)
    except (TypeError, ValueError, OverflowError) as error:
        return JSONResponse({"detail": [{"field": "version", "why": str(error)}]}, status_code=422)
    return {"id": saved.id, "slot": saved.slot, "version": saved.version}


def _runner_user(request: Request) -> User | Response:
    user = _user(request, writing=True)
    if isinstance(user, Response):
        return user
    if not user.can_write():
        return forbidden(request, f"{user.name} is a {user.role}: viewers cannot start runs")
    return user


def _problems(message: str) -> JSONResponse:
    """A ProtocolError's or design error's "where: why; where: why" as 422 detail items naming each field."""
    detail = []
    for part in message.split("; "):
        where, _, why = part.rpartition(": ")
        field = where.split(": ")[-1] if where else ""
        detail.append({"field": field, "why": why or part})
    return JSONResponse({"detail": detail}, status_code=422)


@router.post("/reviews", status_code=202)
def post_review(request: Request, body: dict[str, Any] | None = Body(None)) -> Any:  # noqa: B008
    """Run a review in the background: ``{"protocol": {...}}`` (the TOML's structure as JSON) or nothing for
    the bundled protocol; ``"lang"``: en, zh or both (the report). Returns 202 with the run's id."""
    from stemdm.review.protocol import ProtocolError, protocol_from_dict

    user = _runner_user(request)
    if isinstance(user, Response):
        return user
    body = body or {}
    lang = body.get("lang", "both")
    if lang not in ("en", "zh", "both"):
        return JSONResponse({"detail": [{"field": "lang", "why": "use en, zh or both"}]}, status_code=422)
    raw = body.get("protocol")
    if raw is not None:
        from stemdm.review.protocol import MAX_PROTOCOL_BYTES

        if len(json.dumps(raw, ensure_ascii=False).encode("utf-8")) > MAX_PROTOCOL_BYTES:
            return _problems(f"protocol: larger than {MAX_PROTOCOL_BYTES:,} bytes; not a protocol")
        try:
            protocol_from_dict(raw, "protocol")
        except ProtocolError as error:
            return _problems(str(error))
    return _submit(request, user, "review", {"protocol": raw}, lang)


@router.post("/simulations", status_code=202)
def post_simulation(request: Request, body: dict[str, Any] = Body(...)) -> Any:  # noqa: B008
    """Run an in-silico trial in the background; the body is the ``design`` object that ``stemdm simulate
    --json`` prints (same field names; or ``{"design": {...}}``). Returns 202 with the run's id."""
    from pydantic import ValidationError

    from stemdm.sim.trial import TrialDesign, design_problems

    user = _runner_user(request)
    if isinstance(user, Response):
        return user
    raw = body.get("design", body) if isinstance(body.get("design"), dict) else body
    try:
        design = TrialDesign.model_validate(raw)
    except ValidationError as error:
        return JSONResponse({"detail": design_problems(error)}, status_code=422)
    lang = request.query_params.get("lang", "en")  # figure labels: ?lang=zh
    if lang not in ("en", "zh"):
        return JSONResponse({"detail": [{"field": "lang", "why": "use en or zh"}]}, status_code=422)
    return _submit(request, user, "simulation", {"design": design.model_dump(mode="json")}, lang)


def _submit(request: Request, user: User, kind: str, params: dict[str, Any], lang: str) -> Any:
    from stemdm.web.jobs import JobError

    try:
        job_id = request.app.state.runner.submit(request.app.state.engine, user, kind, params, lang)
    except JobError as error:
        return JSONResponse({"detail": str(error)}, status_code=429)
    return JSONResponse({"id": job_id, "status": "queued"}, status_code=202)


@router.get("/reviews/{job_id}")
def get_review(request: Request, job_id: int) -> Any:
    """A review run: status (queued, running, done, failed), progress 0-1, and when done the JSON that
    ``stemdm review run --json`` prints, under ``result``."""
    return _job(request, job_id, "review")


@router.get("/simulations/{job_id}")
def get_simulation(request: Request, job_id: int) -> Any:
    """A simulation: status, progress 0-1, and when done the JSON that ``stemdm simulate --json`` prints."""
    return _job(request, job_id, "simulation")


@router.post("/reviews/{job_id}/cancel")
def cancel_review(request: Request, job_id: int) -> Any:
    """Cancel a queued or running review run (its author or an admin): 200 with its status."""
    return _cancel(request, job_id, "review")


@router.post("/simulations/{job_id}/cancel")
def cancel_simulation(request: Request, job_id: int) -> Any:
    """Cancel a queued or running simulation (its author or an admin): 200 with its status."""
    return _cancel(request, job_id, "simulation")


def _cancel(request: Request, job_id: int, kind: str) -> Any:
    from stemdm.web import jobs

    found = _find_job(request, job_id, kind, writing=True)
    if isinstance(found, Response):
        return found
    user, job = found
    if user.role != "admin" and job["user"] != user.name:
        return JSONResponse({"detail": "only the run's author or an admin can cancel it"}, status_code=403)
    jobs.cancel(request.app.state.engine, job_id, user)
    return jobs.api_view(jobs.get(request.app.state.engine, job_id))


def _job(request: Request, job_id: int, kind: str) -> Any:
    from stemdm.web import jobs

    found = _find_job(request, job_id, kind, writing=False)
    return found if isinstance(found, Response) else jobs.api_view(found[1])


def _find_job(request: Request, job_id: int, kind: str, writing: bool) -> tuple[User, dict] | Response:
    """The caller and the run ``job_id`` of ``kind``, or the 401/403/404 response."""
    from stemdm.web import jobs

    user = _user(request, writing=writing)
    if isinstance(user, Response):
        return user
    job = jobs.get(request.app.state.engine, job_id)
    if job is None or job["kind"] != kind:
        return JSONResponse({"detail": f"no {kind} {job_id}"}, status_code=404)
    return user, job
