"""Server-rendered pages: sign-in, evidence browser with the coverage matrix, trial pages, the extraction
form, one extraction, disagreements and reconciliation, and the audit trail. Every form posts with a
``csrf_token`` field; every page needs a signed-in account (viewers read, reviewers and admins write)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from stemdm.evidence.errors import EvidenceError
from stemdm.evidence.vocab import OUTCOMES
from stemdm.web import accounts
from stemdm.web import extraction as ex
from stemdm.web.app import (
    MEASUREMENT_FIELDS,
    client_of,
    coverage_matrix,
    csrf_ok,
    evidence,
    forbidden,
    redirect,
    render,
    session_user,
    tr,
)

router = APIRouter(include_in_schema=False)
UNITS = ("%", "mmol/mol", "mg/dL", "mmol/L", "ng/mL", "nmol/L", "pmol/L", "IU/day", "IU/kg/day", "uIU/mL")


async def _form(request: Request, multipart: bool = False) -> tuple[dict[str, Any], Response | None]:
    """The posted form (text fields as str; uploaded files kept as files when ``multipart``), or a 403
    response when its csrf_token is missing or wrong."""
    posted = await request.form()
    form = {k: (v if multipart and hasattr(v, "read") else str(v)) for k, v in posted.items()}
    if not csrf_ok(request, form.get("csrf_token")):
        return form, forbidden(
            request, "the form's security token is missing or out of date; reload the page"
        )
    return form, None


def _signed_in(request: Request, writing: bool = False):
    user = session_user(request)
    if user is None:
        return None, redirect(f"/login?next={request.url.path}")
    if writing and not user.can_write():
        return user, forbidden(request, tr(request, "Viewers cannot change anything."))
    return user, None


@router.get("/")
def home() -> Response:
    return redirect("/trials")


@router.get("/login")
def login_page(request: Request, next: str = "/trials") -> Response:
    return render(request, "login.html.j2", next=_local(next))


@router.post("/login")
async def login(request: Request) -> Response:
    form, refused = await _form(request)
    if refused:
        return refused
    engine = request.app.state.engine
    name, client = form.get("name", "")[:64], client_of(request)
    # database work and Argon2 (0.1-0.3 s) run in the thread pool: sign-ins never stall other requests
    if await run_in_threadpool(accounts.throttled, engine, name, client):
        message = tr(request, "Too many failed sign-ins; wait %(s)s seconds.", s=accounts.WINDOW_S)
        return render(request, "login.html.j2", status=429, next=_local(form.get("next")), message=message)
    await asyncio.sleep(await run_in_threadpool(accounts.slowdown_s, engine, name))
    user = await run_in_threadpool(accounts.verify_password, engine, name, form.get("password", ""))
    if user is None:
        await run_in_threadpool(accounts.record_failure, engine, name, client)
        return render(request, "login.html.j2", status=401, next=_local(form.get("next")),
                      message=tr(request, "Wrong name or password."))  # fmt: skip
    language = request.session.get("lang")
    request.session.clear()  # a new session on sign-in (no fixation)
    request.session["sid"] = await run_in_threadpool(accounts.start_session, engine, user)
    if language:
        request.session["lang"] = language  # the language chosen before sign-in is kept
    request.scope.pop("stemdm_user", None)
    return redirect(_local(form.get("next")))


@router.post("/logout")
async def logout(request: Request) -> Response:
    _, refused = await _form(request)
    if refused:
        return refused
    await run_in_threadpool(accounts.end_session, request.app.state.engine, request.session.get("sid"))
    request.session.clear()  # and every copy of the cookie is now worthless: the session ended server-side
    return redirect("/login")


@router.get("/trials")
def trials(
    request: Request, type: str = "", source: str = "", route: str = "", outcome: str = ""
) -> Response:
    user, refused = _signed_in(request)
    if refused:
        return refused
    bundle = evidence(request)
    chosen = [t for t in bundle["trials"]
              if (not type or t.diabetes_type == type) and (not source or t.cell_source == source)
              and (not route or t.route == route)]  # fmt: skip
    if outcome:
        reporting = {m.trial_id for m in bundle["measurements"] if m.outcome_id == outcome}
        chosen = [t for t in chosen if t.trial_id in reporting]
    options = {
        "type": sorted({t.diabetes_type for t in bundle["trials"]}),
        "source": sorted({t.cell_source for t in bundle["trials"]}),
        "route": sorted({t.route for t in bundle["trials"]}),
        "outcome": [o for o in OUTCOMES if any(m.outcome_id == o for m in bundle["measurements"])],
    }
    matrix = coverage_matrix(bundle, [t.trial_id for t in chosen])
    return render(request, "trials.html.j2", trials=chosen, options=options, matrix=matrix,
                  filters={"type": type, "source": source, "route": route, "outcome": outcome})  # fmt: skip


@router.get("/trials/{trial_id}")
def trial_page(request: Request, trial_id: str) -> Response:
    user, refused = _signed_in(request)
    if refused:
        return refused
    bundle = evidence(request)
    trial = next((t for t in bundle["trials"] if t.trial_id == trial_id), None)
    if trial is None:
        return render(request, "error.html.j2", status=404, message=tr(request, "No such trial."))
    rows = {kind: [r for r in bundle[kind] if r.trial_id == trial_id]
            for kind in ("arms", "measurements", "contrasts", "adverse_events", "corrections")}  # fmt: skip
    keys = {r.natural_key() for kind in rows for r in rows[kind]}
    history = [h for h in request.app.state.store.history(limit=2000) if h["natural_key"] in keys][:200]
    mine = ex.for_trial(request.app.state.engine, trial_id, user)
    return render(request, "trial.html.j2", trial=trial, rows=rows, history=history, extractions=mine)


@router.get("/trials/{trial_id}/extract")
def extract_form(request: Request, trial_id: str) -> Response:
    user, refused = _signed_in(request, writing=True)
    if refused:
        return refused
    return _extract_page(request, trial_id, {}, [])


async def _writer_form(request: Request, multipart: bool = False):
    """The signed-in writer and the posted form, or the response refusing them (sign-in, role, CSRF)."""
    user, refused = _signed_in(request, writing=True)
    if refused:
        return user, {}, refused
    form, refused = await _form(request, multipart)
    return user, form, refused


@router.post("/trials/{trial_id}/extract")
async def extract(request: Request, trial_id: str) -> Response:
    user, form, refused = await _writer_form(request)
    if refused:
        return refused
    data: dict[str, Any] = {k: form.get(k, "") for k in MEASUREMENT_FIELDS} | {"trial_id": trial_id}
    version = form.get("version") or None
    if version is not None and not (version.isascii() and version.isdigit() and len(version) < 10):
        return _extract_page(request, trial_id, form, ["version: not a version number; reload the page"], 422)
    try:
        saved = ex.save(request.app.state.engine, request.app.state.store, user, data,
                        expected_version=int(version) if version else None,
                        convert_to=form.get("convert_to") or None)  # fmt: skip
    except ex.ExtractionError as error:
        return _extract_page(request, trial_id, form, [str(p) for p in error.problems], status=422)
    except ex.StaleError as error:
        return _extract_page(request, trial_id, form, [str(error)], status=409)
    return redirect(f"/extractions/{saved.id}")


def _extract_page(request: Request, trial_id: str, values: dict[str, str], errors: list[str],
                  status: int = 200) -> Response:  # fmt: skip
    bundle = evidence(request)
    trial = next((t for t in bundle["trials"] if t.trial_id == trial_id), None)
    if trial is None:
        return render(request, "error.html.j2", status=404, message=tr(request, "No such trial."))
    arms = [a for a in bundle["arms"] if a.trial_id == trial_id]
    return render(request, "extract.html.j2", status=status, trial=trial, arms=arms, values=values,
                  errors=errors,
                  outcomes=list(OUTCOMES), units=UNITS)  # fmt: skip


@router.get("/extractions/{extraction_id}")
def extraction_page(request: Request, extraction_id: int) -> Response:
    user, refused = _signed_in(request)
    if refused:
        return refused
    try:
        found = ex.get(request.app.state.engine, extraction_id, user)
    except (LookupError, ex.BlindedError):
        # the same answer for "none" and "another's, still blinded": a 403 would tell who entered what
        why = tr(request, "No such extraction, or blinded until a second reviewer has entered this number.")
        return render(request, "error.html.j2", status=404, message=why)
    return render(request, "extraction.html.j2", extraction=found)


@router.get("/disagreements")
def disagreements(request: Request) -> Response:
    user, refused = _signed_in(request, writing=True)
    if refused:
        return refused
    return render(request, "disagreements.html.j2", slots=ex.disagreements(request.app.state.engine))


@router.post("/reconcile")
async def reconcile(request: Request) -> Response:
    user, form, refused = await _writer_form(request)
    if refused:
        return refused
    slot = form.get("slot", "")
    engine, store = request.app.state.engine, request.app.state.store

    def page(status: int, message: str) -> Response:
        return render(request, "disagreements.html.j2", status=status, error=message,
                      slots=ex.disagreements(engine))  # fmt: skip

    try:
        versions = _shown_versions(form)
        if form.get("choice") == "third":
            entries = ex.slot_entries(engine, slot)
            base = entries[0].record if entries else {}
            third = {k: form.get(k, "") for k in MEASUREMENT_FIELDS if form.get(k, "") != ""}
            ex.reconcile(engine, store, user, slot, third={"trial_id": base.get("trial_id", "")} | third,
                         versions=versions)  # fmt: skip
        else:
            choice = form.get("choice", "")
            if not choice.isdigit():
                return page(422, tr(request, "choice: accept one extraction or enter a third value"))
            ex.reconcile(engine, store, user, slot, chosen_id=int(choice), versions=versions)
    except (ex.ExtractionError, EvidenceError) as error:
        return page(422, "; ".join(str(p) for p in error.problems))
    except ex.StaleError as error:
        return page(409, str(error))
    except ex.SelfReconcileError as error:
        return page(403, str(error))
    trial_id = slot.split("/", 1)[0]
    return redirect(f"/trials/{trial_id}")


@router.get("/audit")
def audit(request: Request) -> Response:
    user, refused = _signed_in(request, writing=True)
    if refused:
        return refused
    return render(request, "audit.html.j2", rows=ex.audit_rows(request.app.state.engine, user))


def _shown_versions(form) -> dict[int, int]:
    """The version of each extraction as the reconcile form showed it (``version_<id>`` fields)."""
    versions = {}
    for name, value in form.items():
        if name.startswith("version_"):
            key = name.removeprefix("version_")
            if not (key.isdigit() and str(value).isdigit()):
                raise ex.ExtractionError(
                    [ex.Problem("measurements", None, "-", name, value, "not an extraction version")]
                )
            versions[int(key)] = int(value)
    if not versions:
        raise ex.ExtractionError(
            [
                ex.Problem(
                    "measurements",
                    None,
                    "-",
                    "version",
                    None,
                    "the form lacks the versions it showed; reload",
                )
            ]
        )
    return versions


def _local(target: str | None) -> str:
    """Only same-site paths after sign-in (no open redirect)."""
    target = target or "/trials"
    return (
        target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/trials"
    )
