"""`trd-fhir bulk --fhir-base URL`: export, stage and (with --write) write back, incrementally.

The output directory holds, besides the bulk outputs (summaries.ndjson, summaries.csv,
errors.ndjson):

  export/             the first (full) export, as `trd-fhir export` makes it
  changes/            the latest incremental export (only what changed)
  incremental/        the changed patients' whole records (`records.ndjson`) and their staging
  remote-state.json   the phase of the run and the transactionTime of the last complete run
  write-state-N.jsonl with --write: the patients written by run N (resumable)

First run: a full export, staged as `trd-fhir bulk --input export/` would. Every later run asks the
server for the changes since the previous run's transactionTime (or --since), finds the patients
they touch (resources trd-fhir wrote itself aside), reads each such patient's whole record as
`trd-fhir sync` does, stages only them and merges their rows into the outputs (their old rows are
replaced; the other patients' rows, with their as-of dates, stay). Every phase resumes where an
interruption left it.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

import requests

from ..client import FhirClient, fetch_patient
from ..client.bulk_export import ExportRequest, load_state, read_ndjson, read_state, run_export
from ..errors import EXIT_INTERNAL, FhirServerError, InputError
from ..ingest.bundle import is_own_output
from ..ingest.grouping import patient_of
from ..mappings import load_mappings
from .partition import patient_key
from .run import WORK_DIR, BulkOptions, BulkReport, run_bulk
from .worker import WorkerConfig
from .writeback import WriteReport, bucket_records, write_back

STATE = "remote-state.json"
EXPORT_DIR = "export"
CHANGES_DIR = "changes"
INCREMENTAL_DIR = "incremental"
RECORDS = "records.ndjson"
STATE_VERSION = 1


def _save(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def changed_patients(directory: Path) -> list[str]:
    """Ids of the patients an (incremental) export touches, trd-fhir's own output aside."""
    found: set[str] = set()
    for path in sorted(directory.glob("*.ndjson*")):
        if not path.name.endswith((".ndjson", ".ndjson.gz")):
            continue
        for resource in read_ndjson(path):
            if is_own_output(resource):
                continue
            if resource.get("resourceType") == "Patient" and isinstance(resource.get("id"), str):
                found.add(resource["id"])
                continue
            owner = patient_of(resource)
            if owner and owner.startswith("Patient/"):
                found.add(owner.split("/", 1)[1])
    return sorted(found)


