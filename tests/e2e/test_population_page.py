"""The population page (trd-fhir population) in Debian's headless Chromium, opened from a
file:// URL with every request other than the page itself blocked: it renders, its figures are
there with their text alternatives, its numbers are the report's, and it asks for nothing from the
network. Uses this folder's `page` fixture (one Playwright for the session; browser errors fail
the test) but not the sandbox server. The screenshot lands in tests/e2e/artifacts/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ..population.support import LABEL, Report, build_report, population

pytestmark = pytest.mark.e2e

FIGURES = ("prevalence", "stages", "agreement", "failed_trials", "pseudo_resistance", "upper_bound")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    results = population(tmp_path_factory.mktemp("population"))
    return build_report(results, tmp_path_factory.mktemp("report"))


@pytest.fixture
def opened(page: Any, report: Report) -> tuple[Any, list[str], list[str]]:
    """The page loaded with a route that lets through only the page's own file."""
    requests: list[str] = []
    blocked: list[str] = []
    url = report.page.resolve().as_uri()

    def gate(route: Any) -> None:
        if route.request.url == url:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.context.route("**/*", gate)
    page.on("request", lambda r: requests.append(r.url))
    page.goto(url, wait_until="load")
    return page, requests, blocked


def test_the_page_asks_for_nothing_but_itself(opened: Any, report: Report) -> None:
    tab, requests, blocked = opened
    assert requests == [report.page.resolve().as_uri()]
    assert blocked == []
    csp = tab.locator('meta[http-equiv="Content-Security-Policy"]').get_attribute("content")
    assert "default-src 'none'" in csp
    assert tab.locator("script").count() == 0
    assert tab.locator("link[rel=stylesheet], img[src^=http], iframe").count() == 0


def test_every_figure_is_drawn_with_a_text_alternative(opened: Any) -> None:
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


def test_a_screenshot_of_the_page(opened: Any, artifacts: Path) -> None:
    tab, _, _ = opened
    shot = artifacts / "population.png"
    tab.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000
