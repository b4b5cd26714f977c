"""Adequacy of each trial: adequate, inadequate (every reason) or indeterminate (what is missing).
See docs/rules.md "Adequacy"; thresholds are settings."""

from __future__ import annotations

from collections.abc import Mapping

from .model import Adequacy, Trial
from .settings import Settings

ADEQUATE = Adequacy(status="adequate")


def judge(trial: Trial, by_id: Mapping[str, Trial], settings: Settings) -> Adequacy:
    if trial.kind == "antidepressant":
        return _antidepressant(trial, settings)
    if trial.kind == "augmentation":
        return _augmentation(trial, by_id, settings)
    if trial.kind == "psychotherapy":
        return _psychotherapy(trial, settings)
    need = {
        "ect": settings.ect_min_sessions,
        "rtms": settings.rtms_min_sessions,
        "esketamine": settings.esketamine_min_sessions,
        "ketamine": settings.ketamine_min_sessions,
    }[trial.kind]
    if (trial.sessions or 0) >= need:
        return ADEQUATE
    return Adequacy(status="inadequate", reasons=("too-few-sessions",))


def _antidepressant(trial: Trial, settings: Settings) -> Adequacy:
    need = settings.antidepressant_adequate_days
    if trial.adequate_dose_mg is None:
        return Adequacy(status="indeterminate", reasons=("dose-threshold",))
    if (
        trial.stop_reason == "adverse-effect"
        and not trial.ongoing
        and trial.days < settings.intolerance_max_days
    ):
        return Adequacy(status="inadequate", reasons=("stopped-for-intolerance",))
    reasons = ["non-adherence"] if trial.non_adherence else []
    days_at = trial.days_at_adequate_dose or 0
    unknown = trial.days_unknown_dose
    if not trial.duration_known:
        return (
            Adequacy(status="inadequate", reasons=tuple(reasons))
            if reasons
            else Adequacy(status="indeterminate", reasons=("duration",))
        )
    if days_at >= need:
        return Adequacy(status="inadequate", reasons=tuple(reasons)) if reasons else ADEQUATE
    if days_at + unknown >= need and not reasons:
        return Adequacy(status="indeterminate", reasons=("dose",))
    max_dose = trial.max_daily_dose_mg
    on_drug = sum((s.end - s.start).days for s in trial.dose_steps)
    if max_dose is not None and max_dose < trial.adequate_dose_mg:
        reasons.append("dose-below-minimum")
    if on_drug < need or (max_dose is not None and max_dose >= trial.adequate_dose_mg):
        reasons.append("too-short")
    if not reasons:  # every known day was below the dose, and the rest is unknown
        reasons.append("dose-below-minimum")
    return Adequacy(status="inadequate", reasons=tuple(dict.fromkeys(reasons)))


def _augmentation(trial: Trial, by_id: Mapping[str, Trial], settings: Settings) -> Adequacy:
    if trial.attached_to is None:
        reason = "too-short" if trial.augmentation_overlap_days else "no-concurrent-antidepressant"
        return Adequacy(status="inadequate", reasons=(reason,))
    host = _antidepressant(by_id[trial.attached_to], settings)
    if host.status == "adequate":
        return ADEQUATE
    if host.status == "indeterminate":
        return Adequacy(status="indeterminate", reasons=("antidepressant-adequacy",))
    return Adequacy(status="inadequate", reasons=("no-adequate-antidepressant",))


def _psychotherapy(trial: Trial, settings: Settings) -> Adequacy:
    if trial.sessions is None:  # a course recorded without its sessions (CarePlan activity)
        if trial.evidence_based is False:
            return Adequacy(status="inadequate", reasons=("not-evidence-based",))
        return Adequacy(status="indeterminate", reasons=("sessions",))
    enough = (trial.sessions or 0) >= settings.conway_psychotherapy_min_sessions
    reasons = [] if enough else ["too-few-sessions"]
    if trial.evidence_based is False:
        reasons.append("not-evidence-based")
    if reasons:
        return Adequacy(status="inadequate", reasons=tuple(reasons))
    if trial.evidence_based is None:
        return Adequacy(status="indeterminate", reasons=("modality",))
    return ADEQUATE
