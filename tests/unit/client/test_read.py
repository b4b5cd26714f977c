"""Reading one patient's record: $everything or per-type searches, includes, paging, filters."""

from __future__ import annotations

from typing import Any

import pytest

from trdfhir.client import fetch_patient, plain_patient_id
from trdfhir.errors import FhirServerError, InputError

from .fakes import BASE, Seen, capability, client_for, outcome, resource_caps, searchset

PATIENT = {"resourceType": "Patient", "id": "p1"}
MED = {"resourceType": "Medication", "id": "m1", "code": {"text": "sertraline"}}


def statement_request(rtype: str, n: int, med: str = "Medication/m1") -> dict[str, Any]:
    return {
        "resourceType": rtype,
        "id": f"{rtype[:3].lower()}{n}",
        "status": "active",
        "subject": {"reference": "Patient/p1"},
        "medicationReference": {"reference": med},
    }


def observation(n: int, patient: str = "Patient/p1") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"o{n}",
        "status": "final",
        "subject": {"reference": patient},
    }


def test_plain_patient_id() -> None:
    assert plain_patient_id("p1") == "p1"
    assert plain_patient_id("Patient/p1") == "p1"
    assert plain_patient_id(f"{BASE}/Patient/p1/_history/3") == "p1"
    for bad in ("", "../metadata", "a b", "Patient/x?y=1"):
        with pytest.raises(InputError):
            plain_patient_id(bad)


def test_everything_with_paging_and_filters() -> None:
    page1 = searchset(
        [PATIENT, observation(1), observation(2, "Patient/other")],
        f"{BASE}/Patient/p1/$everything?page=2",
    )
    page2 = searchset(
        [
            observation(3),
            observation(1),
            {"resourceType": "Encounter", "id": "e1", "subject": {"reference": "Patient/p1"}},
            statement_request("MedicationStatement", 1),
            MED,
        ]
    )

    def handler(seen: Seen) -> tuple[int, Any, dict[str, str]]:
        if seen.path == "metadata":
            return (
                200,
                capability(resources=[resource_caps("Patient", operations=("everything",))]),
                {},
            )
        if seen.path == "Patient/p1/$everything":
            return 200, page2 if seen.params.get("page") == "2" else page1, {}
        return 404, outcome("not-found", "no"), {}

    client, fake, _ = client_for(handler, page_size=3)
    record = fetch_patient(client, "Patient/p1")
    assert record.strategy == "$everything"
    assert record.counts() == {
        "Medication": 1,
        "MedicationStatement": 1,
        "Observation": 2,
        "Patient": 1,
    }
    assert record.dropped == 1  # another patient's Observation
    assert [s.path for s in fake.seen] == [
        "metadata",
        "Patient/p1/$everything",
        "Patient/p1/$everything",
    ]
    assert fake.seen[1].params["_count"] == "3"
    bundle = record.bundle(client.base)
    assert bundle["type"] == "collection"
    assert bundle["entry"][0]["fullUrl"] == f"{BASE}/Patient/p1"


def searching_server(
    caps: list[dict[str, Any]], data: dict[str, list[dict[str, Any]]], everything: bool = False
) -> Any:
    def handler(seen: Seen) -> tuple[int, Any, dict[str, str]]:
        if seen.path == "metadata":
            return 200, capability(resources=caps), {}
        if seen.path == "Patient/p1":
            return 200, PATIENT, {}
        if seen.path == "Patient/p1/$everything":
            return 400, outcome("not-supported", "no"), {}
        if seen.path == "Medication":
            ids = seen.params["_id"].split(",")
            return 200, searchset([m for m in data.get("Medication", []) if m["id"] in ids]), {}
        if "/" not in seen.path:
            return 200, searchset(data.get(seen.path, [])), {}
        return 404, outcome("not-found", "no"), {}

    return handler