class RemoteRun:
    def __init__(
        self,
        client: FhirClient,
        request: ExportRequest,
        out: Path,
        options: Callable[[Path, Path, date | None, bool], BulkOptions],
        *,
        as_of: date | None,
        write: bool,
        now: datetime,
        batch_entries: int,
        stream: IO[str] | None,
        max_wait: float,
        mappings: str | None = None,
        overrides: dict[str, Any] | None = None,
        keep_work: bool = False,
    ) -> None:
        self.mappings = mappings
        self.overrides = dict(overrides or {})
        self.keep_work = keep_work
        self.client = client
        self.request = request
        self.out = out
        self.options = options
        self.as_of = as_of
        self.write = write
        self.now = now
        self.batch_entries = batch_entries
        self.stream = stream
        self.max_wait = max_wait
        self.path = out / STATE
        self.bulk: BulkReport | None = None
        self.written: WriteReport | None = None
        self.patients_changed: int | None = None

    def say(self, message: str, always: bool = False) -> None:
        """Progress (not with --quiet), or with `always` an outcome of the run."""
        stream = self.stream if self.stream is not None or not always else sys.stderr
        if stream is not None:
            stream.write(f"trd-fhir bulk: {message}\n")
            stream.flush()

    def run(self, restart: bool) -> dict[str, Any]:
        self.out.mkdir(parents=True, exist_ok=True)
        state = None if restart else read_state(self.path, STATE_VERSION)
        if restart:
            for name in (EXPORT_DIR, CHANGES_DIR, INCREMENTAL_DIR):
                shutil.rmtree(self.out / name, ignore_errors=True)
            for old in self.out.glob("write-state-*.jsonl"):
                old.unlink()
            self.path.unlink(missing_ok=True)
        if state is not None and (
            state.get("server") != self.client.base
            or state.get("request") != self.request.identity()
        ):
            raise InputError(
                f"{self.out} holds the results of another server or export; run again with "
                "--restart to discard them, or choose another --output"
            )
        if state is None:
            state = {
                "version": STATE_VERSION,
                "server": self.client.base,
                "request": self.request.identity(),
                "run": 0,
                "phase": "export",
                "transaction_time": None,
                "since": self.request.since,
                "as_of": None,
            }
            _save(self.path, state)
        elif state["phase"] == "done":
            state.update(
                run=state["run"] + 1,
                phase="export",
                since=self.request.since or state["transaction_time"],
                as_of=None,
            )
            _save(self.path, state)
        if state["run"] == 0:
            self._full(state, restart)
        else:
            self._incremental(state)
        return state

    # -- the first run ---------------------------------------------------------------------------
    def _full(self, state: dict[str, Any], restart: bool) -> None:
        export = self.out / EXPORT_DIR
        if state["phase"] == "export":
            self._export(export, state["since"])
            state["phase"] = "stage"
            _save(self.path, state)
        opts = self.options(export, self.out, self.as_of, self.write)
        opts.restart = restart and state["phase"] == "stage"
        self.bulk = run_bulk(opts)
        as_of = date.fromisoformat(self.bulk.state["params"]["as_of"])
        if self.write:
            state["phase"] = "write"
            _save(self.path, state)
            config = WorkerConfig(
                work=str(self.out / WORK_DIR),
                as_of=as_of.isoformat(),
                mappings=opts.mappings,
                overrides=dict(opts.overrides),
            )
            records = bucket_records(Path(config.work), config, int(self.bulk.state["buckets"]))
            self.written = self._write(records, as_of, state)
            if not (self.written.stopped or self.written.incomplete or self.keep_work):
                shutil.rmtree(self.out / WORK_DIR, ignore_errors=True)
        self._done(state, export, as_of)

    # -- later runs ------------------------------------------------------------------------------
    def _incremental(self, state: dict[str, Any]) -> None:
        changes = self.out / CHANGES_DIR
        inc = self.out / INCREMENTAL_DIR
        if state["phase"] == "export":
            self._export(changes, state["since"], fresh=True)
            state["phase"] = "fetch"
            _save(self.path, state)
        changed = changed_patients(changes)
        self.patients_changed = len(changed)
        if state["phase"] == "fetch":
            self.say(
                f"{len(changed)} patients changed since {state['since']}; reading their records",
                always=True,
            )
            self._fetch(changed, inc / "input")
            state["phase"] = "stage"
            _save(self.path, state)
        transaction = str(load_state(changes)["transaction_time"])  # type: ignore[index]
        as_of = self.as_of or date.fromisoformat(transaction[:10])
        if not changed:
            self.say("no patient changed; results unchanged", always=True)
            self._done(state, changes, as_of)
            return
        opts = self.options(inc / "input", inc / "out", as_of, self.write)
        if state["phase"] == "stage":
            opts.restart = True
            self.bulk = run_bulk(opts)
            merge_results(self.out, inc / "out", set(changed))
            state["phase"] = "write" if self.write else "merged"
            _save(self.path, state)
        else:
            self.bulk = run_bulk(opts)  # complete: just its report
        if self.write:
            config = WorkerConfig(
                work=str(inc / "out" / WORK_DIR),
                as_of=as_of.isoformat(),
                mappings=opts.mappings,
                overrides=dict(opts.overrides),
            )
            records = bucket_records(Path(config.work), config, int(self.bulk.state["buckets"]))
            self.written = self._write(records, as_of, state)
        self._done(state, changes, as_of)

    def _fetch(self, changed: list[str], target: Path) -> None:
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        tmp = target / (RECORDS + ".part")
        with open(tmp, "wb") as f:
            for pid in changed:
                try:
                    record = fetch_patient(self.client, pid, exclude=is_own_output)
                except FhirServerError as exc:
                    if exc.status in (404, 410):
                        self.say(f"Patient/{pid}: no longer on the server; left as it was")
                        continue
                    raise
                for resource in record.resources:
                    f.write(
                        json.dumps(resource, separators=(",", ":"), ensure_ascii=False).encode()
                    )
                    f.write(b"\n")
        os.replace(tmp, target / RECORDS)

    # -- shared ----------------------------------------------------------------------------------
    def _export(self, directory: Path, since: str | None, fresh: bool = False) -> None:
        request = ExportRequest(
            level=self.request.level,
            group=self.request.group,
            patients=self.request.patients,
            types=self.request.types,
            since=since,
            type_filters=self.request.type_filters,
        )
        previous = load_state(directory) if directory.exists() else None
        if previous and previous.get("complete") and previous.get("requested_since") == since:
            return  # this run's export, finished before an interruption
        restart = fresh and previous is not None and previous.get("complete") is True
        result = run_export(
            self.client,
            request,
            directory,
            restart=restart,
            stream=self.stream,
            max_wait=self.max_wait,
        )
        from ..commands.export import describe

        for line in describe(result):
            self.say(line)

    def _write(
        self, records: Iterator[tuple[str, list[Any]]], as_of: date, state: dict[str, Any]
    ) -> WriteReport:
        maps = load_mappings(self.mappings)
        settings = maps.settings.with_overrides(self.overrides)
        return write_back(
            self.client,
            records,
            as_of=as_of,
            settings=settings,
            mappings=maps,
            now=self.now,
            resume=self.out / f"write-state-{state['run']}.jsonl",
            batch_entries=self.batch_entries,
            stream=sys.stderr if self.stream is None else self.stream,
        )

    def _done(self, state: dict[str, Any], directory: Path, as_of: date) -> None:
        if self.written is not None and (self.written.stopped or self.written.incomplete):
            return  # the server failed part of the write-back: the next run resumes it
        export_state = load_state(directory) or {}
        state.update(
            phase="done", transaction_time=export_state.get("transaction_time"), as_of=str(as_of)
        )
        _save(self.path, state)


