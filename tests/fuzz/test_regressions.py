"""Every crash the fuzzing found, as a named input: each once crashed the core (a TypeError,
AttributeError or OverflowError escaping trdfhir.evaluate; in the service a 500), leaked raw input
into a message or a card, or was accepted without a limit. Each must now give a data warning, a
one-line error of the error tree, or a 4xx."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import client_for, open_settings
from trdfhir import InputError, LimitError, TrdFhirError, evaluate
from trdfhir.emit import emit_bundle
from trdfhir.report import render_text
from trdfhir.service import ServiceSettings
from trdfhir.service.detail import detail_markdown
from trdfhir.service.engine import ServiceState

ROOT = Path(__file__).resolve().parents[2]
Case = Callable[[], tuple[dict[str, Any], str]]
CASES: dict[str, Case] = {}


def case(f: Case) -> Case:
    CASES[f.__name__] = f
    return f


EXAMPLE_FILES = {
    1: "01-two-failed-ssris.json",
    6: "06-medicationrequest-only.json",
    10: "10-partial-response.json",
}


def ex(n: int) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "examples" / EXAMPLE_FILES[n]).read_text())
    return data


def first(b: dict[str, Any], rtype: str) -> dict[str, Any]:
    resource: dict[str, Any] = next(
        e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == rtype
    )
    return resource


# Each case: what crashed, and where (found by tests/fuzz; HEAD 236ba59).
@case
def dosage_sequence_object() -> tuple[dict[str, Any], str]:
    """TypeError (unhashable dict) in ingest/dose.py daily_dose."""
    b = ex(1)
    first(b, "MedicationStatement")["dosage"][0]["sequence"] = {}
    return b, "2026-09-01"


@case
def observation_status_object() -> tuple[dict[str, Any], str]:
    """TypeError (unhashable dict) in ingest/observations.py."""
    b = ex(1)
    first(b, "Observation")["status"] = {}
    return b, "2026-09-01"


@case
def medication_concept_string() -> tuple[dict[str, Any], str]:
    """AttributeError ('str' has no 'get') in ingest/medications.py _ingredients."""
    b = ex(1)
    first(b, "MedicationStatement")["medicationCodeableConcept"] = "sertraline"
    return b, "2026-09-01"


@case
def dose_and_rate_boolean() -> tuple[dict[str, Any], str]:
    """TypeError ('bool' is not iterable) in ingest/dose.py _dose_quantity."""
    b = ex(1)
    first(b, "MedicationStatement")["dosage"][0]["doseAndRate"] = True
    return b, "2026-09-01"


@case
def coding_display_list() -> tuple[dict[str, Any], str]:
    """TypeError (a list where a string was expected) in ingest/dose.py strength_from_text."""
    b = ex(1)
    first(b, "MedicationStatement")["medicationCodeableConcept"]["coding"][0]["display"] = ["x"]
    return b, "2026-09-01"


@case
def condition_coding_number() -> tuple[dict[str, Any], str]:
    """TypeError ('int' is not iterable) in fhir/values.py codings."""
    b = ex(1)
    first(b, "Condition")["code"]["coding"] = 5
    return b, "2026-09-01"


@case
def unmapped_code_list() -> tuple[dict[str, Any], str]:
    """TypeError (unhashable list) in findings.py, grouping unmapped codes."""
    b = ex(1)
    concept = first(b, "MedicationStatement")["medicationCodeableConcept"]
    rxnorm = "http://www.nlm.nih.gov/research/umls/rxnorm"
    concept["coding"] = [{"system": rxnorm, "code": ["6809"]}]
    concept.pop("text", None)
    return b, "2026-09-01"


@case
def icd10_code_object() -> tuple[dict[str, Any], str]:
    """AttributeError ('dict' has no 'strip') in mappings.py normalise_icd10 (a code object)."""
    b = ex(1)
    first(b, "Condition")["code"]["coding"][0]["code"] = {"F33": 1}
    return b, "2026-09-01"


@case
def request_repeats_huge() -> tuple[dict[str, Any], str]:
    """OverflowError (int too large for C) in ingest/medications.py _request."""
    b = ex(6)
    request = first(b, "MedicationRequest").setdefault("dispenseRequest", {})
    request["numberOfRepeatsAllowed"] = 10**12
    request["expectedSupplyDuration"] = {"value": 30, "unit": "d"}
    return b, "2026-08-01"


@case
def dispense_days_supply_huge() -> tuple[dict[str, Any], str]:
    """OverflowError (date value out of range) in ingest/medications.py _dispense."""
    b = ex(10)
    first(b, "MedicationDispense")["daysSupply"] = {"value": 3_000_000, "unit": "d"}
    return b, "2026-08-01"


@case
def period_end_sentinel() -> tuple[dict[str, Any], str]:
    """OverflowError in ingest/medications.py: "9999-12-31" (a common "no end") plus a day."""
    b = ex(1)
    first(b, "MedicationStatement")["effectivePeriod"]["end"] = "9999-12-31"
    return b, "2026-09-01"


@case
def as_of_end_of_calendar() -> tuple[dict[str, Any], str]:
    """OverflowError in ingest/medications.py _emit: the as-of date plus a day."""
    return ex(1), "9999-12-31"


@case
def resource_type_newline() -> tuple[dict[str, Any], str]:
    """Not a crash: an error message of two lines (the input quoted raw)."""
    b = ex(1)
    b["entry"][3]["resource"]["resourceType"] = "\n"
    return b, "2026-09-01"


@case
def id_with_control_characters() -> tuple[dict[str, Any], str]:
    """Not a crash: a terminal escape and a newline carried by an id into the report."""
    b = ex(1)
    first(b, "MedicationStatement")["id"] = "ms\x1b[31m\nforged"
    return b, "2026-09-01"


@case
def nan_quantity() -> tuple[dict[str, Any], str]:
    """Not a crash: a NaN score read as a number (the CLI's JSON parser accepts NaN)."""
    b = ex(1)
    first(b, "Observation")["valueQuantity"]["value"] = float("nan")
    return b, "2026-09-01"


@case
def deep_extension() -> tuple[dict[str, Any], str]:
    """No limit: 4 000 levels of nesting were accepted (the CLI's parser failed on more)."""
    b = ex(1)
    value: dict[str, Any] = {"url": "x", "valueString": "y"}
    for _ in range(2000):
        value = {"url": "x", "extension": [value]}
    first(b, "Patient")["extension"] = [value]
    return b, "2026-09-01"


# what each now gives: a data warning (the resource left out), or an error of the tree
EXPECTED: dict[str, tuple[str, str]] = {
    "dosage_sequence_object": ("warning", "malformed-resource"),
    "observation_status_object": ("warning", "malformed-resource"),
    "medication_concept_string": ("warning", "malformed-resource"),
    "dose_and_rate_boolean": ("warning", "malformed-resource"),
    "coding_display_list": ("warning", "malformed-resource"),
    "condition_coding_number": ("warning", "malformed-resource"),
    "unmapped_code_list": ("warning", "malformed-resource"),
    "icd10_code_object": ("warning", "malformed-resource"),
    "request_repeats_huge": ("warning", "out-of-range"),
    "dispense_days_supply_huge": ("warning", "out-of-range"),
    "period_end_sentinel": ("ok", ""),
    "as_of_end_of_calendar": ("error", "as-of date must be between the years 1800 and 2999"),
    "resource_type_newline": ("error", "'\\n' is not a FHIR R4 resource type"),
    "id_with_control_characters": ("warning", "malformed-resource"),
    "nan_quantity": ("warning", "malformed-resource"),
    "deep_extension": ("error", "more than 100 levels deep"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_crash_found_by_fuzzing_is_now_handled(name: str) -> None:
    data, as_of = CASES[name]()
    kind, what = EXPECTED[name]
    if kind == "error":
        with pytest.raises(TrdFhirError) as err:
            evaluate(data, as_of=as_of)
        assert isinstance(err.value, InputError | LimitError)
        assert what in err.value.one_line() and "\n" not in err.value.one_line()
        return
    assessment = evaluate(data, as_of=as_of)
    codes = [w.code for w in assessment.record.warnings]
    assert (what in codes) if kind == "warning" else ("malformed-resource" not in codes)
    text = render_text(assessment)
    assert "\x1b" not in text
    emit_bundle(assessment, now=datetime(2026, 9, 1, tzinfo=UTC))
    assert all("\n" not in w.diagnostic for w in assessment.record.warnings)


# -- the service ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def service() -> TestClient:
    return client_for(open_settings())


def prefetch(bundle: dict[str, Any], **replace: Any) -> dict[str, Any]:
    by_type: dict[str, list[dict[str, Any]]] = {}
    for e in bundle["entry"]:
        by_type.setdefault(e["resource"]["resourceType"], []).append({"resource": e["resource"]})
    keys = {
        "conditions": "Condition",
        "medicationStatements": "MedicationStatement",
        "medicationRequests": "MedicationRequest",
        "medicationDispenses": "MedicationDispense",
        "procedures": "Procedure",
        "observations": "Observation",
        "questionnaireResponses": "QuestionnaireResponse",
    }
    out: dict[str, Any] = {"patient": by_type["Patient"][0]["resource"]}
    for key, rtype in keys.items():
        entries = replace.get(rtype, by_type.get(rtype))
        out[key] = (
            {"resourceType": "Bundle", "type": "searchset", "entry": entries} if entries else None
        )
    return out


def test_a_malformed_draft_order_is_read_around_not_500(service: TestClient) -> None:
    """Was a 500: `contained: 5` in a draft order reached `[*contained]`. Then a 400 for the
    whole call; now (issue 11) the malformed element is left unread and the call answered."""
    bundle = ex(1)
    order = {
        "resourceType": "MedicationRequest",
        "id": "d1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/vignette-01"},
        "contained": 5,
        "medicationReference": {"reference": "#m"},
    }
    body = {
        "hook": "order-sign",
        "hookInstance": "h-1",
        "context": {
            "userId": "Practitioner/1",
            "patientId": "vignette-01",
            "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": order}]},
        },
        "prefetch": prefetch(bundle),
    }
    response = service.post("/cds-services/trd-order-sign", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"cards": []}  # the drug was in `contained`: nothing to say
    order["medicationReference"] = 5  # the element the card is about: no usable order, 400
    response = service.post("/cds-services/trd-order-sign", json=body)
    assert response.status_code == 400
    assert "draftOrders.entry[0].resource.medicationReference" in response.text


