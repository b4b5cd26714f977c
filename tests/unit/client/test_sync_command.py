"""Pieces of `trd-fhir sync` that need no server: options, progress, credentials."""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any

import pytest
import requests

from trdfhir.auth import BackendServicesAuth, BearerToken, generate_signing_key, private_key_pem
from trdfhir.cli import build_parser, main
from trdfhir.commands.sync import (
    Progress,
    SyncResult,
    default_scope,
    make_auth,
    totals,
)
from trdfhir.errors import FhirServerError, SettingsError
from trdfhir.ingest.bundle import is_own_output

from .fakes import (
    BASE,
    FakeFhir,
    Seen,
    capability,
    outcome,
    resource_caps,
    searchset,
)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["sync", "--fhir-base", "https://fhir.test/fhir", *argv])


def test_progress_bar_on_a_terminal_and_lines_otherwise() -> None:
    tty = Terminal()
    bar = Progress(2, tty)
    bar.step(SyncResult(patient_id="a"))
    bar.step(SyncResult(patient_id="b", error=FhirServerError("boom")))
    assert tty.getvalue() == (
        "\r[###############---------------] 1/2 patients"
        "\r[##############################] 2/2 patients, 1 failed\n"
    )
    plain = io.StringIO()
    lines = Progress(2, plain)
    lines.step(SyncResult(patient_id="a"))
    lines.step(SyncResult(patient_id="b", error=FhirServerError("boom")))
    assert plain.getvalue() == "[1/2] Patient/a: evaluated\n[2/2] Patient/b: failed: boom\n"


def test_totals() -> None:
    results = [SyncResult(patient_id="a"), SyncResult(patient_id="b", error=FhirServerError("x"))]
    assert totals(results) == {"patients": 2, "evaluated": 0, "written": 0, "failures": 1}


def test_credentials_from_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    session = requests.Session()
    monkeypatch.delenv("TRDFHIR_TOKEN", raising=False)
    assert make_auth(_args("--all"), session, (5, 30)) is None
    assert isinstance(make_auth(_args("--all", "--token", "t"), session, (5, 30)), BearerToken)
    monkeypatch.setenv("TRDFHIR_TOKEN", "from-env")
    token = make_auth(_args("--all"), session, (5, 30))
    assert token is not None and token.authorization() == "Bearer from-env"
    key = tmp_path / "k.pem"
    key.write_bytes(private_key_pem(generate_signing_key("RS384")))
    backend = make_auth(
        _args("--all", "--backend-client-id", "c", "--backend-key", str(key), "--write"),
        session,
        (5, 30),
    )
    assert isinstance(backend, BackendServicesAuth)
    assert "system/CarePlan.crus" in backend.scope
    with pytest.raises(SettingsError, match="go together"):
        make_auth(_args("--all", "--backend-client-id", "c"), session, (5, 30))
    with pytest.raises(SettingsError, match="needs --backend-client-id"):
        make_auth(_args("--all", "--token-url", "https://a/token"), session, (5, 30))
    session.close()


def test_default_scopes() -> None:
    assert "system/MedicationRequest.rs" in default_scope(False).split()
    assert "system/Observation.crs" not in default_scope(False).split()
    assert "system/Observation.crs" in default_scope(True).split()


def test_own_outputs_are_recognised() -> None:
    ours = {
        "resourceType": "Observation",
        "identifier": [{"system": "http://trd-fhir.org/fhir/sid/assessment"}],
    }
    tagged = {
        "resourceType": "Provenance",
        "meta": {"tag": [{"system": "http://trd-fhir.org/fhir/sid/write"}]},
    }
    theirs = {"resourceType": "Observation", "identifier": [{"system": "urn:trd-fhir:vignette"}]}
    assert is_own_output(ours) and is_own_output(tagged) and not is_own_output(theirs)


def test_option_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sync", "--fhir-base", "https://fhir.test/fhir", "--all", "--dry-run"]) == 7
    assert capsys.readouterr().err == "trd-fhir: error: --dry-run goes with --write\n"
    assert main(["sync", "--fhir-base", "ftp://x", "--all"]) == 5
    assert "http(s) URL" in capsys.readouterr().err


def test_nothing_is_written_for_a_patient_who_has_died(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import date

    from tests import real_shapes as rs
    from trdfhir.commands import sync
    from trdfhir.mappings import load_mappings

    data = rs.transaction(rs.mdd_condition("2025-01-10"), ids=True)
    data["entry"][0]["resource"] = rs.synthea_patient("2025-09-30")

    class Fetched:
        def bundle(self, base: str) -> dict:
            return data

    class Client:
        base = "https://fhir.test/fhir"

    def no_emit(*_a: object, **_k: object) -> dict:
        raise AssertionError("a write-back Bundle was made")

    monkeypatch.setattr(sync, "fetch_patient", lambda *a, **k: Fetched())
    maps = load_mappings()
    result = sync.sync_patient(
        Client(),  # type: ignore[arg-type]
        rs.PID,
        as_of=date(2026, 6, 1),
        settings=maps.settings,
        mappings=maps,
        write=True,
        emitter=no_emit,
    )
    assert result.assessment is not None and result.assessment.deceased
    assert (result.bundle, result.written) == (None, 0)


def _not_found_server(everything: bool) -> FakeFhir:
    """A server holding no patient p9: $everything (when offered) answers an empty searchset,
    a read of Patient/p9 answers 404 (the shapes HAPI and the sandbox give)."""
    caps = capability(
        resources=[resource_caps("Patient", operations=("everything",) if everything else ())]
    )

    def handler(seen: Seen) -> tuple[int, Any, dict[str, str]]:
        if seen.path == "metadata":
            return 200, caps, {}
        if seen.path.endswith("$everything"):
            return 200, searchset([]), {}
        if seen.path == "Patient/p9":
            return 404, outcome("not-found", "Resource Patient/p9 is not known"), {}
        return 200, searchset([]), {}

    return FakeFhir(handler)


@pytest.mark.parametrize("everything", [True, False], ids=["$everything", "searches"])
def test_sync_names_a_patient_that_is_not_on_the_server(
    everything: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = _not_found_server(everything)
    real_session = requests.Session

    def session() -> requests.Session:
        s = real_session()
        s.mount("https://fhir.test/", fake)
        return s

    monkeypatch.setattr("trdfhir.commands.sync.requests.Session", session)
    monkeypatch.delenv("TRDFHIR_TOKEN", raising=False)
    code = main(["sync", "--fhir-base", BASE, "--patient", "p9", "--as-of", "2026-11-01"])
    out, err = capsys.readouterr()
    assert code == 5 and out == ""
    # only the lines trd-fhir writes (a log handler another test left on stderr may add its own)
    said = [line for line in err.splitlines() if line.startswith("trd-fhir: error")]
    assert said == [f"trd-fhir: error: Patient/p9 is not on the server {BASE}"]
