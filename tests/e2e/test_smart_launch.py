"""SMART on FHIR app, end to end in headless Chromium: EHR launch -> authorize -> the page
renders the timeline and the staging table for a vignette -> the write-back button writes ->
the resources are on the sandbox FHIR server. Also a standalone launch with the patient picker,
the app embedded in the EHR's iframe, and a phone-sized window. Screenshots go to
tests/e2e/artifacts/ (gitignored)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from trdfhir import evaluate
from trdfhir.client import FhirClient
from trdfhir.emit.ids import ASSESSMENT_SYSTEM, CAREPLAN_SYSTEM
from trdfhir.sandbox import Example

from .conftest import WRITE_PATIENT, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

TIMEOUT = 30_000  # ms


def example(examples: list[Example], patient: str) -> Example:
    return next(e for e in examples if e.patient_id == patient)


def current_trials(ex: Example) -> list[dict[str, Any]]:
    summary = evaluate(ex.bundle, as_of=ex.as_of).summary()
    return [t for t in summary["trials"] if t["episode"] == "current"]


def test_ehr_launch_renders_timeline_and_staging_then_writes_back(
    page: Any, stack: Stack, examples: list[Example], artifacts: Path
) -> None:
    ex = example(examples, "vignette-02")
    expected = current_trials(ex)
    patient = WRITE_PATIENT  # a copy of vignette-02 that no other test writes
    page.goto(stack.ehr_launch(patient))  # EHR launch: iss + launch
    page.wait_for_selector("svg.timeline", timeout=TIMEOUT)
    assert page.url == f"{stack.app}/app/"  # no code, state or token left in the address

    # the timeline: one bar per trial of the current episode, dose steps, sessions, scores
    bars = page.locator("svg.timeline g.trial-bar")
    assert bars.count() == len(expected) == 6
    ids = {bars.nth(i).get_attribute("data-trial") for i in range(bars.count())}
    assert ids == {t["id"] for t in expected}
    assert page.locator("svg.timeline .session-tick").count() == 12  # ECT sessions
    assert page.locator("svg.timeline .score-point").count() >= 5
    assert page.locator("svg.timeline line.threshold").count() == 2
    # the staging table: every model, with its explanation
    rows = page.locator("table.staging tbody tr")
    assert rows.count() == 10
    assert "Stage V" in page.locator('tr[data-model="thase_rush"]').inner_text()
    assert "Thomas Brennan" in page.locator(".banner").inner_text()
    assert page.locator("text=Suggestions for the clinician, not orders.").is_visible()
    page.screenshot(path=str(artifacts / "ehr-launch-vignette-02.png"), full_page=True)
    page.locator(".timeline-wrap").screenshot(path=str(artifacts / "timeline-vignette-02.png"))

    # the write-back, with the user's token through the proxy
    button = page.locator("#writeback-button")
    assert button.is_enabled()
    button.click()
    result = page.locator("#writeback-result.done")
    result.wait_for(timeout=TIMEOUT)
    assert "Written to the record" in result.inner_text()
    shown = [c.text_content() or "" for c in page.locator("#writeback-result code").all()]
    page.locator("#writeback-result details.refs summary").first.click()  # open the list
    page.locator(".writeback").screenshot(path=str(artifacts / "write-back-vignette-02.png"))
    assert page.locator("#writeback-todo").count() == 0  # "To be written" is gone once written
    writes = [r for r in stack.ehr.seen if r.method == "POST" and r.path == ""]
    assert writes and all(r.authorized and r.status == 200 for r in writes)

    # the resources are on the server, found by their identifiers
    with FhirClient(stack.fhir) as fhir:
        plans = fhir.search("CarePlan", {"identifier": f"{CAREPLAN_SYSTEM}|{patient}"})
        assert len(plans) == 1
        assert (plans[0]["status"], plans[0]["intent"]) == ("draft", "proposal")
        assert f"CarePlan/{plans[0]['id']}" in shown
        found = fhir.search(
            "Observation", {"patient": patient, "identifier": f"{ASSESSMENT_SYSTEM}|"}
        )
        on_server = {f"Observation/{o['id']}" for o in found}
        written = {ref for ref in shown if ref.startswith("Observation/")}
        assert len(written) >= 10 + len(expected)  # a stage per model, one per trial
        assert written <= on_server

    # writing again adds nothing
    button.click()
    page.locator("#writeback-result.done", has_text="Nothing new").wait_for(timeout=TIMEOUT)


def test_standalone_launch_with_patient_picker_shows_urgent_findings(
    page: Any, stack: Stack, artifacts: Path
) -> None:
    page.goto(f"{stack.app}/app/launch")  # standalone: the configured FHIR server
    page.wait_for_selector("ul.patients", timeout=TIMEOUT)
    page.screenshot(path=str(artifacts / "standalone-picker.png"))
    page.locator('button[value="vignette-11"]').click()
    alert = page.locator('[role="alert"]')
    alert.wait_for(timeout=TIMEOUT)
    assert "PHQ-9 item 9" in alert.inner_text()
    # urgent first: the alert comes before the timeline
    box_alert = alert.bounding_box()
    box_timeline = page.locator("svg.timeline").bounding_box()
    assert box_alert and box_timeline and box_alert["y"] < box_timeline["y"]
    page.screenshot(path=str(artifacts / "standalone-vignette-11.png"), full_page=True)


def test_app_in_the_ehr_iframe(
    page: Any, stack: Stack, examples: list[Example], artifacts: Path
) -> None:
    ex = example(examples, "vignette-20")
    page.set_viewport_size({"width": 1200, "height": 1000})
    stack.ehr.need_patient_banner = False  # the EHR shows the patient around the frame
    try:
        page.goto(stack.embedded(ex.patient_id))
        frame = page.frame_locator("#app")
        frame.locator("svg.timeline").wait_for(timeout=TIMEOUT)
    finally:
        stack.ehr.need_patient_banner = True
    assert frame.locator(".banner").count() == 0  # no second patient banner inside the EHR
    assert frame.locator("svg.timeline g.trial-bar").count() == len(current_trials(ex))
    assert frame.locator('svg.timeline g.trial-bar[data-kind="rtms"]').count() == 1
    assert frame.locator('svg.timeline g.trial-bar[data-kind="esketamine"]').count() == 1
    assert frame.locator("table.staging tbody tr").count() == 10
    page.screenshot(path=str(artifacts / "ehr-iframe-vignette-20.png"))


def test_phone_sized_window(
    browser: Any, stack: Stack, examples: list[Example], artifacts: Path
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    try:
        tab = context.new_page()
        tab.goto(stack.ehr_launch("vignette-02"))
        tab.wait_for_selector("svg.timeline-narrow", timeout=TIMEOUT)
        # the page does not scroll sideways; the phone chart fits the screen
        width = tab.evaluate("document.documentElement.scrollWidth")
        assert width <= 390
        assert tab.locator("#writeback-button").is_visible()
        assert not tab.locator("svg.timeline").is_visible()  # the desktop chart is hidden
        chart = tab.locator("svg.timeline-narrow")
        box = chart.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390
        # every bar, and the whole legend, in view without scrolling sideways
        bars = chart.locator("g.trial-bar")
        assert bars.count() == 6
        for i in range(bars.count()):
            bar = bars.nth(i).bounding_box()
            assert bar and bar["x"] >= box["x"] and bar["x"] + bar["width"] <= 390 + 0.5
        for item in tab.locator(".tl-legend li").all():
            swatch = item.bounding_box()
            assert swatch and swatch["x"] >= 0 and swatch["x"] + swatch["width"] <= 390
        # legible: the labels are drawn at >= 10 CSS px on the phone
        size = tab.evaluate(
            "(() => { const t = document.querySelector('svg.timeline-narrow .t-status');"
            " return t.getBoundingClientRect().height; })()"
        )
        assert size >= 10
        tab.locator(".timeline-wrap").screenshot(path=str(artifacts / "phone-timeline.png"))
        tab.screenshot(path=str(artifacts / "phone-vignette-02.png"), full_page=True)
    finally:
        context.close()
