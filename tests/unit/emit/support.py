"""Shared helpers of the emit tests: examples evaluated and emitted with a fixed clock."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, time
from functools import cache
from typing import Any

import pytest

import trdfhir
from tests.golden.examples import index, load
from trdfhir.emit import emit_bundle
from trdfhir.fhir import profiles

SAFETY_EXAMPLE = "11-phq9-item9-positive.json"
FIRST_EXAMPLE = "01-two-failed-ssris.json"


@cache
def example(name: str) -> tuple[Any, str]:
    """An example's resources and its as-of date."""
    entry = next(e for e in index() if e["file"] == name)
    return load(entry), entry["as_of"]


def assess(name: str, data: Any = None) -> trdfhir.Assessment:
    resources, as_of = example(name)
    return trdfhir.evaluate(copy.deepcopy(resources) if data is None else data, as_of=as_of)


def midnight(assessment: trdfhir.Assessment) -> datetime:
    return datetime.combine(assessment.as_of, time(0), tzinfo=UTC)


def emit(name: str, data: Any = None, **kwargs: Any) -> dict[str, Any]:
    a = assess(name, data)
    return emit_bundle(a, now=kwargs.pop("now", midnight(a)), **kwargs)


def dumps(bundle: dict[str, Any]) -> str:
    return json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def entries(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def profiled(bundle: dict[str, Any], profile_id: str) -> list[dict[str, Any]]:
    return [
        e
        for e in bundle["entry"]
        if any(
            p.endswith(f"/{profile_id}") for p in e["resource"].get("meta", {}).get("profile", [])
        )
    ]


def require_profile_validator() -> None:
    if not profiles.available():
        pytest.fail(
            "the profile validator is not installed: run `make validator` "
            "(npm ci --prefix tools/validator); node must be on PATH"
        )
