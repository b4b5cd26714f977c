"""The domain model: frozen, keyword-only values passed between the pipeline's stages.

Dates are `datetime.date`. Intervals are half-open: `start` is the first day on treatment and
`end` is the day after the last one, so `end - start` is the number of days. A FHIR Period's end
date is the last day taken, so ingest adds one day to it.

Every value that cannot be derived from the record is `None`, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise
from typing import Literal

from .errors import printable

TrialKind = Literal[
    "antidepressant", "augmentation", "psychotherapy", "ect", "rtms", "esketamine", "ketamine"
]
AdequacyStatus = Literal["adequate", "inadequate", "indeterminate"]
OutcomeClass = Literal[
    "remission",
    "response",
    "partial",
    "non-response",
    "worsening",
    "intolerance",
    "ongoing",
    "unknown",
]
Evidence = Literal["measured", "documented", "inferred", "none"]
Severity = Literal["urgent", "warning", "info"]
StopReason = Literal["adverse-effect", "lack-of-efficacy", "non-adherence"]

FAILURE_OUTCOMES: frozenset[str] = frozenset({"non-response", "worsening"})


@dataclass(frozen=True, kw_only=True)
class DataWarning:
    """A problem with one input resource that did not stop the evaluation."""

    code: str  # e.g. missing-date, implausible-dose, after-as-of, unexpected-unit
    diagnostic: str
    location: str  # "MedicationStatement/ms1" or "MedicationStatement/ms1.dosage[0]"
    # A short, stable slug saying why a value is unknown (e.g. "dose-range", "sig-unreadable",
    # "no-strength"), for the reading report's counts by reason. Not part of the summary contract.
    reason: str = ""

    def __post_init__(self) -> None:  # they quote input values (units, ...): one printable line
        object.__setattr__(self, "diagnostic", printable(self.diagnostic))
        object.__setattr__(self, "location", printable(self.location, 200))


@dataclass(frozen=True, kw_only=True)
class Exposure:
    """One resource's claim that the patient took a drug over an interval, at a daily dose."""

    ingredient: str
    role: Literal["antidepressant", "augmentation", "inducer"]
    drug_class: str | None  # SSRI, SNRI, TCA, MAOI, other (antidepressants only)
    start: date
    end: date | None  # exclusive; None for a point claim (duration unknown)
    daily_dose_mg: float | None
    dose_source: str | None  # "dose quantity", "tablets x strength", "dosage text", ...
    resource: str  # "MedicationStatement/ms1"
    source_type: Literal["statement", "request", "dispense", "administration"]
    matched_by: Literal["code", "name"]
    ongoing: bool = False  # open-ended and active at the as-of date
    not_taken: bool = False
    stop_reason: StopReason | None = None
    adherence: Literal["adherent", "non-adherent"] | None = None
    # The rule that set `end` when the record states none (e.g. "capped-active-order"): an
    # assumption, labelled in the trial. None when the end is in the record.
    assumed_end: str | None = None

    def __post_init__(self) -> None:
        if self.end is not None and self.end < self.start:
            raise ValueError(f"{self.resource}: exposure ends before it starts")
        if self.daily_dose_mg is not None and self.daily_dose_mg <= 0:
            raise ValueError(f"{self.resource}: daily dose must be positive")


@dataclass(frozen=True, kw_only=True)
class Session:
    """One completed procedure session: psychotherapy, ECT, rTMS, esketamine or IV ketamine."""

    kind: Literal["psychotherapy", "ect", "rtms", "esketamine", "ketamine"]
    day: date
    modality: (
        str | None
    )  # psychotherapy: cbt, ipt, dbt, psychodynamic, ba, mbct, cbasp, family, group
    laterality: Literal["bilateral", "right-unilateral"] | None  # ECT only
    resource: str


@dataclass(frozen=True, kw_only=True)
class Course:
    """A course of treatment recorded as delivered without its sessions: a CarePlan activity of
    psychotherapy, completed or in progress (Synthea records CBT only there)."""

    kind: Literal["psychotherapy"]
    modality: str | None
    start: date
    end: date | None  # exclusive; None when the record gives no end
    resource: str  # "CarePlan/cp1"


