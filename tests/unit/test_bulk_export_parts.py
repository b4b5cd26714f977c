"""The pure parts of the Bulk Data client, the population write-back and the Subscription
receiver: requests, file names, line counts, manifests, combining Bundles, merging increments,
Subscription criteria and notifications, the receiver's queue."""

from __future__ import annotations

import gzip
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from trdfhir.bulk.remote import changed_patients, merge_results
from trdfhir.bulk.writeback import combine
from trdfhir.client.bulk_export import (
    ExportError,
    ExportRequest,
    _checked_manifest,
    _file_names,
    _LineCounter,
)
from trdfhir.client.subscriptions import (
    backport_subscription,
    check_endpoint,
    classic_subscriptions,
    offered_topics,
    stage_criteria,
)
from trdfhir.errors import FhirServerError, InputError, SettingsError
from trdfhir.mappings import load_mappings
from trdfhir.service.subscriptions import Notice, Receiver, parse_notice

OWN_TAG = {"system": "http://trd-fhir.org/fhir/sid/content", "code": "x"}


# -- export requests ---------------------------------------------------------------------------
def test_the_request_asks_for_the_types_trd_fhir_reads_and_since() -> None:
    request = ExportRequest(
        since="2026-11-01T00:00:00Z", type_filters=("Observation?status=final",)
    )
    assert request.path == "Patient/$export"
    params = dict(request.params(with_filters=False))
    assert params["_type"].split(",") == [
        "Patient",
        "Medication",
        "MedicationStatement",
        "MedicationRequest",
        "MedicationDispense",
        "MedicationAdministration",
        "Procedure",
        "Observation",
        "QuestionnaireResponse",
        "Condition",
    ]
    assert params["_since"] == "2026-11-01T00:00:00Z"
    assert "_typeFilter" not in params
    assert ("_typeFilter", "Observation?status=final") in request.params(with_filters=True)


def test_group_and_system_levels_and_their_checks() -> None:
    assert ExportRequest(level="group", group="g-1").path == "Group/g-1/$export"
    assert ExportRequest(level="system").path == "$export"
    with pytest.raises(InputError):
        ExportRequest(level="group")
    with pytest.raises(InputError):
        ExportRequest(level="system", patients=("p1",))
    with pytest.raises(InputError):
        ExportRequest(patients=("not an id!",))


def test_the_identity_of_a_run_leaves_since_out() -> None:
    assert ExportRequest(since="2026-01-01").identity() == ExportRequest().identity()
    assert ExportRequest(level="system").identity() != ExportRequest().identity()


def test_several_files_of_one_type_get_numbered_names() -> None:
    entries = [
        ("output", {"type": "Observation"}),
        ("output", {"type": "Patient"}),
        ("output", {"type": "Observation"}),
        ("error", {"type": "OperationOutcome"}),
        ("error", {"type": "OperationOutcome"}),
    ]
    assert _file_names(entries) == [
        "Observation.ndjson",
        "Patient.ndjson",
        "Observation.2.ndjson",
        "OperationOutcome.ndjson",
        "OperationOutcome.2.ndjson",
    ]


@pytest.mark.parametrize("gz", [False, True])
def test_lines_are_counted_in_chunks_compressed_or_not(gz: bool) -> None:
    data = b'{"a":1}\n{"b":2}\n{"c":3}'  # the last line without its newline
    raw = gzip.compress(data) if gz else data
    counter = _LineCounter(gz)
    for i in range(0, len(raw), 5):
        counter.feed(raw[i : i + 5])
    assert counter.lines() == 3


def test_a_manifest_must_name_its_files_by_type_and_url() -> None:
    good = {"transactionTime": "2026-11-21T10:00:00Z", "output": [{"type": "Patient", "url": "u"}]}
    assert _checked_manifest(good)["error"] == []
    for bad in (
        {"output": []},
        {"transactionTime": "t", "output": [{"type": "Patient"}]},
        {"transactionTime": "t", "output": [{"type": "../etc", "url": "u"}]},
    ):
        with pytest.raises(ExportError):
            _checked_manifest(bad)


# -- write-back --------------------------------------------------------------------------------
def _bundle(patient: str) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": "urn:uuid:device", "resource": {"resourceType": "Device"}},
            {"fullUrl": f"urn:uuid:obs-{patient}", "resource": {"resourceType": "Observation"}},
        ],
    }


def test_combined_patients_send_the_shared_device_once() -> None:
    combined = combine([_bundle("a"), _bundle("b")])
    assert combined["type"] == "transaction"
    assert [e["fullUrl"] for e in combined["entry"]] == [
        "urn:uuid:device",
        "urn:uuid:obs-a",
        "urn:uuid:obs-b",
    ]


