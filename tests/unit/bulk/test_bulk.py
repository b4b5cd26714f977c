"""`trd-fhir bulk`: same answers as evaluating each patient, flat memory by construction,
resumable, deterministic whatever the number of workers."""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from trdfhir.assessment import evaluate
from trdfhir.bulk import BulkOptions, BulkReport, run_bulk, write_population
from trdfhir.bulk import worker as worker_module
from trdfhir.cli import main
from trdfhir.errors import InputError
from trdfhir.ingest.grouping import group_by_patient
from trdfhir.mappings import load_mappings

AS_OF = "2026-10-01"


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("export")
    write_population(directory, patients=40, seed=3)
    return directory


def bulk(source: Path, output: Path, **options: Any) -> BulkReport:
    stream = io.StringIO()
    opts = BulkOptions(input=source, output=output, progress=False, stream=stream, **options)
    report = run_bulk(opts)
    report.state["stderr"] = stream.getvalue()
    return report


def outputs(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != "bulk-state.json"
    }


def summaries(directory: Path) -> list[dict[str, Any]]:
    lines = (directory / "summaries.ndjson").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def direct(source: Path) -> list[dict[str, Any]]:
    """Every file read whole, grouped by the core's group_by_patient, evaluated one by one."""
    resources = []
    for path in sorted(source.glob("*.ndjson*")):
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        resources += [json.loads(line) for line in data.splitlines() if line.strip()]
    maps = load_mappings()
    groups = group_by_patient(resources)
    return [evaluate(groups[p], as_of=AS_OF, mappings=maps).summary() for p in sorted(groups)]


def test_same_summaries_as_evaluating_each_patient(export: Path, tmp_path: Path) -> None:
    report = bulk(export, tmp_path / "out", workers=1, buckets=3)
    assert report.patients == 40 and report.errors == 0
    assert summaries(tmp_path / "out") == direct(export)
    assert (tmp_path / "out" / "errors.ndjson").read_bytes() == b""
    assert not (tmp_path / "out" / ".bulk-work").exists()
    assert "40 patients" in report.state["stderr"]


def test_one_and_two_workers_give_identical_output(export: Path, tmp_path: Path) -> None:
    options = {"fhir": True, "now": None, "as_of": None}
    from datetime import UTC, datetime

    options["now"] = datetime(2026, 10, 1, tzinfo=UTC)
    bulk(export, tmp_path / "one", workers=1, buckets=2, **options)
    bulk(export, tmp_path / "two", workers=2, buckets=5, **options)
    one, two = outputs(tmp_path / "one"), outputs(tmp_path / "two")
    assert one == two
    assert {"summaries.ndjson", "summaries.csv", "errors.ndjson"} <= set(one)
    assert {"fhir/Observation.ndjson", "fhir/CarePlan.ndjson", "fhir/Device.ndjson"} <= set(one)


def test_fhir_output_is_ready_for_import(export: Path, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    bulk(export, tmp_path, workers=1, fhir=True, now=datetime(2026, 10, 1, tzinfo=UTC))
    ids: set[str] = set()
    for path in (tmp_path / "fhir").glob("*.ndjson"):
        for line in path.read_text(encoding="utf-8").splitlines():
            resource = json.loads(line)
            assert resource["resourceType"] == path.stem and resource["id"]
            ids.add(f"{path.stem}/{resource['id']}")
            assert "urn:uuid:" not in line
    devices = (tmp_path / "fhir" / "Device.ndjson").read_text().splitlines()
    assert len(devices) == 1
    provenance = json.loads((tmp_path / "fhir" / "Provenance.ndjson").read_text().splitlines()[0])
    assert provenance["agent"][0]["who"]["reference"] in ids
    assert all(t["reference"] in ids for t in provenance["target"])


def test_csv_has_one_row_per_patient(export: Path, tmp_path: Path) -> None:
    bulk(export, tmp_path, workers=1)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "summaries.csv").read_text())))
    by_patient = {s["patient"]: s for s in summaries(tmp_path)}
    assert [r["patient"] for r in rows] == list(by_patient)
    for row in rows:
        s = by_patient[row["patient"]]
        assert row["thase_rush"] == str(s["stages"]["thase_rush"]["stage"])
        assert row["regulatory"] == str(s["stages"]["regulatory"]["met"]).lower()
        assert int(row["trials"]) == len(s["trials"])
        severities = [f["severity"] for f in s["findings"]]
        assert int(row["findings_warning"]) == severities.count("warning")


def _write(directory: Path, name: str, lines: list[Any]) -> None:
    text = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
    (directory / name).write_text(text, encoding="utf-8")


def _statement(rid: str, patient: str, medication: str, start: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationStatement",
        "id": rid,
        "status": "completed",
        "medicationReference": {"reference": f"Medication/{medication}"},
        "subject": {"reference": f"Patient/{patient}"},
        "effectivePeriod": {"start": start, "end": "2026-06-30"},
        "dosage": [{"text": "100 mg by mouth once daily"}],
    }


def _medication(mid: str, code: str, name: str) -> dict[str, Any]:
    rxnorm = "http://www.nlm.nih.gov/research/umls/rxnorm"
    return {
        "resourceType": "Medication",
        "id": mid,
        "code": {"coding": [{"system": rxnorm, "code": code, "display": name}]},
    }


