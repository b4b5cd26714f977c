"""The current depressive episode: when it started and how long it has lasted."""

from __future__ import annotations

from datetime import date, timedelta

from .mappings import Mappings
from .model import Episode, Record
from .settings import Settings


def months_between(start: date, end: date) -> int:
    """Whole calendar months from start to end (0 if end is earlier)."""
    months = (end.year - start.year) * 12 + (end.month - start.month)
    if end.day < start.day:
        months -= 1
    return max(months, 0)


def current_episode(record: Record, maps: Mappings, settings: Settings, as_of: date) -> Episode:
    start, source, ref = _from_condition(record)
    if start is None:
        start, source, ref = _from_antidepressant_gap(record, settings)
    relapse = _last_relapse_after_remission(record, maps, settings)
    if relapse is not None and relapse[0] is not None and (start is None or relapse[0] > start):
        start, source, ref = relapse
    if start is None:
        return Episode(start=None, months=None, source=None)
    return Episode(
        start=start,
        months=months_between(start, as_of),
        source=source,
        resources=(ref,) if ref else (),
    )


Dated = tuple[date | None, str | None, str | None]  # start, explanation, resource


def _from_condition(record: Record) -> Dated:
    dated = [
        (d.onset or d.recorded, d)
        for d in record.diagnoses
        if d.category == "mdd" and d.active and (d.onset or d.recorded)
    ]
    if not dated:
        return None, None, None
    day, diagnosis = max(dated, key=lambda item: (item[0], item[1].resource))
    label = diagnosis.resource if diagnosis.onset else f"{diagnosis.resource} (recordedDate)"
    return day, label, diagnosis.resource


def _from_antidepressant_gap(record: Record, settings: Settings) -> Dated:
    """Start of the last run of antidepressant use not interrupted by >= episode_gap_days."""
    exposures = sorted(
        (e for e in record.exposures if e.role == "antidepressant" and not e.not_taken),
        key=lambda e: (e.start, e.resource),
    )
    if not exposures:
        return None, None, None
    first = exposures[0]
    run_end = first.end or first.start + timedelta(days=1)
    for exposure in exposures[1:]:
        if (exposure.start - run_end).days >= settings.episode_gap_days:
            first = exposure
        run_end = max(run_end, exposure.end or exposure.start + timedelta(days=1))
    weeks = settings.episode_gap_days // 7
    return first.start, f"first antidepressant after >= {weeks} weeks without one", first.resource


def _last_relapse_after_remission(
    record: Record, maps: Mappings, settings: Settings
) -> Dated | None:
    """The first score above remission after a remission held >= remission_hold_days: from the
    first to the last of at least two consecutive scores at or below the cut-off."""
    found: Dated | None = None
    run: list[date] = []  # days of the current run of remission scores
    for score in sorted(record.scores, key=lambda s: (s.day, s.scale)):
        scale = maps.scales.get(score.scale)
        if scale is None or scale.kind != "severity" or scale.remission_max is None:
            continue
        if score.value <= scale.remission_max:
            run.append(score.day)
            continue
        if len(run) >= 2 and (run[-1] - run[0]).days >= settings.remission_hold_days:
            weeks = settings.remission_hold_days // 7
            found = (
                score.day,
                f"relapse after a remission held >= {weeks} weeks",
                score.resources[0],
            )
        run = []
    return found
