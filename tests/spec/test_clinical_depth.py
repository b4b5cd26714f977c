"""Issue 12, clinical depth: one readable scenario (or a pair, one on each side of a threshold) per
item, each with the expected result worked out by hand from the seeds (Guidi & Fava 2024, seed 004;
the 2025 clinical overview, seed 003) and the settings in mappings/settings.json."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.fhir_builders import bundle, condition, lab, phq9, session, statement

from trdfhir import evaluate
from trdfhir.emit.bundle import emit_bundle
from trdfhir.report import render_text

LOCAL = "http://trd-fhir.org/fhir/CodeSystem/local"
SNOMED = "http://snomed.info/sct"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def flat(*resources: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for r in resources:
        out.extend(r if isinstance(r, list) else [r])
    return out


def run(*resources: Any, as_of: str) -> dict[str, Any]:
    return evaluate(bundle(*flat(*resources)), as_of=as_of).summary()


def finding(s: dict[str, Any], code: str) -> dict[str, Any] | None:
    return next((f for f in s["findings"] if f["code"] == code), None)


def suggestion(s: dict[str, Any], code: str) -> dict[str, Any] | None:
    return next((x for x in s["suggestions"] if x["code"] == code), None)


def every(start: str, n: int, step: int) -> list[str]:
    first = date.fromisoformat(start)
    return [(first + timedelta(days=step * i)).isoformat() for i in range(n)]


def wsas(day: str, value: float) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"wsas-{day}",
        "status": "final",
        "code": {"coding": [{"system": LOCAL, "code": "wsas"}], "text": "WSAS"},
        "effectiveDateTime": day,
        "valueInteger": value,
    }


def two_failed_ssris() -> list[dict[str, Any]]:
    """MDD since 2025-01-10; sertraline 100 mg 2025-01-15..04-15 (PHQ-9 20 -> 19) and
    escitalopram 20 mg 2025-04-20..07-20 (19 -> 18): two adequate failed trials (>= 6 weeks at
    adequate dose, < 25% better): regulatory TRD met."""
    return flat(
        condition("F33.1", "2025-01-10", rid="mdd"),
        statement("sertraline", 100, "2025-01-15", "2025-04-15", rid="ms-sert"),
        statement("escitalopram", 20, "2025-04-20", "2025-07-20", rid="ms-esc"),
        phq9("2025-01-12", 20),
        phq9("2025-04-14", 19),
        phq9("2025-07-18", 18),
    )


# -- 1. behavioural toxicity ----------------------------------------------------------------------


@pytest.mark.parametrize(("onset", "switch"), [("2026-04-27", True), ("2026-04-28", False)])
def test_switch_to_hypomania_within_12_weeks_of_a_dose_rise(onset: str, switch: bool) -> None:
    """Sertraline 50 mg from 2026-01-05, raised to 100 mg on 2026-02-02. A hypomanic episode
    (ICD-10-CM F31.0) with onset 2026-04-27 is 84 days = 12 weeks after the rise: a switch to
    (hypo)mania (Guidi & Fava: behavioural toxicity; window switch_mania_weeks = 12). Onset one day
    later (85 days) is outside the window: no behavioural-toxicity finding, though the episode
    still counts as bipolar (possible-bipolar)."""
    s = run(
        condition("F33.1", "2026-01-01", rid="mdd"),
        statement("sertraline", 50, "2026-01-05", "2026-02-01"),
        statement("sertraline", 100, "2026-02-02"),
        condition("F31.0", onset, rid="hypomania"),
        as_of="2026-06-01",
    )
    found = finding(s, "behavioural-toxicity")
    assert finding(s, "possible-bipolar") is not None
    if switch:
        assert found is not None
        assert "kind:switch-to-mania" in found["evidence"]
        assert "Condition/hypomania" in found["evidence"]
        assert (
            "12 weeks 0 days after sertraline raised to 100 mg/day on 2026-02-02"
            in (found["detail"])
        )
    else:
        assert found is None


def test_withdrawal_and_post_withdrawal_on_record_are_behavioural_toxicity() -> None:
    """An antidepressant withdrawal syndrome (2025-08-01) and a persistent post-withdrawal
    disorder (2025-11-01), both in the project's local codes (ICD-10 has none): one
    behavioural-toxicity finding with both kinds in its evidence."""
    s = run(
        *two_failed_ssris(),
        condition("antidepressant-withdrawal-syndrome", "2025-08-01", system=LOCAL, rid="wd"),
        condition("persistent-postwithdrawal-disorder", "2025-11-01", system=LOCAL, rid="pwd"),
        as_of="2026-01-01",
    )
    found = finding(s, "behavioural-toxicity")
    assert found is not None
    assert {"kind:withdrawal", "kind:post-withdrawal", "Condition/wd", "Condition/pwd"} <= set(
        found["evidence"]
    )
    assert found["severity"] == "warning"


def test_an_undated_manic_episode_is_a_warning_not_a_finding() -> None:
    """A manic episode (ICD-10-CM F30.10) with neither onset nor recorded date cannot be placed
    after the sertraline start: a missing-date warning naming the Condition's onset, no
    behavioural-toxicity finding."""
    mania = condition("F30.10", "2026-03-01", rid="mania")
    del mania["onsetDateTime"]
    s = run(
        condition("F33.1", "2026-01-01", rid="mdd"),
        statement("sertraline", 100, "2026-01-05"),
        mania,
        as_of="2026-06-01",
    )
    assert finding(s, "behavioural-toxicity") is None
    warning = next(w for w in s["warnings"] if w["location"].startswith("Condition/mania"))
    assert warning["code"] == "missing-date"
    assert warning["location"] == "Condition/mania.onset[x]"


# -- 2. double depression -------------------------------------------------------------------------


def test_dysthymia_with_a_current_episode_is_double_depression_and_settles_b() -> None:
    """Dysthymia (F34.1, active since 2019) and a current MDD episode (F33.1 active) after two
    failed SSRIs and no psychotherapy: double-depression; Guidi & Fava B is not-met ("wishful
    thinking ... that a single course of an antidepressant may entail solution to ... double
    depression"), and double-depression is listed among the complexities."""
    s = run(*two_failed_ssris(), condition("F34.1", "2019-03-01", rid="dys"), as_of="2026-01-01")
    found = finding(s, "double-depression")
    assert found is not None and set(found["evidence"]) == {"Condition/dys", "Condition/mdd"}
    gf = s["stages"]["guidi_fava"]
    assert gf["B"] == "not-met"
    assert "double-depression" in gf["comorbidities"]
    assert gf["label"] is None  # B not-met: no refractoriness label


def test_dysthymia_without_a_current_episode_is_not_double_depression() -> None:
    """The same record with the MDD Condition resolved: no current episode on the problem list,
    so no double-depression finding, and B stays not-assessable."""
    s = run(
        condition("F34.1", "2019-03-01", rid="dys"),
        condition("F33.1", "2025-01-10", status="resolved", rid="mdd"),
        statement("sertraline", 100, "2025-01-15", "2025-04-15"),
        as_of="2026-01-01",
    )
    assert finding(s, "double-depression") is None
    assert s["stages"]["guidi_fava"]["B"] == "not-assessable"


# -- 3. functional ratings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "level", "band"),
    [
        (9, 0, "subclinical"),
        (10, 1, "significant impairment"),
        (20, 1, "significant impairment"),
        (21, 2, "moderately severe or worse"),
    ],
)
def test_wsas_rates_dm_trd_functional_impairment(value: int, level: int, band: str) -> None:
    """Two failed SSRIs and a WSAS on 2025-07-18 in the episode. Mundt et al. 2002: below 10
    subclinical (0), 10-20 significant (1), above 20 moderately severe or worse (2). DM-TRD then
    scores (provisional, weights 1): duration 1 (<= 12 months) + severity 3 (PHQ-9 18) + failed 1
    (2 failures) + functional level, every other item 0 (labelled taken as 0 for want of data)."""
    s = run(*two_failed_ssris(), wsas("2025-07-18", value), as_of="2025-12-01")
    dm = s["stages"]["dm_trd"]
    assert dm["items"]["functional_impairment"] == level
    assert dm["score"] == 1 + 3 + 1 + level
    assert dm["provisional"] is True
    assert "comorbid_anxiety" in dm["assumed_zero"]
    assert dm["functional_rating"]["band"] == band
    assert s["functional"] == [
        {
            "scale": "WSAS",
            "value": value,
            "date": "2025-07-18",
            "band": band,
            "resource": "Observation/wsas-2025-07-18",
        }
    ]


