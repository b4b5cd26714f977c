"""Regulatory TRD (FDA / EMA): >= 2 counted antidepressant failures in the episode; bipolar
excludes."""

from __future__ import annotations

from trdfhir.staging import regulatory, upper_bounds

from .builders import ad, context, diagnosis, value


def test_two_failures_of_one_class_meet_fda_but_not_the_older_ema_wording() -> None:
    """Sertraline then escitalopram, 8 weeks each at an adequate dose, both non-response (measured).
    Two failed adequate trials -> met; both SSRIs -> different_classes false, ema_older_met false.
    """
    ctx = context(ad("t1", "sertraline", "SSRI"), ad("t2", "escitalopram", "SSRI", at=70))
    r = regulatory.stage(ctx)
    assert r.value == {
        "met": True,
        "failed_adequate_trials": 2,
        "different_classes": False,
        "ema_older_met": False,
        "excluded_by": [],
    }
    assert r.headline is True
    assert r.counted == ("t1", "t2")
    assert "SSRI (sertraline, escitalopram)" in r.explanation


def test_two_failures_of_different_classes_meet_both_wordings() -> None:
    """Sertraline (SSRI) then venlafaxine (SNRI), both failed -> met, different classes, older EMA
    met."""
    ctx = context(ad("t1", "sertraline", "SSRI"), ad("t2", "venlafaxine", "SNRI", at=70))
    r = regulatory.stage(ctx)
    assert value(r)["met"] is True
    assert value(r)["different_classes"] is True
    assert value(r)["ema_older_met"] is True
    assert "SSRI (sertraline) and SNRI (venlafaxine)" in r.explanation


def test_one_failure_is_not_enough() -> None:
    """Sertraline failed; venlafaxine gave a response -> 1 failed trial, not met."""
    ctx = context(ad("t1"), ad("t2", "venlafaxine", "SNRI", "response", at=70))
    r = regulatory.stage(ctx)
    assert value(r)["met"] is False
    assert value(r)["failed_adequate_trials"] == 1
    assert r.counted == ("t1",)
    assert "at least 2 needed" in r.explanation


def test_a_trial_too_short_does_not_count() -> None:
    """Sertraline 8 weeks failed; venlafaxine only 5 weeks (35 days < 42) then switched -> not
    met."""
    ctx = context(ad("t1"), ad("t2", "venlafaxine", "SNRI", at=70, days=35))
    assert regulatory.stage(ctx).headline is False


def test_bipolar_on_record_excludes_the_label() -> None:
    """Two failed adequate trials, but a bipolar disorder Condition is on record -> not met,
    excluded_by names the Condition (EU-PEARL)."""
    bp = diagnosis("bipolar", "ICD-10 F31.3", resource="Condition/bp1")
    ctx = context(ad("t1"), ad("t2", "venlafaxine", "SNRI", at=70), diagnoses=(bp,))
    r = regulatory.stage(ctx)
    assert value(r)["met"] is False
    assert value(r)["excluded_by"] == ["Condition/bp1"]
    assert value(r)["failed_adequate_trials"] == 2
    assert "bipolar" in r.explanation


def test_inferred_failures_count_unless_measured_only() -> None:
    """Sertraline failed (measured); venlafaxine's failure is inferred from a switch. Counted by
    default -> met; with count_inferred_failures false (--measured-only) -> 1 failure, not met."""
    trials = (ad("t1"), ad("t2", "venlafaxine", "SNRI", at=70, evidence="inferred"))
    assert regulatory.stage(context(*trials)).headline is True
    strict = context(*trials, count_inferred_failures=False)
    assert regulatory.stage(strict).headline is False


def test_partial_response_counts_only_when_configured() -> None:
    """Sertraline failed; venlafaxine gave a partial response (30 % drop). Default: 1 failure, not
    met; partial_counts_as_failure (Canadian consensus) -> 2 failures, met."""
    trials = (ad("t1"), ad("t2", "venlafaxine", "SNRI", "partial", at=70))
    assert regulatory.stage(context(*trials)).headline is False
    assert regulatory.stage(context(*trials, partial_counts_as_failure=True)).headline is True


def test_intolerance_is_not_a_failure() -> None:
    """Sertraline failed; venlafaxine stopped for intolerance -> 1 failure, not met."""
    ctx = context(
        ad("t1"), ad("t2", "venlafaxine", "SNRI", "intolerance", at=70, evidence="documented")
    )
    assert value(regulatory.stage(ctx))["failed_adequate_trials"] == 1


def test_earlier_episode_trials_do_not_count() -> None:
    """Fluoxetine failed in an earlier episode; sertraline failed in this one -> 1 failure, not
    met."""
    earlier = ad("t0", "fluoxetine", "SSRI", at=-900)
    ctx = context(ad("t1"), earlier=(earlier,))
    assert value(regulatory.stage(ctx))["failed_adequate_trials"] == 1


def test_upper_bound_counts_a_trial_of_unknown_dose() -> None:
    """Sertraline failed (adequate); venlafaxine failed after 8 weeks, but only 20 days at a known
    adequate dose and 36 days at an unrecorded dose -> indeterminate. Confirmed: not met; upper
    bound: met."""
    unknown = ad("t2", "venlafaxine", "SNRI", at=70, days_at_dose=20, unknown_dose_days=36)
    ctx = context(ad("t1"), unknown)
    assert unknown.adequacy.status == "indeterminate"
    assert regulatory.stage(ctx).headline is False
    assert upper_bounds(ctx)["regulatory"] is True