# -- merging an increment into the results -------------------------------------------------------
def _rows(path: Path) -> list[bytes]:
    if not path.exists():
        return []
    with open(path, "rb") as f:
        return [line if line.endswith(b"\n") else line + b"\n" for line in f if line.strip()]


def _json_patient(line: bytes) -> str | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    patient = value.get("patient") if isinstance(value, dict) else None
    return patient if isinstance(patient, str) else None


def _csv_patient(line: bytes) -> str | None:
    row = next(csv.reader(io.StringIO(line.decode("utf-8"))), None)
    return row[0] if row else None


def _merge_file(
    target: Path, new: Path, changed: set[str], patient: Callable[[bytes], str | None], header: bool
) -> None:
    old = _rows(target)
    fresh = _rows(new)
    head: list[bytes] = []
    if header:
        head = old[:1] or fresh[:1]
        old, fresh = old[1:], fresh[1:]
    keep = [(patient(r), r) for r in old if patient(r) not in changed]
    add = [(patient(r), r) for r in fresh]
    loose = [r for p, r in keep if p is None]  # e.g. bad lines of the first export
    rows = sorted(
        ((p, r) for p, r in [*keep, *add] if p is not None), key=lambda x: patient_key(x[0])
    )
    tmp = target.with_name(target.name + ".tmp")
    with open(tmp, "wb") as f:
        f.writelines([*head, *loose, *(r for _, r in rows)])
    os.replace(tmp, target)


def merge_results(out: Path, increment: Path, changed: set[str]) -> None:
    """Replace the changed patients' rows in out's summaries, table and errors by the
    increment's (patient order kept)."""
    refs = {f"Patient/{p}" for p in changed}
    _merge_file(
        out / "summaries.ndjson", increment / "summaries.ndjson", refs, _json_patient, False
    )
    _merge_file(out / "summaries.csv", increment / "summaries.csv", refs, _csv_patient, True)
    _merge_file(out / "errors.ndjson", increment / "errors.ndjson", refs, _json_patient, False)


# -- the command -----------------------------------------------------------------------------------
def run_remote(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    from ..commands.export import export_request, open_client

    if args.input:
        raise InputError("give either --input DIR or --fhir-base URL, not both")
    args.dry_run = False
    request = export_request(args)
    as_of = as_of_option(args.as_of)
    now = now_option(args.now) or datetime.now(UTC)
    stream = None if args.quiet else sys.stderr

    def options(source: Path, target: Path, day: date | None, keep: bool) -> BulkOptions:
        return BulkOptions(
            input=source,
            output=target,
            workers=max(0, args.workers),
            as_of=day,
            fhir=args.fhir,
            buckets=args.buckets,
            mappings=args.mappings,
            overrides=overrides,
            now=now,
            keep_work=keep or args.keep_work,
            progress=not args.quiet,
        )

    session = requests.Session()
    try:
        with open_client(args, session) as client:
            client.capabilities()
            remote = RemoteRun(
                client,
                request,
                Path(args.output),
                options,
                as_of=as_of,
                write=args.write,
                now=now,
                batch_entries=args.batch_entries,
                stream=stream,
                max_wait=args.max_wait,
                mappings=args.mappings,
                overrides=overrides,
                keep_work=args.keep_work,
            )
            remote.run(args.restart)
    finally:
        session.close()
    written = remote.written
    if written is not None and written.errors:
        sys.stderr.write(
            f"trd-fhir: error: write-back: {len(written.errors)} patients failed; first: "
            f"{written.errors[0][1]}\n"
        )
        return written.exit_code
    if remote.bulk is not None and remote.bulk.internal:
        return EXIT_INTERNAL
    return 0


def as_of_option(value: str | None) -> date | None:
    """--as-of, checked."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"--as-of must be YYYY-MM-DD, got {value!r}") from None


def now_option(value: str | None) -> datetime | None:
    """--now, checked; a time without a zone is UTC."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"--now must be an ISO date-time, got {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