@dataclass(frozen=True, kw_only=True)
class Score:
    """A rating-scale result (total, or a derived total), or a global-change rating."""

    scale: str  # PHQ-9, BDI-II, HAM-D-17, MADRS, QIDS-SR16, CGI-I, Kellner
    day: date
    value: float
    resources: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Lab:
    test: Literal["tsh", "vitamin-d"]
    day: date
    value: float  # TSH in mIU/L, 25-OH vitamin D in ng/mL
    resource: str
    recorded_value: float | None = None  # the value and unit as recorded, before conversion
    recorded_unit: str | None = None


@dataclass(frozen=True, kw_only=True)
class Rating:
    """A functional rating (WSAS, Q-LES-Q-SF, WPAI, SOFAS, GAF) with its value."""

    scale: str
    day: date
    value: float
    resource: str


@dataclass(frozen=True, kw_only=True)
class Diagnosis:
    category: str  # mdd, bipolar, adhd, ptsd, anxiety, substance-use, borderline, ...
    code: str  # "ICD-10 F33.1" or "SNOMED 13746004"
    onset: date | None
    recorded: date | None
    active: bool
    severity: int | None  # Maudsley severity 1-5 implied by an MDD code, if any
    psychotic: bool
    resource: str
    manic: bool = False  # a hypomanic or manic episode (mappings: conditions.json `manic`)


@dataclass(frozen=True, kw_only=True)
class AdherenceNote:
    """A documented statement about adherence on a day (Observation 71799-1 or an extension)."""

    day: date
    adherent: bool
    resource: str
    focus: tuple[str, ...] = ()  # medication resources it is about, when stated


@dataclass(frozen=True, kw_only=True)
class Marker:
    """Other dated observations that rules look for: screens, functional and clinimetric measures,
    shared-decision records."""

    kind: (
        str  # mdq, mdq-positive, functional, clinimetric, shared-decision, adhd-screen, ptsd-screen
    )
    day: date
    resource: str


@dataclass(frozen=True, kw_only=True)
class UnmappedCode:
    system: str | None
    code: str | None
    display: str | None
    resource: str

    def __post_init__(self) -> None:  # input text, shown in findings and cards: printable
        for name in ("system", "code", "display"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, printable(value, 200))


@dataclass(frozen=True, kw_only=True)
class Record:
    """A patient's FHIR resources, read into the domain model."""

    patient: str  # "Patient/123"
    exposures: tuple[Exposure, ...] = ()
    sessions: tuple[Session, ...] = ()
    scores: tuple[Score, ...] = ()
    labs: tuple[Lab, ...] = ()
    diagnoses: tuple[Diagnosis, ...] = ()
    adherence: tuple[AdherenceNote, ...] = ()
    markers: tuple[Marker, ...] = ()
    functional: tuple[Rating, ...] = ()  # functional ratings with values, by day
    item9: tuple[ScorePoint, ...] = ()  # PHQ-9 item 9 answers, by day
    unmapped: tuple[UnmappedCode, ...] = ()
    warnings: tuple[DataWarning, ...] = ()
    inputs: tuple[str, ...] = ()  # every resource read, for Provenance
    courses: tuple[Course, ...] = ()  # psychotherapy delivered, sessions not recorded
    deceased: bool = False  # Patient.deceased[x] says the patient has died
    death: date | None = None  # the date of death, when the record gives it


@dataclass(frozen=True, kw_only=True)
class DoseStep:
    start: date
    end: date  # exclusive
    daily_dose_mg: float | None  # None: on the drug at an unknown dose


@dataclass(frozen=True, kw_only=True)
class Episode:
    start: date | None
    months: int | None
    source: str | None  # "Condition/mdd1", or a description of the rule used
    resources: tuple[str, ...] = ()  # the resources that date the episode


