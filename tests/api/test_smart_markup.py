"""The SMART page's markup rendered straight from an evaluation (no server, no launch): the
fixes the reference launcher showed (banner inside an EHR, one date format, the year on the first
tick, a phone-sized chart, the focus ring's contrast), escaping by the template engine, and the
stylesheet's promises."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from trdfhir.auth.smart import GrantedScopes
from trdfhir.service import ServiceSettings
from trdfhir.service.engine import ServiceState
from trdfhir.service.markup import fmt_day
from trdfhir.service.smart_page import PageContext, render_message, render_page
from trdfhir.service.smart_timeline import NARROW, WIDE

from .conftest import Example, example

CSS = Path(__file__).resolve().parents[2] / "plugin/trdfhir/service/static/app.css"
WRITE = "patient/CarePlan.write patient/Observation.write patient/Flag.write"


@pytest.fixture(scope="module")
def state() -> ServiceState:
    return ServiceState(ServiceSettings())


def page(
    state: ServiceState, ex: Example, *, banner: bool = True, patient: dict[str, Any] | None = None
) -> str:
    ev = state.evaluate({"resourceType": "Bundle", "entry": ex.bundle["entry"]}, ex.as_of)
    if patient is None:
        patient = next(r for r in ex.resources if r["resourceType"] == "Patient")
    return render_page(
        PageContext(
            assessment=ev.assessment,
            summary=ev.summary,
            bundle=ev.bundle,
            bundle_problem=ev.bundle_problem,
            patient=patient,
            patient_id=ex.patient_id,
            maps=state.maps,
            response_drop=state.clinical.response_drop,
            scopes=GrantedScopes.parse(f"launch openid {WRITE} patient/*.read"),
            csrf="csrf-token-value",
            iss="https://ehr.example.org/fhir",
            version="0.0.0",
            static_url="/app/static",
            page_url="/app/",
            writeback_url="/app/write-back",
            logout_url="/app/logout",
            show_banner=banner,
        )
    )


def svg(html: str, layout: str) -> str:
    match = re.search(rf'<svg [^>]*data-layout="{layout}".*?</svg>', html, re.S)
    assert match, layout
    return match.group(0)


def test_need_patient_banner_false_leaves_the_banner_to_the_ehr(state: ServiceState) -> None:
    ex = example("02")
    assert 'class="banner"' in page(state, ex)
    inside_ehr = page(state, ex, banner=False)
    assert 'class="banner"' not in inside_ehr
    assert "Thomas Brennan" in inside_ehr  # still named in the title: which chart is open


def test_one_date_format_on_the_page(state: ServiceState) -> None:
    html = page(state, example("02"))
    text = re.sub(r"<[^>]+>", " ", html)
    # ISO dates only where a machine reads them: the date input and the hidden as-of field
    iso_in_text = re.findall(r"\b\d{4}-\d{2}-\d{2}\b", text)
    data = re.findall(r'value="(\d{4}-\d{2}-\d{2})"', html)
    assert iso_in_text == [], iso_in_text[:5]
    assert data == ["2026-10-01", "2026-10-01"]
    assert "30 Sep 1971" in html and "as of 1 Oct 2026" in html
    assert fmt_day("2026-01-05") == "5 Jan 2026" and fmt_day(date(2025, 12, 31)) == "31 Dec 2025"


def test_the_first_tick_carries_the_year(state: ServiceState) -> None:
    html = page(state, example("02"))
    for layout in ("wide", "narrow"):
        ticks = re.findall(r'class="t-axis" text-anchor="middle">([^<]+)<', svg(html, layout))
        assert ticks, layout
        assert re.fullmatch(r"[A-Z][a-z]{2} \d{4}", ticks[0]), ticks
        for label in ticks[1:]:  # later ticks: the year only on January
            assert label.startswith("Jan ") == bool(re.search(r"\d{4}", label)), ticks


def test_both_layouts_hold_every_bar_inside_their_width(state: ServiceState) -> None:
    html = page(state, example("02"))
    for layout, geometry in (("wide", WIDE), ("narrow", NARROW)):
        chart = svg(html, layout)
        assert chart.count('class="trial-bar"') == 6
        xs = [float(x) for x in re.findall(r' x="(-?[\d.]+)"', chart)]
        assert min(xs) >= 0 and max(xs) <= geometry.width, layout
        widths = re.findall(r'<rect[^>]* x="([\d.]+)"[^>]* width="([\d.]+)"', chart)
        assert all(float(x) + float(w) <= geometry.width for x, w in widths), layout
    # the legend is HTML (it wraps on a phone), with its own pattern ids
    assert '<ul class="tl-legend"' in html
    ids = re.findall(r' id="([^"]+)"', html)
    assert len(ids) == len(set(ids))


def test_record_text_is_escaped_by_the_templates(state: ServiceState) -> None:
    ex = example("02")
    patient = next(r for r in ex.resources if r["resourceType"] == "Patient")
    evil = {**patient, "name": [{"text": '<script>alert(1)</script>"><img src=x onerror=1>'}]}
    html = page(state, ex, patient=evil)
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&gt;&lt;img" in html
    message = render_message("<b>t</b>", ["<i>p</i>"], static_url="/s", action=("<x>", "/a"))
    assert "<b>" not in message and "<i>" not in message and "&lt;x&gt;" in message


def test_the_to_be_written_line_is_named_for_the_script_to_hide(state: ServiceState) -> None:
    html = page(state, example("02"))
    assert '<p class="muted" id="writeback-todo">To be written:' in html
    script = (CSS.parent / "app.js").read_text()
    assert 'getElementById("writeback-todo")' in script


# -- the focus ring's contrast (WCAG 2.2, 1.4.11: >= 3:1 against what is next to it) -----------
def _luminance(hex_colour: str) -> float:
    rgb = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_focus_ring_contrast_is_at_least_3_to_1() -> None:
    css = CSS.read_text()
    variables = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", css))
    ring = re.search(r":focus-visible[^{]*\{[^}]*outline:\s*\d+px solid var\(--([\w-]+)\)", css)
    assert ring, "the focus ring is a variable"
    colour = variables[ring.group(1)]
    # every background a focusable element sits on: the page, cards, table stripes, the alert,
    # the write result boxes, the top bar, the primary button the ring surrounds
    backgrounds = {
        "#ffffff",
        "#fafbfc",
        variables["bg"],
        variables["card"],
        variables["urgent-bg"],
        variables["ok-bg"],
        variables["warning-bg"],
        variables["accent"],
    }
    ratios = {bg: round(contrast(colour, bg), 2) for bg in backgrounds}
    background_ratios = {bg: r for bg, r in ratios.items() if bg != variables["accent"]}
    assert min(background_ratios.values()) >= 3.0, ratios
    # the old amber ring failed on white
    assert contrast("#f0b429", "#ffffff") < 3.0


def test_the_test_ehr_pages_are_templates_too() -> None:
    from trdfhir.devtools.smart_server import _page

    body = _page(
        200,
        "Demo EHR: patients",
        kind="ehr",
        patients=[("p-1", '<img src=x onerror="1">', "1970-01-01")],
        apps=["trd"],
    ).body.decode()
    assert '<a href="/ehr/launch/trd/p-1">Launch trd</a>' in body
    assert "<img" not in body and "&lt;img src=x" in body
    message = _page(404, "Unknown <app>", "No <b>app</b>").body.decode()
    assert "<b>" not in message and "<title>Unknown &lt;app&gt;</title>" in message
