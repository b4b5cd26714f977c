"""The $export client against a stub Bulk Data server of ours (bulk_stub.py), for the paths the
sandbox server cannot take on demand: gzip-encoded files, `requiresAccessToken: true`, a token
that expires between two downloads, the Patient-level `patient` parameter, 429 with Retry-After
while polling, a file that vanished, Ctrl-C, and a run killed in the middle of the downloads."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trdfhir.auth import BackendServicesAuth, BearerToken, generate_signing_key, public_jwks
from trdfhir.cli import main
from trdfhir.client import FhirClient
from trdfhir.client.bulk_export import ExportError, ExportRequest, load_state, run_export
from trdfhir.errors import EXIT_AUTH, EXIT_SERVER, AuthError

from .bulk_stub import BulkStub, ndjson
from .servers import TokenServer

pytestmark = pytest.mark.integration

PATIENTS = [
    {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1970-02-03"},
    {"resourceType": "Patient", "id": "p2", "gender": "male", "birthDate": "1981-07-09"},
]
PHQ9 = {
    "resourceType": "Observation",
    "id": "o1",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
    "subject": {"reference": "Patient/p1"},
    "effectiveDateTime": "2026-10-01",
    "valueQuantity": {"value": 19},
}
ORDER = {
    "resourceType": "MedicationRequest",
    "id": "mr1",
    "status": "active",
    "intent": "order",
    "subject": {"reference": "Patient/p1"},
    "medicationReference": {"reference": "Medication/m1"},
    "authoredOn": "2026-09-01",
}
SERTRALINE = {
    "resourceType": "Medication",
    "id": "m1",
    "code": {
        "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "36437"}]
    },
}
ERRORS = ndjson(
    [
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "processing", "diagnostics": "3 unreadable"}],
        }
    ]
)


def _stub(**kw: Any) -> BulkStub:
    files = {
        "p.ndjson": ("Patient", ndjson(PATIENTS)),
        "o.ndjson": ("Observation", ndjson([PHQ9])),
        "mr.ndjson": ("MedicationRequest", ndjson([ORDER])),
    }
    return BulkStub(files=files, medications={"m1": SERTRALINE}, **kw)


@pytest.fixture
def stub() -> Iterator[BulkStub]:
    s = _stub()
    try:
        yield s
    finally:
        s.close()


class Waits:
    """An injected sleep: records each wait and sleeps a little (the stub needs no more)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(min(seconds, 0.02))


def _lines(path: Path) -> list[dict[str, Any]]:
    opener: Any = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def test_a_full_export_downloads_reports_and_supplements(stub: BulkStub, tmp_path: Path) -> None:
    stub.errors = {"err.ndjson": ERRORS}
    waits = Waits()
    with FhirClient(stub.base, sleep=waits) as client:
        result = run_export(client, ExportRequest(), tmp_path, sleep=waits)
    kickoff = next(s for s in stub.seen if s.path == "Patient/$export")
    assert kickoff.headers["Prefer"] == "respond-async"
    assert kickoff.query["_type"][0].split(",")[:2] == ["Patient", "Medication"]
    assert {f.type: f.count for f in result.files} == {
        "Patient": 2,
        "Observation": 1,
        "MedicationRequest": 1,
        "Medication": 1,  # m1 is referenced but not exported: read by _id
    }
    assert _lines(tmp_path / "Medication.referenced.ndjson") == [SERTRALINE]
    assert result.error_messages == ("processing: 3 unreadable",)
    assert (tmp_path / "errors" / "OperationOutcome.ndjson").exists()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["transactionTime"] == stub.transaction_time
    assert {o["url"] for o in manifest["output"]} == {
        "Patient.ndjson",
        "Observation.ndjson",
        "MedicationRequest.ndjson",
        "Medication.referenced.ndjson",
    }
    assert manifest["error"] == [
        {"type": "OperationOutcome", "url": "errors/OperationOutcome.ndjson", "count": 1}
    ]
    # requiresAccessToken is false: the files are fetched without credentials
    assert stub.deleted == 1  # the job released when done


