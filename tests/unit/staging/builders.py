"""Builders for staging tests: trials, outcomes, records and contexts with sensible defaults.

Every trial is placed by `at` (days after the episode start, 2024-01-01) and lasts `days`. A trial's
adequacy is judged from its fields the way docs/rules.md does (unless given), so a scenario reads
like a chart: "sertraline from day 0 for 8 weeks, non-response".
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from typing import Any, cast

from trdfhir.mappings import Band, Mappings, Scale, load_mappings
from trdfhir.model import (
    Adequacy,
    AssessedTrial,
    Diagnosis,
    DoseStep,
    Episode,
    Marker,
    Outcome,
    Record,
    Score,
    StageResult,
    Trial,
)
from trdfhir.settings import Settings
from trdfhir.staging.base import StagingContext

START = date(2024, 1, 1)  # episode start
AS_OF = date(2025, 6, 1)
WEEK = 7
AUTO: Any = object()  # "work it out from the other arguments"

DEFAULT_CHANGE = {
    "remission": 0.8,
    "response": 0.6,
    "partial": 0.3,
    "non-response": 0.1,
    "worsening": -0.4,
}


def day(n: int) -> date:
    return START + timedelta(days=n)


def mappings() -> Mappings:
    return load_mappings()


def settings(**overrides: Any) -> Settings:
    return mappings().settings.with_overrides(overrides)


def judge(t: Trial, s: Settings | None = None) -> Adequacy:
    """Adequacy as docs/rules.md defines it (the trials module's job; repeated here for tests)."""
    s = s or settings()
    if t.kind == "antidepressant":
        if t.non_adherence:
            return Adequacy(status="inadequate", reasons=("non-adherence",))
        if t.days_at_adequate_dose is None:
            return Adequacy(status="indeterminate", reasons=("dose-threshold",))
        if t.days_at_adequate_dose >= s.antidepressant_adequate_days:
            return Adequacy(status="adequate")
        if t.days_at_adequate_dose + t.days_unknown_dose >= s.antidepressant_adequate_days:
            return Adequacy(status="indeterminate", reasons=("dose",))
        return Adequacy(status="inadequate", reasons=("too-short",))
    if t.kind == "psychotherapy":
        if (t.sessions or 0) < s.conway_psychotherapy_min_sessions:
            return Adequacy(status="inadequate", reasons=("too-few-sessions",))
        if t.evidence_based is None:
            return Adequacy(status="indeterminate", reasons=("modality",))
        if not t.evidence_based:
            return Adequacy(status="inadequate", reasons=("not-evidence-based",))
        return Adequacy(status="adequate")
    minimum = {"ect": s.ect_min_sessions, "rtms": s.rtms_min_sessions}.get(
        t.kind, s.esketamine_min_sessions
    )
    if t.kind == "augmentation" or (t.sessions or 0) >= minimum:
        return Adequacy(status="adequate")
    return Adequacy(status="inadequate", reasons=("too-few-sessions",))


def assess(
    t: Trial,
    outcome: str = "non-response",
    *,
    evidence: str = "measured",
    change: float | None = AUTO,
    adequacy: str | None = None,
) -> AssessedTrial:
    if change is AUTO:
        change = DEFAULT_CHANGE.get(outcome) if evidence == "measured" else None
    judged = judge(t) if adequacy is None else Adequacy(status=cast(Any, adequacy))
    return AssessedTrial(
        trial=t,
        adequacy=judged,
        outcome=Outcome(status=cast(Any, outcome), evidence=cast(Any, evidence), change=change),
    )


def ad(
    tid: str,
    agent: str = "sertraline",
    cls: str = "SSRI",
    outcome: str = "non-response",
    *,
    at: int = 0,
    days: int = 8 * WEEK,
    doses: tuple[float, ...] = (100,),
    adequate_dose: float = 50,
    days_at_dose: int | None = AUTO,
    unknown_dose_days: int = 0,
    evidence: str = "measured",
    change: float | None = AUTO,
    adequacy: str | None = None,
    **fields: Any,
) -> AssessedTrial:
    """An antidepressant trial; `doses` are equal-length dose steps (dose optimisation: 50, 100)."""
    start = day(at)
    step = days // len(doses)
    steps = tuple(
        DoseStep(
            start=start + timedelta(days=i * step),
            end=start + timedelta(days=days if i == len(doses) - 1 else (i + 1) * step),
            daily_dose_mg=dose,
        )
        for i, dose in enumerate(doses)
    )
    if days_at_dose is AUTO:
        days_at_dose = sum(
            (s.end - s.start).days for s in steps if (s.daily_dose_mg or 0) >= adequate_dose
        )
    t = Trial(
        id=tid,
        kind="antidepressant",
        agent=agent,
        drug_class=cls,
        start=start,
        end=start + timedelta(days=days),
        dose_steps=steps,
        adequate_dose_mg=adequate_dose,
        days_at_adequate_dose=days_at_dose,
        days_unknown_dose=unknown_dose_days,
        **fields,
    )
    return assess(t, outcome, evidence=evidence, change=change, adequacy=adequacy)


def pt(
    tid: str,
    sessions: int,
    outcome: str = "non-response",
    *,
    at: int = 0,
    days: int | None = None,
    modality: str | None = "cbt",
    evidence_based: bool | None = AUTO,
    evidence: str = "measured",
    change: float | None = AUTO,
    adequacy: str | None = None,
) -> AssessedTrial:
    """A psychotherapy course, weekly sessions unless `days` is given."""
    if evidence_based is AUTO:
        evidence_based = None if modality is None else modality != "supportive"
    start = day(at)
    t = Trial(
        id=tid,
        kind="psychotherapy",
        agent=f"psychotherapy ({modality or 'modality unspecified'})",
        start=start,
        end=start + timedelta(days=days if days is not None else sessions * WEEK),
        sessions=sessions,
        modality=modality,
        evidence_based=evidence_based,
    )
    return assess(t, outcome, evidence=evidence, change=change, adequacy=adequacy)


def course(
    tid: str,
    kind: str = "ect",
    sessions: int = 12,
    outcome: str = "non-response",
    *,
    laterality: str | None = "bilateral",
    at: int = 0,
    days: int = 4 * WEEK,
) -> AssessedTrial:
    """An ECT (default), rTMS or esketamine course."""
    start = day(at)
    agent = {"ect": "ECT", "rtms": "rTMS"}.get(kind, kind)
    t = Trial(
        id=tid,
        kind=cast(Any, kind),
        agent=agent,
        start=start,
        end=start + timedelta(days=days),
        sessions=sessions,
        laterality=laterality if kind == "ect" else None,
    )
    return assess(t, outcome)


def aug(
    tid: str, attached_to: str | None, agent: str = "lithium", *, at: int = 14, days: int = 42
) -> AssessedTrial:
    """An augmenting agent, attached to an antidepressant trial (or not, with None)."""
    start = day(at)
    t = Trial(
        id=tid,
        kind="augmentation",
        agent=agent,
        start=start,
        end=start + timedelta(days=days),
        attached_to=attached_to,
        augmentation_overlap_days=days,
    )
    return assess(t, "unknown", evidence="none")


def augmented(trial: AssessedTrial, *by: str) -> AssessedTrial:
    return dataclasses.replace(trial, trial=dataclasses.replace(trial.trial, augmented_by=by))


def diagnosis(
    category: str,
    code: str = "",
    *,
    severity: int | None = None,
    psychotic: bool = False,
    resource: str | None = None,
) -> Diagnosis:
    return Diagnosis(
        category=category,
        code=code or f"test {category}",
        onset=START,
        recorded=START,
        active=True,
        severity=severity,
        psychotic=psychotic,
        resource=resource or f"Condition/{category}",
    )


def score(scale: str, value: float, on: date) -> Score:
    return Score(scale=scale, day=on, value=value, resources=(f"Observation/{scale}-{on}",))


def marker(kind: str, on: date) -> Marker:
    return Marker(kind=kind, day=on, resource=f"Observation/{kind}-{on}")


PHQ9_BANDS = (  # a self-contained PHQ-9 severity scale, so tests do not depend on scales.json
    Band(min=0, max=4, label="minimal", maudsley_severity=None),
    Band(min=5, max=9, label="mild", maudsley_severity=2),
    Band(min=10, max=14, label="moderate", maudsley_severity=3),
    Band(min=15, max=19, label="moderately severe", maudsley_severity=3),
    Band(min=20, max=27, label="severe", maudsley_severity=4),
)


def make_mappings(**fields: Any) -> Mappings:
    """The real mappings with a fixed PHQ-9 and CGI-I scale, and any field replaced."""
    base = mappings()
    scales = {
        **base.scales,
        "PHQ-9": Scale(
            name="PHQ-9", kind="severity", min=0, max=27, remission_max=4, priority=1,
            bands=PHQ9_BANDS,
        ),
        "CGI-I": Scale(
            name="CGI-I", kind="global-change", min=1, max=7, remission_max=None, priority=9,
            bands=(Band(min=1, max=7, label="any", maudsley_severity=4),),
        ),
    }  # fmt: skip
    return dataclasses.replace(base, **{"scales": scales, **fields})


def context(
    *trials: AssessedTrial,
    months: int | None = 12,
    start: date | None = START,
    diagnoses: tuple[Diagnosis, ...] = (),
    scores: tuple[Score, ...] = (),
    markers: tuple[Marker, ...] = (),
    earlier: tuple[AssessedTrial, ...] = (),
    as_of: date = AS_OF,
    optimistic: bool = False,
    loss_of_effect: tuple[str, ...] = (),
    rechallenge_failures: tuple[str, ...] = (),
    maps: Mappings | None = None,
    **overrides: Any,
) -> StagingContext:
    """A staging context; keyword `overrides` not listed above are settings overrides."""
    maps = maps or make_mappings()
    return StagingContext(
        trials=tuple(sorted(trials, key=lambda t: (t.trial.start, t.trial.id))),
        earlier_trials=earlier,
        episode=Episode(start=start, months=months, source="Condition/mdd"),
        record=Record(patient="Patient/p1", diagnoses=diagnoses, scores=scores, markers=markers),
        mappings=maps,
        settings=maps.settings.with_overrides(overrides),
        as_of=as_of,
        loss_of_effect=loss_of_effect,
        rechallenge_failures=rechallenge_failures,
        optimistic=optimistic,
    )


def value(result: StageResult) -> dict[str, Any]:
    """A result's `value` object (every model but the spectrum has one)."""
    assert isinstance(result.value, dict)
    return result.value
