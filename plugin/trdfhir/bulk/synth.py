"""A synthetic depression registry as a Bulk Data export: NDJSON, one file per resource type.

    write_population(out_dir, patients=1000, seed=7, as_of=date(2026, 10, 1))

Deterministic: each patient comes from its own `random.Random` seeded with (seed, index), so the
same seed gives byte-identical files whatever the number of workers; nothing reads the clock.
Streaming: one patient is held in memory at a time (per worker); chunks made by workers are
appended to the output files in patient order.

What a patient gets (rates are per patient unless said otherwise):
- a Patient and a current MDD Condition (ICD-10-CM F32.x/F33.x or SNOMED, 3 % with psychotic
  features) with an onset 6 months to 6 years before the as-of date; 20 % an earlier, resolved
  episode; comorbid and unrelated Conditions (anxiety, substance use, hypothyroidism, bipolar,
  borderline, hypertension, diabetes, ...);
- 0-8 antidepressant trials (RxNorm ingredient or product codes from mappings/antidepressants.json
  and products.json; sometimes a shared Medication resource), each written as MedicationStatement,
  MedicationRequest (30-day supplies with repeats) or MedicationDispense (monthly fills), with
  doses around the minimum adequate dose, below it (20 %), titrated (40 %), in tablets of a
  product, or missing (10 %); early stops for adverse effects; the last trial often ongoing;
- augmentation (lithium, aripiprazole, quetiapine) on some later trials; psychotherapy courses
  (CPT + SNOMED modality), occasional ECT and rTMS;
- PHQ-9 totals every 2-8 weeks following a trajectory driven by each trial's effect, a few
  positive item-9 answers; TSH, vitamin D, HbA1c and blood pressure Observations; Encounters;
- a little realistic noise: entered-in-error resources and statements without a date;
- real-world dialects (DIALECT_RATES, docs/real-world.md), drawn from a random stream of their
  own: sig text only, unitless tablet counts of a product, orders without supply, self-reported
  plans, PHQ-9 as NLM LHC-Forms QuestionnaireResponses, SNOMED-only MDD diagnoses, CBT as a
  Synthea CarePlan activity, deceased patients.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any

from ..mappings import Mappings, load_mappings
from .ndjson import dumps

Json = dict[str, Any]

DEFAULT_AS_OF = date(2026, 10, 1)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CPT = "http://www.ama-assn.org/go/cpt"
UCUM = "http://unitsofmeasure.org"
_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
_CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
_OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

FIRST_LINE = (
    "sertraline",
    "escitalopram",
    "citalopram",
    "fluoxetine",
    "paroxetine",
    "venlafaxine",
    "duloxetine",
    "bupropion",
    "mirtazapine",
    "desvenlafaxine",
    "vortioxetine",
)
AUGMENTERS: tuple[tuple[str, str, tuple[int, int]], ...] = (
    ("lithium", "6448", (600, 900)),
    ("aripiprazole", "89013", (2, 10)),
    ("quetiapine", "51272", (150, 300)),
)
MDD_CODES = (
    (ICD10CM, "F32.1", "Major depressive disorder, single episode, moderate"),
    (
        ICD10CM,
        "F32.2",
        "Major depressive disorder, single episode, severe without psychotic features",
    ),
    (ICD10CM, "F33.1", "Major depressive disorder, recurrent, moderate"),
    (ICD10CM, "F33.2", "Major depressive disorder, recurrent severe without psychotic features"),
    (ICD10CM, "F32.9", "Major depressive disorder, single episode, unspecified"),
    (ICD10CM, "F33.9", "Major depressive disorder, recurrent, unspecified"),
    (SNOMED, "370143000", "Major depressive disorder"),
    (SNOMED, "66344007", "Recurrent major depression"),
)
PSYCHOTIC_CODES = (
    (ICD10CM, "F32.3", "Major depressive disorder, single episode, severe with psychotic features"),
    (ICD10CM, "F33.3", "Major depressive disorder, recurrent, severe with psychotic symptoms"),
)
# (probability, system, code, display)
COMORBID = (
    (0.22, ICD10CM, "F41.1", "Generalized anxiety disorder"),
    (0.05, ICD10CM, "F10.20", "Alcohol dependence, uncomplicated"),
    (0.04, ICD10CM, "F12.10", "Cannabis abuse, uncomplicated"),
    (0.05, ICD10CM, "E03.9", "Hypothyroidism, unspecified"),
    (0.02, ICD10CM, "F31.81", "Bipolar II disorder"),
    (0.03, ICD10CM, "F60.3", "Borderline personality disorder"),
    (0.03, ICD10CM, "G47.33", "Obstructive sleep apnea (adult) (pediatric)"),
    (0.04, ICD10CM, "E55.9", "Vitamin D deficiency, unspecified"),
    (0.03, ICD10CM, "F43.10", "Post-traumatic stress disorder, unspecified"),
    (0.03, ICD10CM, "F90.0", "Attention-deficit hyperactivity disorder, predominantly inattentive"),
    (0.05, ICD10CM, "Z56.0", "Unemployment, unspecified"),
    (0.18, ICD10CM, "I10", "Essential (primary) hypertension"),
    (0.09, ICD10CM, "E11.9", "Type 2 diabetes mellitus without complications"),
    (0.12, ICD10CM, "E78.5", "Hyperlipidemia, unspecified"),
)
PSYCHOTHERAPY = (
    ((CPT, "90834", "Psychotherapy, 45 minutes with patient"),),
    ((CPT, "90837", "Psychotherapy, 60 minutes with patient"),),
    (
        (CPT, "90834", "Psychotherapy, 45 minutes with patient"),
        (SNOMED, "228557008", "Cognitive and behavioral therapy (regime/therapy)"),
    ),
    (
        (CPT, "90837", "Psychotherapy, 60 minutes with patient"),
        (SNOMED, "443730003", "Interpersonal psychotherapy (regime/therapy)"),
    ),
    (
        (CPT, "90853", "Group psychotherapy (other than of a multiple-family group)"),
        (SNOMED, "76168009", "Group psychotherapy (regime/therapy)"),
    ),
)
ADVERSE_TEXTS = ("adverse effects", "nausea and headache", "not tolerated: sexual side effects")
# Other long-term medications (not depression treatment): (RxNorm ingredient, name, mg, per day)
OTHER_MEDS = (
    ("83367", "atorvastatin", 20, 1),
    ("6809", "metformin", 500, 2),
    ("29046", "lisinopril", 10, 1),
    ("17767", "amlodipine", 5, 1),
    ("7646", "omeprazole", 20, 1),
    ("39993", "zolpidem", 5, 1),
)
GIVEN = ("Alex", "Sam", "Jordan", "Maria", "Li", "Noor", "Ana", "Tomas", "Ewa", "Kofi", "Ines")
FAMILY = ("Smith", "Garcia", "Nguyen", "Okafor", "Kowalski", "Rossi", "Haddad", "Berg", "Tanaka")


@dataclass(frozen=True)
class Product:
    code: str
    strength: float
    unit: str  # tablet, capsule
    display: str


@dataclass(frozen=True)
class Drug:
    ingredient: str
    code: str  # RxNorm ingredient code
    min_mg: float
    max_mg: float
    products: tuple[Product, ...]


@dataclass(frozen=True)
class Catalog:
    first_line: tuple[Drug, ...]
    others: tuple[Drug, ...]
    medications: tuple[Json, ...]  # shared Medication resources (Medication.ndjson)


def build_catalog(maps: Mappings | None = None) -> Catalog:
    """Antidepressants with an RxNorm code and a minimum adequate dose, and their oral
    tablet/capsule products, from the mappings."""
    maps = maps or load_mappings()
    products: dict[str, list[Product]] = {}
    for (system, code), item in maps.products.items():
        if (system, code) in maps.valueset_medications:
            continue  # the hand-made products only: the synthetic population stays the same
        if system == RXNORM and item.unit in ("tablet", "capsule"):
            unit = item.unit
            display = f"{item.ingredient} {item.strength_mg:g} MG Oral {unit.capitalize()}"
            products.setdefault(item.ingredient, []).append(
                Product(code, item.strength_mg, unit, display)
            )
    drugs: dict[str, Drug] = {}
    for (system, code), row in maps.drugs_by_code.items():
        if system != RXNORM or row.role != "antidepressant" or row.ingredient in drugs:
            continue
        low, high = row.min_adequate_mg, row.usual_max_mg
        if low is None or high is None or row.ingredient == "esketamine":
            continue
        drugs[row.ingredient] = Drug(
            row.ingredient, code, float(low), float(high), tuple(products.get(row.ingredient, ()))
        )
    ordered = sorted(drugs.values(), key=lambda d: d.ingredient)
    first = tuple(d for d in ordered if d.ingredient in FIRST_LINE)
    others = tuple(d for d in ordered if d.ingredient not in FIRST_LINE)
    medications = []
    for d in ordered:
        medications.append(_medication(f"med-{d.code}", d.code, d.ingredient))
        for p in d.products:
            medications.append(_medication(f"med-{p.code}", p.code, p.display, p.unit))
    return Catalog(first, others, tuple(medications))


def _medication(mid: str, code: str, display: str, form: str | None = None) -> Json:
    med: Json = {
        "resourceType": "Medication",
        "id": mid,
        "code": {"coding": [{"system": RXNORM, "code": code, "display": display}], "text": display},
        "status": "active",
    }
    if form:
        med["form"] = {"text": f"Oral {form.capitalize()}"}
    return med


# -- one patient ------------------------------------------------------------------------------


@dataclass
class _Trial:
    drug: Drug
    start: int  # ordinal day
    end: int  # exclusive; > as_of when ongoing
    steps: list[tuple[int, float | None]]  # (start day, daily mg or None when unrecorded)
    effect: float  # 0..1 fraction of the baseline score removed at full effect
    stop_adverse: bool


@dataclass
class _Patient:
    rng: random.Random
    pid: str
    as_of: int
    catalog: Catalog
    out: list[Json] = field(default_factory=list)
    serial: int = 0

    def next_id(self, kind: str) -> str:
        self.serial += 1
        return f"{self.pid}-{kind}-{self.serial}"

    @property
    def subject(self) -> Json:
        return {"reference": f"Patient/{self.pid}"}


def _day(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


def patient_resources(index: int, seed: int, as_of: date, catalog: Catalog) -> list[Json]:
    """The resources of patient `index` of the population of `seed` (deterministic)."""
    rng = random.Random(f"trd-fhir-synth:{seed}:{index}")  # noqa: S311 - synthetic data
    p = _Patient(rng=rng, pid=f"synth-{index:06d}", as_of=as_of.toordinal(), catalog=catalog)
    onset = p.as_of - rng.randint(180, 6 * 365)
    _patient(p)
    _conditions(p, onset)
    trials = _trials(p, onset)
    for t in trials:
        _write_trial(p, t)
    _augmentation(p, trials)
    _sessions(p, onset, trials)
    _phq9(p, onset, trials)
    _labs(p, onset)
    _other_medications(p, onset)
    if rng.random() < 0.004:  # a recorded-in-error resource
        p.out[-1] = {**p.out[-1], "status": "entered-in-error"}
    # Functional ratings draw from their own generator, after everything else, so the rest of
    # the population is the same as before they were added.
    ratings = random.Random(f"trd-fhir-synth-functional:{seed}:{index}")  # noqa: S311 - synthetic
    _functional_ratings(p, onset, ratings)
    _dialects(p, random.Random(f"trd-fhir-synth-dialect:{seed}:{index}"))  # noqa: S311
    return p.out


_FUNCTIONAL_SYSTEM = "http://trd-fhir.org/fhir/CodeSystem/local"
# (code, display, share of patients, lowest, highest): WSAS totals 0-40; Q-LES-Q-SF and WPAI as
# percentages. Values are spread over the whole range, not drawn from any published distribution.
_FUNCTIONAL = (
    ("wsas", "Work and Social Adjustment Scale", 0.45, 0, 40),
    (
        "q-les-q",
        "Quality of Life Enjoyment and Satisfaction Questionnaire - Short Form",
        0.2,
        15,
        85,
    ),
    ("wpai", "Work Productivity and Activity Impairment: overall work impairment (%)", 0.1, 0, 90),
)


def _functional_ratings(p: _Patient, onset: int, rng: random.Random) -> None:
    """WSAS, Q-LES-Q-SF and WPAI values for part of the population (about 45%, 20% and 10%),
    one to three each, dated in the episode."""
    for code, display, share, low, high in _FUNCTIONAL:
        if rng.random() >= share:
            continue
        for _ in range(rng.randint(1, 3)):
            day = min(p.as_of - 1, onset + rng.randint(0, max(0, p.as_of - onset - 1)))
            concept = {
                "coding": [{"system": _FUNCTIONAL_SYSTEM, "code": code, "display": display}],
                "text": display,
            }
            value = {"valueInteger": rng.randint(low, high)}
            _observation(p, "survey", concept, day, value)


def _patient(p: _Patient) -> None:
    rng = p.rng
    age_days = rng.randint(18 * 365, 80 * 365)
    p.out.append(
        {
            "resourceType": "Patient",
            "id": p.pid,
            "identifier": [{"system": "urn:trd-fhir:synth:mrn", "value": p.pid.upper()}],
            "name": [{"family": rng.choice(FAMILY), "given": [rng.choice(GIVEN)]}],
            "gender": rng.choice(("female", "female", "male", "male", "other")),
            "birthDate": _day(p.as_of - age_days),
        }
    )


def _condition(
    p: _Patient,
    coding: tuple[str, str, str],
    onset: int,
    *,
    status: str = "active",
    abatement: int | None = None,
    category: str = "problem-list-item",
) -> None:
    system, code, display = coding
    r: Json = {
        "resourceType": "Condition",
        "id": p.next_id("cond"),
        "clinicalStatus": {"coding": [{"system": _CLINICAL, "code": status}]},
        "verificationStatus": {"coding": [{"system": _VERIFICATION, "code": "confirmed"}]},
        "category": [{"coding": [{"system": _CONDITION_CATEGORY, "code": category}]}],
        "code": {"coding": [{"system": system, "code": code, "display": display}], "text": display},
        "subject": p.subject,
        "onsetDateTime": _day(onset),
        "recordedDate": _day(min(onset + p.rng.randint(0, 30), p.as_of - 1)),
    }
    if abatement is not None:
        r["abatementDateTime"] = _day(abatement)
    p.out.append(r)


def _conditions(p: _Patient, onset: int) -> None:
    rng = p.rng
    psychotic = rng.random() < 0.03
    mdd = rng.choice(PSYCHOTIC_CODES) if psychotic else rng.choice(MDD_CODES)
    if rng.random() < 0.2:  # an earlier, resolved episode
        start = onset - rng.randint(2 * 365, 8 * 365)
        earlier = (ICD10CM, "F33.1", "Major depressive disorder, recurrent, moderate")
        end = start + rng.randint(120, 500)
        _condition(p, earlier, start, status="resolved", abatement=min(end, onset - 60))
    _condition(p, mdd, onset, category=rng.choice(("problem-list-item", "encounter-diagnosis")))
    for probability, system, code, display in COMORBID:
        if rng.random() < probability:
            _condition(p, (system, code, display), onset - rng.randint(-180, 3000))


def _trial_count(rng: random.Random) -> int:
    return rng.choices(range(9), weights=(8, 20, 20, 17, 12, 9, 6, 4, 4))[0]


def _pick_drug(p: _Patient, k: int, used: set[str]) -> Drug:
    pool = p.catalog.first_line if k < 2 or p.rng.random() < 0.6 else p.catalog.others
    fresh = [d for d in pool if d.ingredient not in used] or list(pool)
    return p.rng.choice(fresh)


def _round_dose(mg: float, drug: Drug) -> float:
    step = min((pr.strength for pr in drug.products), default=5.0)
    value = max(step, round(mg / step) * step)
    return float(int(value)) if value == int(value) else round(value, 2)


def _trials(p: _Patient, onset: int) -> list[_Trial]:
    rng = p.rng
    trials: list[_Trial] = []
    used: set[str] = set()
    day = onset + rng.randint(0, 60)
    for k in range(_trial_count(rng)):
        if day >= p.as_of - 14:
            break
        drug = _pick_drug(p, k, used)
        used.add(drug.ingredient)
        length = rng.choices(((14, 35), (42, 150), (150, 500)), weights=(20, 55, 25))[0]
        duration = rng.randint(*length)
        mode = rng.choices(("adequate", "low", "missing", "high"), weights=(65, 20, 10, 5))[0]
        target: float | None
        if mode == "adequate":
            target = _round_dose(rng.uniform(drug.min_mg, (drug.min_mg + drug.max_mg) / 2), drug)
        elif mode == "low":
            target = _round_dose(drug.min_mg * rng.choice((0.25, 0.5, 0.5, 0.75)), drug)
        elif mode == "high":
            target = _round_dose(drug.max_mg, drug)
        else:
            target = None
        steps: list[tuple[int, float | None]] = [(day, target)]
        if target is not None and duration > 42 and rng.random() < 0.4:
            first = _round_dose(target / 2, drug)
            if first < target:
                steps = [(day, first), (day + rng.randint(14, 28), target)]
        adequate = mode in ("adequate", "high")
        effect = rng.choices(
            ((0.0, 0.2), (0.25, 0.45), (0.5, 0.7), (0.8, 1.0)), weights=(55, 20, 15, 10)
        )[0]
        strength = rng.uniform(*effect) if adequate else rng.uniform(0.0, 0.2)
        adverse = duration < 35 and rng.random() < 0.5
        trials.append(_Trial(drug, day, day + duration, steps, strength, adverse))
        gap = -7 if rng.random() < 0.1 else rng.randint(0, 45)
        day = day + duration + gap
    return trials


def _concept(drug: Drug, product: Product | None) -> Json:
    code, display = (product.code, product.display) if product else (drug.code, drug.ingredient)
    return {"coding": [{"system": RXNORM, "code": code, "display": display}], "text": display}


def _dosage(mg: float | None, product: Product | None, per_day: int = 1) -> list[Json]:
    if mg is None:
        return [{"sequence": 1, "text": "Take as directed"}]
    timing = {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}}
    each = mg / per_day
    if product is not None and each % product.strength == 0:
        units = int(each // product.strength)
        quantity: Json = {"value": units, "unit": product.unit, "system": UCUM}
        quantity["code"] = "{tbl}" if product.unit == "tablet" else "{capsule}"
        text = f"{units} {product.unit}{'s' if units > 1 else ''} by mouth"
    else:
        value = int(each) if each == int(each) else round(each, 2)
        quantity = {"value": value, "unit": "mg", "system": UCUM, "code": "mg"}
        text = f"{value:g} mg by mouth"
    text += " once daily" if per_day == 1 else " twice daily"
    return [
        {"sequence": 1, "text": text, "timing": timing, "doseAndRate": [{"doseQuantity": quantity}]}
    ]


def _medication_field(p: _Patient, drug: Drug, product: Product | None) -> Json:
    if p.rng.random() < 0.15:
        code = product.code if product else drug.code
        return {"medicationReference": {"reference": f"Medication/med-{code}"}}
    return {"medicationCodeableConcept": _concept(drug, product)}


def _write_trial(p: _Patient, t: _Trial) -> None:
    rng = p.rng
    kind = rng.choices(("statement", "request", "dispense"), weights=(40, 30, 30))[0]
    product = rng.choice(t.drug.products) if t.drug.products and rng.random() < 0.3 else None
    per_day = 2 if rng.random() < 0.1 else 1
    ongoing = t.end > p.as_of
    for i, (start, mg) in enumerate(t.steps):
        end = t.steps[i + 1][0] if i + 1 < len(t.steps) else t.end
        last = i + 1 == len(t.steps)
        if kind == "statement":
            _statement(p, t, start, end, mg, product, per_day, ongoing and last)
        elif kind == "request":
            _requests(p, t, start, min(end, p.as_of), mg, product, per_day, ongoing and last)
        else:
            _dispenses(p, t, start, min(end, p.as_of), mg, product, per_day)


def _statement(
    p: _Patient,
    t: _Trial,
    start: int,
    end: int,
    mg: float | None,
    product: Product | None,
    per_day: int,
    ongoing: bool,
) -> None:
    r: Json = {
        "resourceType": "MedicationStatement",
        "id": p.next_id("ms"),
        "status": "active" if ongoing else "completed",
        **_medication_field(p, t.drug, product),
        "subject": p.subject,
        "effectivePeriod": {"start": _day(start)}
        if ongoing
        else {
            "start": _day(start),
            "end": _day(end - 1),
        },
        "dateAsserted": _day(min(end - 1, p.as_of - 1)),
        "dosage": _dosage(mg, product, per_day),
    }
    if t.stop_adverse and not ongoing and end == t.end:
        r["statusReason"] = [{"text": p.rng.choice(ADVERSE_TEXTS)}]
    if p.rng.random() < 0.01:  # a statement nobody dated
        del r["effectivePeriod"]
    p.out.append(r)


def _requests(
    p: _Patient,
    t: _Trial,
    start: int,
    end: int,
    mg: float | None,
    product: Product | None,
    per_day: int,
    ongoing: bool,
) -> None:
    rng = p.rng
    day = start
    for _ in range(40):
        if day >= end:
            break
        repeats = rng.choice((0, 1, 2, 2, 5))
        covered = 30 * (1 + repeats)
        last = day + covered >= end
        r: Json = {
            "resourceType": "MedicationRequest",
            "id": p.next_id("mr"),
            "status": "active" if ongoing and last else "completed",
            "intent": "order",
            **_medication_field(p, t.drug, product),
            "subject": p.subject,
            "authoredOn": _day(day),
            "dosageInstruction": _dosage(mg, product, per_day),
            "dispenseRequest": {
                "numberOfRepeatsAllowed": repeats,
                "quantity": {
                    "value": 30 * per_day,
                    "unit": "tablet",
                    "system": UCUM,
                    "code": "{tbl}",
                },
                "expectedSupplyDuration": {
                    "value": 30,
                    "unit": "days",
                    "system": UCUM,
                    "code": "d",
                },
            },
        }
        if t.stop_adverse and last and not ongoing:
            r["statusReason"] = {"text": rng.choice(ADVERSE_TEXTS)}
        p.out.append(r)
        day += covered


def _dispenses(
    p: _Patient,
    t: _Trial,
    start: int,
    end: int,
    mg: float | None,
    product: Product | None,
    per_day: int,
) -> None:
    rng = p.rng
    day = start
    for _ in range(60):
        if day >= end:
            break
        r: Json = {
            "resourceType": "MedicationDispense",
            "id": p.next_id("md"),
            "status": "completed",
            **_medication_field(p, t.drug, product),
            "subject": p.subject,
            "quantity": {"value": 30 * per_day, "unit": "tablet", "system": UCUM, "code": "{tbl}"},
            "daysSupply": {"value": 30, "unit": "days", "system": UCUM, "code": "d"},
            "whenPrepared": _day(day),
            "whenHandedOver": _day(day),
            "dosageInstruction": _dosage(mg, product, per_day),
        }
        p.out.append(r)
        day += 30 + (rng.randint(0, 12) if rng.random() < 0.3 else 0)


def _augmentation(p: _Patient, trials: list[_Trial]) -> None:
    rng = p.rng
    for k, t in enumerate(trials):
        if k == 0 or t.end - t.start < 56 or rng.random() > 0.25:
            continue
        name, code, (low, high) = rng.choice(AUGMENTERS)
        start = t.start + rng.randint(14, 28)
        end = min(t.end, p.as_of)
        if end - start < 28:
            continue
        mg = rng.randrange(low, high + 1, max(1, (high - low) // 4 or 1))
        ongoing = t.end > p.as_of
        display = name
        period: Json = {"start": _day(start)}
        if not ongoing:
            period["end"] = _day(end - 1)
        p.out.append(
            {
                "resourceType": "MedicationStatement",
                "id": p.next_id("ms"),
                "status": "active" if ongoing else "completed",
                "medicationCodeableConcept": {
                    "coding": [{"system": RXNORM, "code": code, "display": display}],
                    "text": display,
                },
                "subject": p.subject,
                "effectivePeriod": period,
                "dosage": _dosage(float(mg), None),
            }
        )


def _procedure(p: _Patient, codings: tuple[tuple[str, str, str], ...], day: int, text: str) -> None:
    p.out.append(
        {
            "resourceType": "Procedure",
            "id": p.next_id("proc"),
            "status": "completed",
            "code": {
                "coding": [{"system": s, "code": c, "display": d} for s, c, d in codings],
                "text": text,
            },
            "subject": p.subject,
            "performedDateTime": f"{_day(day)}T{p.rng.randint(8, 17):02d}:00:00Z",
        }
    )


def _sessions(p: _Patient, onset: int, trials: list[_Trial]) -> None:
    rng = p.rng
    if rng.random() < 0.35:
        codings = rng.choice(PSYCHOTHERAPY)
        day = onset + rng.randint(0, max(1, p.as_of - onset - 30))
        for _ in range(rng.randint(4, 16)):
            if day >= p.as_of:
                break
            _procedure(p, codings, day, "Psychotherapy session")
            day += rng.choice((7, 7, 7, 14))
    if len(trials) >= 3 and rng.random() < 0.08:
        day = trials[-1].start + rng.randint(0, 60)
        ect = ((CPT, "90870", "Electroconvulsive therapy (includes necessary monitoring)"),)
        for _ in range(rng.randint(6, 12)):
            if day >= p.as_of:
                break
            _procedure(p, ect, day, "ECT treatment")
            day += rng.choice((2, 2, 3))
    if len(trials) >= 2 and rng.random() < 0.03:
        day = trials[-1].start + rng.randint(0, 60)
        tms = ((CPT, "90868", "Therapeutic rTMS treatment; subsequent delivery and management"),)
        for _ in range(rng.randint(20, 36)):
            if day >= p.as_of:
                break
            _procedure(p, tms, day, "rTMS session")
            day += rng.choice((1, 1, 1, 1, 3))


def _score_at(day: int, baseline: int, trials: list[_Trial], rng: random.Random) -> int:
    relief = 0.0
    for t in trials:
        if t.start <= day < t.end:
            ramp = min(1.0, (day - t.start) / 42)
            relief = max(relief, t.effect * ramp)
        elif t.end <= day < t.end + 90:  # effect fades after a stop
            relief = max(relief, t.effect * (1 - (day - t.end) / 90) * 0.5)
    score = round(baseline * (1 - relief)) + rng.randint(-2, 2)
    return max(0, min(27, score))


def _observation(p: _Patient, category: str, code: Json, day: int, value: Json) -> Json:
    r: Json = {
        "resourceType": "Observation",
        "id": p.next_id("obs"),
        "status": "final",
        "category": [{"coding": [{"system": _OBS_CATEGORY, "code": category}]}],
        "code": code,
        "subject": p.subject,
        "effectiveDateTime": _day(day),
        **value,
    }
    p.out.append(r)
    return r


_PHQ9 = {
    "coding": [
        {
            "system": LOINC,
            "code": "44261-6",
            "display": "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]",
        }
    ],
    "text": "PHQ-9 total score",
}
_ITEM9 = {
    "coding": [
        {
            "system": LOINC,
            "code": "44260-8",
            "display": "Thoughts that you would be better off dead, "
            "or of hurting yourself in some way",
        }
    ]
}
_SEVERAL_DAYS = {
    "valueCodeableConcept": {
        "coding": [{"system": LOINC, "code": "LA6569-3", "display": "Several days"}],
        "text": "Several days",
    }
}


_ITEMS = tuple(
    {"coding": [{"system": LOINC, "code": code, "display": display}]}
    for code, display in (
        ("44250-9", "Little interest or pleasure in doing things"),
        ("44255-8", "Feeling down, depressed, or hopeless"),
        ("44259-0", "Trouble falling or staying asleep, or sleeping too much"),
        ("44254-1", "Feeling tired or having little energy"),
        ("44251-7", "Poor appetite or overeating"),
        ("44258-2", "Feeling bad about yourself"),
        ("44252-5", "Trouble concentrating on things"),
        ("44253-3", "Moving or speaking so slowly that other people could have noticed"),
    )
)


def _items(p: _Patient, day: int, score: int) -> None:
    """Items 1-8 of one administration summing to the total (item 9 is written separately)."""
    left = score
    for i, code in enumerate(_ITEMS):
        value = min(3, left, p.rng.randint(0, 3)) if i < 7 else min(3, left)
        left -= value
        _observation(p, "survey", code, day, {"valueInteger": value})


def _phq9(p: _Patient, onset: int, trials: list[_Trial]) -> None:
    rng = p.rng
    baseline = rng.randint(12, 25)
    item9 = rng.random()
    with_items = rng.random() < 0.25
    day = onset - rng.randint(0, 21)
    visits = []
    for _ in range(400):
        if day >= p.as_of:
            break
        visits.append(day)
        day += rng.randint(14, 56)
    for i, visit in enumerate(visits):
        score = _score_at(visit, baseline, trials, rng)
        value = {
            "valueQuantity": {"value": score, "unit": "{score}", "system": UCUM, "code": "{score}"}
        }
        obs = _observation(p, "survey", _PHQ9, visit, value)
        if with_items and visit > p.as_of - 2 * 365:
            _items(p, visit, score)
        if rng.random() < 0.5:
            encounter = p.next_id("enc")
            obs["encounter"] = {"reference": f"Encounter/{encounter}"}
            p.out.append(
                {
                    "resourceType": "Encounter",
                    "id": encounter,
                    "status": "finished",
                    "class": {"system": _ACT_CODE, "code": "AMB", "display": "ambulatory"},
                    "type": [{"text": "Outpatient mental health visit"}],
                    "subject": p.subject,
                    "period": {
                        "start": f"{_day(visit)}T09:00:00Z",
                        "end": f"{_day(visit)}T09:45:00Z",
                    },
                }
            )
        last = i + 1 == len(visits)
        if (last and item9 < 0.04) or (item9 > 0.9 and rng.random() < 0.3):
            positive = last and item9 < 0.04
            _observation(
                p, "survey", _ITEM9, visit, _SEVERAL_DAYS if positive else {"valueInteger": 0}
            )


def _lab(code: str, display: str) -> Json:
    return {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display}


_TSH = _lab("3016-3", "Thyrotropin [Units/volume] in Serum or Plasma")
_VITD = _lab("62292-8", "25-Hydroxyvitamin D2+D3 [Mass/volume] in Serum or Plasma")
_HBA1C = _lab("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood")
_BP = _lab("85354-9", "Blood pressure panel with all children optional")


def _labs(p: _Patient, onset: int) -> None:
    rng = p.rng

    def when() -> int:
        return min(p.as_of - 1, onset + rng.randint(-60, max(0, p.as_of - onset - 1)))

    if rng.random() < 0.4:
        for _ in range(rng.randint(1, 3)):
            tsh = {"value": rng.randint(3, 70) / 10, "unit": "mIU/L", "system": UCUM}
            tsh["code"] = "m[IU]/L"
            _observation(p, "laboratory", _TSH, when(), {"valueQuantity": tsh})
    if rng.random() < 0.25:
        vitd = {"value": rng.randint(8, 60), "unit": "ng/mL", "system": UCUM, "code": "ng/mL"}
        _observation(p, "laboratory", _VITD, when(), {"valueQuantity": vitd})
    if rng.random() < 0.1:
        a1c = {"value": rng.randint(50, 95) / 10, "unit": "%", "system": UCUM, "code": "%"}
        _observation(p, "laboratory", _HBA1C, when(), {"valueQuantity": a1c})
    if rng.random() < 0.3:
        for _ in range(rng.randint(1, 4)):
            components = [
                {
                    "code": _lab("8480-6", "Systolic blood pressure"),
                    "valueQuantity": {
                        "value": rng.randint(105, 165),
                        "unit": "mm[Hg]",
                        "system": UCUM,
                        "code": "mm[Hg]",
                    },
                },
                {
                    "code": _lab("8462-4", "Diastolic blood pressure"),
                    "valueQuantity": {
                        "value": rng.randint(60, 100),
                        "unit": "mm[Hg]",
                        "system": UCUM,
                        "code": "mm[Hg]",
                    },
                },
            ]
            _observation(p, "vital-signs", _BP, when(), {"component": components})


def _other_medications(p: _Patient, onset: int) -> None:
    rng = p.rng
    if rng.random() > 0.6:
        return
    for code, name, mg, per_day in rng.sample(OTHER_MEDS, rng.randint(1, 3)):
        day = onset - rng.randint(0, 3 * 365)
        concept = {"coding": [{"system": RXNORM, "code": code, "display": name}], "text": name}
        for _ in range(40):
            if day >= p.as_of:
                break
            p.out.append(
                {
                    "resourceType": "MedicationRequest",
                    "id": p.next_id("mr"),
                    "status": "completed" if day + 90 < p.as_of else "active",
                    "intent": "order",
                    "medicationCodeableConcept": concept,
                    "subject": p.subject,
                    "authoredOn": _day(day),
                    "dosageInstruction": _dosage(float(mg * per_day), None, per_day),
                    "dispenseRequest": {
                        "numberOfRepeatsAllowed": 2,
                        "expectedSupplyDuration": {
                            "value": 30,
                            "unit": "days",
                            "system": UCUM,
                            "code": "d",
                        },
                    },
                }
            )
            day += 90


# -- writing ----------------------------------------------------------------------------------


@dataclass
class SynthResult:
    patients: int
    counts: dict[str, int]
    files: list[str]


# -- real-world dialects (docs/real-world.md) --------------------------------------------------
# A share of each patient's records is rewritten in the shapes real systems write, with a random
# stream of its own, so the clinical story (the main stream) is the same as without them.

DIALECT_RATES = {
    "sig-text-only": 0.08,  # per medication record: only dosage text, as many EHR exports
    "tablet-count": 0.10,  # per product record: a unitless tablet count (Synthea's {"value": 1})
    "no-supply": 0.15,  # per MedicationRequest: an order without dispenseRequest
    "self-reported": 0.05,  # per MedicationRequest: a US Core self-reported plan
    "lhc-forms": 0.15,  # per patient: PHQ-9 as NLM LHC-Forms QuestionnaireResponses
    "snomed-only": 0.15,  # per patient: the MDD diagnosis coded in SNOMED CT only
    "careplan-cbt": 0.05,  # per patient: CBT recorded as a Synthea CarePlan activity
    "deceased": 0.02,  # per patient: Patient.deceasedDateTime
}
_SNOMED_MDD = {
    "F32": (SNOMED, "36923009", "Major depression, single episode"),
    "F33": (SNOMED, "66344007", "Recurrent major depression"),
}
_LHC_ITEMS = (
    "44250-9",
    "44255-8",
    "44259-0",
    "44254-1",
    "44251-7",
    "44258-2",
    "44252-5",
    "44253-3",
    "44260-8",
)
_LA = (
    ("LA6568-5", "Not at all"),
    ("LA6569-3", "Several days"),
    ("LA6570-1", "More than half the days"),
    ("LA6571-9", "Nearly every day"),
)
_MED_TYPES = ("MedicationStatement", "MedicationRequest", "MedicationDispense")
_MH_PLAN = "Mental health care plan (record artifact)"


def _dialects(p: _Patient, rng: random.Random) -> None:
    """Rewrite part of the patient's records in real shapes (DIALECT_RATES)."""
    r = DIALECT_RATES
    for i, res in enumerate(p.out):
        if res.get("resourceType") in _MED_TYPES:
            p.out[i] = _medication_dialect(res, rng)
    if rng.random() < r["snomed-only"]:
        _snomed_only(p)
    if rng.random() < r["lhc-forms"]:
        _lhc_forms(p, rng)
    if rng.random() < r["careplan-cbt"]:
        _careplan_cbt(p, rng)
    if rng.random() < r["deceased"]:
        _deceased(p, rng)


