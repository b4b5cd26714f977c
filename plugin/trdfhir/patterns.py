"""Course patterns that several rules need: loss of effect, failure on rechallenge, switch to
(hypo)mania after an antidepressant start or dose rise, double depression."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from itertools import pairwise

from .mappings import Mappings
from .model import AssessedTrial, Diagnosis, Record, Score
from .settings import Settings


def loss_of_effect(
    trial: AssessedTrial, record: Record, maps: Mappings, settings: Settings
) -> tuple[Score, Score] | None:
    """Response or remission reached on the drug, then back to non-response while still on it.
    Returns the (responding, relapsed) scores."""
    baseline = trial.outcome.baseline
    t = trial.trial
    if t.kind != "antidepressant" or baseline is None or baseline.value <= 0:
        return None
    scale = maps.scales.get(baseline.scale)
    if scale is None:
        return None
    on_drug = sorted(
        (
            s
            for s in record.scores
            if s.scale == baseline.scale and baseline.day < s.day and t.start <= s.day < t.end
        ),
        key=lambda s: s.day,
    )
    responded: Score | None = None
    for score in on_drug:
        drop = (baseline.value - score.value) / baseline.value
        in_remission = scale.remission_max is not None and score.value <= scale.remission_max
        if responded is None and (drop >= settings.response_drop or in_remission):
            responded = score
        elif responded is not None and drop < settings.partial_drop:
            return responded, score
    return None


def rechallenge_failure(
    trial: AssessedTrial,
    earlier: Sequence[AssessedTrial],
    counted_failure: Callable[[AssessedTrial], bool],
) -> AssessedTrial | None:
    """An earlier-episode trial of the same drug that worked, for a current trial whose failure
    counts (adequate, and of evidence this evaluation accepts)."""
    if trial.trial.kind != "antidepressant" or not counted_failure(trial):
        return None
    return next(
        (
            e
            for e in earlier
            if e.trial.agent == trial.trial.agent
            and e.trial.end < trial.trial.start
            and e.outcome.status in ("response", "remission")
        ),
        None,
    )


def latest_trial(trials: Sequence[AssessedTrial], *kinds: str) -> AssessedTrial | None:
    """The latest treatment (of the given kinds): latest start, then later end, then id. An
    augmentation attached to an antidepressant belongs to that trial, not a treatment of its own.
    The one definition of "the latest trial" for the spectrum, findings and suggestions."""
    candidates = [
        t
        for t in trials
        if (not kinds or t.trial.kind in kinds)
        and not (t.trial.kind == "augmentation" and t.trial.attached_to)
    ]
    return max(candidates, key=lambda t: (t.trial.start, t.trial.end, t.trial.id), default=None)


def antidepressant_starts_and_rises(trials: Sequence[AssessedTrial]) -> list[tuple[date, str]]:
    """The days an antidepressant was started or its daily dose was raised, each with a phrase
    ('sertraline started', 'sertraline raised to 150 mg/day')."""
    events: list[tuple[date, str]] = []
    for t in trials:
        tr = t.trial
        if tr.kind != "antidepressant":
            continue
        events.append((tr.start, f"{tr.agent} started"))
        known = [s for s in tr.dose_steps if s.daily_dose_mg is not None]
        for before, after in pairwise(known):
            if (
                after.daily_dose_mg is not None
                and before.daily_dose_mg is not None
                and after.daily_dose_mg > before.daily_dose_mg
            ):
                events.append((after.start, f"{tr.agent} raised to {after.daily_dose_mg:g} mg/day"))
    return sorted(set(events))


def mania_switches(
    record: Record, trials: Sequence[AssessedTrial], settings: Settings
) -> list[tuple[Diagnosis, date, date, str]]:
    """Switch to (hypo)mania (Guidi & Fava 2024, behavioural toxicity): a hypomanic or manic
    episode dated (onset, else recorded date) at most `switch_mania_weeks` after an antidepressant
    started or its dose was raised. Returns (diagnosis, its day, the event's day, the event),
    the latest event before each episode. Undated episodes are left to a data warning."""
    window = settings.switch_mania_weeks * 7
    events = antidepressant_starts_and_rises(trials)
    out = []
    for d in record.diagnoses:
        day = d.onset or d.recorded
        if not d.manic or day is None:
            continue
        before = [(e, what) for e, what in events if 0 <= (day - e).days <= window]
        if before:
            e, what = max(before)
            out.append((d, day, e, what))
    return out


def double_depression(record: Record) -> tuple[list[Diagnosis], list[Diagnosis]] | None:
    """Dysthymia (persistent depressive disorder) and a current major depressive episode: both
    active on record. Returns (dysthymia, MDD) diagnoses, or None."""
    dysthymia = [d for d in record.diagnoses if d.category == "dysthymia" and d.active]
    mdd = [d for d in record.diagnoses if d.category == "mdd" and d.active]
    return (dysthymia, mdd) if dysthymia and mdd else None
