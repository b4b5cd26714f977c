"""Tiny builders for FHIR R4 resources as plain dicts, so tests read like clinical vignettes."""

from __future__ import annotations

import itertools
from typing import Any

PATIENT = "Patient/p1"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
CPT = "http://www.ama-assn.org/go/cpt"

RXCUI = {
    "sertraline": "36437",
    "escitalopram": "321988",
    "fluoxetine": "4493",
    "citalopram": "2556",
    "venlafaxine": "39786",
    "duloxetine": "72625",
    "nortriptyline": "7531",
    "phenelzine": "8123",
    "bupropion": "42347",
    "mirtazapine": "15996",
    "lithium": "6448",
    "aripiprazole": "89013",
    "carbamazepine": "2002",
}
# The nine PHQ-9 item LOINC codes in item order (item 9, self-harm, is 44260-8).
PHQ9_ITEM_CODES = (
    "44250-9",
    "44255-8",
    "44259-0",
    "44254-1",
    "44251-7",
    "44258-2",
    "44252-5",
    "44253-3",
    "44260-8",
)
_ids = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}{next(_ids)}"


def patient(pid: str = "p1") -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid}


def bundle(*resources: dict[str, Any], with_patient: bool = True) -> dict[str, Any]:
    entries = [patient()] if with_patient else []
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in [*entries, *resources]],
    }


def drug(name: str) -> dict[str, Any]:
    return {"coding": [{"system": RXNORM, "code": RXCUI[name], "display": name}]}


def dosage(mg: float | None, per_day: int = 1) -> list[dict[str, Any]]:
    if mg is None:
        return []
    return [
        {
            "doseAndRate": [
                {
                    "doseQuantity": {
                        "value": mg,
                        "unit": "mg",
                        "system": "http://unitsofmeasure.org",
                        "code": "mg",
                    }
                }
            ],
            "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
        }
    ]


def statement(
    name: str,
    mg: float | None,
    start: str,
    last_day: str | None = None,
    *,
    status: str | None = None,
    reason: str | None = None,
    subject: str = PATIENT,
    rid: str | None = None,
) -> dict[str, Any]:
    r: dict[str, Any] = {
        "resourceType": "MedicationStatement",
        "id": rid or _id("ms"),
        "status": status or ("completed" if last_day else "active"),
        "subject": {"reference": subject},
        "medicationCodeableConcept": drug(name),
        "effectivePeriod": {"start": start, **({"end": last_day} if last_day else {})},
        "dosage": dosage(mg),
    }
    if reason:
        r["statusReason"] = [{"text": reason}]
    return r


def request(
    name: str, mg: float, authored: str, days: int, *, repeats: int = 0, rid: str | None = None
) -> dict[str, Any]:
    """A completed MedicationRequest: `days` of supply x (1 + repeats), dose as plain text."""
    return {
        "resourceType": "MedicationRequest",
        "id": rid or _id("mr"),
        "status": "completed",
        "intent": "order",
        "subject": {"reference": PATIENT},
        "medicationCodeableConcept": drug(name),
        "authoredOn": authored,
        "dosageInstruction": [{"text": f"{mg:g} mg daily"}],
        "dispenseRequest": {
            "numberOfRepeatsAllowed": repeats,
            "expectedSupplyDuration": {"value": days, "code": "d"},
        },
    }


def dispense(
    name: str, mg: float, day: str, days: int = 30, rid: str | None = None
) -> dict[str, Any]:
    """A completed MedicationDispense of `days` of supply handed over on `day`."""
    return {
        "resourceType": "MedicationDispense",
        "id": rid or _id("md"),
        "status": "completed",
        "subject": {"reference": PATIENT},
        "medicationCodeableConcept": drug(name),
        "whenHandedOver": day,
        "daysSupply": {"value": days},
        "dosageInstruction": [{"text": f"{mg:g} mg daily"}],
    }


def phq9(
    day: str,
    total: float,
    *,
    item9: int | None = None,
    rid: str | None = None,
    unit: str = "{score}",
) -> list[dict[str, Any]]:
    out = [
        {
            "resourceType": "Observation",
            "id": rid or _id("phq"),
            "status": "final",
            "subject": {"reference": PATIENT},
            "code": {"coding": [{"system": LOINC, "code": "44261-6"}]},
            "effectiveDateTime": day,
            "valueQuantity": {"value": total, "system": "http://unitsofmeasure.org", "code": unit},
        }
    ]
    if item9 is not None:
        out.append(
            {
                "resourceType": "Observation",
                "id": _id("item9"),
                "status": "final",
                "subject": {"reference": PATIENT},
                "code": {"coding": [{"system": LOINC, "code": "44260-8"}]},
                "effectiveDateTime": day,
                "valueInteger": item9,
            }
        )
    return out


def condition(
    code: str, onset: str, *, system: str = ICD10CM, status: str = "active", rid: str | None = None
) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": rid or _id("c"),
        "subject": {"reference": PATIENT},
        "code": {"coding": [{"system": system, "code": code}]},
        "onsetDateTime": onset,
        "clinicalStatus": {"coding": [{"code": status}]},
    }


def session(code: str, day: str, *, system: str = CPT) -> dict[str, Any]:
    return {
        "resourceType": "Procedure",
        "id": _id("proc"),
        "status": "completed",
        "subject": {"reference": PATIENT},
        "code": {"coding": [{"system": system, "code": code}]},
        "performedDateTime": day,
    }


def lab(loinc: str, day: str, value: float, unit: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": _id("lab"),
        "status": "final",
        "subject": {"reference": PATIENT},
        "code": {"coding": [{"system": LOINC, "code": loinc}]},
        "effectiveDateTime": day,
        "valueQuantity": {"value": value, "unit": unit, "code": unit},
    }