def _dosages(res: Json) -> tuple[str, list[Json]] | None:
    key = "dosage" if res.get("resourceType") == "MedicationStatement" else "dosageInstruction"
    items = res.get(key)
    return (key, items) if isinstance(items, list) and items else None


def _medication_dialect(res: Json, rng: random.Random) -> Json:
    r = DIALECT_RATES
    out = dict(res)
    found = _dosages(out)
    if found is not None:
        key, items = found
        first = items[0]
        qty = (first.get("doseAndRate") or [{}])[0].get("doseQuantity")
        if qty is not None and rng.random() < r["sig-text-only"]:
            out[key] = [{"sequence": 1, "text": _sig(first, qty)}]
        elif (
            qty is not None
            and qty.get("unit") in ("tablet", "capsule")
            and rng.random() < r["tablet-count"]
        ):
            dose = {"doseAndRate": [{"doseQuantity": {"value": qty["value"]}}]}
            out[key] = [{**first, **dose}]
    if out.get("resourceType") == "MedicationRequest":
        roll = rng.random()
        if roll < r["self-reported"]:
            out = {**out, "intent": "plan", "reportedBoolean": True}
            out.pop("dispenseRequest", None)
        elif roll < r["self-reported"] + r["no-supply"]:
            out.pop("dispenseRequest", None)
    return out


