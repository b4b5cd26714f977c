"""Adding a staging model is one module: a fixture model declared here (never in the package),
run with a registry that lists it, reaches every consumer without any other file changed."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time
from typing import Any

import pytest

import trdfhir
from tests.golden.examples import index, load
from trdfhir.bulk.worker import csv_columns, csv_row
from trdfhir.emit import emit_bundle
from trdfhir.emit.codes import CONCEPTS
from trdfhir.model import StageResult
from trdfhir.report import render_text
from trdfhir.service.cards import models_met, summary_line
from trdfhir.service.detail import detail_markdown
from trdfhir.service.engine import Evaluation
from trdfhir.service.smart_page import staging_rows
from trdfhir.staging import DEFAULT, Registry, registry, using
from trdfhir.staging.base import (
    FhirKit,
    ModelSpec,
    Parts,
    StageValue,
    StagingContext,
    ids,
    keyed_cells,
    page_upper,
    same_value,
)
from trdfhir.summary import summarise

EXAMPLE = "01-two-failed-ssris.json"  # sertraline then escitalopram, both failed and adequate
NAME = "failure_count"
SOURCE = "a fixture model of this test (not a published model)"


# -- the whole model, as a new staging/failure_count.py would hold it ----------------------------
def stage(ctx: StagingContext) -> StageResult:
    failures = ctx.counted_failures("antidepressant")
    n = len(failures)
    return StageResult(
        model=NAME,
        value={"failures": n, "band": "high" if n >= 2 else "low"},
        headline=n,
        explanation=f"{n} counted antidepressant failures",
        source=SOURCE,
        counted=ids(failures),
    )


def fhir(value: StageValue, kit: FhirKit) -> Parts:
    v = value if isinstance(value, Mapping) else {}
    band = f"failure-count-{v.get('band')}"
    parts = [kit.component("failure-count-failures", v.get("failures"))]
    return (
        {"valueInteger": v.get("failures")},
        parts,
        [kit.concept(band)] if kit.known(band) else [],
    )


def words(value: StageValue) -> str:
    v = value if isinstance(value, Mapping) else {}
    return f"{v.get('failures')} failures ({v.get('band')})"


def cells(value: StageValue | None) -> Sequence[object]:
    return keyed_cells("failures", "band")(value)


SPEC = ModelSpec(
    name=NAME,
    source=SOURCE,
    stage=stage,
    upper_bound=True,
    code_display="Fixture failure count",
    concepts={
        "failure-count-failures": ("Fixture: counted failures", "dimension"),
        "failure-count-high": ("Fixture: two or more failures", "category"),
        "failure-count-low": ("Fixture: fewer than two failures", "category"),
    },
    page_label="Failure count (fixture)",
    report_label="Failure count (test)",
    page_result=words,
    page_upper=page_upper,
    report_value=same_value,
    card_result=words,
    card_headline=lambda v: f"failures {v.get('failures', '?')}",
    fhir=fhir,
    csv_keys=("failures", "band"),
    csv_cells=cells,
    trd_met=lambda v: v.get("band") == "high",
)
WITH_FIXTURE = Registry((*DEFAULT.specs, SPEC))


# -- the test ------------------------------------------------------------------------------------
def _assess() -> trdfhir.Assessment:
    entry = next(e for e in index() if e["file"] == EXAMPLE)
    return trdfhir.evaluate(copy.deepcopy(load(entry)), as_of=entry["as_of"])


def _stage_observation(bundle: dict[str, Any], code: str) -> dict[str, Any]:
    for entry in bundle["entry"]:
        r = entry["resource"]
        if r["resourceType"] == "Observation" and r["code"].get("coding", [{}])[0].get("code") == (
            code
        ):
            return dict(r)
    raise AssertionError(f"no Observation coded {code}")


def test_a_fixture_model_reaches_every_consumer() -> None:
    """Two failed adequate SSRIs: the fixture counts 2, band high; every edge shows it (the card's
    summary line, its staging table and TRD models, the page, the report, the CSV, the FHIR)."""
    with using(WITH_FIXTURE):
        a = _assess()
        summary = summarise(a)
        bundle = emit_bundle(a, now=datetime.combine(a.as_of, time(0), tzinfo=UTC))
        text = render_text(a)
        columns, row = csv_columns(), csv_row(summary)
        ev = Evaluation(assessment=a, summary=summary, bundle=bundle, bundle_problem=None)
        card = detail_markdown(summary, ev)
        page = {row["name"]: row for row in staging_rows(a, summary)}
        met = models_met(summary["stages"])
        headline = summary_line(summary)

    # the summary: the last model of `stages`, with its upper bound
    assert list(summary["stages"])[-1] == NAME
    assert summary["stages"][NAME] == {"failures": 2, "band": "high"}
    assert summary["upper_bound"][NAME] == 2
    # the text report: label, formatted value and explanation
    assert "Failure count (test)" in text
    assert "2 counted antidepressant failures" in text
    # the CSV: two columns after the ten models' own, cells from the value
    assert columns[columns.index("failure_count") + 1] == "failure_count_band"
    assert row[columns.index("failure_count")] == "2"
    assert row[columns.index("failure_count_band")] == "high"
    # the emitted stage Observation: the model's code and display, value, components, category
    obs = _stage_observation(bundle, "failure-count")
    assert obs["code"]["coding"][0]["display"] == "Fixture failure count"
    assert obs["valueInteger"] == 2
    codes = [c["code"]["coding"][0] for c in obs["component"]]
    assert codes[0] == {
        "system": codes[0]["system"],
        "code": "failure-count-failures",
        "display": "Fixture: counted failures",
    }
    assert codes[-1]["code"] == "upper-bound"
    assert obs["interpretation"][0]["coding"][0]["code"] == "failure-count-high"
    assert SOURCE in obs["method"]["text"]
    # the card's staging table and the SMART page
    assert "| Failure count (test) | 2 failures (high) |" in card
    # (the page's template shows each row's label and result: tests/api/test_smart_markup.py)
    assert page[NAME]["label"] == "Failure count (fixture)"
    assert page[NAME]["result"] == "2 failures (high)"
    assert NAME in met
    assert headline.startswith("TRD: regulatory met; ")
    assert headline.endswith("; failures 2")


def test_the_fixture_model_leaves_the_default_registry_alone() -> None:
    a = _assess()
    assert registry() is DEFAULT
    assert NAME not in summarise(a)["stages"]
    assert "failure_count" not in csv_columns()
    assert "failure-count" not in CONCEPTS


def test_a_model_lacking_a_part_fails_when_declared() -> None:
    fields = {f.name: getattr(SPEC, f.name) for f in dataclasses.fields(SPEC)}
    del fields["card_result"]
    with pytest.raises(TypeError, match="card_result"):
        ModelSpec(**fields)
    with pytest.raises(ValueError, match="empty report_label"):
        dataclasses.replace(SPEC, report_label=" ")
    with pytest.raises(ValueError, match="declares no CSV column"):
        dataclasses.replace(SPEC, csv_keys=())
    with pytest.raises(ValueError, match="not a lower-case identifier"):
        dataclasses.replace(SPEC, name="Failure-Count")


def test_a_model_registered_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="registered twice: failure_count"):
        Registry((*DEFAULT.specs, SPEC, SPEC))
