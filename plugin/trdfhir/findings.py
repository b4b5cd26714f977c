"""Findings: pseudo-resistance, misdiagnosis, medical mimics, complexity, course patterns, safety.

Each finding names its evidence (resource references); severity, text and source come from
`mappings/findings.json`. One finding per code, its detail naming every case."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from .mappings import Mappings
from .model import AssessedTrial, Episode, Finding, Record, Score
from .patterns import double_depression, latest_trial, mania_switches
from .settings import Settings
from .trials import not_taken_claims

CODE_ORDER = (
    "safety-item9 inadequate-dose inadequate-duration unknown-dose non-adherence intolerance "
    "possible-bipolar possible-adhd possible-ptsd hypothyroidism tsh-not-checked sleep-apnea "
    "vitamin-d-deficiency vitamin-d-not-checked comorbid-anxiety substance-use "
    "borderline-personality metabolic-inducer loss-of-effect rechallenge-failure "
    "behavioural-toxicity double-depression residual-symptoms "
    "no-psychotherapy-trial no-outcome-measure chronic-episode unmapped-code"
).split()
_SEVERITY_RANK = {"urgent": 0, "warning": 1, "info": 2}
_LAB_NAMES = {"tsh": "TSH", "vitamin-d": "25-OH vitamin D"}


@dataclass(frozen=True, kw_only=True)
class FindingInput:
    record: Record
    episode: Episode
    trials: Sequence[AssessedTrial]  # current episode
    earlier: Sequence[AssessedTrial]
    maps: Mappings
    settings: Settings
    as_of: date
    loss_of_effect: Mapping[str, tuple[Score, Score]] = field(default_factory=dict)
    rechallenge: Mapping[str, AssessedTrial] = field(default_factory=dict)  # current id -> earlier

    @property
    def all_trials(self) -> tuple[AssessedTrial, ...]:
        return (*self.earlier, *self.trials)


def find_all(ctx: FindingInput) -> list[Finding]:
    raw: list[tuple[str, tuple[str, ...], str]] = []  # (code, evidence, detail)
    for rule in _RULES:
        raw.extend(rule(ctx))
    findings = []
    for code, evidence, detail in raw:
        info = ctx.maps.findings[code]
        findings.append(
            Finding(
                code=code,
                severity=info.severity,  # type: ignore[arg-type]
                evidence=tuple(sorted(set(evidence))),
                source=info.source,
                detail=detail,
            )
        )
    return sorted(
        findings, key=lambda f: (_SEVERITY_RANK[f.severity], CODE_ORDER.index(f.code), f.detail)
    )


Raw = list[tuple[str, tuple[str, ...], str]]


def _in_episode(ctx: FindingInput, day: date) -> bool:
    start = ctx.episode.start
    return start is None or day >= start - timedelta(days=ctx.settings.episode_start_grace_days)


def _one(code: str, evidence: Sequence[str], details: Sequence[str]) -> Raw:
    return [(code, tuple(evidence), "; ".join(details))] if details else []


def _safety(ctx: FindingInput) -> Raw:
    phq_days = [s.day for s in ctx.record.scores if s.scale == "PHQ-9"]
    phq_days += [p.day for p in ctx.record.item9]
    if not phq_days:
        return []
    latest = max(phq_days)
    hits = [p for p in ctx.record.item9 if p.day == latest and p.value > 0]
    totals = [
        r for s in ctx.record.scores if s.scale == "PHQ-9" and s.day == latest for r in s.resources
    ]
    return _one(
        "safety-item9",
        [r for p in hits for r in p.resources] + totals,
        [f"PHQ-9 item 9 = {p.value:g} on {p.day.isoformat()}" for p in hits],
    )


def _antidepressants(ctx: FindingInput) -> list[AssessedTrial]:
    return [t for t in ctx.trials if t.trial.kind == "antidepressant"]


def _pseudo_resistance(ctx: FindingInput) -> Raw:
    out: Raw = []
    ads = _antidepressants(ctx)
    low = [t for t in ads if "dose-below-minimum" in t.adequacy.reasons]
    out += _one(
        "inadequate-dose",
        [r for t in low for r in t.trial.resources],
        [
            f"{t.trial.agent} max {_mg(t.trial.max_daily_dose_mg)} mg/day "
            f"(minimum {_mg(t.trial.adequate_dose_mg)})"
            for t in low
        ],
    )
    short = [t for t in ads if "too-short" in t.adequacy.reasons and not t.trial.ongoing]
    out += _one(
        "inadequate-duration",
        [r for t in short for r in t.trial.resources],
        [
            f"{t.trial.agent} {t.trial.days_at_adequate_dose or 0} days at adequate dose "
            f"(needs {ctx.settings.antidepressant_adequate_days})"
            for t in short
        ],
    )
    unknown = [t for t in ads if t.adequacy.status == "indeterminate"]
    out += _one(
        "unknown-dose",
        [r for t in unknown for r in t.trial.resources],
        [f"{t.trial.agent}: {', '.join(t.adequacy.reasons)} not recorded" for t in unknown],
    )
    poor = [t for t in ctx.trials if t.trial.non_adherence]
    never = [
        e
        for e, host in not_taken_claims(ctx.record, [t.trial for t in ctx.all_trials])
        if host is None and _in_episode(ctx, e.start)
    ]
    out += _one(
        "non-adherence",
        [*(r for t in poor for r in t.trial.non_adherence), *(e.resource for e in never)],
        [
            f"{t.trial.agent}" + (f" (PDC {t.trial.pdc:.0%})" if t.trial.pdc is not None else "")
            for t in poor
        ]
        + [f"{e.ingredient} recorded as not taken" for e in never],
    )
    intolerant = [t for t in ctx.trials if t.outcome.status == "intolerance"]
    out += _one(
        "intolerance",
        [r for t in intolerant for r in t.trial.resources],
        [f"{t.trial.agent} stopped after {t.trial.days} days" for t in intolerant],
    )
    return out


def _diagnoses(ctx: FindingInput) -> Raw:
    out: Raw = []
    table = (
        ("possible-bipolar", "bipolar", False),
        ("possible-adhd", "adhd", False),
        ("possible-ptsd", "ptsd", False),
        ("hypothyroidism", "hypothyroidism", False),
        ("sleep-apnea", "sleep-apnea", False),
        ("vitamin-d-deficiency", "vitamin-d-deficiency", False),
        ("comorbid-anxiety", "anxiety", True),
        ("substance-use", "substance-use", True),
        ("borderline-personality", "borderline", True),
    )
    labs = _lab_findings(ctx)
    for code, category, active_only in table:
        found = [
            d
            for d in ctx.record.diagnoses
            if d.category == category and (d.active or not active_only)
        ]
        evidence = [d.resource for d in found]
        details = [f"{d.code}" + ("" if d.active else " (inactive)") for d in found]
        if code == "possible-bipolar":
            mdq = [m for m in ctx.record.markers if m.kind == "mdq-positive"]
            evidence += [m.resource for m in mdq]
            details += [f"positive MDQ on {m.day.isoformat()}" for m in mdq]
        extra_evidence, extra_detail = labs.get(code, ([], []))
        out += _one(code, evidence + extra_evidence, details + extra_detail)
    for test, code in (("tsh", "tsh-not-checked"), ("vitamin-d", "vitamin-d-not-checked")):
        since = ctx.as_of - timedelta(days=ctx.settings.lab_lookback_days)
        if not any(lab.test == test and lab.day >= since for lab in ctx.record.labs):
            out.append((code, (), f"no result since {since.isoformat()}"))
    return out


def _lab_findings(ctx: FindingInput) -> dict[str, tuple[list[str], list[str]]]:
    out: dict[str, tuple[list[str], list[str]]] = {}
    for test, code in (("tsh", "hypothyroidism"), ("vitamin-d", "vitamin-d-deficiency")):
        results = [lab for lab in ctx.record.labs if lab.test == test]
        if results:
            latest = max(results, key=lambda lab: lab.day)
            bad = (
                latest.value > ctx.settings.tsh_upper
                if test == "tsh"
                else latest.value < ctx.settings.vitamin_d_min
            )
            if bad:
                unit = "mIU/L" if test == "tsh" else "ng/mL"
                out[code] = (
                    [latest.resource],
                    [f"{_LAB_NAMES[test]} {latest.value:g} {unit} on {latest.day.isoformat()}"],
                )
    return out


def _complexity(ctx: FindingInput) -> Raw:
    ads = _antidepressants(ctx)
    pairs = [
        (e, t)
        for e in ctx.record.exposures
        if e.role == "inducer"
        for t in ads
        if e.start < t.trial.end and (e.end or e.start + timedelta(days=1)) > t.trial.start
    ]
    return _one(
        "metabolic-inducer",
        [r for e, t in pairs for r in (e.resource, *t.trial.resources)],
        sorted({f"{e.ingredient} with {t.trial.agent}" for e, t in pairs}),
    )


def _course(ctx: FindingInput) -> Raw:
    out: Raw = []
    by_id = {t.trial.id: t for t in ctx.trials}
    lost = [(by_id[i], pair) for i, pair in ctx.loss_of_effect.items()]
    out += _one(
        "loss-of-effect",
        [r for t, (a, b) in lost for r in (*t.trial.resources, *a.resources, *b.resources)],
        [
            f"{t.trial.agent}: {a.scale} {a.value:g} on {a.day.isoformat()}, then "
            f"{b.value:g} on {b.day.isoformat()} while still on it"
            for t, (a, b) in lost
        ],
    )
    again = [(by_id[i], e) for i, e in ctx.rechallenge.items()]
    out += _one(
        "rechallenge-failure",
        [r for t, e in again for r in (*t.trial.resources, *e.trial.resources)],
        [
            f"{t.trial.agent} worked in {e.trial.start.year} ({e.outcome.status}) and failed "
            "when restarted"
            for t, e in again
        ],
    )
    latest = latest_trial(ctx.trials)
    if latest and latest.outcome.status in ("response", "partial"):
        out += _one(
            "residual-symptoms",
            [
                *latest.trial.resources,
                *(latest.outcome.end.resources if latest.outcome.end else ()),
            ],
            [f"{latest.trial.agent}: {latest.outcome.basis}"],
        )
    return out


def _gaps(ctx: FindingInput) -> Raw:
    out: Raw = []
    therapy = [t for t in (*ctx.earlier, *ctx.trials) if t.trial.kind == "psychotherapy"]
    if not any(t.adequacy.status == "adequate" for t in therapy):
        detail = (
            f"{len(therapy)} course(s) on record, none adequate"
            if therapy
            else "no psychotherapy on record"
        )
        out.append(
            ("no-psychotherapy-trial", tuple(r for t in therapy for r in t.trial.resources), detail)
        )
    unmeasured = [
        t
        for t in ctx.trials
        if t.trial.kind in ("antidepressant", "psychotherapy")
        and (t.outcome.baseline is None or t.outcome.end is None)
    ]
    out += _one(
        "no-outcome-measure",
        [r for t in unmeasured for r in t.trial.resources],
        [
            f"{t.trial.agent}: no "
            + ("baseline" if t.outcome.baseline is None else "end")
            + " score"
            for t in unmeasured
        ],
    )
    months = ctx.episode.months
    if months is not None and months > ctx.settings.chronic_months:
        out.append(
            (
                "chronic-episode",
                ctx.episode.resources,
                f"episode of {months} months since {ctx.episode.start}",
            )
        )
    seen: dict[tuple[str | None, str | None], list[str]] = {}
    labels: dict[tuple[str | None, str | None], str | None] = {}
    for u in ctx.record.unmapped:
        seen.setdefault((u.system, u.code), []).append(u.resource)
        labels.setdefault((u.system, u.code), u.display)
    for (system, code), refs in sorted(seen.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1]))):
        label = labels[(system, code)]
        out.append(
            (
                "unmapped-code",
                tuple(refs),
                f"{system or 'no system'}|{code or 'no code'}" + (f" ({label})" if label else ""),
            )
        )
    return out


def _mg(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


# Behavioural toxicity kinds read from diagnoses on record (category -> kind); the switch to
# (hypo)mania is timed against antidepressant starts and dose rises (patterns.mania_switches).
_TOXICITY = {
    "antidepressant-withdrawal": "withdrawal",
    "paradoxical-effect": "paradoxical-effect",
    "post-withdrawal": "post-withdrawal",
}
_TOXICITY_LABEL = {
    "withdrawal": "withdrawal or discontinuation syndrome",
    "paradoxical-effect": "paradoxical effect",
    "post-withdrawal": "persistent post-withdrawal disorder",
    "switch-to-mania": "switch to (hypo)mania",
}


def _dated(day: date | None) -> str:
    return f" on {day.isoformat()}" if day else " (undated)"


def _behavioural_toxicity(ctx: FindingInput) -> Raw:
    """Guidi & Fava 2024: behavioural toxicity other than loss of effect and rechallenge failure
    (their own findings). Evidence: the resources and one `kind:<kind>` entry per kind found."""
    evidence: list[str] = []
    details: list[str] = []
    for d in ctx.record.diagnoses:
        kind = _TOXICITY.get(d.category)
        if kind:
            evidence += [d.resource, f"kind:{kind}"]
            details.append(f"{_TOXICITY_LABEL[kind]}: {d.code}{_dated(d.onset or d.recorded)}")
    weeks = ctx.settings.switch_mania_weeks
    for d, day, event_day, what in mania_switches(ctx.record, ctx.all_trials, ctx.settings):
        evidence += [d.resource, "kind:switch-to-mania"]
        gap = (day - event_day).days
        details.append(
            f"switch to (hypo)mania: {d.code} on {day.isoformat()}, {gap // 7} weeks {gap % 7} "
            f"days after {what} on {event_day.isoformat()} (within {weeks} weeks)"
        )
    return _one("behavioural-toxicity", evidence, details)


def _double_depression(ctx: FindingInput) -> Raw:
    found = double_depression(ctx.record)
    if found is None:
        return []
    dysthymia, mdd = found
    return _one(
        "double-depression",
        [d.resource for d in (*dysthymia, *mdd)],
        [
            f"{', '.join(d.code for d in dysthymia)} with a current major depressive episode "
            f"({', '.join(d.code for d in mdd)})"
        ],
    )


_RULES = (
    _safety,
    _pseudo_resistance,
    _diagnoses,
    _complexity,
    _course,
    _behavioural_toxicity,
    _double_depression,
    _gaps,
)