def _sig(dosage: Json, qty: Json) -> str:
    """Sig text as EHRs print it: 'Take 1 tablet by mouth daily.', 'Take 50 mg by mouth twice
    daily.'"""
    per_day = ((dosage.get("timing") or {}).get("repeat") or {}).get("frequency", 1)
    when = "daily" if per_day == 1 else "twice daily"
    value = qty["value"]
    if qty.get("unit") in ("tablet", "capsule"):
        unit = qty["unit"] + ("s" if value != 1 else "")
        return f"Take {value:g} {unit} by mouth {when}."
    return f"Take {value:g} mg by mouth {when}."


def _snomed_only(p: _Patient) -> None:
    for i, res in enumerate(p.out):
        if res.get("resourceType") != "Condition":
            continue
        coding = res["code"]["coding"][0]
        code = str(coding.get("code"))
        snomed = _SNOMED_MDD.get(code[:3]) if coding.get("system") == ICD10CM else None
        if snomed is None or code in ("F32.3", "F33.3"):  # psychotic features: kept in ICD-10
            continue
        system, value, display = snomed
        concept = {
            "coding": [{"system": system, "code": value, "display": display}],
            "text": display,
        }
        p.out[i] = {**res, "code": concept}


def _lhc_forms(p: _Patient, rng: random.Random) -> None:
    """Each PHQ-9 total Observation (with its item Observations of that day) becomes one LHC-Forms
    QuestionnaireResponse: nine items nested in the panel group, prefixed LOINC linkIds, LA answer
    codes, the total as a calculated item. An item 9 answer of that day is kept as item 9."""
    by_day: dict[str, list[int]] = {}
    for i, res in enumerate(p.out):
        if res.get("resourceType") == "Observation":
            codes = [c.get("code") for c in res.get("code", {}).get("coding", [])]
            if codes and (codes[0] == "44261-6" or codes[0] in _LHC_ITEMS):
                by_day.setdefault(res["effectiveDateTime"], []).append(i)
    replaced: dict[int, Json | None] = {}
    for day, indices in by_day.items():
        total_at = next(
            (i for i in indices if p.out[i]["code"]["coding"][0]["code"] == "44261-6"), None
        )
        if total_at is None:
            continue
        total = int(p.out[total_at]["valueQuantity"]["value"])
        item9 = 0
        for i in indices:
            if _code0(p.out[i]) == "44260-8":
                item9 = 0 if "valueInteger" in p.out[i] else 1  # "Several days" is 1
        if not 0 <= total - item9 <= 24:  # nine items cannot give this total: left as written
            continue
        values = [*_spread(max(0, total - item9), rng), item9]
        replaced.update({i: None for i in indices})
        replaced[total_at] = _questionnaire_response(p, p.out[total_at], day, values)
    kept: list[Json] = []
    for i, res in enumerate(p.out):
        new = replaced.get(i, res)
        if new is not None:
            kept.append(new)
    p.out = kept


