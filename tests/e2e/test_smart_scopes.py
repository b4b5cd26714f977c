"""SMART scope enforcement in the browser: a launch granted read access only shows the page with
the write-back button disabled and the missing scopes named; a write forced from the page's own
script (with its valid CSRF token) is refused and nothing reaches the FHIR server."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

TIMEOUT = 30_000  # ms
FORCED_WRITE = """async () => {
  const form = document.getElementById("writeback-form");
  const answer = await fetch(form.getAttribute("action"), {
    method: "POST",
    headers: {"Content-Type": "application/json", "Accept": "application/json",
              "X-CSRF-Token": form.elements.csrf_token.value},
    body: "{}",
  });
  return answer.status;
}"""


def test_read_only_grant_disables_the_write_back_and_a_forced_write_is_refused(
    browser: Any, stack: Stack
) -> None:
    """(Its own browser context: the refused fetch is an expected console error.)"""

    def writes() -> int:
        return sum(r.method in ("POST", "PUT", "PATCH", "DELETE") for r in stack.ehr.seen)

    stack.ehr.grant_scope = lambda scope: " ".join(
        s for s in scope.split() if not s.endswith((".c", ".cu"))
    )
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    try:
        page.goto(stack.ehr_launch("vignette-05"))
        page.wait_for_selector("svg.timeline", timeout=TIMEOUT)
        assert page.locator("#writeback-button").is_disabled()
        reason = page.locator("#writeback-reason").inner_text()
        assert "patient/Observation.c" in reason and "patient/CarePlan.c" in reason
        before = writes()
        assert page.evaluate(FORCED_WRITE) == 403
        assert writes() == before
        assert page_errors == []
    finally:
        stack.ehr.grant_scope = None
        context.close()
