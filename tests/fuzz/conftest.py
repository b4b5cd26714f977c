"""The fuzz suites: profiles in budget.py; the number of inputs each target tried is printed at
the end of the run."""

from __future__ import annotations

import pytest

from .budget import FIGURES, PROFILE, TRIED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TRIED:
        total = sum(TRIED.values())
        terminalreporter.write_sep("-", f"fuzz inputs tried (profile {PROFILE}): {total}")
        for target, count in sorted(TRIED.items()):
            terminalreporter.write_line(f"  {target:<20} {count}")
    for name, count in sorted(FIGURES.items()):
        terminalreporter.write_line(f"  {name}: {count}")
