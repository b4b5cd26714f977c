"""The SMART on FHIR app: launch, callback, the clinician's page, and write-back (`/app`).

    GET  /app/launch?iss=&launch=[&as_of=]   EHR launch; without `launch`: standalone launch
                                             (iss from the request or the configured default)
    GET  /app/callback?code=&state=          state checked (server-side, single use, expiry),
                                             code exchanged with the PKCE verifier
    GET  /app/[?as_of=YYYY-MM-DD]            the page: banner, timeline, staging, findings,
                                             suggestions, the write-back button
    POST /app/write-back                     CSRF token; writes the emitted transaction Bundle
                                             with the user's access token
    GET  /app/logout                         forgets the session
    GET  /app/static/{app.js,app.css}

Settings come from `ServiceSettings.smart` (a mapping: a settings file's [smart] table or
TRDFHIR_SMART_* variables); see SmartAppSettings. Launch state and sessions live in this process,
or, with several workers, in their shared store (service/shared.py), so any worker answers.
Tokens stay on the server: the browser only holds an opaque, HttpOnly session cookie. Every page
carries a CSP without inline script and `frame-ancestors` from the settings, so the app can sit in
the EHR's iframe.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from .. import __version__
from ..auth.smart import (
    DEFAULT_MAX_PENDING,
    DEFAULT_MAX_PENDING_PER_CLIENT,
    DEFAULT_SCOPE,
    LaunchStore,
    PendingLaunch,
    PendingLaunches,
    SmartClient,
    SmartConfiguration,
    StateError,
    TokenHolder,
    TokenSet,
    checked_url,
    discover,
    exchange_code,
)
from ..client import FhirClient, fetch_patient, plan_write, write_bundle
from ..client.write import PartialWriteError, WriteOutcome
from ..errors import (
    AuthError,
    BusyError,
    FhirServerError,
    InputError,
    SettingsError,
    TrdFhirError,
)
from ..ingest.bundle import is_own_output
from ..settings import parse_flag
from ..urls import url_allowed
from .engine import Evaluation, ServiceState
from .shared import SharedSessions, SharedStore
from .smart_page import (
    PageContext,
    missing_write_scopes,
    render_message,
    render_page,
    write_result_html,
)

log = logging.getLogger("trdfhir.service.smart")

router = APIRouter(prefix="/app", include_in_schema=False)

STATIC = Path(__file__).resolve().parent / "static"
STATIC_FILES = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
DISCOVERY_TTL = 300.0
MAX_SESSIONS = 2000
MAX_FORM_BYTES = 10_000


# -- settings --------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class SmartAppSettings:
    """The app's registration and behaviour (keys of the `smart` settings table).

    client_id / client_secret   registration; a secret makes the app confidential
                                (client_secret_basic), without one it is a public client
    redirect_uri                 registered redirect; default <public base>/app/callback
    iss                          the default FHIR server for standalone launch
    issuers                      FHIR servers allowed to launch the app (besides `iss`)
    allow_any_issuer             accept any iss (development only)
    scope                        scopes to request (v2 syntax; v1 is used when the server only
                                 speaks v1); default: read the record, create the write-back
    frame_ancestors              EHR origins allowed to frame the app (CSP frame-ancestors)
    as_of                        fixed as-of date (tests); else ?as_of=, else today
    as_of_by_patient             per-patient default as-of dates (the demo's vignettes)
    launch_ttl_seconds           how long a launch may take (state expiry)
    session_ttl_seconds          how long a session lasts
    secure_cookies               force Secure cookies on/off (default: when served over https)
    max_pending_launches         launches waiting for their callback, overall (then 503)
    max_pending_launches_per_client   ... from one client address (then 429)
    """

    client_id: str = "trd-fhir"
    client_secret: str | None = field(default=None, repr=False)
    redirect_uri: str | None = None
    iss: str | None = None
    issuers: tuple[str, ...] = ()
    allow_any_issuer: bool = False
    scope: str = DEFAULT_SCOPE
    frame_ancestors: tuple[str, ...] = ()
    as_of: date | None = None
    as_of_by_patient: Mapping[str, date] = field(default_factory=dict)
    launch_ttl_seconds: int = 600
    session_ttl_seconds: int = 8 * 3600
    secure_cookies: bool | None = None
    max_pending_launches: int = DEFAULT_MAX_PENDING
    max_pending_launches_per_client: int = DEFAULT_MAX_PENDING_PER_CLIENT

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> SmartAppSettings:
        """From a settings table or TRDFHIR_SMART_* strings; unknown keys are errors."""
        known = {
            "client_id", "client_secret", "redirect_uri", "iss", "issuers", "allow_any_issuer",
            "scope", "frame_ancestors", "as_of", "as_of_by_patient", "launch_ttl_seconds",
            "session_ttl_seconds", "secure_cookies", "max_pending_launches",
            "max_pending_launches_per_client",
        }  # fmt: skip
        unknown = sorted(set(values) - known)
        if unknown:
            raise SettingsError(f"unknown smart setting(s): {', '.join(unknown)}")
        kw: dict[str, Any] = {}
        for key, value in values.items():
            if value is None or value == "":
                continue
            if key in ("issuers", "frame_ancestors"):
                items = value.split(",") if isinstance(value, str) else value
                if not isinstance(items, list | tuple):
                    raise SettingsError(f"smart.{key} must be a list")
                kw[key] = tuple(str(i).strip().rstrip("/") for i in items if str(i).strip())
            elif key in ("allow_any_issuer", "secure_cookies"):
                kw[key] = parse_flag(f"smart.{key}", value)
            elif key in (
                "launch_ttl_seconds",
                "session_ttl_seconds",
                "max_pending_launches",
                "max_pending_launches_per_client",
            ):
                try:
                    kw[key] = int(value)
                except (TypeError, ValueError):
                    raise SettingsError(f"smart.{key} must be a whole number") from None
                if kw[key] < 1:
                    raise SettingsError(f"smart.{key} must be at least 1")
            elif key == "as_of":
                kw[key] = _date(f"smart.{key}", value)
            elif key == "as_of_by_patient":
                if isinstance(value, str):
                    try:
                        value = json.loads(value)
                    except json.JSONDecodeError:
                        raise SettingsError(
                            "smart.as_of_by_patient must be a JSON object"
                        ) from None
                if not isinstance(value, Mapping):
                    raise SettingsError("smart.as_of_by_patient must map patient ids to dates")
                kw[key] = {
                    str(k): _date(f"smart.as_of_by_patient.{k}", v) for k, v in value.items()
                }
            else:
                if not isinstance(value, str):
                    raise SettingsError(f"smart.{key} must be a string")
                kw[key] = value.strip().rstrip("/") if key in ("iss", "redirect_uri") else value
        settings = cls(**kw)
        for origin in settings.frame_ancestors:
            if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:*]+", origin):
                raise SettingsError(
                    f"smart.frame_ancestors: {origin!r} is not an origin (https://host[:port])"
                )
        for url in (settings.iss, settings.redirect_uri, *settings.issuers):
            if url is not None:
                try:
                    checked_url(url, "smart settings URL")
                except AuthError as exc:
                    raise SettingsError(f"smart settings: {exc.message}: {url!r}") from None
        return settings

    def allowed_issuers(self) -> frozenset[str]:
        return frozenset(i for i in (self.iss, *self.issuers) if i)


def _date(key: str, value: Any) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise SettingsError(f"{key} must be a date YYYY-MM-DD, got {value!r}") from None


# -- sessions --------------------------------------------------------------------------------------
@dataclass
class AppSession:
    id: str
    iss: str
    patient: str
    holder: TokenHolder
    csrf: str
    expires: float
    as_of: date | None
    evaluations: dict[date, Evaluation] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __repr__(self) -> str:
        return f"AppSession(patient={self.patient!r})"


class SessionStore:
    def __init__(self, limit: int = MAX_SESSIONS) -> None:
        self._sessions: dict[str, AppSession] = {}
        self._lock = threading.Lock()
        self._limit = limit

    def add(self, session: AppSession) -> None:
        with self._lock:
            now = time.time()
            for key in [k for k, s in self._sessions.items() if s.expires < now]:
                del self._sessions[key]
            if len(self._sessions) >= self._limit:
                oldest = min(self._sessions.values(), key=lambda s: s.expires)
                del self._sessions[oldest.id]
            self._sessions[session.id] = session

    def get(self, key: str | None) -> AppSession | None:
        if not key:
            return None
        with self._lock:
            session = self._sessions.get(key)
            if session is not None and session.expires < time.time():
                del self._sessions[key]
                return None
            return session

    def drop(self, key: str | None) -> None:
        with self._lock:
            self._sessions.pop(key or "", None)


@dataclass(frozen=True)
class SessionRecord:
    """What a session is, without its per-process parts (lock, cached evaluations, HTTP
    session): what worker processes share (service/shared.py)."""

    id: str
    iss: str
    patient: str
    csrf: str = field(repr=False)
    expires: float
    as_of: date | None
    tokens: TokenSet = field(repr=False)
    config: SmartConfiguration
    client: SmartClient = field(repr=False)


class SharedSessionStore:
    """SessionStore's interface over the worker processes' shared store: a session made by one
    worker works on every other. Each process keeps its own session objects (with their cached
    evaluations) while their tokens match the shared record; refreshed tokens are written back."""

    def __init__(self, shared: SharedSessions, http: requests.Session) -> None:
        self._shared = shared
        self._http = http
        self._local: dict[str, AppSession] = {}
        self._lock = threading.Lock()

    def add(self, session: AppSession) -> None:
        self._shared.put(session.id, session.expires, self._record(session))
        with self._lock:
            self._local[session.id] = session

    def get(self, key: str | None) -> AppSession | None:
        if not key:
            return None
        record = self._shared.get(key)
        with self._lock:
            if not isinstance(record, SessionRecord):
                self._local.pop(key, None)
                return None
            mine = self._local.get(key)
            if mine is not None and mine.holder.tokens == record.tokens:
                return mine
            session = AppSession(
                id=record.id,
                iss=record.iss,
                patient=record.patient,
                holder=self._holder(record),
                csrf=record.csrf,
                expires=record.expires,
                as_of=record.as_of,
            )
            if len(self._local) >= MAX_SESSIONS:
                self._local.clear()
            self._local[key] = session
            return session

    def drop(self, key: str | None) -> None:
        self._shared.drop(key or "")
        with self._lock:
            self._local.pop(key or "", None)

    def holder(self, session: AppSession) -> TokenHolder:
        """A token holder for a new session whose refreshed tokens reach the shared record."""
        return self._holder(self._record(session))

    def _holder(self, record: SessionRecord) -> TokenHolder:
        def keep(tokens: TokenSet) -> None:
            self._shared.put(record.id, record.expires, replace(record, tokens=tokens))

        return TokenHolder(
            record.tokens, record.config, record.client, session=self._http, on_refresh=keep
        )

    @staticmethod
    def _record(session: AppSession) -> SessionRecord:
        holder = session.holder
        return SessionRecord(
            id=session.id,
            iss=session.iss,
            patient=session.patient,
            csrf=session.csrf,
            expires=session.expires,
            as_of=session.as_of,
            tokens=holder.tokens,
            config=holder.config,
            client=holder.client,
        )


class SmartRuntime:
    """Per-app state of the SMART app: settings, pending launches, sessions, discovery cache.
    With `shared` (several worker processes, service/shared.py) the pending launches and the
    sessions live there, so that any worker can answer any step."""

    def __init__(self, settings: SmartAppSettings, shared: SharedStore | None = None) -> None:
        self.settings = settings
        self.http = requests.Session()
        self.launches: PendingLaunches
        self.sessions: SessionStore | SharedSessionStore
        if shared is None:
            self.launches = LaunchStore(
                limit=settings.max_pending_launches,
                per_client=settings.max_pending_launches_per_client,
            )
            self.sessions = SessionStore()
        else:
            self.launches = shared.launches(
                limit=settings.max_pending_launches,
                per_client=settings.max_pending_launches_per_client,
            )
            self.sessions = SharedSessionStore(shared.sessions(MAX_SESSIONS), self.http)
        self._discovered: dict[str, tuple[float, SmartConfiguration]] = {}
        self._lock = threading.Lock()

    def issuer_allowed(self, iss: str) -> bool:
        if self.settings.allow_any_issuer:
            return True
        return url_allowed(iss, self.settings.allowed_issuers(), prefix=False)

    def discover(self, iss: str) -> SmartConfiguration:
        now = time.time()
        with self._lock:
            hit = self._discovered.get(iss)
        if hit and now - hit[0] < DISCOVERY_TTL:
            return hit[1]
        config = discover(iss, session=self.http)
        with self._lock:
            self._discovered[iss] = (now, config)
        return config

    def client(self, request: Request, trd: ServiceState) -> SmartClient:
        redirect = self.settings.redirect_uri or _external(request, trd, "smart_callback")
        return SmartClient(
            client_id=self.settings.client_id,
            redirect_uri=redirect,
            client_secret=self.settings.client_secret,
        )


_runtime_lock = threading.Lock()


def configure(app: Any, settings: SmartAppSettings) -> SmartRuntime:
    """Give an app explicit SMART settings (instead of those of ServiceSettings.smart)."""
    trd = getattr(app.state, "trd", None)
    runtime = SmartRuntime(settings, getattr(trd, "shared", None))
    app.state.trd_smart = runtime
    return runtime


def _state(request: Request) -> tuple[ServiceState, SmartRuntime]:
    trd: ServiceState = request.app.state.trd
    runtime: SmartRuntime | None = getattr(request.app.state, "trd_smart", None)
    if runtime is None:
        with _runtime_lock:
            runtime = getattr(request.app.state, "trd_smart", None)
            if runtime is None:
                runtime = configure(
                    request.app, SmartAppSettings.from_mapping(trd.settings.smart or {})
                )
    return trd, runtime


def _origin(request: Request, trd: ServiceState) -> str:
    """scheme://host[:port] of the app as the browser sees it."""
    parts = urlsplit(trd.settings.public_base_url or str(request.url))
    return f"{parts.scheme}://{parts.netloc}"


def _external(request: Request, trd: ServiceState, name: str) -> str:
    """The absolute URL of one of our routes (the configured public base URL, else the URL this
    request reached)."""
    configured = trd.settings.public_base_url
    if configured:
        return configured + str(request.app.url_path_for(name))
    return _origin(request, trd) + _path(request, name)


def _secure(request: Request, trd: ServiceState, runtime: SmartRuntime) -> bool:
    if runtime.settings.secure_cookies is not None:
        return runtime.settings.secure_cookies
    return _origin(request, trd).startswith("https://")


def _cookie_name(secure: bool) -> str:
    # __Host- cookies must be Secure, Path=/ and without Domain: the browser enforces all three.
    return "__Host-trd-smart" if secure else "trd-smart"


def _set_cookie(
    response: Response, name: str, value: str, *, max_age: int, path: str, secure: bool
) -> None:
    """An HttpOnly cookie: over https `SameSite=None; Secure; Partitioned` so that it works in
    the EHR's (cross-site) iframe, where browsers partition third-party cookies (CHIPS); over
    plain http (development) `SameSite=Lax`. Values are URL-safe tokens."""
    parts = [f"{name}={value}", f"Max-Age={max_age}", f"Path={path}", "HttpOnly"]
    parts += ["SameSite=None", "Secure", "Partitioned"] if secure else ["SameSite=Lax"]
    response.headers.append("set-cookie", "; ".join(parts))


def _path(request: Request, name: str) -> str:
    return str(request.scope.get("root_path", "")) + str(request.app.url_path_for(name))


def _static(request: Request) -> str:
    return _path(request, "smart_page") + "static"


# -- responses -------------------------------------------------------------------------------------
def _headers(response: Response, runtime: SmartRuntime, *, cache: bool = False) -> Response:
    ancestors = " ".join(("'self'", *runtime.settings.frame_ancestors))
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
        f"frame-ancestors {ancestors}"
    )
    if not runtime.settings.frame_ancestors:
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-cache" if cache else "no-store"
    if not cache:
        response.headers["Pragma"] = "no-cache"
    return response


