"""A tiny FHIR server on 127.0.0.1 for the API tests: serves one patient's resources (read and
`?patient=` search), a CapabilityStatement, and a JWK Set at /jwks; can demand a bearer token
and remembers every request."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

HOST = "127.0.0.1"


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    authorization: str | None


@dataclass
class StubFhir:
    resources: list[dict[str, Any]] = field(default_factory=list)
    jwks: dict[str, Any] = field(default_factory=lambda: {"keys": []})
    token: str | None = None  # demanded as Bearer when set
    seen: list[Seen] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)  # resource type -> HTTP status
    include: bool = True  # honour _include=<type>:medication
    ignore_patient: set[str] = field(default_factory=set)  # types searched as if unfiltered

    def __post_init__(self) -> None:
        stub = self
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:
                status, body = stub.answer(self.path, self.headers.get("Authorization"))
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        port = self._server.server_address[1]
        self.origin = f"http://{HOST}:{port}"
        self.base = f"{self.origin}/fhir"
        self.jwks_url = f"{self.origin}/jwks"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def paths(self) -> list[str]:
        with self._lock:
            return [s.path for s in self.seen]

    def answer(self, raw_path: str, authorization: str | None) -> tuple[int, Any]:
        url = urlsplit(raw_path)
        query = dict(parse_qsl(url.query))
        with self._lock:
            self.seen.append(Seen(url.path, query, authorization))
        if url.path == "/jwks":
            return 200, self.jwks
        path = url.path.removeprefix("/fhir").strip("/")
        if path == "metadata":
            return 200, {
                "resourceType": "CapabilityStatement",
                "fhirVersion": "4.0.1",
                "status": "active",
                "kind": "instance",
                "format": ["json"],
            }
        if self.token is not None and authorization != f"Bearer {self.token}":
            return 401, _outcome("login", "bearer token required")
        rtype, _, rid = path.partition("/")
        if rtype in self.fail:
            return self.fail[rtype], _outcome("exception", "injected failure")
        if rid:
            found = next(
                (r for r in self.resources if r["resourceType"] == rtype and r.get("id") == rid),
                None,
            )
            return (200, found) if found else (404, _outcome("not-found", f"{path} not found"))
        patient = query.get("patient") or query.get("subject", "").removeprefix("Patient/")
        matches = [
            r
            for r in self.resources
            if r["resourceType"] == rtype and (rtype in self.ignore_patient or _of(r) == patient)
        ]
        entries = [
            {
                "fullUrl": f"{self.base}/{rtype}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in matches
        ]
        if self.include and query.get("_include") == f"{rtype}:medication":
            refs = {(r.get("medicationReference") or {}).get("reference") for r in matches}
            entries += [
                {"resource": m, "search": {"mode": "include"}}
                for m in self.resources
                if m["resourceType"] == "Medication" and f"Medication/{m['id']}" in refs
            ]
        return 200, {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(matches),
            "entry": entries,
        }


def _of(resource: dict[str, Any]) -> str | None:
    for key in ("subject", "patient"):
        ref = (resource.get(key) or {}).get("reference", "")
        if ref.startswith("Patient/"):
            return str(ref.split("/", 1)[1])
    return None


def _outcome(code: str, text: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": text}],
    }
