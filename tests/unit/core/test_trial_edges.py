"""Edge cases of trial building found in review, each a small clinical scenario."""

from tests.fhir_builders import (
    PATIENT,
    PHQ9_ITEM_CODES,
    bundle,
    condition,
    dispense,
    phq9,
    request,
    statement,
)
from trdfhir import evaluate

AS_OF = "2026-11-01"


def run(*resources, **settings):
    flat = []
    for r in resources:
        flat.extend(r if isinstance(r, list) else [r])
    return evaluate(bundle(*flat), as_of=AS_OF, settings=settings or None).summary()


def trial(summary, agent):
    return next(t for t in summary["trials"] if t["agent"] == agent)


def test_a_not_taken_claim_alone_is_no_trial_but_non_adherence():
    """Bupropion 'not-taken': it never becomes a trial, so sertraline is not 'switched'."""
    s = run(
        condition("F32.1", "2026-01-01"),
        statement("sertraline", 100, "2026-01-05", "2026-04-30"),
        statement("bupropion", 300, "2026-05-05", "2026-07-31", status="not-taken", rid="ms-bup"),
    )
    assert [t["agent"] for t in s["trials"]] == ["sertraline"]
    assert trial(s, "sertraline")["outcome"] == "unknown"
    finding = next(f for f in s["findings"] if f["code"] == "non-adherence")
    assert finding["evidence"] == ["MedicationStatement/ms-bup"]


def test_a_not_taken_claim_during_a_prescription_makes_it_non_adherent():
    s = run(
        request("sertraline", 100, "2026-01-05", 90),
        statement("sertraline", 100, "2026-02-01", "2026-02-28", status="not-taken", rid="ms-nt"),
    )
    t = trial(s, "sertraline")
    assert t["adequacy"] == "inadequate" and "non-adherence" in t["reasons"]
    assert t["adherence"]["non_adherence"] == ["MedicationStatement/ms-nt"]


def test_a_stop_for_non_adherence_is_non_adherence_and_no_inferred_failure():
    s = run(
        condition("F32.1", "2026-01-01"),
        statement(
            "escitalopram",
            20,
            "2026-01-05",
            "2026-04-30",
            status="stopped",
            reason="patient stopped taking it",
        ),
        statement("venlafaxine", 150, "2026-05-05", "2026-08-31"),
    )
    t = trial(s, "escitalopram")
    assert "non-adherence" in t["reasons"] and t["evidence"] != "inferred"


def test_an_agent_taken_before_the_antidepressant_is_not_augmentation_of_it():
    """On lithium since 2022; sertraline started in 2026: no augmentation, no inferred failure."""
    s = run(
        condition("F33.1", "2026-01-01"),
        statement("lithium", 900, "2022-01-01"),
        statement("sertraline", 100, "2026-02-01"),
    )
    sertraline = trial(s, "sertraline")
    assert sertraline["augmented_by"] == [] and sertraline["outcome"] == "ongoing"
    assert s["stages"]["mgh"]["score"] == 0


def test_pdc_is_measured_over_the_dispensing_window_only():
    """A statement Jan-May plus one 30-day fill in March: no PDC-based non-adherence."""
    fill = dispense("sertraline", 100, "2026-03-01")
    t = trial(run(statement("sertraline", 100, "2026-01-10", "2026-06-01"), fill), "sertraline")
    assert t["adherence"]["pdc"] == 1.0 and "non-adherence" not in t["reasons"]


def test_a_later_non_overlapping_trial_of_the_same_drug_is_not_added_on_top():
    """Sertraline + mirtazapine from the same day (a combination, nothing added later)."""
    s = run(
        statement("sertraline", 100, "2026-01-05", "2026-04-30"),
        statement("mirtazapine", 30, "2026-01-05", "2026-04-30"),
    )
    assert trial(s, "sertraline")["combined_with"] == ["mirtazapine"]
    assert trial(s, "sertraline")["evidence"] != "inferred"


def test_a_trial_running_when_the_episode_began_belongs_to_it():
    """Sertraline started a year before the recorded onset and continued: a current trial."""
    s = run(
        condition("F33.1", "2026-03-01"),
        statement("sertraline", 100, "2025-03-01", "2026-06-30"),
        phq9("2025-02-27", 20),
        phq9("2026-06-29", 19),
    )
    assert trial(s, "sertraline")["episode"] == "current"


def test_one_low_score_is_not_a_sustained_remission():
    """Three failed trials, then a single PHQ-9 of 4 and a 15 two months later: same episode."""
    s = run(
        condition("F33.1", "2025-01-01"),
        statement("sertraline", 100, "2025-01-05", "2025-04-30"),
        statement("venlafaxine", 150, "2025-05-05", "2025-08-31"),
        statement("mirtazapine", 30, "2025-09-05"),
        phq9("2026-03-01", 4),
        phq9("2026-05-05", 15),
    )
    assert s["episode"]["start"] == "2025-01-01"
    assert s["stages"]["regulatory"]["met"] is True