def _message(
    request: Request,
    runtime: SmartRuntime,
    status: int,
    title: str,
    *paragraphs: str,
    kind: str = "error",
    relaunch: bool = False,
    raw_html: Markup | str = "",
) -> HTMLResponse:
    action = None
    if relaunch and (runtime.settings.iss or runtime.settings.allow_any_issuer):
        action = ("Launch the app again", _path(request, "smart_launch"))
    page = render_message(
        title,
        paragraphs,
        static_url=_static(request),
        kind=kind,
        action=action,
        raw_html=raw_html,
    )
    response = HTMLResponse(page, status_code=status)
    _headers(response, runtime)
    return response


# -- launch ----------------------------------------------------------------------------------------
@router.get("/launch", name="smart_launch")
def launch(request: Request) -> Response:
    """EHR launch (iss + launch) or standalone launch (no launch; iss given or configured)."""
    trd, runtime = _state(request)
    try:  # before anything else: discovery makes an outbound request
        trd.throttle(request, "launch")
    except BusyError as exc:
        return _busy(request, runtime, exc)
    query = request.query_params
    iss = (query.get("iss") or runtime.settings.iss or "").strip().rstrip("/")
    launch_id = query.get("launch")
    if not iss:
        return _message(
            request, runtime, 400, "No FHIR server to connect to",
            "Open this app from your EHR (an EHR launch passes the FHIR server as `iss`), "
            "or configure a default FHIR server (smart.iss) for standalone launch.",
        )  # fmt: skip
    if launch_id is not None and not launch_id.strip():
        return _message(request, runtime, 400, "Launch refused", "The launch parameter is empty.")
    if not runtime.issuer_allowed(iss):
        log.warning("SMART launch refused: FHIR server not in the allowed issuers")
        return _message(
            request, runtime, 400, "FHIR server not allowed",
            "This app is not configured to connect to the FHIR server it was launched with. "
            "Ask the administrator to add it to smart.issuers.",
        )  # fmt: skip
    extra: dict[str, str] = {}
    if query.get("as_of"):
        try:
            extra["as_of"] = date.fromisoformat(query["as_of"]).isoformat()
        except ValueError:
            return _message(request, runtime, 400, "Invalid date", "as_of must be YYYY-MM-DD.")
    try:
        config = runtime.discover(iss)
    except AuthError as exc:
        return _message(request, runtime, 502, "Cannot connect to the EHR", exc.one_line())
    client = runtime.client(request, trd)
    pending = PendingLaunch.new(
        iss=iss,
        config=config,
        launch=launch_id,
        scope=runtime.settings.scope,
        ttl=float(runtime.settings.launch_ttl_seconds),
        extra=extra,
    )
    try:
        runtime.launches.put(pending, client=trd.client(request))
    except BusyError as exc:
        return _busy(request, runtime, exc)
    response = RedirectResponse(pending.authorize_url(client), status_code=302)
    secure = _secure(request, trd, runtime)
    # Binds the launch to this browser: the callback must bring this cookie back (a login CSRF
    # brings a stranger's code and state without it). Over https it is SameSite=None; Secure;
    # Partitioned, so it survives inside the EHR's cross-site iframe.
    _set_cookie(
        response,
        _binding_cookie(pending.state),
        pending.binding or "",
        max_age=runtime.settings.launch_ttl_seconds,
        path=_path(request, "smart_callback"),
        secure=secure,
    )
    _headers(response, runtime)
    log.info("SMART %s launch: redirecting to authorize", "EHR" if launch_id else "standalone")
    return response


