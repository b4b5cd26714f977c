"""The service on mutated records: `POST /fhir/$trd-evaluate` and the three CDS services (and
their feedback) never answer 5xx; every 4xx is an OperationOutcome with a one-line diagnostic."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from typing import Any

from hypothesis import event, given
from hypothesis import strategies as st

from tests.api.conftest import PREFETCH_KEYS, client_for, open_settings

from .budget import budget, tried
from .strategies import (
    CODES,
    VIGNETTES,
    Case,
    cases,
    mutate,
    raw_bodies,
    small_json,
    unicode_text,
)

OP = "/fhir/$trd-evaluate"
FHIR = {"Content-Type": "application/fhir+json"}
JSON = {"Content-Type": "application/json"}
# Thousands of calls from one address: the rate limits (a 429 is a fine answer, but it would
# stop the fuzzing from reaching the evaluation) are off here; tests/security tests them.
UNLIMITED = {"rate_limit_evaluate_per_minute": 0, "rate_limit_discovery_per_minute": 0}
CLIENT = client_for(open_settings(max_evaluation_seconds=30.0, **UNLIMITED))
NO_SERVERS = client_for(open_settings(cds_fhir_servers=("http://127.0.0.1:9/none/",), **UNLIMITED))


def dumps(value: Any) -> bytes | None:
    try:
        return json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (RecursionError, ValueError):
        return None


def check(response: Any, *, cds: bool = False) -> None:
    event(f"HTTP {response.status_code}")  # --hypothesis-show-statistics
    assert response.status_code < 500, response.text[:500]
    if response.status_code < 400:
        return
    media = response.headers["content-type"]
    assert media.startswith("application/json" if cds else "application/fhir+json"), media
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    issue = body["issue"][0]
    assert issue["severity"] in ("error", "fatal") and issue["code"]
    assert issue["diagnostics"] and "\n" not in issue["diagnostics"]
    assert "Traceback" not in response.text


# -- $trd-evaluate -------------------------------------------------------------------------------
@given(case=cases(), wrap=st.sampled_from(["parameters", "bundle", "parameters-no-date"]))
@budget("operation")
def test_trd_evaluate_on_mutated_records(case: Case, wrap: str) -> None:
    tried("operation")
    if wrap == "bundle":
        body, url = case.data, f"{OP}?asOf={case.as_of}"
    else:
        params: list[dict[str, Any]] = [{"name": "bundle", "resource": case.data}]
        if wrap == "parameters":
            params.append({"name": "asOf", "valueDate": case.as_of})
        body, url = {"resourceType": "Parameters", "parameter": params}, OP
    raw = dumps(body)
    if raw is None:
        return
    response = CLIENT.post(url, content=raw, headers=FHIR)
    check(response)
    if response.status_code == 200:
        answer = response.json()
        assert answer["resourceType"] == "Parameters"
        assert json.loads(answer["parameter"][0]["valueString"])["patient"]


@given(body=raw_bodies(), media=st.sampled_from([FHIR, JSON, {"Content-Type": "text/plain"}]))
@budget("operation-bytes")
def test_trd_evaluate_on_bodies_that_are_not_json(body: bytes, media: dict[str, str]) -> None:
    tried("operation-bytes")
    check(CLIENT.post(f"{OP}?asOf=2026-09-01", content=body, headers=media))


# -- CDS Hooks -----------------------------------------------------------------------------------
def prefetch_from(data: Any) -> dict[str, Any]:
    """The CDS prefetch a client would send for these (possibly malformed) resources."""
    entries = data.get("entry") if isinstance(data, dict) else data
    resources = [
        e.get("resource") if isinstance(e, dict) and "resource" in e else e
        for e in (entries if isinstance(entries, list) else [data])
    ]
    groups: dict[str, list[Any]] = defaultdict(list)
    patient: Any = None
    for r in resources:
        rtype = r.get("resourceType") if isinstance(r, dict) else None
        if rtype == "Patient" and patient is None:
            patient = r
        else:
            key = PREFETCH_KEYS.get(rtype, "observations") if isinstance(rtype, str) else "x"
            groups[key].append({"resource": r})
    out: dict[str, Any] = {"patient": patient}
    for key in PREFETCH_KEYS.values():
        entries = groups[key] + (groups["x"] if key == "procedures" else [])
        out[key] = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
    return out


def cds_body(case: Case, hook: str, patient: str, **context: Any) -> dict[str, Any]:
    return {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/dr-1", "patientId": patient, **context},
        "prefetch": prefetch_from(case.data),
    }


def patient_of(case: Case) -> str:
    return next(v.patient_id for v in VIGNETTES if v.name == case.base)


@given(case=cases())
@budget("cds-patient-view")
def test_patient_view_on_mutated_prefetch(case: Case) -> None:
    tried("cds-patient-view")
    raw = dumps(cds_body(case, "patient-view", patient_of(case)))
    if raw is None:
        return
    response = CLIENT.post("/cds-services/trd-patient-view", content=raw, headers=JSON)
    check(response, cds=True)
    if response.status_code == 200:
        assert isinstance(response.json()["cards"], list)


def draft_order(draw: st.DrawFn, patient: str) -> dict[str, Any]:
    order: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": "draft-1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{patient}"},
        "medicationCodeableConcept": {
            "coding": [
                {
                    "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                    "code": draw(st.sampled_from(["36437", "321988", "39786", "6809", "x"])),
                }
            ],
            "text": draw(st.sampled_from(["sertraline 50 mg", "", "venlafaxine"])),
        },
        "dosageInstruction": [{"doseAndRate": [{"doseQuantity": {"value": 50, "unit": "mg"}}]}],
    }
    state: dict[str, bool] = {}
    for _ in range(draw(st.integers(0, 3))):
        mutate(draw, order, patient, state)
    return order


@given(
    case=cases(max_steps=3),
    hook=st.sampled_from(["order-select", "order-sign"]),
    data=st.data(),
)
@budget("cds-orders")
def test_order_hooks_on_mutated_orders_and_records(case: Case, hook: str, data: Any) -> None:
    tried("cds-orders")
    patient = patient_of(case)
    order = draft_order(data.draw, patient)
    drafts: Any = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": order}]}
    if data.draw(st.integers(0, 9)) == 0:
        drafts = data.draw(small_json)
    context: dict[str, Any] = {"draftOrders": drafts}
    if hook == "order-select":
        context["selections"] = data.draw(
            st.sampled_from([["MedicationRequest/draft-1"], [], ["x"], "MedicationRequest/draft-1"])
        )
    raw = dumps(cds_body(case, hook, patient, **context))
    if raw is None:
        return
    service = "trd-order-select" if hook == "order-select" else "trd-order-sign"
    check(CLIENT.post(f"/cds-services/{service}", content=raw, headers=JSON), cds=True)


ENVELOPE_KEYS = ["hook", "hookInstance", "context", "prefetch", "fhirServer", "fhirAuthorization"]


@given(
    key=st.sampled_from(
        [*ENVELOPE_KEYS, "context.patientId", "context.userId", "prefetch.patient"]
    ),
    value=small_json | st.sampled_from(CODES),
    service=st.sampled_from(["trd-patient-view", "trd-order-select", "trd-order-sign", "nope"]),
)
@budget("cds-envelope")
def test_cds_request_envelope(key: str, value: Any, service: str) -> None:
    """The request object itself wrong: every field in turn replaced by any JSON value. (A
    `fhirServer` is never contacted here: cds_fhir_servers allows none of them.)"""
    tried("cds-envelope")
    vignette = VIGNETTES[0]
    body = cds_body(Case(vignette.bundle, "2026-09-01", [], vignette.name), "patient-view", "p")
    body["context"]["patientId"] = vignette.patient_id
    head, _, tail = key.partition(".")
    if tail and isinstance(body.get(head), dict):
        body[head][tail] = value
    else:
        body[head] = value
    raw = dumps(body)
    if raw is None:
        return
    check(NO_SERVERS.post(f"/cds-services/{service}", content=raw, headers=JSON), cds=True)


@given(
    body=st.one_of(
        small_json,
        st.fixed_dictionaries(
            {
                "feedback": st.lists(
                    st.fixed_dictionaries(
                        {
                            "card": st.one_of(st.uuids().map(str), unicode_text),
                            "outcome": st.sampled_from(["accepted", "overridden", "x", ""]),
                        },
                        optional={
                            "acceptedSuggestions": small_json,
                            "overrideReason": small_json,
                            "outcomeTimestamp": st.sampled_from(
                                ["2026-09-01T12:00:00Z", "yesterday", ""]
                            ),
                        },
                    ),
                    max_size=3,
                )
            }
        ),
    )
)
@budget("cds-feedback")
def test_feedback_bodies(body: Any) -> None:
    tried("cds-feedback")
    raw = dumps(body)
    if raw is None:
        return
    response = CLIENT.post("/cds-services/trd-patient-view/feedback", content=raw, headers=JSON)
    check(response, cds=True)
