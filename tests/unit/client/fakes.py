"""A scripted FHIR server behind a requests transport adapter: no sockets, no threads."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from trdfhir.client import FhirClient, RetryPolicy

BASE = "https://fhir.test/fhir"

Reply = tuple[int, Any, dict[str, str]] | Exception


@dataclass
class Seen:
    method: str
    path: str  # below the base, e.g. "Observation" or "Patient/p1/$everything"
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: Any
    timeout: Any

    @property
    def params(self) -> dict[str, str]:
        return dict(self.query)


class FakeFhir(BaseAdapter):
    """Answers with `handler(seen)`: (status, JSON body or None, headers), or raises."""

    def __init__(self, handler: Callable[[Seen], Reply]) -> None:
        super().__init__()
        self.handler = handler
        self.seen: list[Seen] = []

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        url = urlsplit(request.url or "")
        path = url.path.removeprefix("/fhir").strip("/")
        raw = request.body
        body = (
            json.loads(raw)
            if raw and isinstance(raw, (bytes, str)) and raw[:1] in (b"{", "{")
            else raw
        )
        seen = Seen(
            method=request.method or "GET",
            path=path,
            query=parse_qsl(url.query, keep_blank_values=True),
            headers=dict(request.headers),
            body=body,
            timeout=kwargs.get("timeout"),
        )
        self.seen.append(seen)
        reply = self.handler(seen)
        if isinstance(reply, Exception):
            raise reply
        status, payload, headers = reply
        response = requests.Response()
        response.status_code = status
        response.reason = {200: "OK", 201: "Created"}.get(status, "Status")
        response.headers = CaseInsensitiveDict(headers)
        response._content = b"" if payload is None else json.dumps(payload).encode()
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass


@dataclass
class Clock:
    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def client_for(
    handler: Callable[[Seen], Reply],
    *,
    retry: RetryPolicy | None = None,
    clock: Clock | None = None,
    **kwargs: Any,
) -> tuple[FhirClient, FakeFhir, Clock]:
    fake = FakeFhir(handler)
    session = requests.Session()
    session.mount("https://fhir.test/", fake)
    clock = clock or Clock()
    client = FhirClient(
        BASE,
        session=session,
        retry=retry or RetryPolicy(attempts=3, backoff=0.5, max_total=30),
        sleep=clock.sleep,
        clock=clock,
        **kwargs,
    )
    return client, fake, clock


def capability(
    *,
    version: str = "4.0.1",
    resources: list[dict[str, Any]] | None = None,
    interactions: tuple[str, ...] = ("transaction", "batch"),
) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "kind": "instance",
        "fhirVersion": version,
        "software": {"name": "fake"},
        "rest": [
            {
                "mode": "server",
                "resource": resources or [],
                "interaction": [{"code": c} for c in interactions],
            }
        ],
    }


def resource_caps(
    rtype: str,
    params: tuple[str, ...] = ("patient", "subject", "_id", "identifier"),
    includes: tuple[str, ...] | None = None,
    operations: tuple[str, ...] = (),
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": rtype,
        "interaction": [{"code": "read"}, {"code": "search-type"}, {"code": "create"}],
        "searchParam": [{"name": p, "type": "token"} for p in params],
        "conditionalCreate": True,
    }
    if includes is not None:
        out["searchInclude"] = list(includes)
    if operations:
        out["operation"] = [
            {"name": o, "definition": f"http://x/OperationDefinition/{o}"} for o in operations
        ]
    return out


def searchset(
    resources: list[dict[str, Any]], next_url: str | None = None, include: tuple[int, ...] = ()
) -> dict[str, Any]:
    entries = []
    for i, r in enumerate(resources):
        entries.append(
            {
                "fullUrl": f"{BASE}/{r['resourceType']}/{r.get('id', i)}",
                "resource": r,
                "search": {"mode": "include" if i in include else "match"},
            }
        )
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def outcome(code: str, text: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": text}],
    }
