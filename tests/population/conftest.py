"""A small synthetic population (trd-fhir synth + trd-fhir bulk, 100 patients) and its
population report, built once per session through the command line as a user runs it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from trdfhir.cli import main

PATIENTS = 100
SEED = 7
LABEL = "Synthetic population (trd-fhir synth --patients 100 --seed 7)"


@dataclass(frozen=True)
class Report:
    results: Path  # the bulk output
    page: Path
    numbers: dict[str, Any]
    bundle: dict[str, Any]
    figures: Path
    summaries: list[dict[str, Any]]  # the raw summaries.ndjson, parsed here


def population(directory: Path) -> Path:
    export, results = directory / "export", directory / "results"
    assert (
        main(
            [
                "synth",
                "--patients",
                str(PATIENTS),
                "--seed",
                str(SEED),
                "--output",
                str(export),
                "--quiet",
            ]
        )
        == 0
    )
    assert (
        main(
            ["bulk", "--input", str(export), "--output", str(results), "--workers", "1", "--quiet"]
        )
        == 0
    )
    return results


@pytest.fixture(scope="session")
def bulk_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return population(tmp_path_factory.mktemp("population"))


@pytest.fixture(scope="session")
def report(bulk_results: Path, tmp_path_factory: pytest.TempPathFactory) -> Report:
    out = tmp_path_factory.mktemp("report")
    page, numbers, bundle, figures = (
        out / "population.html",
        out / "numbers.json",
        out / "measures.json",
        out / "figures",
    )
    code = main(
        [
            "population",
            str(bulk_results),
            "--output",
            str(page),
            "--json",
            str(numbers),
            "--measure-report",
            str(bundle),
            "--figures",
            str(figures),
            "--label",
            LABEL,
        ]
    )
    assert code == 0
    lines = (bulk_results / "summaries.ndjson").read_text(encoding="utf-8").splitlines()
    return Report(
        results=bulk_results,
        page=page,
        numbers=json.loads(numbers.read_text(encoding="utf-8")),
        bundle=json.loads(bundle.read_text(encoding="utf-8")),
        figures=figures,
        summaries=[json.loads(line) for line in lines if line.strip()],
    )
