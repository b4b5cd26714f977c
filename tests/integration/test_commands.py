"""`trd-fhir sync` and `trd-fhir sandbox` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trdfhir.cli import main
from trdfhir.client import FhirClient
from trdfhir.sandbox import Example, default_paths, free_port, running

from .conftest import ROOT, load_clone

pytestmark = pytest.mark.integration


def test_sync_all_prints_every_patient_and_a_summary(
    loaded: str, examples: list[Example], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["sync", "--fhir-base", loaded, "--all", "--as-of", "2026-10-01", "--format", "json"]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    document = json.loads(out)
    patients = {row["patient"] for row in document["patients"]}
    assert {f"Patient/{e.patient_id}" for e in examples} <= patients
    assert document["summary"]["failures"] == 0
    assert document["summary"]["evaluated"] == len(document["patients"])
    lines = err.splitlines()  # stderr is not a terminal here: one line per patient
    assert len(lines) == len(document["patients"])
    assert lines[0].startswith(f"[1/{len(lines)}] Patient/")


def test_dry_run_writes_nothing_then_write_then_nothing_new(
    loaded: str, examples: list[Example], capsys: pytest.CaptureFixture[str]
) -> None:
    patient = load_clone(loaded, examples[1], "cli-dry-run")
    args = [
        "sync",
        "--fhir-base",
        loaded,
        "--patient",
        patient.patient_id,
        "--as-of",
        patient.as_of.isoformat(),
        "--write",
    ]
    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Dry run: would create" in out and "Observation x" in out
    with FhirClient(loaded) as client:
        assert not client.search("CarePlan", {"patient": patient.patient_id})
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Write-back (transaction): created" in out
    assert "sync: 1 patients, 1 evaluated" in out
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "nothing written" in out and "0 resources written" in out


def test_unknown_patient_is_one_line(loaded: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sync", "--fhir-base", loaded, "--patient", "no-such-patient"])
    out, err = capsys.readouterr()
    assert code == 5
    assert out == ""
    assert err.count("\n") == 1
    assert "Patient/no-such-patient is not on the server" in err


def test_sandbox_command_starts_reloads_and_stops(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = str(free_port())
    state = tmp_path / "state"
    args = ["sandbox", "--state-dir", str(state), "--port", port]
    try:
        assert main(args) == 0
        out, err = capsys.readouterr()
        base = out.strip()
        assert base == f"http://127.0.0.1:{port}/fhir"
        assert "loaded" in err and "example patients" in err
        paths = default_paths(ROOT, state=state)
        assert running(paths) == base
        settings = json.loads(paths.settings.read_text())
        assert settings["host"] == "127.0.0.1"
        assert settings["simulator"] == {"enabled": False} and settings["log_inbound"] is False
        assert paths.database.is_file()  # a file, so the demo data survive restarts
        with FhirClient(base) as client:
            assert client.read("Patient", "vignette-01")["id"] == "vignette-01"
        assert main(args) == 0  # already up: reload and print the URL again
        out, err = capsys.readouterr()
        assert out.strip() == base and "started" not in err
    finally:
        assert main([*args, "--stop"]) == 0
    assert "sandbox stopped" in capsys.readouterr().err
    assert running(default_paths(ROOT, state=state)) is None
    assert main([*args, "--stop"]) == 0
    assert "not running" in capsys.readouterr().err
