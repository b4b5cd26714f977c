"""`trd-fhir bulk --engine spark` on local[2]: the local engine's bytes, plus a typed parquet
table, on an export with bad lines and shared Medications."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from trdfhir.bulk import BulkOptions, BulkReport
from trdfhir.bulk.spark import parquet_columns, reference_target_sql, run_spark
from trdfhir.cli import main
from trdfhir.errors import InputError
from trdfhir.fhir.values import reference_target

from .conftest import NOW, outputs

pytestmark = pytest.mark.spark


def spark_run(spark: Any, source: Path, output: Path, **options: Any) -> BulkReport:
    stream = io.StringIO()
    opts = BulkOptions(input=source, output=output, progress=False, stream=stream, **options)
    report = run_spark(opts)
    report.state["stderr"] = stream.getvalue()
    return report


@pytest.fixture(scope="module")
def spark_outputs(spark: Any, export: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("spark-out")
    report = spark_run(spark, export, output, fhir=True, now=NOW, buckets=3)
    assert report.state["engine"] == "spark"
    return output


def test_outputs_are_the_local_engines_byte_for_byte(
    spark_outputs: Path, local_outputs: Path
) -> None:
    local, ours = outputs(local_outputs), outputs(spark_outputs)
    assert sorted(ours) == sorted(local)
    assert {"summaries.ndjson", "summaries.csv", "errors.ndjson", "reading.json"} <= set(ours)
    assert "fhir/Device.ndjson" in ours
    for name in local:
        assert ours[name] == local[name], name


def test_the_export_exercises_bad_lines_reroutes_and_shared_medications(
    spark_outputs: Path,
) -> None:
    errors = [json.loads(x) for x in (spark_outputs / "errors.ndjson").read_text().splitlines()]
    bad = [(e["file"], e["line"]) for e in errors if e["kind"] == "bad-line"]
    # line 2 and 8 are blank; 3 broken JSON, 4 a list, 5 an unknown type, 6 a Bundle,
    # 7 a Patient without an id
    assert bad == [("Extra.ndjson", n) for n in (3, 4, 5, 6, 7)]
    assert [e["patient"] for e in errors if e["kind"] == "invalid-patient"] == ["Patient/conflict"]
    summaries = {
        s["patient"]: s
        for s in map(json.loads, (spark_outputs / "summaries.ndjson").read_text().splitlines())
    }
    cited = {r for s in summaries.values() for t in s["trials"] for r in t["resources"]}
    # resources reached their patients through SQL (absolute, `patient`) and Python (Group)
    trials = [t for t in summaries["Patient/synth-000004"]["trials"] if t["agent"] == "venlafaxine"]
    assert trials, "the later definition of med-extra (venlafaxine) reached the statement"
    assert "MedicationStatement/s-extra2" in cited
    assert "Patient/x" in summaries


def test_state_counts_the_run_as_the_local_engine(spark_outputs: Path, local_outputs: Path) -> None:
    state = json.loads((spark_outputs / "bulk-state.json").read_text())
    local = json.loads((local_outputs / "bulk-state.json").read_text())
    assert state["partition"]["bad_lines"] == 5
    assert state["partition"]["ignored_without_patient"] == {"Practitioner": 1}
    for key in ("lines", "resources", "shared", "by_type", "ignored_without_patient"):
        assert state["partition"][key] == local["partition"][key], key
    done = local["done"].values()
    for key in ("patients", "resources", "failed", "internal"):
        assert state["totals"][key] == sum(d[key] for d in done), key


def test_parquet_has_typed_headline_columns_and_the_summary(spark_outputs: Path) -> None:
    import pyarrow.parquet as pq

    table = pq.read_table(spark_outputs / "summaries.parquet")
    assert table.column_names == [name for name, _ in parquet_columns()]
    types = {f.name: str(f.type) for f in table.schema}
    assert types["as_of"] == "date32[day]" and types["regulatory"] == "bool"
    assert types["mgh"] == "double" and types["maudsley"] == "int32"
    rows = table.to_pylist()
    lines = (spark_outputs / "summaries.ndjson").read_text(encoding="utf-8").splitlines()
    assert [r["summary"] for r in rows] == lines
    table_rows = list(csv.DictReader(io.StringIO((spark_outputs / "summaries.csv").read_text())))
    assert len(rows) == len(table_rows) > 20

    def cell(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    for row, expected in zip(rows, table_rows, strict=True):
        assert {k: cell(row[k]) for k in expected} == expected


REFERENCES = [
    "Patient/1",
    "http://x/fhir/Patient/1/_history/2",
    "Patient/1/",
    "//Patient//1",
    "urn:uuid:0b7e",
    "#contained",
    "Patient",
    "",
    "a/b/c/d",
    "Medication/m-1/_history/",
    None,
]


def test_sql_reference_target_is_the_python_one(spark: Any) -> None:
    from pyspark.sql import functions as F

    frame = spark.createDataFrame([(i, r) for i, r in enumerate(REFERENCES)], "i int, ref string")
    got = frame.select("i", reference_target_sql(F.col("ref")).alias("t")).orderBy("i").collect()
    assert [row["t"] for row in got] == [reference_target({"reference": r}) for r in REFERENCES]


def test_cli_and_an_unchanged_rerun(spark: Any, export: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    args = ["bulk", "--engine", "spark", "--input", str(export), "--output", str(out)]
    assert main([*args, "--quiet"]) == 0
    assert (out / "summaries.parquet").exists()
    assert main([*args, "--quiet"]) == 0  # already complete: nothing runs again
    state = json.loads((out / "bulk-state.json").read_text())
    assert state["engine"] == "spark" and state["status"] == "complete"


def test_master_without_spark_is_refused(export: Path, tmp_path: Path) -> None:
    args = ["bulk", "--input", str(export), "--output", str(tmp_path), "--master", "local[2]"]
    assert main(args) != 0


def test_other_options_in_the_same_output_are_refused(
    spark: Any, export: Path, spark_outputs: Path, tmp_path: Path
) -> None:
    with pytest.raises(InputError, match="other input or options"):
        spark_run(spark, export, spark_outputs, fhir=False)


def test_a_missing_input_is_refused_before_spark_starts(tmp_path: Path) -> None:
    args = ["bulk", "--engine", "spark", "--input", str(tmp_path / "nowhere")]
    assert main([*args, "--output", str(tmp_path / "out")]) == 2
