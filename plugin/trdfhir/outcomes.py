"""Outcome of each trial from the scores around it, a documented stop reason, or an inference from
what followed. See docs/rules.md "Outcome"."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date, timedelta
from typing import cast

from .mappings import Mappings, Scale
from .model import Adequacy, Outcome, OutcomeClass, Record, Score, ScorePoint, Trial
from .settings import Settings


def judge(
    trial: Trial,
    adequacy: Adequacy,
    trials: Sequence[Trial],
    record: Record,
    maps: Mappings,
    settings: Settings,
) -> Outcome:
    outcome = _judge(trial, adequacy, trials, record, maps, settings)
    if trial.assumptions and outcome.evidence in ("measured", "documented"):
        # The trial's end (so its duration and end score) rests on an assumption: the outcome
        # is no better than inferred (not counted under --measured-only).
        return dataclasses.replace(
            outcome,
            evidence="inferred",
            basis=f"{outcome.basis}; the trial's end is assumed ({', '.join(trial.assumptions)})",
        )
    return outcome


def _judge(
    trial: Trial,
    adequacy: Adequacy,
    trials: Sequence[Trial],
    record: Record,
    maps: Mappings,
    settings: Settings,
) -> Outcome:
    measured = _measured(trial, record, maps, settings)
    if measured is not None:
        if (
            trial.ongoing
            and measured.status in ("non-response", "worsening")
            and (adequacy.status == "inadequate")
        ):
            return Outcome(
                status="ongoing",
                evidence="none",
                baseline=measured.baseline,
                end=measured.end,
                change=measured.change,
                basis=f"{measured.basis}; the trial is not yet adequate",
            )
        return measured
    if trial.stop_reason == "adverse-effect":
        return Outcome(
            status="intolerance",
            evidence="documented",
            basis="stopped for adverse effects (statusReason)",
        )
    if trial.stop_reason == "lack-of-efficacy":
        return Outcome(
            status="non-response",
            evidence="documented",
            basis="stopped for lack of efficacy (statusReason)",
        )
    inferred = _inferred(trial, trials, settings)
    if inferred:
        return Outcome(status="non-response", evidence="inferred", basis=inferred)
    if trial.ongoing:
        return Outcome(status="ongoing", evidence="none", basis="ongoing, no outcome score yet")
    return Outcome(status="unknown", evidence="none", basis="no scores and no documented reason")


def _point(score: Score) -> ScorePoint:
    return ScorePoint(
        scale=score.scale, value=score.value, day=score.day, resources=score.resources
    )


def _measured(trial: Trial, record: Record, maps: Mappings, settings: Settings) -> Outcome | None:
    last_day = trial.end - timedelta(days=1)
    scales = sorted(maps.scales.values(), key=lambda s: s.priority)
    for scale in (s for s in scales if s.kind == "severity"):
        scores = [s for s in record.scores if s.scale == scale.name]
        baseline = _last_in(
            scores,
            trial.start - timedelta(days=settings.baseline_before_days),
            trial.start + timedelta(days=settings.baseline_after_days),
        )
        if baseline is None:
            continue
        if trial.ongoing:
            end = _last_in(scores, baseline.day + timedelta(days=1), date.max)
        else:
            window = timedelta(days=settings.end_window_days)
            end = _last_in(scores, last_day - window, last_day + window)
        if end is not None and end.day > baseline.day:
            return _classify(scale, baseline, end, settings)
    for scale in (s for s in scales if s.kind == "global-change"):
        scores = [s for s in record.scores if s.scale == scale.name]
        low = trial.start if trial.ongoing else last_day - timedelta(days=settings.end_window_days)
        rating = _last_in(scores, low, last_day + timedelta(days=settings.end_window_days))
        band = scale.band(rating.value) if rating else None
        if rating is not None and band is not None and band.outcome:
            status = cast(OutcomeClass, band.outcome)
            return Outcome(
                status=status,
                evidence="measured",
                end=_point(rating),
                basis=f"{scale.name} {rating.value:g} ({band.label})",
            )
    return None


def _last_in(scores: Sequence[Score], low: date, high: date) -> Score | None:
    inside = [s for s in scores if low <= s.day <= high]
    return max(inside, key=lambda s: s.day) if inside else None


def _classify(scale: Scale, baseline: Score, end: Score, settings: Settings) -> Outcome:
    status: OutcomeClass
    b, e = baseline.value, end.value
    change = round((b - e) / b, 3) if b > 0 else None
    text = f"{scale.name} {b:g} -> {e:g}"
    if scale.remission_max is not None and e <= scale.remission_max:
        status, why = (
            "remission",
            f"{text}, at or below the remission cut-off {scale.remission_max:g}",
        )
    elif change is None:
        status, why = ("worsening" if e > b else "non-response"), f"{text} from a zero baseline"
    elif change >= settings.response_drop:
        status, why = "response", f"{text} ({change:.0%} improvement)"
    elif change >= settings.partial_drop:
        status, why = "partial", f"{text} ({change:.0%} improvement)"
    elif change <= -settings.worsening_rise:
        status, why = "worsening", f"{text} ({-change:.0%} worse)"
    else:
        status, why = "non-response", f"{text} ({change:.0%} improvement)"
    return Outcome(
        status=status,
        evidence="measured",
        baseline=_point(baseline),
        end=_point(end),
        change=change,
        basis=why,
    )


def _inferred(trial: Trial, trials: Sequence[Trial], settings: Settings) -> str | None:
    """The usual EHR phenotype: a switch, or an agent added on top, implies a failure."""
    if trial.kind != "antidepressant":
        return None
    if trial.stop_reason == "non-adherence":
        return None  # stopped because it was not taken: no evidence about efficacy
    if trial.augmented_by:
        return f"augmented with {', '.join(trial.augmented_by)}"
    if trial.combination_added:
        return "another antidepressant added on top"
    if trial.ongoing:
        return None
    limit = trial.end + timedelta(days=settings.trial_gap_days)
    switches = [
        t
        for t in trials
        if t.kind == "antidepressant"
        and t.agent != trial.agent
        and trial.start < t.start <= limit
        and t.end > trial.end
    ]
    if switches:
        return f"switched to {switches[0].agent}"
    return None