def _code0(res: Json) -> Any:
    return res["code"]["coding"][0]["code"]


def _spread(total: int, rng: random.Random) -> list[int]:
    """Eight item values of 0-3 summing to `total` (at most 24)."""
    values = [0] * 8
    left = min(total, 24)
    while left:
        k = rng.randrange(8)
        if values[k] < 3:
            values[k] += 1
            left -= 1
    return values


def _questionnaire_response(p: _Patient, total_obs: Json, day: str, values: list[int]) -> Json:
    items = [
        {
            "linkId": f"/44249-1/{code}",
            "answer": [{"valueCoding": {"system": LOINC, "code": _LA[v][0], "display": _LA[v][1]}}],
        }
        for code, v in zip(_LHC_ITEMS, values, strict=True)
    ]
    items.append({"linkId": "/44249-1/44261-6", "answer": [{"valueDecimal": sum(values)}]})
    qr: Json = {
        "resourceType": "QuestionnaireResponse",
        "id": total_obs["id"].replace("-obs-", "-qr-"),
        "questionnaire": "http://loinc.org/q/44249-1",
        "status": "completed",
        "subject": p.subject,
        "authored": f"{day}T10:00:00Z",
        "item": [
            {"linkId": "/44249-1", "text": "PHQ-9 quick depression assessment panel", "item": items}
        ],
    }
    if "encounter" in total_obs:
        qr["encounter"] = total_obs["encounter"]
    return qr


