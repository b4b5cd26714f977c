"""The synthetic population and its report, built once per session (support.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .support import Report, build_report, population


@pytest.fixture(scope="session")
def bulk_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return population(tmp_path_factory.mktemp("population"))


@pytest.fixture(scope="session")
def report(bulk_results: Path, tmp_path_factory: pytest.TempPathFactory) -> Report:
    return build_report(bulk_results, tmp_path_factory.mktemp("report"))
