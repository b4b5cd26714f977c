"""trd-fhir population as a user runs it: bad input is one line and an exit code, a bad summaries
line is an error row, reading.json is shown when present, input text is escaped, and the same
results give the same bytes."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from trdfhir.cli import main

HOSTILE = '<script>alert("x")</script>'
# bulk's reading report, version 1 (docs/real-world.md), as a site's run would write it
READING = {
    "reading": "1",
    "patients": 100,
    "medications": {
        "records": 1200,
        "with_dose": 1030,
        "with_duration": 1110,
        "unknown_dose": {"dosage-text": 50, "no-dosage": 120},
        "unknown_duration": {"point-claim": 90},
        "assumed_end": {},
    },
    "questionnaires": {"read": 30, "not_read": 10},
    "unmapped_codes": [
        {"code": "http://snomed.info/sct|123456", "display": HOSTILE, "count": 7},
        {"code": "(text only)", "display": None, "count": 3},
    ],
    "unmapped_codes_left_off": 4,
    "warnings": {"unknown-dose": 170},
}


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str]:
    code = main(["population", *map(str, args)])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: None, "is not a directory"),
        (lambda d: d.mkdir(), "has no summaries.ndjson"),
        (lambda d: (d.mkdir(), (d / "summaries.ndjson").write_text("\n")), "holds no patient"),
        (
            lambda d: (d.mkdir(), (d / "summaries.ndjson").write_text('{"a": 1}\n[1]\n')),
            "holds no patient",
        ),
    ],
)
def test_unusable_results_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, setup: object, message: str
) -> None:
    results = tmp_path / "results"
    setup(results)  # type: ignore[operator]
    out = tmp_path / "page.html"
    code, err = run(capsys, results, "--output", out)
    assert code == 2
    assert err.startswith("trd-fhir population: error: ") or err.startswith("trd-fhir: error: ")
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_without_the_report_extra_the_error_says_how_to_install_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "trdfhir.population.figures", None)
    code, err = run(capsys, tmp_path, "--output", tmp_path / "page.html")
    assert code == 1
    assert "pip install 'trd-fhir[report]'" in err and err.count("\n") == 1


def test_a_bad_now_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, bulk_results: Path
) -> None:
    code, err = run(capsys, bulk_results, "--output", tmp_path / "p.html", "--now", "yesterday")
    assert code == 2 and "--now" in err


@pytest.fixture(scope="module")
def variant(bulk_results: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic results with a broken summaries line, an error row and a reading.json."""
    results = tmp_path_factory.mktemp("variant") / "results"
    shutil.copytree(bulk_results, results)
    with (results / "summaries.ndjson").open("a", encoding="utf-8") as out:
        out.write('{"patient": "Patient/broken", "stages": \n')
    with (results / "errors.ndjson").open("a", encoding="utf-8") as out:
        out.write(json.dumps({"kind": "invalid-patient", "patient": "Patient/x", "error": "e"}))
        out.write("\n")
    (results / "reading.json").write_text(json.dumps(READING), encoding="utf-8")
    return results


def render(capsys: pytest.CaptureFixture[str], results: Path, out: Path) -> dict[str, bytes]:
    code, err = run(
        capsys,
        results,
        "--output",
        out / "page.html",
        "--json",
        out / "numbers.json",
        "--measure-report",
        out / "measures.json",
        "--figures",
        out / "figures",
        "--label",
        HOSTILE,
    )
    assert code == 0, err
    assert err.startswith("trd-fhir population: ") and err.count("\n") == 1
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_a_bad_line_is_an_error_row_and_reading_json_is_shown(
    capsys: pytest.CaptureFixture[str], variant: Path, tmp_path: Path
) -> None:
    files = render(capsys, variant, tmp_path / "a")
    numbers = json.loads(files["numbers.json"])
    assert numbers["patients"] == 100
    assert numbers["run"]["bad_lines"] == [{"line": 101, "error": "not valid JSON"}]
    assert numbers["run"]["errors"]["invalid-patient"] == 1
    reading = numbers["reading"]
    assert reading["medication_records"] == 1200
    assert reading["with_dose"]["count"] == 1030 and reading["with_dose"]["share"] == round(
        1030 / 1200, 4
    )
    assert (reading["with_duration"]["count"], reading["with_duration"]["n"]) == (1110, 1200)
    assert (reading["questionnaires"]["count"], reading["questionnaires"]["n"]) == (30, 40)
    assert reading["unknown_dose"] == {"dosage-text": 50, "no-dosage": 120}
    page = files["page.html"].decode()
    assert "Medication records with a daily dose" in page and "85.8 %" in page
    assert "point-claim" in page and "4 more left off" in page
    assert "Not available" not in page
    # input text (the label, reading.json) is escaped: the page has no script at all
    assert "<script" not in page and "&lt;script&gt;" in page
    assert {name for name in files if name.startswith("figures/")} == {
        f"figures/{n}.{ext}"
        for n in (
            "prevalence",
            "stages",
            "agreement",
            "failed_trials",
            "pseudo_resistance",
            "upper_bound",
        )
        for ext in ("svg", "png")
    }


def test_the_same_results_give_the_same_bytes(
    capsys: pytest.CaptureFixture[str], variant: Path, tmp_path: Path
) -> None:
    first = render(capsys, variant, tmp_path / "a")
    second = render(capsys, variant, tmp_path / "b")
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []


def test_a_reading_json_of_another_shape_is_listed_as_it_is(bulk_results: Path) -> None:
    from trdfhir.population.compute import compute, reading_coverage
    from trdfhir.population.definitions import load_definitions
    from trdfhir.population.load import read_results
    from trdfhir.population.page import render

    results = read_results(bulk_results)
    other = {"reading": "2", "resources": {"read": 13080, "skipped": 12}, "files": [1, 2]}
    numbers = compute(results.summaries, load_definitions())
    numbers["reading"] = reading_coverage(other)
    assert numbers["reading"] is None
    page = render(
        numbers,
        [],
        as_of="2026-10-01",
        version="x",
        contract="1",
        overrides={},
        error_kinds={},
        bad_lines=0,
        reading=other,
        notes=(),
        label=None,
    )
    assert "resources.read" in page and "13080" in page and "2 items" in page
    assert "Not available" not in page