def _binding_cookie(state: str) -> str:
    return "trd-launch-" + state[:16]


def _busy(request: Request, runtime: SmartRuntime, exc: BusyError) -> HTMLResponse:
    """The 429/503 page of a launch refused for now, with Retry-After."""
    title = "Too many launches" if exc.http_status == 429 else "The app is busy"
    response = _message(
        request, runtime, exc.http_status, title, exc.message + ".",
        f"Nothing was started. Try again in {exc.retry_after} seconds.",
    )  # fmt: skip
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


@router.get("/callback", name="smart_callback")
def callback(request: Request) -> Response:
    trd, runtime = _state(request)
    query = request.query_params
    try:
        pending = runtime.launches.take(query.get("state"))
    except StateError as exc:
        titles = {
            "unknown": "Unknown launch",
            "expired": "Launch expired",
            "used": "Launch already used",
        }
        return _message(
            request, runtime, 400, titles.get(exc.reason, "Launch refused"),
            exc.message + ".", "Nothing was read or written. Start the app again from the EHR.",
            relaunch=True,
        )  # fmt: skip
    cookie = request.cookies.get(_binding_cookie(pending.state))
    if cookie is None:
        log.warning("SMART callback refused: the launch's binding cookie is missing")
        return _message(
            request, runtime, 400, "Sign-in not completed",
            "This sign-in response did not come back to the browser that started the launch "
            "(its launch cookie is missing), so it was not used and nobody was signed in.",
            "Start the app again from the EHR in this browser. If the app opens inside the "
            "EHR's page, the browser must allow the app's own (partitioned) cookies.",
            relaunch=True,
        )  # fmt: skip
    if not hmac.compare_digest(cookie, pending.binding or ""):
        return _message(
            request, runtime, 400, "Launch refused",
            "This authorization response belongs to a launch started in another browser.",
        )  # fmt: skip
    if query.get("error"):
        error = query["error"][:100]
        description = (query.get("error_description") or "")[:300]
        return _message(
            request, runtime, 403, "The EHR did not authorize the app",
            f"{error}: {description}" if description else error, relaunch=True,
        )  # fmt: skip
    code = query.get("code")
    if not code:
        return _message(request, runtime, 400, "Launch refused", "The response has no code.")
    client = runtime.client(request, trd)
    try:
        tokens = exchange_code(pending, code, client, session=runtime.http)
    except AuthError as exc:
        return _message(request, runtime, 502, "Sign-in failed", exc.one_line(), relaunch=True)
    if not tokens.patient:
        return _message(
            request, runtime, 400, "No patient selected",
            "The EHR authorized the app but did not say which patient to open (the token "
            "response has no `patient`). Launch the app from a patient's chart, or choose a "
            "patient when the EHR asks.",
            relaunch=True,
        )  # fmt: skip
    as_of = pending.extra.get("as_of")
    session = AppSession(
        id=secrets.token_urlsafe(32),
        iss=pending.iss,
        patient=tokens.patient,
        holder=TokenHolder(tokens, pending.config, client, session=runtime.http),
        csrf=secrets.token_urlsafe(32),
        expires=time.time() + runtime.settings.session_ttl_seconds,
        as_of=date.fromisoformat(as_of) if as_of else None,
    )
    if isinstance(runtime.sessions, SharedSessionStore):
        session.holder = runtime.sessions.holder(session)
    runtime.sessions.add(session)
    secure = _secure(request, trd, runtime)
    response = RedirectResponse(_path(request, "smart_page"), status_code=303)
    _set_cookie(
        response,
        _cookie_name(secure),
        session.id,
        max_age=runtime.settings.session_ttl_seconds,
        path="/",
        secure=secure,
    )
    _set_cookie(
        response,
        _binding_cookie(pending.state),
        "",
        max_age=0,
        path=_path(request, "smart_callback"),
        secure=secure,
    )
    _headers(response, runtime)
    return response