def _write_rows(path: Path, patients: list[str], tag: str) -> None:
    path.write_text(
        "".join(json.dumps({"patient": f"Patient/{p}", "v": tag}) + "\n" for p in patients)
    )


def test_an_increment_replaces_the_changed_patients_rows_in_patient_order(tmp_path: Path) -> None:
    out, inc = tmp_path / "out", tmp_path / "inc"
    out.mkdir()
    inc.mkdir()
    _write_rows(out / "summaries.ndjson", ["a", "b", "c"], "old")
    _write_rows(inc / "summaries.ndjson", ["b", "d"], "new")
    (out / "summaries.csv").write_text("patient,x\nPatient/a,1\nPatient/b,1\nPatient/c,1\n")
    (inc / "summaries.csv").write_text("patient,x\nPatient/b,2\nPatient/d,2\n")
    (out / "errors.ndjson").write_text('{"kind":"bad-line","file":"f","line":3}\n')
    (inc / "errors.ndjson").write_text("")
    merge_results(out, inc, {"b", "d"})
    rows = [json.loads(line) for line in (out / "summaries.ndjson").read_text().splitlines()]
    assert [(r["patient"], r["v"]) for r in rows] == [
        ("Patient/a", "old"),
        ("Patient/b", "new"),
        ("Patient/c", "old"),
        ("Patient/d", "new"),
    ]
    assert (out / "summaries.csv").read_text().splitlines() == [
        "patient,x",
        "Patient/a,1",
        "Patient/b,2",
        "Patient/c,1",
        "Patient/d,2",
    ]
    assert "bad-line" in (out / "errors.ndjson").read_text()  # lines of no patient stay


def test_changed_patients_leave_trd_fhirs_own_output_out(tmp_path: Path) -> None:
    lines = [
        {"resourceType": "Patient", "id": "p1"},
        {"resourceType": "Observation", "id": "o1", "subject": {"reference": "Patient/p2"}},
        {
            "resourceType": "Observation",
            "id": "o2",
            "meta": {"tag": [OWN_TAG]},
            "subject": {"reference": "Patient/p3"},
        },
        {"resourceType": "Medication", "id": "m1"},
    ]
    (tmp_path / "Mixed.ndjson").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (tmp_path / "Empty.ndjson.gz").write_bytes(gzip.compress(b""))
    assert changed_patients(tmp_path) == ["p1", "p2"]


# -- Subscriptions ---------------------------------------------------------------------------------
def test_the_criteria_cover_what_changes_a_stage() -> None:
    specs = dict(stage_criteria(load_mappings()))
    assert set(specs) == {
        "MedicationStatement",
        "MedicationRequest",
        "MedicationDispense",
        "MedicationAdministration",
        "Procedure",
        "Condition",
        "QuestionnaireResponse",
        "Observation",
    }
    assert specs["MedicationRequest"] == "MedicationRequest?"
    assert specs["Observation"].startswith("Observation?code=")
    assert "http://loinc.org|44261-6" in specs["Observation"]  # the PHQ-9 total


def test_subscriptions_carry_the_secret_and_a_stable_tag() -> None:
    (label, sub), *_ = classic_subscriptions([("Condition", "Condition?")], "https://t/n", "s" * 16)
    assert label == "Condition"
    assert sub["channel"]["header"] == ["Authorization: Bearer " + "s" * 16]
    assert sub["channel"]["payload"] == "application/fhir+json"
    again = classic_subscriptions([("Condition", "Condition?")], "https://t/n", "other" * 4)
    assert again[0][1]["meta"]["tag"] == sub["meta"]["tag"]  # same criteria and endpoint
    other = classic_subscriptions([("Condition", "Condition?")], "https://t/m", "s" * 16)
    assert other[0][1]["meta"]["tag"] != sub["meta"]["tag"]
    topic = backport_subscription("http://x/topic", "https://t/n", "s" * 16)
    assert topic["criteria"] == "http://x/topic"
    assert topic["channel"]["_payload"]["extension"][0]["valueCode"] == "full-resource"


def test_the_endpoint_must_be_https_unless_on_this_machine() -> None:
    assert check_endpoint("http://127.0.0.1:8000/subscriptions/notify")
    assert check_endpoint("https://trd.example.org/subscriptions/notify")
    with pytest.raises(SettingsError):
        check_endpoint("http://trd.example.org/subscriptions/notify")


def test_offered_topics_are_read_from_the_capability_statement() -> None:
    url = (
        "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
        "capabilitystatement-subscriptiontopic-canonical"
    )
    statement = {
        "rest": [
            {
                "resource": [
                    {"type": "Patient"},
                    {"type": "Subscription", "extension": [{"url": url, "valueCanonical": "t1"}]},
                ]
            }
        ]
    }
    assert offered_topics(statement) == ["t1"]


PHQ9 = {
    "resourceType": "Observation",
    "id": "o1",
    "meta": {"versionId": "2"},
    "subject": {"reference": "Patient/p1"},
}


