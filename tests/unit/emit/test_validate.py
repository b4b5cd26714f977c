"""trd-fhir validate and the four checks behind it (trdfhir.fhir.conformance)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from trdfhir.cli import main
from trdfhir.fhir.conformance import validate
from trdfhir.fhir.profiles import ig_dir

from .support import FIRST_EXAMPLE, dumps, emit, require_profile_validator


@pytest.fixture(scope="module", autouse=True)
def _validator():
    require_profile_validator()


@pytest.fixture(scope="module")
def bundle():
    return emit(FIRST_EXAMPLE)


def run(capsys, *args):
    code = main(["validate", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def write(tmp_path: Path, data, name="in.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_the_profiles_conformance_resources_and_examples_are_valid():
    documents = [json.loads(p.read_text()) for p in sorted(ig_dir().glob("*.json"))]
    kinds = {d["resourceType"] for d in documents}
    assert {"StructureDefinition", "CodeSystem", "ValueSet", "OperationDefinition"} <= kinds
    assert {"CapabilityStatement", "Observation", "CarePlan", "Flag"} <= kinds
    for doc, issues in zip(documents, validate(documents), strict=True):
        assert [i.line() for i in issues if i.is_error] == [], doc["id"]


def test_a_valid_bundle_exits_zero(capsys, tmp_path, bundle):
    code, out, err = run(capsys, write(tmp_path, bundle))
    assert code == 0 and err == ""
    assert out.strip().endswith("checks: models, schema, terminology, profile)")
    assert ": valid: 0 error(s)" in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"resourceType": "Observation",', "is not valid JSON"),
        ("[1, 2]", "is not a FHIR resource"),
        ('{"status": "final"}', "is not a FHIR resource"),
        ("", "is empty"),
        ('{"resourceType": "Patient"}\n{"resourceType": ', "neither JSON nor NDJSON"),
    ],
)
def test_bad_input_is_one_line_without_a_traceback(capsys, tmp_path, text, message):
    code, out, err = run(capsys, write(tmp_path, text))
    assert code == 2 and out == ""
    assert err.startswith("trd-fhir: error:") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_missing_file_is_one_line(capsys, tmp_path):
    code, _out, err = run(capsys, tmp_path / "nope.json")
    assert code == 2 and "cannot read" in err


def test_an_invalid_resource_lists_issues_with_locations(capsys, tmp_path):
    bad = {
        "resourceType": "Observation",
        "status": "bogus",
        "code": {"text": "x"},
        "valueInteger": "seven",
        "colour": "red",
    }
    code, out, _err = run(capsys, write(tmp_path, bad))
    assert code == 2
    lines = out.splitlines()
    assert any("schema" in ln and "Observation.status" in ln and "bogus" in ln for ln in lines)
    assert any("models" in ln and "Observation.valueInteger" in ln for ln in lines)
    assert any("profile" in ln and "Observation.colour" in ln for ln in lines)
    assert "NOT valid" in lines[-1]


def test_json_output_is_an_operation_outcome_with_expressions(capsys, tmp_path):
    bad = {"resourceType": "Observation", "status": "bogus", "code": {"text": "x"}}
    code, out, _err = run(capsys, write(tmp_path, bad), "--format", "json", "--no-profiles")
    outcome = json.loads(out)
    assert code == 2 and outcome["resourceType"] == "OperationOutcome"
    issue = next(i for i in outcome["issue"] if "bogus" in i["diagnostics"])
    assert issue["severity"] == "error" and issue["expression"] == ["Observation.status"]


def test_json_output_of_a_valid_file(capsys, tmp_path, bundle):
    code, out, _err = run(capsys, write(tmp_path, bundle), "--format", "json")
    assert code == 0
    assert json.loads(out)["issue"] == [
        {"severity": "information", "code": "informational", "diagnostics": "valid"}
    ]


def broken(bundle, index, change):
    doc = copy.deepcopy(bundle)
    change(doc["entry"][index]["resource"])
    return doc


def first(bundle, profile):
    return next(
        i
        for i, e in enumerate(bundle["entry"])
        if e["resource"].get("meta", {}).get("profile", [""])[0].endswith(profile)
    )


def profile_errors(doc):
    (issues,) = validate([doc])
    return [(i.location, i.message) for i in issues if i.is_error and i.check == "profile"]


def test_the_profile_validator_finds_what_the_schema_cannot(bundle):
    stage, trial = first(bundle, "trd-stage-observation"), first(bundle, "trd-trial-observation")
    plan = first(bundle, "trd-suggestion-careplan")
    cases = [
        (stage, lambda r: r.pop("note"), "Missing required property"),
        (stage, lambda r: r.update(status="final"), "did not match expected pattern"),
        (stage, lambda r: r["identifier"][0].update(system="urn:x"), "expected pattern"),
        (
            stage,
            lambda r: [r.pop(k) for k in list(r) if k.startswith(("value", "comp"))],
            "trd-value",
        ),
        (trial, lambda r: r.update(component=r["component"][:2]), "slice 'adequacy'"),
        (trial, lambda r: r["component"][4]["valueQuantity"].update(code="mg"), "trd-trial-units"),
        (plan, lambda r: r["activity"][0]["detail"].pop("extension"), "trd-activity-source"),
        (plan, lambda r: r.update(intent="order"), "did not match expected pattern"),
    ]
    results = validate([broken(bundle, index, change) for index, change, _e in cases])
    for (index, _change, expected), issues in zip(cases, results, strict=True):
        errors = [(i.location, i.message) for i in issues if i.is_error and i.check == "profile"]
        assert any(expected in m and w.startswith(f"Bundle.entry[{index}]") for w, m in errors), (
            expected,
            errors,
        )


def test_an_unknown_project_profile_is_an_error(bundle):
    doc = broken(
        bundle,
        1,
        lambda r: r["meta"].update(profile=["http://trd-fhir.org/fhir/StructureDefinition/nope"]),
    )
    assert any("not one of the project's profiles" in m for _w, m in profile_errors(doc))


def test_an_unknown_code_of_the_project_is_a_terminology_error(bundle):
    doc = broken(bundle, 1, lambda r: r["code"]["coding"][0].update(code="stage-nine"))
    (issues,) = validate([doc], profiles=False)
    assert [(i.check, i.location) for i in issues] == [
        ("terminology", "Bundle.entry[1].resource.code.coding[0].code")
    ]


def test_ndjson_is_validated_line_by_line(capsys, tmp_path, bundle):
    lines = [json.dumps(e["resource"]) for e in bundle["entry"][:3]]
    lines[1] = lines[1].replace('"preliminary"', '"bogus"')
    code, out, _err = run(capsys, write(tmp_path, "\n".join(lines) + "\n"), "--no-profiles")
    assert code == 2
    assert "line 2: Observation.status" in out and "(3 resource(s)" in out


def test_a_missing_validator_is_one_clear_line(capsys, tmp_path, bundle, monkeypatch):
    monkeypatch.setenv("TRDFHIR_VALIDATOR_DIR", str(tmp_path / "none"))
    code, _out, err = run(capsys, write(tmp_path, bundle))
    assert code == 1 and "make validator" in err and len(err.strip().splitlines()) == 1


def test_stdin(capsys, monkeypatch, bundle):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(dumps(bundle)))
    code, out, _err = run(capsys, "-", "--no-profiles")
    assert code == 0 and out.startswith("-: valid")