# -- the page --------------------------------------------------------------------------------------
def _session(request: Request, trd: ServiceState, runtime: SmartRuntime) -> AppSession | None:
    return runtime.sessions.get(request.cookies.get(_cookie_name(_secure(request, trd, runtime))))


def _as_of(raw: str | None, session: AppSession, runtime: SmartRuntime, trd: ServiceState) -> date:
    if raw:
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise InputError("as_of must be a date YYYY-MM-DD") from None
    return (
        session.as_of
        or runtime.settings.as_of
        or runtime.settings.as_of_by_patient.get(session.patient)
        or trd.today()
    )


def _fhir(session: AppSession) -> FhirClient:
    return FhirClient(session.iss, auth=session.holder)


def _evaluate(session: AppSession, trd: ServiceState, as_of: date) -> tuple[Evaluation, Any]:
    with _fhir(session) as client:
        record = fetch_patient(client, session.patient, exclude=is_own_output)
        evaluation = trd.evaluate(record.bundle(client.base), as_of)
    patient = next((r for r in record.resources if r.get("resourceType") == "Patient"), None)
    with session.lock:
        session.evaluations = {as_of: evaluation}
    return evaluation, patient


def _failure(request: Request, runtime: SmartRuntime, exc: TrdFhirError) -> HTMLResponse:
    if isinstance(exc, AuthError):
        return _message(
            request, runtime, 401, "Authorization ended", exc.one_line(),
            "Launch the app again to continue.", relaunch=True,
        )  # fmt: skip
    if isinstance(exc, FhirServerError):
        return _message(request, runtime, 502, "The FHIR server did not answer", exc.one_line())
    if isinstance(exc, InputError):
        return _message(request, runtime, 422, "The record cannot be assessed", exc.one_line())
    return _message(request, runtime, 500, "The assessment failed", exc.one_line())


