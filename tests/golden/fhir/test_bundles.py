"""Golden tests of the write-back: every example's transaction Bundle is pinned byte for byte, and
every one passes the four checks (R4B models, R4 JSON Schema, the project's profiles, its
CodeSystem). A change here is a change in what is written into patients' records: regenerate with
`python -m tests.golden.fhir.regenerate` only after reading the diff."""

from __future__ import annotations

import pytest

from tests.golden.examples import EXAMPLES, index
from tests.golden.fhir.bundles import bundle_of, dumps, golden_path
from tests.unit.emit.support import require_profile_validator
from trdfhir.cli import main
from trdfhir.fhir.conformance import CHECKS, validate

ENTRIES = index()
IDS = [e["file"] for e in ENTRIES]


@pytest.fixture(scope="module")
def bundles():
    return {e["file"]: bundle_of(e) for e in ENTRIES}


@pytest.fixture(scope="module")
def issues(bundles):
    require_profile_validator()
    return dict(zip(bundles, validate(list(bundles.values())), strict=True))


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_bundle_matches_the_pinned_file(entry, bundles):
    assert dumps(bundles[entry["file"]]) == golden_path(entry).read_text()


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_bundle_passes_every_check(entry, issues):
    found = issues[entry["file"]]
    assert [i.line() for i in found] == []


def test_the_checks_ran():
    assert CHECKS == ("models", "schema", "profile", "terminology")


def test_the_cli_prints_the_pinned_bundle(capsys):
    entry = ENTRIES[0]
    path = EXAMPLES / entry["file"]
    assert main(["evaluate", str(path), "--as-of", entry["as_of"], "--format", "fhir"]) == 0
    assert capsys.readouterr().out == golden_path(entry).read_text()


def test_the_golden_files_cover_the_examples():
    files = {p.name for p in golden_path(ENTRIES[0]).parent.glob("*.bundle.json")}
    assert files == {golden_path(e).name for e in ENTRIES}
