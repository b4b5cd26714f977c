"""Bulk Data `$export`, `bulk --fhir-base` (incremental, --write) and Subscriptions against the
real sandbox server (sekmet-fhir), with the fault proxy of servers.py where a fault is needed."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn

from trdfhir.cli import main
from trdfhir.client import FhirClient
from trdfhir.emit.codes import model_code
from trdfhir.emit.ids import ASSESSMENT_SYSTEM, PROFILE_STAGE
from trdfhir.errors import EXIT_SERVER
from trdfhir.ingest.bundle import is_own_output
from trdfhir.sandbox import Example, free_port
from trdfhir.service import ServiceSettings, create_app

from .conftest import load_clone
from .servers import FaultProxy

pytestmark = pytest.mark.integration

AS_OF = "2026-11-21"
SECRET = "subscription-secret-for-tests"  # noqa: S105 - a test secret


def _phq9(patient: str, day: str, value: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": day,
        "valueQuantity": {"value": value},
    }


def _post(base: str, resource: dict[str, Any]) -> dict[str, Any]:
    with FhirClient(base) as client:
        response = client.request(
            "POST",
            resource["resourceType"],
            body=resource,
            headers={"Prefer": "return=representation"},
        )
        return client.parse_json(response, "create")


def _group(base: str, patients: list[str]) -> str:
    group = {
        "resourceType": "Group",
        "type": "person",
        "actual": True,
        "member": [{"entity": {"reference": f"Patient/{p}"}} for p in patients],
    }
    return str(_post(base, group)["id"])


def _bulk(source: str, where: str, output: Path, *extra: str) -> list[str]:
    """`trd-fhir bulk` at the tests' as-of date, one worker, quiet: from --input or --fhir-base."""
    common = ["--output", str(output), "--as-of", AS_OF, "--workers", "1", "--quiet"]
    return ["bulk", source, where, *common, *extra]


def _summaries(path: Path) -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {row["patient"]: row for row in rows}


