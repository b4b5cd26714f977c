"""The patient-view staging card at a glance: with the SMART app behind its link, the detail is
a few lines (the headline models, urgent then warning findings, the count of suggestions, their
cautions) instead of the full table. Measured on the 21 vignettes before the change: the full
detail was 3,708-5,743 characters in 34-43 lines; the short one is 360-1,100 in 8-12."""

from __future__ import annotations

from typing import Any

import pytest

from trdfhir.service import ServiceSettings
from trdfhir.service.cards import patient_view_cards
from trdfhir.service.detail import detail_markdown
from trdfhir.service.engine import Evaluation, ServiceState

from .conftest import EXAMPLES, Example, example

APP = "https://trd.example.org/app/launch"
MAX_CHARS = 1_200  # about a third of the smallest full detail
MAX_LINES = 14


@pytest.fixture(scope="module")
def state() -> ServiceState:
    return ServiceState(ServiceSettings())


def evaluation(state: ServiceState, ex: Example) -> Evaluation:
    return state.evaluate({"resourceType": "Bundle", "entry": ex.bundle["entry"]}, ex.as_of)


def cards(state: ServiceState, ev: Evaluation, app_url: str | None = APP) -> list[dict[str, Any]]:
    return patient_view_cards(
        ev,
        "hook-1",
        docs_url="https://trd.example.org/docs",
        app_url=app_url,
        version="0.0.0",
        finding_texts={k: v.text for k, v in state.maps.findings.items()},
    )


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_staging_card_is_short_with_the_full_table_behind_the_app_link(
    name: str, state: ServiceState
) -> None:
    ev = evaluation(state, EXAMPLES[name])
    staging = cards(state, ev)[-1]
    detail = staging["detail"]
    full = detail_markdown(ev.summary, ev)
    assert len(detail) <= MAX_CHARS and detail.count("\n") + 1 <= MAX_LINES, detail
    assert len(detail) * 3 < len(full)
    assert "| Model |" not in detail  # the table is in the app
    assert staging["links"][0]["type"] == "smart" and staging["links"][0]["url"] == APP
    assert len(staging["summary"]) < 140  # CDS Hooks 2.0
    # the headlines that matter, each in one line
    lines = detail.splitlines()
    for label in ("Regulatory TRD (FDA/EMA)", "Thase & Rush 1997", "Maudsley (Fekadu 2009)"):
        assert sum(line.startswith(f"- {label}: **") for line in lines) == 1, label
    n = len(ev.summary["suggestions"])
    if n:
        assert f"- {n} suggestion{'s' if n != 1 else ''} for the clinician" in detail


def test_urgent_findings_come_first_and_cautions_stay_visible(state: ServiceState) -> None:
    ev = evaluation(state, example("11"))  # PHQ-9 item 9 positive; substance use on record
    detail = cards(state, ev)[-1]["detail"].replace("\\", "")
    lines = detail.splitlines()
    urgent = [i for i, line in enumerate(lines) if line.startswith("- **Urgent**")]
    warnings = [i for i, line in enumerate(lines) if line.startswith("- Warning")]
    assert urgent and warnings and max(urgent) < min(warnings)
    assert "PHQ-9 item 9" in lines[urgent[0]]
    cautions = [c for s in ev.summary["suggestions"] for c in s.get("cautions") or []]
    assert cautions
    for c in cautions:
        assert f"- **Caution**: {c['text']}" in detail


def test_regulatory_headline_words(state: ServiceState) -> None:
    two_failed = cards(state, evaluation(state, example("01")))[-1]["detail"]
    assert "- Regulatory TRD (FDA/EMA): **yes, 2 failed adequate trials**" in two_failed
    bipolar = cards(state, evaluation(state, example("08")))[-1]["detail"]
    assert "- Regulatory TRD (FDA/EMA): **excluded (bipolar on record)**" in bipolar


def test_without_the_smart_app_the_card_keeps_the_full_table(state: ServiceState) -> None:
    ev = evaluation(state, example("02"))
    staging = cards(state, ev, app_url=None)[-1]
    assert "| Model | Result | Upper bound | Why |" in staging["detail"]
    assert "links" not in staging
