"""Conway et al. 2017 (as quoted by Markowitz et al.; not seen verbatim): stage 1 = failures in two
classes (psychotherapy of >= 8 sessions of an evidence-based modality is its own class), stage 2 =
a third failure (docs/rules.md)."""

from __future__ import annotations

from trdfhir.staging import conway, upper_bounds

from .builders import ad, context, pt, value


def test_no_failure_is_stage_0() -> None:
    """No trials -> stage 0."""
    r = conway.stage(context())
    assert r.headline == 0
    assert value(r)["stage"] == 0


def test_two_classes_of_antidepressant_are_stage_1() -> None:
    """Sertraline (SSRI) and venlafaxine (SNRI) failed -> stage 1."""
    assert conway.stage(context(ad("t1"), ad("t2", "venlafaxine", "SNRI", at=60))).headline == 1


def test_two_of_one_class_are_stage_0() -> None:
    """Sertraline and escitalopram failed: one class -> stage 0."""
    r = conway.stage(context(ad("t1"), ad("t2", "escitalopram", at=60)))
    assert r.headline == 0
    assert "all one class" in r.explanation


def test_psychotherapy_of_8_sessions_is_a_second_class() -> None:
    """Sertraline failed; CBT, 8 attended sessions, no response -> stage 1."""
    r = conway.stage(context(ad("t1"), pt("cbt", 8, at=60)))
    assert r.headline == 1
    assert r.counted == ("t1", "cbt")
    assert "psychotherapy (cbt, 8 sessions)" in r.explanation


def test_psychotherapy_of_7_sessions_does_not_count() -> None:
    """Sertraline failed; CBT, 7 sessions, no response (inadequate: too few sessions) -> stage 0."""
    assert conway.stage(context(ad("t1"), pt("cbt", 7, at=60))).headline == 0


def test_non_evidence_based_psychotherapy_does_not_count() -> None:
    """Sertraline failed; 12 sessions of supportive counselling (not evidence-based) -> stage 0."""
    assert conway.stage(context(ad("t1"), pt("sup", 12, modality="supportive"))).headline == 0


def test_unspecified_modality_counts_only_in_the_upper_bound() -> None:
    """Sertraline failed; 10 psychotherapy sessions coded by CPT only (modality unspecified,
    indeterminate) -> stage 0; upper bound 1."""
    ctx = context(ad("t1"), pt("p", 10, modality=None, at=60))
    assert conway.stage(ctx).headline == 0
    assert upper_bounds(ctx)["conway"] == 1


def test_third_failure_is_stage_2() -> None:
    """Sertraline, escitalopram and CBT (8 sessions) failed: 3 failures, 2 classes -> stage 2."""
    trials = (ad("t1"), ad("t2", "escitalopram", at=60), pt("cbt", 8, at=120))
    assert conway.stage(context(*trials)).headline == 2


def test_three_of_one_class_stay_stage_0() -> None:
    """Three failed SSRIs -> stage 0 (stage 2 needs stage 1 first)."""
    trials = (ad("t1"), ad("t2", "escitalopram", at=60), ad("t3", "fluoxetine", at=120))
    assert conway.stage(context(*trials)).headline == 0


def test_psychotherapy_response_does_not_count() -> None:
    """Sertraline failed; CBT 12 sessions with a response -> stage 0."""
    assert conway.stage(context(ad("t1"), pt("cbt", 12, "response", at=60))).headline == 0


def test_session_setting_is_applied() -> None:
    """With conway_psychotherapy_min_sessions = 10, a failed 8-session CBT does not count -> 0."""
    ctx = context(ad("t1"), pt("cbt", 8, at=60), conway_psychotherapy_min_sessions=10)
    assert conway.stage(ctx).headline == 0