def test_q_les_q_is_reported_but_does_not_rate_the_item() -> None:
    """Only a Q-LES-Q-SF value (62 % of maximum): reported in the summary without a band (none is
    sourced); DM-TRD functional impairment stays unrated, so no DM-TRD score."""
    qles = wsas("2025-07-18", 62)
    qles["code"] = {"coding": [{"system": LOCAL, "code": "q-les-q"}]}
    s = run(*two_failed_ssris(), qles, as_of="2025-12-01")
    assert s["functional"][0]["scale"] == "Q-LES-Q-SF" and s["functional"][0]["band"] is None
    assert s["stages"]["dm_trd"]["score"] is None
    assert s["stages"]["dm_trd"]["items"]["functional_impairment"] is None


# -- 4. cautions ----------------------------------------------------------------------------------


def test_every_suggestion_has_cautions() -> None:
    """The contract: `cautions` is always present, possibly empty."""
    s = run(*two_failed_ssris(), as_of="2026-01-01")
    assert s["suggestions"] and all(x["cautions"] == [] for x in s["suggestions"])


def test_bipolar_on_record_replaces_antidepressant_directed_suggestions() -> None:
    """Two failed SSRIs, and bipolar II (F31.81, inactive) on the problem list. Seed 003:
    antidepressants for misdiagnosed bipolar disorder can trigger mania or rapid cycling. So
    augment-or-switch gives way to bipolar-depression-review, whose reason names the held
    suggestion, and which carries the bipolar-on-record caution. (No neuromodulation referral:
    regulatory TRD is excluded by bipolar, and Maudsley is mild: 1 + 3 + 1 = 5.)"""
    s = run(
        *two_failed_ssris(),
        condition("F31.81", "2020-01-01", status="inactive", rid="bp"),
        as_of="2025-08-01",
    )
    assert suggestion(s, "augment-or-switch") is None
    review = suggestion(s, "bipolar-depression-review")
    assert review is not None
    assert "Condition/bp" in review["reason"] and "augment-or-switch" in review["reason"]
    assert [c["code"] for c in review["cautions"]] == ["bipolar-on-record"]
    assert suggestion(s, "neuromodulation-referral") is None
    assert s["stages"]["regulatory"]["excluded_by"] == ["Condition/bp"]


def test_bipolar_without_antidepressant_treatment_needs_no_review() -> None:
    """Bipolar II (F31.81) and an MDD code, but no antidepressant on record: nothing
    antidepressant-directed to hold, so no bipolar-depression-review."""
    s = run(
        condition("F33.1", "2025-01-10", rid="mdd"),
        condition("F31.81", "2020-01-01", rid="bp"),
        as_of="2025-08-01",
    )
    assert suggestion(s, "bipolar-depression-review") is None
    assert finding(s, "possible-bipolar") is not None


def test_a_failed_unilateral_ect_course_is_named_and_bilateral_ect_remains() -> None:
    """Two failed SSRIs, then 8 sessions of right-unilateral ECT (SNOMED 1010697006) twice weekly
    from 2025-08-04 (>= 7 sessions: adequate), PHQ-9 18 -> 17: failed. The referral does not
    suggest ECT again as if untried: it names the course and what remains (bilateral ECT, rTMS,
    esketamine, IV ketamine)."""
    ect = [session("1010697006", d, system=SNOMED) for d in every("2025-08-04", 8, 3)]
    s = run(*two_failed_ssris(), *ect, phq9("2025-08-27", 17), as_of="2025-10-01")
    referral = suggestion(s, "neuromodulation-referral")
    assert referral is not None
    assert referral["text"] == (
        "Consider referral for bilateral ECT, rTMS, esketamine or IV ketamine "
        "(an adequate ECT course already failed)"
    )
    caution = next(c for c in referral["cautions"] if c["code"] == "ect-already-failed")
    assert "right-unilateral ECT, 8 sessions, 2025-08-04 to 2025-08-25" in caution["text"]
    assert "what remains: bilateral ECT, rTMS, esketamine, IV ketamine" in caution["text"]


def test_substance_use_cautions_the_esketamine_ketamine_referral() -> None:
    """Two failed SSRIs and an active alcohol dependence (F10.20): the neuromodulation referral
    (esketamine, IV ketamine) carries substance-use-on-record."""
    s = run(*two_failed_ssris(), condition("F10.20", "2024-01-01", rid="aud"), as_of="2025-08-01")
    referral = suggestion(s, "neuromodulation-referral")
    assert referral is not None
    caution = next(c for c in referral["cautions"] if c["code"] == "substance-use-on-record")
    assert "Condition/aud" in caution["text"]


# -- 5. the sequential plan -----------------------------------------------------------------------


def residual_symptoms() -> list[dict[str, Any]]:
    """Sertraline 100 mg from 2025-06-02 (ongoing); PHQ-9 20 -> 9 on 2025-09-01: 55% better,
    a response (>= 50%) without remission (> 4): residual symptoms."""
    return flat(
        condition("F32.1", "2025-06-01", rid="mdd"),
        statement("sertraline", 100, "2025-06-02", rid="ms"),
        phq9("2025-05-30", 20),
        phq9("2025-09-01", 9),
    )


