"""Ingest: checks on the input, and how each resource type becomes domain values."""

from datetime import date

import pytest

from tests.fhir_builders import (
    PATIENT,
    PHQ9_ITEM_CODES,
    bundle,
    condition,
    dispense,
    drug,
    lab,
    phq9,
    request,
    statement,
)
from trdfhir import InputError, load_mappings
from trdfhir.ingest import read_record

AS_OF = date(2026, 6, 1)
MAPS = load_mappings()


def record(*resources, as_of=AS_OF):
    return read_record(bundle(*resources), MAPS, as_of)


def test_two_patients_are_rejected_with_the_location_of_the_stranger():
    stranger = statement("sertraline", 50, "2026-01-01", subject="Patient/p2")
    with pytest.raises(InputError) as err:
        record(statement("sertraline", 50, "2026-01-01"), stranger)
    assert "more than one patient" in err.value.message
    assert err.value.location == "Bundle.entry[2].resource"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Foo"}}]},
            "'Foo' is not a FHIR R4 resource type",
        ),
        ({"resourceType": "Bundle", "entry": "nope"}, "Bundle.entry must be a list"),
        ({"resourceType": "Bundle", "entry": [3]}, "Bundle entry must be an object"),
        ([{"id": "x"}], "resource without a resourceType"),
        ("text", "expected a FHIR resource"),
        (
            {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Medication"}}]},
            "no patient found",
        ),
    ],
)
def test_unusable_input_is_a_clear_error(data, message):
    with pytest.raises(InputError) as err:
        read_record(data, MAPS, AS_OF)
    assert message in err.value.message


def test_unknown_but_valid_resource_types_are_skipped():
    rec = record({"resourceType": "Encounter", "id": "e1", "subject": {"reference": PATIENT}})
    assert rec.exposures == () and rec.warnings == ()


def test_entered_in_error_resources_are_ignored():
    rec = record(statement("sertraline", 50, "2026-01-01", "2026-03-01", status="entered-in-error"))
    assert rec.exposures == ()


def test_unmapped_medication_codes_are_reported_not_dropped():
    metformin = statement("sertraline", 500, "2026-01-01")
    metformin["medicationCodeableConcept"] = {
        "coding": [
            {
                "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                "code": "6809",
                "display": "metformin",
            }
        ]
    }
    rec = record(metformin)
    assert [(u.code, u.display) for u in rec.unmapped] == [("6809", "metformin")]


def test_name_fallback_is_labelled():
    ms = statement("sertraline", 50, "2026-01-01")
    ms["medicationCodeableConcept"] = {"text": "Zoloft 50 mg tablets"}
    [exposure] = record(ms).exposures
    assert (exposure.ingredient, exposure.matched_by) == ("sertraline", "name")


def test_open_active_statement_runs_to_the_as_of_date():
    [e] = record(statement("sertraline", 50, "2026-04-01")).exposures
    assert e.ongoing and e.end == date(2026, 6, 2)  # exclusive end: the as-of day is included


def test_period_end_is_the_last_day_taken():
    [e] = record(statement("sertraline", 50, "2026-01-01", "2026-02-11")).exposures
    assert (e.end - e.start).days == 42


def test_dose_in_tablets_uses_the_product_code_strength():
    ms = statement("sertraline", None, "2026-01-01", "2026-03-01")
    ms["medicationCodeableConcept"] = {
        "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "312941"}]
    }  # sertraline 50 MG Oral Tablet
    ms["dosage"] = [
        {
            "doseAndRate": [{"doseQuantity": {"value": 2, "unit": "tablet"}}],
            "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
        }
    ]
    [e] = record(ms).exposures
    assert (e.ingredient, e.daily_dose_mg) == ("sertraline", 100)


def test_contained_medication_is_followed():
    ms = statement("sertraline", 50, "2026-01-01", "2026-03-01")
    del ms["medicationCodeableConcept"]
    ms["contained"] = [{"resourceType": "Medication", "id": "m", "code": drug("venlafaxine")}]
    ms["medicationReference"] = {"reference": "#m"}
    assert [e.ingredient for e in record(ms).exposures] == ["venlafaxine"]


def test_missing_reference_target_is_a_warning():
    ms = statement("sertraline", 50, "2026-01-01", "2026-03-01")
    del ms["medicationCodeableConcept"]
    ms["medicationReference"] = {"reference": "Medication/nowhere"}
    rec = record(ms)
    assert rec.exposures == () and rec.warnings[0].code == "unresolved-reference"


def test_medication_request_supply_and_repeats():
    [e] = record(request("escitalopram", 10, "2026-01-01", 30, repeats=2)).exposures
    assert ((e.end - e.start).days, e.daily_dose_mg) == (90, 10)


