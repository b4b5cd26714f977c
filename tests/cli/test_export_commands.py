"""`trd-fhir export`, `bulk --fhir-base` and `subscribe` on the command line: options that do not
go together, bad values and unreachable servers are one line on stderr and an exit code."""

from __future__ import annotations

from pathlib import Path

import pytest

from trdfhir.cli import main
from trdfhir.errors import EXIT_INPUT, EXIT_SERVER, EXIT_SETTINGS
from trdfhir.sandbox import free_port


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) <= 1, err  # one line at most, never a traceback
    return code, err[0] if err else ""


def test_bulk_needs_an_input_or_a_server(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, err = run(capsys, "bulk", "--output", str(tmp_path))
    assert code == EXIT_INPUT and "--input DIR" in err and "--fhir-base URL" in err


def test_bulk_write_needs_a_server(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, err = run(
        capsys, "bulk", "--input", str(tmp_path), "--output", str(tmp_path / "o"), "--write"
    )
    assert code == EXIT_INPUT and "--write needs --fhir-base" in err


def test_a_type_filter_must_name_a_type_trd_fhir_reads(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    base = f"http://127.0.0.1:{free_port()}/fhir"
    code, err = run(
        capsys,
        "export",
        "--fhir-base",
        base,
        "--output",
        str(tmp_path),
        "--type-filter",
        "Encounter?x=1",
    )
    assert code == EXIT_SETTINGS and "--type-filter" in err


def test_an_unreachable_server_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    base = f"http://127.0.0.1:{free_port()}/fhir"
    code, err = run(
        capsys, "export", "--fhir-base", base, "--output", str(tmp_path), "--timeout", "2"
    )
    assert code == EXIT_SERVER and "cannot reach the FHIR server" in err


def test_subscribe_needs_a_long_enough_secret(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRDFHIR_SUBSCRIPTION_SECRET", "short")
    code, err = run(
        capsys, "subscribe", "--fhir-base", "http://127.0.0.1:9/fhir", "--endpoint", "https://x/n"
    )
    assert code == EXIT_SETTINGS and "TRDFHIR_SUBSCRIPTION_SECRET" in err and "short" not in err


def test_subscribe_refuses_a_plain_http_endpoint_elsewhere(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRDFHIR_SUBSCRIPTION_SECRET", "s" * 20)
    code, err = run(
        capsys,
        "subscribe",
        "--fhir-base",
        "http://127.0.0.1:9/fhir",
        "--endpoint",
        "http://trd.example.org/subscriptions/notify",
    )
    assert code == EXIT_SETTINGS and "https" in err


def test_a_fhir_base_that_is_not_a_url_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, err = run(capsys, "export", "--fhir-base", "http://[::1", "--output", str(tmp_path))
    assert code == EXIT_SERVER and "the FHIR base is not a URL" in err


def test_a_spark_master_spark_would_refuse_is_refused_before_spark_starts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["bulk", "--engine", "spark", "--master", "bogus://x", "--input", str(tmp_path)]
    code, err = run(capsys, *argv, "--output", str(tmp_path / "o"))
    assert code == EXIT_INPUT and "--master must be" in err and "bogus://x" in err


def test_fhir_base_with_the_spark_engine_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["bulk", "--engine", "spark", "--fhir-base", "http://127.0.0.1:9/fhir"]
    code, err = run(capsys, *argv, "--output", str(tmp_path))
    assert code == EXIT_INPUT and "runs with the local engine" in err
