"""Fixtures shared by every test folder: one real sandbox FHIR server (sekmet-fhir, in memory,
on a free 127.0.0.1 port) for the whole session, installed into .sandbox/venv when missing by the
same code as `trd-fhir sandbox`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from trdfhir.client import FhirClient
from trdfhir.sandbox import (
    Example,
    default_paths,
    ensure_installed,
    free_port,
    load_examples,
    read_examples,
    start_server,
    stop_process,
)

ROOT = Path(__file__).resolve().parents[1]


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
