"""European Staging Method (Souery 1999): none / non-responder / TRD1-5 / CRD (docs/rules.md)."""

from __future__ import annotations

import pytest

from trdfhir.model import AssessedTrial
from trdfhir.staging import esm

from .builders import ad, augmented, context, value

CLASSES = ("SSRI", "SNRI", "TCA", "MAOI", "other", "SSRI", "SNRI")


def failures(n: int) -> list[AssessedTrial]:
    """n failed adequate trials of alternating classes, 8 weeks each, back to back."""
    return [ad(f"t{i + 1}", f"drug{i + 1}", CLASSES[i], at=i * 56) for i in range(n)]


def test_no_failure_is_none() -> None:
    """Sertraline gave a response -> none."""
    r = esm.stage(context(ad("t1", outcome="response")))
    assert value(r)["category"] == "none"
    assert value(r)["failed_trials"] == 0


def test_one_failure_is_non_responder() -> None:
    """Sertraline 8 weeks failed -> non-responder; 8 weeks of treatment."""
    r = esm.stage(context(ad("t1")))
    assert value(r) == {
        "category": "non-responder",
        "failed_trials": 1,
        "weeks": 8.0,
        "span_days": 56,
    }


def test_two_failures_of_one_class_are_non_responder() -> None:
    """Sertraline and escitalopram failed: one class -> non-responder (TRD needs different
    classes)."""
    ctx = context(ad("t1", "sertraline"), ad("t2", "escitalopram", at=56))
    assert value(esm.stage(ctx))["category"] == "non-responder"


@pytest.mark.parametrize(
    ("n", "category"),
    [(2, "TRD1"), (3, "TRD2"), (4, "TRD3"), (5, "TRD4"), (6, "TRD5"), (7, "TRD5")],
)
def test_trd_level_by_number_of_failures(n: int, category: str) -> None:
    """n failed adequate trials of >= 2 classes, no augmentation: 2 -> TRD1 ... 6 or more ->
    TRD5."""
    r = esm.stage(context(*failures(n)))
    assert value(r)["category"] == category
    assert value(r)["failed_trials"] == n
    assert value(r)["weeks"] == 8.0 * n


def test_crd_needs_augmentation_and_a_year() -> None:
    """Sertraline (day 0-56, augmented with lithium), venlafaxine (day 100-156), nortriptyline from
    day 309 for 56 days: first start to last end = 365 days, augmentation included -> CRD."""
    trials = (
        augmented(ad("t1", "sertraline", "SSRI"), "li"),
        ad("t2", "venlafaxine", "SNRI", at=100),
        ad("t3", "nortriptyline", "TCA", at=309),
    )
    r = esm.stage(context(*trials))
    assert value(r)["category"] == "CRD"
    assert value(r)["span_days"] == 365
    assert "sertraline" in r.explanation


def test_364_days_is_not_yet_crd() -> None:
    """As above but nortriptyline starts a day earlier: span 364 days -> TRD2."""
    trials = (
        augmented(ad("t1", "sertraline", "SSRI"), "li"),
        ad("t2", "venlafaxine", "SNRI", at=100),
        ad("t3", "nortriptyline", "TCA", at=308),
    )
    assert value(esm.stage(context(*trials)))["category"] == "TRD2"


def test_a_year_without_augmentation_is_not_crd() -> None:
    """Three failures of different classes over more than a year, none augmented -> TRD2."""
    trials = (ad("t1"), ad("t2", "venlafaxine", "SNRI", at=100), ad("t3", "x", "TCA", at=400))
    assert value(esm.stage(context(*trials)))["category"] == "TRD2"


def test_crd_needs_trd_first() -> None:
    """One augmented sertraline trial lasting 400 days, failed -> non-responder, not CRD."""
    trial = augmented(ad("t1", days=400), "li")
    assert value(esm.stage(context(trial)))["category"] == "non-responder"