def _no_session(request: Request, runtime: SmartRuntime) -> HTMLResponse:
    return _message(
        request, runtime, 401, "No active session",
        "Open the app from the EHR (or start a standalone launch) to sign in.", relaunch=True,
    )  # fmt: skip


@router.get("/", name="smart_page")
def page(request: Request) -> Response:
    trd, runtime = _state(request)
    session = _session(request, trd, runtime)
    if session is None:
        return _no_session(request, runtime)
    try:
        as_of = _as_of(request.query_params.get("as_of"), session, runtime, trd)
    except InputError as exc:
        return _message(request, runtime, 400, "Invalid date", exc.one_line())
    try:
        evaluation, patient = _evaluate(session, trd, as_of)
    except TrdFhirError as exc:
        return _failure(request, runtime, exc)
    html = render_page(
        PageContext(
            assessment=evaluation.assessment,
            summary=evaluation.summary,
            bundle=evaluation.bundle,
            bundle_problem=evaluation.bundle_problem,
            patient=patient,
            patient_id=session.patient,
            maps=trd.maps,
            response_drop=trd.clinical.response_drop,
            scopes=session.holder.tokens.scopes,
            csrf=session.csrf,
            iss=session.iss,
            version=__version__,
            static_url=_static(request),
            page_url=_path(request, "smart_page"),
            writeback_url=_path(request, "smart_write_back"),
            logout_url=_path(request, "smart_logout"),
            show_banner=session.holder.tokens.need_patient_banner is not False,
        )
    )
    return _headers(HTMLResponse(html), runtime)


