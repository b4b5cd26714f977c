"""Suggestions: data-driven rules, trigger -> activity with its reason and source.

Text, reason and source live in `mappings/suggestions.json`; the trigger of each code is the
predicate of the same name below. Suggestions are considerations for a clinician, never orders.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from .errors import MappingError
from .mappings import Mappings
from .model import (
    AssessedTrial,
    Caution,
    Diagnosis,
    Finding,
    PlanStep,
    Record,
    StageResult,
    Suggestion,
)
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
    earlier: Sequence[AssessedTrial] = ()  # trials of earlier episodes (a failed ECT course)

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
    """Names the patient's own trigger: the possible misdiagnoses on record (with their detail),
    and the screens missing in the last `lab_lookback_days` (the text names only those)."""
    positive = [
        f for f in ctx.findings if f.code in ("possible-bipolar", "possible-adhd", "possible-ptsd")
    ]
    parts = [f"{f.code}: {f.detail}" for f in positive]
    missing = _missing_screens(ctx)
    if missing:
        since = ctx.as_of - timedelta(days=ctx.settings.lab_lookback_days)
        parts.append(f"no {' or '.join(missing)} screen since {since.isoformat()}")
    return "; ".join(parts) or None


def _missing_screens(ctx: SuggestionInput) -> list[str]:
    since = ctx.as_of - timedelta(days=ctx.settings.lab_lookback_days)
    done = {m.kind for m in ctx.record.markers if m.day >= since}
    return [label for kind, label in _SCREENS.items() if kind not in done]


def _screen_text(ctx: SuggestionInput, text: str) -> str:
    """'Screen for ADHD and PTSD' when only those are missing and nothing positive is on record."""
    positive = ctx.codes & {"possible-bipolar", "possible-adhd", "possible-ptsd"}
    missing = _missing_screens(ctx)
    if positive or not missing or len(missing) == len(_SCREENS):
        return text
    return "Screen for " + " and ".join(missing)


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
        failed = ", ".join(t.trial.agent for t in ctx.counted_failures)
        return "regulatory TRD criteria are met" + (f" (failed: {failed})" if failed else "")
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


def bipolar_on_record(record: Record) -> list[Diagnosis]:
    """Bipolar disorder, or a hypomanic or manic episode, on record (active or not)."""
    return [d for d in record.diagnoses if d.category == "bipolar"]


def _bipolar_review(ctx: SuggestionInput) -> str | None:
    found = bipolar_on_record(ctx.record)
    if not found:
        return None
    held = [f"{code} ({why})" for code in ANTIDEPRESSANT_DIRECTED if (why := TRIGGERS[code](ctx))]
    treated = [t.trial.agent for t in ctx.trials if t.trial.kind == "antidepressant"]
    if not held and not treated:
        return None  # no antidepressant treatment of the episode to review
    reason = "bipolar disorder on record: " + ", ".join(f"{d.code} ({d.resource})" for d in found)
    if held:
        return reason + f"; in place of: {'; '.join(held)}"
    return reason + f"; antidepressants in the episode: {', '.join(sorted(set(treated)))}"


# Antidepressant-directed suggestions that give way to bipolar-depression-review.
ANTIDEPRESSANT_DIRECTED = ("optimise-trial", "augment-or-switch")

TRIGGERS: dict[str, Trigger] = {
    "safety-plan": _finding("safety-item9"),
    "optimise-trial": _optimise,
    "assess-adherence": _adherence,
    "psychotherapy-trial": _finding("no-psychotherapy-trial"),
    "screen-misdiagnosis": _screen,
    "medical-workup": _workup,
    "bipolar-depression-review": _bipolar_review,
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
    unknown = set(maps.cautions) - set(_CAUTIONS)
    if unknown:
        raise MappingError(f"suggestions.json cautions without a rule: {sorted(unknown)}")
    bipolar = bool(bipolar_on_record(ctx.record))
    out = []
    for code, trigger in TRIGGERS.items():
        if bipolar and code in ANTIDEPRESSANT_DIRECTED:
            continue  # named in the reason of bipolar-depression-review
        why = trigger(ctx)
        if why:
            info = maps.suggestions[code]
            text = _screen_text(ctx, info.text) if code == "screen-misdiagnosis" else info.text
            out.append(Suggestion(code=code, text=text, reason=why, source=info.source))
    return [_with_cautions(s, ctx, maps) for s in out]


# -- cautions and the sequential plan -----------------------------------------------------------


def _with_cautions(s: Suggestion, ctx: SuggestionInput, maps: Mappings) -> Suggestion:
    cautions: list[Caution] = []
    text = s.text
    for code, info in maps.cautions.items():
        if s.code not in maps.caution_targets.get(code, ()):
            continue
        detail = _CAUTIONS[code](ctx)
        if detail is None:
            continue
        cautions.append(Caution(code=code, text=f"{info.text}: {detail}", source=info.source))
        if code == "ect-already-failed":
            text = _after_failed_ect(ctx)
    plan: tuple[PlanStep, ...] = ()
    if s.code == "sequential-psychotherapy":
        plan = maps.plan_steps  # the same frozen steps, as the mappings hold them
    return dataclasses.replace(s, text=text, cautions=tuple(cautions), plan=plan)


def _bipolar_caution(ctx: SuggestionInput) -> str | None:
    found = bipolar_on_record(ctx.record)
    return ", ".join(f"{d.code} ({d.resource})" for d in found) or None


def failed_ect(ctx: SuggestionInput) -> list[AssessedTrial]:
    """Adequate ECT courses that failed, in any episode."""
    return [
        t
        for t in (*ctx.earlier, *ctx.trials)
        if t.trial.kind == "ect" and t.adequacy.status == "adequate" and t.failed
    ]


def remaining_neuromodulation(ctx: SuggestionInput) -> list[str]:
    """What remains after a failed ECT course: bilateral ECT unless a bilateral course failed,
    and rTMS, esketamine and IV ketamine unless an adequate course of each already failed."""
    failed_kinds = {
        (t.trial.kind, t.trial.laterality)
        for t in (*ctx.earlier, *ctx.trials)
        if t.adequacy.status == "adequate" and t.failed
    }
    out = []
    if ("ect", "bilateral") not in failed_kinds:
        unknown = ("ect", None) in failed_kinds and ("ect", "right-unilateral") not in failed_kinds
        out.append(
            "bilateral ECT (if the failed course was not bilateral)" if unknown else "bilateral ECT"
        )
    for kind, label in (
        ("rtms", "rTMS"),
        ("esketamine", "esketamine"),
        ("ketamine", "IV ketamine"),
    ):
        if not any(k == kind for k, _ in failed_kinds):
            out.append(label)
    return out


def _ect_caution(ctx: SuggestionInput) -> str | None:
    courses = failed_ect(ctx)
    if not courses:
        return None
    named = "; ".join(
        f"{t.trial.laterality + ' ECT' if t.trial.laterality else 'ECT (laterality not recorded)'}"
        f", {t.trial.sessions} sessions, "
        f"{t.trial.start.isoformat()} to {(t.trial.end - timedelta(days=1)).isoformat()} "
        f"({t.outcome.status})"
        for t in courses
    )
    remaining = remaining_neuromodulation(ctx)
    return named + (
        f"; what remains: {', '.join(remaining)}" if remaining else "; no untried option remains"
    )


def _after_failed_ect(ctx: SuggestionInput) -> str:
    remaining = remaining_neuromodulation(ctx)
    if not remaining:
        return (
            "Review the options with a neuromodulation specialist "
            "(ECT, rTMS, esketamine and IV ketamine have failed)"
        )
    last = remaining[-1]
    options = f"{', '.join(remaining[:-1])} or {last}" if len(remaining) > 1 else last
    return f"Consider referral for {options} (an adequate ECT course already failed)"


def _substance_caution(ctx: SuggestionInput) -> str | None:
    found = [d for d in ctx.record.diagnoses if d.category == "substance-use" and d.active]
    return ", ".join(f"{d.code} ({d.resource})" for d in found) or None


_CAUTIONS: dict[str, Callable[[SuggestionInput], str | None]] = {
    "bipolar-on-record": _bipolar_caution,
    "ect-already-failed": _ect_caution,
    "substance-use-on-record": _substance_caution,
}
