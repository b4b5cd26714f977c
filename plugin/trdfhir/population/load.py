"""Read the outputs of `trd-fhir bulk` (docs/bulk.md): summaries.ndjson, errors.ndjson,
bulk-state.json and, where present, reading.json. The I/O edge of the population report.

A summaries line that is not a JSON object of the assessment contract is not a patient: it is
counted as an error row (`bad_lines`), named by line number, never a traceback.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError

SUMMARIES = "summaries.ndjson"
ERRORS = "errors.ndjson"
STATE = "bulk-state.json"
READING = "reading.json"


@dataclass(frozen=True)
class Results:
    summaries: tuple[dict[str, Any], ...]
    bad_lines: tuple[tuple[int, str], ...]  # (line number, why) of summaries.ndjson
    error_kinds: dict[str, int]  # errors.ndjson rows by kind
    params: dict[str, Any]  # bulk-state.json's params (as_of, overrides, ...), {} when absent
    reading: dict[str, Any] | None  # reading.json, None when absent
    notes: tuple[str, ...] = field(default=())  # what could not be read, for the page


def _summary_problem(row: object) -> str | None:
    if not isinstance(row, dict):
        return "not a JSON object"
    for key, kind in (("patient", str), ("stages", dict), ("trials", list), ("findings", list)):
        if not isinstance(row.get(key), kind):
            return f"no '{key}' of the assessment contract"
    return None


def read_summaries(path: Path) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    rows: list[dict[str, Any]] = []
    bad: list[tuple[int, str]] = []
    try:
        with path.open(encoding="utf-8") as handle:
            for n, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except (json.JSONDecodeError, RecursionError):
                    bad.append((n, "not valid JSON"))
                    continue
                problem = _summary_problem(row)
                if problem:
                    bad.append((n, problem))
                else:
                    rows.append(row)
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    return rows, bad


def _read_json_object(path: Path, notes: list[str]) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        notes.append(f"{path.name} could not be read as JSON")
        return None
    if not isinstance(data, dict):
        notes.append(f"{path.name} is not a JSON object")
        return None
    return data


def _error_kinds(path: Path, notes: list[str]) -> dict[str, int]:
    kinds: Counter[str] = Counter()
    if not path.is_file():
        return {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        notes.append(f"{path.name} could not be read")
        return {}
    for line in lines:
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            kinds["unreadable"] += 1
            continue
        kind = row.get("kind") if isinstance(row, dict) else None
        kinds[kind if isinstance(kind, str) else "unknown"] += 1
    return dict(sorted(kinds.items()))


def read_results(directory: str | Path) -> Results:
    base = Path(directory)
    if not base.is_dir():
        raise InputError(f"{base} is not a directory (the --output of trd-fhir bulk)")
    summaries = base / SUMMARIES
    if not summaries.is_file():
        raise InputError(f"{base} has no {SUMMARIES}: is it the output of trd-fhir bulk?")
    rows, bad = read_summaries(summaries)
    if not rows:
        raise InputError(f"{summaries} holds no patient summary")
    notes: list[str] = []
    state = _read_json_object(base / STATE, notes) or {}
    params = state.get("params")
    return Results(
        summaries=tuple(rows),
        bad_lines=tuple(bad),
        error_kinds=_error_kinds(base / ERRORS, notes),
        params=params if isinstance(params, dict) else {},
        reading=_read_json_object(base / READING, notes),
        notes=tuple(notes),
    )
