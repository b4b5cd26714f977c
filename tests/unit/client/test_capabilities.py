"""Reading a CapabilityStatement defensively."""

from __future__ import annotations

import pytest

from trdfhir.client import describe, parse_capabilities
from trdfhir.errors import FhirServerError

from .fakes import BASE, capability, resource_caps


def test_r4_only() -> None:
    assert parse_capabilities(capability(version="4.0.1")).fhir_version == "4.0.1"
    for version in ("4.3.0", "5.0.0", "3.0.2"):
        with pytest.raises(FhirServerError, match=f"speaks FHIR {version}"):
            parse_capabilities(capability(version=version))
    with pytest.raises(FhirServerError, match="no fhirVersion"):
        parse_capabilities({"resourceType": "CapabilityStatement"})
    with pytest.raises(FhirServerError, match="not a CapabilityStatement"):
        parse_capabilities({"resourceType": "OperationOutcome"})


def test_listed_types_params_includes_and_operations() -> None:
    caps = parse_capabilities(
        capability(
            resources=[
                resource_caps("Patient", params=("_id",), operations=("everything",)),
                resource_caps(
                    "MedicationRequest",
                    params=("patient",),
                    includes=("MedicationRequest:medication",),
                ),
                resource_caps("Observation", params=("subject",)),
            ],
            interactions=("batch",),
        )
    )
    assert caps.has_operation("Patient", "$everything")
    assert not caps.has_operation("Observation", "everything")
    assert caps.can_search("MedicationRequest", "patient")
    assert not caps.can_search("Observation", "patient")
    assert caps.can_search("Observation", "subject")
    assert caps.can_search("Observation", "_count")  # common parameters need no listing
    assert not caps.supports_type("QuestionnaireResponse")
    assert not caps.can_search("QuestionnaireResponse", "patient")
    assert caps.can_include("MedicationRequest", "MedicationRequest:medication")
    assert not caps.can_include("Observation", "Observation:subject")
    assert not caps.transaction


def test_a_statement_without_resources_allows_everything_but_includes() -> None:
    caps = parse_capabilities(capability(resources=[]))
    assert caps.types is None
    assert caps.supports_type("QuestionnaireResponse")
    assert caps.can_search("Observation", "patient")
    assert not caps.can_include("MedicationRequest", "MedicationRequest:medication")
    assert caps.transaction


def test_operation_names_from_definitions() -> None:
    statement = capability(
        resources=[
            {
                "type": "Patient",
                "operation": [
                    {
                        "name": "$everything",
                        "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                    }
                ],
            }
        ]
    )
    assert parse_capabilities(statement).has_operation("Patient", "everything")


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "metadata", "read CapabilityStatement"),
        ("GET", "Observation?patient=p1", "search Observation"),
        ("GET", "Patient/p1", "read Patient"),
        ("GET", "Patient/p1/$everything?_count=5", "Patient $everything"),
        ("POST", "", "transaction/batch"),
        ("POST", "Observation", "create Observation"),
        ("PUT", "CarePlan?identifier=a|b", "conditional update CarePlan"),
        ("PUT", "Patient/p1", "update Patient"),
        ("GET", "Patient/p1/Observation", "search Observation of Patient"),
    ],
)
def test_describe_never_names_ids(method: str, path: str, expected: str) -> None:
    assert describe(method, BASE, f"{BASE}/{path}") == expected
