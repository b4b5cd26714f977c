"""Phase 2 of a bulk run, in a worker process: one bucket at a time.

A worker loads the mappings, settings and the shared Medication index once. For a bucket it
reads the bucket file (raw lines, not parsed), groups the lines by patient, and then parses and
evaluates one patient at a time, so memory holds one bucket's bytes plus one patient's resources.
Each patient gets the Medication resources its medication statements, requests, dispenses and
administrations reference, in front of its own resources in input order (as `group_by_patient`
would place them). Results go to part files (one per output, sorted by patient) written under a
temporary name and renamed when complete.
"""

from __future__ import annotations

import csv
import io
import os
import re
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from ..assessment import evaluate
from ..errors import InputError, TrdFhirError
from ..fhir.values import reference_target
from ..mappings import Mappings, load_mappings
from ..reading import empty_report, merge_reports, reading_report
from ..settings import Settings
from ..staging import registry
from .ndjson import create_new, dumps, loads
from .partition import bucket_path, shared_path

Json = dict[str, Any]
Origin = tuple[int, int]  # (file index, line number)

_MEDICATION_USERS = frozenset(
    {"MedicationStatement", "MedicationRequest", "MedicationDispense", "MedicationAdministration"}
)
_INPUT_INDEX = re.compile(r"^input\[(\d+)\]")

SEVERITIES = ("urgent", "warning", "info")


def csv_columns() -> list[str]:
    columns = ["patient", "as_of", "episode_start", "episode_months", "trials"]
    for spec in registry():  # each model's columns, as its declaration's `csv_keys` say
        columns += spec.csv_columns
    columns += [f"findings_{s}" for s in SEVERITIES]
    columns += ["urgent_codes", "warnings"]
    return columns


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return dumps(value).decode("utf-8")


def csv_row(summary: Json) -> list[str]:
    episode = summary.get("episode") or {}
    row = [
        summary["patient"],
        summary["as_of"],
        _cell(episode.get("start")),
        _cell(episode.get("months")),
        str(len(summary.get("trials") or [])),
    ]
    stages = summary.get("stages") or {}
    for spec in registry():
        row += [_cell(v) for v in spec.csv_cells(stages.get(spec.name))]
    findings = summary.get("findings") or []
    by_severity = Counter(f.get("severity") for f in findings)
    row += [str(by_severity.get(s, 0)) for s in SEVERITIES]
    row.append(";".join(f["code"] for f in findings if f.get("severity") == "urgent"))
    row.append(str(len(summary.get("warnings") or [])))
    return row


def csv_line(row: list[str]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(row)
    return buffer.getvalue().encode("utf-8")


def import_resources(bundle: Json) -> list[Json]:
    """A transaction Bundle's resources made ready for `$import`: each gets the id of its
    `urn:uuid` full URL, and references between them become `Type/id`."""
    targets: dict[str, str] = {}
    resources = []
    for entry in bundle.get("entry") or []:
        resource = entry["resource"]
        url = entry.get("fullUrl") or ""
        if url.startswith("urn:uuid:"):
            rid = url[len("urn:uuid:") :]
            resource["id"] = rid
            targets[url] = f"{resource['resourceType']}/{rid}"
        resources.append(resource)
    for resource in resources:
        _rewrite(resource, targets)
    return resources


def _rewrite(value: Any, targets: dict[str, str]) -> None:
    if isinstance(value, dict):
        ref = value.get("reference")
        if isinstance(ref, str) and ref in targets:
            value["reference"] = targets[ref]
        for item in value.values():
            if isinstance(item, dict | list):
                _rewrite(item, targets)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list):
                _rewrite(item, targets)


@dataclass(frozen=True)
class WorkerConfig:
    work: str
    as_of: str
    mappings: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    fhir: bool = False
    now: str | None = None  # ISO instant for the FHIR output
    files: tuple[str, ...] = ()  # input file names by index, for error reports


@dataclass
class BucketResult:
    bucket: int
    patients: int = 0
    resources: int = 0
    failed: int = 0  # patients whose input was unusable (InputError)
    internal: int = 0  # patients whose evaluation raised something else
    seconds: float = 0.0
    device: bytes | None = None  # the plugin's Device (FHIR output), identical for all
    fhir_types: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "patients": self.patients,
            "resources": self.resources,
            "failed": self.failed,
            "internal": self.internal,
            "seconds": round(self.seconds, 3),
            "fhir_types": self.fhir_types,
        }


