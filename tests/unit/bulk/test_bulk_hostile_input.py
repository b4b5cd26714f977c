"""Hostile input for `trd-fhir bulk` and `trd-fhir validate` (issue 11, items 5 and 7): a line
nested a thousand levels deep or over the line-size limit is an error row and the run goes on;
`validate` on a deeply nested file exits 2 with one line; temporary files are never written
through a symlink planted in the output folder, and an output entry that is a symlink is refused."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from trdfhir.bulk import BulkOptions, BulkReport, run_bulk
from trdfhir.bulk.ndjson import HAVE_ORJSON
from trdfhir.cli import main
from trdfhir.errors import InputError
from trdfhir.limits import DEFAULT_MAX_LINE_BYTES

ORJSON_MAX_DEPTH = 1024  # orjson's own limit of nesting (its documentation)
PATIENT = {"resourceType": "Patient", "id": "a"}
PHQ9 = {
    "resourceType": "Observation",
    "id": "o1",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
    "subject": {"reference": "Patient/a"},
    "effectiveDateTime": "2026-01-01",
    "valueInteger": 12,
}


def _nested(levels: int) -> str:
    """An Observation of patient b whose `note` nests `levels` arrays."""
    head = '{"resourceType":"Observation","id":"deep","subject":{"reference":"Patient/b"},"note":'
    return head + "[" * levels + "]" * levels + "}"


def _export(directory: Path, *lines: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    body = [json.dumps(PATIENT), json.dumps(PHQ9), *lines]
    (directory / "Observation.ndjson").write_text("\n".join(body) + "\n", encoding="utf-8")
    return directory


def _bulk(source: Path, output: Path, **options: Any) -> BulkReport:
    opts = BulkOptions(
        input=source, output=output, workers=1, progress=False, stream=io.StringIO(), **options
    )
    return run_bulk(opts)


def _errors(output: Path) -> list[dict[str, Any]]:
    lines = (output / "errors.ndjson").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def _patients(output: Path) -> list[str]:
    lines = (output / "summaries.ndjson").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["patient"] for line in lines]


# -- item 5: deep nesting and huge lines -----------------------------------------------------------
@pytest.mark.parametrize("levels", [1_000, 5_000, 100_000])
def test_a_deeply_nested_line_is_an_error_row_and_the_run_goes_on(
    levels: int, tmp_path: Path
) -> None:
    source = _export(tmp_path / "in", _nested(levels))
    report = _bulk(source, tmp_path / "out")
    errors = _errors(tmp_path / "out")
    if HAVE_ORJSON and levels < ORJSON_MAX_DEPTH:
        # orjson reads up to 1,024 levels: the line is read, and its patient is refused by the
        # evaluation's depth limit (an error row for patient b; patient a is still staged)
        assert {e["kind"] for e in errors} == {"invalid-patient"}
        assert all(e["patient"] == "Patient/b" and "levels deep" in e["error"] for e in errors)
        assert report.bad_lines == 0
    else:
        (error,) = [e for e in errors if e.get("line") == 3]
        assert error["kind"] == "bad-line" and error["file"] == "Observation.ndjson"
        assert "nest" in error["error"]
        assert report.bad_lines == 1
    assert _patients(tmp_path / "out") == ["Patient/a"]
    assert report.internal == 0


def test_a_line_over_the_size_limit_is_an_error_row_without_being_parsed(tmp_path: Path) -> None:
    huge = json.dumps({**PHQ9, "id": "big", "note": [{"text": "x" * 5_000}]})
    not_json = "{" * 5_000  # never parsed: no JSON error, only the size
    source = _export(tmp_path / "in", huge, not_json, json.dumps({**PHQ9, "id": "after"}))
    report = _bulk(source, tmp_path / "out", max_line_bytes=1_000)
    errors = {e["line"]: e for e in _errors(tmp_path / "out") if e["kind"] == "bad-line"}
    assert sorted(errors) == [3, 4]
    assert errors[3]["error"] == (
        f"the line is {len(huge)} bytes, over the limit of 1000 bytes; not read"
    )
    assert "invalid JSON" not in errors[4]["error"]
    assert report.bad_lines == 2
    (summary,) = (tmp_path / "out" / "summaries.ndjson").read_text().splitlines()
    assert json.loads(summary)["patient"] == "Patient/a"


def test_the_line_size_limit_has_a_documented_default_and_a_cli_option(tmp_path: Path) -> None:
    assert DEFAULT_MAX_LINE_BYTES == 10_000_000
    assert len(json.dumps(PHQ9)) < 400
    source = _export(tmp_path / "in", json.dumps({**PHQ9, "id": "x" * 400}))
    args = ["bulk", "--input", str(source), "--output", str(tmp_path / "out"), "--quiet"]
    assert main([*args, "--workers", "1", "--max-line-bytes", "400"]) == 0
    assert [e["line"] for e in _errors(tmp_path / "out")] == [3]


@pytest.mark.parametrize("levels", [990, 5_000, 100_000])
def test_validate_on_deep_nesting_exits_2_with_one_line(
    levels: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"resourceType": "Patient", "x": ' + "[" * levels + "]" * levels + "}")
    code = main(["validate", str(path), "--no-profiles"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("trd-fhir: error:") and "levels deep" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_validate_names_the_deep_line_of_an_ndjson_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "deep.ndjson"
    path.write_text(json.dumps(PATIENT) + "\n" + _nested(5_000) + "\n")
    assert main(["validate", str(path), "--no-profiles"]) == 2
    assert "line 2" in capsys.readouterr().err


# -- item 7: symlinks in the output folder ---------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [
        "summaries.ndjson.tmp",
        "summaries.csv.tmp",
        "errors.ndjson.tmp",
        "bulk-state.json.tmp",
    ],
)
def test_a_planted_temporary_symlink_is_never_written_through(name: str, tmp_path: Path) -> None:
    source = _export(tmp_path / "in")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(victim, out / name)
    _bulk(source, out)
    assert victim.read_text() == "keep me\n"
    assert _patients(out) == ["Patient/a"]
    assert not (out / name).is_symlink()


@pytest.mark.parametrize(
    "name", ["summaries.ndjson", "errors.ndjson", "bulk-state.json", "fhir", ".bulk-work"]
)
def test_an_output_entry_that_is_a_symlink_is_refused(name: str, tmp_path: Path) -> None:
    source = _export(tmp_path / "in")
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "file").write_text("keep me\n")
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(victim if name in ("fhir", ".bulk-work") else victim / "file", out / name)
    with pytest.raises(InputError, match="symbolic link"):
        _bulk(source, out, fhir=True)
    assert (victim / "file").read_text() == "keep me\n"
    assert sorted(p.name for p in victim.iterdir()) == ["file"]


def test_the_cli_refuses_a_symlinked_output_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _export(tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(tmp_path / "elsewhere", out / "summaries.csv")
    args = ["bulk", "--input", str(source), "--output", str(out), "--quiet", "--workers", "1"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "symbolic link" in err and len(err.strip().splitlines()) == 1
