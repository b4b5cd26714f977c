"""Daily dose from FHIR Dosage: derivable cases give mg/day, everything else gives None."""

import pytest

from trdfhir.ingest.dose import daily_dose, strength_from_text


def dose(value, unit, timing=None, **extra):
    d = {"doseAndRate": [{"doseQuantity": {"value": value, "unit": unit}}]}
    if timing is not None:
        d["timing"] = timing
    d.update(extra)
    return d


DAILY = {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}
TWICE = {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}}


@pytest.mark.parametrize(
    ("dosages", "strength", "expected"),
    [
        ([dose(50, "mg", DAILY)], None, 50),
        ([dose(37.5, "mg", TWICE)], None, 75),
        ([dose(0.1, "g", DAILY)], None, 100),
        ([dose(2, "tablet", DAILY)], 50, 100),  # tablets x strength of the product
        ([dose(1, "{tbl}", TWICE)], 25, 50),
        (
            [dose(150, "mg", {"repeat": {"frequency": 1, "period": 1, "periodUnit": "wk"}})],
            None,
            150 / 7,
        ),
        ([dose(20, "mg", {"code": {"coding": [{"code": "BID"}]}})], None, 40),
        ([dose(50, "mg", DAILY), dose(25, "mg", DAILY)], None, 75),  # morning + evening
        ([{"text": "sertraline 100 mg once daily"}], None, 100),
        ([{"text": "take 20mg twice a day"}], None, 40),
    ],
)
def test_derivable_daily_doses(dosages, strength, expected):
    assert daily_dose(dosages, strength).mg_per_day == pytest.approx(expected, abs=0.001)


@pytest.mark.parametrize(
    ("dosages", "strength", "why"),
    [
        ([], None, "no dosage"),
        ([dose(1, "tablet", DAILY)], None, "strength is unknown"),
        ([dose(50, "mg")], None, "not recorded"),  # no frequency: never assume once daily
        ([dose(5, "mL", DAILY)], None, "cannot be converted"),
        ([{"text": "as directed"}], None, "not a single plain dose"),
        ([{"text": "50 mg or 100 mg daily"}], None, "dose range"),
        ([dose(50, "mg", DAILY, asNeededBoolean=True)], None, "as-needed"),
        (
            [dose(50, "mg", DAILY, sequence=1), dose(100, "mg", DAILY, sequence=2)],
            None,
            "several steps",
        ),
    ],
)
def test_underivable_doses_are_unknown_with_a_reason(dosages, strength, why):
    result = daily_dose(dosages, strength)
    assert result.mg_per_day is None
    assert why in (result.source or "")


def test_strength_from_product_text():
    assert strength_from_text("sertraline 50 MG Oral Tablet") == 50
    assert strength_from_text("venlafaxine 37.5 MG Oral Tablet") == 37.5
    assert strength_from_text("olanzapine 6 MG / fluoxetine 25 MG") is None  # two strengths
    assert strength_from_text("sertraline tablets") is None


# -- real-world shapes (issue 10): units of the product, rates, timing codes, sig text ----------

SCT = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
GTS = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"


def coded(value, system, code, unit=None):
    qty = {"value": value, "system": system, "code": code}
    if unit:
        qty["unit"] = unit
    return {"doseAndRate": [{"doseQuantity": qty}]}


def timing_code(code, system=GTS):
    return {"code": {"coding": [{"system": system, "code": code}]}}


@pytest.mark.parametrize(
    ("dosage", "strength", "expected"),
    [
        # Synthea: {"value": 1} with no unit at all is one unit of the product
        ({"doseAndRate": [{"doseQuantity": {"value": 1}}], "timing": DAILY}, 50, 50),
        ({**dose(2, "TABLET"), "timing": DAILY}, 25, 50),
        ({**dose(1, "tab"), "timing": TWICE}, 37.5, 75),
        ({**dose(1, "tab(s)"), "timing": TWICE}, 37.5, 75),  # Cerner-style plural marker
        ({**dose(1, "capsule"), "timing": DAILY}, 60, 60),
        ({**coded(1, UCUM, "{cap}"), "timing": DAILY}, 20, 20),
        ({**coded(2, SCT, "428673006", "tablet"), "timing": DAILY}, 10, 20),  # dm+d tablet
        ({**coded(1, SCT, "428641000"), "timing": TWICE}, 75, 150),  # dm+d capsule
        ({**coded(1, SCT, "732936001"), "timing": DAILY}, 30, 30),  # unit of presentation
        (
            {**coded(1, "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm", "TAB")}
            | {"timing": DAILY},
            50,
            50,
        ),
        ({**coded(100, SCT, "258684004", "mg"), "timing": DAILY}, None, 100),  # SNOMED mg
    ],
)
def test_doses_in_units_of_the_product_use_its_strength(dosage, strength, expected):
    assert daily_dose([dosage], strength).mg_per_day == pytest.approx(expected)


