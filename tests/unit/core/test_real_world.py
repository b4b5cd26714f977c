"""The shapes real systems write (docs/real-world.md), read from the project's own fixtures."""

from datetime import date

import pytest

from tests import real_shapes as rs
from trdfhir import InputError, evaluate, load_mappings
from trdfhir.ingest import read_record

MAPS = load_mappings()
AS_OF = date(2026, 6, 1)


def record(data, as_of=AS_OF):
    return read_record(data, MAPS, as_of)


def codes(rec):
    return [w.code for w in rec.warnings]


# -- Bundles ---------------------------------------------------------------------------------


@pytest.mark.parametrize("ids", [False, True])
def test_a_transaction_bundle_with_urn_uuid_references_is_read(ids):
    data = rs.transaction(
        rs.mdd_condition("2026-01-10"), rs.sertraline_statement("2026-01-12"), ids=ids
    )
    rec = record(data)
    assert rec.patient == f"Patient/{rs.PID}"
    assert [d.category for d in rec.diagnoses] == ["mdd"]
    assert rec.diagnoses[0].resource == f"Condition/{rs.uuid(1)}"
    assert [e.ingredient for e in rec.exposures] == ["sertraline"]
    assert rec.exposures[0].resource == f"MedicationStatement/{rs.uuid(2)}"


def test_a_reason_reference_by_urn_uuid_is_followed():
    adhd_url = f"urn:uuid:{rs.uuid(1)}"
    rec = record(
        rs.transaction(rs.adhd_condition(), rs.cbt_procedure("2026-02-01", reason_url=adhd_url))
    )
    assert rec.sessions == ()
    assert "other-indication" in codes(rec)


def test_the_input_is_not_changed_by_giving_ids():
    data = rs.transaction(rs.mdd_condition("2026-01-10"))
    record(data)
    assert "id" not in data["entry"][1]["resource"]


def test_a_test_bundle_nested_in_an_ecqm_case_is_read_once():
    phq = {
        "resourceType": "Observation",
        "id": "phq-1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
        "subject": {"reference": "Patient/ecqm-patient-1"},
        "effectiveDateTime": "2026-02-01",
        "valueInteger": 14,
    }
    rec = record(rs.ecqm_test_case(phq))
    assert [(s.scale, s.value) for s in rec.scores] == [("PHQ-9", 14.0)]
    assert rec.warnings == ()  # no "duplicate-resource": the same record, stored twice


def test_a_resource_only_in_the_nested_bundle_is_still_read():
    data = rs.ecqm_test_case()
    extra = {
        "resourceType": "Condition",
        "id": "c-nested",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "370143000"}]},
        "subject": {"reference": "Patient/ecqm-patient-1"},
        "onsetDateTime": "2026-01-01",
    }
    data["entry"][1]["resource"]["entry"].append({"resource": extra})
    assert [d.resource for d in record(data).diagnoses] == ["Condition/c-nested"]


# -- other patients --------------------------------------------------------------------------


def test_an_unread_resource_type_of_another_patient_is_left_out_with_a_warning():
    rec = record(
        rs.transaction(
            rs.mdd_condition("2026-01-10"), rs.service_request_of("Patient/someone-else")
        )
    )
    assert rec.patient == f"Patient/{rs.PID}"
    stranger = [w for w in rec.warnings if w.code == "other-patient"]
    assert [w.location for w in stranger] == [f"ServiceRequest/{rs.uuid(2)}"]


def test_a_read_resource_type_of_another_patient_is_still_an_error():
    other = rs.lhc_phq9("2026-02-01", (1,) * 9, subject="Patient/someone-else")
    with pytest.raises(InputError, match="more than one patient"):
        record(rs.transaction(rs.mdd_condition("2026-01-10"), other))


# -- Observations ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["unknown", "entered-in-error", "cancelled"])
def test_an_observation_that_is_not_a_result_is_dropped_with_a_warning(status):
    phq = {
        "resourceType": "Observation",
        "id": "phq-x",
        "status": status,
        "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
        "subject": {"reference": f"Patient/{rs.PID}"},
        "effectiveDateTime": "2026-02-01",
        "valueInteger": 14,
    }
    rec = record(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": rs.synthea_patient()}, {"resource": phq}],
        }
    )
    assert rec.scores == ()
    assert "observation-status" in codes(rec)


# -- Questionnaires --------------------------------------------------------------------------


def test_an_lhc_forms_phq9_is_read_with_its_total_and_item9():
    answers = (2, 2, 1, 2, 1, 1, 2, 0, 1)
    rec = record(rs.transaction(rs.lhc_phq9("2026-02-01", answers)))
    assert [(s.scale, s.value, s.day) for s in rec.scores] == [("PHQ-9", 12.0, date(2026, 2, 1))]
    assert [(p.value, p.day) for p in rec.item9] == [(1, date(2026, 2, 1))]
    assert rec.warnings == ()


def test_an_lhc_forms_phq9_without_its_total_is_summed_from_the_nine_items():
    answers = (3, 3, 3, 3, 3, 3, 3, 3, 2)
    qr = rs.lhc_phq9("2026-02-01", answers)
    qr["item"][0]["item"] = qr["item"][0]["item"][:9]  # no calculated total
    rec = record(rs.transaction(qr))
    assert [s.value for s in rec.scores] == [26.0]
    assert [p.value for p in rec.item9] == [2]


def test_item9_of_an_lhc_forms_phq9_gives_the_urgent_finding():
    result = evaluate(
        rs.transaction(rs.lhc_phq9("2026-02-01", (1, 1, 1, 1, 1, 1, 1, 1, 2))), as_of=AS_OF
    )
    urgent = [f for f in result.findings if f.severity == "urgent"]
    assert [f.code for f in urgent] == ["safety-item9"]
    assert urgent[0].evidence == (f"QuestionnaireResponse/{rs.uuid(1)}",)


def test_an_unreadable_item9_is_never_silent():
    rec = record(rs.transaction(rs.us_core_phq9_item9_only("2026-02-01", "yes-often")))
    assert rec.item9 == ()
    assert "item9-unread" in codes(rec)
    assert "questionnaire-unread" in codes(rec)


def test_a_known_form_with_unknown_linkids_is_not_read_but_warned_about():
    qr = rs.lhc_phq9("2026-02-01", (1,) * 9)
    for item in qr["item"][0]["item"]:
        item["linkId"] = f"q{len(item['linkId'])}"
    rec = record(rs.transaction(qr))
    assert rec.scores == ()
    assert [w.location for w in rec.warnings if w.code == "questionnaire-unread"] == [
        f"QuestionnaireResponse/{rs.uuid(1)}.item"
    ]


def test_a_questionnaire_of_no_known_scale_is_ignored_silently():
    qr = {
        "resourceType": "QuestionnaireResponse",
        "id": "qr-other",
        "questionnaire": "http://example.org/Questionnaire/intake",
        "status": "completed",
        "subject": {"reference": rs.PATIENT_URL},
        "authored": "2026-02-01",
        "item": [{"linkId": "/72166-2", "answer": [{"valueString": "never"}]}],
    }
    assert record(rs.transaction(qr)).warnings == ()


@pytest.mark.parametrize(
    ("link", "code"),
    [
        ("/44260-8", "44260-8"),
        ("/44249-1/44260-8", "44260-8"),
        ("44260-8", "44260-8"),
        ("q9", None),
        ("/", None),
    ],
)
def test_link_codes(link, code):
    from trdfhir.ingest.observations import link_code

    assert link_code(link) == code


# -- CarePlan and Procedure reasons ----------------------------------------------------------


def test_cbt_in_a_careplan_is_psychotherapy_with_unknown_sessions():
    data = rs.transaction(
        rs.mdd_condition("2025-06-01"), rs.cbt_careplan("2025-07-01", "2025-10-01")
    )
    result = evaluate(data, as_of=AS_OF)
    therapy = [t for t in result.trials if t.trial.kind == "psychotherapy"]
    assert len(therapy) == 1
    t = therapy[0]
    assert (t.trial.start, t.trial.end) == (date(2025, 7, 1), date(2025, 10, 2))
    assert t.trial.sessions is None
    assert t.trial.modality == "cbt"
    assert t.adequacy.status == "indeterminate"
    assert "unknown-sessions" in [w.code for w in result.record.warnings]


