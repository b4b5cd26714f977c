"""Helpers of the integration tests. The sandbox server fixtures (`fhir_base`, `examples`,
`loaded`) live in tests/conftest.py so that every test folder shares one server."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from trdfhir.client import FhirClient, post_transaction
from trdfhir.mappings import Mappings, load_mappings
from trdfhir.sandbox import (
    Example,
    to_transaction,
)

from .servers import FaultProxy

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def maps() -> Mappings:
    return load_mappings()


@pytest.fixture
def proxy(fhir_base: str) -> Iterator[FaultProxy]:
    p = FaultProxy(fhir_base)
    try:
        yield p
    finally:
        p.close()


def clone_example(example: Example, patient_id: str) -> dict[str, Any]:
    """The example's Bundle as another patient: every id prefixed, references followed."""
    bundle = copy.deepcopy(example.bundle)
    old = example.patient_id
    text = json.dumps(bundle)
    ids = {
        e["resource"]["id"]
        for e in bundle["entry"]
        if isinstance(e.get("resource"), dict) and "id" in e["resource"]
    }
    for rid in sorted(ids, key=len, reverse=True):
        new = patient_id if rid == old else f"{patient_id}-{rid}"[:64]
        text = text.replace(f'"id": "{rid}"', f'"id": "{new}"').replace(f'/{rid}"', f'/{new}"')
    data: dict[str, Any] = json.loads(text)
    for entry in data["entry"]:
        entry.pop("fullUrl", None)
    return data


def load_clone(base: str, example: Example, patient_id: str) -> Example:
    bundle = clone_example(example, patient_id)
    with FhirClient(base) as client:
        post_transaction(client, to_transaction(bundle, patient_id))
    return Example(path=example.path, patient_id=patient_id, as_of=example.as_of, bundle=bundle)