def test_a_classic_notification_names_the_patient_of_its_resource() -> None:
    notice = parse_notice(PHQ9)
    assert notice == Notice("resource", patients=("p1",), keys=("Observation/o1/2",))
    assert parse_notice({**PHQ9, "meta": {"tag": [OWN_TAG]}}).kind == "own-output"
    assert parse_notice(None, "Observation/o1") == Notice("ping", focus=("Observation/o1",))
    with pytest.raises(ValueError):
        parse_notice(["not", "a", "resource"])


def _backport(kind: str, events: list[list[dict[str, Any]]], *included: Any) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": "subscription", "valueReference": {"reference": "http://s/Subscription/9"}},
        {"name": "type", "valueCode": kind},
    ]
    params += [{"name": "notification-event", "part": parts} for parts in events]
    entries = [{"resource": {"resourceType": "Parameters", "parameter": params}}]
    entries += [{"resource": r} for r in included]
    return {"resourceType": "Bundle", "type": "history", "entry": entries}


def test_backport_notifications_events_context_and_focus() -> None:
    assert parse_notice(_backport("handshake", [])).kind == "handshake"
    event = [
        {"name": "event-number", "valueString": "4"},
        {"name": "focus", "valueReference": {"reference": "http://s/Observation/o9"}},
        {"name": "additional-context", "valueReference": {"reference": "http://s/Patient/p7"}},
    ]
    notice = parse_notice(_backport("event-notification", [event]))
    assert notice.patients == ("p7",)
    assert notice.keys == ("http://s/Subscription/9#4",)
    only_focus = [event[0], event[1]]
    assert parse_notice(_backport("event-notification", [only_focus])).focus == ("Observation/o9",)
    full = parse_notice(_backport("event-notification", [only_focus], {**PHQ9, "id": "o9"}))
    assert full.patients == ("p1",) and not full.focus


class Script:
    """A process function that fails as told, then answers."""

    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls: list[str] = []
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, pid: str) -> int:
        self.gate.wait(5)
        self.calls.append(pid)
        if self.failures:
            raise self.failures.pop(0)
        return 3


def test_the_receiver_deduplicates_and_coalesces() -> None:
    script = Script([])
    script.gate.clear()  # hold the worker so that the queue fills
    receiver = Receiver(script, lambda ref: None, queue_size=2, sleep=lambda s: None)
    first = Notice("resource", patients=("p1",), keys=("Observation/o1/1",))
    assert receiver.submit(first) == "queued"
    assert receiver.submit(first) == "duplicate"  # the same version again
    script_wait = 0
    while receiver.stats()["running"] == 0 and script_wait < 100:  # the worker took p1
        threading.Event().wait(0.01)
        script_wait += 1
    assert receiver.submit(Notice("resource", patients=("p2",), keys=("a",))) == "queued"
    assert receiver.submit(Notice("resource", patients=("p2",), keys=("b",))) == "duplicate"
    assert receiver.submit(Notice("resource", patients=("p3",), keys=("c",))) == "queued"
    assert receiver.submit(Notice("resource", patients=("p4",), keys=("d",))) == "busy"
    assert receiver.submit(Notice("heartbeat")) == "ignored"
    script.gate.set()
    assert receiver.wait_idle(5)
    assert script.calls == ["p1", "p2", "p3"]
    stats = receiver.stats()
    assert (stats["evaluated"], stats["written"], stats["duplicates"]) == (3, 9, 2)
    assert stats["refused_busy"] == 1


def test_the_receiver_retries_transient_failures_with_back_off() -> None:
    waits: list[float] = []
    script = Script(
        [FhirServerError("busy", status=503), FhirServerError("gone", unreachable=True)]
    )
    receiver = Receiver(script, lambda ref: None, retries=4, backoff=0.5, sleep=waits.append)
    receiver.submit(Notice("resource", patients=("p1",)))
    assert receiver.wait_idle(5)
    assert script.calls == ["p1", "p1", "p1"]
    assert waits == [0.5, 1.0]
    assert receiver.stats()["evaluated"] == 1


def test_the_receiver_gives_up_on_lasting_and_on_data_failures() -> None:
    script = Script([FhirServerError("x", status=500)] * 2 + [InputError("bad record")])
    receiver = Receiver(script, lambda ref: None, retries=2, sleep=lambda s: None)
    receiver.submit(Notice("resource", patients=("p1",)))
    receiver.submit(Notice("resource", patients=("p2",)))
    assert receiver.wait_idle(5)
    assert script.calls == ["p1", "p1", "p2"]
    assert receiver.stats()["failed"] == 2


