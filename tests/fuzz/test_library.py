"""trdfhir.evaluate on mutated records: it answers, or raises an error of the error tree; never
any other exception. What it answers can be summarised, rendered and emitted."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given

from trdfhir import TrdFhirError, evaluate, load_mappings
from trdfhir.emit import emit_bundle
from trdfhir.errors import StrictModeError
from trdfhir.report import render_text

from .budget import budget, tried
from .strategies import Case, cases

MAPS = load_mappings()
NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)


def check_error(exc: TrdFhirError) -> None:
    line = exc.one_line()
    assert line and "\n" not in line and "Traceback" not in line
    outcome = exc.operation_outcome()
    assert outcome["issue"][0]["diagnostics"]


@given(case=cases())
@budget("library")
def test_evaluate_raises_only_errors_of_the_tree(case: Case) -> None:
    tried("library")
    try:
        assessment = evaluate(case.data, as_of=case.as_of, mappings=MAPS)
    except TrdFhirError as exc:
        check_error(exc)
        return
    summary = assessment.summary()
    json.dumps(summary, allow_nan=False)  # the contract is plain JSON
    assert render_text(assessment)
    bundle = emit_bundle(assessment, now=NOW)
    json.dumps(bundle, allow_nan=False)
    for warning in assessment.record.warnings:
        assert "\n" not in warning.diagnostic


@given(case=cases(max_steps=3))
@budget("library-strict")
def test_strict_mode_fails_on_warnings_with_one_line(case: Case) -> None:
    tried("library-strict")
    try:
        assessment = evaluate(case.data, as_of=case.as_of, mappings=MAPS, strict=True)
    except StrictModeError as exc:
        check_error(exc)
        return
    except TrdFhirError as exc:
        check_error(exc)
        return
    assert not assessment.record.warnings