def test_gzip_is_kept_compressed_and_the_token_goes_with_the_files_when_required(
    tmp_path: Path,
) -> None:
    """The sandbox never serves gzip nor requires a token for its files."""
    stub = _stub(gzip=True, requires_token=True, token_ok=lambda t: t == "secret-1")
    try:
        with FhirClient(stub.base, auth=BearerToken("secret-1")) as client:
            result = run_export(client, ExportRequest(), tmp_path, sleep=Waits())
    finally:
        stub.close()
    assert sorted(f.name for f in result.files if f.type != "Medication") == [
        "MedicationRequest.ndjson.gz",
        "Observation.ndjson.gz",
        "Patient.ndjson.gz",
    ]
    assert _lines(tmp_path / "Patient.ndjson.gz") == PATIENTS
    assert next(f for f in result.files if f.type == "Patient").count == 2
    files = [s for s in stub.seen if s.path.startswith("files/")]
    assert files and all(s.headers.get("Authorization") == "Bearer secret-1" for s in files)


def test_polling_honours_retry_after_and_waits_out_429(tmp_path: Path) -> None:
    """The sandbox cannot answer 429 on demand; the stub does, twice, before 202s and the
    manifest."""
    stub = _stub(polls=2, retry_after="3", status_script=[(429, {"Retry-After": "7"})] * 2)
    waits = Waits()
    try:
        with FhirClient(stub.base, sleep=waits) as client:
            result = run_export(client, ExportRequest(), tmp_path, sleep=waits)
    finally:
        stub.close()
    assert result.resources == 5
    assert waits.waits[:2] == [7.0, 7.0]  # the client's retries, as the server asked
    assert waits.waits[2:4] == [3.0, 3.0]  # the 202s' Retry-After
    assert stub.count("GET", "status/1") == 5


def test_the_token_expires_between_two_downloads_and_is_renewed(tmp_path: Path) -> None:
    """Backend services: the server stops taking the first token after the first file (as an
    expired token); the client renews it once and goes on. Nothing lost, nothing twice."""
    key = generate_signing_key("RS384")
    tokens = TokenServer("bulk-client", public_jwks([key]))
    files_seen: list[str] = []

    def token_ok(token: str) -> bool:
        if token == "token-1" and len(files_seen) >= 1:  # noqa: S105 - a test token
            return False  # expired
        return tokens.accept(token)

    stub = _stub(requires_token=True, token_ok=token_ok)
    try:
        auth = BackendServicesAuth(
            client_id="bulk-client", key=key, scope="system/*.rs", token_url=tokens.url
        )
        waits = Waits()
        with FhirClient(stub.base, auth=auth, sleep=waits) as client:
            original = client.request

            def request(method: str, url: str, **kw: Any) -> Any:
                response = original(method, url, **kw)
                if "/files/" in url:
                    files_seen.append(url)
                return response

            client.request = request  # type: ignore[method-assign]
            result = run_export(client, ExportRequest(), tmp_path, sleep=waits)
    finally:
        stub.close()
        tokens.close()
    assert len(tokens.requests) == 2
    assert {f.type: f.count for f in result.files}["Patient"] == 2
    downloads = [s.path for s in stub.seen if s.path.startswith("files/")]
    assert sorted(set(downloads)) == ["files/mr.ndjson", "files/o.ndjson", "files/p.ndjson"]
    assert len(downloads) == 4  # the file refused once, fetched again with the new token


