"""The pinned write-back Bundles of the examples: tests/golden/fhir/<example>.bundle.json."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import trdfhir
from tests.golden.examples import load
from trdfhir.emit import emit_bundle

HERE = Path(__file__).resolve().parent


def golden_path(entry: dict[str, Any]) -> Path:
    return HERE / entry["file"].replace(".json", ".bundle.json")


def bundle_of(entry: dict[str, Any]) -> dict[str, Any]:
    """As `trd-fhir evaluate FILE --as-of DATE --format fhir` writes it: now = as-of 00:00Z."""
    assessment = trdfhir.evaluate(load(entry), as_of=entry["as_of"])
    now = datetime.combine(assessment.as_of, time(0), tzinfo=UTC)
    return emit_bundle(assessment, now=now)


def dumps(bundle: dict[str, Any]) -> str:
    return json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"
