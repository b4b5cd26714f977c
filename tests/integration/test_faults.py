"""Faults in front of the real server: down at start, 503/429 then success, 500 in the middle of
a write, timeouts. Nothing half-written is ever reported as a success."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from trdfhir.cli import main
from trdfhir.client import FhirClient, PartialWriteError, RetryPolicy, fetch_patient, plan_write
from trdfhir.commands.sync import sync_patient
from trdfhir.errors import EXIT_SERVER, FhirServerError
from trdfhir.mappings import Mappings
from trdfhir.sandbox import Example, free_port

from .conftest import NOW, load_clone
from .servers import FaultProxy, Request

pytestmark = pytest.mark.integration

ASSESSMENT_SYSTEM = "http://trd-fhir.org/fhir/sid/assessment"


def is_transaction(r: Request) -> bool:
    return r.method == "POST" and r.path == "" and (r.json() or {}).get("type") == "transaction"


def everything(r: Request) -> bool:
    return r.method == "GET" and r.path.endswith("$everything")


def own_observations(client: FhirClient, pid: str) -> list[dict[str, Any]]:
    return [
        o
        for o in client.search("Observation", {"patient": pid, "_count": "200"})
        if any(i.get("system") == ASSESSMENT_SYSTEM for i in o.get("identifier", []))
    ]


@pytest.fixture
def patient(loaded: str, examples: list[Example], request: pytest.FixtureRequest) -> Example:
    """A fresh copy of example 01 under a patient id of its own, per test."""
    pid = "f-" + request.node.name.replace("_", "-")[-40:].strip("-").lower()
    return load_clone(loaded, examples[0], pid)


def _sync(base: str, patient: Example, maps: Mappings, **kwargs: Any) -> Any:
    retry = kwargs.pop("retry", None)
    timeout = kwargs.pop("timeout", (5.0, 30.0))
    with FhirClient(base, retry=retry, timeout=timeout) as client:
        return sync_patient(
            client,
            patient.patient_id,
            as_of=patient.as_of,
            settings=maps.settings,
            mappings=maps,
            now=NOW,
            **kwargs,
        )


def test_server_down_at_start_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    base = f"http://127.0.0.1:{free_port()}/fhir"
    started = time.monotonic()
    code = main(["sync", "--fhir-base", base, "--patient", "p1"])
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == EXIT_SERVER
    assert err.count("\n") == 1
    assert (
        f"cannot reach the FHIR server at {base.removesuffix('/fhir')}: connection refused" in err
    )
    assert "after 4 tries" in err and elapsed < 10  # bounded


def test_503_then_success_is_retried(proxy: FaultProxy, patient: Example, maps: Mappings) -> None:
    proxy.add(everything, status=503, headers={"Retry-After": "0"}, times=2)
    result = _sync(proxy.base, patient, maps)
    assert result.assessment is not None
    assert proxy.count(everything) == 3


def test_429_waits_as_told(proxy: FaultProxy, patient: Example, maps: Mappings) -> None:
    proxy.add(everything, status=429, headers={"Retry-After": "1"})
    started = time.monotonic()
    result = _sync(proxy.base, patient, maps)
    assert result.assessment is not None
    assert time.monotonic() - started >= 1.0
    assert proxy.count(everything) == 2


def test_503_for_too_long_gives_up(proxy: FaultProxy, patient: Example, maps: Mappings) -> None:
    proxy.add(everything, status=503, headers={"Retry-After": "0"}, times=99)
    with pytest.raises(
        FhirServerError, match=r"Patient \$everything: HTTP 503 .* after 3 tries"
    ) as err:
        _sync(proxy.base, patient, maps, retry=RetryPolicy(attempts=3, backoff=0.05))
    assert err.value.status == 503
    assert proxy.count(everything) == 3


def test_500_on_the_transaction_writes_nothing_and_says_so(
    proxy: FaultProxy, patient: Example, maps: Mappings, capsys: pytest.CaptureFixture[str]
) -> None:
    proxy.add(is_transaction, status=500)
    code = main(
        [
            "sync",
            "--fhir-base",
            proxy.base,
            "--patient",
            patient.patient_id,
            "--as-of",
            patient.as_of.isoformat(),
            "--write",
            "--format",
            "json",
        ]
    )
    out, err = capsys.readouterr()
    assert code == EXIT_SERVER
    document = json.loads(out)
    row = document["patients"][0]
    assert row["write"] is None and row["written_before_error"] == []
    assert "transaction: HTTP 500" in row["error"] and "transaction: HTTP 500" in err
    assert document["summary"] == {"patients": 1, "evaluated": 0, "written": 0, "failures": 1}
    with FhirClient(proxy.base) as client:
        assert own_observations(client, patient.patient_id) == []


def test_a_lost_answer_to_a_transaction_is_an_error_and_the_retry_adds_nothing(
    proxy: FaultProxy, patient: Example, maps: Mappings
) -> None:
    proxy.add(is_transaction, action="forward-then", status=500)
    with pytest.raises(FhirServerError, match="transaction: HTTP 500"):
        _sync(proxy.base, patient, maps, write=True)
    again = _sync(proxy.base, patient, maps, write=True)  # the server had applied it
    assert again.outcome.mode == "skipped" and again.outcome.written == 0
    with FhirClient(proxy.base) as client:
        observations = own_observations(client, patient.patient_id)
    emitted = [e for e in again.bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert len(observations) == len(emitted)  # no duplicates


def _no_transactions(statement: dict[str, Any]) -> dict[str, Any]:
    rest = statement["rest"][0]
    rest["interaction"] = [
        i for i in rest["interaction"] if i["code"] not in ("transaction", "batch")
    ]
    return statement


def _observation_post(r: Request) -> bool:
    return r.method == "POST" and r.path == "Observation"


def test_500_in_the_middle_of_conditional_writes_reports_what_was_written(
    proxy: FaultProxy, patient: Example, maps: Mappings, capsys: pytest.CaptureFixture[str]
) -> None:
    proxy.patch_metadata = _no_transactions
    proxy.add(lambda r: _observation_post(r) and proxy.count(_observation_post) == 3, status=500)
    code = main(
        [
            "sync",
            "--fhir-base",
            proxy.base,
            "--patient",
            patient.patient_id,
            "--as-of",
            patient.as_of.isoformat(),
            "--write",
        ]
    )
    out, err = capsys.readouterr()
    assert code == EXIT_SERVER
    assert "write-back stopped at entry" in err
    assert "already written: " in err and "Observation x2" in err
    assert "Write-back (" not in out  # never reported as done
    assert not [r for r in proxy.seen if is_transaction(r)]
    with FhirClient(proxy.base) as client:
        assert len(own_observations(client, patient.patient_id)) == 2
    # the next run completes the write, one conditional create at a time, without duplicates
    result = _sync(proxy.base, patient, maps, write=True)
    assert result.outcome.mode == "conditional"
    assert len(result.outcome.unchanged) >= 2
    with FhirClient(proxy.base) as client:
        observations = own_observations(client, patient.patient_id)
        assert plan_write(client, result.bundle).redundant
    emitted = [e for e in result.bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert len(observations) == len(emitted)


def test_partial_write_error_names_what_was_written(
    proxy: FaultProxy, patient: Example, maps: Mappings
) -> None:
    proxy.patch_metadata = _no_transactions
    proxy.add(lambda r: r.method == "PUT" and r.path == "CarePlan", status=500)
    with pytest.raises(PartialWriteError) as err:
        _sync(proxy.base, patient, maps, write=True)
    assert err.value.written and all(ref.startswith("Observation/") for ref in err.value.written)


def test_read_timeout_is_bounded_and_clear(
    proxy: FaultProxy, patient: Example, maps: Mappings
) -> None:
    proxy.add(everything, action="delay", delay=1.5, times=2)
    started = time.monotonic()
    with pytest.raises(FhirServerError, match=r"within 0.5 s \(read timeout\) after 2 tries"):
        _sync(
            proxy.base,
            patient,
            maps,
            timeout=(1.0, 0.5),
            retry=RetryPolicy(attempts=2, backoff=0.1),
        )
    assert time.monotonic() - started < 3


def test_a_timed_out_transaction_is_retried_without_duplicates(
    proxy: FaultProxy, patient: Example, maps: Mappings
) -> None:
    # the first transaction reaches the server late (after the client gave up); the retry,
    # a second later, finds every conditional create already done
    proxy.add(is_transaction, action="delay", delay=1.0)
    result = _sync(
        proxy.base,
        patient,
        maps,
        write=True,
        timeout=(1.0, 0.5),
        retry=RetryPolicy(attempts=3, backoff=1.5),
    )
    assert result.outcome.mode == "transaction"
    assert proxy.count(is_transaction) == 2
    with FhirClient(proxy.base) as client:
        observations = own_observations(client, patient.patient_id)
        record = fetch_patient(client, patient.patient_id)
    emitted = [e for e in result.bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert len(observations) == len(emitted)
    assert record.counts().get("Observation", 0) >= len(emitted)
