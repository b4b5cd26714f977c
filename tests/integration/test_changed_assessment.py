"""Replacing the draft on a real server: when only the suggestions change (new rules or settings,
the same record), the one draft CarePlan is replaced in place; writing again writes nothing."""

from __future__ import annotations

import dataclasses

import pytest

from trdfhir import evaluate
from trdfhir.client import FhirClient, write_if_changed
from trdfhir.emit import emit_bundle
from trdfhir.sandbox import Example

from .conftest import NOW, load_clone

pytestmark = pytest.mark.integration


def test_a_draft_with_other_suggestions_replaces_the_previous_one(
    loaded: str, examples: list[Example]
) -> None:
    example = next(e for e in examples if e.path.name == "01-two-failed-ssris.json")
    pid = "changed-01"
    clone = load_clone(loaded, example, pid)
    assessment = evaluate(clone.bundle, as_of=example.as_of)
    fewer = dataclasses.replace(assessment, suggestions=assessment.suggestions[:-1])
    dropped = assessment.suggestions[-1].text
    with FhirClient(loaded) as client:
        write_if_changed(client, emit_bundle(assessment, now=NOW), patient=pid)
        [before] = client.search("CarePlan", {"patient": pid, "status": "draft"})
        assert dropped in str(before)

        _plan, outcome = write_if_changed(client, emit_bundle(fewer, now=NOW), patient=pid)
        assert outcome.mode != "skipped"
        [after] = client.search("CarePlan", {"patient": pid, "status": "draft"})
        assert after["id"] == before["id"]  # replaced in place: still one current draft
        assert dropped not in str(after)

        _plan, again = write_if_changed(client, emit_bundle(fewer, now=NOW), patient=pid)
        assert again.mode == "skipped"
