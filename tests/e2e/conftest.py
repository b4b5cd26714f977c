"""End-to-end fixtures: the real sandbox FHIR server (tests/integration's session fixture, via
tests/conftest.py), our SMART test authorization server with its token-checking FHIR proxy in
front of it, the trd-fhir service on a real 127.0.0.1 port, and Debian's headless Chromium
driven by Playwright (executable_path; never `playwright install`)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from trdfhir.devtools.smart_server import (
    RegisteredClient,
    SmartTestServer,
    serve_in_thread,
    stop_thread_server,
)
from trdfhir.sandbox import Example, free_port
from trdfhir.service import ServiceSettings, create_app

from ..integration.conftest import load_clone

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CLIENT_ID = "trd-e2e"


@dataclass(frozen=True)
class Stack:
    ehr: SmartTestServer  # authorization server + FHIR proxy + mini EHR
    app: str  # the trd-fhir service's base URL
    fhir: str  # the sandbox FHIR server behind the proxy

    def ehr_launch(self, patient: str) -> str:
        return f"{self.ehr.base}/ehr/launch/{CLIENT_ID}/{patient}"

    def embedded(self, patient: str) -> str:
        return f"{self.ehr.base}/ehr/embed/{CLIENT_ID}/{patient}"


WRITE_PATIENT = "e2e-vignette-02"  # a copy of vignette-02 that only the write-back test writes


@pytest.fixture(scope="session")
def stack(loaded: str, examples: list[Example]) -> Iterator[Stack]:
    source = next(e for e in examples if e.patient_id == "vignette-02")
    clone = load_clone(loaded, source, WRITE_PATIENT)
    ehr = SmartTestServer(loaded).start()
    port = free_port()
    app = f"http://127.0.0.1:{port}"
    ehr.register(
        RegisteredClient(CLIENT_ID, (f"{app}/app/callback",), launch_url=f"{app}/app/launch")
    )
    settings = ServiceSettings(
        cds_auth_required=False,
        smart={
            "client_id": CLIENT_ID,
            "iss": ehr.fhir_base,
            "frame_ancestors": [ehr.base],
            "as_of_by_patient": {e.patient_id: e.as_of.isoformat() for e in [*examples, clone]},
        },
    )
    server, thread, _ = serve_in_thread(create_app(settings), port)
    try:
        yield Stack(ehr=ehr, app=app, fhir=loaded)
    finally:
        stop_thread_server(server, thread)
        ehr.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is missing (make test installs Debian's chromium)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        yield tab
    finally:
        context.close()
    assert not errors, f"browser errors in {request.node.name}: {errors}"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS
