"""Guidi & Fava 2024 Table 3, criteria A-E for refractoriness (docs/rules.md).

A: >= 2 failed trials, >= 1 psychotherapy (medication >= 28 days at dose; psychotherapy course
>= 140 days, evidence-based). B: clinician. C: clinimetric assessment in the episode. D: not loss of
effect nor rechallenge failure. E: shared decision documented."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from trdfhir.model import AssessedTrial
from trdfhir.staging import guidi_fava

from .builders import AS_OF, ad, context, day, diagnosis, marker, pt, value

SHORT_SSRI = ad("t1", days=30)  # 30 days at an adequate dose: inadequate for staging, enough here
CBT_20_WEEKS = pt("cbt", 20, at=40, days=140)


def gf(*trials: AssessedTrial, **kw: Any) -> dict[str, Any]:
    return value(guidi_fava.stage(context(*trials, **kw)))


def test_criterion_a_met_with_four_weeks_of_medication_and_20_weeks_of_cbt() -> None:
    """Sertraline 30 days at an adequate dose, no response (too short for the 6-week staging rule
    but >= 4 weeks), then CBT weekly for 20 weeks (140 days), no response -> A met."""
    assert SHORT_SSRI.adequacy.status == "inadequate"
    r = guidi_fava.stage(context(SHORT_SSRI, CBT_20_WEEKS))
    assert value(r)["A"] == "met"
    assert r.counted == ("t1", "cbt")


def test_27_days_of_medication_do_not_count() -> None:
    """Sertraline 27 days at dose, failed; CBT 20 weeks failed -> one failure, A not met."""
    assert gf(ad("t1", days=27), CBT_20_WEEKS)["A"] == "not-met"


def test_psychotherapy_of_139_days_does_not_count() -> None:
    """Sertraline 8 weeks failed; CBT over 139 days failed -> A not met (20 weeks = 140 days)."""
    assert gf(ad("t1"), pt("cbt", 20, at=60, days=139))["A"] == "not-met"


def test_medication_only_is_not_enough() -> None:
    """Sertraline and venlafaxine failed, no psychotherapy -> A not met."""
    assert gf(ad("t1"), ad("t2", "venlafaxine", "SNRI", at=60))["A"] == "not-met"


def test_a_not_assessable_when_only_a_trial_of_unknown_dose_could_meet_it() -> None:
    """CBT 20 weeks failed; venlafaxine failed with 10 days at a known adequate dose and 40 days at
    an unrecorded dose (indeterminate) -> A not assessable; in the upper-bound pass -> met."""
    unknown = ad("t2", "venlafaxine", "SNRI", at=160, days_at_dose=10, unknown_dose_days=40)
    assert gf(CBT_20_WEEKS, unknown)["A"] == "not-assessable"
    assert gf(CBT_20_WEEKS, unknown, optimistic=True)["A"] == "met"


def test_a_not_assessable_with_psychotherapy_of_unspecified_modality() -> None:
    """Sertraline 8 weeks failed; 20 weeks of psychotherapy coded by CPT only -> not assessable."""
    therapy = pt("p", 20, at=60, days=150, modality=None)
    assert gf(ad("t1"), therapy)["A"] == "not-assessable"


def test_non_adherent_medication_does_not_count() -> None:
    """Sertraline 8 weeks with documented non-adherence, failed; CBT 20 weeks -> A not met."""
    t1 = ad("t1", non_adherence=("Observation/adh1",))
    assert gf(t1, CBT_20_WEEKS)["A"] == "not-met"


def test_b_is_for_the_clinician_and_lists_comorbidities() -> None:
    """MDD, borderline personality, generalised anxiety and hypothyroidism on record -> B not
    assessable; comorbidities in the fixed order anxiety, borderline, hypothyroidism (MDD is not
    one)."""
    dx = (
        diagnosis("mdd", "F33.1"),
        diagnosis("borderline", "F60.3"),
        diagnosis("hypothyroidism", "E03.9"),
        diagnosis("anxiety", "F41.1"),
    )
    v = gf(diagnoses=dx)
    assert v["B"] == "not-assessable"
    assert v["comorbidities"] == ["anxiety", "borderline", "hypothyroidism"]


def test_c_needs_a_clinimetric_assessment_in_the_episode() -> None:
    """A clinimetric assessment on day 100 -> C met; one before the episode start or after the as-of
    date -> C not met."""
    assert gf(markers=(marker("clinimetric", day(100)),))["C"] == "met"
    assert gf(markers=(marker("clinimetric", day(-5)),))["C"] == "not-met"
    assert gf(markers=(marker("clinimetric", day(600)),))["C"] == "not-met"


def test_c_with_unknown_episode_uses_the_lookback() -> None:
    """Episode start unknown: clinimetric assessment 300 days before the as-of date -> met; 400 days
    before (> lab_lookback_days 365) -> not met."""
    near = marker("clinimetric", AS_OF - timedelta(days=300))
    far = marker("clinimetric", AS_OF - timedelta(days=400))
    assert gf(start=None, months=None, markers=(near,))["C"] == "met"
    assert gf(start=None, months=None, markers=(far,))["C"] == "not-met"


def test_d() -> None:
    """Sertraline failed: D met; with loss of effect on record, or a failure on rechallenge -> not
    met; no counted failure at all -> not assessable."""
    assert gf(ad("t1"))["D"] == "met"
    assert gf(ad("t1"), loss_of_effect=("t1",))["D"] == "not-met"
    assert gf(ad("t1"), rechallenge_failures=("t1",))["D"] == "not-met"
    assert gf(ad("t1", outcome="response"))["D"] == "not-assessable"


def test_e_needs_a_shared_decision() -> None:
    """A shared-decision record in the episode -> E met; none -> not met."""
    assert gf(markers=(marker("shared-decision", day(200)),))["E"] == "met"
    assert gf()["E"] == "not-met"
