"""Thresholds of docs/rules.md, each tested on both sides with a tiny hand-built bundle.

Each test builds the smallest record that reaches one threshold: a patient, an MDD Condition (the
episode), one or two drugs or a course of sessions, and PHQ-9 scores placed so that the baseline and
end windows are unambiguous. Expected values come from docs/rules.md and mappings/ (minimum doses),
worked out by hand.

Dates: intervals are written as first day .. last day inclusive; "N d" is the number of days on the
drug (last - first + 1). 2026 is not a leap year (February has 28 days).
"""

from __future__ import annotations

import datetime
import itertools
from typing import Any

import pytest

import trdfhir

PATIENT = "Patient/boundary"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
CPT = "http://www.ama-assn.org/go/cpt"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"

INGREDIENTS = {  # RxNorm ingredient codes (research §4.1, mappings/antidepressants.json)
    "sertraline": "36437",
    "paroxetine": "32937",
    "venlafaxine": "39786",
    "nortriptyline": "7531",
    "phenelzine": "8123",
    "lithium": "6448",
}
PRODUCTS = {"312940": "sertraline 25 MG Oral Tablet"}  # mappings/products.json

_ids = itertools.count(1)


def _rid(kind: str) -> str:
    return f"{kind}-{next(_ids)}"


def patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": "boundary",
        "gender": "female",
        "birthDate": "1980-01-01",
    }


def mdd(onset: str, code: str = "F33.1") -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": _rid("mdd"),
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": "confirmed",
                }
            ]
        },
        "code": {
            "coding": [{"system": ICD10CM, "code": code, "display": "Major depressive disorder"}]
        },
        "subject": {"reference": PATIENT},
        "onsetDateTime": onset,
    }


def statement(
    drug: str | None,
    *,
    start: str,
    last_day: str | None = None,
    mg: float | None = None,
    per_day: int = 1,
    tablets: float | None = None,
    product: str | None = None,
    status: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """A MedicationStatement: `mg` (or `tablets` of `product`) per dose, `per_day` doses a day."""
    if product is not None:
        coding = {"system": RXNORM, "code": product, "display": PRODUCTS[product]}
    else:
        assert drug is not None
        coding = {"system": RXNORM, "code": INGREDIENTS[drug], "display": drug}
    if tablets is not None:
        dose = {"value": tablets, "unit": "tablet", "system": UCUM, "code": "{tbl}"}
    else:
        dose = {"value": mg, "unit": "mg", "system": UCUM, "code": "mg"}
    period = {"start": start, **({"end": last_day} if last_day else {})}
    res: dict[str, Any] = {
        "resourceType": "MedicationStatement",
        "id": _rid("ms"),
        "status": status or ("completed" if last_day else "active"),
        "medicationCodeableConcept": {"coding": [coding]},
        "subject": {"reference": PATIENT},
        "effectivePeriod": period,
        "dosage": [
            {
                "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": dose}],
            }
        ],
    }
    if reason:
        res["statusReason"] = [{"text": reason}]
    return res


def phq(day: str, value: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": _rid("phq9"),
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "survey",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": "44261-6"}]},
        "subject": {"reference": PATIENT},
        "effectiveDateTime": day,
        "valueQuantity": {"value": value, "system": UCUM, "code": "{score}", "unit": "{score}"},
    }


def item9(day: str, value: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": _rid("item9"),
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "44260-8"}]},
        "subject": {"reference": PATIENT},
        "effectiveDateTime": day,
        "valueInteger": value,
    }


def procedure(day: str, *codings: tuple[str, str]) -> dict[str, Any]:
    return {
        "resourceType": "Procedure",
        "id": _rid("proc"),
        "status": "completed",
        "code": {"coding": [{"system": s, "code": c} for s, c in codings]},
        "subject": {"reference": PATIENT},
        "performedDateTime": day,
    }