def test_a_diagnosis_in_remission_never_starts_an_episode():
    s = run(
        condition("F33.1", "2025-01-01"),
        condition("F33.42", "2026-09-01"),
        statement("sertraline", 100, "2025-01-05", "2025-04-30"),
    )
    assert s["episode"]["start"] == "2025-01-01"


def test_a_resolved_psychotic_episode_long_ago_does_not_set_maudsley_severity():
    s = run(
        condition("F32.3", "2005-01-01", status="resolved"),
        condition("F33.1", "2026-01-01"),
        statement("sertraline", 100, "2026-01-05", "2026-04-30"),
        statement("venlafaxine", 150, "2026-05-05"),
        phq9("2026-01-04", 12),
        phq9("2026-04-29", 11),
        phq9("2026-10-01", 7),
    )
    assert s["stages"]["maudsley"]["dimensions"]["severity"] == 2  # PHQ-9 7: mild


def test_an_imprecise_period_has_an_unknown_duration():
    ms = statement("sertraline", 100, "2026-02", "2026-03")
    s = run(ms)
    assert s["trials"][0]["adequacy"] == "indeterminate"
    assert "imprecise-date" in {w["code"] for w in s["warnings"]}


def test_a_period_ending_before_it_starts_is_reported():
    s = run(statement("sertraline", 100, "2026-03-01", "2026-01-01"))
    assert "invalid-period" in {w["code"] for w in s["warnings"]}
    assert s["trials"][0]["adequacy"] == "indeterminate"


def test_an_active_statement_ending_after_the_as_of_date_is_ongoing():
    s = run(statement("sertraline", 100, "2026-09-01", "2026-12-31", status="active"))
    assert s["trials"][0]["ongoing"] is True


def test_two_versions_of_one_resource_use_the_latest():
    """v1: active, open; v2: stopped after 3 weeks for an adverse effect."""
    v1 = statement("sertraline", 100, "2026-01-05", rid="ms-v")
    v1["meta"] = {"versionId": "1"}
    v2 = statement(
        "sertraline",
        100,
        "2026-01-05",
        "2026-01-25",
        status="stopped",
        reason="adverse effect: nausea",
        rid="ms-v",
    )
    v2["meta"] = {"versionId": "2"}
    s = run(v2, v1)
    assert s["trials"][0]["outcome"] == "intolerance"
    assert "duplicate-resource" in {w["code"] for w in s["warnings"]}


def test_a_prescription_validity_period_is_not_a_treatment_duration():
    mr = request("sertraline", 100, "2026-01-05", 30)
    del mr["dispenseRequest"]["expectedSupplyDuration"]
    mr["dispenseRequest"]["validityPeriod"] = {"start": "2026-01-05", "end": "2026-12-31"}
    assert run(mr)["trials"][0]["adequacy"] == "indeterminate"


def test_an_ordinal_answer_of_zero_counts():
    codes = PHQ9_ITEM_CODES
    ordinal = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
    qr = {
        "resourceType": "QuestionnaireResponse",
        "id": "qr0",
        "status": "completed",
        "subject": {"reference": PATIENT},
        "authored": "2026-10-01",
        "item": [
            {
                "linkId": c,
                "answer": [
                    {
                        "valueCoding": {
                            "code": "x",
                            "extension": [{"url": ordinal, "valueDecimal": 0 if i else 2}],
                        }
                    }
                ],
            }
            for i, c in enumerate(codes)
        ],
    }
    s = run(qr)
    assert "missing-value" not in {w["code"] for w in s["warnings"]}


def test_a_malformed_dose_range_is_left_out_with_its_location():
    """A dose range whose `low` is a number, not a Quantity: the resource is left out, named."""
    ms = statement("sertraline", None, "2026-01-05", "2026-04-30", rid="ms-bad")
    ms["dosage"] = [{"doseAndRate": [{"doseRange": {"low": 5, "high": "x"}}]}]
    s = run(ms)
    assert s["trials"] == []
    [warning] = s["warnings"]
    assert warning["code"] == "malformed-resource"
    assert (
        warning["location"] == "MedicationStatement/ms-bad.dosage[0].doseAndRate[0].doseRange.low"
    )


def test_same_day_scores_do_not_depend_on_input_order():
    a, b = phq9("2026-10-01", 12, rid="phq-a"), phq9("2026-10-01", 18, rid="phq-b")
    mdd = condition("F32.1", "2026-09-01")
    forward, backward = run(mdd, a, b), run(mdd, b, a)
    assert forward == backward
