"""Fixtures in the shapes real systems write (docs/real-world.md), written for this project:
a Synthea-style transaction Bundle with `urn:uuid` references, an NLM LHC-Forms PHQ-9
QuestionnaireResponse, an eCQM test case with its own test Bundle nested inside, a deceased
Synthea patient, a Synthea CarePlan recording CBT, a Procedure whose reason is ADHD, and a
ServiceRequest of another patient. Identifiers and values are invented."""

from __future__ import annotations

from typing import Any

from tests.fhir_builders import LOINC, PHQ9_ITEM_CODES, RXCUI, RXNORM, SNOMED

PID = "7c0a5d4e-3b1f-4c55-9d0e-1a2b3c4d5e6f"
PATIENT_URL = f"urn:uuid:{PID}"
LA_ANSWERS = ("LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9")  # 0..3
LHC_PHQ9 = "http://loinc.org/q/44249-1"


def uuid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def transaction(*resources: dict[str, Any], ids: bool = False) -> dict[str, Any]:
    """A transaction Bundle as generators write it: every entry a POST with a urn:uuid fullUrl;
    with ids=False the resources carry no id (integration engines, the carebundle generator),
    with ids=True they carry the uuid as their id too (Synthea)."""
    entries = []
    for i, resource in enumerate([synthea_patient(), *resources]):
        url = PATIENT_URL if i == 0 else f"urn:uuid:{uuid(i)}"
        body = dict(resource)
        body.pop("id", None)
        if ids:
            body["id"] = url[len("urn:uuid:") :]
        entries.append(
            {
                "fullUrl": url,
                "resource": body,
                "request": {"method": "POST", "url": body["resourceType"]},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def synthea_patient(deceased: str | bool | None = None) -> dict[str, Any]:
    r: dict[str, Any] = {
        "resourceType": "Patient",
        "id": PID,
        "name": [{"use": "official", "family": "Example", "given": ["Test"]}],
        "gender": "female",
        "birthDate": "1970-03-02",
    }
    if isinstance(deceased, str):
        r["deceasedDateTime"] = deceased
    elif deceased is True:
        r["deceasedBoolean"] = True
    return r


def mdd_condition(onset: str, *, ref_id: str | None = None) -> dict[str, Any]:
    """A SNOMED-only diagnosis as Synthea writes conditions (no ICD-10 coding)."""
    r = {
        "resourceType": "Condition",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": "confirmed",
                }
            ]
        },
        "code": {
            "coding": [
                {"system": SNOMED, "code": "370143000", "display": "Major depressive disorder"}
            ],
            "text": "Major depressive disorder",
        },
        "subject": {"reference": PATIENT_URL},
        "onsetDateTime": f"{onset}T09:14:07-05:00",
        "recordedDate": f"{onset}T09:14:07-05:00",
    }
    if ref_id:
        r["id"] = ref_id
    return r


def adhd_condition() -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {
            "coding": [
                {
                    "system": SNOMED,
                    "code": "192127007",
                    "display": "Child attention deficit disorder",
                }
            ]
        },
        "subject": {"reference": PATIENT_URL},
        "onsetDateTime": "2016-11-01T10:00:00-05:00",
    }


def cbt_procedure(day: str, *, reason_url: str | None = None) -> dict[str, Any]:
    """Synthea's CBT session: SNOMED 228557008, an hour's performedPeriod, a reasonReference to
    the condition it treats (with its display)."""
    r: dict[str, Any] = {
        "resourceType": "Procedure",
        "status": "completed",
        "code": {
            "coding": [
                {
                    "system": SNOMED,
                    "code": "228557008",
                    "display": "Cognitive and behavioral therapy",
                }
            ],
            "text": "Cognitive and behavioral therapy",
        },
        "subject": {"reference": PATIENT_URL},
        "performedPeriod": {"start": f"{day}T22:11:24+00:00", "end": f"{day}T23:11:24+00:00"},
    }
    if reason_url:
        r["reasonReference"] = [
            {"reference": reason_url, "display": "Child attention deficit disorder"}
        ]
    return r


def cbt_careplan(start: str, end: str | None, *, status: str = "completed") -> dict[str, Any]:
    """Synthea's mental health care plan: the therapy is an activity without dates or sessions."""
    activity_status = "completed" if status == "completed" else "in-progress"
    return {
        "resourceType": "CarePlan",
        "status": status,
        "intent": "order",
        "category": [
            {
                "coding": [
                    {
                        "system": SNOMED,
                        "code": "718347000",
                        "display": "Mental health care plan (record artifact)",
                    }
                ]
            }
        ],
        "subject": {"reference": PATIENT_URL},
        "period": {
            "start": f"{start}T16:51:27+00:00",
            **({"end": f"{end}T16:51:27+00:00"} if end else {}),
        },
        "activity": [
            {
                "detail": {
                    "code": {
                        "coding": [
                            {
                                "system": SNOMED,
                                "code": "385724002",
                                "display": "Coping Support Management",
                            }
                        ]
                    },
                    "status": activity_status,
                }
            },
            {
                "detail": {
                    "code": {
                        "coding": [
                            {
                                "system": SNOMED,
                                "code": "228557008",
                                "display": "Cognitive and behavioral therapy",
                            }
                        ]
                    },
                    "status": activity_status,
                }
            },
        ],
    }


