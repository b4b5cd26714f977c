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
from .patterns import latest_trial
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
    latest = latest_trial(ctx.trials, "antidepressant")
    if latest is None:
        return None
    recent = ctx.as_of - timedelta(days=ctx.settings.current_trial_recent_days)
    return latest if latest.trial.ongoing or latest.trial.end > recent else None


def trd_models_met(ctx: SuggestionInput) -> list[str]:
    """The models whose TRD threshold is reached (docs/rules.md, shared decision)."""
    checks = {
        "regulatory": bool(ctx.stage("regulatory").get("met")),
        "ESM": str(ctx.stage("esm").get("category", "")).startswith(("TRD", "CRD")),
        "Thase-Rush >= II": _int(ctx.stage("thase_rush").get("stage")) >= 2,
        "Maudsley moderate/severe": ctx.stage("maudsley").get("category") in ("moderate", "severe"),
        "Conway >= 1": _int(ctx.stage("conway").get("stage")) >= 1,
        "Markowitz": bool(ctx.stage("markowitz").get("met")),
    }
    return [name for name, met in checks.items() if met]


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


# Each trigger returns why it holds for this patient (one line), or None when it does not.
Trigger = Callable[[SuggestionInput], str | None]


def _finding(code: str) -> Trigger:
    def trigger(ctx: SuggestionInput) -> str | None:
        found = next((f for f in ctx.findings if f.code == code), None)
        return f"{code}: {found.detail}" if found else None

    return trigger


def _optimise(ctx: SuggestionInput) -> str | None:
    current = current_trial(ctx)
    if current is None or current.adequacy.status != "inadequate":
        return None
    return f"the current trial ({current.trial.agent}) is inadequate: " + ", ".join(
        current.adequacy.reasons
    )


def _adherence(ctx: SuggestionInput) -> str | None:
    if "non-adherence" in ctx.codes:
        return _finding("non-adherence")(ctx)
    unknown = [t.trial.agent for t in ctx.counted_failures if not t.trial.adherence_known]
    return f"adherence unknown for failed trials: {', '.join(unknown)}" if unknown else None


_SCREENS = {"mdq": "bipolarity (MDQ)", "adhd-screen": "ADHD", "ptsd-screen": "PTSD"}


def _screen(ctx: SuggestionInput) -> str | None:
    positive = sorted(ctx.codes & {"possible-bipolar", "possible-adhd", "possible-ptsd"})
    if positive:
        return "on record: " + ", ".join(positive)
    since = ctx.as_of - timedelta(days=ctx.settings.lab_lookback_days)
    done = {m.kind for m in ctx.record.markers if m.day >= since}
    missing = [label for kind, label in _SCREENS.items() if kind not in done]
    return f"no screen since {since.isoformat()} for: {', '.join(missing)}" if missing else None


def _workup(ctx: SuggestionInput) -> str | None:
    mimics = [f for f in ctx.findings if f.code in _MIMICS]
    return "; ".join(f"{f.code}: {f.detail}" for f in mimics) or None


_MIMICS = {
    "hypothyroidism",
    "tsh-not-checked",
    "sleep-apnea",
    "vitamin-d-deficiency",
    "vitamin-d-not-checked",
}


def _augment(ctx: SuggestionInput) -> str | None:
    failed = [t.trial.agent for t in ctx.counted_failures]
    return f"failed adequate trials: {', '.join(failed)}" if failed else None


def _neuromodulation(ctx: SuggestionInput) -> str | None:
    if ctx.stage("regulatory").get("met"):
        return "regulatory TRD criteria are met"
    category = ctx.stage("maudsley").get("category")
    return f"Maudsley stage is {category}" if category in ("moderate", "severe") else None


def _functional(ctx: SuggestionInput) -> str | None:
    since = ctx.as_of - timedelta(days=ctx.settings.functional_lookback_days)
    if any(m.kind == "functional" and m.day >= since for m in ctx.record.markers):
        return None
    return f"no functional measure since {since.isoformat()}"


def _clinimetric(ctx: SuggestionInput) -> str | None:
    c = ctx.stage("guidi_fava").get("C")
    return f"Guidi & Fava criterion C is {c}" if c != "met" else None


def _shared(ctx: SuggestionInput) -> str | None:
    met = trd_models_met(ctx)
    return f"met: {', '.join(met)}" if met else None


TRIGGERS: dict[str, Trigger] = {
    "safety-plan": _finding("safety-item9"),
    "optimise-trial": _optimise,
    "assess-adherence": _adherence,
    "psychotherapy-trial": _finding("no-psychotherapy-trial"),
    "screen-misdiagnosis": _screen,
    "medical-workup": _workup,
    "augment-or-switch": _augment,
    "neuromodulation-referral": _neuromodulation,
    "sequential-psychotherapy": _finding("residual-symptoms"),
    "loss-of-effect-psychotherapy": _finding("loss-of-effect"),
    "measurement-based-care": _finding("no-outcome-measure"),
    "functional-outcomes": _functional,
    "clinimetric-assessment": _clinimetric,
    "shared-decision": _shared,
}


def suggest(ctx: SuggestionInput, maps: Mappings) -> list[Suggestion]:
    missing = set(TRIGGERS) ^ set(maps.suggestions)
    if missing:
        raise MappingError(f"suggestions.json and suggestions.py disagree on: {sorted(missing)}")
    out = []
    for code, trigger in TRIGGERS.items():
        why = trigger(ctx)
        if why:
            info = maps.suggestions[code]
            out.append(Suggestion(code=code, text=info.text, reason=why, source=info.source))
    return out
