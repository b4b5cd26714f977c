"""Markowitz et al. 2022: >= 2 failed adequate antidepressants AND >= 1 failed evidence-based
psychotherapy of >= 9 sessions; strict also needs the psychotherapy combined with a failed
antidepressant trial (docs/rules.md)."""

from __future__ import annotations

from trdfhir.staging import markowitz

from .builders import ad, context, day, pt, value

SERTRALINE = ad("t1")  # days 0-56
VENLAFAXINE = ad("t2", "venlafaxine", "SNRI", at=60)  # days 60-116


def test_combined_psychotherapy_meets_strict() -> None:
    """Sertraline and venlafaxine failed; CBT 9 weekly sessions from day 70 (during venlafaxine),
    no response -> met, strict met, nothing missing."""
    r = markowitz.stage(context(SERTRALINE, VENLAFAXINE, pt("cbt", 9, at=70)))
    assert value(r) == {"met": True, "strict_met": True, "missing": []}
    assert r.counted == ("t1", "t2", "cbt")
    assert r.explanation.startswith("Strict criteria met")


def test_eight_sessions_are_not_enough() -> None:
    """Same, but CBT of 8 sessions (adequate for Conway, not for Markowitz) -> not met."""
    r = markowitz.stage(context(SERTRALINE, VENLAFAXINE, pt("cbt", 8, at=70)))
    assert value(r) == {
        "met": False,
        "strict_met": False,
        "missing": ["adequate-psychotherapy-trial"],
    }


def test_sequential_psychotherapy_meets_but_not_strict() -> None:
    """Sertraline and venlafaxine failed; CBT 12 sessions from day 200, after both -> met, not
    strict, missing combined-trial."""
    therapy = pt("cbt", 12, at=200)
    assert therapy.trial.start > day(116)
    r = markowitz.stage(context(SERTRALINE, VENLAFAXINE, therapy))
    assert value(r) == {"met": True, "strict_met": False, "missing": ["combined-trial"]}
    assert "strict criteria need" in r.explanation


def test_contract_example_without_psychotherapy() -> None:
    """Two failed antidepressants, no psychotherapy -> {"met": false, missing: [psychotherapy]}."""
    r = markowitz.stage(context(SERTRALINE, VENLAFAXINE))
    assert value(r)["missing"] == ["adequate-psychotherapy-trial"]
    assert value(r)["met"] is False


def test_one_antidepressant_is_not_enough() -> None:
    """Sertraline failed; CBT 12 sessions during it failed -> not met: antidepressant trials missing
    (the combination itself is there)."""
    r = markowitz.stage(context(SERTRALINE, pt("cbt", 12, at=10)))
    assert value(r) == {
        "met": False,
        "strict_met": False,
        "missing": ["adequate-antidepressant-trials"],
    }


def test_unspecified_modality_counts_only_optimistically() -> None:
    """Two failed antidepressants; 12 sessions of psychotherapy coded by CPT only (modality
    unspecified) -> not met; in the upper-bound pass (optimistic) -> met."""
    trials = (SERTRALINE, VENLAFAXINE, pt("p", 12, modality=None, at=70))
    assert value(markowitz.stage(context(*trials)))["met"] is False
    assert value(markowitz.stage(context(*trials, optimistic=True)))["met"] is True


def test_non_evidence_based_never_counts() -> None:
    """Supportive counselling, 16 sessions, failed -> not met, even optimistically."""
    trials = (SERTRALINE, VENLAFAXINE, pt("s", 16, modality="supportive", at=70))
    assert value(markowitz.stage(context(*trials, optimistic=True)))["met"] is False


def test_psychotherapy_that_worked_is_not_a_failure() -> None:
    """CBT 12 sessions with a response -> not met."""
    trials = (SERTRALINE, VENLAFAXINE, pt("cbt", 12, "response", at=70))
    assert value(markowitz.stage(context(*trials)))["met"] is False


def test_session_threshold_is_a_setting() -> None:
    """With markowitz_psychotherapy_min_sessions = 12, CBT of 11 sessions -> not met; 12 -> met."""
    for sessions, met in ((11, False), (12, True)):
        ctx = context(SERTRALINE, VENLAFAXINE, pt("cbt", sessions, at=70),
                      markowitz_psychotherapy_min_sessions=12)  # fmt: skip
        assert value(markowitz.stage(ctx))["met"] is met
