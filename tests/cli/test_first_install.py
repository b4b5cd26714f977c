"""The first `make install` / `make test` says what it installs and why it takes time.

Reads the commands make would run (`make -n --always-make`), so it checks the real Makefile.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _plan(*targets: str) -> list[str]:
    done = subprocess.run(
        ["make", "-n", "--always-make", *targets],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.splitlines()


def test_install_announces_each_step_before_it_runs() -> None:
    plan = _plan("install")
    installs = [i for i, line in enumerate(plan) if "pip install" in line]
    assert installs, plan
    for i in installs:
        assert plan[i - 1].startswith("echo ") or plan[i - 2].startswith("echo "), plan[i]


def test_the_long_pip_step_shows_its_packages_without_progress_bars() -> None:
    project = [line for line in _plan("install") if "pip install" in line and "-e " in line]
    assert len(project) == 1
    assert "--quiet" not in project[0] and " -q" not in project[0]  # one line per package
    assert "--progress-bar off" in project[0]  # no bar redrawn in CI logs
    assert any("few minutes" in line for line in _plan("install"))  # says why it takes time


def test_make_test_announces_the_validator_and_chromium() -> None:
    plan = "\n".join(_plan("test"))
    assert "[validator]" in plan and "[chromium]" in plan