@pytest.mark.parametrize(
    ("dosage", "expected"),
    [
        ({**dose(150, "mg/day")}, 150),  # a daily amount needs no frequency
        ({**coded(150, UCUM, "mg/d")}, 150),
        ({"doseAndRate": [{"rateQuantity": {"value": 60, "system": UCUM, "code": "mg/d"}}]}, 60),
        (
            {
                "doseAndRate": [
                    {
                        "rateRatio": {
                            "numerator": {"value": 300, "unit": "mg", "code": "mg"},
                            "denominator": {"value": 2, "unit": "day", "code": "d"},
                        }
                    }
                ]
            },
            150,
        ),
    ],
)
def test_units_with_time_in_them(dosage, expected):
    assert daily_dose([dosage], None).mg_per_day == pytest.approx(expected)


@pytest.mark.parametrize(
    ("timing", "expected"),
    [
        (timing_code("QD"), 50),
        (timing_code("BID"), 100),
        (timing_code("TID"), 150),
        (timing_code("QID"), 200),
        (timing_code("QHS", "http://example.org/local-sig"), 50),  # common, not in GTS
        (timing_code("QAM", None), 50),
        (timing_code("Q12H"), 100),
        (timing_code("Q8H"), 150),
        ({"code": {"text": "Daily"}}, 50),
        ({"code": {"text": "Twice daily"}}, 100),
        ({"repeat": {"when": ["MORN", "HS"]}}, 100),  # one dose per `when` entry
        ({"repeat": {"when": ["HS"]}}, 50),
        ({"repeat": {"frequency": 1, "period": 1, "periodUnit": "wk"}}, 50 / 7),
        ({"repeat": {"frequency": 2, "period": 1, "periodUnit": "wk"}}, 100 / 7),
    ],
)
def test_frequency_from_timing_codes_when_and_period(timing, expected):
    assert daily_dose([dose(50, "mg", timing)], None).mg_per_day == pytest.approx(
        expected, abs=0.001
    )


@pytest.mark.parametrize(
    ("dosage", "strength", "reason"),
    [
        (
            dose(50, "mg", {"repeat": {"frequency": 1, "frequencyMax": 2, "period": 1}}),
            None,
            "frequency-max",
        ),
        (dose(50, "mg", DAILY, asNeededBoolean=True), None, "as-needed"),
        (
            dose(50, "mg", DAILY, asNeededCodeableConcept={"text": "anxiety"}),
            None,
            "as-needed",
        ),
        ({**dose(1, "tablet"), "timing": DAILY}, None, "no-strength"),
        (dose(50, "mg"), None, "no-frequency"),
        ({"timing": DAILY}, None, "no-dose"),
        (dose(5, "mL", DAILY), None, "unit-unconvertible"),
        (
            {
                "doseAndRate": [
                    {
                        "doseRange": {
                            "low": {"value": 7.5, "unit": "mg"},
                            "high": {"value": 15, "unit": "mg"},
                        }
                    }
                ],
                "timing": DAILY,
            },
            None,
            "dose-range",
        ),
        ({"text": "7.5 to 15 mg at bedtime"}, None, "dose-range"),
        ({"text": "Take 1 tablet by mouth daily"}, None, "no-strength"),
        ({"text": "Use as directed"}, 50, "sig-unreadable"),
        ({"patientInstruction": "take one or two at night"}, 50, "sig-unreadable"),
        ({"text": "Take 1 tablet (100 mg total) by mouth daily"}, 50, "sig-conflict"),
    ],
)
def test_unknown_doses_carry_a_stable_reason(dosage, strength, reason):
    result = daily_dose([dosage], strength)
    assert (result.mg_per_day, result.reason) == (None, reason)


