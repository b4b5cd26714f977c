"""The population page in Debian's headless Chromium, opened from a file:// URL with every
request other than the page itself blocked: it renders, its figures are there with their text
alternatives, its numbers are the report's, and it asks for nothing from the network."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import LABEL, Report

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "e2e" / "artifacts"
FIGURES = ("prevalence", "stages", "agreement", "failed_trials", "pseudo_resistance", "upper_bound")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is missing (make test installs Debian's chromium)")
    api = pytest.importorskip("playwright.sync_api")
    with api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def opened(browser: Any, report: Report) -> Iterator[tuple[Any, list[str], list[str]]]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    requests: list[str] = []
    blocked: list[str] = []
    errors: list[str] = []
    page_url = report.page.resolve().as_uri()

    def gate(route: Any) -> None:
        if route.request.url == page_url:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", gate)
    tab = context.new_page()
    tab.on("request", lambda r: requests.append(r.url))
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.goto(page_url, wait_until="load")
    try:
        yield tab, requests, blocked + errors
    finally:
        context.close()


def test_the_page_asks_for_nothing_but_itself(opened: Any, report: Report) -> None:
    tab, requests, problems = opened
    assert requests == [report.page.resolve().as_uri()]
    assert problems == []
    csp = tab.locator('meta[http-equiv="Content-Security-Policy"]').get_attribute("content")
    assert "default-src 'none'" in csp
    assert tab.locator("script").count() == 0
    assert tab.locator("link[rel=stylesheet], img[src^=http], iframe").count() == 0


def test_every_figure_is_drawn_with_a_text_alternative(opened: Any, tmp_path: Path) -> None:
    tab, _, _ = opened
    names = tab.locator("figure[data-figure]").evaluate_all("els => els.map(e => e.dataset.figure)")
    assert names == list(FIGURES)
    for name in FIGURES:
        figure = tab.locator(f'figure[data-figure="{name}"]')
        svg = figure.locator("svg").first
        box = svg.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 150, name
        assert svg.get_attribute("role") == "img"
        alt = tab.locator(f"#{svg.get_attribute('aria-labelledby')}").inner_text()
        assert len(alt) > 40, name
        assert figure.locator("figcaption strong").inner_text().strip()
        # the drawing has text (title, axis labels) rendered as paths, and bars or cells
        assert figure.locator("svg path").count() > 20, name


def test_the_numbers_on_the_page_are_the_reports(opened: Any, report: Report) -> None:
    tab, _, _ = opened
    for row in report.numbers["prevalence"]:
        cells = tab.locator(f'#prevalence-table tr[data-model="{row["model"]}"] td')
        assert cells.nth(3).inner_text() == str(row["count"])
        assert cells.nth(4).inner_text() == str(row["n"])
    first = report.numbers["agreement"]["binary"][0]
    cells = tab.locator(f'#kappa-binary tr[data-pair="{first["a"]}|{first["b"]}"] td')
    assert cells.nth(2).inner_text() == str(first["n"])
    assert cells.nth(4).inner_text() == f"{first['kappa']:.2f}"
    assert tab.locator("#population-label").inner_text() == LABEL
    assert "Not available" in tab.locator("#reading").inner_text()
    assert "docs/rules.md" in tab.locator("#prevalence").inner_text()


def test_a_screenshot_of_the_page(opened: Any, tmp_path: Path) -> None:
    tab, _, _ = opened
    shot = tmp_path / "population.png"
    tab.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTIFACTS / "population.png")
