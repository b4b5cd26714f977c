"""The pipeline: resources -> Assessment, and the Assessment's JSON summary (the contract).

Pure: the as-of date, settings and mappings are inputs; nothing reads the clock or the network.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from . import adequacy, outcomes
from .episodes import current_episode
from .errors import InputError, StrictModeError
from .fhir.values import MAX_YEAR, MIN_YEAR
from .findings import FindingInput, find_all
from .ingest import read_record
from .limits import DEFAULT_LIMITS, Limits, check_input, checkpoint, deadline
from .mappings import Mappings, load_mappings
from .model import (
    AssessedTrial,
    DataWarning,
    Episode,
    Finding,
    Record,
    StageResult,
    Suggestion,
)
from .patterns import loss_of_effect, rechallenge_failure
from .settings import Settings
from .staging import StagingContext, run_all, upper_bounds
from .suggestions import SuggestionInput, suggest
from .summary import summarise
from .trials import build_trials


@dataclass(frozen=True, kw_only=True)
class Assessment:
    patient: str
    as_of: date
    episode: Episode
    trials: tuple[AssessedTrial, ...]
    stages: dict[str, StageResult]
    upper_bound: dict[str, float | int | bool | None]
    findings: tuple[Finding, ...]
    suggestions: tuple[Suggestion, ...]
    record: Record
    settings: Settings

    def summary(self) -> dict[str, Any]:
        """The JSON object of assessment-contract.md."""
        return summarise(self)

    @property
    def deceased(self) -> bool:
        """The record says the patient has died: no suggestions, urgent findings, CDS cards or
        write-back are made (docs/real-world.md)."""
        return self.record.deceased


def at_death(record: Record) -> Record:
    """The record of a patient who died on a known date, cut at death: claims of treatment
    after it are left out (warning `after-death`), and open treatment ends on that day."""
    if record.death is None:
        return record
    stop = record.death + timedelta(days=1)
    late = [e.resource for e in record.exposures if e.start >= stop]
    late += [s.resource for s in record.sessions if s.day >= stop]
    late += [c.resource for c in record.courses if c.start >= stop]
    exposures = tuple(
        dataclasses.replace(e, end=stop, ongoing=False)
        if e.end is not None and e.end > stop
        else dataclasses.replace(e, ongoing=False)
        for e in record.exposures
        if e.start < stop
    )
    warnings = [
        DataWarning(
            code="after-death",
            diagnostic=f"treatment recorded after the date of death ({record.death.isoformat()}); "
            "left out",
            location=ref,
            reason="after-death",
        )
        for ref in sorted(set(late))
    ]
    return dataclasses.replace(
        record,
        exposures=exposures,
        sessions=tuple(s for s in record.sessions if s.day < stop),
        courses=tuple(
            dataclasses.replace(c, end=min(c.end, stop) if c.end else None)
            for c in record.courses
            if c.start < stop
        ),
        warnings=(*record.warnings, *warnings),
    )


def parse_as_of(value: date | str) -> date:
    if isinstance(value, date):
        day = value
    else:
        try:
            day = date.fromisoformat(value)
        except (TypeError, ValueError):
            raise InputError(f"as-of date must be YYYY-MM-DD, got {value!r}") from None
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise InputError(f"as-of date must be between the years {MIN_YEAR} and {MAX_YEAR}")
    return day


def resolve_settings(settings: Settings | Mapping[str, Any] | None, maps: Mappings) -> Settings:
    if isinstance(settings, Settings):
        return settings
    return maps.settings.with_overrides(settings or {})


def evaluate(
    resources: Any,
    *,
    as_of: date | str,
    settings: Settings | Mapping[str, Any] | None = None,
    mappings: Mappings | None = None,
    strict: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> Assessment:
    """Evaluate one patient's resources (a Bundle, a list of resources, or one resource).

    `limits` (limits.py): nesting depth and resource count of the input, and a time limit
    (none by default); beyond them a LimitError, an InputError."""
    maps = mappings or load_mappings()
    cfg = resolve_settings(settings, maps)
    day = parse_as_of(as_of)
    well_formed = check_input(resources, limits)
    with deadline(limits.max_seconds):
        return _evaluate(resources, day, cfg, maps, strict, well_formed)


def _evaluate(
    resources: Any,
    day: date,
    cfg: Settings,
    maps: Mappings,
    strict: bool,
    well_formed: frozenset[int] = frozenset(),
) -> Assessment:
    record = at_death(read_record(resources, maps, day, settings=cfg, well_formed=well_formed))
    checkpoint("reading the record")
    if strict and record.warnings:
        w = record.warnings[0]
        raise StrictModeError(
            f"{w.code}: {w.diagnostic} (and {len(record.warnings) - 1} more)"
            if len(record.warnings) > 1
            else f"{w.code}: {w.diagnostic}",
            location=w.location,
        )
    asked = day
    day = min(day, record.death) if record.death else day  # the episode and trials end at death
    episode = current_episode(record, maps, cfg, day)
    checkpoint("finding the episode")
    trials = build_trials(record, episode, maps, cfg, day)
    if record.deceased:
        trials = [dataclasses.replace(t, ongoing=False) for t in trials]
    checkpoint("building trials")
    by_id = {t.id: t for t in trials}
    assessed = []
    for t in trials:
        checkpoint("judging trials")
        adq = adequacy.judge(t, by_id, cfg)
        assessed.append(
            AssessedTrial(
                trial=t, adequacy=adq, outcome=outcomes.judge(t, adq, trials, record, maps, cfg)
            )
        )
    current = tuple(t for t in assessed if t.trial.in_current_episode)
    earlier = tuple(t for t in assessed if not t.trial.in_current_episode)
    ctx = StagingContext(
        trials=current,
        earlier_trials=earlier,
        episode=episode,
        record=record,
        mappings=maps,
        settings=cfg,
        as_of=day,
    )
    loss = {t.trial.id: p for t in current if (p := loss_of_effect(t, record, maps, cfg))}
    counted = ctx.counted_failure
    rechallenge = {
        t.trial.id: e for t in current if (e := rechallenge_failure(t, earlier, counted))
    }
    ctx = dataclasses.replace(
        ctx, loss_of_effect=tuple(loss), rechallenge_failures=tuple(rechallenge)
    )
    checkpoint("judging trials")
    stages = run_all(ctx)
    checkpoint("staging")
    findings = find_all(
        FindingInput(
            record=record,
            episode=episode,
            trials=current,
            earlier=earlier,
            maps=maps,
            settings=cfg,
            as_of=day,
            loss_of_effect=loss,
            rechallenge=rechallenge,
        )
    )
    checkpoint("findings")
    suggestions = suggest(
        SuggestionInput(
            findings=findings,
            stages=stages,
            trials=current,
            counted_failures=ctx.counted_failures("antidepressant"),
            record=record,
            settings=cfg,
            as_of=day,
            earlier=earlier,
        ),
        maps,
    )
    if record.deceased:  # nothing to act on for a patient who has died
        findings = [f for f in findings if f.severity != "urgent"]
        suggestions = []
    return Assessment(
        patient=record.patient,
        as_of=asked,
        episode=episode,
        trials=tuple(assessed),
        stages=stages,
        upper_bound=upper_bounds(ctx),
        findings=tuple(findings),
        suggestions=tuple(suggestions),
        record=record,
        settings=cfg,
    )
