"""What every staging model receives, and the helpers they share.

A model is a module with `NAME`, `SOURCE` and `stage(ctx) -> StageResult`. The registry in
`staging/__init__.py` runs them all; the upper bound is the same model run on a context whose
`optimistic` flag counts indeterminate trials as adequate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from ..mappings import Mappings
from ..model import AssessedTrial, Episode, Record, Trial
from ..settings import Settings


@dataclass(frozen=True, kw_only=True)
class StagingContext:
    trials: tuple[AssessedTrial, ...]  # current episode only, in start order
    earlier_trials: tuple[AssessedTrial, ...]  # trials of earlier episodes
    episode: Episode
    record: Record
    mappings: Mappings
    settings: Settings
    as_of: date
    loss_of_effect: tuple[str, ...] = ()  # ids of trials with loss of effect
    rechallenge_failures: tuple[str, ...] = ()  # ids of trials failing on rechallenge
    optimistic: bool = False  # upper-bound pass

    def counts_as_adequate(self, t: AssessedTrial) -> bool:
        status = t.adequacy.status
        return status == "adequate" or (self.optimistic and status == "indeterminate")

    def is_failure(self, t: AssessedTrial) -> bool:
        """A failure outcome that this evaluation counts (inferred ones unless disabled)."""
        outcome = t.outcome
        failed = outcome.status in ("non-response", "worsening") or (
            outcome.status == "partial" and self.settings.partial_counts_as_failure
        )
        if not failed:
            return False
        return outcome.evidence != "inferred" or self.settings.count_inferred_failures

    def counted_failure(self, t: AssessedTrial) -> bool:
        return self.counts_as_adequate(t) and self.is_failure(t)

    def counted_failures(self, *kinds: str) -> list[AssessedTrial]:
        """Failures of adequate trials (of the given kinds) in the current episode."""
        return [
            t
            for t in self.trials
            if (not kinds or t.trial.kind in kinds)
            and self.counts_as_adequate(t)
            and self.is_failure(t)
        ]

    def has_diagnosis(self, *categories: str) -> bool:
        """An active diagnosis of these categories (as the complexity findings count them)."""
        return any(d.category in categories and d.active for d in self.record.diagnoses)

    def in_episode(self, day: date) -> bool:
        """Dated in the current episode and not after the as-of date; with an unknown episode
        start, within `lab_lookback_days` of the as-of date."""
        if day > self.as_of:
            return False
        if self.episode.start is not None:
            return day >= self.episode.start
        return (self.as_of - day).days <= self.settings.lab_lookback_days

    def markers_in_episode(self, kind: str) -> list[str]:
        """Resources of markers of this kind dated in the episode (see `in_episode`)."""
        return [
            m.resource for m in self.record.markers if m.kind == kind and self.in_episode(m.day)
        ]


def classes(trials: Iterable[AssessedTrial]) -> set[str]:
    return {t.trial.drug_class or "other" for t in trials}


def ids(trials: Iterable[AssessedTrial]) -> tuple[str, ...]:
    return tuple(t.trial.id for t in trials)


def group_of(trial: Trial) -> str:
    """The class a trial is grouped under in explanations: the drug class, else the kind."""
    if trial.kind == "antidepressant":
        return trial.drug_class or "other"
    return {"ect": "ECT", "rtms": "rTMS"}.get(trial.kind, trial.kind)


def detail_of(trial: Trial) -> str:
    """'sertraline'; 'cbt, 12 sessions'; '12 sessions' (ECT)."""
    if trial.kind not in ("psychotherapy", "ect", "rtms", "esketamine", "ketamine"):
        return trial.agent
    parts = [trial.modality or "modality unspecified"] if trial.kind == "psychotherapy" else []
    if trial.sessions is not None:
        parts.append(f"{trial.sessions} sessions")
    return ", ".join(parts)


def join_words(words: Iterable[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = list(words)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def describe(trials: Iterable[AssessedTrial]) -> str:
    """'SSRI (sertraline, escitalopram) and SNRI (venlafaxine)', grouped in first-seen order."""
    groups: dict[str, list[str]] = {}
    for t in trials:
        detail = detail_of(t.trial)
        groups.setdefault(group_of(t.trial), []).append(detail)
    return join_words(
        f"{name} ({', '.join(d for d in details if d)})" if any(details) else name
        for name, details in groups.items()
    )


def overlaps(a: Trial, b: Trial) -> bool:
    """Half-open intervals share at least one day."""
    return a.start < b.end and b.start < a.end
