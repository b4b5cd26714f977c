"""Read the outputs of `trd-fhir bulk` (docs/bulk.md): summaries.ndjson, errors.ndjson,
bulk-state.json and, where present, reading.json. The I/O edge of the population report.

A summaries line that is not a JSON object of the assessment contract is not a patient: it is
counted as an error row (`bad_lines`), named by line number, never a traceback.
"""

from __future__ import annotations

import json
import sys
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


TRIAL_KEYS = ("id", "kind", "episode", "outcome", "adequacy", "reasons", "evidence")


def _dicts(value: object) -> list[dict[str, Any]]:
    return [x for x in value if isinstance(x, dict)] if isinstance(value, list) else []


def _flat(value: object) -> object:
    """A stage value without its nested objects (Maudsley dimensions, DM-TRD items, MGH points):
    its scalars and its lists (Markowitz missing, Conway classes, regulatory excluded_by)."""
    if not isinstance(value, dict):
        return value
    return {k: v for k, v in value.items() if not isinstance(v, dict)}


def _shared(value: Any) -> Any:
    """The same object with its strings interned: keys and codes repeat in every summary."""
    if isinstance(value, str):
        return sys.intern(value)
    if isinstance(value, dict):
        return {sys.intern(k): _shared(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shared(v) for v in value]
    return value


def slim(row: dict[str, Any], shared: dict[str, Any] | None = None) -> dict[str, Any]:
    """The parts of a summary the report reads, so that a large population fits in memory:
    stages (without nested objects), upper bound, each trial's id, kind, episode, outcome,
    adequacy, reasons and evidence, finding and warning codes, episode start, and the
    psychotherapy trials each model counted. Equal parts (a stage value, a finding, a trial) are
    one object shared by every summary that has them (`shared`: read-only afterwards)."""
    cache: dict[str, Any] = {} if shared is None else shared

    def one(value: Any) -> Any:
        value = _shared(value)
        return cache.setdefault(json.dumps(value, sort_keys=True), value)

    explanations = row.get("explanations")
    episode = row.get("episode")
    upper = row.get("upper_bound")
    trials = _dicts(row["trials"])
    therapy = {t.get("id") for t in trials if t.get("kind") == "psychotherapy"}
    counted = {
        name: [t for t in value.get("trials") or () if t in therapy]
        for name, value in (explanations.items() if isinstance(explanations, dict) else ())
        if isinstance(value, dict)
    }
    return {
        "patient": row["patient"],
        "as_of": one(row.get("as_of")),
        "episode": {"start": one(episode.get("start") if isinstance(episode, dict) else None)},
        "stages": {sys.intern(k): one(_flat(v)) for k, v in row["stages"].items()},
        "upper_bound": one(upper if isinstance(upper, dict) else {}),
        "explanations": {sys.intern(k): one({"trials": v}) for k, v in counted.items() if v},
        "trials": [one({k: t.get(k) for k in TRIAL_KEYS}) for t in trials],
        "findings": [one({"code": f.get("code")}) for f in _dicts(row["findings"])],
        "warnings": [one({"code": w.get("code")}) for w in _dicts(row.get("warnings"))],
    }


def read_summaries(path: Path) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    rows: list[dict[str, Any]] = []
    bad: list[tuple[int, str]] = []
    shared: dict[str, Any] = {}
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
                    rows.append(slim(row, shared))
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
