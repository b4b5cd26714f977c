"""--measure-report: one summary MeasureReport per model, valid against the project's profile
(trd-fhir validate's four checks), referencing a Measure that profiles/ defines, with counts
equal to a direct computation from summaries.ndjson."""

from __future__ import annotations

import json
from typing import Any

import pytest

from trdfhir.fhir import profiles
from trdfhir.fhir.conformance import validate
from trdfhir.fhir.profiles import ig_dir

from .support import PATIENTS, Report

MEASURE_POPULATION = "http://terminology.hl7.org/CodeSystem/measure-population"
# docs/rules.md's TRD definitions, by the model's code in the trd-fhir CodeSystem
NUMERATOR = {
    "regulatory": lambda s: s["regulatory"]["met"] is True,
    "thase-rush": lambda s: s["thase_rush"]["stage"] >= 2,
    "esm": lambda s: s["esm"]["category"] in {"TRD1", "TRD2", "TRD3", "TRD4", "TRD5", "CRD"},
    "maudsley": lambda s: s["maudsley"]["category"] in {"moderate", "severe"},
    "conway": lambda s: s["conway"]["stage"] >= 1,
    "markowitz": lambda s: s["markowitz"]["met"] is True,
}


def counts(populations: list[dict[str, Any]]) -> dict[str, int]:
    out = {}
    for p in populations:
        (coding,) = p["code"]["coding"]
        assert coding["system"] == MEASURE_POPULATION
        out[coding["code"]] = p["count"]
    return out


def reports(report: Report) -> dict[str, dict[str, Any]]:
    assert report.bundle["resourceType"] == "Bundle" and report.bundle["type"] == "collection"
    found = {}
    for entry in report.bundle["entry"]:
        resource = entry["resource"]
        found[resource["group"][0]["code"]["coding"][0]["code"]] = resource
    return found


def test_the_bundle_is_valid_against_the_profiles(report: Report) -> None:
    if not profiles.available():
        pytest.fail("the profile validator is not installed: run `make validator`")
    (issues,) = validate([report.bundle])
    assert [i.line() for i in issues if i.severity in ("fatal", "error", "warning")] == []


def test_a_report_breaking_the_invariants_is_invalid(report: Report) -> None:
    if not profiles.available():
        pytest.fail("the profile validator is not installed: run `make validator`")
    broken = json.loads(json.dumps(report.bundle))
    group = broken["entry"][0]["resource"]["group"][0]
    group["population"][2]["count"] = group["population"][1]["count"] + 1  # numerator > denominator
    (issues,) = validate([broken])
    assert any("trd-measure-populations" in i.message for i in issues if i.is_error)


def test_one_report_per_model_each_referencing_a_measure_of_the_profiles(report: Report) -> None:
    measures = {}
    for path in ig_dir().glob("Measure-*.json"):
        measure = json.loads(path.read_text(encoding="utf-8"))
        measures[measure["url"]] = measure
    found = reports(report)
    assert set(found) == set(NUMERATOR)
    for code, resource in found.items():
        assert resource["status"] == "complete" and resource["type"] == "summary"
        measure = measures[resource["measure"]]
        assert measure["group"][0]["code"]["coding"][0]["code"] == code
        assert resource["period"] == {"start": "2026-10-01", "end": "2026-10-01"}


@pytest.mark.parametrize("code", list(NUMERATOR))
def test_counts_equal_the_summaries(report: Report, code: str) -> None:
    stages = [s["stages"] for s in report.summaries]
    group = reports(report)[code]["group"][0]
    numerator = sum(1 for s in stages if NUMERATOR[code](s))
    rated = PATIENTS
    if code == "maudsley":
        rated = sum(1 for s in stages if s["maudsley"]["category"] is not None)
    assert counts(group["population"]) == {
        "initial-population": PATIENTS,
        "denominator": rated,
        "numerator": numerator,
    }
    assert group["measureScore"]["value"] == round(numerator / rated, 4)


@pytest.mark.parametrize("code", ["conway", "markowitz"])
def test_the_psychotherapy_stratum(report: Report, code: str) -> None:
    model = code
    group = reports(report)[code]["group"][0]
    (stratifier,) = group["stratifier"]
    strata = {s["value"]["text"]: counts(s["population"]) for s in stratifier["stratum"]}

    def counted(s: dict[str, Any]) -> bool:
        kinds = {t["id"]: t["kind"] for t in s["trials"]}
        return any(kinds.get(i) == "psychotherapy" for i in s["explanations"][model]["trials"])

    inside = [s for s in report.summaries if counted(s)]
    assert strata["counted"]["initial-population"] == len(inside)
    assert strata["counted"]["numerator"] == sum(1 for s in inside if NUMERATOR[code](s["stages"]))
    total = counts(group["population"])
    for key in ("initial-population", "denominator", "numerator"):
        assert strata["counted"][key] + strata["not counted"][key] == total[key]
    if code == "markowitz":  # Markowitz requires psychotherapy: nobody meets it without
        assert strata["not counted"]["numerator"] == 0


def test_models_without_psychotherapy_have_no_stratum(report: Report) -> None:
    for code in ("regulatory", "thase-rush", "esm", "maudsley"):
        assert "stratifier" not in reports(report)[code]["group"][0]
