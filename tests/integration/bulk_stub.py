"""A small Bulk Data server of our own on 127.0.0.1, for what the sandbox server (sekmet-fhir)
cannot do on demand: gzip-encoded files, `requiresAccessToken: true`, tokens that expire between
two downloads, the Patient-level `patient` parameter, 429s while polling, files that vanish.

One export job at a time: kick-off at `[base]/$export`, `Patient/$export` (GET, or POST of
Parameters) or `Group/{id}/$export` -> 202 with the status URL; the status answers what
`status_script` holds first (e.g. a 429 with Retry-After), then `polls` times 202 with X-Progress,
then the manifest; files at `[base]/files/<name>`.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

HOST = "127.0.0.1"


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


def ndjson(resources: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in resources)


@dataclass
class BulkStub:
    files: dict[str, tuple[str, bytes]]  # name -> (resource type, NDJSON bytes)
    errors: dict[str, bytes] = field(default_factory=dict)  # name -> OperationOutcome NDJSON
    medications: dict[str, dict[str, Any]] = field(default_factory=dict)  # for _id searches
    polls: int = 1
    retry_after: str = "0"
    requires_token: bool = False
    gzip: bool = False
    token_ok: Callable[[str], bool] | None = None  # None: no check at all
    status_script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    vanished: set[str] = field(default_factory=set)
    transaction_time: str = "2026-11-21T10:00:00Z"
    levels: set[str] = field(default_factory=lambda: {"$export", "Patient/$export", "Group"})

    def __post_init__(self) -> None:
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.polled = 0
        self.deleted = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _handle(self) -> None:
                stub._handle(self)

            do_GET = do_POST = do_DELETE = _handle

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server((HOST, 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        self.base = f"http://{HOST}:{self.server.server_address[1]}/fhir"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def count(self, method: str, prefix: str) -> int:
        with self.lock:
            return sum(1 for s in self.seen if s.method == method and s.path.startswith(prefix))

    # -- handling ------------------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        path = url.path.removeprefix("/fhir").strip("/")
        query: dict[str, list[str]] = {}
        for k, v in parse_qsl(url.query, keep_blank_values=True):
            query.setdefault(k, []).append(v)
        seen = Seen(h.command, path, query, dict(h.headers.items()), body)
        with self.lock:
            self.seen.append(seen)
        if path == "metadata":
            return self._json(h, 200, _capabilities())
        if self.token_ok is not None:
            auth = h.headers.get("Authorization") or ""
            if not (auth.startswith("Bearer ") and self.token_ok(auth[7:])):
                return self._json(h, 401, _outcome("login", "token refused"))
        if path.endswith("$export"):
            level = "Group" if path.startswith("Group/") else path
            if level not in self.levels:
                return self._json(h, 404, _outcome("not-supported", "no such operation"))
            if "respond-async" not in (h.headers.get("Prefer") or ""):
                return self._json(h, 400, _outcome("invalid", "Prefer: respond-async needed"))
            self.polled = 0
            return self._send(h, 202, b"", {"Content-Location": f"{self.base}/status/1"})
        if path == "status/1":
            if h.command == "DELETE":
                self.deleted += 1
                return self._send(h, 202, b"", {})
            if self.status_script:
                status, headers = self.status_script.pop(0)
                return self._send(
                    h, status, json.dumps(_outcome("throttled", "x")).encode(), headers
                )
            if self.polled < self.polls:
                self.polled += 1
                headers = {"X-Progress": f"step {self.polled}", "Retry-After": self.retry_after}
                return self._send(h, 202, b"", headers)
            return self._json(h, 200, self.manifest())
        if path.startswith("files/"):
            name = path[len("files/") :]
            data = (
                self.files.get(name, ("", b""))[1] if name in self.files else self.errors.get(name)
            )
            if data is None or name in self.vanished:
                return self._json(h, 404, _outcome("not-found", "no such file"))
            headers = {"Content-Type": "application/fhir+ndjson"}
            if self.gzip and "gzip" in (h.headers.get("Accept-Encoding") or ""):
                data = gzip.compress(data)
                headers["Content-Encoding"] = "gzip"
            return self._send(h, 200, data, headers)
        if path == "Medication":
            ids = ",".join(query.get("_id", [])).split(",")
            found = [self.medications[i] for i in ids if i in self.medications]
            bundle = {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [{"resource": m, "search": {"mode": "match"}} for m in found],
            }
            return self._json(h, 200, bundle)
        return self._json(h, 404, _outcome("not-found", "unknown path"))

    def manifest(self) -> dict[str, Any]:
        return {
            "transactionTime": self.transaction_time,
            "request": f"{self.base}/Patient/$export",
            "requiresAccessToken": self.requires_token,
            "output": [
                {"type": rtype, "url": f"{self.base}/files/{name}"}
                for name, (rtype, _) in self.files.items()
            ],
            "error": [
                {"type": "OperationOutcome", "url": f"{self.base}/files/{name}"}
                for name in self.errors
            ],
        }

    def _json(self, h: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        self._send(h, status, json.dumps(body).encode(), {"Content-Type": "application/fhir+json"})

    @staticmethod
    def _send(
        h: BaseHTTPRequestHandler, status: int, payload: bytes, headers: dict[str, str]
    ) -> None:
        try:
            h.send_response(status)
            for k, v in headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass


def _outcome(code: str, text: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": text}],
    }


def _capabilities() -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "fhirVersion": "4.0.1",
        "software": {"name": "bulk stub"},
        "rest": [{"mode": "server", "operation": [{"name": "export"}]}],
    }
