"""The sig grammar: a text is read only when all of it fits; ranges, as-needed and anything else
are unknown with a reason, never one number picked out of the text."""

import pytest

from trdfhir.ingest.sig import read_sig

NAMES = frozenset({"sertraline", "hcl", "mirtazapine", "escitalopram"})


@pytest.mark.parametrize(
    ("text", "amount", "unit", "per_day", "total"),
    [
        # Epic: a dose in tablets with the mg total in brackets
        ("Take 1 tablet (50 mg total) by mouth daily.", 1, "unit", 1, 50),
        ("Take 2 tablets (100 mg total) by mouth every morning.", 2, "unit", 1, 100),
        ("Take 2 tablets by mouth at bedtime", 2, "unit", 1, None),
        ("50 mg once daily", 50, "mg", 1, None),
        ("1 tab PO BID", 1, "unit", 2, None),
        ("Takes 50 mg once daily", 50, "mg", 1, None),  # patient-reported
        ("sertraline 100 mg once daily", 100, "mg", 1, None),  # a drug name leads
        ("Sertraline HCl 50mg daily", 50, "mg", 1, None),
        ("take 20mg twice a day", 20, "mg", 2, None),
        ("37.5 mg PO q12h", 37.5, "mg", 2, None),
        ("10 mg orally three times daily", 10, "mg", 3, None),
        ("1 capsule by mouth every 8 hours", 1, "unit", 3, None),
        ("2 caps QID", 2, "unit", 4, None),
        # UK dm+d style
        ("One tablet to be taken each day", 1, "unit", 1, None),
        ("One to be taken each morning", 1, "unit", 1, None),
        ("Take one tablet daily", 1, "unit", 1, None),
        ("half a tablet daily", 0.5, "unit", 1, None),
        ("1/2 tab qhs", 0.5, "unit", 1, None),
        ("Take 1 tablet by mouth once daily in the morning with food.", 1, "unit", 1, None),
        ("15 mg nightly", 15, "mg", 1, None),
        ("150 mg weekly", 150, "mg", 1 / 7, None),
        ("20 mg every other day", 20, "mg", 0.5, None),
        ("  TAKE 1 TABLET BY MOUTH DAILY  ", 1, "unit", 1, None),  # case and spaces
        # Epic spells the count out in brackets
        ("Take 1 tablet (25 mg total) by mouth 2 (two) times a day.", 1, "unit", 2, 25),
        ("Take 1 (one) tablet by mouth every morning before breakfast", 1, "unit", 1, None),
        ("Take 1.5 tablets (75 mg total) by mouth daily.", 1.5, "unit", 1, 75),
    ],
)
def test_plain_sigs_are_read(text, amount, unit, per_day, total):
    sig = read_sig(text, NAMES)
    assert sig.reason == ""
    assert (sig.amount, sig.unit, sig.total_mg) == (amount, unit, total)
    assert sig.per_day == pytest.approx(per_day)


@pytest.mark.parametrize(
    "text",
    [
        "7.5 to 15 mg",
        "7.5-15 mg",
        "15\u201330 mg daily",  # en dash
        "up to 45 mg daily",
        "Take 1-2 tablets by mouth daily",
        "50 mg or 100 mg daily",
        "7.5 mg to 15 mg at bedtime",
        "Take 15 mg at bedtime, max 45 mg daily",
        "between 50 and 100 mg daily",
    ],
)
def test_dose_ranges_are_unknown_never_their_upper_value(text):
    sig = read_sig(text, NAMES)
    assert (sig.amount, sig.per_day, sig.reason) == (None, None, "dose-range")


@pytest.mark.parametrize(
    "text", ["Take 1 tablet by mouth daily as needed", "50 mg PRN", "50 mg daily if needed"]
)
def test_as_needed_is_unknown(text):
    assert read_sig(text, NAMES).reason == "as-needed"


@pytest.mark.parametrize(
    "text",
    [
        "Take as directed",
        "50 mg",  # no frequency: never assume once daily
        "once daily",  # no dose
        "50 once daily",  # 50 of what?
        "Approximately 50 mg daily",  # an unknown lead word
        "Take 50 mg daily for 1 week then 100 mg daily",  # titration
        "Take 50 mg in the morning and 25 mg at night",
        "Take 1 tablet daily; increase to 2 tablets after a week",
        "Take 1 tablet (50 mg total) by mouth daily with 25 mg at night",
        "Take 50 mg (100 mg total) daily",  # the two mg amounts disagree
        "Take 0 tablets daily",
        "Take 1 tablet by mouth 2 (three) times a day",  # the word disagrees with the digit
        "",
    ],
)
def test_anything_else_is_unreadable(text):
    sig = read_sig(text, NAMES)
    assert (sig.amount, sig.per_day, sig.reason) == (None, None, "sig-unreadable")


def test_a_lead_word_must_be_a_verb_or_a_drug_name():
    assert read_sig("sertraline 50 mg daily", frozenset()).reason == "sig-unreadable"
    assert read_sig("sertraline 50 mg daily", NAMES).amount == 50
