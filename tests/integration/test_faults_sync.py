"""Faults against the real sandbox server, for `sync` over many patients (test_faults.py has the
single-patient ones): the server stopped in the middle of `sync --all` and restarted, then the
run resumed (`--resume`); a 429 storm (bounded retries honouring Retry-After, then a clear error
and a stop, then a resume); transactions rejected or answered inconsistently (never a success,
nothing recorded as done); retries of writes that add nothing twice (conditional creates)."""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trdfhir.cli import main
from trdfhir.client import FhirClient
from trdfhir.commands import sync as sync_module
from trdfhir.errors import EXIT_OK, EXIT_SERVER, EXIT_SETTINGS
from trdfhir.sandbox import (
    Example,
    Server,
    default_paths,
    ensure_installed,
    free_port,
    start_server,
    stop_process,
)

from .conftest import ROOT, load_clone
from .servers import FaultProxy, Request

pytestmark = pytest.mark.integration

AS_OF = "2026-12-01"
ASSESSMENT_SYSTEM = "http://trd-fhir.org/fhir/sid/assessment"


def everything(r: Request) -> bool:
    return r.method == "GET" and r.path.endswith("$everything")


def is_transaction(r: Request) -> bool:
    return r.method == "POST" and r.path == "" and (r.json() or {}).get("type") == "transaction"


def own_observations(base: str, pid: str) -> list[dict[str, Any]]:
    with FhirClient(base) as client:
        return [
            o
            for o in client.search("Observation", {"patient": pid, "_count": "500"})
            if any(i.get("system") == ASSESSMENT_SYSTEM for i in o.get("identifier", []))
        ]


def no_duplicates(base: str, pid: str) -> int:
    """The number of trd-fhir Observations of the patient, each business id exactly once."""
    observations = own_observations(base, pid)
    ids = Counter(
        i["value"]
        for o in observations
        for i in o.get("identifier", [])
        if i.get("system") == ASSESSMENT_SYSTEM
    )
    assert all(n == 1 for n in ids.values()), ids
    return len(observations)


def sync(base: str, *args: str) -> list[str]:
    return ["sync", "--fhir-base", base, "--as-of", AS_OF, "--format", "json", *args]


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, dict[str, Any], str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else {}), err


def done_in(state: Path) -> list[str]:
    lines = state.read_text().splitlines()
    assert json.loads(lines[0])["trd-fhir-sync"] == 1
    return [json.loads(line)["done"] for line in lines[1:]]


def done_in_tolerant(state: Path) -> list[str]:
    out = []
    for line in state.read_text().splitlines()[1:]:
        try:
            out.append(json.loads(line)["done"])
        except ValueError:
            continue
    return out


# -- the server stopped in the middle of `sync --all` ------------------------------------------
class OwnServer:
    """A sandbox server of this test alone (a file database, so it can be stopped and started
    again on the same port with the same data)."""

    def __init__(self, folder: Path) -> None:
        self.paths = default_paths(ROOT, state=folder)
        self.executable = ensure_installed(self.paths)
        self.port = free_port()
        self.database = folder / "fhir.sqlite"
        self.server: Server | None = None

    def start(self) -> str:
        self.server = start_server(
            self.executable,
            state=self.paths.state,
            port=self.port,
            database=str(self.database),
            settings_path=self.paths.state / "settings.yaml",
            log_path=self.paths.state / "sekmet.log",
        )
        return self.server.base_url

    def stop(self) -> None:
        if self.server is not None:
            stop_process(self.server.process)
            self.server = None


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[OwnServer]:
    server = OwnServer(tmp_path / "sekmet")
    try:
        yield server
    finally:
        server.stop()


