"""emit_bundle: the shape of the write-back transaction Bundle, resource by resource."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest

from trdfhir.emit import emit_bundle
from trdfhir.emit.codes import model_code
from trdfhir.emit.ids import (
    ASSESSMENT_SYSTEM,
    CAREPLAN_SYSTEM,
    CODE_SYSTEM,
    DEVICE_SYSTEM,
    WRITE_SYSTEM,
)
from trdfhir.errors import InputError

from .support import (
    FIRST_EXAMPLE,
    SAFETY_EXAMPLE,
    assess,
    emit,
    entries,
    midnight,
    profiled,
    resources,
)


@pytest.fixture(scope="module")
def safety():
    a = assess(SAFETY_EXAMPLE)
    return a, emit_bundle(a, now=midnight(a))


def test_a_transaction_of_urn_uuid_entries_with_conditional_requests(safety):
    _a, bundle = safety
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction"
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert all(u.startswith("urn:uuid:") for u in urls) and len(set(urls)) == len(urls)
    for e in bundle["entry"]:
        request, kind = e["request"], e["resource"]["resourceType"]
        assert "id" not in e["resource"]
        if kind == "CarePlan":
            assert request["method"] == "PUT"
        else:
            assert request == {"method": "POST", "url": kind, "ifNoneExist": request["ifNoneExist"]}
            assert request["ifNoneExist"].startswith(("identifier=", "_tag="))


def test_one_stage_observation_per_model(safety):
    a, bundle = safety
    stages = [e["resource"] for e in profiled(bundle, "trd-stage-observation")]
    assert [s["code"]["coding"][0]["code"] for s in stages] == [model_code(m) for m in a.stages]
    for s in stages:
        assert s["status"] == "preliminary"
        assert s["category"][0]["coding"][0]["code"] == "survey"
        assert s["code"]["coding"][0]["system"] == CODE_SYSTEM
        assert s["subject"] == {"reference": a.patient}
        assert s["effectiveDateTime"] == a.as_of.isoformat()
        assert s["issued"] == f"{a.as_of.isoformat()}T00:00:00Z"
        assert s["identifier"][0]["system"] == ASSESSMENT_SYSTEM
        assert "trd-fhir" in s["method"]["text"] and s["note"][0]["text"]


def test_derived_from_holds_only_score_observations_of_the_record(safety):
    a, bundle = safety
    for obs in resources(bundle, "Observation"):
        for ref in obs.get("derivedFrom", []):
            assert ref["reference"].startswith(("Observation/", "QuestionnaireResponse/"))
            assert ref["reference"] in a.record.inputs


def test_maudsley_dimensions_are_components():
    a = assess(FIRST_EXAMPLE)
    bundle = emit_bundle(a, now=midnight(a))
    obs = next(
        e["resource"]
        for e in profiled(bundle, "trd-stage-observation")
        if e["resource"]["code"]["coding"][0]["code"] == "maudsley"
    )
    value = a.stages["maudsley"].value
    assert isinstance(value, dict)
    parts = {c["code"]["coding"][0]["code"]: c for c in obs["component"]}
    for name, level in value["dimensions"].items():
        assert parts[f"maudsley-{name}"]["valueInteger"] == level
    assert obs["valueInteger"] == value["score"]
    assert obs["interpretation"][0]["coding"][0]["code"] == f"maudsley-{value['category']}"
    assert parts["upper-bound"]["valueInteger"] == a.upper_bound["maudsley"]


def test_one_trial_observation_per_trial_focused_on_its_resources(safety):
    a, bundle = safety
    trials = [e["resource"] for e in profiled(bundle, "trd-trial-observation")]
    assert len(trials) == len(a.trials)
    for obs, t in zip(trials, a.trials, strict=True):
        assert [f["reference"] for f in obs.get("focus", [])] == sorted(set(t.trial.resources))
        parts = {c["code"]["coding"][0]["code"]: c for c in obs["component"]}
        assert parts["adequacy"]["valueCodeableConcept"]["coding"][0]["code"] == (
            f"adequacy-{t.adequacy.status}"
        )
        assert parts["outcome"]["valueCodeableConcept"]["coding"][0]["code"] == (
            f"outcome-{t.outcome.status}"
        )
        assert parts["evidence"]["valueCodeableConcept"]["coding"][0]["code"] == (
            f"evidence-{t.outcome.evidence}"
        )
        if t.trial.kind == "antidepressant":
            assert {"weeks-at-adequate-dose", "max-daily-dose", "adequate-daily-dose"} <= set(parts)
        assert obs["effectivePeriod"]["start"] == t.trial.start.isoformat()


def test_the_urgent_safety_finding_is_critical_and_raises_an_active_flag(safety):
    _a, bundle = safety
    finding = next(
        e
        for e in profiled(bundle, "trd-finding-observation")
        if e["resource"]["code"]["coding"][0]["code"] == "safety-item9"
    )
    codes = [c["code"] for c in finding["resource"]["interpretation"][0]["coding"]]
    assert codes[0] == "AA" and "severity-urgent" in codes
    (flag,) = resources(bundle, "Flag")
    assert flag["status"] == "active"
    assert any(c["coding"][0]["code"] == "clinical" for c in flag["category"])
    assert flag["code"]["coding"][0]["code"] == "safety-item9"
    assert flag["extension"][0]["valueReference"]["reference"] == finding["fullUrl"]


def test_no_flag_without_an_urgent_finding():
    a = assess(FIRST_EXAMPLE)
    assert all(f.severity != "urgent" for f in a.findings)
    assert resources(emit_bundle(a, now=midnight(a)), "Flag") == []


def test_one_draft_careplan_with_an_activity_per_suggestion(safety):
    a, bundle = safety
    (entry,) = entries(bundle, "CarePlan")
    plan = entry["resource"]
    pid = a.patient.split("/")[1]
    assert (plan["status"], plan["intent"]) == ("draft", "proposal")
    assert plan["identifier"] == [{"system": CAREPLAN_SYSTEM, "value": pid}]
    assert entry["request"]["url"] == f"CarePlan?identifier={CAREPLAN_SYSTEM}|{pid}&status=draft"
    mdd = {d.resource for d in a.record.diagnoses if d.category == "mdd"}
    assert [r["reference"] for r in plan["addresses"]] and {
        r["reference"] for r in plan["addresses"]
    } <= mdd
    stage_urls = [e["fullUrl"] for e in profiled(bundle, "trd-stage-observation")]
    assert [r["reference"] for r in plan["supportingInfo"]] == stage_urls
    assert len(plan["activity"]) == len(a.suggestions)
    for activity, s in zip(plan["activity"], a.suggestions, strict=True):
        detail = activity["detail"]
        assert detail["description"] == s.text
        assert detail["reasonCode"] == [{"text": s.reason}]
        assert detail["extension"][0]["valueString"] == s.source
        assert detail["status"] == "not-started"
        assert detail["code"]["coding"][0]["code"] == s.code


def test_provenance_names_the_device_every_input_and_every_written_resource(safety):
    a, bundle = safety
    (entry,) = entries(bundle, "Provenance")
    prov = entry["resource"]
    device = entries(bundle, "Device")[0]
    written = [
        e["fullUrl"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] not in ("Device", "Provenance")
    ]
    assert [t["reference"] for t in prov["target"]] == written
    assert [x["what"]["reference"] for x in prov["entity"]] == sorted(set(a.record.inputs))
    assert {x["role"] for x in prov["entity"]} == {"source"}
    assert prov["agent"][0]["who"] == {"reference": device["fullUrl"]}
    assert prov["recorded"] == f"{a.as_of.isoformat()}T00:00:00Z"
    tag = prov["meta"]["tag"][0]
    assert tag["system"] == WRITE_SYSTEM
    assert entry["request"]["ifNoneExist"] == f"_tag={WRITE_SYSTEM}|{tag['code']}"
    assert device["request"]["ifNoneExist"].startswith(f"identifier={DEVICE_SYSTEM}|trd-fhir-")


def test_every_reference_resolves_in_the_bundle_or_the_record(safety):
    a, bundle = safety
    local = {e["fullUrl"] for e in bundle["entry"]}
    known = local | set(a.record.inputs) | {a.patient}

    def refs(node):
        if isinstance(node, dict):
            if isinstance(node.get("reference"), str):
                yield node["reference"]
            for v in node.values():
                yield from refs(v)
        elif isinstance(node, list):
            for v in node:
                yield from refs(v)

    assert set(refs(bundle)) <= known


def test_a_device_on_the_server_replaces_the_conditional_device():
    bundle = emit(FIRST_EXAMPLE, device_ref="Device/trd")
    assert entries(bundle, "Device") == []
    prov = resources(bundle, "Provenance")[0]
    assert prov["agent"][0]["who"] == {"reference": "Device/trd"}
    assert all(o["device"] == {"reference": "Device/trd"} for o in resources(bundle, "Observation"))


def test_now_is_recorded_in_utc_and_a_naive_time_is_utc():
    naive = emit(FIRST_EXAMPLE, now=datetime(2026, 9, 1, 12, 30))
    prov = resources(naive, "Provenance")[0]
    assert prov["recorded"] == "2026-09-01T12:30:00Z"


def test_a_patient_without_a_server_id_cannot_be_written_back():
    a = assess(FIRST_EXAMPLE)
    odd = dataclasses.replace(a, patient="urn:uuid:0b7c")
    with pytest.raises(InputError, match="Patient/<id>"):
        emit_bundle(odd, now=midnight(a))
