"""Golden tests: the JSON summary of every example is pinned byte for byte.

A change here is a change in clinical output: regenerate with `python -m tests.golden.regenerate`
only after reading the diff.
"""

import pytest

import trdfhir
from tests.golden.examples import dumps, golden_path, index, load
from trdfhir.report import render_text

ENTRIES = index()


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["file"] for e in ENTRIES])
def test_summary_matches_the_pinned_file(entry):
    summary = trdfhir.evaluate(load(entry), as_of=entry["as_of"]).summary()
    assert dumps(summary) == golden_path(entry).read_text()


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["file"] for e in ENTRIES])
def test_text_report_renders(entry):
    text = render_text(trdfhir.evaluate(load(entry), as_of=entry["as_of"]))
    assert entry["as_of"] in text and "Staging" in text


def test_examples_cover_every_finding_and_suggestion_code():
    maps = trdfhir.load_mappings()
    findings, suggestions = set(), set()
    for entry in ENTRIES:
        summary = trdfhir.evaluate(load(entry), as_of=entry["as_of"]).summary()
        findings |= {f["code"] for f in summary["findings"]}
        suggestions |= {s["code"] for s in summary["suggestions"]}
    assert set(maps.findings) - findings == set()
    assert set(maps.suggestions) - suggestions == set()


def test_there_are_at_least_twelve_examples():
    assert len(ENTRIES) >= 12