def test_record_text_cannot_put_markdown_into_a_card(service: TestClient) -> None:
    """Was raw in the card's markdown: an unmapped code's display made an image the EHR would
    fetch (a tracking beacon) and a javascript: link."""
    bundle = ex(1)
    statement = first(bundle, "MedicationStatement")
    statement["medicationCodeableConcept"] = {
        "coding": [
            {
                "system": "http://example.org/local",
                "code": "x1",
                "display": "![t](https://tracker.example/p.png) [open](javascript:alert(1)) <b>",
            }
        ]
    }
    body = {
        "hook": "patient-view",
        "hookInstance": "h-2",
        "context": {"userId": "Practitioner/1", "patientId": "vignette-01"},
        "prefetch": prefetch(bundle, MedicationStatement=[{"resource": statement}]),
    }
    response = service.post("/cds-services/trd-patient-view", json=body)
    assert response.status_code == 200
    details = " ".join(c["detail"] for c in response.json()["cards"])
    assert "![t]" not in details and "[open](" not in details and "<b>" not in details
    # the full table (the staging card of a service without the SMART app) shows the text, inert
    ev = ServiceState(ServiceSettings()).evaluate(bundle, date(2026, 11, 21))
    full = detail_markdown(ev.summary, ev)
    assert "tracker.example" in full  # the text is shown...
    assert "![t]" not in full and "[open](" not in full and "<b>" not in full  # ...inert
