"""The web workbench (FastAPI, server-rendered Jinja2 pages, no JavaScript needed): sign-in, the evidence
browser and coverage matrix, trial pages, double extraction and reconciliation, and a JSON API.

Security (issue 11): sessions in signed, HttpOnly, SameSite=Lax cookies (Starlette's SessionMiddleware, key
from ``accounts.secret_key``); every form carries ``csrf_token``, checked on POST (403 otherwise); API calls
authenticate with ``Authorization: Bearer <token>`` (or a session plus the ``X-CSRF-Token`` header);
failed sign-ins throttled per account and per client (429); Content-Security-Policy without inline scripts,
``X-Content-Type-Options: nosniff`` and ``frame-ancestors 'none'`` on every response; Jinja autoescaping
everywhere and links only for http(s) URLs.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.middleware.sessions import SessionMiddleware

from stemdm import NOT_MEDICAL_ADVICE_BY_LANGUAGE, __version__
from stemdm.db.migrate import head_revision
from stemdm.evidence.coverage import coverage
from stemdm.evidence.errors import EvidenceError
from stemdm.evidence.store import Store
from stemdm.evidence.vocab import OUTCOMES
from stemdm.i18n import LANGUAGE_NAMES, LANGUAGES, negotiate, translations
from stemdm.sanitize import safe_url
from stemdm.web import accounts
from stemdm.web import extraction as ex
from stemdm.web.accounts import User
from stemdm.web.jobs import JobRunner

SESSION_HOURS = accounts.SESSION_HOURS
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
MEASUREMENT_FIELDS = (
    "arm_id", "outcome_id", "timepoint_weeks", "timepoint_label", "n", "value_type", "statistic", "mean",
    "sd",
    "se", "ci_lb", "ci_ub", "ci_level", "pm", "median", "q1", "q3", "minimum", "maximum", "events",
    "proportion", "unit", "unit_as_reported", "as_reported", "source_url", "locator", "notes",
)  # fmt: skip


@dataclass
class Settings:
    db_url: str | None = None
    data_dir: Path | None = None
    secure_cookies: bool = False
    job_workers: int = 2


def _templates(lang: str) -> Environment:
    """The page templates in one language (gettext from the Babel catalogs; autoescape on)."""
    folder = Path(str(resources.files("stemdm.web") / "templates"))
    env = Environment(
        loader=FileSystemLoader(folder),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(
        disclaimer=NOT_MEDICAL_ADVICE_BY_LANGUAGE[lang], version=__version__, lang=lang,
        languages=LANGUAGE_NAMES, html_lang={"en": "en", "zh": "zh-Hans"}[lang],
    )  # fmt: skip
    env.filters["link"] = safe_url
    env.filters["when"] = lambda moment: (
        moment.strftime("%Y-%m-%d %H:%M") if hasattr(moment, "strftime") else moment
    )
    env.filters["term"] = lambda value: translations(lang).gettext(str(value))  # data values: no % formatting
    env.filters["q"] = lambda text: quote(str(text), safe="")
    return env


def create_app(settings: Settings | None = None) -> FastAPI:
    """The workbench on the store at ``settings.db_url`` (migrated on open; an empty store gets the bundled
    evidence)."""
    settings = settings or Settings()
    store = Store.open(settings.db_url)
    key = accounts.secret_key(settings.data_dir)

    @contextlib.asynccontextmanager
    async def lifespan(application: FastAPI):
        yield
        application.state.runner.shutdown()

    app = FastAPI(  # /docs and /openapi.json are served below: locally, without scripts, signed in
        title="stemdm workbench", version=__version__, docs_url=None, redoc_url=None, openapi_url=None,
        lifespan=lifespan,
    )  # fmt: skip
    app.state.store, app.state.engine = store, store.engine
    ex.repair_stranded_claims(store.engine, store)  # claims an earlier stemdm stranded (claim, then import)
    app.state.templates = {lang: _templates(lang) for lang in LANGUAGES}
    app.state.data_dir = settings.data_dir or accounts.data_dir()
    app.state.runner = JobRunner(
        store.url, app.state.data_dir, workers=settings.job_workers, engine=store.engine
    )
    app.add_middleware(
        SessionMiddleware, secret_key=key, session_cookie="stemdm_session", max_age=SESSION_HOURS * 3600,
        same_site="lax", https_only=settings.secure_cookies,
    )  # fmt: skip

    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        # a response with its own policy keeps it (the report, framed by its run's page only)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    static = Path(str(resources.files("stemdm.web") / "static"))
    app.mount("/static", StaticFiles(directory=static), name="static")
    from stemdm.web import api, pages, runs

    app.include_router(pages.router)
    app.include_router(runs.router)
    app.include_router(api.router)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)  # no icon shipped; a 404 would be a console error in every browser

    @app.get("/docs", include_in_schema=False)
    def api_docs(request: Request) -> Response:
        """The API reference from the OpenAPI schema, as a plain page (no CDN, no script; signed in)."""
        if session_user(request) is None:
            return redirect("/login?next=/docs")
        schema = app.openapi()
        operations = [
            {"method": method.upper(), "path": path,
             "summary": op.get("description") or op.get("summary") or ""}
            for path, item in sorted(schema["paths"].items()) for method, op in item.items()
        ]  # fmt: skip
        return render(request, "api_docs.html.j2", operations=operations)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_schema(request: Request) -> Response:
        if session_user(request) is None and _bearer_user(request) is None:
            return JSONResponse({"detail": "sign in or send a bearer token"}, status_code=401)
        return JSONResponse(app.openapi())

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "schema": head_revision()}

    return app


#: the largest request body accepted (the 1 MB protocol upload and its form fields), bytes
MAX_BODY_BYTES = 2_000_000


class _TooLargeError(Exception):
    pass


class BodyLimit:
    """ASGI middleware: a request whose body is larger than ``limit`` bytes gets 413 before it is read whole
    (its Content-Length, or the bytes counted as they arrive)."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await self._refuse(send)
            return
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLargeError
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLargeError:
            await self._refuse(send)

    async def _refuse(self, send) -> None:
        body = json.dumps({"detail": f"request body larger than {self.limit:,} bytes"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _bearer_user(request: Request) -> User | None:
    header = request.headers.get("authorization", "")
    return (
        accounts.user_for_token(request.app.state.engine, header[7:])
        if header.startswith("Bearer ")
        else None
    )


# -- shared by pages and api ------------------------------------------------------------------------


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_ok(request: Request, supplied: str | None) -> bool:
    expected = request.session.get("csrf")
    return bool(expected and supplied and secrets.compare_digest(str(expected), str(supplied)))


def session_user(request: Request) -> User | None:
    """The account of the request's sign-in session: looked up server-side on every request, so a session
    ended by sign-out, a password change or a deactivation (or past its lifetime) is no session at all."""
    cached = request.scope.get("stemdm_user", False)
    if cached is not False:
        return cached
    user = accounts.session_user(request.app.state.engine, request.session.get("sid"))
    request.scope["stemdm_user"] = user
    return user


def language(request: Request) -> str:
    """The page language: ``?lang=`` (remembered in the session), else the session's, else Accept-Language."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        request.session["lang"] = asked
        return asked
    kept = request.session.get("lang")
    return kept if kept in LANGUAGES else negotiate(request.headers.get("accept-language"))


def tr(request: Request, message: str, **values: Any) -> str:
    """``message`` in the request's language (for messages built in Python)."""
    text = translations(language(request)).gettext(message)
    return text % values if values else text


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    env: Environment = request.app.state.templates[language(request)]
    html = env.get_template(template).render(
        request=request, user=session_user(request), csrf=csrf_token(request), **context
    )
    return HTMLResponse(html, status_code=status)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def evidence(request: Request):
    return request.app.state.store.snapshot()


def problems_json(error: ex.ExtractionError | EvidenceError) -> JSONResponse:
    return JSONResponse(
        {
            "detail": [
                {"field": p.field, "record": p.key, "why": p.why, "value": p.value} for p in error.problems
            ]
        },
        status_code=422,
    )


def coverage_matrix(bundle, trial_ids: list[str]) -> dict[str, Any]:
    """Trial x outcome x review window (3, 6, 12 months): the cells reported, for the browser."""
    cells = [c for c in coverage(bundle) if c.trial_id in set(trial_ids)]
    outcomes = [o for o in OUTCOMES if any(c.outcome_id == o for c in cells)]
    windows = (3.0, 6.0, 12.0)
    grid: dict[tuple[str, str, float], list[Any]] = {}
    for cell in cells:
        if cell.review_months in windows:
            grid.setdefault((cell.trial_id, cell.outcome_id, cell.review_months), []).append(cell)
    return {"outcomes": outcomes, "windows": windows, "grid": grid}


def forbidden(request: Request, why: str) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": why}, status_code=403)
    return render(request, "error.html.j2", status=403, message=why)