def test_shared_medications_reach_the_patients_that_reference_them(tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    _write(source, "Patient.ndjson", [{"resourceType": "Patient", "id": p} for p in "ab"])
    _write(
        source,
        "Medication.ndjson",
        [_medication("m1", "36437", "sertraline"), _medication("m2", "39786", "venlafaxine")],
    )
    _write(
        source,
        "MedicationStatement.ndjson",
        [
            _statement("s1", "a", "m1", "2026-01-05"),
            _statement("s2", "b", "m2", "2026-02-01"),
            _statement("s3", "b", "m1", "2025-06-01"),
        ],
    )
    _write(source, "Practitioner.ndjson", [{"resourceType": "Practitioner", "id": "doc"}])
    report = bulk(source, tmp_path / "out", workers=1, as_of=None)
    got = {s["patient"]: s for s in summaries(tmp_path / "out")}
    assert [t["agent"] for t in got["Patient/a"]["trials"]] == ["sertraline"]
    assert sorted(t["agent"] for t in got["Patient/b"]["trials"]) == ["sertraline", "venlafaxine"]
    assert report.state["partition"]["shared"] == 2
    assert report.state["partition"]["ignored_without_patient"] == {"Practitioner": 1}
    # the as-of date: no manifest, so today; compare with the core's own grouping on that date
    as_of = report.state["params"]["as_of"]
    maps = load_mappings()
    resources = [
        json.loads(line)
        for p in sorted(source.glob("*.ndjson"))
        for line in p.read_text().splitlines()
    ]
    groups = group_by_patient(resources)
    for patient, items in groups.items():
        assert evaluate(items, as_of=as_of, mappings=maps).summary() == got[patient]


def test_gzip_input_gives_the_same_output(export: Path, tmp_path: Path) -> None:
    zipped = tmp_path / "gz"
    zipped.mkdir()
    for path in export.glob("*.ndjson"):
        (zipped / (path.name + ".gz")).write_bytes(gzip.compress(path.read_bytes()))
    shutil.copy(export / "manifest.json", zipped / "manifest.json")
    bulk(export, tmp_path / "plain", workers=1)
    bulk(zipped, tmp_path / "zipped", workers=1)
    assert outputs(tmp_path / "plain") == outputs(tmp_path / "zipped")


def test_bad_lines_are_reported_with_file_and_line_and_the_run_goes_on(tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    obs = {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
        "subject": {"reference": "Patient/a"},
        "effectiveDateTime": "2026-01-01",
        "valueInteger": 12,
    }
    _write(
        source,
        "Observation.ndjson",
        [obs, "", '{"resourceType": "Observation", "id": ', "[1, 2]", {"resourceType": "Nope"}],
    )
    two_patients = {
        "resourceType": "Condition",
        "id": "c1",
        "subject": {"reference": "Patient/b"},
        "patient": {"reference": "Patient/c"},
    }
    _write(
        source,
        "Patient.ndjson",
        [{"resourceType": "Patient", "id": "a"}, {"resourceType": "Bundle"}, two_patients],
    )
    report = bulk(source, tmp_path / "out", workers=1, as_of=None)
    errors = [json.loads(x) for x in (tmp_path / "out" / "errors.ndjson").read_text().splitlines()]
    bad = [(e["file"], e["line"]) for e in errors if e["kind"] == "bad-line"]
    assert bad == [
        ("Observation.ndjson", 3),
        ("Observation.ndjson", 4),
        ("Observation.ndjson", 5),
        ("Patient.ndjson", 2),
    ]
    assert "invalid JSON" in errors[0]["error"]
    invalid = [e for e in errors if e["kind"] == "invalid-patient"]
    assert len(invalid) == 1 and invalid[0]["patient"] == "Patient/b"
    assert (invalid[0]["file"], invalid[0]["line"]) == ("Patient.ndjson", 3)
    assert report.bad_lines == 4 and report.failed == 1
    assert [s["patient"] for s in summaries(tmp_path / "out")] == ["Patient/a"]
    assert "4 bad lines, 1 patient with unusable input" in report.state["stderr"]


def test_resume_after_an_interruption_gives_identical_output(
    export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bulk(export, tmp_path / "clean", workers=1, buckets=4)
    calls: list[int] = []
    real = worker_module.Worker.run

    def interrupted(self: worker_module.Worker, bucket: int) -> worker_module.BucketResult:
        calls.append(bucket)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, bucket)

    monkeypatch.setattr(worker_module.Worker, "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        bulk(export, tmp_path / "resumed", workers=1, buckets=4)
    state = json.loads((tmp_path / "resumed" / "bulk-state.json").read_text())
    assert sorted(state["done"]) == ["0", "1"] and state["status"] == "evaluating"
    monkeypatch.setattr(worker_module.Worker, "run", real)
    calls.clear()
    report = bulk(export, tmp_path / "resumed", workers=1, buckets=4)
    assert report.resumed_buckets == 2
    assert outputs(tmp_path / "clean") == outputs(tmp_path / "resumed")
    again = bulk(export, tmp_path / "resumed", workers=1, buckets=4)
    assert again.already_complete and again.patients == 40


def test_other_input_or_options_are_refused_unless_restarted(export: Path, tmp_path: Path) -> None:
    bulk(export, tmp_path, workers=1)
    with pytest.raises(InputError, match="--restart"):
        bulk(export, tmp_path, workers=1, as_of=__import__("datetime").date(2026, 1, 1))
    report = bulk(
        export, tmp_path, workers=1, restart=True, as_of=__import__("datetime").date(2026, 1, 1)
    )
    assert report.state["params"]["as_of"] == "2026-01-01"
    with pytest.raises(InputError, match="must not be the input"):
        bulk(export, export)


def test_cli(export: Path, tmp_path: Path) -> None:
    args = ["bulk", "--input", str(export), "--output", str(tmp_path), "--workers", "1", "--quiet"]
    assert main(args) == 0
    assert len(summaries(tmp_path)) == 40
    assert main(["bulk", "--input", str(tmp_path / "missing"), "--output", str(tmp_path)]) == 2
