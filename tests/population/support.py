"""A small synthetic population (trd-fhir synth + trd-fhir bulk, 100 patients) and its
population report, built through the command line as a user runs it. Used by
tests/population/conftest.py and tests/e2e/test_population_page.py."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    synth = ["synth", "--patients", str(PATIENTS), "--seed", str(SEED), "--output", str(export)]
    assert main([*synth, "--quiet"]) == 0
    bulk = ["bulk", "--input", str(export), "--output", str(results), "--workers", "1"]
    assert main([*bulk, "--quiet"]) == 0
    return results


def build_report(results: Path, out: Path) -> Report:
    page, numbers, bundle, figures = (
        out / "population.html",
        out / "numbers.json",
        out / "measures.json",
        out / "figures",
    )
    args = ["population", str(results), "--output", str(page), "--json", str(numbers)]
    args += ["--measure-report", str(bundle), "--figures", str(figures), "--label", LABEL]
    assert main(args) == 0
    lines = (results / "summaries.ndjson").read_text(encoding="utf-8").splitlines()
    return Report(
        results=results,
        page=page,
        numbers=json.loads(numbers.read_text(encoding="utf-8")),
        bundle=json.loads(bundle.read_text(encoding="utf-8")),
        figures=figures,
        summaries=[json.loads(line) for line in lines if line.strip()],
    )
