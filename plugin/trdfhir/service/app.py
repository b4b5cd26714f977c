"""create_app(settings): the FastAPI application with its three faces.

    /fhir/...          $trd-evaluate, metadata           (operation.py)
    /cds-services/...  CDS Hooks 2.0 discovery, services, feedback (cds.py)
    /app/...           the SMART on FHIR app, when service/smart_app.py is present

The SMART app plugs in by exposing `router` (an APIRouter) or `create_router(settings)` in
`trdfhir.service.smart_app`; it reaches the settings as `request.app.state.settings` and the
shared state (mappings, evaluation) as `request.app.state.trd`.

Every error is an OperationOutcome (application/fhir+json; application/json on the CDS routes),
never a traceback; every response carries X-Content-Type-Options and Referrer-Policy.
"""

from __future__ import annotations

import gc
import importlib
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__, logsafety
from ..errors import TrdFhirError
from . import cds, operation
from .engine import ServiceState
from .http import FHIR_JSON, ServiceError, error_response, outcome
from .settings import ServiceSettings

log = logging.getLogger("trdfhir.service")

SMART_APP_MODULE = "trdfhir.service.smart_app"
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)
API_PREFIXES = ("/fhir", "/cds-services")
# Answers that are data, never pages (the API, and anything without its own CSP but the
# developer docs at /api/docs): nothing in them may load, run or be framed.
DATA_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")


class Hardening:
    """Outermost middleware: adds the security headers to every response (keeping any a route
    set itself: the app's pages have their own CSP), `Cache-Control: no-store` to the API's
    answers (they hold patient data), and a CSP that lets nothing load or frame to every answer
    without its own (but the developer docs); turns any uncaught exception into a 500
    OperationOutcome without a traceback."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        api = path.startswith(API_PREFIXES)
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                extra = [*SECURITY_HEADERS, *([(b"cache-control", b"no-store")] if api else [])]
                if not path.startswith("/api/"):
                    extra.append(DATA_CSP)
                headers += [(k, v) for k, v in extra if k not in names]
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            log.error(
                "internal error on %s %s: %s",
                scope.get("method"),
                logsafety.redact(path),
                type(exc).__name__,
                exc_info=exc,
            )
            if started:
                raise
            media = "application/json" if path.startswith("/cds-services") else FHIR_JSON
            response = JSONResponse(
                outcome("fatal", "exception", "internal error; the service log has the details"),
                status_code=500,
                media_type=media,
            )
            await response(scope, receive, send_with_headers)


def _media_type(request: Request) -> str:
    return "application/json" if request.url.path.startswith("/cds-services") else FHIR_JSON


def _install_error_handlers(app: FastAPI) -> None:
    """Each handler is registered for its own type (the isinstance checks are for mypy)."""

    async def trd_error(request: Request, exc: Exception) -> JSONResponse:
        if not isinstance(exc, TrdFhirError):
            raise exc
        return error_response(exc, media_type=_media_type(request))

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        if not isinstance(exc, RequestValidationError):
            raise exc
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        error = ServiceError(f"{where}: {first.get('msg', 'invalid request')}", location=where)
        return error_response(error, media_type=_media_type(request))

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        if not isinstance(exc, StarletteHTTPException):
            raise exc
        code = {404: "not-found", 405: "not-supported"}.get(exc.status_code, "processing")
        return JSONResponse(
            outcome("error", code, str(exc.detail)),
            status_code=exc.status_code,
            media_type=_media_type(request),
            headers=dict(exc.headers or {}),
        )

    app.add_exception_handler(TrdFhirError, trd_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)


def _smart_router(settings: ServiceSettings) -> Any | None:
    """The SMART app's router, when this build has service/smart_app.py."""
    try:
        module = importlib.import_module(SMART_APP_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != SMART_APP_MODULE:
            raise
        return None
    factory = getattr(module, "create_router", None)
    if callable(factory):
        return factory(settings)
    return getattr(module, "router", None)


def tune_gc(settings: ServiceSettings) -> None:
    """The garbage collector of a long-running server, called once the app is built (by
    `trd-fhir serve`, in each worker): every object alive after start-up (the mappings, the
    code, the routes) goes to the permanent generation (gc.freeze), so that no collection scans
    them again; and the young generation is collected every `gc_threshold` allocations instead of
    Python's 700, since one evaluation allocates some 10^5 short-lived objects that reference
    counting frees anyway. Cycles are still collected. `gc_threshold` 0 leaves Python's
    defaults (and skips the freeze)."""
    if settings.gc_threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(settings.gc_threshold, gen1, gen2)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or ServiceSettings()
    logsafety.install()  # uvicorn's access log: paths hold patient ids, the callback its code
    app = FastAPI(
        title="trd-fhir",
        version=__version__,
        description="Treatment-resistant depression staging: FHIR $trd-evaluate, CDS Hooks "
        "2.0 services and a SMART on FHIR app.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    state = ServiceState(settings)
    app.state.settings = settings
    app.state.trd = state
    _install_error_handlers(app)
    app.include_router(operation.router)
    app.include_router(cds.router)
    if settings.subscription_secret:
        from . import subscriptions  # FHIR Subscription notifications -> re-evaluation

        app.include_router(subscriptions.create_router(state))
    smart = _smart_router(settings)
    if smart is not None:
        app.include_router(smart)
        state.smart_app = True
    wildcard = "*" in settings.cors_origins
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"] if wildcard else list(settings.cors_origins),
        allow_credentials=False,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "Accept"],
        max_age=600,
    )
    app.add_middleware(Hardening)
    return app