def cbt(day: str) -> dict[str, Any]:
    return procedure(day, (CPT, "90837"), (SNOMED, "228557008"))


def ect(day: str, right_unilateral: bool = False) -> dict[str, Any]:
    return procedure(day, (SNOMED, "1010697006") if right_unilateral else (CPT, "90870"))


def days(start: str, n: int, step: int = 7) -> list[str]:
    d = datetime.date.fromisoformat(start)
    return [(d + datetime.timedelta(days=step * i)).isoformat() for i in range(n)]


def bundle(*resources: dict[str, Any], onset: str = "2026-01-01") -> dict[str, Any]:
    entries = [patient(), mdd(onset), *resources]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": f"urn:uuid:00000000-0000-4000-8000-{i:012d}", "resource": r}
            for i, r in enumerate(entries)
        ],
    }


def evaluate(b: dict[str, Any], as_of: str) -> dict[str, Any]:
    return trdfhir.evaluate(b, as_of=datetime.date.fromisoformat(as_of)).summary()


def trials(s: dict[str, Any], kind: str, agent: str | None = None) -> list[dict[str, Any]]:
    return [t for t in s["trials"] if t["kind"] == kind and (agent is None or t["agent"] == agent)]


def one(s: dict[str, Any], kind: str, agent: str | None = None) -> dict[str, Any]:
    found = trials(s, kind, agent)
    assert len(found) == 1, (
        f"expected one {kind} {agent or ''} trial, "
        f"got {[(t['kind'], t['agent'], t['start']) for t in s['trials']]}"
    )
    return found[0]


def codes(items: list[dict[str, Any]]) -> set[str]:
    return {x["code"] for x in items}


# A failed adequate sertraline trial used as background in several tests:
# 100 mg 2026-01-05..2026-03-01 (56 d >= 42 at >= 50 mg); PHQ-9 18 (01-02) -> 17 (02-26): 0.06 ->
# non-response, measured.
def failed_sertraline() -> list[dict[str, Any]]:
    return [
        statement("sertraline", start="2026-01-05", last_day="2026-03-01", mg=100),
        phq("2026-01-02", 18),
        phq("2026-02-26", 17),
    ]


# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("last_day", "n_days", "adequacy", "reasons", "weeks"),
    [
        ("2026-02-10", 41, "inadequate", ["too-short"], 5.9),  # 41/7 = 5.857
        ("2026-02-11", 42, "adequate", [], 6.0),  # 42/7 = 6.0
    ],
)
def test_days_at_adequate_dose_41_vs_42(
    last_day: str, n_days: int, adequacy: str, reasons: list[str], weeks: float
) -> None:
    """Sertraline 50 mg (= the minimum) from 2026-01-01 to `last_day`: 41 days is too short, 42 days
    (6 weeks, antidepressant_adequate_days) is adequate. A Period's end is the last day taken, so
    2026-01-01..2026-02-11 is 42 days (rules.md, Dates and intervals)."""
    b = bundle(
        statement("sertraline", start="2026-01-01", last_day=last_day, mg=50),
        phq("2025-12-29", 18),
        phq("2026-02-09", 17),
    )
    t = one(evaluate(b, "2026-06-01"), "antidepressant", "sertraline")
    assert (t["end"], t["adequacy"], sorted(t["reasons"])) == (last_day, adequacy, reasons), (
        f"{n_days} d"
    )
    assert t["weeks_at_adequate_dose"] == weeks