@pytest.mark.parametrize(
    ("dosage", "strength", "expected", "per_day_units"),
    [
        ({"text": "Take 1 tablet (50 mg total) by mouth daily."}, None, 50, 1),
        ({"text": "Take 2 tablets by mouth at bedtime"}, 50, 100, 2),
        ({"text": "1 tab PO BID"}, 25, 50, 2),
        ({"text": "Takes 50 mg once daily"}, None, 50, None),
        ({"patientInstruction": "One tablet to be taken each day"}, 50, 50, 1),
        # structured dose without a frequency: the sig gives both
        ({**dose(1, "tablet"), "text": "1 tablet by mouth once daily"}, 150, 150, 1),
    ],
)
def test_sig_text_is_read_when_the_structured_dose_is_missing(
    dosage, strength, expected, per_day_units
):
    result = daily_dose([dosage], strength)
    assert result.mg_per_day == pytest.approx(expected)
    assert result.units_per_day == per_day_units


def test_tablets_of_unknown_strength_take_the_mg_total_from_the_sig():
    dosage = {**dose(1, "tablet", DAILY), "text": "Take 1 tablet (50 mg total) by mouth daily."}
    assert daily_dose([dosage], None).mg_per_day == 50
    assert daily_dose([{**dose(1, "tablet", DAILY), "text": "as directed"}], None).reason == (
        "no-strength"
    )


def test_structured_dose_wins_over_the_text():
    dosage = {**dose(100, "mg", DAILY), "text": "Take 50 mg daily"}
    assert daily_dose([dosage], None).mg_per_day == 100


@pytest.mark.parametrize(
    ("name", "strength"),
    [
        ("Sertraline 100MG", 100),
        ("sertraline 50 MG Oral Tablet", 50),
        ("SERTRALINE HCL 50 MG TABLET", 50),
        ("Sertraline 50mg tablets", 50),
        ("Venlafaxine 37.5mg modified-release capsules", 37.5),
        ("sertraline 20 MG/ML Oral Solution", None),  # a concentration, not a unit strength
        ("Fluoxetine 20mg/5ml oral solution", None),
        ("olanzapine 6 MG / fluoxetine 25 MG Oral Capsule", None),  # two strengths
        ("Sertraline tablets", None),
    ],
)
def test_strength_from_product_names_as_systems_write_them(name, strength):
    assert strength_from_text(name) == strength


# -- a sig never overrules the half of the structured dose that is recorded (review fixes) -------
TID = {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}}


@pytest.mark.parametrize(
    ("dosage", "strength"),
    [
        # 200 mg a dose recorded, no frequency; the text says 50 mg a dose
        ({**dose(200, "mg"), "text": "take 50 mg daily"}, None),
        # three times a day recorded, no dose; the text says once a day
        ({"timing": TID, "text": "take 50 mg daily"}, None),
        # 2 tablets twice a day recorded; the text says 1 tablet (50 mg) once a day
        (
            {
                **dose(2, None, {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}}),
                "text": "take 1 tablet (50 mg total) by mouth daily",
            },
            None,
        ),
    ],
)
def test_a_sig_that_disagrees_with_the_structured_half_is_a_conflict(dosage, strength):
    result = daily_dose([dosage], strength)
    assert result.mg_per_day is None
    assert result.reason == "sig-conflict"


def test_a_sig_that_agrees_with_the_structured_half_is_read():
    assert daily_dose([{**dose(50, "mg"), "text": "take 50 mg daily"}], None).mg_per_day == 50
    assert daily_dose(
        [{"timing": TID, "text": "take 50 mg three times daily"}], None
    ).mg_per_day == (150)


def test_a_range_in_the_text_is_not_replaced_by_the_patient_instruction():
    result = daily_dose(
        [{"text": "take 50 to 100 mg daily", "patientInstruction": "take 50 mg daily"}], None
    )
    assert result.mg_per_day is None and result.reason == "dose-range"


def test_text_and_patient_instruction_that_disagree_are_a_conflict():
    result = daily_dose(
        [{"text": "take 50 mg daily", "patientInstruction": "take 100 mg daily"}], None
    )
    assert result.mg_per_day is None and result.reason == "sig-conflict"