@dataclass
class Outcome:
    """What one patient gives to each output: the pure result of `Evaluator.evaluate`, written
    to part files by the local engine and to rows by the Spark engine (spark.py)."""

    summary: bytes | None = None  # a summaries.ndjson line, without its newline
    csv: bytes | None = None  # a summaries.csv line, with its newline
    errors: list[Json] = field(default_factory=list)
    fhir: list[tuple[str, bytes]] = field(default_factory=list)  # (resource type, line)
    device: bytes | None = None
    failed: bool = False
    internal: bool = False
    reading: Json | None = None  # the patient's reading report (reading.py), merged per bucket


def referenced_medications(
    resources: list[Json], shared: Mapping[str, tuple[Origin, Json]]
) -> list[tuple[Origin, Json]]:
    """The shared Medications (by `Medication/<id>`) that the medication statements, requests,
    dispenses and administrations of `resources` reference, in input order."""
    if not shared:
        return []
    wanted: set[str] = set()
    for r in resources:
        if r.get("resourceType") in _MEDICATION_USERS:
            target = reference_target(r.get("medicationReference"))
            if target and target.startswith("Medication/") and target in shared:
                wanted.add(target)
    return sorted((shared[t] for t in wanted), key=lambda item: item[0])


class Evaluator:
    """Evaluates one patient at a time with the mappings and settings loaded once."""

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.maps: Mappings = load_mappings(config.mappings)
        self.settings: Settings = self.maps.settings.with_overrides(config.overrides)
        self.as_of = date.fromisoformat(config.as_of)
        self.now = datetime.fromisoformat(config.now) if config.now else None
        self.emit: Any = None
        if config.fhir:
            from ..emit import emit_bundle

            self.emit = emit_bundle

    def evaluate(self, patient: str, origins: list[Origin], resources: list[Json]) -> Outcome:
        """The outputs of one patient whose `resources` (shared Medications first, then its
        own in input order) come from `origins` (file index, line number)."""
        outcome = Outcome()
        try:
            assessment = evaluate(
                resources, as_of=self.as_of, settings=self.settings, mappings=self.maps
            )
            summary = assessment.summary()
        except TrdFhirError as exc:
            kind = "invalid-patient" if isinstance(exc, InputError) else "error"
            outcome.failed = True
            outcome.errors.append(self._error(patient, kind, exc.message, exc.location, origins))
            return outcome
        except Exception as exc:  # a bug: reported, and the run goes on
            outcome.internal = True
            message = f"{type(exc).__name__}: {exc}"
            outcome.errors.append(self._error(patient, "internal-error", message, None, origins))
            return outcome
        outcome.summary = dumps(summary)
        outcome.csv = csv_line(csv_row(summary))
        outcome.reading = reading_report(assessment)
        if self.emit is not None and self.now is not None:
            self._fhir(assessment, outcome)
        return outcome

    def _error(
        self,
        patient: str,
        kind: str,
        message: str,
        location: str | None,
        origins: list[Origin],
    ) -> Json:
        record: Json = {"kind": kind, "patient": patient, "error": message}
        if location:
            record["location"] = location
            m = _INPUT_INDEX.match(location)
            if m and int(m[1]) < len(origins):
                fi, ln = origins[int(m[1])]
                names = self.config.files
                record["file"] = names[fi] if fi < len(names) else fi
                record["line"] = ln
        return record

    def _fhir(self, assessment: Any, outcome: Outcome) -> None:
        try:
            bundle = self.emit(assessment, now=self.now)
        except TrdFhirError as exc:  # e.g. a patient reference that is not Patient/<id>
            outcome.errors.append(
                {"kind": "fhir-output", "patient": assessment.patient, "error": exc.message}
            )
            return
        for resource in import_resources(bundle):
            rtype = resource["resourceType"]
            if rtype == "Device":
                outcome.device = dumps(resource)
                continue
            outcome.fhir.append((rtype, dumps(resource)))


