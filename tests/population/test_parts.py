"""The pure parts of the population report on hand-made cases: the TRD tests of
mappings/population.json, kappa where it is undefined, Wilson with no patients, the slimmed
summaries giving the same numbers as the full ones, and a broken mapping file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from trdfhir.errors import MappingError
from trdfhir.population.compute import compute, reading_coverage
from trdfhir.population.definitions import Test as Criterion
from trdfhir.population.definitions import load_definitions
from trdfhir.population.load import slim
from trdfhir.population.stats import kappa, wilson

from .support import Report

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


@pytest.mark.parametrize(
    ("test", "value", "expected"),
    [
        (Criterion("met", equals=True), True, True),
        (Criterion("met", equals=True), False, False),
        (Criterion("met", equals=True), 1, False),  # a number is not a boolean
        (Criterion("met", equals=True), None, None),  # not rated
        (Criterion("stage", at_least=2), 2, True),
        (Criterion("stage", at_least=2), 1, False),
        (Criterion("stage", at_least=2), True, False),  # a boolean is not a stage
        (Criterion("category", among=("moderate", "severe")), "mild", False),
        (Criterion("category", among=("moderate", "severe")), "severe", True),
        (Criterion("category", among=("moderate", "severe")), None, None),
    ],
)
def test_the_trd_tests(test: Criterion, value: object, expected: bool | None) -> None:
    assert test.holds(value) is expected


def test_the_mapping_holds_docs_rules_definitions() -> None:
    defs = {m.model: m for m in load_definitions().models}
    assert set(defs) == {"regulatory", "thase_rush", "esm", "maudsley", "conway", "markowitz"}
    assert defs["thase_rush"].test.holds(2) and not defs["thase_rush"].test.holds(1)
    assert defs["esm"].test.holds("CRD") and not defs["esm"].test.holds("non-responder")
    assert defs["conway"].test.holds(1) and not defs["conway"].test.holds(0)
    assert defs["maudsley"].upper_bound is not None
    assert defs["maudsley"].upper_bound.holds(7) and not defs["maudsley"].upper_bound.holds(6)
    assert [m.psychotherapy for m in defs.values()].count("not-counted") == 4


def test_kappa_is_undefined_when_both_models_put_everyone_in_one_category() -> None:
    result = kappa([(0, 0)] * 12, 2, weighted=False)
    assert (result.n, result.agreement, result.kappa, result.low) == (12, 1.0, None, None)


def test_kappa_of_perfect_and_of_chance_agreement() -> None:
    assert kappa([(0, 0), (1, 1), (1, 1), (0, 0)], 2, weighted=False).kappa == pytest.approx(1)
    # po = 0.5, pe = 0.5: kappa 0
    pairs = [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert kappa(pairs, 2, weighted=False).kappa == pytest.approx(0)
    # quadratic weights: a disagreement by 3 levels costs 9 times one by 1 level
    near = kappa([(0, 0), (1, 1), (2, 2), (3, 3), (0, 1), (3, 2)], 4, weighted=True)
    far = kappa([(0, 0), (1, 1), (2, 2), (3, 3), (0, 3), (3, 0)], 4, weighted=True)
    assert near.kappa is not None and far.kappa is not None and near.kappa > far.kappa


def test_kappa_with_no_pair_and_wilson_with_no_patient() -> None:
    assert kappa([], 2, weighted=False).kappa is None
    assert wilson(0, 0).json() == {"count": 0, "n": 0, "share": None, "ci95": None}
    low, high = wilson(0, 10).json()["ci95"]
    assert low == 0.0 and 0 < high < 0.35


def test_the_slimmed_summaries_give_the_same_numbers(report: Report) -> None:
    defs = load_definitions()
    assert compute(report.summaries, defs) == compute([slim(s) for s in report.summaries], defs)


@pytest.mark.parametrize(
    "reading",
    [
        None,
        [],
        {"reading": "2"},
        {"reading": "1", "medications": {"records": "many"}, "questionnaires": {}},
        {
            "reading": "1",
            "medications": {
                "records": 3,
                "with_dose": 1,
                "with_duration": 1,
                "unknown_dose": {"x": "two"},
                "unknown_duration": {},
                "assumed_end": {},
            },
            "questionnaires": {"read": 0, "not_read": 0},
            "unmapped_codes": [],
        },
    ],
)
def test_a_reading_report_of_another_shape_is_not_interpreted(reading: object) -> None:
    assert reading_coverage(reading) is None


def test_a_broken_mapping_file_names_the_file(tmp_path: Path) -> None:
    copy = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, copy)
    doc = json.loads((copy / "population.json").read_text(encoding="utf-8"))
    del doc["models"][0]["source"]
    (copy / "population.json").write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(MappingError, match=r"population\.json"):
        load_definitions(copy)
