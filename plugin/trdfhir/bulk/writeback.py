"""Population write-back: each patient's assessment written to a FHIR server, idempotently.

    report = write_back(client, records, as_of=..., settings=..., mappings=..., now=...,
                        resume=Path("out/write-state.jsonl"))

`records` yields (patient id, that patient's resources): from the buckets of a bulk run
(`bucket_records`) or from records read one by one (`sync`-style, incremental runs). For each
patient: evaluate, emit the write-back Bundle (`emit_bundle`, as `sync --write` does), and ask the
server what it lacks (`plan_write`); a patient whose resources are all there already is done
without a write. The rest are written in transactions of at most `batch_entries` entries that
join several patients' Bundles (the plugin's Device, the same entry in each, is sent once; a
patient whose Bundle alone is larger goes in a transaction of its own: never split, so each
patient's write stays atomic); a
server without transactions gets each patient's Bundle entry by entry (`write_bundle`). A batch
that fails is written again patient by patient, so one bad record fails alone.

Resumable and idempotent: every patient finished is appended to the resume file (sync's
format); an interrupted run skips them, and what an interruption left half-done is on the server
already, so its plan finds it (conditional creates): running twice writes once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from ..assessment import evaluate
from ..client import FhirClient, PartialWriteError, plan_write, post_transaction, write_bundle
from ..emit import emit_bundle
from ..errors import AuthError, FhirServerError, TrdFhirError
from ..mappings import Mappings
from ..settings import Settings

log = logging.getLogger("trdfhir.client")

DEFAULT_BATCH_ENTRIES = 200
Json = dict[str, Any]
# After the client's own retries, these mean the server refuses service: stop, don't hammer it.
_REFUSING = (429, 503)


@dataclass
class WriteReport:
    patients: int = 0
    skipped: int = 0  # done by an earlier (interrupted) run
    unchanged: int = 0  # everything already on the server
    written_patients: int = 0
    resources_written: int = 0
    transactions: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (patient id, one line)
    stopped: str | None = None  # why the run stopped early
    exit_code: int = 0  # of the first failure
    incomplete: bool = False  # a server or credentials failure: a re-run should try again

    def fail(self, pid: str, error: TrdFhirError) -> None:
        self.errors.append((pid, error.one_line()))
        self.exit_code = self.exit_code or error.exit_code
        self.incomplete = self.incomplete or isinstance(error, FhirServerError | AuthError)

    def as_json(self) -> dict[str, Any]:
        return {
            "patients": self.patients,
            "skipped": self.skipped,
            "unchanged": self.unchanged,
            "written_patients": self.written_patients,
            "resources_written": self.resources_written,
            "transactions": self.transactions,
            "failures": len(self.errors),
            "stopped": self.stopped,
        }


def _fatal(error: TrdFhirError) -> bool:
    return isinstance(error, AuthError) or (
        isinstance(error, FhirServerError) and (error.unreachable or error.status in _REFUSING)
    )


def combine(bundles: list[Json]) -> Json:
    """One transaction of several patients' Bundles; an entry with the same fullUrl (the
    plugin's Device, identical in each) is kept once."""
    entries: list[Json] = []
    seen: set[str] = set()
    for bundle in bundles:
        for entry in bundle.get("entry") or []:
            url = entry.get("fullUrl")
            if isinstance(url, str):
                if url in seen:
                    continue
                seen.add(url)
            entries.append(entry)
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


class _Batch:
    def __init__(self) -> None:
        self.items: list[tuple[str, Json]] = []
        self.entries = 0

    def add(self, pid: str, bundle: Json) -> None:
        self.items.append((pid, bundle))
        self.entries += len(bundle.get("entry") or [])