def _careplan_cbt(p: _Patient, rng: random.Random) -> None:
    onset = min(
        (
            date.fromisoformat(r["onsetDateTime"]).toordinal()
            for r in p.out
            if r.get("resourceType") == "Condition"
        ),
        default=p.as_of - 365,
    )
    start = min(p.as_of - 30, max(onset, p.as_of - 900) + rng.randint(0, 200))
    done = rng.random() < 0.6
    period: Json = {"start": f"{_day(start)}T16:51:27+00:00"}
    if done:
        period["end"] = f"{_day(min(p.as_of - 1, start + rng.randint(60, 200)))}T16:51:27+00:00"
    status = "completed" if done else "in-progress"

    def activity(code: str, display: str) -> Json:
        concept = {
            "coding": [{"system": SNOMED, "code": code, "display": display}],
            "text": display,
        }
        return {"detail": {"code": concept, "status": status}}

    p.out.append(
        {
            "resourceType": "CarePlan",
            "id": p.next_id("cp"),
            "status": "completed" if done else "active",
            "intent": "order",
            "category": [
                {
                    "coding": [
                        {
                            "system": SNOMED,
                            "code": "718347000",
                            "display": "Mental health care plan (record artifact)",
                        }
                    ]
                }
            ],
            "subject": p.subject,
            "period": period,
            "activity": [
                activity("385724002", "Coping support management"),
                activity("228557008", "Cognitive and behavioral therapy"),
            ],
        }
    )