@router.get("/static/{name}", name="smart_static")
def static(name: str, request: Request) -> Response:
    _, runtime = _state(request)
    media = STATIC_FILES.get(name)
    if media is None:
        return _headers(Response("not found", status_code=404, media_type="text/plain"), runtime)
    response = Response((STATIC / name).read_bytes(), media_type=media)
    return _headers(response, runtime, cache=True)


@router.get("/logout", name="smart_logout")
def logout(request: Request) -> Response:
    trd, runtime = _state(request)
    secure = _secure(request, trd, runtime)
    runtime.sessions.drop(request.cookies.get(_cookie_name(secure)))
    response = _message(
        request, runtime, 200, "Session closed",
        "The app forgot its tokens for this session.", kind="info", relaunch=True,
    )  # fmt: skip
    _set_cookie(response, _cookie_name(secure), "", max_age=0, path="/", secure=secure)
    return response


# -- write-back ------------------------------------------------------------------------------------
async def _form(request: Request) -> tuple[dict[str, str], bool]:
    """The posted fields (JSON or urlencoded) and whether the caller wants JSON back."""
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        raise InputError("the request is too large")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    wants_json = "application/json" in request.headers.get("accept", "") or kind.endswith("json")
    fields: dict[str, str] = {}
    if kind.endswith("json"):
        try:
            data = json.loads(raw or b"{}")
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deeply
            raise InputError("the body is not JSON") from None
        if isinstance(data, dict):
            fields = {k: v for k, v in data.items() if isinstance(v, str)}
    elif kind == "application/x-www-form-urlencoded":
        fields = dict(parse_qsl(raw.decode("utf-8", "replace")))
    header = request.headers.get("x-csrf-token")
    if header:
        fields["csrf_token"] = header
    return fields, wants_json


