"""`trd-fhir bulk` writes reading.json: the sum of every patient's reading report."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from trdfhir.assessment import evaluate
from trdfhir.bulk import BulkOptions, run_bulk, write_population
from trdfhir.ingest.grouping import group_by_patient
from trdfhir.reading import empty_report, finish_report, merge_reports, reading_report

AS_OF = "2026-10-01"


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("export")
    write_population(directory, patients=30, seed=5)
    return directory


def run(source: Path, output: Path, workers: int) -> dict:
    opts = BulkOptions(
        input=source, output=output, progress=False, stream=io.StringIO(), workers=workers
    )
    run_bulk(opts)
    return json.loads((output / "reading.json").read_text(encoding="utf-8"))


def test_reading_json_is_the_sum_of_the_patients_reports(export: Path, tmp_path: Path) -> None:
    written = run(export, tmp_path / "out", workers=1)
    resources = [
        json.loads(line)
        for path in sorted(export.glob("*.ndjson"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    expected = empty_report()
    for group in group_by_patient(resources).values():
        expected = merge_reports(expected, reading_report(evaluate(group, as_of=AS_OF)))
    assert written == finish_report(expected)
    assert written["patients"] == 30
    meds = written["medications"]
    assert 0 < meds["with_dose"] <= meds["records"]


def test_reading_json_does_not_depend_on_the_number_of_workers(
    export: Path, tmp_path: Path
) -> None:
    assert run(export, tmp_path / "one", workers=1) == run(export, tmp_path / "two", workers=2)


def test_finished_reports_list_the_most_frequent_codes_first() -> None:
    a = {
        **empty_report(),
        "patients": 1,
        "unmapped_codes": [{"code": "s|1", "display": "x", "count": 1}],
    }
    b = {
        **empty_report(),
        "patients": 1,
        "unmapped_codes": [
            {"code": "s|2", "display": None, "count": 3},
            {"code": "s|1", "display": None, "count": 1},
        ],
    }
    done = finish_report(merge_reports(a, b), top=1)
    assert done["patients"] == 2
    assert done["unmapped_codes"] == [{"code": "s|2", "display": None, "count": 3}]
    assert done["unmapped_codes_left_off"] == 1
