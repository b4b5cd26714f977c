"""MGH staging (Fava 2003): +1 per failure, +0.5 dose optimisation, +0.5 augmentation or
combination, +3 per failed ECT course (docs/rules.md)."""

from __future__ import annotations

from typing import Any

from trdfhir.model import AssessedTrial
from trdfhir.staging import mgh, upper_bounds

from .builders import ad, augmented, context, course, value


def score(*trials: AssessedTrial, **settings: Any) -> float | int | bool | None:
    return mgh.stage(context(*trials, **settings)).headline


def test_no_failure_scores_zero() -> None:
    """Sertraline raised 50 -> 100 mg, response -> 0 (only failures score)."""
    r = mgh.stage(context(ad("t1", "sertraline", outcome="response", doses=(50, 100))))
    assert r.headline == 0.0
    assert value(r)["score"] == 0.0


def test_one_plain_failure_scores_one() -> None:
    """Sertraline 100 mg throughout (min adequate 50) for 8 weeks, non-response -> 1."""
    assert score(ad("t1")) == 1.0


def test_dose_optimisation_adds_half() -> None:
    """Sertraline 50 then 150 mg (raised above the 50 mg minimum), non-response -> 1.5."""
    r = mgh.stage(context(ad("t1", doses=(50, 150))))
    assert r.headline == 1.5
    assert "dose optimised" in r.explanation


def test_raise_up_to_the_minimum_is_not_optimisation() -> None:
    """Sertraline 25 then 50 mg (the minimum itself) for 12 weeks, 6 weeks at 50 mg, failed -> 1."""
    assert score(ad("t1", doses=(25, 50), days=84)) == 1.0


def test_augmentation_adds_half() -> None:
    """Sertraline failed while augmented with lithium -> 1.5."""
    assert score(augmented(ad("t1"), "li")) == 1.5


def test_dose_optimisation_and_augmentation_add_one() -> None:
    """Sertraline 50 -> 150 mg plus aripiprazole augmentation, failed -> 2.0."""
    assert score(augmented(ad("t1", doses=(50, 150)), "ari")) == 2.0


def test_combination_counts_like_augmentation_unless_disabled() -> None:
    """Sertraline combined with mirtazapine (each a failure): 1.5 + 1.5 = 3.0; with
    mgh_combination_counts false -> 1 + 1 = 2.0."""
    t1 = ad("t1", combined_with=("t2",))
    t2 = ad("t2", "mirtazapine", "other", at=14, combined_with=("t1",))
    assert score(t1, t2) == 3.0
    assert score(t1, t2, mgh_combination_counts=False) == 2.0


def test_augmented_and_combined_trial_gets_one_half_point() -> None:
    """Sertraline both augmented and combined -> 1.5, not 2.0."""
    assert score(augmented(ad("t1", combined_with=("t9",)), "li")) == 1.5


def test_failed_ect_adds_three() -> None:
    """Sertraline failed, then 12 sessions of ECT failed -> 1 + 3 = 4."""
    r = mgh.stage(context(ad("t1"), course("ect", at=90)))
    assert r.headline == 4.0
    assert r.counted == ("t1", "ect")


def test_inadequate_or_successful_ect_adds_nothing() -> None:
    """ECT of 4 sessions (< 7) failed, or 12 sessions with remission -> 0."""
    assert score(course("ect", sessions=4)) == 0.0
    assert score(course("ect", outcome="remission")) == 0.0


def test_worked_case_b() -> None:
    """Research case B: sertraline, venlafaxine, nortriptyline + lithium, phenelzine all failed,
    then 12 bilateral ECT sessions failed -> 4 + 0.5 (lithium) + 3 = 7.5."""
    trials = (
        ad("t1", "sertraline", "SSRI"),
        ad("t2", "venlafaxine", "SNRI", at=60),
        augmented(ad("t3", "nortriptyline", "TCA", at=120), "li"),
        ad("t4", "phenelzine", "MAOI", at=180),
        course("ect", at=240),
    )
    assert score(*trials) == 7.5


def test_worked_case_a() -> None:
    """Research case A: sertraline 100 mg 8 weeks failed; escitalopram 10 -> 20 mg 6 weeks failed
    (minimum 10 mg) -> 1 + 1 + 0.5 = 2.5."""
    trials = (ad("t1"), ad("t2", "escitalopram", doses=(10, 20), adequate_dose=10, days=42, at=60))
    assert score(*trials) == 2.5


def test_upper_bound_adds_the_indeterminate_trial() -> None:
    """Sertraline failed (1); venlafaxine 75 -> 150 mg failed, dose unrecorded for 30 of its days
    (28 known days at dose + 30 unknown, indeterminate): 1 now, up to 1 + 1.5 = 2.5."""
    t2 = ad("t2", "venlafaxine", "SNRI", at=60, doses=(75, 150), adequate_dose=75,
            days_at_dose=28, unknown_dose_days=30)  # fmt: skip
    ctx = context(ad("t1"), t2)
    assert mgh.stage(ctx).headline == 1.0
    assert upper_bounds(ctx)["mgh"] == 2.5