def test_a_careplan_left_active_has_an_unknown_duration():
    data = rs.transaction(rs.cbt_careplan("2025-07-01", None, status="active"))
    (t,) = evaluate(data, as_of=AS_OF).trials
    assert t.trial.duration_known is False
    assert t.trial.days == 1


def test_cbt_for_adhd_is_not_a_depression_trial():
    adhd_url = f"urn:uuid:{rs.uuid(1)}"
    procs = [rs.cbt_procedure(d, reason_url=adhd_url) for d in ("2026-01-05", "2026-01-12")]
    result = evaluate(rs.transaction(rs.adhd_condition(), *procs), as_of=AS_OF)
    assert [t for t in result.trials if t.trial.kind == "psychotherapy"] == []


def test_cbt_whose_reason_is_depression_counts():
    mdd_url = f"urn:uuid:{rs.uuid(1)}"
    procs = [rs.cbt_procedure(d, reason_url=mdd_url) for d in ("2026-01-05", "2026-01-12")]
    result = evaluate(rs.transaction(rs.mdd_condition("2025-12-01"), *procs), as_of=AS_OF)
    assert [t.trial.sessions for t in result.trials if t.trial.kind == "psychotherapy"] == [2]


# -- Patient.deceased[x] ---------------------------------------------------------------------


def deceased_case(deceased):
    entries = rs.transaction(
        rs.mdd_condition("2025-01-10"),
        rs.sertraline_statement("2025-02-01"),
        rs.lhc_phq9("2025-06-01", (2, 2, 2, 2, 2, 2, 2, 2, 3)),
    )
    entries["entry"][0]["resource"] = rs.synthea_patient(deceased)
    return entries


def test_a_deceased_patient_has_the_date_in_the_summary_and_treatment_ends_at_death():
    result = evaluate(deceased_case("2025-09-30T04:12:00-04:00"), as_of=AS_OF)
    summary = result.summary()
    assert summary["deceased"] == "2025-09-30"
    assert summary["as_of"] == "2026-06-01"  # the date asked for is kept
    (sertraline,) = [t for t in summary["trials"] if t["agent"] == "sertraline"]
    assert sertraline["end"] == "2025-09-30"
    assert sertraline["ongoing"] is False
    assert result.episode.months == 8  # 2025-01-10 to the death, not to the as-of date


def test_a_deceased_patient_gets_no_suggestions_and_no_urgent_findings():
    living = evaluate(deceased_case(None), as_of=AS_OF)
    assert any(f.severity == "urgent" for f in living.findings)  # item 9 = 3
    assert "deceased" not in living.summary()
    dead = evaluate(deceased_case("2025-09-30"), as_of=AS_OF)
    assert dead.suggestions == ()
    assert [f for f in dead.findings if f.severity == "urgent"] == []


def test_deceased_boolean_without_a_date_is_honest():
    result = evaluate(deceased_case(True), as_of=AS_OF)
    summary = result.summary()
    assert summary["deceased"] is None
    assert "deceased-no-date" in [w["code"] for w in summary["warnings"]]
    assert summary["suggestions"] == []
    (sertraline,) = [t for t in summary["trials"] if t["agent"] == "sertraline"]
    assert sertraline["end"] == "2026-06-01"  # no date to cut at


def test_a_death_after_the_as_of_date_is_not_yet_a_death():
    result = evaluate(deceased_case("2026-09-01"), as_of=AS_OF)
    assert "deceased" not in result.summary()
    assert "after-as-of" in [w.code for w in result.record.warnings]


def test_treatment_recorded_after_death_is_left_out_with_a_warning():
    data = deceased_case("2025-09-30")
    data["entry"].append(
        {
            "fullUrl": "urn:uuid:late",
            "resource": rs.sertraline_statement("2025-11-01", "2025-12-01"),
        }
    )
    result = evaluate(data, as_of=AS_OF)
    assert len(result.record.exposures) == 1
    assert [w.location for w in result.record.warnings if w.code == "after-death"] == [
        "MedicationStatement/late"
    ]


