"""The FHIR face: $trd-evaluate (POST and GET), metadata, and every error path."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from trdfhir import evaluate
from trdfhir.fhir.conformance import validate
from trdfhir.service import engine

from .conftest import EXAMPLES, Example, example
from .stub_fhir import StubFhir

FHIR = {"Content-Type": "application/fhir+json"}
OP = "/fhir/$trd-evaluate"


def params(bundle: Any, as_of: str | None = None, **extra: Any) -> dict[str, Any]:
    parameter: list[dict[str, Any]] = [{"name": "bundle", "resource": bundle}]
    if as_of is not None:
        parameter.append({"name": "asOf", "valueDate": as_of})
    parameter += [{"name": k, **v} for k, v in extra.items()]
    return {"resourceType": "Parameters", "parameter": parameter}


def out(body: dict[str, Any], name: str) -> Any:
    part = next(p for p in body["parameter"] if p["name"] == name)
    return part.get("resource", part.get("valueString"))


def assert_outcome(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "OperationOutcome"
    issue = body["issue"][0]
    assert issue["severity"] in ("error", "fatal")
    if code:
        assert issue["code"] == code
    assert "Traceback" not in response.text and "\n" not in issue["diagnostics"]
    return body


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_example_as_parameters(name: str, make_client: Callable[..., TestClient]) -> None:
    ex = EXAMPLES[name]
    response = make_client().post(OP, json=params(ex.bundle, ex.as_of.isoformat()), headers=FHIR)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/fhir+json"
    body = response.json()
    assert body["resourceType"] == "Parameters"
    assert [p["name"] for p in body["parameter"]] == ["summary", "bundle", "issues"]
    summary = json.loads(out(body, "summary"))
    assert summary == evaluate(ex.bundle, as_of=ex.as_of).summary()
    bundle = out(body, "bundle")
    assert bundle["type"] == "transaction"
    plans = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "CarePlan"]
    assert [(p["status"], p["intent"]) for p in plans] == [("draft", "proposal")]
    issues = out(body, "issues")
    assert issues["resourceType"] == "OperationOutcome"
    for issue, warning in zip(issues["issue"], summary["warnings"], strict=False):
        assert issue["severity"] == "warning"
        assert issue["expression"] == [warning["location"]]


def test_response_resources_are_valid_fhir(make_client: Callable[..., TestClient]) -> None:
    ex = example("17")  # has data warnings (an unmapped code)
    body = make_client().post(OP, json=params(ex.bundle, ex.as_of.isoformat()), headers=FHIR).json()
    assert len(out(body, "issues")["issue"]) >= 1
    for doc in (body, out(body, "issues")):
        problems = [
            i for i in validate([doc], profiles=False)[0] if i.severity in ("error", "fatal")
        ]
        assert problems == []


def test_bare_bundle_with_as_of_in_query(make_client: Callable[..., TestClient]) -> None:
    ex = example("01")
    response = make_client().post(f"{OP}?asOf={ex.as_of}", json=ex.bundle, headers=FHIR)
    assert response.status_code == 200
    assert json.loads(out(response.json(), "summary"))["as_of"] == ex.as_of.isoformat()


def test_as_of_defaults_to_the_service_clock(make_client: Callable[..., TestClient]) -> None:
    ex = example("01")
    response = make_client(ex).post(OP, json=params(ex.bundle), headers=FHIR)
    assert json.loads(out(response.json(), "summary"))["as_of"] == ex.as_of.isoformat()


def test_plain_application_json_is_accepted(make_client: Callable[..., TestClient]) -> None:
    ex = example("01")
    response = make_client(ex).post(OP, json=ex.bundle)  # application/json
    assert response.status_code == 200


def test_no_data_issues_is_said(make_client: Callable[..., TestClient]) -> None:
    ex = example("01")
    body = make_client(ex).post(OP, json=params(ex.bundle), headers=FHIR).json()
    assert out(body, "issues")["issue"][0]["severity"] in ("information", "warning")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"resourceType": "Patient", "id": "p"}, "Parameters or a Bundle"),
        ([1, 2], "JSON object"),
        ({"resourceType": "Parameters"}, "must list 'bundle'"),
        ({"resourceType": "Parameters", "parameter": []}, "must list 'bundle'"),
        (
            {
                "resourceType": "Parameters",
                "parameter": [{"name": "asOf", "valueDate": "2026-01-01"}],
            },
            "'bundle' parameter is missing",
        ),
        ({"resourceType": "Parameters", "parameter": [{"name": "bundle"}]}, "must carry a Bundle"),
        (
            {
                "resourceType": "Parameters",
                "parameter": [{"name": "bundle", "resource": {"resourceType": "Patient"}}],
            },
            "must carry a Bundle",
        ),
        ({"resourceType": "Parameters", "parameter": [{"value": 1}]}, "needs a name"),
        (
            params({"resourceType": "Bundle", "type": "collection"}, "2026-13-01"),
            "not a calendar date",
        ),
        (params({"resourceType": "Bundle", "type": "collection"}, "2026-01"), "full date"),
        (
            params({"resourceType": "Bundle", "type": "collection"}, colour={"valueString": "x"}),
            "unknown parameter",
        ),
        (
            {
                "resourceType": "Parameters",
                "parameter": [{"name": "asOf", "valueString": "2026-01-01"}],
            },
            "valueDate",
        ),
    ],
)
def test_bad_parameters_are_400(
    body: Any, fragment: str, make_client: Callable[..., TestClient]
) -> None:
    outcome = assert_outcome(make_client().post(OP, json=body, headers=FHIR), 400)
    assert fragment in outcome["issue"][0]["diagnostics"]


def test_duplicate_parameters_are_400(make_client: Callable[..., TestClient]) -> None:
    bundle = example("01").bundle
    body = params(bundle, "2026-01-01")
    body["parameter"].append(body["parameter"][0])
    assert_outcome(make_client().post(OP, json=body, headers=FHIR), 400)
    body = params(bundle, "2026-01-01", asOf={"valueDate": "2026-01-02"})
    assert_outcome(make_client().post(OP, json=body, headers=FHIR), 400)


def test_conflicting_as_of_is_400(make_client: Callable[..., TestClient]) -> None:
    body = params(example("01").bundle, "2026-09-01")
    assert_outcome(make_client().post(f"{OP}?asOf=2026-09-02", json=body, headers=FHIR), 400)


# (a body nested too deeply to parse is 422: tests/security/test_limits.py)
@pytest.mark.parametrize("text", ["{not json", "", "   ", '{"a": NaN}'])
def test_body_that_is_not_json_is_400(text: str, make_client: Callable[..., TestClient]) -> None:
    assert_outcome(make_client().post(OP, content=text, headers=FHIR), 400, "structure")


def test_wrong_media_type_is_415(make_client: Callable[..., TestClient]) -> None:
    response = make_client().post(
        OP, content="<Bundle/>", headers={"Content-Type": "application/fhir+xml"}
    )
    assert_outcome(response, 415, "not-supported")
    assert_outcome(make_client().post(OP, content=b"{}"), 415)  # no Content-Type


def test_body_too_large_is_413(make_client: Callable[..., TestClient]) -> None:
    ex = example("01")
    client = make_client(max_body_bytes=2000)
    assert_outcome(client.post(OP, json=params(ex.bundle), headers=FHIR), 413, "too-costly")


def test_too_many_resources_is_413(make_client: Callable[..., TestClient]) -> None:
    ex = example("01")
    assert_outcome(make_client(max_resources=5).post(OP, json=ex.bundle, headers=FHIR), 413)


def test_other_patients_resources_are_422(make_client: Callable[..., TestClient]) -> None:
    mixed = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": example("01").bundle["entry"] + example("02").bundle["entry"],
    }
    outcome = assert_outcome(
        make_client().post(OP, json=params(mixed, "2026-09-01"), headers=FHIR), 422
    )
    assert "more than one patient" in outcome["issue"][0]["diagnostics"]


def test_invalid_resource_inside_is_422(make_client: Callable[..., TestClient]) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {"resourceType": "Nope"}}],
    }
    outcome = assert_outcome(make_client().post(OP, json=bundle, headers=FHIR), 422, "invalid")
    assert outcome["issue"][0]["expression"]


def test_a_record_that_cannot_be_written_back_still_answers(
    make_client: Callable[..., TestClient],
) -> None:
    """A patient known only by a urn:uuid has no server id to write to: the summary is
    returned, and the issues say why there is no write-back Bundle."""
    statement = {
        "resourceType": "MedicationStatement",
        "id": "ms1",
        "status": "active",
        "subject": {"reference": "urn:uuid:6d1f0a52-1c3e-4f43-9d55-2b3c4d5e6f70"},
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "36437"}]
        },
        "effectivePeriod": {"start": "2026-01-01"},
    }
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": statement}]}
    body = make_client().post(OP, json=params(bundle, "2026-06-01"), headers=FHIR).json()
    assert [p["name"] for p in body["parameter"]] == ["summary", "issues"]
    assert any("no write-back Bundle" in i["diagnostics"] for i in out(body, "issues")["issue"])


def test_internal_error_is_a_500_outcome_without_traceback(
    make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(engine, "evaluate", boom)
    response = make_client().post(OP, json=example("01").bundle, headers=FHIR)
    outcome = assert_outcome(response, 500, "exception")
    assert "secret detail" not in response.text
    assert outcome["issue"][0]["severity"] == "fatal"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_metadata(make_client: Callable[..., TestClient], stub: StubFhir) -> None:
    response = make_client(public_base_url="https://trd.example.org").get("/fhir/metadata")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/fhir+json"
    cs = response.json()
    assert cs["resourceType"] == "CapabilityStatement"
    assert cs["fhirVersion"] == "4.0.1"
    assert cs["kind"] == "instance"
    assert cs["implementation"]["url"] == "https://trd.example.org/fhir"
    (rest,) = cs["rest"]
    assert rest["operation"] == [
        {
            "name": "trd-evaluate",
            "definition": "http://trd-fhir.org/fhir/OperationDefinition/trd-evaluate",
        }
    ]
    assert "resource" not in rest  # no FHIR server configured: no Patient-level read
    problems = [i for i in validate([cs], profiles=False)[0] if i.severity in ("error", "fatal")]
    assert problems == []
    with_server = make_client(fhir_base_url=stub.base).get("/fhir/metadata").json()
    assert with_server["rest"][0]["resource"][0]["type"] == "Patient"


def test_operation_definition_is_the_profile(make_client: Callable[..., TestClient]) -> None:
    od = make_client().get("/fhir/OperationDefinition/trd-evaluate").json()
    assert od["url"] == "http://trd-fhir.org/fhir/OperationDefinition/trd-evaluate"
    assert {p["name"] for p in od["parameter"]} == {"bundle", "asOf", "summary", "issues"}


def load(stub: StubFhir, ex: Example) -> None:
    stub.resources = ex.resources


def test_get_patient_reads_the_configured_server(
    make_client: Callable[..., TestClient], stub: StubFhir
) -> None:
    ex = example("06")
    load(stub, ex)
    client = make_client(ex, fhir_base_url=stub.base)
    response = client.get(f"/fhir/Patient/{ex.patient_id}/$trd-evaluate?asOf={ex.as_of}")
    assert response.status_code == 200, response.text
    summary = json.loads(out(response.json(), "summary"))
    expected = evaluate(ex.bundle, as_of=ex.as_of).summary()
    assert summary["stages"] == expected["stages"]
    assert summary["patient"] == f"Patient/{ex.patient_id}"
    assert any(p.endswith("/MedicationRequest") for p in stub.paths())


def test_get_patient_forwards_the_bearer_token(
    make_client: Callable[..., TestClient], stub: StubFhir
) -> None:
    ex = example("01")
    load(stub, ex)
    stub.token = "caller-token"  # noqa: S105 - a test token
    client = make_client(ex, fhir_base_url=stub.base)
    url = f"/fhir/Patient/{ex.patient_id}/$trd-evaluate"
    assert client.get(url, headers={"Authorization": "Bearer caller-token"}).status_code == 200
    assert_outcome(client.get(url), 401, "security")
    assert_outcome(client.get(url, headers={"Authorization": "Bearer wrong"}), 401)


def test_get_patient_errors(make_client: Callable[..., TestClient], stub: StubFhir) -> None:
    ex = example("01")
    load(stub, ex)
    client = make_client(ex, fhir_base_url=stub.base)
    assert_outcome(client.get("/fhir/Patient/nobody/$trd-evaluate"), 404, "not-found")
    assert_outcome(client.get("/fhir/Patient/bad$id/$trd-evaluate"), 400)
    assert_outcome(client.get(f"/fhir/Patient/{ex.patient_id}/$trd-evaluate?asOf=soon"), 400)
    stub.fail["Observation"] = 500
    assert_outcome(client.get(f"/fhir/Patient/{ex.patient_id}/$trd-evaluate"), 502, "transient")
    unconfigured = make_client(ex)
    assert_outcome(
        unconfigured.get(f"/fhir/Patient/{ex.patient_id}/$trd-evaluate"), 501, "not-supported"
    )


def test_unknown_routes_and_methods_are_outcomes(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    assert_outcome(client.get("/fhir/Nothing/here"), 404, "not-found")
    assert_outcome(client.get(OP), 405, "not-supported")


def test_security_headers_and_no_store(make_client: Callable[..., TestClient]) -> None:
    response = make_client().get("/fhir/metadata")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
