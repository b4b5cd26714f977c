"""The SMART app's page and write-back against the real sandbox FHIR server, through our test
authorization server's token-checking proxy: what the page shows, that every FHIR call carries
the user's token (and no token reaches the page or the log), refresh, and the write itself."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from trdfhir.client import FhirClient
from trdfhir.devtools.smart_server import RegisteredClient, SmartTestServer
from trdfhir.emit.ids import ASSESSMENT_SYSTEM, CAREPLAN_SYSTEM
from trdfhir.sandbox import Example

from ..integration.conftest import load_clone
from .smart_support import APP, CLIENT_ID, make_client, sign_in

pytestmark = pytest.mark.integration

PATIENT = "vignette-02"  # six treatments incl. lithium augmentation and an ECT course


@pytest.fixture(scope="module")
def ehr(loaded: str) -> Iterator[SmartTestServer]:
    server = SmartTestServer(loaded)
    server.register(RegisteredClient(CLIENT_ID, (f"{APP}/app/callback",)))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def auth(ehr: SmartTestServer) -> Iterator[SmartTestServer]:
    ehr.reset()
    ehr.issue_refresh_tokens = True
    try:
        yield ehr
    finally:
        ehr.reset()
        ehr.issue_refresh_tokens = True


WRITE_PATIENT = "api-vignette-11"  # a copy of vignette-11 that only the write-back test writes


@pytest.fixture(scope="module")
def write_patient(loaded: str, examples: list[Example]) -> Example:
    source = next(e for e in examples if e.patient_id == "vignette-11")
    return load_clone(loaded, source, WRITE_PATIENT)


@pytest.fixture
def app(auth: SmartTestServer, examples: list[Example], write_patient: Example) -> TestClient:
    hints = {e.patient_id: e.as_of.isoformat() for e in [*examples, write_patient]}
    return make_client(auth, as_of_by_patient=hints)


def signed_in(client: TestClient, auth: SmartTestServer, patient: str = PATIENT) -> None:
    response = sign_in(client, auth, patient)
    assert response.status_code == 303, response.text[:500]


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def wide_chart(html: str) -> str:
    """The desktop chart alone (the page also holds the phone layout of the same timeline)."""
    match = re.search(r'<svg class="timeline" .*?</svg>', html, re.S)
    assert match
    return match.group(0)


def test_page_shows_banner_timeline_staging_findings_suggestions(
    app: TestClient, auth: SmartTestServer
) -> None:
    signed_in(app, auth)
    page = app.get("/app/")
    assert page.status_code == 200, page.text[:500]
    html = page.text
    assert "Thomas Brennan" in html and "30 Sep 1971" in html and PATIENT in html
    chart = wide_chart(html)
    assert chart.count('class="trial-bar"') == 6
    assert chart.count('data-kind="augmentation"') == 1 and chart.count('data-kind="ect"') == 1
    assert chart.count("session-tick") == 12
    assert 'class="threshold remission"' in chart and 'class="threshold response"' in chart
    assert html.count("<tr data-model=") == 10
    assert "Stage V" in html and "CRD (chronic)" in html
    assert "Suggestions for the clinician, not orders." in html
    assert 'id="writeback-button" class="primary">' in html  # enabled
    assert "as of 1 Oct 2026" in html  # the vignette's as-of date from the settings
    assert "content-security-policy" in page.headers


def test_every_fhir_call_carried_a_valid_token_and_no_token_leaks(
    app: TestClient, auth: SmartTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    signed_in(app, auth)
    html = app.get("/app/").text
    write = app.post(
        "/app/write-back",
        json={"csrf_token": csrf_of(html)},
        headers={"Accept": "application/json"},
    )
    assert write.status_code == 200, write.text
    fhir_calls = [r for r in auth.seen if r.path not in ("metadata",)]
    assert fhir_calls and all(r.authorized for r in fhir_calls)
    assert any(r.method == "POST" and r.path == "" for r in fhir_calls)  # the transaction
    for token in auth.access_tokens():
        assert token not in html and token not in caplog.text and token not in write.text


def test_as_of_query_parameter_and_bad_dates(app: TestClient, auth: SmartTestServer) -> None:
    signed_in(app, auth)
    earlier = app.get("/app/", params={"as_of": "2025-12-01"})
    assert earlier.status_code == 200
    assert "as of 1 Dec 2025" in earlier.text
    bars = wide_chart(earlier.text).count('class="trial-bar"')
    assert bars == 2  # sertraline, venlafaxine so far
    assert app.get("/app/", params={"as_of": "yesterday"}).status_code == 400


def test_write_back_writes_then_writes_nothing_new(
    app: TestClient, auth: SmartTestServer, loaded: str
) -> None:
    signed_in(app, auth, WRITE_PATIENT)
    html = app.get("/app/").text
    assert 'role="alert"' in html  # PHQ-9 item 9 positive
    headers = {"Accept": "application/json", "X-CSRF-Token": csrf_of(html)}
    first = app.post("/app/write-back", json={}, headers=headers)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["ok"] and body["created"]
    with FhirClient(loaded) as fhir:
        plans = fhir.search(
            "CarePlan", {"identifier": f"{CAREPLAN_SYSTEM}|{WRITE_PATIENT}", "status": "draft"}
        )
        assert len(plans) == 1 and plans[0]["intent"] == "proposal"
        observations = fhir.search(
            "Observation", {"patient": WRITE_PATIENT, "identifier": f"{ASSESSMENT_SYSTEM}|"}
        )
        written = [o for o in observations if f"Observation/{o['id']}" in body["created"]]
        assert written
        flags = fhir.search("Flag", {"patient": WRITE_PATIENT})
        assert flags
    second = app.post("/app/write-back", json={}, headers=headers)
    assert second.status_code == 200
    assert second.json()["created"] == [] and "Nothing new" in second.json()["message"]


def test_form_post_without_javascript(app: TestClient, auth: SmartTestServer) -> None:
    signed_in(app, auth, "vignette-01")
    html = app.get("/app/").text
    response = app.post(
        "/app/write-back",
        data={"csrf_token": csrf_of(html), "as_of": "2026-09-01"},
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert "Written to the record" in response.text or "Nothing new" in response.text
    assert "Back to the assessment" in response.text


def test_expired_token_is_refreshed(app: TestClient, auth: SmartTestServer) -> None:
    signed_in(app, auth)
    assert app.get("/app/").status_code == 200
    auth.expire_access_tokens()
    again = app.get("/app/")
    assert again.status_code == 200
    assert auth.refreshes == 1
    assert auth.token_requests[-1]["grant_type"] == "refresh_token"


def test_expired_token_without_refresh_token_asks_to_launch_again(
    app: TestClient, auth: SmartTestServer
) -> None:
    auth.issue_refresh_tokens = False
    signed_in(app, auth)
    auth.expire_access_tokens()
    response = app.get("/app/")
    assert response.status_code == 401
    assert "Launch the app again" in response.text


def test_read_only_grant_disables_the_button_with_the_reason(
    app: TestClient, auth: SmartTestServer
) -> None:
    auth.grant_scope = lambda scope: " ".join(
        s for s in scope.split() if not s.endswith((".c", ".cu"))
    )
    signed_in(app, auth)
    html = app.get("/app/").text
    assert 'id="writeback-button" class="primary" disabled' in html
    assert "was not granted patient/Observation.c, patient/CarePlan.c" in html


def test_unknown_patient_is_a_clear_error(app: TestClient, auth: SmartTestServer) -> None:
    signed_in(app, auth, "no-such-patient")
    response = app.get("/app/")
    assert response.status_code == 502
    assert "not on the server" in response.text
