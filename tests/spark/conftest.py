"""The Spark engine's tests: one SparkSession (local[2]) for the whole session, a synthetic
export with bad lines, unusual references and shared Medications, and the local engine's
outputs on it to compare with, byte for byte."""

from __future__ import annotations

import gzip
import io
import json
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from trdfhir.bulk import BulkOptions, BulkReport, run_bulk, write_population

try:
    import pyspark  # noqa: F401

    HAVE_PYSPARK = True
except ModuleNotFoundError:  # a checkout without the spark extra: skipped, and said so
    HAVE_PYSPARK = False

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if HAVE_PYSPARK:
        return
    skip = pytest.mark.skip(reason="needs the spark extra and Java (make spark; make test does)")
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(skip)


NOW = datetime(2026, 10, 1, tzinfo=UTC)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("trd-fhir tests")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _line(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _condition(rid: str, **refs: Any) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": rid,
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "35489007"}]},
        "onsetDateTime": "2025-01-10",
        **refs,
    }


def _statement(rid: str, patient: str, reference: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationStatement",
        "id": rid,
        "status": "completed",
        "medicationReference": {"reference": reference},
        "subject": {"reference": f"Patient/{patient}"},
        "effectivePeriod": {"start": "2025-02-01", "end": "2025-06-30"},
        "dosage": [{"text": "100 mg by mouth once daily"}],
    }


def write_export(directory: Path, patients: int = 24, seed: int = 11) -> Path:
    """A synthetic population plus what real exports hold besides: bad lines, blank lines, a
    byte order mark, CRLF line ends, a gzip file, references in other shapes (absolute, with
    _history, `patient` instead of `subject`), a Medication defined twice (the last counts), a
    Practitioner, and a patient whose input the evaluation refuses (two patients in one
    resource)."""
    write_population(directory, patients=patients, seed=seed)
    med = {
        "resourceType": "Medication",
        "id": "med-extra",
        "code": {"coding": [{"system": RXNORM, "code": "36437", "display": "sertraline"}]},
    }
    med_later = {**med, "code": {"coding": [{"system": RXNORM, "code": "39786"}]}}
    lines = [
        "\ufeff" + json.dumps({"resourceType": "Practitioner", "id": "doc"}),
        "",
        '{"resourceType": "Observation", "id": ',
        "[1, 2]",
        {"resourceType": "Nope", "subject": {"reference": "Patient/synth-000001"}},
        {"resourceType": "Bundle", "type": "collection"},
        {"resourceType": "Patient"},
        "   ",
        med,
        _condition(
            "c-abs",
            subject={"reference": "http://example.org/fhir/Patient/synth-000001/_history/2"},
        ),
        _condition(
            "c-group",
            subject={"reference": "Group/g1"},
            patient={"reference": "Patient/synth-000002"},
        ),
        _condition("c-pat", patient={"reference": "Patient/synth-000003"}),
        _statement("s-extra", "synth-000004", "https://example.org/fhir/Medication/med-extra"),
        _statement("s-extra2", "synth-000005", "Medication/med-extra"),
        med_later,
        {"resourceType": "Patient", "id": "conflict"},
        _condition(
            "c-two",
            subject={"reference": "Patient/conflict"},
            patient={"reference": "Patient/other"},
        ),
        {"resourceType": "Observation", "id": "o-x", "subject": {"reference": "Patient/x/"}},
    ]
    text = "\r\n".join(_line(x) for x in lines) + "\r\n"
    (directory / "Extra.ndjson").write_text(text, encoding="utf-8")
    # one file gzipped, as exports often are
    plain = directory / "Procedure.ndjson"
    (directory / "Procedure.ndjson.gz").write_bytes(gzip.compress(plain.read_bytes()))
    plain.unlink()
    return directory


@pytest.fixture(scope="session")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_export(tmp_path_factory.mktemp("spark-export"))


def run_local(source: Path, output: Path, **options: Any) -> BulkReport:
    opts = BulkOptions(
        input=source, output=output, workers=1, progress=False, stream=io.StringIO(), **options
    )
    return run_bulk(opts)


@pytest.fixture(scope="session")
def local_outputs(export: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The local engine's outputs on the export, with --fhir."""
    output = tmp_path_factory.mktemp("local-out")
    report = run_local(export, output, fhir=True, now=NOW)
    assert report.bad_lines and report.failed  # the export exercises both
    return output


def outputs(directory: Path) -> dict[str, bytes]:
    """Every output file but the run's state and the Spark engine's parquet table."""
    skip = {"bulk-state.json", "summaries.parquet"}
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name not in skip
    }