def test_each_dispense_covers_its_days_supply():
    rec = record(dispense("sertraline", 50, "2026-01-01"), dispense("sertraline", 50, "2026-02-20"))
    assert [
        (e.source_type, e.start.isoformat(), (e.end - e.start).days, e.daily_dose_mg)
        for e in rec.exposures
    ] == [("dispense", "2026-01-01", 30, 50), ("dispense", "2026-02-20", 30, 50)]


@pytest.mark.parametrize(
    ("resource", "code"),
    [
        (statement("sertraline", 50, "2026-07-01"), "after-as-of"),
        (statement("sertraline", 5000, "2026-01-01", "2026-03-01"), "implausible-dose"),
        (statement("sertraline", -50, "2026-01-01", "2026-03-01"), "implausible-dose"),
        (phq9("2026-01-01", 12, unit="mg")[0], "unexpected-unit"),
        (phq9("2026-01-01", 40)[0], "out-of-range"),
        (lab("3016-3", "2026-01-01", 3.0, "furlongs"), "unexpected-unit"),
    ],
)
def test_bad_values_become_warnings_and_are_not_used(resource, code):
    rec = record(resource)
    assert [w.code for w in rec.warnings] == [code]
    assert rec.scores == () and rec.labs == ()
    assert all(e.daily_dose_mg is None for e in rec.exposures)


def test_missing_dates_are_warnings():
    ms = statement("sertraline", 50, "2026-01-01")
    del ms["effectivePeriod"]
    rec = record(ms)
    assert rec.exposures == () and rec.warnings[0].code == "missing-date"


def test_phq9_total_is_summed_from_nine_items_of_a_questionnaire_response():
    item_codes = PHQ9_ITEM_CODES
    qr = {
        "resourceType": "QuestionnaireResponse",
        "id": "qr1",
        "status": "completed",
        "subject": {"reference": PATIENT},
        "authored": "2026-02-01",
        "item": [{"linkId": code, "answer": [{"valueInteger": 2}]} for code in item_codes],
    }
    rec = record(qr)
    assert [(s.scale, s.value) for s in rec.scores] == [("PHQ-9", 18.0)]
    assert [p.value for p in rec.item9] == [2]


def test_phq9_item_answers_as_loinc_answer_codes():
    item = {
        "resourceType": "Observation",
        "id": "i9",
        "status": "final",
        "subject": {"reference": PATIENT},
        "effectiveDateTime": "2026-02-01",
        "code": {"coding": [{"system": "http://loinc.org", "code": "44260-8"}]},
        "valueCodeableConcept": {"coding": [{"system": "http://loinc.org", "code": "LA6570-1"}]},
    }
    assert [p.value for p in record(item).item9] == [2]


def test_labs_convert_units():
    rec = record(lab("62292-8", "2026-01-01", 50, "nmol/L"))
    assert rec.labs[0].value == pytest.approx(20.03, abs=0.01)


def test_diagnoses_are_classified_and_icd_codes_normalised():
    rec = record(
        condition("F333", "2025-01-01"), condition("F31.9", "2020-01-01", status="resolved")
    )
    cats = {(d.category, d.psychotic, d.active) for d in rec.diagnoses}
    assert cats == {("mdd", True, True), ("bipolar", False, False)}


def test_refuted_conditions_are_ignored():
    c = condition("F31.9", "2020-01-01")
    c["verificationStatus"] = {"coding": [{"code": "refuted"}]}
    assert record(c).diagnoses == ()


def test_a_plain_list_of_resources_is_accepted():
    rec = read_record([statement("sertraline", 50, "2026-01-01")], MAPS, AS_OF)
    assert rec.patient == PATIENT and len(rec.exposures) == 1


def test_trd_fhirs_own_written_resources_are_not_inputs():
    """A stage Observation written back earlier must not feed the next evaluation."""
    ours = {
        "resourceType": "Observation",
        "id": "stage1",
        "status": "preliminary",
        "subject": {"reference": PATIENT},
        "code": {"text": "Maudsley"},
        "identifier": [{"system": "http://trd-fhir.org/fhir/sid/assessment", "value": "x"}],
    }
    rec = record(ours, statement("sertraline", 50, "2026-01-01", rid="ms-in"))
    assert "Observation/stage1" not in rec.inputs and "MedicationStatement/ms-in" in rec.inputs


def test_ndjson_grouping_gives_each_patient_only_the_medications_it_references():
    from trdfhir.ingest.grouping import group_by_patient

    med = {"resourceType": "Medication", "id": "m1", "code": {"text": "sertraline 50 MG"}}
    other = {"resourceType": "Medication", "id": "m2", "code": {"text": "metformin"}}
    ms = statement("sertraline", 50, "2026-01-01")
    del ms["medicationCodeableConcept"]
    ms["medicationReference"] = {"reference": "Medication/m1"}
    lonely = statement("sertraline", 50, "2026-01-01", subject="Patient/p2")
    groups = group_by_patient([med, other, ms, lonely])
    assert groups[PATIENT] == [med, ms]
    assert groups["Patient/p2"] == [lonely]
