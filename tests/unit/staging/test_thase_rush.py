"""Thase & Rush 1997: highest contiguous stage 0-V from counted failures (docs/rules.md)."""

from __future__ import annotations

from trdfhir.model import AssessedTrial
from trdfhir.staging import thase_rush, upper_bounds

from .builders import ad, context, course, value

SSRI = ad("ssri", "sertraline", "SSRI", at=0)
SSRI2 = ad("ssri2", "escitalopram", "SSRI", at=60)
SNRI = ad("snri", "venlafaxine", "SNRI", at=120)
TCA = ad("tca", "nortriptyline", "TCA", at=180)
MAOI = ad("maoi", "phenelzine", "MAOI", at=240)


def stage_of(*trials: AssessedTrial) -> int:
    headline = thase_rush.stage(context(*trials)).headline
    assert isinstance(headline, int)
    return headline


def test_no_trial_is_stage_0() -> None:
    """No antidepressant trial in the episode -> stage 0."""
    r = thase_rush.stage(context())
    assert value(r)["stage"] == 0
    assert r.headline == 0


def test_a_response_is_stage_0() -> None:
    """Sertraline 8 weeks, response -> no failure -> stage 0."""
    assert stage_of(ad("t1", outcome="response")) == 0


def test_one_failure_is_stage_i() -> None:
    """Sertraline failed -> stage I."""
    assert stage_of(SSRI) == 1


def test_two_failures_of_one_class_stay_stage_i() -> None:
    """Sertraline and escitalopram failed: both SSRIs -> stage I (II needs a different class)."""
    r = thase_rush.stage(context(SSRI, SSRI2))
    assert r.headline == 1
    assert "different class" in r.explanation


def test_two_classes_are_stage_ii() -> None:
    """Sertraline (SSRI) then venlafaxine (SNRI) failed -> stage II."""
    r = thase_rush.stage(context(SSRI, SNRI))
    assert r.headline == 2
    assert r.explanation.startswith(
        "Stage II: failed adequate trials of SSRI (sertraline) and SNRI (venlafaxine)"
    )
    assert r.counted == ("ssri", "snri")


def test_maoi_without_tca_stays_stage_ii() -> None:
    """SSRI, SNRI and MAOI failed, no TCA -> stage II (III needs a TCA: highest contiguous
    stage)."""
    assert stage_of(SSRI, SNRI, MAOI) == 2


def test_tca_with_only_one_other_class_is_stage_ii() -> None:
    """SSRI and TCA failed: two classes -> II; III needs two classes besides the TCA."""
    assert stage_of(SSRI, TCA) == 2


def test_tca_after_two_classes_is_stage_iii() -> None:
    """SSRI, SNRI and TCA failed -> stage III."""
    assert stage_of(SSRI, SNRI, TCA) == 3


def test_maoi_cannot_stand_in_for_the_stage_iii_classes_at_stage_iv() -> None:
    """SSRI, MAOI and TCA failed: III holds (TCA + SSRI + MAOI), but IV needs III without the MAOI
    (TCA + SSRI only) -> stage III."""
    assert stage_of(SSRI, MAOI, TCA) == 3


def test_maoi_after_stage_iii_is_stage_iv() -> None:
    """SSRI, SNRI, TCA and MAOI failed -> stage IV."""
    assert stage_of(SSRI, SNRI, TCA, MAOI) == 4


def test_bilateral_ect_after_stage_iv_is_stage_v() -> None:
    """Stage IV plus a failed bilateral ECT course of 12 sessions -> stage V."""
    ect = course("ect", at=300, laterality="bilateral")
    r = thase_rush.stage(context(SSRI, SNRI, TCA, MAOI, ect))
    assert r.headline == 5
    assert value(r)["roman"] == "V"
    assert "ect" in r.counted


def test_ect_of_unspecified_laterality_counts() -> None:
    """Stage IV plus a failed ECT course with no laterality coded -> stage V."""
    assert stage_of(SSRI, SNRI, TCA, MAOI, course("ect", at=300, laterality=None)) == 5


def test_right_unilateral_ect_does_not_give_stage_v() -> None:
    """Stage IV plus a failed ECT course coded right-unilateral -> stays IV."""
    ect = course("ect", at=300, laterality="right-unilateral")
    r = thase_rush.stage(context(SSRI, SNRI, TCA, MAOI, ect))
    assert r.headline == 4
    assert "not bilateral" in r.explanation


def test_inadequate_or_successful_ect_does_not_give_stage_v() -> None:
    """Stage IV plus bilateral ECT of 5 sessions (< 7, inadequate), or 12 sessions with a response
    -> stays IV."""
    assert stage_of(SSRI, SNRI, TCA, MAOI, course("ect", sessions=5, at=300)) == 4
    assert stage_of(SSRI, SNRI, TCA, MAOI, course("ect", outcome="response", at=300)) == 4


def test_ect_without_stage_iv_does_not_jump() -> None:
    """SSRI failed, then bilateral ECT failed -> stage I (V needs IV first)."""
    assert stage_of(SSRI, course("ect", at=100)) == 1


def test_upper_bound_with_an_indeterminate_trial() -> None:
    """Sertraline failed (adequate); venlafaxine failed with its dose unrecorded for most of it
    (indeterminate) -> stage I; upper bound II."""
    snri = ad("snri", "venlafaxine", "SNRI", at=120, days_at_dose=0, unknown_dose_days=56)
    ctx = context(SSRI, snri)
    assert thase_rush.stage(ctx).headline == 1
    assert upper_bounds(ctx)["thase_rush"] == 2
