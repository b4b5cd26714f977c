"""Idempotency at the Bundle level: the same assessment gives the same bytes and identifiers (so a
second POST creates nothing new); a changed input gives new Observation identifiers but the same
CarePlan identifier and conditional update (so the draft is replaced, not duplicated)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

from trdfhir.cli import main

from .support import FIRST_EXAMPLE, SAFETY_EXAMPLE, dumps, emit, entries, example, resources


def identifiers(bundle, kind="Observation"):
    return [r["identifier"][0]["value"] for r in resources(bundle, kind)]


def with_new_phq9(name):
    data, _as_of = example(name)
    data = copy.deepcopy(data)
    patient = next(
        e["resource"]["id"] for e in data["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    data["entry"].append(
        {
            "resource": {
                "resourceType": "Observation",
                "id": "added-phq9",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
                "subject": {"reference": f"Patient/{patient}"},
                "effectiveDateTime": "2026-08-25",
                "valueQuantity": {
                    "value": 21,
                    "system": "http://unitsofmeasure.org",
                    "code": "{score}",
                },
            }
        }
    )
    return data


def test_emitting_twice_gives_identical_bytes():
    for name in (FIRST_EXAMPLE, SAFETY_EXAMPLE):
        assert dumps(emit(name)) == dumps(emit(name))


def test_the_cli_is_deterministic(capsys, tmp_path):
    path = tmp_path / "in.json"
    path.write_text(dumps(example(FIRST_EXAMPLE)[0]))
    outputs = []
    for _ in range(2):
        assert main(["evaluate", str(path), "--as-of", "2026-09-01", "--format", "fhir"]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] == dumps(emit(FIRST_EXAMPLE))


def test_every_create_is_conditional_on_a_stable_business_identifier():
    first, again = emit(SAFETY_EXAMPLE), emit(SAFETY_EXAMPLE)
    assert [e["request"] for e in first["entry"]] == [e["request"] for e in again["entry"]]
    for e in first["entry"]:
        if e["request"]["method"] == "POST":
            assert "ifNoneExist" in e["request"]


def test_the_write_time_changes_no_business_identifier():
    early = emit(FIRST_EXAMPLE, now=datetime(2026, 9, 1, tzinfo=UTC))
    late = emit(FIRST_EXAMPLE, now=datetime(2026, 9, 3, 8, tzinfo=UTC))
    assert identifiers(early) == identifiers(late)
    # Every entry, the Provenance included: re-posting later matches what is already there.
    assert [e["fullUrl"] for e in early["entry"]] == [e["fullUrl"] for e in late["entry"]]
    assert [e["request"] for e in early["entry"]] == [e["request"] for e in late["entry"]]


def test_a_changed_input_replaces_the_draft_and_records_new_observations():
    before = emit(FIRST_EXAMPLE)
    after = emit(FIRST_EXAMPLE, with_new_phq9(FIRST_EXAMPLE))
    (plan_before,), (plan_after,) = entries(before, "CarePlan"), entries(after, "CarePlan")
    assert plan_before["resource"]["identifier"] == plan_after["resource"]["identifier"]
    assert plan_before["request"] == plan_after["request"]
    assert plan_before["request"]["method"] == "PUT"
    assert plan_before["fullUrl"] == plan_after["fullUrl"]
    assert set(identifiers(before)).isdisjoint(identifiers(after))
    tag = lambda b: resources(b, "Provenance")[0]["meta"]["tag"][0]["code"]  # noqa: E731
    assert tag(before) != tag(after)
    assert entries(before, "Device")[0] == entries(after, "Device")[0]


def test_another_as_of_date_is_another_assessment():
    data, as_of = example(FIRST_EXAMPLE)
    import trdfhir
    from trdfhir.emit import emit_bundle

    a = trdfhir.evaluate(copy.deepcopy(data), as_of="2026-09-02")
    later = emit_bundle(a, now=datetime(2026, 9, 2, tzinfo=UTC))
    assert as_of != "2026-09-02"
    assert set(identifiers(emit(FIRST_EXAMPLE))).isdisjoint(identifiers(later))


def test_the_cli_takes_the_write_time_from_now(capsys, tmp_path):
    path = tmp_path / "in.json"
    path.write_text(dumps(example(FIRST_EXAMPLE)[0]))
    args = ["evaluate", str(path), "--as-of", "2026-09-01", "--format", "fhir"]
    assert main([*args, "--now", "2026-09-02T10:15:00+02:00"]) == 0
    bundle = json.loads(capsys.readouterr().out)
    assert resources(bundle, "Provenance")[0]["recorded"] == "2026-09-02T08:15:00Z"
    assert identifiers(bundle) == identifiers(emit(FIRST_EXAMPLE))
    assert main([*args, "--now", "yesterday"]) == 2
    assert "--now must be an ISO 8601 date-time" in capsys.readouterr().err
