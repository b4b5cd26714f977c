"""Assessment -> the JSON summary of assessment-contract.md. Keys and codes are stable."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from .fhir.values import json_number
from .model import AssessedTrial, ScorePoint, Suggestion
from .staging.dm_trd import WSAS_BANDS, wsas_level

if TYPE_CHECKING:
    from .assessment import Assessment


CONTRACT_VERSION = "1"


def summarise(a: Assessment) -> dict[str, Any]:
    return {
        "contract": CONTRACT_VERSION,
        "patient": a.patient,
        "as_of": a.as_of.isoformat(),
        "episode": {
            "start": a.episode.start.isoformat() if a.episode.start else None,
            "months": a.episode.months,
            "source": a.episode.source,
        },
        "trials": [trial_json(t) for t in a.trials],
        "stages": {name: r.value for name, r in a.stages.items()},
        "upper_bound": dict(a.upper_bound),
        "findings": [
            {
                "code": f.code,
                "severity": f.severity,
                "evidence": list(f.evidence),
                "source": f.source,
                "detail": f.detail,
            }
            for f in a.findings
        ],
        "suggestions": [suggestion_json(s) for s in a.suggestions],
        "functional": functional_json(a),
        "explanations": {
            name: {"text": r.explanation, "source": r.source, "trials": list(r.counted)}
            for name, r in a.stages.items()
        },
        "warnings": [
            {"code": w.code, "diagnostic": w.diagnostic, "location": w.location}
            for w in a.record.warnings
        ],
        **deceased_json(a),
    }


def suggestion_json(s: Suggestion) -> dict[str, Any]:
    """A suggestion; `cautions` always present (possibly empty), `plan` the ordered conditional
    steps of a sequential plan (empty for other suggestions)."""
    return {
        "code": s.code,
        "text": s.text,
        "reason": s.reason,
        "source": s.source,
        "cautions": [{"code": c.code, "text": c.text, "source": c.source} for c in s.cautions],
        "plan": [
            {
                "step": p.step,
                "code": p.code,
                "text": p.text,
                "timing": p.timing,
                "condition": p.condition,
                "source": p.source,
            }
            for p in s.plan
        ],
    }


def functional_json(a: Assessment) -> list[dict[str, Any]]:
    """The latest value of each functional rating on record (any date up to the as-of date),
    with the WSAS band of Mundt et al. 2002; other scales have no sourced band (null)."""
    latest: dict[str, Any] = {}
    for r in a.record.functional:  # sorted by day
        latest[r.scale] = r
    cfg = a.settings
    out = []
    for scale in sorted(latest):
        r = latest[scale]
        band = WSAS_BANDS[wsas_level(r.value, cfg)] if scale == "WSAS" else None
        out.append(
            {
                "scale": scale,
                "value": number(r.value),
                "date": r.day.isoformat(),
                "band": band,
                "resource": r.resource,
            }
        )
    return out


def deceased_json(a: Assessment) -> dict[str, Any]:
    """`deceased` (a contract extension): present only when the record says the patient has died;
    the date of death, or null when the record gives none."""
    if not a.record.deceased:
        return {}
    return {"deceased": a.record.death.isoformat() if a.record.death else None}


def trial_json(t: AssessedTrial) -> dict[str, Any]:
    tr, out = t.trial, t.outcome
    days_at = tr.days_at_adequate_dose
    extra: dict[str, Any] = {}
    if tr.assumptions:  # present only when the trial rests on an assumed end
        extra["assumptions"] = list(tr.assumptions)
    return {
        "id": tr.id,
        "kind": tr.kind,
        "agent": tr.agent,
        "class": tr.drug_class,
        "start": tr.start.isoformat(),
        "end": last_day(tr.end).isoformat(),
        "ongoing": tr.ongoing,
        "episode": "current" if tr.in_current_episode else "earlier",
        "max_daily_dose_mg": number(tr.max_daily_dose_mg),
        "adequate_dose_mg": number(tr.adequate_dose_mg),
        "weeks_at_adequate_dose": None if days_at is None else round(days_at / 7, 1),
        "sessions": tr.sessions,
        "modality": tr.modality,
        "laterality": tr.laterality,
        "augmented_by": list(tr.augmented_by),
        "combined_with": list(tr.combined_with),
        "dose_optimised": tr.dose_optimised,
        "dose_steps": [
            {
                "start": s.start.isoformat(),
                "end": last_day(s.end).isoformat(),
                "daily_dose_mg": number(s.daily_dose_mg),
            }
            for s in tr.dose_steps
        ],
        "adequacy": t.adequacy.status,
        "reasons": list(t.adequacy.reasons),
        "outcome": out.status,
        "evidence": out.evidence,
        "outcome_basis": out.basis,
        "baseline_score": score_json(out.baseline),
        "end_score": score_json(out.end),
        "adherence": {
            "known": tr.adherence_known,
            "pdc": tr.pdc,
            "non_adherence": list(tr.non_adherence),
        },
        "matched_by": tr.matched_by,
        "resources": sorted(
            {
                *tr.resources,
                *(out.baseline.resources if out.baseline else ()),
                *(out.end.resources if out.end else ()),
            }
        ),
        **extra,
    }


def last_day(end: date) -> date:
    return end - timedelta(days=1)


def score_json(point: ScorePoint | None) -> dict[str, Any] | None:
    if point is None:
        return None
    return {"scale": point.scale, "value": number(point.value), "date": point.day.isoformat()}


def number(value: float | None) -> float | int | None:
    """JSON numbers: whole numbers as ints, others rounded to 2 places (stable bytes)."""
    return None if value is None else json_number(value)