def test_a_fixed_token_refused_mid_download_is_one_line_and_exit_6(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    count = {"files": 0}

    def token_ok(token: str) -> bool:
        return token == "fixed-token" and count["files"] < 1  # noqa: S105 - a test token

    stub = _stub(requires_token=True, token_ok=token_ok)
    original = stub._handle

    def handle(h: Any) -> None:
        original(h)
        if "/files/" in h.path:
            count["files"] += 1

    stub._handle = handle  # type: ignore[method-assign]
    try:
        code = main(
            [
                "export",
                "--fhir-base",
                stub.base,
                "--output",
                str(tmp_path),
                "--token",
                "fixed-token",
                "--quiet",
            ]
        )
    finally:
        stub.close()
    err = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_AUTH
    assert len(err) == 1 and err[0].startswith("trd-fhir: error: download of the ")
    assert "refused the credentials" in err[0]
    assert "fixed-token" not in err[0]


def test_patients_are_named_in_a_post_of_parameters(stub: BulkStub, tmp_path: Path) -> None:
    """The sandbox ignores the `patient` parameter; the stub records what was sent."""
    with FhirClient(stub.base) as client:
        run_export(client, ExportRequest(patients=("p1", "Patient/p2")), tmp_path, sleep=Waits())
    kickoff = next(s for s in stub.seen if s.path == "Patient/$export")
    assert kickoff.method == "POST"
    assert "handling=strict" in kickoff.headers["Prefer"]
    body = json.loads(kickoff.body)
    refs = [p["valueReference"]["reference"] for p in body["parameter"] if p["name"] == "patient"]
    assert refs == ["Patient/p1", "Patient/p2"]


def test_a_vanished_file_is_one_line_and_the_rerun_fetches_only_what_is_missing(
    stub: BulkStub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stub.vanished = {"o.ndjson"}
    args = ["export", "--fhir-base", stub.base, "--output", str(tmp_path), "--quiet"]
    assert main(args) == EXIT_SERVER
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the file is gone (HTTP 404)" in err[0]
    state = load_state(tmp_path)
    assert state is not None and len(state["files"]) == 1  # p.ndjson was kept
    stub.vanished = set()
    assert main(args) == 0
    downloads = [s.path for s in stub.seen if s.path.startswith("files/")]
    assert downloads.count("files/p.ndjson") == 1
    assert downloads.count("files/o.ndjson") == 2
    assert stub.count("GET", "Patient/$export") == 1  # the same job, not a new export


def test_ctrl_c_while_polling_deletes_the_job(stub: BulkStub, tmp_path: Path) -> None:
    stub.polls = 5

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    with FhirClient(stub.base) as client, pytest.raises(KeyboardInterrupt):
        run_export(client, ExportRequest(), tmp_path, sleep=interrupt)
    assert stub.deleted == 1
    state = load_state(tmp_path)
    assert state is not None and state["status_url"] is None  # the next run starts a new one


class Killed(BaseException):
    pass


def test_a_run_killed_during_the_downloads_resumes_without_fetching_twice(
    stub: BulkStub, tmp_path: Path
) -> None:
    with FhirClient(stub.base) as client:
        original = client.session.get
        calls = {"n": 0}

        def dying_get(url: str, **kw: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == 2:
                raise Killed  # as if the process died in the middle of the second file
            return original(url, **kw)

        client.session.get = dying_get  # type: ignore[method-assign]
        with pytest.raises(Killed):
            run_export(client, ExportRequest(), tmp_path, sleep=Waits())
        client.session.get = original  # type: ignore[method-assign]
        result = run_export(client, ExportRequest(), tmp_path, sleep=Waits())
    assert result.resumed
    assert result.resources == 5
    downloads = [s.path for s in stub.seen if s.path.startswith("files/")]
    assert sorted(downloads) == ["files/mr.ndjson", "files/o.ndjson", "files/p.ndjson"]
    assert stub.count("GET", "Patient/$export") == 1
    assert not list(tmp_path.glob("*.part"))


def test_a_server_without_group_export_is_one_line(tmp_path: Path) -> None:
    stub = _stub(levels={"Patient/$export"})
    try:
        with FhirClient(stub.base) as client, pytest.raises(ExportError) as caught:
            run_export(client, ExportRequest(level="group", group="g1"), tmp_path, sleep=Waits())
    finally:
        stub.close()
    assert caught.value.one_line().endswith("the server does not offer Group/g1/$export")
    assert caught.value.exit_code == EXIT_SERVER
    assert not isinstance(caught.value, AuthError)


def test_bulk_killed_after_its_export_does_not_export_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A `bulk --fhir-base` run that died after its export finished but before it recorded so
    (here: its state put back to the export phase) stages what it has, gzip files included."""
    stub = _stub(gzip=True)
    try:
        args = [
            "bulk",
            "--fhir-base",
            stub.base,
            "--output",
            str(tmp_path),
            "--as-of",
            "2026-11-21",
            "--workers",
            "1",
            "--quiet",
        ]
        assert main(args) == 0
        state_file = tmp_path / "remote-state.json"
        state = json.loads(state_file.read_text())
        state["phase"] = "export"
        state_file.write_text(json.dumps(state))
        (tmp_path / "bulk-state.json").unlink()
        assert main(args) == 0
    finally:
        stub.close()
    capsys.readouterr()
    assert stub.count("GET", "Patient/$export") == 1
    rows = [json.loads(line) for line in (tmp_path / "summaries.ndjson").read_text().splitlines()]
    assert [r["patient"] for r in rows] == ["Patient/p1", "Patient/p2"]
    assert json.loads((tmp_path / "remote-state.json").read_text())["phase"] == "done"
