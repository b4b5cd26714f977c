"""Helpers of the SMART app tests: drive launch -> authorize -> callback against our test
authorization server (trdfhir.devtools.smart_server) with a FastAPI TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import requests
from fastapi.testclient import TestClient

from trdfhir.devtools.smart_server import RegisteredClient, SmartTestServer
from trdfhir.service import ServiceSettings, create_app

APP = "http://testserver"
CLIENT_ID = "trd-test"


@contextmanager
def running_auth_server(*clients: RegisteredClient) -> Iterator[SmartTestServer]:
    """Our test authorization server on 127.0.0.1 with these clients; its FHIR upstream is never
    reached by launch and callback."""
    server = SmartTestServer("http://127.0.0.1:9/fhir")
    for client in clients:
        server.register(client)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def fresh(server: SmartTestServer) -> Iterator[SmartTestServer]:
    """The server with its switches and records reset before and after one test."""
    server.reset()
    try:
        yield server
    finally:
        server.reset()


def make_client(
    auth: SmartTestServer,
    *,
    base_url: str = APP,
    public_base_url: str | None = None,
    service: dict[str, Any] | None = None,
    **smart: Any,
) -> TestClient:
    """The app with these SMART settings (and `service`: other ServiceSettings)."""
    values: dict[str, Any] = {"client_id": CLIENT_ID, "iss": auth.fhir_base}
    values.update(smart)
    settings = ServiceSettings(
        cds_auth_required=False,
        smart={k: v for k, v in values.items() if v is not None},
        public_base_url=public_base_url,
        **(service or {}),
    )
    return TestClient(create_app(settings), base_url=base_url, raise_server_exceptions=False)


def launch(
    client: TestClient,
    auth: SmartTestServer,
    patient: str | None = "p1",
    *,
    headers: dict[str, str] | None = None,
    **params: str,
) -> httpx.Response:
    """GET /app/launch: an EHR launch for `patient` (None: a standalone launch)."""
    query: dict[str, str] = {"iss": auth.fhir_base}
    if patient is not None:
        query["launch"] = auth.new_launch(patient)
    query.update(params)
    return client.get("/app/launch", params=query, headers=headers, follow_redirects=False)


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {**query_of(url), **changes}
    return urlunsplit(parts._replace(query=urlencode(query)))


def authorize(url: str) -> str:
    """Follow the authorize redirect at the test server; returns where it sends the browser."""
    with requests.get(url, allow_redirects=False, timeout=10) as response:
        assert response.status_code == 303, response.text[:300]
        return str(response.headers["location"])


def callback(client: TestClient, url: str) -> httpx.Response:
    parts = urlsplit(url)
    return client.get(f"{parts.path}?{parts.query}", follow_redirects=False)


def sign_in(client: TestClient, auth: SmartTestServer, patient: str = "p1") -> httpx.Response:
    """launch -> authorize -> callback; returns the callback's response (303 to the page)."""
    started = launch(client, auth, patient)
    assert started.status_code == 302, started.text[:300]
    return callback(client, authorize(started.headers["location"]))
