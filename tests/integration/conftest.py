"""One real sandbox FHIR server (sekmet-fhir, in memory, on a free 127.0.0.1 port) for the whole
session, installed into .sandbox/venv when missing by the same code as `trd-fhir sandbox`."""

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
    default_paths,
    ensure_installed,
    free_port,
    load_examples,
    read_examples,
    start_server,
    stop_process,
    to_transaction,
)

from .servers import FaultProxy

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def fhir_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    paths = default_paths(ROOT, state=tmp_path_factory.mktemp("sekmet"))
    executable = ensure_installed(paths)
    server = start_server(
        executable,
        state=paths.state,
        port=free_port(),
        database=":memory:",
        settings_path=paths.state / "settings.yaml",
        log_path=paths.state / "sekmet.log",
    )
    try:
        yield server.base_url
    finally:
        stop_process(server.process)


@pytest.fixture(scope="session")
def examples() -> list[Example]:
    return read_examples(ROOT / "examples")


@pytest.fixture(scope="session")
def loaded(fhir_base: str, examples: list[Example]) -> str:
    """The server with every example patient loaded."""
    with FhirClient(fhir_base) as client:
        load_examples(client, examples)
    return fhir_base


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
