"""Trials, adequacy, outcomes, episodes: small clinical scenarios through trdfhir.evaluate."""

from datetime import date

import pytest

from tests.fhir_builders import (
    PATIENT,
    bundle,
    condition,
    dispense,
    phq9,
    session,
    statement,
)
from trdfhir import evaluate
from trdfhir.episodes import months_between

AS_OF = "2026-11-01"


def run(*resources, as_of=AS_OF, **settings):
    flat = []
    for r in resources:
        flat.extend(r if isinstance(r, list) else [r])
    return evaluate(bundle(*flat), as_of=as_of, settings=settings or None).summary()


def trial(summary, agent):
    return next(t for t in summary["trials"] if t["agent"] == agent)


def test_sertraline_then_venlafaxine_two_measured_failures():
    """PHQ-9 19 -> 17 on sertraline 100 mg (10 weeks), 17 -> 16 on venlafaxine 150 mg."""
    s = run(
        condition("F33.1", "2026-01-01"),
        statement("sertraline", 100, "2026-01-10", "2026-03-31"),
        statement("venlafaxine", 150, "2026-04-10", "2026-07-31"),
        phq9("2026-01-09", 19),
        phq9("2026-03-30", 17),
        phq9("2026-07-30", 16),
    )
    assert [(t["agent"], t["adequacy"], t["outcome"], t["evidence"]) for t in s["trials"]] == [
        ("sertraline", "adequate", "non-response", "measured"),
        ("venlafaxine", "adequate", "non-response", "measured"),
    ]
    assert s["stages"]["regulatory"]["met"] is True
    assert s["stages"]["thase_rush"]["stage"] == 2


def test_gap_of_30_days_merges_and_31_splits():
    """Two courses of sertraline: a gap of 30 days is still one trial; 31 days is two."""
    merged = run(
        statement("sertraline", 50, "2026-01-01", "2026-01-31"),
        statement("sertraline", 50, "2026-03-03", "2026-04-30"),
    )
    split = run(
        statement("sertraline", 50, "2026-01-01", "2026-01-31"),
        statement("sertraline", 50, "2026-03-04", "2026-04-30"),
    )
    assert len(merged["trials"]) == 1
    assert len(split["trials"]) == 2


def test_gap_days_are_not_days_at_dose():
    """Jan (31 days) and Mar 3 - Apr 30 (59 days) with a 30-day gap: 90 days at dose."""
    s = run(
        statement("sertraline", 50, "2026-01-01", "2026-01-31"),
        statement("sertraline", 50, "2026-03-03", "2026-04-30"),
    )
    assert s["trials"][0]["weeks_at_adequate_dose"] == round(90 / 7, 1)


def test_dose_steps_and_dose_optimisation():
    """Escitalopram 10 mg for 6 weeks, then 20 mg for 6 weeks: optimised above the minimum."""
    s = run(
        statement("escitalopram", 10, "2026-01-01", "2026-02-11"),
        statement("escitalopram", 20, "2026-02-12", "2026-03-25"),
    )
    t = s["trials"][0]
    assert [st["daily_dose_mg"] for st in t["dose_steps"]] == [10, 20]
    assert t["dose_optimised"] is True and t["max_daily_dose_mg"] == 20


@pytest.mark.parametrize(
    ("mg", "adequacy", "reasons"),
    [
        (25, "inadequate", ["dose-below-minimum"]),
        (None, "indeterminate", ["dose"]),
        (50, "adequate", []),
    ],
)
def test_dose_adequacy(mg, adequacy, reasons):
    t = run(statement("sertraline", mg, "2026-01-01", "2026-03-31"))["trials"][0]
    assert (t["adequacy"], t["reasons"]) == (adequacy, reasons)


def test_early_stop_for_side_effects_is_intolerance_not_failure():
    s = run(
        condition("F32.1", "2026-01-01"),
        statement(
            "sertraline",
            50,
            "2026-01-05",
            "2026-01-20",
            status="stopped",
            reason="stopped due to nausea",
        ),
        statement("escitalopram", 10, "2026-01-25", "2026-06-30"),
    )
    t = trial(s, "sertraline")
    assert (t["adequacy"], t["outcome"], t["evidence"]) == (
        "inadequate",
        "intolerance",
        "documented",
    )
    assert "intolerance" in {f["code"] for f in s["findings"]}


def test_switch_without_scores_is_an_inferred_failure_and_can_be_excluded():
    resources = [
        condition("F32.1", "2026-01-01"),
        statement("sertraline", 100, "2026-01-05", "2026-03-31"),
        statement("mirtazapine", 30, "2026-04-05", "2026-08-31"),
        statement("bupropion", 300, "2026-09-05", "2026-10-31"),
    ]
    s = run(*resources)
    assert [(t["outcome"], t["evidence"]) for t in s["trials"][:2]] == [
        ("non-response", "inferred"),
        ("non-response", "inferred"),
    ]
    assert s["stages"]["regulatory"]["failed_adequate_trials"] == 2
    strict = run(*resources, count_inferred_failures=False)
    assert strict["stages"]["regulatory"]["failed_adequate_trials"] == 0


def test_lithium_attaches_after_14_days_of_overlap_not_13():
    base = [statement("nortriptyline", 100, "2026-01-01", "2026-04-30")]
    attached = run(*base, statement("lithium", 900, "2026-04-17", "2026-06-30"))
    loose = run(*base, statement("lithium", 900, "2026-04-18", "2026-06-30"))
    assert trial(attached, "nortriptyline")["augmented_by"] == ["lithium"]
    assert trial(loose, "nortriptyline")["augmented_by"] == []