def _sync(base: str, patients: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    args = ["sync", "--fhir-base", base, "--as-of", AS_OF, "--format", "json"]
    args += [a for p in patients for a in ("--patient", p)] if patients else ["--all"]
    assert main(args) == 0
    document = json.loads(capsys.readouterr().out)
    return {row["patient"]: row["assessment"] for row in document["patients"]}


def _own(base: str, patient: str) -> list[dict[str, Any]]:
    with FhirClient(base) as client:
        found = client.search("Observation", {"subject": f"Patient/{patient}", "_count": "500"})
    return [r for r in found if is_own_output(r)]


def _identifiers(resources: list[dict[str, Any]]) -> Counter[str]:
    return Counter(
        i["value"]
        for r in resources
        for i in r.get("identifier") or []
        if i.get("system") == ASSESSMENT_SYSTEM
    )


def test_export_then_bulk_gives_the_summaries_of_sync_all(
    loaded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export, out = tmp_path / "export", tmp_path / "out"
    assert main(["export", "--fhir-base", loaded, "--output", str(export), "--quiet"]) == 0
    assert "export: " in capsys.readouterr().out
    assert main(_bulk("--input", str(export), out)) == 0
    capsys.readouterr()
    staged = _summaries(out / "summaries.ndjson")
    synced = _sync(loaded, [], capsys)
    assert len(staged) >= 20
    assert staged == synced


def test_a_second_export_downloads_only_the_changes(
    loaded: str, examples: list[Example], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    patient = load_clone(loaded, examples[0], "export-since").patient_id
    args = ["export", "--fhir-base", loaded, "--output", str(tmp_path), "--quiet"]
    assert main(args) == 0
    first = json.loads((tmp_path / "manifest.json").read_text())
    assert sum(o["count"] for o in first["output"]) > 20
    new = _post(loaded, _phq9(patient, "2026-08-30", 4))
    capsys.readouterr()
    assert main(args) == 0  # the same directory: the changes since its transactionTime
    second = json.loads((tmp_path / "manifest.json").read_text())
    assert second["extension"]["since"] == first["transactionTime"]
    assert second["output"] == [{"type": "Observation", "url": "Observation.ndjson", "count": 1}]
    (line,) = (tmp_path / "Observation.ndjson").read_text().splitlines()
    assert json.loads(line)["id"] == new["id"]
    assert not (tmp_path / "Patient.ndjson").exists()  # the full export's files are replaced


def test_bulk_from_the_server_writes_once_and_then_only_the_changes(
    loaded: str, examples: list[Example], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = [load_clone(loaded, examples[i], f"bulk-write-{i}").patient_id for i in (0, 3, 8)]
    group = _group(loaded, ids)
    args = _bulk("--fhir-base", loaded, tmp_path, "--group", group, "--write")
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "write-back: 3 patients, 3 written" in err
    written = {p: _identifiers(_own(loaded, p)) for p in ids}
    assert all(written.values())
    staged = _summaries(tmp_path / "summaries.ndjson")
    assert staged == _sync(loaded, ids, capsys)

    # twice: a full run again writes nothing
    assert main([*args, "--restart"]) == 0
    assert "write-back: 3 patients, 0 written (0 resources" in capsys.readouterr().err
    assert {p: _identifiers(_own(loaded, p)) for p in ids} == written

    # a new PHQ-9 for one patient: the next run re-stages and writes only that patient
    _post(loaded, _phq9(ids[0], "2026-08-31", 2))
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "1 patients changed since" in err
    assert "write-back: 1 patients, 1 written" in err
    after = _summaries(tmp_path / "summaries.ndjson")
    synced = _sync(loaded, ids, capsys)
    assert after == synced
    assert after[f"Patient/{ids[0]}"] != staged[f"Patient/{ids[0]}"]
    assert {p: after[f"Patient/{p}"] for p in ids[1:]} == {
        p: staged[f"Patient/{p}"] for p in ids[1:]
    }
    for p in ids:  # nothing written twice
        assert max(_identifiers(_own(loaded, p)).values()) == 1

    # and nothing changed: nothing to do
    assert main(args) == 0
    assert "no patient changed" in capsys.readouterr().err


def test_a_500_while_polling_is_one_line_and_the_rerun_resumes_the_same_job(
    loaded: str, proxy: FaultProxy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proxy.add(lambda r: r.method == "GET" and r.path.startswith("bulk-status/"), status=500)
    proxy.add(
        lambda r: r.method == "GET" and r.path.startswith("bulk-status/"),
        status=429,
        headers={"Retry-After": "1"},
        times=2,
    )
    args = ["export", "--fhir-base", proxy.base, "--output", str(tmp_path), "--quiet"]
    assert main(args) == EXIT_SERVER
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "export status: HTTP 500" in err[0] and "the export failed" in err[0]
    assert main(args) == 0  # polls the same job (after two 429s) and downloads
    kickoffs = proxy.count(lambda r: r.path == "Patient/$export")
    assert kickoffs == 1
    clean = tmp_path.parent / "clean"
    assert main(["export", "--fhir-base", loaded, "--output", str(clean), "--quiet"]) == 0
    resumed = json.loads((tmp_path / "manifest.json").read_text())["output"]
    direct = json.loads((clean / "manifest.json").read_text())["output"]
    assert resumed == direct  # nothing lost, nothing twice


def test_an_interrupted_write_back_resumes_without_duplicates(
    loaded: str,
    examples: list[Example],
    proxy: FaultProxy,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ids = [load_clone(loaded, examples[i], f"bulk-cut-{i}").patient_id for i in (1, 4, 9)]
    group = _group(loaded, ids)

    def transaction(r: Any) -> bool:
        return r.method == "POST" and r.path == "" and (r.json() or {}).get("type") == "transaction"

    # the second transaction reaches the server, then its answer is lost (a 500)
    seen = {"n": 0}

    def second(r: Any) -> bool:
        if transaction(r):
            seen["n"] += 1
            return seen["n"] == 2
        return False

    proxy.add(second, action="forward-then", status=500)
    args = _bulk(
        "--fhir-base", proxy.base, tmp_path, "--group", group, "--write", "--batch-entries", "1"
    )
    assert main(args) == EXIT_SERVER
    err = capsys.readouterr().err
    assert "write-back: 3 patients, 2 written" in err and "1 failed" in err
    assert main(args) == 0
    err = capsys.readouterr().err
    # the two written are skipped; the one whose answer was lost is found on the server
    assert "2 done before" in err and "1 already up to date" in err and "0 failed" in err
    for p in ids:
        counts = _identifiers(_own(loaded, p))
        assert counts and max(counts.values()) == 1


# -- Subscriptions -------------------------------------------------------------------------------
class Service:
    def __init__(self, settings: ServiceSettings) -> None:
        self.port = free_port()
        self.app = create_app(settings)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        self.base = f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def subscription_patient(loaded: str, examples: list[Example]) -> Example:
    example = next(e for e in examples if e.path.name.startswith("01"))
    return load_clone(loaded, example, f"subscribed-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def service(loaded: str, subscription_patient: Example) -> Iterator[Service]:
    moment = datetime.combine(subscription_patient.as_of, datetime.min.time(), tzinfo=UTC)
    settings = ServiceSettings(
        cds_auth_required=False,
        fhir_base_url=loaded,
        subscription_secret=SECRET,
        now=lambda: moment,
    )
    s = Service(settings)
    try:
        yield s
    finally:
        s.close()


def _stages(base: str, patient: str) -> dict[str, str]:
    """identifier -> the regulatory stage Observation's value, of every write so far."""
    code = model_code("regulatory")
    out = {}
    for r in _own(base, patient):
        if PROFILE_STAGE in (r.get("meta") or {}).get("profile", []) and any(
            c.get("code") == code for c in (r.get("code") or {}).get("coding") or []
        ):
            value = {k: v for k, v in r.items() if k.startswith("value")}
            out[r["identifier"][0]["value"]] = json.dumps(value, sort_keys=True)
    return out


def test_a_new_phq9_is_notified_and_the_stage_observation_changes(
    loaded: str,
    subscription_patient: Example,
    service: Service,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    patient = subscription_patient.patient_id
    day = subscription_patient.as_of.isoformat()
    sync = ["sync", "--fhir-base", loaded, "--patient", patient, "--as-of", day, "--write"]
    assert main(sync) == 0
    before = _stages(loaded, patient)
    assert len(before) == 1
    monkeypatch.setenv("TRDFHIR_SUBSCRIPTION_SECRET", SECRET)
    endpoint = f"{service.base}/subscriptions/notify"
    subscribe = ["subscribe", "--fhir-base", loaded, "--endpoint", endpoint]
    capsys.readouterr()
    assert main(subscribe) == 0
    out = capsys.readouterr().out
    ids = [
        line.split("Subscription/")[1].split(",")[0]
        for line in out.splitlines()
        if "Subscription/" in line
    ]
    try:
        assert "8 Subscriptions, 8 new, 0 with a new secret, 0 refused" in out
        assert main(subscribe) == 0  # again: nothing registered twice
        assert "8 Subscriptions, 0 new" in capsys.readouterr().out
        _post(loaded, _phq9(patient, "2026-08-31", 2))
        status: dict[str, Any] = {}
        deadline = time.monotonic() + 30
        headers = {"Authorization": f"Bearer {SECRET}"}
        while time.monotonic() < deadline:
            status = requests.get(
                f"{service.base}/subscriptions/status", headers=headers, timeout=5
            ).json()
            if status["evaluated"] + status["failed"] >= 1 and not status["running"]:
                break
            time.sleep(0.2)
        assert status["evaluated"] == 1 and status["failed"] == 0, status
        after = _stages(loaded, patient)
        new = set(after) - set(before)
        assert len(new) == 1
        assert after[new.pop()] != next(iter(before.values()))
        # the stage Observations the service wrote did not notify it again (code criteria,
        # and its own output is ignored): one notification, one evaluation
        assert status["received"] == 1
        # a notification without the secret is refused
        refused = requests.post(endpoint, json=_phq9(patient, day, 1), timeout=5)
        assert refused.status_code == 401
        # a new secret replaces the header of the same Subscriptions, nothing is added
        monkeypatch.setenv("TRDFHIR_SUBSCRIPTION_SECRET", SECRET + "-rotated")
        assert main(subscribe) == 0
        assert "8 Subscriptions, 0 new, 8 with a new secret" in capsys.readouterr().out
        with FhirClient(loaded) as client:
            headers_now = {
                tuple(client.read("Subscription", sid)["channel"]["header"]) for sid in ids
            }
        assert headers_now == {(f"Authorization: Bearer {SECRET}-rotated",)}
    finally:
        with FhirClient(loaded) as client:
            for sid in ids:
                client.request("DELETE", f"Subscription/{sid}")


ST = "http://hl7.org/fhir/5.0/StructureDefinition/extension-SubscriptionTopic"


def _topic(url: str) -> dict[str, Any]:
    """A SubscriptionTopic as the sandbox server keeps them (an R4 Basic with the R5 cross-version
    extensions): every created Observation."""
    trigger = [
        {"url": "resource", "valueUri": "http://hl7.org/fhir/StructureDefinition/Observation"},
        {"url": "supportedInteraction", "valueCode": "create"},
        {"url": "fhirPathCriteria", "valueString": "true"},
    ]
    return {
        "resourceType": "Basic",
        "modifierExtension": [{"url": f"{ST}.status", "valueCode": "active"}],
        "extension": [
            {"url": f"{ST}.url", "valueUri": url},
            {"url": f"{ST}.title", "valueString": "Observation created (trd-fhir test)"},
            {"url": f"{ST}.resourceTrigger", "extension": trigger},
        ],
        "code": {
            "coding": [{"system": "http://hl7.org/fhir/fhir-types", "code": "SubscriptionTopic"}]
        },
    }


def test_a_backport_topic_subscription_round_trip(
    loaded: str,
    subscription_patient: Example,
    service: Service,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The Backport IG form: the sandbox offers topics kept as Basic resources; one is made for
    the test. Its handshake must be accepted, its events carry the full resource; the stage
    Observations the service then writes are events too, and are ignored as its own output."""
    patient = subscription_patient.patient_id
    url = f"http://trd-fhir.org/test/topic/{uuid.uuid4().hex[:8]}"
    basic = _post(loaded, _topic(url))
    monkeypatch.setenv("TRDFHIR_SUBSCRIPTION_SECRET", SECRET)
    endpoint = f"{service.base}/subscriptions/notify"
    sid = None
    try:
        missing = ["subscribe", "--fhir-base", loaded, "--endpoint", endpoint, "--topic", url + "x"]
        assert main(missing) == EXIT_SERVER
        assert "does not offer the topic" in capsys.readouterr().err
        assert (
            main(["subscribe", "--fhir-base", loaded, "--endpoint", endpoint, "--topic", url]) == 0
        )
        out = capsys.readouterr().out
        sid = out.split("Subscription/")[1].split(",")[0]
        with FhirClient(loaded) as client:
            deadline = time.monotonic() + 15
            while client.read("Subscription", sid).get("status") != "active":
                assert time.monotonic() < deadline, "the handshake did not activate it"
                time.sleep(0.1)
        _post(loaded, _phq9(patient, "2026-08-31", 2))
        headers = {"Authorization": f"Bearer {SECRET}"}
        status: dict[str, Any] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status = requests.get(
                f"{service.base}/subscriptions/status", headers=headers, timeout=5
            ).json()
            if status["evaluated"] + status["failed"] >= 1 and not status["running"]:
                break
            time.sleep(0.2)
        assert status["evaluated"] == 1 and status["failed"] == 0, status
        assert len(_stages(loaded, patient)) == 1
    finally:
        with FhirClient(loaded) as client:
            if sid:
                client.request("DELETE", f"Subscription/{sid}")
            client.request("DELETE", f"Basic/{basic['id']}")
