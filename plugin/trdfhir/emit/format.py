"""`trd-fhir evaluate --format fhir`: the write-back transaction Bundle as JSON.

The write time defaults to the as-of date at 00:00Z, so the output is deterministic; `--now` gives
another (ISO 8601; without a zone it is UTC).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, time
from typing import Any

from ..errors import InputError
from .bundle import emit_bundle


def parse_now(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"--now must be an ISO 8601 date-time, got {value!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def fhir_format(assessment: Any, args: argparse.Namespace) -> str:
    given = getattr(args, "now", None)
    now = parse_now(given) if given else datetime.combine(assessment.as_of, time(0), tzinfo=UTC)
    indent = None if getattr(args, "compact", False) else 2
    return json.dumps(emit_bundle(assessment, now=now), indent=indent, ensure_ascii=False) + "\n"