def test_combination_needs_four_weeks_of_overlap():
    s = run(
        statement("sertraline", 100, "2026-01-01", "2026-06-30"),
        statement("mirtazapine", 30, "2026-05-01", "2026-08-31"),
    )
    assert trial(s, "sertraline")["combined_with"] == ["mirtazapine"]
    assert trial(s, "mirtazapine")["combined_with"] == ["sertraline"]


def test_psychotherapy_course_grouping_and_modality():
    """Eight CBT sessions two weeks apart (one course), then a pause of 7 weeks, then 3 more."""
    days = [
        f"2026-{m:02d}-{d:02d}"
        for m, d in [(1, 5), (1, 19), (2, 2), (2, 16), (3, 2), (3, 16), (3, 30), (4, 13)]
    ]
    later = ["2026-06-01", "2026-06-15", "2026-06-29"]
    s = run(
        *[session("228557008", d, system="http://snomed.info/sct") for d in days],
        *[session("90834", d) for d in later],
    )
    courses = [t for t in s["trials"] if t["kind"] == "psychotherapy"]
    assert [(c["sessions"], c["modality"], c["adequacy"]) for c in courses] == [
        (8, "cbt", "adequate"),
        (3, None, "inadequate"),
    ]


def test_ect_course_counts_sessions():
    s = run(*[session("90870", f"2026-03-{d:02d}") for d in (2, 4, 6, 9, 11, 13, 16)])
    [ect] = s["trials"]
    assert (ect["kind"], ect["sessions"], ect["adequacy"]) == ("ect", 7, "adequate")


@pytest.mark.parametrize(
    ("end_score", "outcome"),
    [
        (4, "remission"),
        (10, "response"),
        (14, "partial"),
        (16, "non-response"),
        (25, "worsening"),
    ],
)
def test_outcome_classes_from_phq9(end_score, outcome):
    s = run(
        statement("sertraline", 100, "2026-01-10", "2026-03-31"),
        phq9("2026-01-09", 20),
        phq9("2026-03-30", end_score),
    )
    assert s["trials"][0]["outcome"] == outcome


def test_baseline_must_be_near_the_start():
    """A PHQ-9 40 days before the start is no baseline: the outcome is not measured."""
    s = run(
        statement("sertraline", 100, "2026-03-01", "2026-05-31"),
        phq9("2026-01-20", 20),
        phq9("2026-05-30", 18),
    )
    assert s["trials"][0]["evidence"] != "measured"


def test_months_between():
    assert months_between(date(2025, 1, 31), date(2026, 1, 30)) == 11
    assert months_between(date(2025, 1, 31), date(2026, 1, 31)) == 12


def test_episode_from_antidepressant_gap_when_no_diagnosis():
    """Sertraline in 2024, nothing for a year, then escitalopram: the episode starts in 2025."""
    s = run(
        statement("sertraline", 50, "2024-01-01", "2024-06-30"),
        statement("escitalopram", 10, "2025-07-01", "2025-12-31"),
    )
    assert s["episode"]["start"] == "2025-07-01"
    assert [t["episode"] for t in s["trials"]] == ["earlier", "current"]


def test_relapse_after_sustained_remission_starts_a_new_episode():
    """Remission (PHQ-9 <= 4) held from March to June, relapse in July."""
    s = run(
        condition("F33.1", "2025-06-01"),
        phq9("2026-03-01", 3),
        phq9("2026-05-01", 2),
        phq9("2026-07-01", 15),
    )
    assert s["episode"]["start"] == "2026-07-01"


def test_unknown_episode_when_nothing_dates_it():
    s = run(phq9("2026-10-01", 12))
    assert s["episode"] == {"start": None, "months": None, "source": None}
    assert s["stages"]["maudsley"]["score"] is None


def test_adherence_observation_with_focus():
    ms = statement("sertraline", 100, "2026-01-01", "2026-03-31", rid="ms-x")
    note = {
        "resourceType": "Observation",
        "id": "adh",
        "status": "final",
        "subject": {"reference": PATIENT},
        "effectiveDateTime": "2026-02-01",
        "code": {"coding": [{"system": "http://loinc.org", "code": "71799-1"}]},
        "focus": [{"reference": "MedicationStatement/ms-x"}],
        "valueCodeableConcept": {
            "coding": [{"system": "http://snomed.info/sct", "code": "702565001"}]
        },
    }
    t = run(ms, note)["trials"][0]
    assert t["adherence"]["non_adherence"] == ["Observation/adh"]


def test_low_pdc_from_dispenses_is_non_adherence():
    """Three 30-day fills over 120 days: PDC 0.75 < 0.8."""

    fills = [dispense("sertraline", 50, day) for day in ("2026-01-01", "2026-02-15", "2026-04-01")]
    t = run(*fills)["trials"][0]
    assert t["adherence"]["pdc"] == 0.75 and "non-adherence" in t["reasons"]


def test_same_input_gives_byte_identical_json():
    import json

    resources = [
        condition("F33.1", "2026-01-01"),
        statement("sertraline", 100, "2026-01-10", "2026-03-31"),
        phq9("2026-01-09", 19),
    ]
    first = json.dumps(run(*resources))
    assert json.dumps(run(*resources)) == first
