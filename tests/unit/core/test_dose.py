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
        ([{"text": "50 mg or 100 mg daily"}], None, "not a single plain dose"),
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