def sertraline_statement(start: str, end: str | None = None) -> dict[str, Any]:
    return {
        "resourceType": "MedicationStatement",
        "status": "completed" if end else "active",
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": RXCUI["sertraline"], "display": "sertraline"}]
        },
        "subject": {"reference": PATIENT_URL},
        "effectivePeriod": {"start": start, **({"end": end} if end else {})},
        "dosage": [
            {
                "doseAndRate": [{"doseQuantity": {"value": 100, "unit": "mg", "code": "mg"}}],
                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
            }
        ],
    }


def lhc_phq9(
    day: str, answers: tuple[int, ...], *, rid: str = "qr-lhc", subject: str = PATIENT_URL
) -> dict[str, Any]:
    """An NLM LHC-Forms PHQ-9 QuestionnaireResponse: the items nested in the panel group, linkIds
    that are LOINC codes with a path prefix, answers as LOINC LA codes (the system left out on
    the first, as some LHC-Forms versions do), the total as a calculated decimal when all nine
    items are answered."""
    items = []
    for i, (code, value) in enumerate(zip(PHQ9_ITEM_CODES, answers, strict=False)):
        coding: dict[str, Any] = {"code": LA_ANSWERS[value], "display": "answer"}
        if i:
            coding["system"] = LOINC
        items.append(
            {"linkId": f"/44249-1/{code}", "text": "item", "answer": [{"valueCoding": coding}]}
        )
    if len(answers) == 9:
        items.append({"linkId": "/44249-1/44261-6", "answer": [{"valueDecimal": sum(answers)}]})
    return {
        "resourceType": "QuestionnaireResponse",
        "id": rid,
        "meta": {"tag": [{"code": "lformsVersion: 29.0.0"}]},
        "questionnaire": LHC_PHQ9,
        "status": "completed",
        "subject": {"reference": subject},
        "authored": f"{day}T14:03:11.000Z",
        "item": [
            {"linkId": "/44249-1", "text": "PHQ-9 quick depression assessment panel", "item": items}
        ],
    }


def us_core_phq9_item9_only(day: str, item9_code: str) -> dict[str, Any]:
    """A US Core-style PHQ-9 QuestionnaireResponse (flat items, '/'-prefixed linkIds) whose
    item 9 answer is a code trd-fhir does not know."""
    return {
        "resourceType": "QuestionnaireResponse",
        "id": "qr-uscore",
        "questionnaire": "http://hl7.org/fhir/us/core/Questionnaire/phq-9-example",
        "status": "completed",
        "subject": {"reference": PATIENT_URL},
        "authored": f"{day}T20:50:32.718Z",
        "item": [
            {
                "linkId": "/44260-8",
                "answer": [
                    {"valueCoding": {"system": "http://example.org/answers", "code": item9_code}}
                ],
            }
        ],
    }


def service_request_of(subject: str) -> dict[str, Any]:
    """An eCQM-style ServiceRequest that names another patient (a test-data slip)."""
    return {
        "resourceType": "ServiceRequest",
        "id": "sr-other",
        "status": "active",
        "intent": "order",
        "code": {"coding": [{"system": SNOMED, "code": "108313002"}]},
        "subject": {"reference": subject},
        "authoredOn": "2026-01-05",
    }


def ecqm_test_case(*resources: dict[str, Any]) -> dict[str, Any]:
    """An eCQM test case (MADiE export): a transaction of PUTs with absolute fullUrls, which also
    stores its own test Bundle, holding the same resources, as one of its entries."""
    pid = "ecqm-patient-1"
    patient = {"resourceType": "Patient", "id": pid, "gender": "female", "birthDate": "1980-01-01"}
    body = [patient, *resources]

    def entries() -> list[dict[str, Any]]:
        return [
            {
                "fullUrl": f"https://madie.example.org/{r['resourceType']}/{r['id']}",
                "resource": r,
                "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
            }
            for r in body
        ]

    nested = {
        "resourceType": "Bundle",
        "id": "IPPass-test",
        "type": "transaction",
        "entry": entries(),
    }
    outer = entries()
    outer.insert(
        1,
        {
            "fullUrl": "https://madie.example.org/Bundle/IPPass-test",
            "resource": nested,
            "request": {"method": "PUT", "url": "Bundle/IPPass-test"},
        },
    )
    return {"resourceType": "Bundle", "type": "transaction", "entry": outer}