def _deceased(p: _Patient, rng: random.Random) -> None:
    died = p.as_of - rng.randint(1, 120)
    p.out[0] = {**p.out[0], "deceasedDateTime": f"{_day(died)}T03:14:00Z"}


class _Writers:
    """One output file per resource type, opened on first use."""

    def __init__(self, directory: Path, gz: bool) -> None:
        self.directory = directory
        self.gz = gz
        self.files: dict[str, IO[bytes]] = {}
        self.raw: list[IO[bytes]] = []
        self.counts: dict[str, int] = {}

    def name(self, rtype: str) -> str:
        return f"{rtype}.ndjson" + (".gz" if self.gz else "")

    def get(self, rtype: str) -> IO[bytes]:
        found = self.files.get(rtype)
        if found is not None:
            return found
        raw: IO[bytes] = open(self.directory / self.name(rtype), "wb")
        self.raw.append(raw)
        f: IO[bytes] = raw
        if self.gz:
            f = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)  # type: ignore[assignment]
        self.files[rtype] = f
        self.counts[rtype] = 0
        return f

    def write(self, rtype: str, data: bytes, lines: int) -> None:
        self.get(rtype).write(data)
        self.counts[rtype] += lines

    def close(self) -> None:
        for f in self.files.values():
            f.close()
        for raw in self.raw:
            raw.close()


