"""Course patterns that several rules need: loss of effect and failure on rechallenge."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .mappings import Mappings
from .model import AssessedTrial, Record, Score
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
