"""Small HTTP servers of our own for the integration tests, all on 127.0.0.1:

- FaultProxy: sits in front of the real sandbox FHIR server and, on demand, answers 503/500,
  delays, forwards then fails, edits the CapabilityStatement, serves a SMART configuration and
  checks bearer tokens;
- TokenServer: a SMART backend-services authorization server that verifies each client
  assertion against the client's public JWKS, and issues (possibly already expired) tokens.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
import requests

HOST = "127.0.0.1"


@dataclass
class Request:
    method: str
    path: str  # below /fhir, e.g. "Observation" or "" for the base
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Rule:
    match: Callable[[Request], bool]
    action: str  # "respond" | "delay" | "forward-then"
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    times: int = 1
    hits: int = 0
    # the answer of "respond"/"forward-then" (default: an outcome), or a function of the request
    body: bytes | Callable[[Request], bytes] | None = None


def _outcome(status: int) -> bytes:
    return json.dumps(
        {
            "resourceType": "OperationOutcome",
            "issue": [
                {"severity": "error", "code": "transient", "diagnostics": f"injected {status}"}
            ],
        }
    ).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def _start(handler: type[BaseHTTPRequestHandler]) -> tuple[_Server, threading.Thread]:
    server = _Server((HOST, 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    return server, thread


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")  # http://127.0.0.1:N/fhir
        self.rules: list[Rule] = []
        self.seen: list[Request] = []
        self.patch_metadata: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        self.smart_configuration: dict[str, Any] | None = None
        self.accept_token: Callable[[str], bool] | None = None
        self._session = requests.Session()
        self._lock = threading.RLock()  # rules may call count()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _handle(self) -> None:
                proxy._handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        self._server, self._thread = _start(Handler)
        self.base = f"http://{HOST}:{self._server.server_address[1]}/fhir"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._session.close()

    def reset(self) -> None:
        with self._lock:
            self.rules.clear()
            self.seen.clear()
        self.patch_metadata = None
        self.smart_configuration = None
        self.accept_token = None

    def add(self, match: Callable[[Request], bool], action: str = "respond", **kwargs: Any) -> Rule:
        rule = Rule(match=match, action=action, **kwargs)
        with self._lock:
            self.rules.append(rule)
        return rule

    def count(self, match: Callable[[Request], bool]) -> int:
        with self._lock:
            return sum(1 for r in self.seen if match(r))

    # -- request handling ----------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        path = url.path.removeprefix("/fhir").strip("/")
        request = Request(h.command, path, url.query, dict(h.headers.items()), body)
        with self._lock:
            self.seen.append(request)
            rule = next((r for r in self.rules if r.hits < r.times and r.match(request)), None)
            if rule:
                rule.hits += 1
        if path == ".well-known/smart-configuration" and self.smart_configuration is not None:
            return self._send(h, 200, json.dumps(self.smart_configuration).encode(), {})
        if self.accept_token is not None and path not in (
            "metadata",
            ".well-known/smart-configuration",
        ):
            auth = h.headers.get("Authorization") or ""
            if not (auth.startswith("Bearer ") and self.accept_token(auth[7:])):
                return self._send(
                    h, 401, _outcome(401), {"WWW-Authenticate": 'Bearer error="invalid_token"'}
                )
        answer = rule.body(request) if rule and callable(rule.body) else rule and rule.body
        if rule and rule.action == "respond":
            return self._send(h, rule.status, answer or _outcome(rule.status), rule.headers)
        if rule and rule.action == "delay":
            time.sleep(rule.delay)
        try:
            status, payload, headers = self._forward(request)
        except requests.RequestException:
            status, payload, headers = 502, _outcome(502), {}
        if rule and rule.action == "forward-then":
            return self._send(h, rule.status, answer or _outcome(rule.status), rule.headers)
        self._send(h, status, payload, headers)

    def _forward(self, r: Request) -> tuple[int, bytes, dict[str, str]]:
        target = f"{self.upstream}/{r.path}" + (f"?{r.query}" if r.query else "")
        headers = {
            k: v
            for k, v in r.headers.items()
            if k.lower() not in ("host", "authorization", "content-length")
        }
        with self._session.request(
            r.method, target, headers=headers, data=r.body or None, timeout=30
        ) as resp:
            payload = resp.content.replace(self.upstream.encode(), self.base.encode())
            if r.path == "metadata" and self.patch_metadata is not None:
                payload = json.dumps(self.patch_metadata(json.loads(payload))).encode()
            keep = {
                k: v.replace(self.upstream, self.base)
                for k, v in resp.headers.items()
                if k.lower()
                in ("content-type", "location", "etag", "content-location", "retry-after")
            }
            return resp.status_code, payload, keep

    @staticmethod
    def _send(
        h: BaseHTTPRequestHandler, status: int, payload: bytes, headers: dict[str, str]
    ) -> None:
        try:
            h.send_response(status)
            headers = {"Content-Type": "application/fhir+json", **headers}
            for k, v in headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests)


class TokenServer:
    """POST /token: client_credentials with a private_key_jwt assertion, verified against the
    registered JWKS; issues tokens, the first `expired` of them already expired."""

    def __init__(
        self, client_id: str, jwks: dict[str, Any], *, expired: int = 0, lifetime: int = 300
    ) -> None:
        self.client_id = client_id
        self.jwks = jwks
        self.expired = expired
        self.lifetime = lifetime
        self.requests: list[dict[str, Any]] = []  # what each token request carried, verified
        self.errors: list[str] = []
        self.valid: set[str] = set()
        self.jtis: set[str] = set()
        self._lock = threading.Lock()
        tokens = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                status, body = tokens._token(form)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server, self._thread = _start(Handler)
        self.url = f"http://{HOST}:{self._server.server_address[1]}/token"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def accept(self, token: str) -> bool:
        with self._lock:
            return token in self.valid

    def _fail(self, why: str) -> tuple[int, dict[str, Any]]:
        self.errors.append(why)
        return 401, {"error": "invalid_client", "error_description": why}

    def _token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            if form.get("grant_type") != "client_credentials":
                return 400, {"error": "unsupported_grant_type"}
            if (
                form.get("client_assertion_type")
                != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            ):
                return self._fail("wrong client_assertion_type")
            assertion = form.get("client_assertion", "")
            try:
                header = jwt.get_unverified_header(assertion)
                keys = [k for k in self.jwks["keys"] if k.get("kid") == header.get("kid")]
                if not keys:
                    return self._fail("unknown kid")
                if header.get("alg") not in ("RS384", "ES384") or header.get("typ") != "JWT":
                    return self._fail("bad header")
                claims = jwt.decode(
                    assertion,
                    jwt.PyJWK.from_dict(keys[0]),
                    algorithms=[header["alg"]],
                    audience=self.url,
                    issuer=self.client_id,
                    options={"require": ["exp", "jti", "iss", "sub", "aud"]},
                )
            except jwt.PyJWTError as exc:
                return self._fail(f"assertion rejected: {exc}")
            if claims["sub"] != self.client_id:
                return self._fail("sub is not the client id")
            if claims["exp"] - time.time() > 300:
                return self._fail("exp more than 5 minutes ahead")
            if claims["jti"] in self.jtis:
                return self._fail("jti replayed")
            self.jtis.add(claims["jti"])
            n = len(self.requests) + 1
            self.requests.append({"header": header, "claims": claims, "scope": form.get("scope")})
            token = f"token-{n}"
            if n > self.expired:
                self.valid.add(token)
            return 200, {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": self.lifetime,
                "scope": form.get("scope"),
            }
