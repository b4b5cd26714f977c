"""Suggestions: data-driven rules, trigger -> activity with its reason and source.

Text, reason and source live in `mappings/suggestions.json`; the trigger of each code is the
predicate of the same name below. Suggestions are considerations for a clinician, never orders.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from .errors import MappingError
from .mappings import Mappings
from .model import AssessedTrial, Finding, Record, StageResult, Suggestion
from .settings import Settings


@dataclass(frozen=True, kw_only=True)
class SuggestionInput:
    findings: Sequence[Finding]
    stages: dict[str, StageResult]
    trials: Sequence[AssessedTrial]  # current episode
    counted_failures: Sequence[AssessedTrial]  # counted antidepressant failures, current episode
    record: Record
    settings: Settings
    as_of: date

    @property
    def codes(self) -> set[str]:
        return {f.code for f in self.findings}

    def stage(self, name: str) -> dict[str, object]:
        value = self.stages[name].value
        return value if isinstance(value, dict) else {}


def current_trial(ctx: SuggestionInput) -> AssessedTrial | None:
    """The latest antidepressant trial of the episode, if ongoing or recently ended."""
    ads = [t for t in ctx.trials if t.trial.kind == "antidepressant"]
    latest = max(ads, key=lambda t: (t.trial.start, t.trial.id), default=None)
    if latest is None:
        return None
    recent = ctx.as_of - timedelta(days=ctx.settings.current_trial_recent_days)
    return latest if latest.trial.ongoing or latest.trial.end > recent else None


def trd_model_met(ctx: SuggestionInput) -> bool:
    return bool(
        ctx.stage("regulatory").get("met")
        or str(ctx.stage("esm").get("category", "")).startswith(("TRD", "CRD"))
        or _int(ctx.stage("thase_rush").get("stage")) >= 2
        or ctx.stage("maudsley").get("category") in ("moderate", "severe")
        or _int(ctx.stage("conway").get("stage")) >= 1
        or ctx.stage("markowitz").get("met")
    )


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


def _optimise(ctx: SuggestionInput) -> bool:
    current = current_trial(ctx)
    return current is not None and current.adequacy.status == "inadequate"


def _adherence(ctx: SuggestionInput) -> bool:
    return "non-adherence" in ctx.codes or any(
        not t.trial.adherence_known for t in ctx.counted_failures
    )


def _screen(ctx: SuggestionInput) -> bool:
    since = ctx.as_of - timedelta(days=ctx.settings.lab_lookback_days)
    screened = any(m.kind == "mdq" and m.day >= since for m in ctx.record.markers)
    return not screened or bool(ctx.codes & {"possible-bipolar", "possible-adhd", "possible-ptsd"})


def _functional(ctx: SuggestionInput) -> bool:
    since = ctx.as_of - timedelta(days=ctx.settings.functional_lookback_days)
    return not any(m.kind == "functional" and m.day >= since for m in ctx.record.markers)


TRIGGERS: dict[str, Callable[[SuggestionInput], bool]] = {
    "safety-plan": lambda c: "safety-item9" in c.codes,
    "optimise-trial": _optimise,
    "assess-adherence": _adherence,
    "psychotherapy-trial": lambda c: "no-psychotherapy-trial" in c.codes,
    "screen-misdiagnosis": _screen,
    "medical-workup": lambda c: bool(
        c.codes
        & {
            "hypothyroidism",
            "tsh-not-checked",
            "sleep-apnea",
            "vitamin-d-deficiency",
            "vitamin-d-not-checked",
        }
    ),
    "augment-or-switch": lambda c: bool(c.counted_failures),
    "neuromodulation-referral": lambda c: (
        bool(c.stage("regulatory").get("met"))
        or c.stage("maudsley").get("category") in ("moderate", "severe")
    ),
    "sequential-psychotherapy": lambda c: "residual-symptoms" in c.codes,
    "loss-of-effect-psychotherapy": lambda c: "loss-of-effect" in c.codes,
    "measurement-based-care": lambda c: "no-outcome-measure" in c.codes,
    "functional-outcomes": _functional,
    "clinimetric-assessment": lambda c: c.stage("guidi_fava").get("C") != "met",
    "shared-decision": trd_model_met,
}


def suggest(ctx: SuggestionInput, maps: Mappings) -> list[Suggestion]:
    missing = set(TRIGGERS) ^ set(maps.suggestions)
    if missing:
        raise MappingError(f"suggestions.json and suggestions.py disagree on: {sorted(missing)}")
    return [
        Suggestion(
            code=code,
            text=maps.suggestions[code].text,
            reason=maps.suggestions[code].reason or "",
            source=maps.suggestions[code].source,
        )
        for code, trigger in TRIGGERS.items()
        if trigger(ctx)
    ]
