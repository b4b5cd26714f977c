"""A small SMART App Launch authorization server of ours, with a FHIR proxy that checks tokens.

For the tests and `make demo` only: it auto-approves every well-formed request. On 127.0.0.1:

    GET  /fhir/.well-known/smart-configuration   discovery (S256 only)
    GET  /auth/authorize                         EHR launch (launch -> patient) or standalone
                                                 launch (a patient picker, or `auto_patient`)
    POST /auth/token                             authorization_code (PKCE S256 checked) and
                                                 refresh_token grants; public clients and
                                                 client_secret_basic
    *    /fhir/...                               reverse proxy to the real FHIR server; every
                                                 call but metadata and discovery needs a valid
                                                 bearer token, so the app's reads and its
                                                 write-back really carry the user's token
    GET  /ehr                                    a tiny "EHR": one EHR-launch link per patient

    with SmartTestServer(upstream, [RegisteredClient("app", ("http://127.0.0.1:8/cb",))]) as s:
        launch = s.new_launch("vignette-01")   # then open  <app>/launch?iss=<s.fhir_base>&launch=…

Knobs for error-path tests: `grant_scope` (what is granted for what was asked), `omit_patient`,
`omit_scope`, `advertise` (override discovery fields), `relative_endpoints`. `seen` records every
proxied call (method, path, whether its token was valid), never the token itself.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import requests
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from ..service.markup import render

HOST = "127.0.0.1"
_VERIFIER_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_OPEN_PATHS = frozenset({"metadata", ".well-known/smart-configuration"})
_HOP_HEADERS = frozenset(
    {"host", "authorization", "content-length", "connection", "accept-encoding", "cookie"}
)
_KEEP_HEADERS = frozenset(
    {"content-type", "location", "etag", "content-location", "last-modified", "retry-after"}
)


@dataclass(frozen=True)
class RegisteredClient:
    client_id: str
    redirect_uris: tuple[str, ...]
    secret: str | None = field(default=None, repr=False)  # confidential: client_secret_basic
    launch_url: str | None = None  # the app's launch URL, for the /ehr page


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    scope: str
    patient: str | None
    launch: str | None
    expires: float


@dataclass
class _Token:
    client_id: str
    scope: str
    patient: str | None
    expires: float


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str  # below /fhir, without the query
    authorized: bool  # carried a valid, unexpired bearer token
    status: int


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def to_v1(scope: str) -> str:
    """Grant v1 strings for v2 requests (`patient/X.rs` -> `.read`, `.c`/`.cu` -> `.write`)."""
    out = []
    for item in scope.split():
        head, dot, perms = item.rpartition(".")
        if dot and "/" in head and perms and set(perms) <= set("cruds"):
            item = f"{head}.write" if set(perms) & set("cud") else f"{head}.read"
        out.append(item)
    return " ".join(dict.fromkeys(out))


class SmartTestServer:
    def __init__(
        self,
        upstream: str,
        clients: Iterable[RegisteredClient] = (),
        *,
        token_lifetime: float = 3600.0,
        code_lifetime: float = 60.0,
        issue_refresh_tokens: bool = True,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.clients = {c.client_id: c for c in clients}
        self.token_lifetime = token_lifetime
        self.code_lifetime = code_lifetime
        self.issue_refresh_tokens = issue_refresh_tokens
        # knobs
        self.grant_scope: Callable[[str], str] | None = None
        self.omit_patient = False
        self.omit_scope = False
        self.need_patient_banner = True  # False: an EHR that shows its own patient banner
        self.auto_patient: str | None = None
        self.relative_endpoints = False
        self.advertise: dict[str, Any] = {}
        # records
        self.seen: list[SeenRequest] = []
        self.token_requests: list[dict[str, str]] = []  # grant type and client auth, no secrets
        self.refreshes = 0
        self._launches: dict[str, tuple[str, str | None]] = {}
        self._codes: dict[str, _Code] = {}
        self._tokens: dict[str, _Token] = {}
        self._refresh_tokens: dict[str, _Token] = {}
        self._lock = threading.Lock()
        self._http = requests.Session()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.base = ""
        self.app = self._build_app()

    # -- lifecycle ---------------------------------------------------------------------------------
    @property
    def fhir_base(self) -> str:
        return f"{self.base}/fhir"

    def start(self, port: int = 0) -> SmartTestServer:
        self._server, self._thread, bound = serve_in_thread(self.app, port)
        self.base = f"http://{HOST}:{bound}"
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            stop_thread_server(self._server, self._thread)
            self._server = None
        self._http.close()

    def __enter__(self) -> SmartTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def register(self, client: RegisteredClient) -> None:
        self.clients[client.client_id] = client

    def new_launch(self, patient: str, encounter: str | None = None) -> str:
        """An opaque EHR launch id bound to this patient (and encounter)."""
        launch = secrets.token_urlsafe(12)
        with self._lock:
            self._launches[launch] = (patient, encounter)
        return launch

    def expire_access_tokens(self) -> None:
        """Every access token issued so far expires now (refresh tests)."""
        with self._lock:
            for token in self._tokens.values():
                token.expires = 0.0

    def reset(self) -> None:
        """Knobs back to their defaults, records cleared (tokens stay valid)."""
        with self._lock:
            self.grant_scope = None
            self.omit_patient = self.omit_scope = self.relative_endpoints = False
            self.need_patient_banner = True
            self.auto_patient = None
            self.advertise = {}
            self.seen.clear()
            self.token_requests.clear()
            self.refreshes = 0

    def access_tokens(self) -> list[str]:
        """Every access token issued (for tests that check tokens never leak)."""
        with self._lock:
            return list(self._tokens)

    def token_valid(self, token: str) -> bool:
        with self._lock:
            issued = self._tokens.get(token)
            return issued is not None and issued.expires > time.time()

    # -- the app -----------------------------------------------------------------------------------
    def _build_app(self) -> FastAPI:
        app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
        server = self

        @app.get("/fhir/.well-known/smart-configuration")
        def configuration() -> JSONResponse:
            return JSONResponse(server.configuration())

        @app.api_route("/auth/authorize", methods=["GET", "POST"])
        async def authorize(request: Request) -> Response:
            params = dict(request.query_params)
            if request.method == "POST":
                params.update(parse_qsl((await request.body()).decode("utf-8", "replace")))
            return await run_in_threadpool(server.authorize, params)

        @app.post("/auth/token")
        async def token(request: Request) -> Response:
            form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
            return server.token(form, request.headers.get("authorization"))

        @app.get("/ehr")
        def ehr() -> HTMLResponse:
            return server.ehr_page()

        @app.get("/ehr/launch/{client_id}/{patient}")
        def ehr_launch(client_id: str, patient: str) -> Response:
            client = server.clients.get(client_id)
            if client is None or not client.launch_url:
                return _page(404, "Unknown app", "No app with a launch URL is registered so.")
            launch = server.new_launch(patient)
            query = urlencode({"iss": server.fhir_base, "launch": launch})
            return RedirectResponse(f"{client.launch_url}?{query}", status_code=303)

        @app.get("/ehr/embed/{client_id}/{patient}")
        def ehr_embed(client_id: str, patient: str) -> HTMLResponse:
            """The app in an iframe of the EHR's page, as EHRs embed SMART apps."""
            src = f"/ehr/launch/{quote(client_id, safe='')}/{quote(patient, safe='')}"
            return _page(200, "Demo EHR: chart", kind="embed", src=src)

        @app.api_route(
            "/fhir/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
        )
        async def proxy(path: str, request: Request) -> Response:
            body = await request.body()
            return await run_in_threadpool(
                server.forward,
                request.method,
                path,
                request.url.query,
                dict(request.headers),
                body,
            )

        return app

    # -- discovery ---------------------------------------------------------------------------------
    def configuration(self) -> dict[str, Any]:
        root = "../auth" if self.relative_endpoints else f"{self.base}/auth"
        document: dict[str, Any] = {
            "issuer": self.base,
            "authorization_endpoint": f"{root}/authorize",
            "token_endpoint": f"{root}/token",
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "scopes_supported": ["openid", "fhirUser", "launch", "launch/patient"],
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "capabilities": [
                "launch-ehr",
                "launch-standalone",
                "client-public",
                "client-confidential-symmetric",
                "context-ehr-patient",
                "context-standalone-patient",
                "permission-patient",
                "permission-v1",
                "permission-v2",
            ],
        }
        document.update(self.advertise)
        return document

    # -- authorize ---------------------------------------------------------------------------------
    def authorize(self, p: Mapping[str, str]) -> Response:
        client = self.clients.get(p.get("client_id", ""))
        redirect_uri = p.get("redirect_uri", "")
        if client is None:
            return _page(400, "Unknown client", "client_id is not registered here.")
        if redirect_uri not in client.redirect_uris:
            return _page(400, "Unregistered redirect_uri", "redirect_uri is not registered.")
        state = p.get("state")

        def fail(error: str, description: str) -> Response:
            query = {"error": error, "error_description": description}
            if state:
                query["state"] = state
            return RedirectResponse(f"{redirect_uri}?{urlencode(query)}", status_code=303)

        if p.get("response_type") != "code":
            return fail("unsupported_response_type", "response_type must be code")
        if not state:
            return fail("invalid_request", "state is required")
        if p.get("code_challenge_method") != "S256" or len(p.get("code_challenge", "")) != 43:
            return fail("invalid_request", "PKCE S256 is required")
        if p.get("aud", "").rstrip("/") != self.fhir_base:
            return fail("invalid_request", "aud is not this FHIR server")
        scope = p.get("scope", "")
        scopes = scope.split()
        launch = p.get("launch")
        patient: str | None
        if launch is not None:
            with self._lock:
                context = self._launches.get(launch)
            if context is None:
                return fail("invalid_request", "unknown launch")
            if "launch" not in scopes:
                return fail("invalid_scope", "an EHR launch needs the launch scope")
            patient = context[0]
        else:
            if "launch/patient" not in scopes:
                return fail("invalid_scope", "a standalone launch needs launch/patient")
            patient = p.get("chosen_patient") or self.auto_patient
            if not patient:
                return self.picker(p)
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = _Code(
                client_id=client.client_id,
                redirect_uri=redirect_uri,
                challenge=p["code_challenge"],
                scope=scope,
                patient=patient,
                launch=launch,
                expires=time.time() + self.code_lifetime,
            )
        query = urlencode({"code": code, "state": state})
        return RedirectResponse(f"{redirect_uri}?{query}", status_code=303)

    def _patients(self) -> dict[str, Any] | None:
        """The upstream server's first 200 patients (a searchset Bundle); None if unreachable."""
        try:
            with self._http.get(
                f"{self.upstream}/Patient",
                params={"_count": "200"},
                headers={"Accept": "application/fhir+json"},
                timeout=30,
            ) as response:
                bundle = response.json()
        except (requests.RequestException, ValueError):
            return None
        return bundle if isinstance(bundle, dict) else None

    def picker(self, p: Mapping[str, str]) -> Response:
        """Standalone launch: choose the patient (the auto-approved 'login')."""
        bundle = self._patients()
        if bundle is None:
            return _page(502, "FHIR server unreachable", "Cannot list patients.")
        hidden = [(k, v) for k, v in p.items() if k != "chosen_patient"]
        rows = []
        for entry in bundle.get("entry") or []:
            resource = entry.get("resource") or {}
            pid = resource.get("id")
            if resource.get("resourceType") != "Patient" or not isinstance(pid, str):
                continue
            label = f"{_patient_name(resource)} · born {resource.get('birthDate', '?')} · {pid}"
            rows.append((pid, label))
        rows.sort()
        return _page(200, "Choose a patient", kind="picker", hidden=hidden, patients=rows)

    # -- token -------------------------------------------------------------------------------------
    def token(self, form: Mapping[str, str], authorization: str | None) -> Response:
        client, how = self._client_auth(form, authorization)
        grant = form.get("grant_type", "")
        with self._lock:
            self.token_requests.append({"grant_type": grant, "client_auth": how})
        if client is None:
            return _oauth_error(401, "invalid_client", "client authentication failed")
        if grant == "authorization_code":
            return self._code_grant(client, form)
        if grant == "refresh_token":
            return self._refresh_grant(client, form)
        return _oauth_error(400, "unsupported_grant_type", "unsupported grant_type")

    def _client_auth(
        self, form: Mapping[str, str], authorization: str | None
    ) -> tuple[RegisteredClient | None, str]:
        if authorization and authorization.lower().startswith("basic "):
            try:
                raw = base64.b64decode(authorization[6:].strip()).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                return None, "basic"
            client_id, _, secret = raw.partition(":")
            client = self.clients.get(client_id)
            ok = client is not None and client.secret is not None
            ok = ok and secrets.compare_digest(client.secret or "", secret)  # type: ignore[union-attr]
            return (client if ok else None), "basic"
        client = self.clients.get(form.get("client_id", ""))
        if client is None or client.secret is not None:
            return None, "public"
        return client, "public"

    def _code_grant(self, client: RegisteredClient, form: Mapping[str, str]) -> Response:
        with self._lock:
            code = self._codes.pop(form.get("code", ""), None)
        if code is None or code.expires < time.time():
            return _oauth_error(400, "invalid_grant", "unknown, used or expired code")
        if code.client_id != client.client_id:
            return _oauth_error(400, "invalid_grant", "the code was issued to another client")
        if form.get("redirect_uri") != code.redirect_uri:
            return _oauth_error(400, "invalid_grant", "redirect_uri differs")
        verifier = form.get("code_verifier", "")
        if not 43 <= len(verifier) <= 128 or not set(verifier) <= _VERIFIER_CHARS:
            return _oauth_error(400, "invalid_grant", "malformed code_verifier")
        if not secrets.compare_digest(s256(verifier), code.challenge):
            return _oauth_error(400, "invalid_grant", "PKCE verification failed")
        granted = self.grant_scope(code.scope) if self.grant_scope else code.scope
        return self._issue(client, granted, code.patient, refresh=True)

    def _refresh_grant(self, client: RegisteredClient, form: Mapping[str, str]) -> Response:
        with self._lock:
            old = self._refresh_tokens.pop(form.get("refresh_token", ""), None)
            if old is not None:
                self.refreshes += 1
        if old is None or old.client_id != client.client_id:
            return _oauth_error(400, "invalid_grant", "unknown refresh token")
        return self._issue(client, old.scope, old.patient, refresh=True)

    def _issue(
        self, client: RegisteredClient, scope: str, patient: str | None, *, refresh: bool
    ) -> Response:
        access = secrets.token_urlsafe(32)
        now = time.time()
        issued = _Token(client.client_id, scope, patient, now + self.token_lifetime)
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": int(self.token_lifetime),
            "need_patient_banner": self.need_patient_banner,
        }
        if not self.omit_scope:
            body["scope"] = scope
        if patient and not self.omit_patient:
            body["patient"] = patient
        with self._lock:
            self._tokens[access] = issued
            if refresh and self.issue_refresh_tokens:
                token = secrets.token_urlsafe(32)
                self._refresh_tokens[token] = _Token(client.client_id, scope, patient, 0.0)
                body["refresh_token"] = token
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    # -- the FHIR proxy ----------------------------------------------------------------------------
    def forward(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        path = path.strip("/")
        auth = headers.get("authorization") or ""
        authorized = auth.lower().startswith("bearer ") and self.token_valid(auth[7:].strip())
        if path not in _OPEN_PATHS and not authorized:
            self._record(method, path, authorized, 401)
            outcome = {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "login", "diagnostics": "invalid token"}],
            }
            return JSONResponse(
                outcome,
                status_code=401,
                media_type="application/fhir+json",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        target = f"{self.upstream}/{path}" + (f"?{query}" if query else "")
        send = {k: v for k, v in headers.items() if k.lower() not in _HOP_HEADERS}
        try:
            with self._http.request(
                method, target, headers=send, data=body or None, timeout=60
            ) as response:
                payload = response.content.replace(self.upstream.encode(), self.fhir_base.encode())
                keep = {
                    k: v.replace(self.upstream, self.fhir_base)
                    for k, v in response.headers.items()
                    if k.lower() in _KEEP_HEADERS
                }
                status = response.status_code
        except requests.RequestException:
            self._record(method, path, authorized, 502)
            return JSONResponse({"resourceType": "OperationOutcome"}, status_code=502)
        self._record(method, path, authorized, status)
        return Response(payload, status_code=status, headers=keep)

    def _record(self, method: str, path: str, authorized: bool, status: int) -> None:
        with self._lock:
            self.seen.append(SeenRequest(method, path, authorized, status))

    # -- the mini EHR ------------------------------------------------------------------------------
    def ehr_page(self) -> HTMLResponse:
        apps = [c for c in self.clients.values() if c.launch_url]
        bundle = self._patients()
        if bundle is None:
            return _page(502, "FHIR server unreachable", "Cannot list patients.")
        rows = []
        for entry in bundle.get("entry") or []:
            resource = entry.get("resource") or {}
            pid = resource.get("id")
            if resource.get("resourceType") != "Patient" or not isinstance(pid, str):
                continue
            rows.append((pid, _patient_name(resource), str(resource.get("birthDate", ""))))
        return _page(
            200,
            "Demo EHR: patients",
            kind="ehr",
            patients=sorted(rows),
            apps=[c.client_id for c in apps],
        )


def _patient_name(resource: Mapping[str, Any]) -> str:
    for name in resource.get("name") or []:
        if not isinstance(name, dict):
            continue
        if isinstance(name.get("text"), str):
            return str(name["text"])
        given = " ".join(g for g in name.get("given") or [] if isinstance(g, str))
        family = name.get("family") if isinstance(name.get("family"), str) else ""
        full = f"{given} {family}".strip()
        if full:
            return full
    return "(no name)"


_STYLE = (
    "body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:80rem;color:#1f2933}"
    "iframe{border:1px solid #bcccdc;border-radius:6px}"
    "h1{font-size:1.3rem}table{border-collapse:collapse;width:100%}"
    "td,th{border-bottom:1px solid #d9e2ec;padding:.4rem;text-align:left}"
    "ul.patients{list-style:none;padding:0}ul.patients li{margin:.3rem 0}"
    "button{font:inherit;padding:.4rem .8rem;cursor:pointer;width:100%;text-align:left}"
)


def _page(
    status: int, title: str, message: str = "", *, kind: str = "message", **context: Any
) -> HTMLResponse:
    """One of the tool's pages (templates/devtools_page.html, autoescaped)."""
    page = render(
        "devtools_page.html",
        package=__package__ or "trdfhir.devtools",
        title=title,
        message=message,
        kind=kind,
        style=Markup(_STYLE),  # noqa: S704 (our constant)
        **context,
    )
    return HTMLResponse(page, status_code=status, headers={"Cache-Control": "no-store"})


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


# -- running an ASGI app on 127.0.0.1 in a thread ------------------------------------------------
def serve_in_thread(
    app: Any, port: int = 0, *, timeout: float = 15.0
) -> tuple[uvicorn.Server, threading.Thread, int]:
    """Start uvicorn for `app` on 127.0.0.1:`port` (0: any free port) in a daemon thread and
    wait until it accepts connections; returns the server, the thread and the bound port."""
    config = uvicorn.Config(
        app, host=HOST, port=port, log_level="warning", access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the test server did not start on {HOST}:{port}")
        time.sleep(0.02)
    bound: int = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, bound


def stop_thread_server(server: uvicorn.Server, thread: threading.Thread) -> None:
    server.should_exit = True
    thread.join(timeout=10)
