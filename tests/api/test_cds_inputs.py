"""What CDS clients send and what the service fetches, read as the clinical spec says (issue 11,
items 6, 11 and 14): patient-specific resources that name no patient are left out with a
warning; search results the service fetched itself are filtered to the patient with a warning
(servers have quirks); a malformed field in a draft order is read around, or that order is
skipped with a note, as the CDS Hooks sandbox sends `category` as an object."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from trdfhir.service.cds_models import CdsRequest
from trdfhir.service.prefetch import gather

from .conftest import cds_request, example, prefetch_of
from .stub_fhir import StubFhir
from .test_cds import SELECT, SIGN, VIEW, _order, _order_body, cards_of, error_of, post

EX = example("01")  # PHQ-9 15 on 2026-08-25: non-response to escitalopram


def _remission_phq9(**who: Any) -> dict[str, Any]:
    """A PHQ-9 of 3 the day before the as-of date: counted as the patient's, it would turn the
    latest trial into a response and change the staging."""
    obs = copy.deepcopy(next(r for r in EX.resources if r.get("id") == "v01-obs-phq9-2026-08-25"))
    obs.pop("subject")
    obs.update(id="phq9-nobody", effectiveDateTime="2026-08-31", **who)
    obs["valueQuantity"]["value"] = 3
    return obs


def _with_observations(*extra: dict[str, Any]) -> dict[str, Any]:
    prefetch = prefetch_of(EX)
    prefetch["observations"]["entry"] += [
        {"resource": r, "search": {"mode": "match"}} for r in extra
    ]
    return prefetch


def _warnings(card: dict[str, Any]) -> str:
    return str(card["detail"]).rsplit("\n", 1)[-1]


# -- item 6: resources that name no patient --------------------------------------------------------
@pytest.mark.parametrize(
    "who",
    [
        {},  # no subject at all
        {"subject": {"identifier": {"system": "urn:oid:1.2.3", "value": "MRN-1"}}},
        {"subject": {"display": "the patient"}},
    ],
)
def test_a_resource_that_names_no_patient_is_left_out_with_a_warning(
    who: dict[str, Any], make_client: Callable[..., TestClient]
) -> None:
    client = make_client(EX)
    (baseline,) = cards_of(post(client, VIEW, cds_request(EX, instance="i")))
    body = cds_request(EX, prefetch=_with_observations(_remission_phq9(**who)), instance="i")
    (card,) = cards_of(post(client, VIEW, body))
    assert card["summary"] == baseline["summary"]  # the PHQ-9 of 3 was not counted
    assert "non-response" in card["summary"] or "non-responder" in card["summary"]
    request = CdsRequest.model_validate(body)
    gathered = gather(request, EX.patient_id)
    (warning,) = gathered.warnings
    assert warning.code == "no-patient"
    assert warning.location == "Observation/phq9-nobody.subject"
    assert "names no patient" in warning.diagnostic
    assert all(r.get("id") != "phq9-nobody" for r in gathered.resources)


def test_shared_resources_without_a_subject_are_kept() -> None:
    prefetch = prefetch_of(example("02"))  # carries an _included Medication
    request = CdsRequest.model_validate(cds_request(example("02"), prefetch=prefetch))
    gathered = gather(request, example("02").patient_id)
    assert any(r["resourceType"] == "Medication" for r in gathered.resources)
    assert gathered.warnings == []


def test_a_sent_resource_of_another_patient_stays_an_error(
    make_client: Callable[..., TestClient],
) -> None:
    other = _remission_phq9(subject={"reference": "Patient/someone-else"})
    body = cds_request(EX, prefetch=_with_observations(other))
    assert "another patient" in error_of(make_client(EX).post(VIEW, json=body), 422)


# -- item 14: what the service fetched itself ------------------------------------------------------
def test_fetched_resources_of_other_patients_are_dropped_with_a_warning(
    make_client: Callable[..., TestClient], stub: StubFhir
) -> None:
    """A server that ignores `patient` on QuestionnaireResponse searches (as the sandbox
    server does) returns every patient's: they are not the caller's data, so not a 422."""
    client = make_client(EX)
    (baseline,) = cards_of(post(client, VIEW, cds_request(EX, instance="i")))
    someone = {
        "resourceType": "QuestionnaireResponse",
        "id": "qr-other",
        "status": "completed",
        "subject": {"reference": "Patient/someone-else"},
    }
    nobody = {"resourceType": "QuestionnaireResponse", "id": "qr-nobody", "status": "completed"}
    stub.resources = [*EX.resources, someone, nobody]
    stub.ignore_patient = {"QuestionnaireResponse"}
    body = cds_request(EX, instance="i")
    del body["prefetch"]
    body["fhirServer"] = stub.base
    (card,) = cards_of(post(client, VIEW, body))
    assert card["summary"] == baseline["summary"]
    gathered = gather(CdsRequest.model_validate(body), EX.patient_id)
    assert sorted((w.code, w.location) for w in gathered.warnings) == [
        ("no-patient", "QuestionnaireResponse/qr-nobody.subject"),
        ("other-patient", "QuestionnaireResponse/qr-other.subject"),
    ]
    other = next(w for w in gathered.warnings if w.code == "other-patient")
    assert "fetched from the FHIR server" in other.diagnostic
    assert {r.get("id") for r in gathered.resources}.isdisjoint({"qr-other", "qr-nobody"})


# -- item 11: draft orders as the CDS Hooks sandbox sends them -------------------------------------
SANDBOX_CATEGORY = {  # an object where FHIR has a list
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
            "code": "outpatient",
        }
    ]
}


@pytest.mark.parametrize(("hook", "url"), [("order-select", SELECT), ("order-sign", SIGN)])
def test_a_malformed_field_in_a_draft_order_is_read_around(
    hook: str, url: str, make_client: Callable[..., TestClient]
) -> None:
    ex = example("03")  # fluoxetine too short: switching to venlafaxine -> "optimise first"
    client = make_client(ex)
    (want,) = cards_of(post(client, url, _order_body(ex, hook, _order(ex, "venlafaxine"))))
    order = _order(ex, "venlafaxine", category=SANDBOX_CATEGORY)
    response = client.post(url, json=_order_body(ex, hook, order))
    (card,) = cards_of(response)
    assert card["summary"] == want["summary"]
    detail = card["detail"].replace("\\", "")  # markdown escapes
    assert "draftOrders.entry[0].resource.category was not read (expected a list" in detail


def test_an_unreadable_draft_order_is_skipped_with_a_note(
    make_client: Callable[..., TestClient],
) -> None:
    ex = example("03")
    broken = _order(ex, "sertraline", rid="draft-0")
    broken["medicationCodeableConcept"] = "sertraline"  # the element the card is about
    good = _order(ex, "venlafaxine", rid="draft-1")
    (card,) = cards_of(make_client(ex).post(SIGN, json=_order_body(ex, "order-sign", broken, good)))
    assert "venlafaxine" in card["summary"]
    detail = card["detail"].replace("\\", "")  # markdown escapes
    assert "draftOrders.entry[0].resource.medicationCodeableConcept is unreadable" in detail
    assert "the order was skipped" in detail


def test_no_usable_draft_order_at_all_is_400(make_client: Callable[..., TestClient]) -> None:
    ex = example("03")
    broken = _order(ex, "sertraline")
    broken["medicationCodeableConcept"] = ["sertraline"]
    text = error_of(make_client(ex).post(SIGN, json=_order_body(ex, "order-sign", broken)), 400)
    assert "draftOrders.entry[0].resource.medicationCodeableConcept" in text
    body = cds_request(ex, "order-sign", draftOrders={"resourceType": "Bundle", "entry": {}})
    assert "draftOrders" in error_of(make_client(ex).post(SIGN, json=body), 400)
