"""The CDS Hooks face: discovery, the three services, prefetch fallback and 412, feedback.

Every request sent is validated against tests/api/cds_models.py (written from the 2.0 spec), and
so is every response."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from trdfhir.fhir.conformance import validate
from trdfhir.mappings import load_mappings

from . import cds_models as spec
from .conftest import EXAMPLES, Example, cds_request, example, prefetch_of
from .stub_fhir import StubFhir

VIEW = "/cds-services/trd-patient-view"
SELECT = "/cds-services/trd-order-select"
SIGN = "/cds-services/trd-order-sign"
MAPS = load_mappings()


def post(client: TestClient, url: str, body: dict[str, Any]) -> Any:
    request = spec.CdsRequest.model_validate(body)
    context_model = {
        "patient-view": spec.PatientViewContext,
        "order-select": spec.OrderSelectContext,
        "order-sign": spec.OrderSignContext,
    }.get(request.hook)
    if context_model is not None:
        context_model.model_validate(request.context)
    return client.post(url, json=body)


def cards_of(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    spec.CdsResponse.model_validate(body)
    spec.no_empty(body)
    cards: list[dict[str, Any]] = body["cards"]
    return cards


def error_of(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    text: str = body["issue"][0]["diagnostics"]
    assert "\n" not in text
    return text


# -- discovery -------------------------------------------------------------------------------------


def test_discovery(make_client: Callable[..., TestClient]) -> None:
    response = make_client().get("/cds-services")
    assert response.status_code == 200
    body = response.json()
    spec.Discovery.model_validate(body)
    spec.no_empty(body)
    services = {s["id"]: s for s in body["services"]}
    assert {k: s["hook"] for k, s in services.items()} == {
        "trd-patient-view": "patient-view",
        "trd-order-select": "order-select",
        "trd-order-sign": "order-sign",
    }
    for s in services.values():
        prefetch = s["prefetch"]
        assert prefetch["patient"] == "Patient/{{context.patientId}}"
        for rtype in (
            "Condition",
            "MedicationStatement",
            "MedicationRequest",
            "MedicationDispense",
            "Procedure",
            "Observation",
            "QuestionnaireResponse",
        ):
            query = f"{rtype}?patient={{{{context.patientId}}}}"
            assert any(v == query or v.startswith(f"{query}&") for v in prefetch.values())
        for rtype in ("MedicationStatement", "MedicationRequest", "MedicationDispense"):
            assert any(v.endswith(f"&_include={rtype}:medication") for v in prefetch.values())


# -- patient-view ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_patient_view_every_example(name: str, make_client: Callable[..., TestClient]) -> None:
    ex = EXAMPLES[name]
    cards = cards_of(post(make_client(ex), VIEW, cds_request(ex)))
    assert cards, "every vignette has depression on record"
    staging = cards[-1]
    assert staging["summary"].startswith("TRD: regulatory ")
    assert len(staging["summary"]) < 140
    assert staging["indicator"] in ("info", "warning")
    # a few lines at a glance; the full staging table is behind the SMART app link
    assert "- Regulatory TRD (FDA/EMA): **" in staging["detail"]
    assert "| Model |" not in staging["detail"]
    assert staging["links"][0]["type"] == "smart"
    assert staging["source"]["label"] == "trd-fhir"
    urgent = [c for c in cards if c["indicator"] == "critical"]
    assert cards[: len(urgent)] == urgent  # urgent first
    for card in cards:
        uuid.UUID(card["uuid"])
        for s in card.get("suggestions", []):
            assert card["selectionBehavior"] == "any"
            uuid.UUID(s["uuid"])
            (action,) = s["actions"]
            plan = action["resource"]
            assert action["type"] == "create"
            assert (plan["resourceType"], plan["status"], plan["intent"]) == (
                "CarePlan",
                "draft",
                "proposal",
            )
            assert "urn:uuid" not in str(plan)
            assert plan["subject"] == {"reference": f"Patient/{ex.patient_id}"}
            # one activity for the suggestion, then the steps of its sequential plan, if any
            # (Guidi & Fava Table 4: "Step 1 of 6" ...), in order
            first, *steps = plan["activity"]
            assert not first["detail"]["description"].startswith("Step ")
            assert [a["detail"]["description"][:11] for a in steps] == [
                f"Step {n} of {len(steps)}" for n in range(1, len(steps) + 1)
            ]


def test_patient_view_card_content(make_client: Callable[..., TestClient]) -> None:
    ex = example("02")
    cards = cards_of(post(make_client(ex), VIEW, cds_request(ex)))
    (card,) = cards
    assert card["summary"] == "TRD: regulatory met; Thase–Rush V; ESM CRD; Maudsley 11 (severe)"  # noqa: RUF001
    assert card["indicator"] == "warning"
    assert card["links"] == [
        {
            "label": "Open the TRD timeline and staging (SMART app)",
            "url": "http://testserver/app/launch",
            "type": "smart",
        }
    ]
    codes = [
        s["actions"][0]["resource"]["activity"][0]["detail"]["code"]["coding"][0]["code"]
        for s in card["suggestions"]
    ]
    assert codes == [s["code"] for s in _summary(ex)["suggestions"]]


def _summary(ex: Example) -> dict[str, Any]:
    from trdfhir import evaluate

    return evaluate(ex.bundle, as_of=ex.as_of).summary()


def test_urgent_finding_is_its_own_critical_card_first(
    make_client: Callable[..., TestClient],
) -> None:
    ex = example("11")
    cards = cards_of(post(make_client(ex), VIEW, cds_request(ex)))
    first, staging = cards
    assert first["indicator"] == "critical"
    assert first["summary"].startswith("Urgent: PHQ-9 item 9")
    assert [s["label"] for s in first["suggestions"]] == ["Safety assessment and plan"]
    staged = [s["label"] for s in staging["suggestions"]]
    assert "Safety assessment and plan" not in staged


def test_card_ids_are_deterministic(make_client: Callable[..., TestClient]) -> None:
    ex = example("11")
    client = make_client(ex)
    one = cards_of(post(client, VIEW, cds_request(ex, instance="hook-1")))
    two = cards_of(post(client, VIEW, cds_request(ex, instance="hook-1")))
    three = cards_of(post(client, VIEW, cds_request(ex, instance="hook-2")))
    assert one == two
    assert [c["uuid"] for c in one] != [c["uuid"] for c in three]
    ids = [c["uuid"] for c in one] + [s["uuid"] for c in one for s in c.get("suggestions", [])]
    assert len(ids) == len(set(ids))


def test_card_careplans_are_valid_fhir(make_client: Callable[..., TestClient]) -> None:
    ex = example("04")
    cards = cards_of(post(make_client(ex), VIEW, cds_request(ex)))
    plans = [s["actions"][0]["resource"] for c in cards for s in c.get("suggestions", [])]
    assert plans
    for issues in validate(plans, profiles=False):
        assert [i for i in issues if i.severity in ("error", "fatal")] == []


def test_no_card_without_depression_on_record(make_client: Callable[..., TestClient]) -> None:
    ex = example("01")
    prefetch = {k: None for k in prefetch_of(ex)}
    prefetch["patient"] = {"resourceType": "Patient", "id": ex.patient_id}
    assert cards_of(post(make_client(ex), VIEW, cds_request(ex, prefetch=prefetch))) == []


def test_null_prefetch_values_mean_no_data(make_client: Callable[..., TestClient]) -> None:
    ex = example("01")
    prefetch = {k: None for k in prefetch_of(ex)}
    assert cards_of(post(make_client(ex), VIEW, cds_request(ex, prefetch=prefetch))) == []


def test_own_write_back_in_prefetch_is_ignored(make_client: Callable[..., TestClient]) -> None:
    ex = example("01")
    plain = cards_of(post(make_client(ex), VIEW, cds_request(ex, instance="x")))
    prefetch = prefetch_of(ex)
    prefetch["observations"]["entry"].append(
        {
            "resource": {
                "resourceType": "Observation",
                "id": "trd-1",
                "status": "final",
                "meta": {
                    "profile": [
                        "http://trd-fhir.org/fhir/StructureDefinition/trd-stage-observation"
                    ]
                },
                "code": {"text": "TRD stage"},
                "subject": {"reference": f"Patient/{ex.patient_id}"},
            }
        }
    )
    again = cards_of(post(make_client(ex), VIEW, cds_request(ex, prefetch=prefetch, instance="x")))
    assert again == plain


# -- prefetch fallback and 412 ---------------------------------------------------------------------


def _without(ex: Example, *keys: str) -> dict[str, Any]:
    prefetch = prefetch_of(ex)
    for key in keys:
        prefetch.pop(key)
    return prefetch


def test_missing_prefetch_without_fhir_server_is_412(
    make_client: Callable[..., TestClient],
) -> None:
    ex = example("01")
    text = error_of(
        post(make_client(ex), VIEW, cds_request(ex, prefetch=_without(ex, "observations"))), 412
    )
    assert "observations" in text


def test_missing_prefetch_fetched_with_fhir_authorization(
    make_client: Callable[..., TestClient], stub: StubFhir
) -> None:
    ex = example("01")
    stub.resources = ex.resources
    stub.token = "fhir-token-1"  # noqa: S105 - a test token
    full = cards_of(post(make_client(ex), VIEW, cds_request(ex, instance="i")))
    body = cds_request(
        ex, prefetch=_without(ex, "observations", "medicationStatements"), instance="i"
    )
    body["fhirServer"] = stub.base
    body["fhirAuthorization"] = {
        "access_token": "fhir-token-1",
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "trd",
    }
    assert cards_of(post(make_client(ex), VIEW, body)) == full
    fetched = [s for s in stub.seen if s.path.startswith("/fhir/")]
    assert {s.path for s in fetched} == {"/fhir/Observation", "/fhir/MedicationStatement"}
    assert all(s.authorization == "Bearer fhir-token-1" for s in fetched)
    assert all(s.query["patient"] == ex.patient_id for s in fetched)


@pytest.mark.parametrize("include", [True, False])
def test_no_prefetch_at_all_fetches_everything(
    include: bool, make_client: Callable[..., TestClient], stub: StubFhir
) -> None:
    ex = example("02")  # has a referenced Medication resource
    stub.resources = ex.resources
    stub.include = include
    full = cards_of(post(make_client(ex), VIEW, cds_request(ex, instance="i")))
    assert full[0]["summary"].startswith("TRD: regulatory met; Thase–Rush V")  # noqa: RUF001
    body = cds_request(ex, prefetch={}, instance="i")
    del body["prefetch"]
    body["fhirServer"] = stub.base  # an open server: no fhirAuthorization
    assert cards_of(post(make_client(ex), VIEW, body)) == full
    read_medication = any(p.startswith("/fhir/Medication/") for p in stub.paths())
    assert read_medication is not include


def test_unresolved_medication_without_server_is_a_data_warning(
    make_client: Callable[..., TestClient],
) -> None:
    ex = example("02")
    prefetch = prefetch_of(ex)
    for key in ("medicationStatements", "medicationRequests"):
        if prefetch[key]:
            prefetch[key]["entry"] = [
                e for e in prefetch[key]["entry"] if e["resource"]["resourceType"] != "Medication"
            ]
    (card,) = cards_of(post(make_client(ex), VIEW, cds_request(ex, prefetch=prefetch)))
    assert "data warning" in card["detail"]


def test_missing_prefetch_without_fhir_authorization_is_412(
    make_client: Callable[..., TestClient], stub: StubFhir
) -> None:
    ex = example("01")
    stub.resources = ex.resources
    stub.token = "needed"  # noqa: S105 - a test token
    body = cds_request(ex, prefetch=_without(ex, "conditions"))
    body["fhirServer"] = stub.base
    text = error_of(post(make_client(ex), VIEW, body), 412)
    assert "conditions" in text and "401" in text


def test_wrong_fhir_authorization_is_412(
    make_client: Callable[..., TestClient], stub: StubFhir
) -> None:
    ex = example("01")
    stub.resources = ex.resources
    stub.token = "right"  # noqa: S105 - a test token
    body = cds_request(ex, prefetch=_without(ex, "conditions"))
    body["fhirServer"] = stub.base
    body["fhirAuthorization"] = {
        "access_token": "wrong",
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "trd",
    }
    error_of(post(make_client(ex), VIEW, body), 412)


def test_operation_outcome_in_prefetch_counts_as_missing(
    make_client: Callable[..., TestClient], stub: StubFhir
) -> None:
    ex = example("01")
    prefetch = prefetch_of(ex)
    prefetch["observations"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout"}],
    }
    error_of(post(make_client(ex), VIEW, cds_request(ex, prefetch=prefetch)), 412)
    stub.resources = ex.resources
    body = cds_request(ex, prefetch=prefetch)
    body["fhirServer"] = stub.base
    cards_of(post(make_client(ex), VIEW, body))
    assert stub.paths() == ["/fhir/Observation"]


def test_paged_prefetch_is_completed_from_the_server(
    make_client: Callable[..., TestClient], stub: StubFhir
) -> None:
    ex = example("01")
    prefetch = prefetch_of(ex)
    prefetch["observations"]["link"] = [
        {"relation": "next", "url": f"{stub.base}/Observation?page=2"}
    ]
    error_of(post(make_client(ex), VIEW, cds_request(ex, prefetch=prefetch)), 412)


def test_fhir_server_outside_the_allow_list_is_not_used(
    make_client: Callable[..., TestClient], stub: StubFhir
) -> None:
    ex = example("01")
    stub.resources = ex.resources
    body = cds_request(ex, prefetch=_without(ex, "conditions"))
    body["fhirServer"] = stub.base
    client = make_client(ex, cds_fhir_servers=("https://ehr.example.org/fhir",))
    error_of(post(client, VIEW, body), 412)
    assert stub.paths() == []


def test_prefetch_of_another_patient_is_422(make_client: Callable[..., TestClient]) -> None:
    ex, other = example("01"), example("02")
    prefetch = prefetch_of(ex)
    prefetch["observations"] = prefetch_of(other)["observations"]
    text = error_of(post(make_client(ex), VIEW, cds_request(ex, prefetch=prefetch)), 422)
    assert "another patient" in text
    prefetch = prefetch_of(ex)
    prefetch["patient"] = prefetch_of(other)["patient"]
    error_of(post(make_client(ex), VIEW, cds_request(ex, prefetch=prefetch)), 422)


# -- request errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda b: b.pop("hookInstance"), "hookInstance"),
        (lambda b: b.update(hook="order-sign"), "answers hook patient-view"),
        (lambda b: b["context"].pop("patientId"), "context.patientId"),
        (lambda b: b["context"].update(patientId="a/b"), "context.patientId"),
        (
            lambda b: b.update(
                fhirAuthorization={
                    "access_token": "t",
                    "token_type": "Bearer",
                    "expires_in": 1,
                    "scope": "s",
                    "subject": "c",
                }
            ),
            "fhirServer is required",
        ),
        (lambda b: b.update(fhirServer="ftp://x"), "fhirServer"),
        (lambda b: b["prefetch"].update(observations="text"), "prefetch.observations"),
        (lambda b: b.update(context=[]), "context"),
    ],
)
def test_bad_requests_are_400(
    change: Callable[[dict[str, Any]], Any], fragment: str, make_client: Callable[..., TestClient]
) -> None:
    ex = example("01")
    body = cds_request(ex)
    change(body)
    assert fragment in error_of(make_client(ex).post(VIEW, json=body), 400)


def test_request_errors_of_the_transport(make_client: Callable[..., TestClient]) -> None:
    ex = example("01")
    client = make_client(ex)
    error_of(client.post("/cds-services/nope", json=cds_request(ex)), 404)
    error_of(client.post(VIEW, content="{", headers={"Content-Type": "application/json"}), 400)
    error_of(client.post(VIEW, content="x", headers={"Content-Type": "text/plain"}), 415)
    error_of(make_client(ex, max_body_bytes=1000).post(VIEW, json=cds_request(ex)), 413)
    error_of(make_client(ex, max_resources=3).post(VIEW, json=cds_request(ex)), 413)


# -- order-select / order-sign ---------------------------------------------------------------------


def _code_of(ingredient: str) -> dict[str, str]:
    system, code = next(k for k, d in MAPS.drugs_by_code.items() if d.ingredient == ingredient)
    return {"system": system, "code": code}


def _order(ex: Example, ingredient: str, rid: str = "draft-1", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{ex.patient_id}"},
        "medicationCodeableConcept": {"coding": [_code_of(ingredient)], "text": ingredient},
        **extra,
    }


def _drafts(*orders: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": o} for o in orders],
    }


def _order_body(
    ex: Example, hook: str, *orders: dict[str, Any], selections: list[str] | None = None
) -> dict[str, Any]:
    context: dict[str, Any] = {"draftOrders": _drafts(*orders)}
    if hook == "order-select":
        context["selections"] = selections or [f"MedicationRequest/{orders[0]['id']}"]
    return cds_request(ex, hook, **context)


@pytest.mark.parametrize(("hook", "url"), [("order-select", SELECT), ("order-sign", SIGN)])
def test_switch_away_from_an_inadequate_trial(
    hook: str, url: str, make_client: Callable[..., TestClient]
) -> None:
    ex = example("03")  # fluoxetine 20 mg for 3 weeks: too short
    (card,) = cards_of(post(make_client(ex), url, _order_body(ex, hook, _order(ex, "venlafaxine"))))
    assert card["indicator"] == "warning"
    assert card["summary"].startswith("Current fluoxetine trial is inadequate")
    assert "optimise before switching to venlafaxine" in card["summary"]
    assert "suggestions" not in card  # cards never order anything


def test_same_drug_is_not_a_switch(make_client: Callable[..., TestClient]) -> None:
    ex = example("03")
    body = _order_body(ex, "order-sign", _order(ex, "fluoxetine"))
    assert cards_of(post(make_client(ex), SIGN, body)) == []


def test_repeat_of_a_failed_trial(make_client: Callable[..., TestClient]) -> None:
    ex = example("01")  # sertraline 100 mg x 8 weeks failed; escitalopram ongoing
    cards = cards_of(
        post(make_client(ex), SIGN, _order_body(ex, "order-sign", _order(ex, "sertraline")))
    )
    assert [c["summary"].split(" already")[0] for c in cards] == ["Sertraline"]
    assert "failed an adequate trial in this episode" in cards[0]["summary"]


def test_no_card_for_a_new_drug_after_adequate_trials(
    make_client: Callable[..., TestClient],
) -> None:
    ex = example("01")
    assert (
        cards_of(
            post(make_client(ex), SIGN, _order_body(ex, "order-sign", _order(ex, "bupropion")))
        )
        == []
    )


def test_no_optimise_card_after_intolerance(make_client: Callable[..., TestClient]) -> None:
    ex = example("13")
    cards = cards_of(
        post(make_client(ex), SIGN, _order_body(ex, "order-sign", _order(ex, "venlafaxine")))
    )
    assert not any("optimise" in c["summary"] for c in cards)


def test_non_antidepressant_and_unselected_orders_are_ignored(
    make_client: Callable[..., TestClient],
) -> None:
    ex = example("03")
    lithium = _order(ex, "lithium", "draft-li")
    body = _order_body(
        ex,
        "order-select",
        lithium,
        _order(ex, "venlafaxine", "draft-2"),
        selections=["MedicationRequest/draft-li"],
    )
    assert cards_of(post(make_client(ex), SELECT, body)) == []


def test_order_by_contained_medication_and_by_text(make_client: Callable[..., TestClient]) -> None:
    ex = example("03")
    contained = _order(ex, "venlafaxine", "d1")
    med = {
        "resourceType": "Medication",
        "id": "m1",
        "code": contained.pop("medicationCodeableConcept"),
    }
    contained |= {"contained": [med], "medicationReference": {"reference": "#m1"}}
    by_text = _order(ex, "venlafaxine", "d2")
    by_text["medicationCodeableConcept"] = {"text": "Venlafaxine 75 mg capsule"}
    for order in (contained, by_text):
        (card,) = cards_of(post(make_client(ex), SIGN, _order_body(ex, "order-sign", order)))
        assert "venlafaxine" in card["summary"]


def test_draft_order_in_prefetch_is_not_the_record(make_client: Callable[..., TestClient]) -> None:
    ex = example("03")
    order = _order(ex, "venlafaxine", authoredOn=ex.as_of.isoformat())
    order["status"] = "active"  # a client that already stores it
    prefetch = prefetch_of(ex)
    prefetch["medicationRequests"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": copy.deepcopy(order)}],
    }
    body = _order_body(ex, "order-sign", order)
    body["prefetch"] = prefetch
    (card,) = cards_of(post(make_client(ex), SIGN, body))
    assert "fluoxetine" in card["summary"]


def test_order_context_errors(make_client: Callable[..., TestClient]) -> None:
    ex = example("03")
    body = cds_request(ex, "order-select", draftOrders=_drafts(_order(ex, "venlafaxine")))
    assert "selections" in error_of(make_client(ex).post(SELECT, json=body), 400)
    body = cds_request(ex, "order-sign", draftOrders={"resourceType": "Patient"})
    assert "draftOrders" in error_of(make_client(ex).post(SIGN, json=body), 400)


# -- feedback --------------------------------------------------------------------------------------


def test_feedback(make_client: Callable[..., TestClient]) -> None:
    ex = example("11")
    client = make_client(ex)
    cards = cards_of(post(client, VIEW, cds_request(ex)))
    card = cards[0]
    body = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
                "outcomeTimestamp": "2026-03-26T10:00:00Z",
            },
            {
                "card": cards[1]["uuid"],
                "outcome": "overridden",
                "overrideReason": {
                    "reason": {"system": "http://example.org/reasons", "code": "r1"},
                    "userComment": "discussed with the patient",
                },
                "outcomeTimestamp": "2026-03-26T10:01:00Z",
            },
        ]
    }
    spec.FeedbackRequest.model_validate(body)
    response = client.post(f"{VIEW}/feedback", json=body)
    assert response.status_code == 200
    stored = client.app.state.trd.feedback.all("trd-patient-view")  # type: ignore[attr-defined]
    assert [f["card"] for f in stored] == [card["uuid"], cards[1]["uuid"]]
    assert stored[0]["acceptedSuggestions"] == [{"id": card["suggestions"][0]["uuid"]}]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"feedback": []},
        {
            "feedback": [
                {"card": "c", "outcome": "accepted", "outcomeTimestamp": "2026-03-26T10:00:00Z"}
            ]
        },
        {
            "feedback": [
                {"card": "c", "outcome": "ignored", "outcomeTimestamp": "2026-03-26T10:00:00Z"}
            ]
        },
        {"feedback": [{"card": "c", "outcome": "overridden", "outcomeTimestamp": "yesterday"}]},
        {"feedback": [{"outcome": "overridden", "outcomeTimestamp": "2026-03-26T10:00:00Z"}]},
    ],
)
def test_bad_feedback_is_400(body: dict[str, Any], make_client: Callable[..., TestClient]) -> None:
    error_of(make_client().post(f"{VIEW}/feedback", json=body), 400)


def test_feedback_for_an_unknown_service_is_404(make_client: Callable[..., TestClient]) -> None:
    body = {
        "feedback": [
            {"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-03-26T10:00:00Z"}
        ]
    }
    error_of(make_client().post("/cds-services/nope/feedback", json=body), 404)


# -- CORS ------------------------------------------------------------------------------------------


def test_cors_preflight_allows_authorization(make_client: Callable[..., TestClient]) -> None:
    response = make_client().options(
        VIEW,
        headers={
            "Origin": "https://sandbox.cds-hooks.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"


def test_cors_named_origins(make_client: Callable[..., TestClient]) -> None:
    client = make_client(cors_origins=("https://ehr.example.org",))
    ok = client.get("/cds-services", headers={"Origin": "https://ehr.example.org"})
    assert ok.headers["access-control-allow-origin"] == "https://ehr.example.org"
    other = client.get("/cds-services", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    preflight = client.options(
        VIEW, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 400


def test_resources_of_a_request_are_counted_before_the_work() -> None:
    from trdfhir.service.http import count_resources

    ex = example("02")
    body = cds_request(ex, "order-sign", draftOrders=_drafts(_order(ex, "venlafaxine")))
    assert count_resources(body, 10_000) == len(ex.resources) + 1
    assert count_resources(body, 3) == 4  # stops past the limit


@pytest.mark.parametrize(("hook", "url"), [("order-select", SELECT), ("order-sign", SIGN)])
def test_no_card_for_a_patient_who_has_died(
    hook: str, url: str, make_client: Callable[..., TestClient]
) -> None:
    ex = example("03")  # alive: switching away from its inadequate fluoxetine trial is a card
    alive = _order_body(ex, hook, _order(ex, "venlafaxine"))
    assert cards_of(post(make_client(ex), url, alive))
    dead = copy.deepcopy(alive)
    dead["prefetch"]["patient"] = {**dead["prefetch"]["patient"], "deceasedDateTime": "2026-01-15"}
    assert cards_of(post(make_client(ex), url, dead)) == []
    view = cds_request(ex, prefetch=dead["prefetch"])
    assert cards_of(post(make_client(ex), VIEW, view)) == []
