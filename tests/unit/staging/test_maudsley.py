"""Maudsley Staging Method (Fekadu 2009/2018): duration + severity + failures + augmentation + ECT,
3-15, mild 3-6 / moderate 7-10 / severe 11-15; not applicable without a failure (docs/rules.md).

Severity comes from a fixed test PHQ-9 scale (builders.PHQ9_BANDS: 5-9 -> 2, 10-14 -> 3,
15-19 -> 3, 20-27 -> 4, 0-4 -> no Maudsley severity) or from the MDD diagnosis."""

from __future__ import annotations

from typing import Any

import pytest

from trdfhir.model import AssessedTrial
from trdfhir.staging import maudsley, upper_bounds
from trdfhir.staging.maudsley import failure_level

from .builders import AS_OF, ad, aug, augmented, context, course, day, diagnosis, pt, score
from .builders import value as value_of

MODERATE_MDD = diagnosis("mdd", "ICD-10 F33.1", severity=3)


def msm(*trials: AssessedTrial, **kw: Any) -> dict[str, Any]:
    kw.setdefault("diagnoses", (MODERATE_MDD,))
    return value_of(maudsley.stage(context(*trials, **kw)))


def test_no_failure_is_not_applicable() -> None:
    """Sertraline response, 12 months, moderate -> no failure -> not applicable, score null."""
    r = maudsley.stage(context(ad("t1", outcome="response"), diagnoses=(MODERATE_MDD,)))
    assert value_of(r)["score"] is None
    assert value_of(r)["category"] == "not-applicable"
    assert r.headline is None


@pytest.mark.parametrize(
    ("months", "duration", "total"), [(1, 1, 5), (12, 1, 5), (13, 2, 6), (24, 2, 6), (25, 3, 7)]
)
def test_duration_bands(months: int, duration: int, total: int) -> None:
    """One failed SSRI, moderate MDD (3), no augmentation or ECT: duration <= 12 months 1,
    13-24 months 2, > 24 months 3; total = duration + 3 + 1."""
    v = msm(ad("t1"), months=months)
    assert v["dimensions"]["duration"] == duration
    assert v["score"] == total


def test_24_vs_25_months_crosses_the_category_line() -> None:
    """Same patient: 24 months -> 6 mild; 25 months -> 7 moderate."""
    assert msm(ad("t1"), months=24)["category"] == "mild"
    assert msm(ad("t1"), months=25)["category"] == "moderate"