def write_back(
    client: FhirClient,
    records: Iterable[tuple[str, list[Json]]],
    *,
    as_of: date,
    settings: Settings,
    mappings: Mappings,
    now: datetime,
    resume: Path,
    batch_entries: int = DEFAULT_BATCH_ENTRIES,
    stream: IO[str] | None = None,
) -> WriteReport:
    """Write every patient's assessment (see the module docstring)."""
    from ..commands.sync import ResumeState  # sync's resume file: one format for both

    if batch_entries < 1:
        raise ValueError("batch_entries must be at least 1")
    state = ResumeState.open(str(resume), server=client.base, as_of=as_of, write=True)
    report = WriteReport()
    batch = _Batch()
    transactions = client.capabilities().transaction
    for pid, resources in records:
        report.patients += 1
        if pid in state.done:
            report.skipped += 1
            continue
        try:
            assessment = evaluate(resources, as_of=as_of, settings=settings, mappings=mappings)
            bundle = emit_bundle(assessment, now=now)
            plan = plan_write(client, bundle)
        except TrdFhirError as exc:
            report.fail(pid, exc)
            if _fatal(exc):
                report.stopped = exc.one_line()
                break
            continue
        if plan.redundant:
            report.unchanged += 1
            state.record(pid)
            continue
        size = len(bundle.get("entry") or [])
        if batch.items and batch.entries + size > batch_entries:
            if not _flush(client, batch, state, report, transactions):
                break
            batch = _Batch()
        batch.add(pid, bundle)
        if not transactions or batch.entries >= batch_entries:
            if not _flush(client, batch, state, report, transactions):
                break
            batch = _Batch()
    else:
        _flush(client, batch, state, report, transactions)
    _say(stream, report)
    return report


def _flush(
    client: FhirClient, batch: _Batch, state: Any, report: WriteReport, transactions: bool
) -> bool:
    """Write a batch; False when the run must stop."""
    if not batch.items:
        return True
    if transactions and len(batch.items) > 1:
        try:
            outcome = post_transaction(client, combine([b for _, b in batch.items]))
        except TrdFhirError as exc:
            if _fatal(exc):
                for pid, _ in batch.items:
                    report.fail(pid, exc)
                report.stopped = exc.one_line()
                return False
            log.info("a batch of %d patients failed (%s); one by one", len(batch.items), exc)
        else:
            report.transactions += 1
            report.resources_written += outcome.written
            report.written_patients += len(batch.items)
            for pid, _ in batch.items:
                state.record(pid)
            return True
    for pid, bundle in batch.items:
        try:
            outcome = write_bundle(client, bundle, patient=pid)
        except TrdFhirError as exc:
            if isinstance(exc, PartialWriteError):
                report.resources_written += len(exc.written)
            report.fail(pid, exc)
            if _fatal(exc):
                report.stopped = exc.one_line()
                return False
            continue
        report.transactions += outcome.mode == "transaction"
        report.resources_written += outcome.written
        report.written_patients += 1
        state.record(pid)
    return True


def _say(stream: IO[str] | None, report: WriteReport) -> None:
    if stream is None:
        return
    stream.write(
        f"trd-fhir bulk: write-back: {report.patients} patients, {report.written_patients} "
        f"written ({report.resources_written} resources in {report.transactions} transactions), "
        f"{report.unchanged} already up to date, {report.skipped} done before, "
        f"{len(report.errors)} failed\n"
    )
    for pid, message in report.errors[:5]:
        stream.write(f"  Patient/{pid}: {message}\n")
    if report.stopped:
        stream.write(f"  stopped: {report.stopped}\n")
    stream.flush()


def bucket_records(work: Path, config: Any, buckets: int) -> Iterator[tuple[str, list[Json]]]:
    """(patient id, resources) of every patient in the buckets of a bulk run (kept with
    keep_work), one bucket in memory at a time, in the order the bulk run evaluates them."""
    from .ndjson import loads
    from .worker import Worker, referenced_medications

    worker = Worker(config)
    for bucket in range(buckets):
        groups = worker._read_bucket(bucket)
        for key in sorted(groups):
            lines = sorted(groups[key], key=lambda item: item[0])
            resources: list[Json] = [loads(raw) for _, raw in lines]
            extra = referenced_medications(resources, worker.shared)
            patient = loads(key)
            if not isinstance(patient, str) or not patient.startswith("Patient/"):
                continue
            yield patient.split("/", 1)[1], [r for _, r in extra] + resources