def _same_origin(request: Request, trd: ServiceState) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return origin.rstrip("/") == _origin(request, trd)


def _write(session: AppSession, trd: ServiceState, as_of: date) -> dict[str, Any]:
    with session.lock:
        evaluation = session.evaluations.get(as_of)
    if evaluation is None:
        evaluation, _ = _evaluate(session, trd, as_of)
    if evaluation.bundle is None:
        raise TrdFhirError(f"nothing to write: {evaluation.bundle_problem or 'no Bundle'}")
    with _fhir(session) as client:
        try:
            plan = plan_write(client, evaluation.bundle)
        except AuthError:
            plan = None  # no search permission: the conditional creates still avoid duplicates
        if plan is not None and plan.redundant:
            outcome = WriteOutcome(mode="skipped", unchanged=(*plan.present, *plan.refresh))
        else:
            outcome = write_bundle(client, evaluation.bundle, patient=session.patient)
    result = outcome.as_json()
    created, updated = len(outcome.created), len(outcome.updated)
    if outcome.mode == "skipped":
        message = "Nothing new to write: this assessment is already in the record."
    else:
        message = (
            f"Written to the record: {created} created, {updated} updated"
            + (f", {len(outcome.unchanged)} already there" if outcome.unchanged else "")
            + "."
        )
    return {"ok": True, "message": message, "as_of": as_of.isoformat(), **result}