def test_a_focus_is_read_to_find_its_patient() -> None:
    script = Script([])
    receiver = Receiver(script, lambda ref: "p5" if ref == "Observation/o9" else None)
    receiver.submit(Notice("event", focus=("Observation/o9",)))
    receiver.submit(Notice("event", focus=("Observation/unknown",)))
    assert receiver.wait_idle(5)
    assert script.calls == ["p5"]
    assert receiver.stats()["ignored"] == 1


class _Caps:
    transaction = True


class _Client:
    base = "http://127.0.0.1:1/fhir"

    def capabilities(self) -> _Caps:
        return _Caps()


def test_write_back_batches_patients_within_the_bound_and_never_splits_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, date, datetime

    from trdfhir.bulk import writeback
    from trdfhir.client import WriteOutcome, WritePlan

    sizes = {"a": 3, "b": 3, "c": 5, "d": 9, "e": 2, "f": 2}  # entries, the Device included
    posted: list[list[str]] = []

    def emit(assessment: Any, now: datetime) -> dict[str, Any]:
        pid = assessment
        entries = [{"fullUrl": "urn:uuid:device"}]
        entries += [{"fullUrl": f"urn:uuid:{pid}-{i}"} for i in range(sizes[pid] - 1)]
        return {"resourceType": "Bundle", "type": "transaction", "entry": entries}

    def post(client: Any, bundle: dict[str, Any]) -> WriteOutcome:
        urls = [e["fullUrl"] for e in bundle["entry"]]
        posted.append(sorted({u.split(":")[2].split("-")[0] for u in urls} - {"device"}))
        return WriteOutcome(mode="transaction", created=tuple(urls))

    def write(client: Any, bundle: dict[str, Any], patient: str) -> WriteOutcome:
        return post(client, bundle)

    monkeypatch.setattr(writeback, "evaluate", lambda resources, **kw: resources[0]["id"])
    monkeypatch.setattr(writeback, "emit_bundle", emit)
    monkeypatch.setattr(
        writeback, "plan_write", lambda c, b: WritePlan(("POST Observation",), (), ())
    )
    monkeypatch.setattr(writeback, "post_transaction", post)
    monkeypatch.setattr(writeback, "write_bundle", write)
    records = [(pid, [{"id": pid}]) for pid in sizes]
    report = writeback.write_back(
        _Client(),  # type: ignore[arg-type]
        records,
        as_of=date(2026, 11, 21),
        settings=None,  # type: ignore[arg-type]
        mappings=None,  # type: ignore[arg-type]
        now=datetime(2026, 11, 21, tzinfo=UTC),
        resume=tmp_path / "state.jsonl",
        batch_entries=6,
    )
    # a+b: 3 + 3 = 6; c: 5, and 5 + 9 > 6; d: 9 > 6 alone, never split; e+f: 2 + 2
    assert posted == [["a", "b"], ["c"], ["d"], ["e", "f"]]
    assert report.written_patients == 6 and not report.errors
    done = (tmp_path / "state.jsonl").read_text()
    assert all(f'"done": "{p}"' in done for p in sizes)


@pytest.mark.parametrize(
    ("text", "fraction"),
    [("45% complete", 0.45), ("step 3 of 8", 0.375), ("12/48 types", 0.25), ("collecting", None)],
)
def test_x_progress_is_read_for_the_bar_when_it_holds_a_number(
    text: str, fraction: float | None
) -> None:
    from trdfhir.client.bulk_export import progress_fraction

    assert progress_fraction(text) == fraction


def test_the_display_draws_a_bar_on_a_terminal_and_lines_elsewhere() -> None:
    import io

    from trdfhir.client.bulk_export import Display

    term = io.StringIO()
    Display(term, tty=True).show("export 50% (3 s)", fraction=0.5)
    assert term.getvalue().startswith("\r[############............] export 50%")
    plain = io.StringIO()
    shown = Display(plain, tty=False)
    shown.show("export writing (1 s)")
    shown.show("export writing (1 s)")  # unchanged: not repeated
    assert plain.getvalue() == "trd-fhir export: export writing (1 s)\n"


def test_a_notification_whose_re_evaluation_failed_is_handled_when_redelivered() -> None:
    """The de-duplication keys of a failed job are forgotten: the server's redelivery of the
    same notification is re-evaluated, not dropped as a duplicate."""
    script = Script([InputError("bad record")])
    receiver = Receiver(script, lambda ref: None, retries=1, sleep=lambda s: None)
    notice = Notice("resource", patients=("p1",), keys=("Observation/o1/1",))
    assert receiver.submit(notice) == "queued"
    assert receiver.wait_idle(5)
    assert receiver.stats()["failed"] == 1
    assert receiver.submit(notice) == "queued"  # redelivered after the failure
    assert receiver.wait_idle(5)
    assert script.calls == ["p1", "p1"]
    assert receiver.submit(notice) == "duplicate"  # handled now: a third delivery is dropped