def test_per_type_searches_adapt_to_the_capability_statement() -> None:
    caps = [
        resource_caps("Patient"),
        resource_caps("Medication", params=("_id",)),
        resource_caps("MedicationStatement", includes=("MedicationStatement:medication",)),
        resource_caps("MedicationRequest"),
        resource_caps("Observation", params=("subject",)),
        resource_caps("Condition"),
        resource_caps("Procedure"),
        resource_caps("MedicationDispense"),
        # no MedicationAdministration, no QuestionnaireResponse: not searched
    ]
    data = {
        "MedicationStatement": [statement_request("MedicationStatement", 1), MED],
        "MedicationRequest": [statement_request("MedicationRequest", 1, "Medication/m2")],
        "Observation": [observation(1)],
        "Medication": [MED, {"resourceType": "Medication", "id": "m2"}],
    }
    client, fake, _ = client_for(searching_server(caps, data))
    record = fetch_patient(client, "p1")
    assert record.strategy == "search"
    assert set(record.unsearchable) == {"MedicationAdministration", "QuestionnaireResponse"}
    by_path = {s.path: s for s in fake.seen}
    assert by_path["MedicationStatement"].params == {
        "patient": "p1",
        "_count": "100",
        "_include": "MedicationStatement:medication",
    }
    assert "_include" not in by_path["MedicationRequest"].params  # not listed: not sent
    assert by_path["Observation"].params["subject"] == "Patient/p1"
    assert by_path["Observation"].headers["Prefer"] == "handling=strict"
    assert by_path["Medication"].params["_id"] == "m2"  # only the one still missing
    assert record.counts()["Medication"] == 2


def test_everything_refused_falls_back_to_searches() -> None:
    caps = [resource_caps("Patient", operations=("everything",)), resource_caps("Observation")]
    client, _fake, _ = client_for(searching_server(caps, {"Observation": [observation(1)]}))
    record = fetch_patient(client, "p1")
    assert record.strategy == "search"
    assert record.counts() == {"Observation": 1, "Patient": 1}


def test_unknown_patient() -> None:
    def handler(seen: Seen) -> tuple[int, Any, dict[str, str]]:
        if seen.path == "metadata":
            return 200, capability(), {}
        return 404, outcome("not-found", "Patient/p9 not found"), {}

    client, _, _ = client_for(handler)
    with pytest.raises(FhirServerError, match="not on the server") as err:
        fetch_patient(client, "p9", everything=False)
    assert err.value.status == 404


def test_medications_on_other_servers_are_not_followed() -> None:
    data = {
        "MedicationRequest": [
            statement_request("MedicationRequest", 1, "https://other.example/fhir/Medication/m9")
        ]
    }
    client, fake, _ = client_for(searching_server([], data))
    fetch_patient(client, "p1", everything=False)
    assert not [s for s in fake.seen if s.path.startswith("Medication/") or s.path == "Medication"]


def test_exclude_leaves_out_own_outputs() -> None:
    mine = {
        **observation(9),
        "identifier": [{"system": "http://trd-fhir.org/fhir/sid/assessment", "value": "x"}],
    }
    client, _, _ = client_for(searching_server([], {"Observation": [observation(1), mine]}))
    record = fetch_patient(
        client,
        "p1",
        everything=False,
        exclude=lambda r: any(
            i.get("system", "").startswith("http://trd-fhir.org/") for i in r.get("identifier", [])
        ),
    )
    assert [r["id"] for r in record.resources if r["resourceType"] == "Observation"] == ["o1"]


def test_paging_loop_is_detected() -> None:
    loop = searchset([observation(1)], f"{BASE}/Observation?page=2")

    def handler(seen: Seen) -> tuple[int, Any, dict[str, str]]:
        return 200, loop, {}

    client, fake, _ = client_for(handler)
    with pytest.raises(FhirServerError, match="next links loop"):
        client.search("Observation", {"patient": "p1"})
    assert len(fake.seen) == 2


def test_patient_ids_pages() -> None:
    pages = {
        None: searchset(
            [{"resourceType": "Patient", "id": "a"}, {"resourceType": "Patient", "id": "b"}],
            f"{BASE}/Patient?page=2",
        ),
        "2": searchset(
            [{"resourceType": "Patient", "id": "c"}, {"resourceType": "Patient", "id": "a"}]
        ),
    }
    client, fake, _ = client_for(
        lambda seen: (200, pages[seen.params.get("page")], {}), page_size=2
    )
    assert list(client.patient_ids()) == ["a", "b", "c"]
    assert fake.seen[0].params == {"_elements": "id", "_count": "2"}
