"""The service against the real sandbox FHIR server: `GET Patient/{id}/$trd-evaluate`, CDS Hooks
calls whose data comes only from the server (prefetch fallback with a bearer token checked by the
proxy), and the card's draft CarePlan accepted by a real server."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, time
from typing import Any

import pytest
import requests
from fastapi.testclient import TestClient

from trdfhir import evaluate
from trdfhir.sandbox import Example
from trdfhir.service import ServiceSettings, create_app

from .conftest import load_clone
from .servers import FaultProxy

pytestmark = pytest.mark.integration

TOKEN = "sandbox-token-1"  # noqa: S105 - a test token


def _example(examples: list[Example], prefix: str) -> Example:
    return next(e for e in examples if e.path.name.startswith(prefix))


def _client(ex: Example, **kw: Any) -> TestClient:
    moment = datetime.combine(ex.as_of, time(12), tzinfo=UTC)
    settings = ServiceSettings(cds_auth_required=False, now=lambda: moment, **kw)
    return TestClient(create_app(settings), raise_server_exceptions=False)


def _summary(body: dict[str, Any]) -> dict[str, Any]:
    part = next(p for p in body["parameter"] if p["name"] == "summary")
    data: dict[str, Any] = json.loads(part["valueString"])
    return data


@pytest.mark.parametrize("prefix", ["02", "06", "11"])
def test_get_patient_evaluate_from_the_sandbox(
    prefix: str, loaded: str, examples: list[Example]
) -> None:
    ex = load_clone(loaded, _example(examples, prefix), f"svc-get-{prefix}")
    client = _client(ex, fhir_base_url=loaded)
    response = client.get(f"/fhir/Patient/{ex.patient_id}/$trd-evaluate?asOf={ex.as_of}")
    assert response.status_code == 200, response.text
    got = _summary(response.json())
    want = evaluate(ex.bundle, as_of=ex.as_of).summary()
    assert got["patient"] == f"Patient/{ex.patient_id}"
    assert got["stages"] == want["stages"]
    assert [t["agent"] for t in got["trials"]] == [t["agent"] for t in want["trials"]]


def test_get_unknown_patient_is_404(loaded: str, examples: list[Example]) -> None:
    client = _client(_example(examples, "01"), fhir_base_url=loaded)
    response = client.get("/fhir/Patient/no-such-patient/$trd-evaluate")
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"


def _view(ex: Example, fhir_server: str, token: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": "hook-int-1",
        "fhirServer": fhir_server,
        "context": {"userId": "Practitioner/dr-1", "patientId": ex.patient_id},
    }
    if token:
        body["fhirAuthorization"] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "trd-fhir",
            "patient": ex.patient_id,
        }
    return body


def test_cds_fetches_everything_with_the_bearer_token(
    loaded: str, examples: list[Example], proxy: FaultProxy
) -> None:
    ex = load_clone(loaded, _example(examples, "02"), "svc-cds-02")
    proxy.accept_token = lambda t: t == TOKEN
    client = _client(ex)
    response = client.post("/cds-services/trd-patient-view", json=_view(ex, proxy.base, TOKEN))
    assert response.status_code == 200, response.text
    cards = response.json()["cards"]
    assert cards[-1]["summary"].startswith("TRD: regulatory met; Thase")
    assert "ESM CRD" in cards[-1]["summary"]  # the Medication was found: all trials counted
    searched = {r.path for r in proxy.seen if r.method == "GET"}
    assert {"Observation", "MedicationRequest", "Condition", f"Patient/{ex.patient_id}"} <= searched
    assert all(r.headers.get("Authorization") == f"Bearer {TOKEN}" for r in proxy.seen)


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_cds_412_when_the_server_refuses(
    token: str | None, loaded: str, examples: list[Example], proxy: FaultProxy
) -> None:
    ex = _example(examples, "01")
    proxy.accept_token = lambda t: t == TOKEN
    response = _client(ex).post("/cds-services/trd-patient-view", json=_view(ex, proxy.base, token))
    assert response.status_code == 412, response.text
    assert "401" in response.json()["issue"][0]["diagnostics"]


def test_card_careplan_is_accepted_by_a_real_server(loaded: str, examples: list[Example]) -> None:
    ex = load_clone(loaded, _example(examples, "04"), "svc-plan-04")
    response = _client(ex).post("/cds-services/trd-patient-view", json=_view(ex, loaded, None))
    assert response.status_code == 200, response.text
    suggestions = [s for c in response.json()["cards"] for s in c.get("suggestions", [])]
    assert suggestions
    plan = suggestions[0]["actions"][0]["resource"]
    created = requests.post(
        f"{loaded}/CarePlan",
        json=plan,
        headers={"Content-Type": "application/fhir+json"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    stored = created.json()
    assert (stored["status"], stored["intent"]) == ("draft", "proposal")
    assert stored["subject"] == {"reference": f"Patient/{ex.patient_id}"}
    uuid.UUID(suggestions[0]["uuid"])


def test_cds_fetch_filters_what_the_server_did_not(loaded: str, examples: list[Example]) -> None:
    """The sandbox server ignores `patient` on QuestionnaireResponse searches: another patient's
    answers came back and the call was a 422 (issue 11, item 14). The service now leaves out
    what it fetched for another patient, with a warning."""
    ex = load_clone(loaded, _example(examples, "01"), "svc-qr-mine")
    other = load_clone(loaded, _example(examples, "01"), "svc-qr-other")
    answers = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "subject": {"reference": f"Patient/{other.patient_id}"},
        "authored": "2026-08-01",
    }
    created = requests.post(
        f"{loaded}/QuestionnaireResponse",
        json=answers,
        headers={"Content-Type": "application/fhir+json"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    found = requests.get(
        f"{loaded}/QuestionnaireResponse", params={"patient": ex.patient_id}, timeout=30
    ).json()
    entries = found.get("entry", [])
    served = {(e["resource"].get("subject") or {}).get("reference") for e in entries}
    response = _client(ex).post("/cds-services/trd-patient-view", json=_view(ex, loaded, None))
    assert response.status_code == 200, response.text
    summary = response.json()["cards"][-1]["summary"]
    assert summary.startswith("TRD: regulatory met")
    if f"Patient/{other.patient_id}" in served:  # the quirk this test is about
        assert "data warning" in response.json()["cards"][-1]["detail"]
