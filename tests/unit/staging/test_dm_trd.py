"""DM-TRD (Peeters 2016): item profile; score = sum of weight x item, provisional while the weights
in mappings/dm_trd_weights.json are unverified, null if any item is null (docs/rules.md)."""

from __future__ import annotations

from typing import Any

import pytest

from trdfhir.staging import dm_trd

from .builders import ad, aug, augmented, context, course, diagnosis, make_mappings, pt, value

MODERATE_MDD = diagnosis("mdd", "F33.1", severity=3)


def test_item_profile_of_a_complex_patient() -> None:
    """14 months (duration 2), moderate MDD (3); sertraline failed with lithium then aripiprazole
    attached; venlafaxine failed (2 failures -> level 1); CBT 12 sessions failed (1 counted
    psychotherapy failure); rTMS course (intensified); generalised anxiety, borderline personality
    disorder and a Z-code housing problem on record. Functional impairment cannot be rated from the
    record -> null, so the score is null; weights unverified -> provisional."""
    trials = (
        augmented(ad("t1"), "li", "ari"),
        aug("li", "t1"),
        aug("ari", "t1", "aripiprazole", at=20),
        ad("t2", "venlafaxine", "SNRI", at=70),
        pt("cbt", 12, at=140),
        course("rtms", "rtms", sessions=30, at=250),
    )
    dx = (
        MODERATE_MDD,
        diagnosis("anxiety", "F41.1"),
        diagnosis("borderline", "F60.3"),
        diagnosis("psychosocial-stressor", "Z59.0"),
    )
    r = dm_trd.stage(context(*trials, months=14, diagnoses=dx))
    assert value(r)["items"] == {
        "duration": 2,
        "severity": 3,
        "failed_treatments": 1,
        "functional_impairment": None,
        "comorbid_anxiety": 1,
        "personality_disorder": 1,
        "psychosocial_stressors": 1,
        "extended_augmentation": 2,
        "failed_psychotherapy": 1,
        "intensified_treatment": 1,
    }
    assert value(r)["score"] is None
    assert value(r)["provisional"] is (not make_mappings().dm_trd_verified)
    assert "functional_impairment" in r.explanation
    assert r.headline is None
    assert r.counted == ("t1", "t2", "cbt")


def test_no_failures_and_no_comorbidity() -> None:
    """Sertraline response only, 6 months, moderate: failed_treatments 0, every added item 0."""
    items = value(dm_trd.stage(context(ad("t1", outcome="response"), months=6,
                                       diagnoses=(MODERATE_MDD,))))["items"]  # fmt: skip
    assert items["failed_treatments"] == 0
    assert items["extended_augmentation"] == items["failed_psychotherapy"] == 0
    assert items["intensified_treatment"] == items["comorbid_anxiety"] == 0


def test_personality_disorder_other_than_borderline_counts() -> None:
    """A personality disorder code (F60.5) on record -> personality_disorder 1."""
    ctx = context(diagnoses=(MODERATE_MDD, diagnosis("personality-disorder", "F60.5")))
    assert value(dm_trd.stage(ctx))["items"]["personality_disorder"] == 1


def test_score_is_the_weighted_sum_when_every_item_is_rated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """If every item were rated (functional impairment 1 here), the score is sum(weight x item):
    weights 2 for duration, 1 elsewhere; items duration 3, severity 4, failures 2, functional 1,
    anxiety 1, the rest 0 -> 2*3 + 4 + 2 + 1 + 1 = 14; verified weights -> not provisional."""
    rated: dict[str, Any] = {
        "duration": 3, "severity": 4, "failed_treatments": 2, "functional_impairment": 1,
        "comorbid_anxiety": 1, "personality_disorder": 0, "psychosocial_stressors": 0,
        "extended_augmentation": 0, "failed_psychotherapy": 0, "intensified_treatment": 0,
    }  # fmt: skip
    monkeypatch.setattr(dm_trd, "items", lambda ctx: rated)
    weights = {k: 1.0 for k in rated} | {"duration": 2.0}
    maps = make_mappings(dm_trd_weights=weights, dm_trd_verified=True)
    r = dm_trd.stage(context(maps=maps))
    assert value(r)["score"] == 14.0
    assert value(r)["provisional"] is False


def test_an_item_without_a_weight_leaves_the_score_null(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every item rated 1 but the weights file lacks 'severity' -> score null, explained."""
    rated = dict.fromkeys(("duration", "severity", "failed_treatments"), 1)
    monkeypatch.setattr(dm_trd, "items", lambda ctx: rated)
    maps = make_mappings(dm_trd_weights={"duration": 1.0, "failed_treatments": 1.0})
    r = dm_trd.stage(context(maps=maps))
    assert value(r)["score"] is None
    assert "no weight for: severity" in r.explanation