def test_server_stopped_mid_sync_all_then_the_run_resumes(
    own_server: OwnServer,
    examples: list[Example],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = own_server.start()
    ids = [load_clone(base, examples[i], f"stop-{i}").patient_id for i in range(5)]
    state = tmp_path / "sync-state.jsonl"
    real = sync_module.sync_patient
    finished: list[str] = []

    def then_stop(client: FhirClient, patient_id: str, **kwargs: Any) -> Any:
        result = real(client, patient_id, **kwargs)
        finished.append(patient_id)
        if len(finished) == 2:
            own_server.stop()  # the server goes down after the second patient's write
        return result

    monkeypatch.setattr(sync_module, "sync_patient", then_stop)
    started = time.monotonic()
    code, doc, err = run(capsys, sync(base, "--all", "--write", "--resume", str(state)))
    assert code == EXIT_SERVER
    assert time.monotonic() - started < 30  # bounded retries, then a stop
    rows = doc["patients"]
    assert len(rows) == 3  # the third patient found the server gone: no more were tried
    assert [r["error"] is None for r in rows] == [True, True, False]
    assert "cannot reach the FHIR server" in rows[2]["error"]
    assert rows[2]["write"] is None and rows[2]["written_before_error"] == []
    assert doc["summary"] == {
        "patients": 3,
        "evaluated": 2,
        "written": sum(r["write"]["written"] for r in rows[:2]),
        "failures": 1,
        "skipped": 0,
    }
    assert done_in(state) == finished[:2]  # exactly the patients written

    # the server comes back with its data; the same command goes on where it stopped
    monkeypatch.setattr(sync_module, "sync_patient", real)
    own_server.start()
    code, doc, err = run(capsys, sync(base, "--all", "--write", "--resume", str(state)))
    assert code == EXIT_OK, err
    assert "resuming: 2 patients already done" in err
    assert doc["summary"]["skipped"] == 2 and doc["summary"]["failures"] == 0
    assert sorted(r["patient"] for r in doc["patients"]) == sorted(
        f"Patient/{p}" for p in ids if p not in finished[:2]
    )
    assert sorted(done_in(state)) == sorted(ids)
    for pid in ids:  # nothing lost, nothing written twice
        assert no_duplicates(base, pid) > 0

    # a third run finds everything done
    code, doc, _ = run(capsys, sync(base, "--all", "--write", "--resume", str(state)))
    assert code == EXIT_OK and doc["patients"] == [] and doc["summary"]["skipped"] == 5


def test_a_resume_file_of_another_run_is_refused(
    loaded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.jsonl"
    state.write_text(
        json.dumps({"trd-fhir-sync": 1, "server": loaded, "as_of": "2020-01-01", "write": True})
        + "\n"
    )
    code = main(sync(loaded, "--patient", "vignette-01", "--write", "--resume", str(state)))
    err = capsys.readouterr().err
    assert code == EXIT_SETTINGS and "records another run (its as_of differ)" in err
    (tmp_path / "junk").write_text("not json\nstill not\n")
    code = main(sync(loaded, "--patient", "x", "--resume", str(tmp_path / "junk")))
    assert code == EXIT_SETTINGS and "not a trd-fhir resume file" in capsys.readouterr().err
    code = main(sync(loaded, "--patient", "x", "--write", "--dry-run", "--resume", str(state)))
    assert code == EXIT_SETTINGS and "--dry-run" in capsys.readouterr().err


def test_a_torn_last_line_of_the_resume_file_is_ignored(
    loaded: str, examples: list[Example], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    patient = load_clone(loaded, examples[2], "torn-resume").patient_id
    state = tmp_path / "state.jsonl"
    header = {"trd-fhir-sync": 1, "server": loaded, "as_of": AS_OF, "write": False}
    state.write_text(json.dumps(header) + '\n{"done": "tor')  # killed while writing
    code, doc, _ = run(capsys, sync(loaded, "--patient", patient, "--resume", str(state)))
    assert code == EXIT_OK and len(doc["patients"]) == 1
    assert done_in_tolerant(state) == [patient]
    code, doc, _ = run(capsys, sync(loaded, "--patient", patient, "--resume", str(state)))
    assert code == EXIT_OK and doc["patients"] == [] and doc["summary"]["skipped"] == 1


# -- a 429 storm ---------------------------------------------------------------------------------
@pytest.fixture
def three(loaded: str, examples: list[Example], request: pytest.FixtureRequest) -> list[str]:
    digest = hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:10]
    stem = f"fs-{digest}"
    return [load_clone(loaded, examples[i], f"{stem}-{i}").patient_id for i in (0, 3, 5)]


def patients(ids: list[str]) -> list[str]:
    return [arg for pid in ids for arg in ("--patient", pid)]


def test_a_429_storm_is_retried_as_told_then_stops_the_run_then_resumes(
    proxy: FaultProxy,
    three: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = tmp_path / "state.jsonl"
    proxy.add(everything, status=429, headers={"Retry-After": "1"}, times=10_000)
    started = time.monotonic()
    code, doc, err = run(
        capsys, sync(proxy.base, *patients(three), "--write", "--resume", str(state))
    )
    elapsed = time.monotonic() - started
    assert code == EXIT_SERVER
    assert proxy.count(everything) == 4  # the first patient: 4 tries, then the run stops
    assert 3.0 <= elapsed < 30.0  # three waits of Retry-After: 1, and then no more
    assert len(doc["patients"]) == 1 and doc["summary"]["failures"] == 1
    assert "HTTP 429" in doc["patients"][0]["error"]
    assert "after 4 tries" in doc["patients"][0]["error"]
    assert err.count("\n") == 1 and "HTTP 429" in err  # one clear line
    assert done_in(state) == []
    assert not any(is_transaction(r) for r in proxy.seen)

    proxy.reset()  # the storm is over
    code, doc, _ = run(
        capsys, sync(proxy.base, *patients(three), "--write", "--resume", str(state))
    )
    assert code == EXIT_OK and doc["summary"]["failures"] == 0
    assert sorted(done_in(state)) == sorted(three)
    for pid in three:
        assert no_duplicates(proxy.base, pid) > 0


@pytest.mark.parametrize("retry_after", ["3600", "Wed, 21 Oct 2099 07:28:00 GMT"])
def test_a_retry_after_beyond_the_budget_gives_up_at_once(
    retry_after: str, proxy: FaultProxy, three: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    proxy.add(everything, status=429, headers={"Retry-After": retry_after}, times=10_000)
    started = time.monotonic()
    code, doc, _ = run(capsys, sync(proxy.base, *patients(three)))
    assert code == EXIT_SERVER
    assert time.monotonic() - started < 30.0  # does not sleep an hour
    assert proxy.count(everything) == 1 and len(doc["patients"]) == 1


def test_503_storm_also_stops_the_run(
    proxy: FaultProxy, three: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    proxy.add(everything, status=503, headers={"Retry-After": "0"}, times=10_000)
    code, doc, _ = run(capsys, sync(proxy.base, *patients(three)))
    assert code == EXIT_SERVER and len(doc["patients"]) == 1
    assert "HTTP 503" in doc["patients"][0]["error"]


# -- transactions rejected or answered inconsistently -------------------------------------------
def _bundle_answer(statuses: list[str]) -> bytes:
    return json.dumps(
        {
            "resourceType": "Bundle",
            "type": "transaction-response",
            "entry": [{"response": {"status": s}} for s in statuses],
        }
    ).encode()


def _one_entry_failed(request: Request) -> bytes:
    """A 200 whose last entry failed (a server that is not atomic), nothing applied."""
    n = len(request.json()["entry"])
    return _bundle_answer(["201 Created"] * (n - 1) + ["409 Conflict"])


@pytest.mark.parametrize(
    ("status", "body", "fragment"),
    [
        (400, None, "HTTP 400"),
        (409, None, "HTTP 409"),
        (412, None, "HTTP 412"),
        (422, None, "HTTP 422"),
        (200, _bundle_answer(["201 Created"]), "does not account for every entry"),
        (200, _one_entry_failed, "an entry failed"),
        (200, b"<html>proxy error</html>", "transaction"),
    ],
)
def test_a_rejected_transaction_is_never_a_success_and_not_recorded_as_done(
    status: int,
    body: Any,
    fragment: str,
    proxy: FaultProxy,
    three: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = tmp_path / "state.jsonl"
    proxy.add(is_transaction, status=status, body=body, times=10_000)
    code, doc, _ = run(
        capsys, sync(proxy.base, *patients(three), "--write", "--resume", str(state))
    )
    assert code == EXIT_SERVER
    assert len(doc["patients"]) == 3  # not a refusal of service: the other patients are tried
    for row in doc["patients"]:
        assert row["write"] is None and row["error"] and fragment in row["error"]
    assert doc["summary"]["written"] == 0 and doc["summary"]["failures"] == 3
    assert done_in(state) == []
    for pid in three:
        assert own_observations(proxy.base, pid) == []  # nothing was written
    proxy.reset()
    code, doc, _ = run(
        capsys, sync(proxy.base, *patients(three), "--write", "--resume", str(state))
    )
    assert code == EXIT_OK and sorted(done_in(state)) == sorted(three)


# -- retried writes add nothing twice ------------------------------------------------------------
def test_a_429_on_the_transaction_is_retried_once_and_writes_once(
    proxy: FaultProxy, three: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    proxy.add(is_transaction, status=429, headers={"Retry-After": "0"}, times=1)
    code, doc, _ = run(capsys, sync(proxy.base, "--patient", three[0], "--write"))
    assert code == EXIT_OK, doc
    assert proxy.count(is_transaction) == 2
    entries = [e for r in proxy.seen if is_transaction(r) for e in r.json()["entry"]]
    creates = [e for e in entries if e["request"]["method"] == "POST"]
    assert creates and all(e["request"].get("ifNoneExist") for e in creates)
    assert no_duplicates(proxy.base, three[0]) > 0


def test_writes_one_by_one_survive_503_and_a_lost_answer_without_duplicates(
    proxy: FaultProxy, three: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    def no_transactions(statement: dict[str, Any]) -> dict[str, Any]:
        rest = statement["rest"][0]
        rest["interaction"] = [
            i for i in rest["interaction"] if i["code"] not in ("transaction", "batch")
        ]
        return statement

    def observation_post(r: Request) -> bool:
        return r.method == "POST" and r.path == "Observation"

    proxy.patch_metadata = no_transactions
    proxy.add(observation_post, status=503, headers={"Retry-After": "0"}, times=1)
    proxy.add(
        lambda r: observation_post(r) and proxy.count(observation_post) == 3,
        action="forward-then",
        status=502,
    )  # the server wrote it, the answer was lost
    code, doc, _ = run(capsys, sync(proxy.base, "--patient", three[1], "--write"))
    # a conditional create is idempotent: after the 503 and after the lost answer it is sent
    # again, and the server's If-None-Exist match makes the repeat a no-op
    assert code == EXIT_OK, doc
    posts = [r for r in proxy.seen if observation_post(r)]
    assert posts and all(r.headers.get("If-None-Exist") for r in posts)
    distinct = {r.headers["If-None-Exist"] for r in posts}
    assert len(posts) == len(distinct) + 2  # one repeat after the 503, one after the lost answer
    assert no_duplicates(proxy.base, three[1]) > 0