def test_residual_symptoms_get_table_4_as_an_ordered_conditional_plan() -> None:
    """Guidi & Fava Table 4, in its order: assessment 3 months after starting, CBT for residual
    symptoms, slowest taper, well-being therapy and lifestyle, discontinuation, assessment
    1 month after discontinuation; each only after the previous one succeeded, timed relative to
    it, with its source; in the draft CarePlan as activities with scheduledString (no dates)."""
    a = evaluate(bundle(*residual_symptoms()), as_of="2025-09-15")
    plan = suggestion(a.summary(), "sequential-psychotherapy")
    assert plan is not None
    steps = plan["plan"]
    assert [p["step"] for p in steps] == [1, 2, 3, 4, 5, 6]
    assert "3 months after starting" in steps[0]["timing"]
    assert steps[5]["timing"] == "1 month after discontinuation"
    assert all(p["source"] == f"Guidi & Fava 2024 Table 4 step {p['step']}" for p in steps)
    written = emit_bundle(a, now=datetime(2025, 9, 15, tzinfo=UTC), version="test")
    careplan = next(
        e["resource"] for e in written["entry"] if e["resource"]["resourceType"] == "CarePlan"
    )
    described = [x["detail"]["description"] for x in careplan["activity"]]
    at = next(i for i, d in enumerate(described) if d.startswith("Step 1 of 6"))
    assert [d[:11] for d in described[at : at + 6]] == [f"Step {n} of 6" for n in range(1, 7)]
    for activity in careplan["activity"][at : at + 6]:
        assert "scheduledString" in activity["detail"]
        assert not {"scheduledPeriod", "scheduledTiming"} & set(activity["detail"])
        assert activity["progress"][0]["text"].startswith("Only if:")


# -- 6. IV ketamine -------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "adequacy"), [(5, "inadequate"), (6, "adequate")])
def test_iv_ketamine_course_needs_six_infusions(n: int, adequacy: str) -> None:
    """IV ketamine twice weekly (ELEKT-D: twice weekly for 3 weeks = 6 infusions,
    ketamine_min_sessions): 5 infusions are too few, 6 are an adequate course."""
    infusions = [session("iv-ketamine", d, system=LOCAL) for d in every("2025-08-04", n, 3)]
    s = run(*two_failed_ssris(), *infusions, as_of="2025-10-01")
    course = next(t for t in s["trials"] if t["kind"] == "ketamine")
    assert course["sessions"] == n and course["agent"] == "IV ketamine"
    assert course["adequacy"] == adequacy


# -- 7. the refractoriness label ------------------------------------------------------------------


def test_refractoriness_only_with_a_through_e() -> None:
    """Vignette 19: A, C, D, E met and B not assessable -> 'criteria met except B (not
    assessable)', and the spectrum does not say refractoriness. Vignette 21 (the same history
    with double depression addressed by CBASP): B met -> 'refractoriness'."""
    v19 = json.loads((EXAMPLES / "19-markowitz-chronic-refractory.json").read_text())
    v21 = json.loads((EXAMPLES / "21-double-depression-cbasp.json").read_text())
    s19 = evaluate(v19, as_of="2026-11-01").summary()
    s21 = evaluate(v21, as_of="2026-11-01").summary()
    assert s19["stages"]["guidi_fava"]["label"] == "criteria met except B (not assessable)"
    assert s19["stages"]["spectrum"] != "refractoriness"
    assert "criteria met except B (not assessable)" in s19["explanations"]["spectrum"]["text"]
    assert s21["stages"]["guidi_fava"]["label"] == "refractoriness"
    assert s21["stages"]["spectrum"] == "refractoriness"


# -- 8. a report a clinician can check ------------------------------------------------------------


def test_the_text_report_can_be_checked() -> None:
    """Two failed SSRIs; 25-OH vitamin D recorded as 50 nmol/L (= 20.03 ng/mL at 0.4006) and an
    MDQ done, no ADHD or PTSD screen. The report shows each trial's baseline and end scores with
    dates, the lab as recorded beside its conversion, a legend, and the screening suggestion
    names only what is missing."""
    mdq = lab("84773-1", "2025-07-01", 3, "{score}")
    resources = [*two_failed_ssris(), lab("62292-8", "2025-07-01", 50, "nmol/L"), mdq]
    text = render_text(evaluate(bundle(*resources), as_of="2025-08-01"))
    assert "PHQ-9 20 (2025-01-12) -> 19 (2025-04-14)" in text
    assert "PHQ-9 19 (2025-04-14) -> 18 (2025-07-18)" in text
    assert "25-OH vitamin D 50 nmol/L = 20.03 ng/mL on 2025-07-01" in text
    assert "Legend" in text and "Upper bound:" in text
    assert "Screen for ADHD and PTSD (because no ADHD or PTSD screen since 2024-08-01" in text
