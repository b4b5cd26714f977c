"""Phase 1 of a bulk run: stream every input file once and spread its lines over K bucket files
by a stable hash of the patient, so that phase 2 can take one bucket at a time in memory.

A bucket line is `"<patient reference as JSON>"\\t<file index>\\t<line number>\\t<the input line>`;
the file index and line number give each resource its place in the input (its order within the
patient, and where to point an error). Medication resources (no patient) go to `shared.ndjson`
in the same format with an empty patient; other resources without a patient (Practitioner,
Organization, ...) are counted and skipped: the evaluation never reads them. Lines that are not
a FHIR resource of a patient are reported with their file and line and skipped, as are lines
over the size limit (never parsed) and lines nested too deeply to parse.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..fhir.resource_types import R4_RESOURCE_TYPES
from ..ingest.grouping import patient_of
from ..limits import DEFAULT_MAX_LINE_BYTES
from .ndjson import InputFile, LongLine, dumps, loads, read_lines

SHARED_TYPES = frozenset({"Medication"})
_BUFFER = 1 << 16


def bucket_of(patient: str, buckets: int) -> int:
    """A stable bucket for a patient reference (the same on every run and machine)."""
    return zlib.crc32(patient.encode("utf-8")) % buckets


def patient_key(patient: str) -> bytes:
    """The patient's reference as a JSON string: the sort key of every part file. (Not orjson:
    its results hold a 4 KiB buffer each, too much for a cache of keys.)"""
    return json.dumps(patient, ensure_ascii=False).encode("utf-8")


def bucket_path(work: Path, bucket: int) -> Path:
    return work / "buckets" / f"b{bucket:05d}.ndjson"


def shared_path(work: Path) -> Path:
    return work / "shared.ndjson"


@dataclass
class PartitionStats:
    lines: int = 0
    resources: int = 0  # lines routed to a patient
    shared: int = 0
    bad_lines: int = 0
    ignored: Counter[str] = field(default_factory=Counter)  # resources without a patient
    by_type: Counter[str] = field(default_factory=Counter)
    bytes_read: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "resources": self.resources,
            "shared": self.shared,
            "bad_lines": self.bad_lines,
            "ignored_without_patient": dict(sorted(self.ignored.items())),
            "by_type": dict(sorted(self.by_type.items())),
            "bytes_read": self.bytes_read,
        }


def _problem(resource: Any) -> str | None:
    if not isinstance(resource, dict):
        names = {list: "a list", str: "a string", int: "a number", float: "a number"}
        return (
            f"expected a FHIR resource (a JSON object), got {names.get(type(resource), 'a value')}"
        )
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str):
        return "resource without a resourceType"
    if rtype not in R4_RESOURCE_TYPES:
        return f"'{rtype}' is not a FHIR R4 resource type"
    if rtype == "Bundle":
        return "a Bundle in a Bulk Data file (expected one resource per line)"
    if rtype == "Patient" and not isinstance(resource.get("id"), str):
        return "Patient without an id"
    return None


def partition(
    files: list[InputFile],
    work: Path,
    buckets: int,
    errors: IO[bytes],
    progress: Callable[[int], None] | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> PartitionStats:
    """Spread the lines of `files` over `buckets` bucket files in `work`; bad lines go to
    `errors` as NDJSON ({"kind", "file", "line", "error"}), lines over `max_line_bytes`
    without being parsed."""
    (work / "buckets").mkdir(parents=True, exist_ok=True)
    stats = PartitionStats()
    outs: list[IO[bytes]] = [
        open(bucket_path(work, b), "wb", buffering=_BUFFER) for b in range(buckets)
    ]
    done_bytes = 0
    try:
        with open(shared_path(work), "wb", buffering=_BUFFER) as shared:
            for f in files:
                tell = (lambda n, base=done_bytes: progress(base + n)) if progress else None
                _one_file(f, outs, shared, errors, stats, tell, max_line_bytes)
                done_bytes += f.size
    finally:
        for out in outs:
            out.close()
    stats.bytes_read = done_bytes
    return stats


def _patient(resource: dict[str, Any]) -> str | None:
    """`patient_of`, with a shortcut for the common `"subject": {"reference": "Patient/<id>"}`
    that gives the same answer."""
    subject = resource.get("subject")
    if type(subject) is dict and resource["resourceType"] != "Patient":
        ref = subject.get("reference")
        if type(ref) is str and ref.startswith("Patient/") and ref.count("/") == 1:
            return ref
    return patient_of(resource)


def _one_file(
    f: InputFile,
    outs: list[IO[bytes]],
    shared: IO[bytes],
    errors: IO[bytes],
    stats: PartitionStats,
    tell: Callable[[int], None] | None,
    max_line_bytes: int,
) -> None:
    buckets = len(outs)
    where = b"\t%d\t" % f.index
    keys: dict[str, tuple[IO[bytes], bytes]] = {}  # patient -> (bucket file, key): a bounded cache
    by_type = stats.by_type
    lines = resources = 0
    for number, (_offset, raw) in enumerate(read_lines(f, tell, max_line_bytes), start=1):
        if isinstance(raw, LongLine):
            lines += 1
            message = f"the line is {raw.size} bytes, over the limit of {max_line_bytes} bytes"
            _bad(errors, stats, f, number, message + "; not read")
            continue
        line = raw.strip()
        if not line:
            continue
        lines += 1
        try:
            resource = loads(line)
        except ValueError as exc:  # also a line nested too deeply to parse
            _bad(errors, stats, f, number, f"invalid JSON: {exc}")
            continue
        problem = _problem(resource)
        if problem is not None:
            _bad(errors, stats, f, number, problem)
            continue
        by_type[resource["resourceType"]] += 1
        patient = _patient(resource)
        if patient is None:
            rtype = resource["resourceType"]
            if rtype in SHARED_TYPES and isinstance(resource.get("id"), str):
                shared.write(b'""%s%d\t%s\n' % (where, number, line))
                stats.shared += 1
            else:
                stats.ignored[rtype] += 1
            continue
        found = keys.get(patient)
        if found is None:
            found = (outs[bucket_of(patient, buckets)], patient_key(patient))
            if len(keys) >= 20_000:
                keys.clear()
            keys[patient] = found
        out, key = found
        out.write(b"%s%s%d\t%s\n" % (key, where, number, line))
        resources += 1
    stats.lines += lines
    stats.resources += resources


def bad_line(file: str, line: int, message: str) -> dict[str, Any]:
    """The errors.ndjson record of a line that is not a FHIR resource of a patient."""
    return {"kind": "bad-line", "file": file, "line": line, "error": message}


def _bad(errors: IO[bytes], stats: PartitionStats, f: InputFile, line: int, message: str) -> None:
    stats.bad_lines += 1
    errors.write(dumps(bad_line(f.name, line, message)) + b"\n")


__all__ = ["PartitionStats", "bad_line", "bucket_of", "bucket_path", "partition", "shared_path"]
