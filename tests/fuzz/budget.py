"""How many inputs each fuzz target tries, per profile.

    TRDFHIR_FUZZ=ci    (default, `make test`)  a fixed, derandomized budget: fast and repeatable
    TRDFHIR_FUZZ=fuzz  (`make fuzz`)           thousands per target, random, failures kept in
                                                .hypothesis/ and replayed first next time

    @budget("library")      # on a @given test: the target's number of examples in this profile

Every run prints the number of examples per target in its summary (tests/fuzz/conftest.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, settings
from hypothesis.database import DirectoryBasedExampleDatabase

PROFILE = os.environ.get("TRDFHIR_FUZZ", "ci")
if PROFILE not in ("ci", "fuzz"):
    raise SystemExit(f"TRDFHIR_FUZZ must be ci or fuzz, not {PROFILE!r}")

_SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]
settings.register_profile(
    "ci",
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=_SLOW,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
)
settings.register_profile(
    "fuzz",
    deadline=None,
    derandomize=False,
    database=DirectoryBasedExampleDatabase(".hypothesis/examples"),
    print_blob=True,
    suppress_health_check=_SLOW,
)
settings.load_profile(PROFILE)

# examples per target: (ci, fuzz)
EXAMPLES: dict[str, tuple[int, int]] = {
    "library": (250, 6000),
    "library-strict": (60, 1500),
    "fast-walk": (300, 6000),
    "cli": (100, 2000),
    "cli-bytes": (60, 1000),
    "operation": (120, 2500),
    "operation-bytes": (60, 1000),
    "cds-patient-view": (100, 2000),
    "cds-orders": (80, 1500),
    "cds-envelope": (80, 1500),
    "cds-feedback": (40, 800),
    "jwt-header": (80, 2000),
    "smart-callback": (50, 1000),
    "smart-launch": (40, 800),
    "smart-write-back": (40, 800),
}

F = TypeVar("F", bound=Callable[..., Any])


def examples(target: str) -> int:
    ci, fuzz = EXAMPLES[target]
    return ci if PROFILE == "ci" else fuzz


def budget(target: str) -> Callable[[F], F]:
    """The settings of this profile with the target's number of examples."""
    return settings(max_examples=examples(target))


TRIED: dict[str, int] = {}  # examples actually run per target (printed at the end)
FIGURES: dict[str, int] = {}  # other counts of the hardening suites (printed at the end)


def tried(target: str) -> None:
    TRIED[target] = TRIED.get(target, 0) + 1
