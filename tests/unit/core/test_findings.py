"""Findings and suggestions: each appears when its trigger holds, with evidence and source."""

from tests.fhir_builders import PATIENT, bundle, condition, lab, phq9, session, statement
from trdfhir import evaluate

AS_OF = "2026-11-01"


def run(*resources):
    flat = []
    for r in resources:
        flat.extend(r if isinstance(r, list) else [r])
    return evaluate(bundle(*flat), as_of=AS_OF).summary()


def codes(summary):
    return [f["code"] for f in summary["findings"]]


def suggestion_codes(summary):
    return {s["code"] for s in summary["suggestions"]}


def test_item9_in_the_latest_phq9_is_urgent_and_first():
    s = run(
        condition("F32.1", "2026-01-01"), phq9("2026-09-01", 14), phq9("2026-10-01", 18, item9=2)
    )
    first = s["findings"][0]
    assert (first["code"], first["severity"]) == ("safety-item9", "urgent")
    assert "safety-plan" in suggestion_codes(s)


def test_item9_in_an_older_phq9_is_not_the_latest():
    s = run(phq9("2026-09-01", 18, item9=1), phq9("2026-10-01", 9, item9=0))
    assert "safety-item9" not in codes(s)


def test_findings_are_ordered_urgent_warning_info():
    s = run(condition("F31.9", "2020-01-01"), phq9("2026-10-01", 18, item9=1))
    ranks = [{"urgent": 0, "warning": 1, "info": 2}[f["severity"]] for f in s["findings"]]
    assert ranks == sorted(ranks)


def test_medical_mimics_from_labs_and_not_checked():
    s = run(lab("3016-3", "2026-06-01", 6.2, "mIU/L"), lab("62292-8", "2024-01-01", 30, "ng/mL"))
    found = codes(s)
    assert "hypothyroidism" in found and "tsh-not-checked" not in found
    assert "vitamin-d-not-checked" in found and "vitamin-d-deficiency" not in found
    assert "medical-workup" in suggestion_codes(s)


def test_comorbidity_codes():
    s = run(
        condition("F41.1", "2020-01-01"),
        condition("F10.20", "2020-01-01"),
        condition("F60.3", "2020-01-01"),
        condition("F43.10", "2020-01-01"),
        condition("F90.0", "2020-01-01"),
        condition("G47.33", "2020-01-01"),
        condition("E55.9", "2020-01-01"),
    )
    assert {
        "comorbid-anxiety",
        "substance-use",
        "borderline-personality",
        "possible-ptsd",
        "possible-adhd",
        "sleep-apnea",
        "vitamin-d-deficiency",
    } <= set(codes(s))
    assert "screen-misdiagnosis" in suggestion_codes(s)


def test_metabolic_inducer_with_an_antidepressant():
    s = run(
        statement("sertraline", 100, "2026-01-01", "2026-05-31"),
        statement("carbamazepine", 400, "2026-03-01", "2026-08-31"),
    )
    finding = next(f for f in s["findings"] if f["code"] == "metabolic-inducer")
    assert "carbamazepine with sertraline" in finding["detail"]


def test_loss_of_effect_while_still_on_the_drug():
    """PHQ-9 20 -> 8 (response) on sertraline, then back to 18 while still taking it."""
    s = run(
        condition("F33.1", "2026-01-01"),
        statement("sertraline", 100, "2026-01-05"),
        phq9("2026-01-04", 20),
        phq9("2026-03-15", 8),
        phq9("2026-09-20", 18),
    )
    assert "loss-of-effect" in codes(s)
    assert "loss-of-effect-psychotherapy" in suggestion_codes(s)
    assert s["stages"]["guidi_fava"]["D"] == "not-met"


def test_rechallenge_failure():
    """Sertraline gave remission in 2023; restarted in 2026 after a drug-free remission, fails."""
    s = run(
        condition("F33.1", "2026-03-01"),
        statement("sertraline", 100, "2023-01-05", "2023-09-30"),
        phq9("2023-01-04", 20),
        phq9("2023-09-29", 3),
        phq9("2024-06-01", 2),
        phq9("2026-03-01", 19),
        statement("sertraline", 100, "2026-03-05", "2026-06-30"),
        phq9("2026-06-29", 18),
    )
    assert "rechallenge-failure" in codes(s)


def test_residual_symptoms_after_response_without_remission():
    s = run(
        condition("F33.1", "2026-01-01"),
        statement("sertraline", 100, "2026-01-05"),
        phq9("2026-01-04", 20),
        phq9("2026-10-01", 9),
    )
    assert "residual-symptoms" in codes(s)
    assert "sequential-psychotherapy" in suggestion_codes(s)
    assert s["stages"]["spectrum"] == "residual-symptoms"


def test_an_adequate_psychotherapy_removes_the_psychotherapy_suggestion():
    days = [f"2026-0{m}-{d:02d}" for m in (2, 3, 4, 5) for d in (3, 17)]
    s = run(*[session("228557008", d, system="http://snomed.info/sct") for d in days])
    assert "no-psychotherapy-trial" not in codes(s)
    assert "psychotherapy-trial" not in suggestion_codes(s)


def test_current_inadequate_trial_suggests_optimising_it():
    s = run(condition("F32.1", "2026-08-01"), statement("sertraline", 25, "2026-08-05"))
    assert "optimise-trial" in suggestion_codes(s)
    assert "augment-or-switch" not in suggestion_codes(s)


def test_chronic_episode():
    s = run(condition("F33.1", "2024-01-01"))
    chronic = next(f for f in s["findings"] if f["code"] == "chronic-episode")
    assert chronic["evidence"] == [c for c in chronic["evidence"] if c.startswith("Condition/")]


def test_findings_name_their_evidence_and_source():
    s = run(statement("sertraline", 25, "2026-01-01", "2026-03-31", rid="ms-low"))
    finding = next(f for f in s["findings"] if f["code"] == "inadequate-dose")
    assert finding["evidence"] == ["MedicationStatement/ms-low"]
    assert finding["source"] and "25" in finding["detail"]


def test_no_patient_resource_but_subject_references_are_enough():
    s = evaluate(
        bundle(statement("sertraline", 50, "2026-01-01"), with_patient=False), as_of=AS_OF
    ).summary()
    assert s["patient"] == PATIENT