@pytest.mark.parametrize(
    ("n", "level"),
    [(0, 0), (1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (6, 3), (7, 4), (10, 4), (11, 5), (20, 5)],
)
def test_failure_levels(n: int, level: int) -> None:
    """Failed antidepressants 1-2 -> 1, 3-4 -> 2, 5-6 -> 3, 7-10 -> 4, > 10 -> 5 (0: none)."""
    assert failure_level(n) == level


@pytest.mark.parametrize(("n", "level"), [(2, 1), (3, 2), (11, 5)])
def test_failures_dimension_from_counted_trials(n: int, level: int) -> None:
    """n failed adequate antidepressant trials in the episode -> the failure level."""
    trials = [ad(f"t{i}", f"drug{i}", at=60 * i) for i in range(n)]
    assert msm(*trials)["dimensions"]["failures"] == level


def test_severity_from_the_latest_score_in_the_episode() -> None:
    """PHQ-9 22 (severe, 4) in month 1, PHQ-9 8 (mild, 2) in month 10 -> the latest: severity 2,
    even though the diagnosis says moderate."""
    scores = (score("PHQ-9", 22, day(30)), score("PHQ-9", 8, day(300)))
    v = msm(ad("t1"), scores=scores)
    assert v["dimensions"]["severity"] == 2
    assert "PHQ-9 8" in v["severity_source"]


def test_scores_outside_the_episode_are_ignored() -> None:
    """PHQ-9 25 before the episode start and PHQ-9 25 after the as-of date; moderate MDD -> 3."""
    scores = (score("PHQ-9", 25, day(-10)), score("PHQ-9", 25, day(600)))
    assert day(600) > AS_OF
    assert msm(ad("t1"), scores=scores)["dimensions"]["severity"] == 3


def test_global_change_ratings_are_not_severity() -> None:
    """A CGI-I rating is a change scale, not severity -> severity from the diagnosis (3)."""
    assert msm(ad("t1"), scores=(score("CGI-I", 6, day(90)),))["dimensions"]["severity"] == 3


def test_a_band_without_maudsley_severity_falls_back_to_the_diagnosis() -> None:
    """Latest PHQ-9 3 (minimal band, no Maudsley severity) -> the MDD code's severity 3."""
    assert msm(ad("t1"), scores=(score("PHQ-9", 3, day(90)),))["dimensions"]["severity"] == 3


def test_psychotic_features_give_severity_5() -> None:
    """F33.3 (severe with psychotic features) on record and a latest PHQ-9 of 8 -> severity 5."""
    psychotic = diagnosis("mdd", "ICD-10 F33.3", severity=5, psychotic=True)
    v = msm(ad("t1"), diagnoses=(psychotic,), scores=(score("PHQ-9", 8, day(90)),))
    assert v["dimensions"]["severity"] == 5


def test_most_severe_diagnosis_without_scores() -> None:
    """F33.0 (mild, 2) and F33.2 (severe without psychosis, 4), no scores -> severity 4."""
    dx = (diagnosis("mdd", "F33.0", severity=2), diagnosis("mdd", "F33.2", severity=4))
    assert msm(ad("t1"), diagnoses=dx)["dimensions"]["severity"] == 4


def test_severity_unknown_leaves_the_score_null() -> None:
    """One failure, MDD code without severity (F33.9), no scores -> severity null, score null."""
    r = maudsley.stage(context(ad("t1"), diagnoses=(diagnosis("mdd", "F33.9"),)))
    assert value_of(r)["score"] is None
    assert value_of(r)["category"] is None
    assert "severity" in r.explanation


def test_unknown_episode_duration_leaves_the_score_null() -> None:
    """One failure, moderate MDD, episode start unknown (months null) -> duration null, score
    null."""
    v = msm(ad("t1"), months=None, start=None)
    assert v["dimensions"]["duration"] is None
    assert v["score"] is None


def test_augmentation_and_ect_used() -> None:
    """Sertraline failed with lithium attached (augmentation used 1); an ECT course of 3 sessions,
    stopped (ECT used 1, adequacy irrelevant): 1 + 3 + 1 + 1 + 1 = 7 moderate."""
    v = msm(augmented(ad("t1"), "li"), aug("li", "t1"), course("ect", sessions=3, at=100))
    assert v["dimensions"] == {
        "duration": 1,
        "severity": 3,
        "failures": 1,
        "augmentation": 1,
        "ect": 1,
    }
    assert (v["score"], v["category"]) == (7, "moderate")


def test_unattached_augmenting_agent_is_not_augmentation() -> None:
    """Quetiapine taken for 10 days, not attached to any antidepressant -> augmentation 0."""
    assert msm(ad("t1"), aug("q", None, "quetiapine", days=10))["dimensions"]["augmentation"] == 0


def test_worked_case_b_severe() -> None:
    """Research case B: 30 months, severe without psychosis (4), 4 failed antidepressants (2),
    lithium augmentation (1), bilateral ECT (1): 3 + 4 + 2 + 1 + 1 = 11 severe."""
    trials = (
        ad("t1", "sertraline"),
        ad("t2", "venlafaxine", "SNRI", at=60),
        augmented(ad("t3", "nortriptyline", "TCA", at=120), "li"),
        aug("li", "t3", at=130),
        ad("t4", "phenelzine", "MAOI", at=180),
        course("ect", at=240),
    )
    v = msm(*trials, months=30, diagnoses=(diagnosis("mdd", "F33.2", severity=4),))
    assert (v["score"], v["category"]) == (11, "severe")


def test_worked_case_d_psychotherapy_does_not_count() -> None:
    """Research case D: 14 months, moderate (3); CBT 12 sessions failed; escitalopram failed with
    aripiprazole: 2 + 3 + 1 + 1 + 0 = 7 moderate (psychotherapy is not an MSM failure)."""
    trials = (
        pt("cbt", 12),
        augmented(ad("t1", "escitalopram", at=90), "ari"),
        aug("ari", "t1", at=100),
    )
    v = msm(*trials, months=14)
    assert (v["score"], v["category"]) == (7, "moderate")


def test_worked_case_e_psychotic_with_eleven_failures() -> None:
    """Research case E: 26 months, psychotic (5), 11 failures (5), augmentation (1), no ECT:
    3 + 5 + 5 + 1 + 0 = 14 severe."""
    trials = [ad(f"t{i}", f"drug{i}", at=45 * i) for i in range(11)]
    psychotic = diagnosis("mdd", "F33.3", severity=5, psychotic=True)
    v = msm(*trials, aug("li", "t0"), months=26, diagnoses=(psychotic,))
    assert (v["score"], v["category"]) == (14, "severe")


def test_category_boundaries() -> None:
    """10 -> moderate, 11 -> severe: 25 months (3), severe (4), 3 failures (2), augmentation (1) =
    10; plus ECT = 11."""
    severe = (diagnosis("mdd", "F33.2", severity=4),)
    trials = [ad(f"t{i}", f"drug{i}", at=60 * i) for i in range(3)] + [aug("li", "t0")]
    assert msm(*trials, months=25, diagnoses=severe)["category"] == "moderate"
    with_ect = msm(*trials, course("ect", at=400), months=25, diagnoses=severe)
    assert (with_ect["score"], with_ect["category"]) == (11, "severe")


def test_upper_bound_makes_it_applicable() -> None:
    """Only trial: venlafaxine failed with its dose unrecorded (indeterminate) -> not applicable
    now; upper bound 1 + 3 + 1 = 5."""
    t = ad("t1", "venlafaxine", "SNRI", days_at_dose=0, unknown_dose_days=56)
    ctx = context(t, diagnoses=(MODERATE_MDD,))
    assert maudsley.stage(ctx).headline is None
    assert upper_bounds(ctx)["maudsley"] == 5