@router.post("/write-back", name="smart_write_back")
async def write_back(request: Request) -> Response:
    trd, runtime = _state(request)
    session = _session(request, trd, runtime)
    wants_json = "application/json" in request.headers.get("accept", "")

    def answer(status: int, body: dict[str, Any]) -> Response:
        if wants_json:
            return _headers(JSONResponse(body, status_code=status), runtime)
        title = "Written to the record" if body.get("ok") else "Nothing was written"
        return _message(
            request, runtime, status, title, kind="info" if body.get("ok") else "error",
            raw_html=write_result_html(body, back_url=_path(request, "smart_page")),
        )  # fmt: skip

    if session is None:
        return answer(401, {"ok": False, "message": "No active session: launch the app again."})
    try:
        fields, wants_json = await _form(request)
    except InputError as exc:
        return answer(400, {"ok": False, "message": exc.one_line()})
    token = fields.get("csrf_token", "")
    if not _same_origin(request, trd) or not hmac.compare_digest(token, session.csrf):
        return answer(
            403, {"ok": False, "message": "Refused: the request did not come from the page."}
        )
    missing = missing_write_scopes(session.holder.tokens.scopes)
    if missing:
        return answer(
            403,
            {"ok": False, "message": "Not authorized to write: missing " + ", ".join(missing)},
        )
    try:
        as_of = _as_of(fields.get("as_of"), session, runtime, trd)
        result = await run_in_threadpool(_write, session, trd, as_of)
    except PartialWriteError as exc:
        return answer(
            502,
            {"ok": False, "message": exc.one_line(), "created": list(exc.written)},
        )
    except AuthError as exc:
        return answer(403, {"ok": False, "message": exc.one_line()})
    except FhirServerError as exc:
        return answer(502, {"ok": False, "message": exc.one_line()})
    except TrdFhirError as exc:
        return answer(422, {"ok": False, "message": exc.one_line()})
    log.info(
        "SMART write-back: %s created, %s updated", len(result["created"]), len(result["updated"])
    )
    return answer(200, result)
