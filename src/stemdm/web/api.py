"""The JSON API (``/api/``; OpenAPI at ``/docs``): trials with provenance, and extractions.

Authentication: ``Authorization: Bearer <token>`` (``stemdm users token NAME``), or a signed-in session
plus the ``X-CSRF-Token`` header for writes. No credentials: 401; a viewer writing: 403; an invalid record:
422 naming each field (the evidence import's own validation); a stale update: 409.
"""

from __future__ import annotations

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
    except (TypeError, ValueError) as error:
        return JSONResponse({"detail": [{"field": "version", "why": str(error)}]}, status_code=422)
    return {"id": saved.id, "slot": saved.slot, "version": saved.version}