@pytest.mark.parametrize(
    ("mg", "tablets", "daily", "adequacy", "reasons"),
    [
        (25, None, 25, "inadequate", ["dose-below-minimum"]),
        (50, None, 50, "adequate", []),
        (None, 1.5, 37.5, "inadequate", ["dose-below-minimum"]),  # 1.5 x 25 MG tablet
        (None, 2, 50, "adequate", []),  # 2 x 25 MG tablet
    ],
)
def test_dose_just_under_vs_at_the_minimum(
    mg: float | None, tablets: float | None, daily: float, adequacy: str, reasons: list[str]
) -> None:
    """Sertraline for 60 days (2026-01-05..2026-03-05) at 25 mg, 50 mg, 1.5 or 2 tablets of RxNorm
    312940 (sertraline 25 MG Oral Tablet). The minimum adequate dose is 50 mg/day: 25 and 37.5 mg
    are `dose-below-minimum`, 50 mg is adequate. A dose in tablets uses the product's strength."""
    if tablets is None:
        med = statement("sertraline", start="2026-01-05", last_day="2026-03-05", mg=mg)
    else:
        med = statement(
            None, product="312940", start="2026-01-05", last_day="2026-03-05", tablets=tablets
        )
    b = bundle(med, phq("2026-01-02", 18), phq("2026-03-02", 17))
    t = one(evaluate(b, "2026-06-01"), "antidepressant", "sertraline")
    assert t["max_daily_dose_mg"] == daily
    assert (t["adequacy"], sorted(t["reasons"])) == (adequacy, reasons)


# ------------------------------------------------------------------------------------------------
def _one_failure_since(onset: str) -> dict[str, Any]:
    """MDD from `onset`; sertraline 100 mg for 84 days from 5 days after onset, PHQ-9 18 -> 17 ->
    non-response (a counted failure, so Maudsley applies); latest PHQ-9 16 (band 15-19 -> 3)."""
    d0 = datetime.date.fromisoformat(onset)
    iso = lambda n: (d0 + datetime.timedelta(days=n)).isoformat()  # noqa: E731
    return bundle(
        statement("sertraline", start=iso(5), last_day=iso(88), mg=100),
        phq(iso(2), 18),
        phq(iso(85), 17),
        phq(iso(200), 16),
        onset=onset,
    )


@pytest.mark.parametrize(
    ("onset", "as_of", "months", "duration", "score"),
    [
        ("2025-01-01", "2026-01-01", 12, 1, 5),  # 1 + 3 + 1 + 0 + 0
        ("2025-01-01", "2026-02-01", 13, 2, 6),  # 2 + 3 + 1 + 0 + 0
        ("2025-01-15", "2026-02-14", 12, 1, 5),  # one day short of 13 whole months
        ("2025-01-15", "2026-02-15", 13, 2, 6),
    ],
)
def test_episode_12_vs_13_months(
    onset: str, as_of: str, months: int, duration: int, score: int
) -> None:
    """Episode months are whole calendar months from the onset to the as-of date. Maudsley duration:
    <= 12 months acute (1), 13-24 subacute (2). Score = duration + severity 3 + failures 1."""
    s = evaluate(_one_failure_since(onset), as_of)
    assert s["episode"]["months"] == months
    msm = s["stages"]["maudsley"]
    assert (msm["dimensions"]["duration"], msm["score"]) == (duration, score)


@pytest.mark.parametrize(
    ("as_of", "months", "duration", "chronic"),
    [("2026-01-01", 24, 2, False), ("2026-02-01", 25, 3, True)],
)
def test_episode_24_vs_25_months(as_of: str, months: int, duration: int, chronic: bool) -> None:
    """Onset 2024-01-01. 24 months is still subacute (2) and not chronic; 25 months is > 24:
    Maudsley duration 3 and the chronic-episode finding."""
    s = evaluate(_one_failure_since("2024-01-01"), as_of)
    assert s["episode"]["months"] == months
    assert s["stages"]["maudsley"]["dimensions"]["duration"] == duration
    assert ("chronic-episode" in codes(s["findings"])) is chronic


# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("n", "adequacy", "conway"), [(7, "inadequate", 0), (8, "adequate", 1)])
def test_psychotherapy_7_vs_8_sessions_conway(n: int, adequacy: str, conway: int) -> None:
    """A failed sertraline trial (SSRI), then weekly CBT from 2026-03-09 with n sessions; PHQ-9 17
    (03-05) -> 16 (04-28): non-response. Conway counts a psychotherapy of >= 8 attended sessions of
    an evidence-based modality as its own class: 7 sessions -> too-few-sessions, stage 0;
    8 sessions -> adequate, SSRI + psychotherapy failures -> stage 1."""
    b = bundle(
        statement("sertraline", start="2026-01-05", last_day="2026-03-01", mg=100),
        phq("2026-01-02", 18),
        phq("2026-03-05", 17),  # sertraline end and CBT baseline
        *[cbt(d) for d in days("2026-03-09", n)],
        phq("2026-04-28", 16),
    )
    # As of 2026-08-01 the last session (04-20 or 04-27) is > 42 days back: the course is over.
    s = evaluate(b, "2026-08-01")
    t = one(s, "psychotherapy")
    assert (t["sessions"], t["adequacy"], t["outcome"]) == (n, adequacy, "non-response")
    if adequacy == "inadequate":
        assert t["reasons"] == ["too-few-sessions"]
    assert s["stages"]["conway"]["stage"] == conway


@pytest.mark.parametrize(("n", "met"), [(8, False), (9, True)])
def test_psychotherapy_8_vs_9_sessions_markowitz(n: int, met: bool) -> None:
    """Two failed adequate antidepressants (sertraline 01-05..03-01, venlafaxine 150 mg
    03-02..04-26, PHQ-9 18 -> 17 -> 17) then weekly CBT from 2026-05-04 with n sessions,
    17 (04-23) -> 16 (07-02). Markowitz needs >= 9 sessions: 8 -> not met (missing
    adequate-psychotherapy-trial), 9 -> met. Conway counts both (>= 8): 3 failures in >= 2 classes
    -> stage 2 either way."""
    b = bundle(
        statement("sertraline", start="2026-01-05", last_day="2026-03-01", mg=100),
        statement("venlafaxine", start="2026-03-02", last_day="2026-04-26", mg=150),
        phq("2026-01-02", 18),
        phq("2026-02-26", 17),
        phq("2026-04-23", 17),
        *[cbt(d) for d in days("2026-05-04", n)],
        phq("2026-07-02", 16),
    )
    # As of 2026-09-01 the last session (06-22 or 06-29) is > 42 days back: the course is over.
    s = evaluate(b, "2026-09-01")
    mk = s["stages"]["markowitz"]
    assert mk["met"] is met
    assert ("adequate-psychotherapy-trial" in mk["missing"]) is (not met)
    assert s["stages"]["conway"]["stage"] == 2


@pytest.mark.parametrize(("n", "adequacy", "mgh"), [(6, "inadequate", 1), (7, "adequate", 4)])
def test_ect_6_vs_7_sessions(n: int, adequacy: str, mgh: float) -> None:
    """A failed sertraline trial, then n ECT sessions (CPT 90870, Mon/Wed/Fri from 2026-03-09),
    PHQ-9 17 (02-26) -> 16 (03-26): non-response. An adequate ECT course needs >= 7 sessions;
    MGH-S adds 3 per failed adequate ECT course: 1 + 0 = 1 with 6 sessions, 1 + 3 = 4 with 7."""
    mwf = [
        "2026-03-09",
        "2026-03-11",
        "2026-03-13",
        "2026-03-16",
        "2026-03-18",
        "2026-03-20",
        "2026-03-23",
    ]
    b = bundle(*failed_sertraline(), *[ect(d) for d in mwf[:n]], phq("2026-03-26", 16))
    s = evaluate(b, "2026-06-01")
    t = one(s, "ect")
    assert (t["sessions"], t["adequacy"], t["outcome"]) == (n, adequacy, "non-response")
    if adequacy == "inadequate":
        assert t["reasons"] == ["too-few-sessions"]
    assert s["stages"]["mgh"]["score"] == mgh


# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("second_start", "days_off", "n_trials"), [("2026-03-03", 30, 1), ("2026-03-04", 31, 2)]
)
def test_trial_gap_30_vs_31_days(second_start: str, days_off: int, n_trials: int) -> None:
    """Sertraline 100 mg 2026-01-01..01-31, then again from `second_start` to 04-30. Days off the
    drug: 02-01..03-02 = 30 (merge: gap <= trial_gap_days 30, one trial) or 02-01..03-03 = 31
    (two trials)."""
    b = bundle(
        statement("sertraline", start="2026-01-01", last_day="2026-01-31", mg=100),
        statement("sertraline", start=second_start, last_day="2026-04-30", mg=100),
    )
    found = trials(evaluate(b, "2026-06-01"), "antidepressant", "sertraline")
    assert len(found) == n_trials, f"{days_off} days off: {[(t['start'], t['end']) for t in found]}"
    assert found[0]["start"] == "2026-01-01" and found[-1]["end"] == "2026-04-30"


@pytest.mark.parametrize(
    ("lithium_start", "overlap", "augmented", "mgh"),
    [("2026-03-19", 13, 0, 1), ("2026-03-18", 14, 1, 1.5)],
)
def test_lithium_overlap_13_vs_14_days(
    lithium_start: str, overlap: int, augmented: int, mgh: float
) -> None:
    """Sertraline 100 mg 2026-01-05..03-31 (86 d, adequate), PHQ-9 18 -> 17: a counted failure.
    Lithium 300 mg twice daily from `lithium_start` to 03-31: 13 days of overlap does not attach
    (lithium_augmentation_min_days 14); 14 days does: the trial is augmented and MGH-S adds 0.5."""
    b = bundle(
        statement("sertraline", start="2026-01-05", last_day="2026-03-31", mg=100),
        statement("lithium", start=lithium_start, last_day="2026-03-31", mg=300, per_day=2),
        phq("2026-01-02", 18),
        phq("2026-03-28", 17),
    )
    s = evaluate(b, "2026-06-01")
    t = one(s, "antidepressant", "sertraline")
    assert (t["adequacy"], t["outcome"]) == ("adequate", "non-response")
    assert len(t["augmented_by"]) == augmented, f"{overlap} days of overlap: {t['augmented_by']}"
    assert s["stages"]["mgh"]["score"] == mgh


# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("baseline", "end", "outcome"),
    [
        (24, 12, "response"),  # (24 - 12) / 24 = 0.50 -> response (>= 0.50)
        (25, 13, "partial"),  # 12 / 25 = 0.48 -> partial (just under 0.50)
        (24, 18, "partial"),  # 6 / 24 = 0.25 -> partial (>= 0.25)
        (25, 19, "non-response"),  # 6 / 25 = 0.24 -> non-response
        (20, 5, "response"),  # 0.75 but 5 > 4: not remission
        (20, 4, "remission"),  # 4 <= remission_max 4
        (20, 24, "non-response"),  # rise 4 / 20 = 0.20 < 0.25
        (20, 25, "worsening"),  # rise 5 / 20 = 0.25 -> worsening
    ],
)
def test_outcome_class_boundaries(baseline: int, end: int, outcome: str) -> None:
    """Sertraline 100 mg 2026-01-05..03-01 (adequate); baseline PHQ-9 on 01-02, end on 02-26. The
    class follows the change from baseline: remission end <= 4; response >= 50 %; partial >= 25 %;
    worsening a rise >= 25 %; otherwise non-response."""
    b = bundle(
        statement("sertraline", start="2026-01-05", last_day="2026-03-01", mg=100),
        phq("2026-01-02", baseline),
        phq("2026-02-26", end),
    )
    t = one(evaluate(b, "2026-06-01"), "antidepressant", "sertraline")
    assert (t["outcome"], t["evidence"]) == (outcome, "measured"), f"{baseline} -> {end}"
    assert (t["baseline_score"]["value"], t["end_score"]["value"]) == (baseline, end)


# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("last_day", "n_days", "intolerance"), [("2026-01-31", 27, True), ("2026-02-01", 28, False)]
)
def test_intolerance_stop_27_vs_28_days(last_day: str, n_days: int, intolerance: bool) -> None:
    """Paroxetine 20 mg (the minimum) from 2026-01-05, stopped on `last_day` with statusReason
    "stopped due to nausea" (an adverse effect), no scores. Stopped before intolerance_max_days
    (28): 27 days -> `stopped-for-intolerance`, outcome intolerance (documented) and the intolerance
    finding.
    28 days is not an early stop: the reason is only too-short (28 < 42). Whether the outcome and
    the intolerance finding still say "intolerance" at 28 days (rules.md, Outcome step 2, takes any
    adverse-effect statusReason) is not settled by the rules, so neither is asserted there."""
    b = bundle(
        statement(
            "paroxetine",
            start="2026-01-05",
            last_day=last_day,
            mg=20,
            status="stopped",
            reason="stopped due to nausea",
        ),
    )
    s = evaluate(b, "2026-06-01")
    t = one(s, "antidepressant", "paroxetine")
    assert t["adequacy"] == "inadequate"
    assert ("stopped-for-intolerance" in t["reasons"]) is intolerance, f"{n_days} d: {t['reasons']}"
    if intolerance:
        assert (t["outcome"], t["evidence"]) == ("intolerance", "documented")
        assert "intolerance" in codes(s["findings"])
    else:
        assert "too-short" in t["reasons"]


# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("right_unilateral", "stage"), [(False, 5), (True, 4)])
def test_thase_rush_v_needs_bilateral_or_unspecified_ect(
    right_unilateral: bool, stage: int
) -> None:
    """Failed adequate SSRI, SNRI, TCA and MAOI trials (stage IV), then 8 ECT sessions with no
    response. A course of unspecified laterality (CPT 90870) reaches stage V; one coded
    right-unilateral (SNOMED 1010697006) does not."""
    b = bundle(
        statement("sertraline", start="2026-01-05", last_day="2026-03-01", mg=100),
        statement("venlafaxine", start="2026-03-02", last_day="2026-04-26", mg=150),
        statement("nortriptyline", start="2026-04-27", last_day="2026-06-21", mg=100),
        statement("phenelzine", start="2026-07-06", last_day="2026-08-30", mg=60),
        *[
            phq(d, 20)
            for d in ("2026-01-02", "2026-02-26", "2026-04-23", "2026-06-18", "2026-08-27")
        ],
        *[ect(d, right_unilateral) for d in days("2026-09-07", 8, step=2)],
        phq("2026-09-24", 20),
    )
    s = evaluate(b, "2026-11-01")
    assert one(s, "ect")["adequacy"] == "adequate"
    assert s["stages"]["thase_rush"]["stage"] == stage


@pytest.mark.parametrize(("latest_item9", "urgent"), [(0, False), (1, True)])
def test_item9_counts_only_in_the_latest_phq9(latest_item9: int, urgent: bool) -> None:
    """Item 9 (44260-8) was 2 on 2026-02-26 and `latest_item9` on 2026-04-20, the date of the latest
    PHQ-9 total. Only the latest PHQ-9 decides the urgent safety-item9 finding, listed first."""
    b = bundle(
        *failed_sertraline(),
        item9("2026-02-26", 2),
        phq("2026-04-20", 15),
        item9("2026-04-20", latest_item9),
    )
    s = evaluate(b, "2026-06-01")
    assert ("safety-item9" in codes(s["findings"])) is urgent
    assert ("safety-plan" in codes(s["suggestions"])) is urgent
    if urgent:
        assert (s["findings"][0]["code"], s["findings"][0]["severity"]) == (
            "safety-item9",
            "urgent",
        )
