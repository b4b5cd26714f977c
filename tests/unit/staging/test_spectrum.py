"""Response spectrum of the latest trial (Guidi & Fava 2024 Fig. 2; docs/rules.md)."""

from __future__ import annotations

import pytest

from trdfhir.staging import spectrum

from .builders import ad, aug, augmented, context, day, diagnosis, marker, pt


@pytest.mark.parametrize(
    ("outcome", "change", "expected"),
    [
        ("remission", 0.8, "full-response"),
        ("response", 0.6, "residual-symptoms"),
        ("partial", 0.3, "partial-response"),
        ("non-response", 0.1, "non-response"),
        ("non-response", 0.0, "resistance"),
        ("non-response", -0.1, "resistance"),
        ("worsening", -0.4, "resistance"),
        ("intolerance", None, "unknown"),
        ("ongoing", None, "unknown"),
        ("unknown", None, "unknown"),
    ],
)
def test_latest_trial_outcome(outcome: str, change: float | None, expected: str) -> None:
    """Sertraline, 8 weeks, the given outcome and fractional improvement -> the spectrum class:
    some improvement below partial response is non-response; none (<= 0) or worse is resistance."""
    r = spectrum.stage(context(ad("t1", outcome=outcome, change=change)))
    assert r.value == expected
    assert r.headline is None
    assert r.counted == ("t1",)


def test_no_trial_is_unknown() -> None:
    """No treatment in the episode -> unknown."""
    assert spectrum.stage(context()).value == "unknown"


def test_the_latest_trial_decides() -> None:
    """Sertraline failed, then venlafaxine reached remission -> full-response."""
    trials = (ad("t1"), ad("t2", "venlafaxine", "SNRI", "remission", at=60))
    r = spectrum.stage(context(*trials))
    assert r.value == "full-response"
    assert "venlafaxine" in r.explanation


def test_attached_augmentation_is_judged_through_its_antidepressant() -> None:
    """Sertraline with a partial response; lithium added on day 30 (attached, starts later) -> the
    latest treatment is sertraline: partial-response."""
    trials = (augmented(ad("t1", outcome="partial"), "li"), aug("li", "t1", at=30))
    assert spectrum.stage(context(*trials)).value == "partial-response"


def test_documented_non_response_without_scores_is_non_response() -> None:
    """Venlafaxine stopped for lack of efficacy (documented, no scores) -> non-response (resistance
    would need evidence of no improvement)."""
    t = ad("t1", "venlafaxine", "SNRI", evidence="documented")
    assert spectrum.stage(context(t)).value == "non-response"


def test_inferred_failure_ignored_when_measured_only() -> None:
    """Sertraline's failure is inferred from a switch: non-response by default; with
    count_inferred_failures false -> unknown."""
    t = ad("t1", evidence="inferred")
    assert spectrum.stage(context(t)).value == "non-response"
    assert spectrum.stage(context(t, count_inferred_failures=False)).value == "unknown"


def test_refractoriness_needs_guidi_fava_a_through_e() -> None:
    """CBT for 20 weeks failed, then sertraline 8 weeks failed with no improvement; clinimetric
    assessment and shared decision documented; no loss of effect: A, C, D and E met, but B (fitted
    to the case's complexity) needs a clinician -> resistance, explained as "criteria met except B
    (not assessable)", never the bare label (Table 3: A through E are necessary). Without the
    shared decision (E not met) -> resistance, without that note."""
    trials = (pt("cbt", 20, days=140), ad("t1", change=0.0, at=150))
    documented = (marker("clinimetric", day(100)), marker("shared-decision", day(220)))
    r = spectrum.stage(context(*trials, markers=documented))
    assert r.value == "resistance"
    assert "criteria met except B (not assessable)" in r.explanation
    other = spectrum.stage(context(*trials, markers=documented[:1]))
    assert other.value == "resistance"
    assert "except" not in other.explanation


def test_refractoriness_when_b_is_settled_by_double_depression() -> None:
    """Dysthymia and a current MDD episode (double depression); CBASP for 20 weeks failed, then
    sertraline 8 weeks failed unchanged; C, D, E documented. The CBASP course (developed for
    chronic depression) addressed the double depression, so B is met: A-E met -> refractoriness."""
    trials = (pt("cbasp", 20, days=140, modality="cbasp"), ad("t1", change=0.0, at=150))
    documented = (marker("clinimetric", day(100)), marker("shared-decision", day(220)))
    dx = (diagnosis("dysthymia", "ICD-10-CM F34.1"), diagnosis("mdd", "ICD-10-CM F33.1"))
    r = spectrum.stage(context(*trials, markers=documented, diagnoses=dx))
    assert r.value == "refractoriness"
