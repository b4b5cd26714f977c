"""A patient with more resources than one page: every page is followed, includes resolved."""

from __future__ import annotations

from typing import Any

import pytest

from trdfhir import evaluate
from trdfhir.client import FhirClient, fetch_patient, post_transaction
from trdfhir.mappings import Mappings

from .servers import FaultProxy

pytestmark = pytest.mark.integration

PID = "paging-40"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def record() -> list[dict[str, Any]]:
    resources: list[dict[str, Any]] = [
        {"resourceType": "Patient", "id": PID},
        {
            "resourceType": "Condition",
            "id": f"{PID}-mdd",
            "subject": {"reference": f"Patient/{PID}"},
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": "active",
                    }
                ]
            },
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F33.1"}]},
            "onsetDateTime": "2024-01-01",
        },
    ]
    for n, (rxcui, name) in enumerate(
        (("36437", "sertraline"), ("321988", "escitalopram"), ("39786", "venlafaxine"))
    ):
        resources.append(
            {
                "resourceType": "Medication",
                "id": f"{PID}-med-{n}",
                "code": {"coding": [{"system": RXNORM, "code": rxcui, "display": name}]},
            }
        )
        for k in range(4):
            start = f"2024-{1 + n * 4 + k:02d}-01"
            resources.append(
                {
                    "resourceType": "MedicationRequest",
                    "id": f"{PID}-mr-{n}-{k}",
                    "status": "completed",
                    "intent": "order",
                    "subject": {"reference": f"Patient/{PID}"},
                    "medicationReference": {"reference": f"Medication/{PID}-med-{n}"},
                    "authoredOn": start,
                    "dosageInstruction": [
                        {
                            "doseAndRate": [
                                {
                                    "doseQuantity": {
                                        "value": 100 if n == 0 else 20 if n == 1 else 150,
                                        "unit": "mg",
                                    }
                                }
                            ],
                            "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                        }
                    ],
                    "dispenseRequest": {
                        "expectedSupplyDuration": {
                            "value": 30,
                            "unit": "days",
                            "system": "http://unitsofmeasure.org",
                            "code": "d",
                        }
                    },
                }
            )
    for n in range(40):
        resources.append(
            {
                "resourceType": "Observation",
                "id": f"{PID}-phq9-{n}",
                "status": "final",
                "code": {"coding": [{"system": LOINC, "code": "44261-6"}]},
                "subject": {"reference": f"Patient/{PID}"},
                "effectiveDateTime": f"2024-{1 + n // 4:02d}-{1 + (n % 4) * 7:02d}",
                "valueQuantity": {"value": 20 - n % 5},
            }
        )
    return resources


@pytest.fixture(scope="module")
def paging_patient(fhir_base: str) -> list[dict[str, Any]]:
    resources = record()
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in resources
        ],
    }
    with FhirClient(fhir_base) as client:
        post_transaction(client, bundle)
    return resources


def _gets(proxy: FaultProxy, path: str) -> int:
    return proxy.count(lambda r: r.method == "GET" and r.path == path)


def test_searches_follow_every_page(
    proxy: FaultProxy, paging_patient: list[dict[str, Any]], maps: Mappings
) -> None:
    with FhirClient(proxy.base, page_size=10) as client:
        got = fetch_patient(client, PID, everything=False)
    counts = got.counts()
    assert counts["Observation"] == 40
    assert counts["MedicationRequest"] == 12
    assert counts["Medication"] == 3  # by _include, listed by the server
    assert _gets(proxy, "Observation") == 4  # 4 pages of 10
    assert _gets(proxy, "MedicationRequest") == 2  # 12 matches (+ includes) in pages of 10
    assert _gets(proxy, "Medication") == 0
    local = evaluate(paging_patient, as_of="2025-06-01", mappings=maps)
    remote = evaluate(got.bundle(proxy.base), as_of="2025-06-01", mappings=maps)
    assert remote.summary() == local.summary()


def test_medications_are_fetched_when_include_is_not_offered(
    proxy: FaultProxy, paging_patient: list[dict[str, Any]]
) -> None:
    def no_includes(statement: dict[str, Any]) -> dict[str, Any]:
        for resource in statement["rest"][0]["resource"]:
            resource.pop("searchInclude", None)
        return statement

    proxy.patch_metadata = no_includes
    with FhirClient(proxy.base, page_size=5) as client:
        got = fetch_patient(client, PID, everything=False)
    assert got.counts()["Medication"] == 3
    assert _gets(proxy, "Medication") == 1  # one _id search for the three
    assert _gets(proxy, "Observation") == 8


def test_everything_and_searches_agree(
    fhir_base: str, paging_patient: list[dict[str, Any]]
) -> None:
    with FhirClient(fhir_base, page_size=10) as client:
        everything = fetch_patient(client, PID)
        searched = fetch_patient(client, PID, everything=False)
    assert everything.strategy == "$everything"
    assert everything.counts() == searched.counts()