def test_no_write_back_is_made_for_a_deceased_patient():
    from datetime import UTC, datetime

    from trdfhir.emit import emit_bundle

    result = evaluate(deceased_case("2025-09-30"), as_of=AS_OF)
    with pytest.raises(InputError, match="has died"):
        emit_bundle(result, now=datetime(2026, 6, 1, tzinfo=UTC))


# -- the reading report ----------------------------------------------------------------------


def test_the_reading_report_of_one_patient():
    from trdfhir.reading import finish_report, reading_report

    unread = rs.us_core_phq9_item9_only("2026-02-01", "yes-often")
    unmapped = rs.sertraline_statement("2026-01-12")
    unmapped["medicationCodeableConcept"] = {
        "coding": [
            {
                "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                "code": "6809",
                "display": "metformin",
            }
        ]
    }
    data = rs.transaction(
        rs.lhc_phq9("2026-01-05", (1,) * 9), unread, rs.sertraline_statement("2026-01-12"), unmapped
    )
    report = finish_report(reading_report(evaluate(data, as_of=AS_OF)))
    assert report["patients"] == 1
    assert report["questionnaires"] == {"read": 1, "not_read": 1}
    assert report["medications"]["records"] == 1
    assert report["unmapped_codes"] == [
        {
            "code": "http://www.nlm.nih.gov/research/umls/rxnorm|6809",
            "display": "metformin",
            "count": 1,
        }
    ]
    assert report["warnings"]["questionnaire-unread"] == 1


def test_two_therapies_of_one_careplan_over_one_period_are_one_course():
    plan = rs.cbt_careplan("2025-07-01", "2025-10-01")
    plan["activity"].append(
        {
            "detail": {
                "code": {
                    "coding": [
                        {
                            "system": "http://snomed.info/sct",
                            "code": "304822001",
                            "display": "Psychodynamic Interpersonal Therapy",
                        }
                    ]
                },
                "status": "completed",
            }
        }
    )
    rec = record(rs.transaction(plan))
    assert [(c.modality, c.start) for c in rec.courses] == [("cbt", date(2025, 7, 1))]


def test_planned_therapy_is_not_treatment():
    plan = rs.cbt_careplan("2025-07-01", "2025-10-01")
    for activity in plan["activity"]:
        activity["detail"]["status"] = "scheduled"
    assert record(rs.transaction(plan)).courses == ()


def test_a_total_after_an_unreadable_item9_still_counts():
    qr = rs.lhc_phq9("2026-02-01", (1,) * 9)
    items = qr["item"][0]["item"]
    items[8]["answer"] = [{"valueCoding": {"system": "http://example.org", "code": "odd"}}]
    rec = record(rs.transaction(qr))
    assert [s.value for s in rec.scores] == [9.0]  # the calculated total item
    assert [w.code for w in rec.warnings] == ["item9-unread"]


def test_an_unfinished_phq9_is_not_read_but_says_so():
    qr = rs.lhc_phq9("2026-02-01", (1,) * 9)
    qr["status"] = "in-progress"
    rec = record(rs.transaction(qr))
    assert rec.scores == () and rec.item9 == ()
    assert [(w.code, w.reason) for w in rec.warnings] == [
        ("questionnaire-unread", "questionnaire-status")
    ]


def test_a_resource_without_id_takes_it_from_an_absolute_full_url():
    data = rs.transaction(rs.mdd_condition("2026-01-10"))
    data["entry"][1]["fullUrl"] = "https://ehr.example.org/fhir/Condition/c-77"
    assert [d.resource for d in record(data).diagnoses] == ["Condition/c-77"]
    data["entry"][1]["fullUrl"] = "https://ehr.example.org/fhir/Observation/c-77"  # not its type
    (diagnosis,) = record(data).diagnoses
    assert diagnosis.resource != "Condition/c-77"