def _chunk(args: tuple[int, int, int, str, str]) -> tuple[str, dict[str, int]]:
    """Worker: patients [start, stop) into plain NDJSON files in a new temporary directory."""
    start, stop, seed, as_of, parent = args
    directory = Path(tempfile.mkdtemp(prefix=f"chunk-{start:07d}-", dir=parent))
    writers = _Writers(directory, gz=False)
    try:
        _generate(range(start, stop), seed, date.fromisoformat(as_of), _catalog(), writers)
    finally:
        writers.close()
    return str(directory), writers.counts


_CATALOG: Catalog | None = None


def _catalog() -> Catalog:
    global _CATALOG
    if _CATALOG is None:
        _CATALOG = build_catalog()
    return _CATALOG


def _generate(indices: range, seed: int, as_of: date, catalog: Catalog, writers: _Writers) -> None:
    for index in indices:
        by_type: dict[str, list[bytes]] = {}
        for r in patient_resources(index, seed, as_of, catalog):
            by_type.setdefault(r["resourceType"], []).append(dumps(r))
        for rtype, lines in by_type.items():
            writers.write(rtype, b"\n".join(lines) + b"\n", len(lines))


def write_population(
    out_dir: str | Path,
    *,
    patients: int,
    seed: int,
    as_of: date = DEFAULT_AS_OF,
    workers: int = 1,
    gz: bool = False,
    chunk: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> SynthResult:
    """Write the population as NDJSON files (one per resource type) and a manifest.json like
    the one of a Bulk Data `$export`. The same (patients, seed, as_of, gz) give the same bytes
    whatever `workers` and `chunk` are."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    catalog = _catalog()
    writers = _Writers(out, gz)
    try:
        meds = [dumps(m) for m in catalog.medications]
        writers.write("Medication", b"\n".join(meds) + b"\n", len(meds))
        if workers <= 1 or patients <= chunk:
            for start in range(0, patients, chunk):
                _generate(range(start, min(patients, start + chunk)), seed, as_of, catalog, writers)
                if progress:
                    progress(min(patients, start + chunk))
        else:
            _parallel(out, patients, seed, as_of, workers, chunk, writers, progress)
    finally:
        writers.close()
    files = [writers.name(t) for t in sorted(writers.counts)]
    _write_manifest(out, as_of, writers, files)
    return SynthResult(patients, dict(sorted(writers.counts.items())), files)


def _parallel(
    out: Path,
    patients: int,
    seed: int,
    as_of: date,
    workers: int,
    chunk: int,
    writers: _Writers,
    progress: Callable[[int], None] | None,
) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=".synth-", dir=out))
    try:
        jobs = [
            (s, min(patients, s + chunk), seed, as_of.isoformat(), str(tmp))
            for s in range(0, patients, chunk)
        ]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            # map() yields in submission order: chunks are appended in patient order while the
            # workers run ahead (at most a few chunks of temporary files on disk).
            for (_s, stop, *_rest), (directory, counts) in zip(
                jobs, _bounded_map(pool, jobs, workers * 2), strict=True
            ):
                for rtype in sorted(counts):
                    with open(Path(directory) / f"{rtype}.ndjson", "rb") as src:
                        shutil.copyfileobj(src, writers.get(rtype), 1 << 20)
                    writers.counts[rtype] += counts[rtype]
                shutil.rmtree(directory)
                if progress:
                    progress(stop)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _bounded_map(
    pool: ProcessPoolExecutor, jobs: list[tuple[int, int, int, str, str]], ahead: int
) -> Iterator[tuple[str, dict[str, int]]]:
    """pool.map with at most `ahead` chunks submitted but not yet consumed (bounded disk use)."""
    pending: list[Future[tuple[str, dict[str, int]]]] = []
    it = iter(jobs)
    for job in it:
        pending.append(pool.submit(_chunk, job))
        if len(pending) >= ahead:
            break
    while pending:
        result = pending.pop(0).result()
        more = next(it, None)
        if more is not None:
            pending.append(pool.submit(_chunk, more))
        yield result


def _write_manifest(out: Path, as_of: date, writers: _Writers, files: list[str]) -> None:
    manifest = {
        "transactionTime": f"{as_of.isoformat()}T00:00:00Z",
        "request": "$export",
        "requiresAccessToken": False,
        "output": [
            {"type": t, "url": writers.name(t), "count": writers.counts[t]}
            for t in sorted(writers.counts)
        ],
        "error": [],
        "extension": {"generator": "trd-fhir synth"},
    }
    tmp = out / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out / "manifest.json")


__all__ = ["DEFAULT_AS_OF", "SynthResult", "build_catalog", "patient_resources", "write_population"]