@dataclass(frozen=True, kw_only=True)
class Trial:
    """A treatment trial: one drug (merged exposures) or one course of procedures."""

    id: str
    kind: TrialKind
    agent: str  # ingredient, or psychotherapy modality / "ECT" / "rTMS" / "esketamine"
    drug_class: str | None = None
    start: date
    end: date  # exclusive
    ongoing: bool = False
    duration_known: bool = True
    dose_steps: tuple[DoseStep, ...] = ()
    adequate_dose_mg: float | None = None
    days_at_adequate_dose: int | None = None
    days_unknown_dose: int = 0
    sessions: int | None = None
    modality: str | None = None
    evidence_based: bool | None = None
    laterality: str | None = None
    augmented_by: tuple[str, ...] = ()
    combined_with: tuple[str, ...] = ()
    combination_added: bool = False  # an antidepressant was added on top after this one started
    augmentation_overlap_days: int | None = None  # augmentation trials: days on the antidepressant
    attached_to: str | None = None  # augmentation trials: id of the antidepressant trial
    stop_reason: StopReason | None = None
    non_adherence: tuple[str, ...] = ()  # resources documenting it
    adherence_known: bool = False
    pdc: float | None = None
    matched_by: str = "code"
    in_current_episode: bool = True
    resources: tuple[str, ...] = ()
    # Rules that set an end the record does not state (e.g. "capped-active-order"); the outcome
    # of such a trial is at most "inferred" evidence.
    assumptions: tuple[str, ...] = ()

    @property
    def max_daily_dose_mg(self) -> float | None:
        doses = [s.daily_dose_mg for s in self.dose_steps if s.daily_dose_mg is not None]
        return max(doses) if doses else None

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def dose_optimised(self) -> bool:
        """The dose was raised during the trial to above the minimum adequate dose."""
        known = [s.daily_dose_mg for s in self.dose_steps if s.daily_dose_mg is not None]
        if self.adequate_dose_mg is None or len(known) < 2:
            return False
        raised = any(b > a for a, b in pairwise(known))
        return raised and max(known) > self.adequate_dose_mg


@dataclass(frozen=True, kw_only=True)
class Adequacy:
    status: Literal["adequate", "inadequate", "indeterminate"]
    reasons: tuple[str, ...] = ()  # inadequate: every reason; indeterminate: what is missing


@dataclass(frozen=True, kw_only=True)
class ScorePoint:
    scale: str
    value: float
    day: date
    resources: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Outcome:
    status: OutcomeClass
    evidence: Evidence
    baseline: ScorePoint | None = None
    end: ScorePoint | None = None
    change: float | None = None  # fraction of baseline, positive = improvement
    basis: str = ""  # one line: how the class was reached


@dataclass(frozen=True, kw_only=True)
class AssessedTrial:
    trial: Trial
    adequacy: Adequacy
    outcome: Outcome

    @property
    def failed(self) -> bool:
        """An outcome that counts as a failure (adequacy is judged separately)."""
        return self.outcome.status in FAILURE_OUTCOMES


@dataclass(frozen=True, kw_only=True)
class Finding:
    code: str
    severity: Severity
    evidence: tuple[str, ...]
    source: str
    detail: str


@dataclass(frozen=True, kw_only=True)
class Caution:
    """A caution attached to a suggestion (contract `suggestions[].cautions`)."""

    code: str  # bipolar-on-record, ect-already-failed, substance-use-on-record
    text: str
    source: str


@dataclass(frozen=True, kw_only=True)
class PlanStep:
    """One step of a sequential plan (Guidi & Fava 2024 Table 4): ordered and conditional,
    timed relative to the previous step, never a date or an order."""

    step: int
    code: str
    text: str
    timing: str
    condition: str
    source: str


@dataclass(frozen=True, kw_only=True)
class Suggestion:
    code: str
    text: str
    reason: str
    source: str
    cautions: tuple[Caution, ...] = ()
    plan: tuple[PlanStep, ...] = ()


@dataclass(frozen=True, kw_only=True)
class StageResult:
    """One staging model's result.

    `value` is the model's object in the contract's `stages`; `headline` is the comparable number
    (or bool) reported under `upper_bound`, None when the model has none.
    """

    model: str
    value: dict[str, object] | str
    headline: float | int | bool | None
    explanation: str
    source: str
    counted: tuple[str, ...] = field(default=())  # ids of the trials the result rests on