class Worker(Evaluator):
    """Evaluates buckets; one per process (see `init_worker`), or in the main process."""

    def __init__(self, config: WorkerConfig) -> None:
        super().__init__(config)
        self.work = Path(config.work)
        self.shared = self._load_shared()
        self.reading: dict[str, Any] = empty_report()  # of the bucket being run

    def _load_shared(self) -> dict[str, tuple[Origin, Json]]:
        shared: dict[str, tuple[Origin, Json]] = {}
        path = shared_path(self.work)
        if not path.exists():
            return shared
        with open(path, "rb") as f:
            for line in f:
                _key, fi, ln, raw = line.split(b"\t", 3)
                resource = loads(raw)
                shared[f"Medication/{resource['id']}"] = ((int(fi), int(ln)), resource)
        return shared

    def run(self, bucket: int) -> BucketResult:
        started = time.perf_counter()
        result = BucketResult(bucket)
        groups = self._read_bucket(bucket)
        parts = _Parts(self.work, bucket)
        self.reading = empty_report()
        try:
            for key in sorted(groups):
                self._patient(key, groups[key], parts, result)
            write_reading(self.work, bucket, self.reading)
            parts.commit()
        finally:
            parts.close()
        result.fhir_types = sorted(parts.fhir)
        result.seconds = time.perf_counter() - started
        return result

    def _read_bucket(self, bucket: int) -> dict[bytes, list[tuple[Origin, bytes]]]:
        groups: dict[bytes, list[tuple[Origin, bytes]]] = {}
        with open(bucket_path(self.work, bucket), "rb") as f:
            for line in f:
                key, fi, ln, raw = line.split(b"\t", 3)
                item = ((int(fi), int(ln)), raw)
                found = groups.get(key)
                if found is None:
                    groups[key] = [item]
                else:
                    found.append(item)
        return groups

    def _patient(
        self, key: bytes, lines: list[tuple[Origin, bytes]], parts: _Parts, result: BucketResult
    ) -> None:
        lines.sort(key=lambda item: item[0])
        resources: list[Json] = [loads(raw) for _, raw in lines]
        origins = [origin for origin, _ in lines]
        extra = referenced_medications(resources, self.shared)
        if extra:
            origins = [o for o, _ in extra] + origins
            resources = [r for _, r in extra] + resources
        result.patients += 1
        result.resources += len(lines)
        outcome = self.evaluate(loads(key), origins, resources)
        result.failed += outcome.failed
        result.internal += outcome.internal
        if outcome.summary is not None and outcome.csv is not None:
            parts.summary(key, outcome.summary)
            parts.csv(key, outcome.csv)
        for record in outcome.errors:
            parts.error(key, record)
        for rtype, line in outcome.fhir:
            parts.fhir_line(rtype, key, line)
        if outcome.device is not None:
            result.device = outcome.device
        if outcome.reading is not None:
            self.reading = merge_reports(self.reading, outcome.reading)


def reading_path(work: Path, bucket: int) -> Path:
    return work / "parts" / f"b{bucket:05d}.reading.json"


def write_reading(work: Path, bucket: int, report: dict[str, Any]) -> None:
    """The bucket's reading report (merged into reading.json by run.py), written whole or not."""
    path = reading_path(work, bucket)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(dumps(report))
    os.replace(tmp, path)


class _Parts:
    """The part files of one bucket: `<key>\\t<line>` lines, sorted by key; renamed into place
    by commit()."""

    def __init__(self, work: Path, bucket: int) -> None:
        self.dir = work / "parts"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.stem = f"b{bucket:05d}"
        self.files: dict[str, IO[bytes]] = {}
        self.fhir: set[str] = set()

    def _file(self, name: str) -> IO[bytes]:
        f = self.files.get(name)
        if f is None:
            f = create_new(self.dir / f"{self.stem}.{name}.tmp")
            self.files[name] = f
        return f

    def summary(self, key: bytes, line: bytes) -> None:
        self._file("summaries").write(key + b"\t" + line + b"\n")

    def csv(self, key: bytes, line: bytes) -> None:
        self._file("csv").write(key + b"\t" + line)

    def error(self, key: bytes, record: Json) -> None:
        self._file("errors").write(key + b"\t" + dumps(record) + b"\n")

    def fhir_line(self, rtype: str, key: bytes, line: bytes) -> None:
        self.fhir.add(rtype)
        self._file(f"fhir.{rtype}").write(key + b"\t" + line + b"\n")

    def commit(self) -> None:
        for name in ("summaries", "csv", "errors"):
            self._file(name)  # every bucket has its three parts, empty or not
        for name, f in self.files.items():
            f.flush()
            os.fsync(f.fileno())
            f.close()
            tmp = self.dir / f"{self.stem}.{name}.tmp"
            os.replace(tmp, self.dir / f"{self.stem}.{name}")
        self.files = {}

    def close(self) -> None:
        for f in self.files.values():
            f.close()


# -- process pool plumbing ---------------------------------------------------------------------

_WORKER: Worker | None = None


def init_worker(config: WorkerConfig) -> None:
    global _WORKER
    _WORKER = Worker(config)


def run_bucket(bucket: int) -> BucketResult:
    if _WORKER is None:  # pragma: no cover - init_worker always runs first
        raise RuntimeError("worker not initialised")
    return _WORKER.run(bucket)


__all__ = [
    "BucketResult",
    "Evaluator",
    "Outcome",
    "Worker",
    "WorkerConfig",
    "csv_columns",
    "csv_row",
    "import_resources",
    "init_worker",
    "referenced_medications",
    "run_bucket",
]
