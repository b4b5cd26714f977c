"""Conditions -> diagnoses; Procedures -> sessions (psychotherapy, ECT, rTMS, esketamine,
IV ketamine)."""

from __future__ import annotations

from datetime import date
from typing import Any

from ..fhir.values import codings, obj, parse_date, ref_of
from ..mappings import Mappings
from ..model import DataWarning, Diagnosis, Session
from .bundle import ResourceSet

_INACTIVE = {"inactive", "remission", "resolved"}
_NOT_TRUE = {"refuted", "entered-in-error"}
_SHORT = {
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
    "http://hl7.org/fhir/sid/icd-10": "ICD-10",
    "http://snomed.info/sct": "SNOMED",
    "http://trd-fhir.org/fhir/CodeSystem/local": "local",
}


def _status(resource: dict[str, Any], key: str) -> str | None:
    codes = [c.get("code") for c in codings(resource.get(key))]
    return str(codes[0]) if codes else None


def read_conditions(rs: ResourceSet, maps: Mappings, as_of: date) -> list[Diagnosis]:
    out: list[Diagnosis] = []
    for r, _loc in rs.resources:
        if r.get("resourceType") != "Condition" or _status(r, "verificationStatus") in _NOT_TRUE:
            continue
        onset_period = obj(r.get("onsetPeriod"))
        onset, _ = parse_date(r.get("onsetDateTime") or onset_period.get("start"))
        recorded, _ = parse_date(r.get("recordedDate"))
        if (onset or recorded or date.min) > as_of:
            continue
        for coding in codings(r.get("code")):
            system, code = coding.get("system"), coding.get("code")
            rule = maps.classify_condition(system, code)
            if rule is None:
                continue
            out.append(
                Diagnosis(
                    category=rule.category,
                    code=f"{_SHORT.get(str(system), system)} {code}",
                    onset=onset,
                    recorded=recorded,
                    active=_status(r, "clinicalStatus") not in _INACTIVE,
                    severity=rule.severity,
                    psychotic=rule.psychotic,
                    resource=ref_of(r),
                    manic=rule.manic,
                )
            )
            break
    return out


def undated_episode_warnings(diagnoses: list[Diagnosis]) -> list[DataWarning]:
    """A (hypo)manic episode without onset or recorded date cannot be placed after an
    antidepressant start or dose rise: a warning, not a behavioural-toxicity finding."""
    return [
        DataWarning(
            code="missing-date",
            diagnostic=f"{d.code}: (hypo)manic episode without onset or recorded date; "
            "a switch to (hypo)mania cannot be judged",
            location=f"{d.resource}.onset[x]",
            reason="undated-condition",
        )
        for d in diagnoses
        if d.manic and d.onset is None and d.recorded is None
    ]


def read_procedures(
    rs: ResourceSet, maps: Mappings, as_of: date
) -> tuple[list[Session], list[DataWarning]]:
    sessions: list[Session] = []
    warnings: list[DataWarning] = []
    for r, _loc in rs.resources:
        if r.get("resourceType") != "Procedure" or r.get("status") not in ("completed", None):
            continue
        keys = [(str(c.get("system")), str(c.get("code"))) for c in codings(r.get("code"))]
        known = [maps.procedures[k] for k in keys if k in maps.procedures]
        if not known:
            continue  # not a depression treatment
        info = known[0]
        # A session may carry a CPT code and a modality or laterality code: take the specific one.
        modality = next((p.modality for p in known if p.modality), None)
        laterality = next((p.laterality for p in known if p.laterality), None)
        period = obj(r.get("performedPeriod"))
        day, _ = parse_date(r.get("performedDateTime") or period.get("start"))
        if day is None:
            warnings.append(
                DataWarning(
                    code="missing-date",
                    diagnostic="procedure without a performed date; skipped",
                    location=ref_of(r),
                )
            )
            continue
        if day > as_of:
            warnings.append(
                DataWarning(
                    code="after-as-of",
                    diagnostic=f"performed {day.isoformat()}, after the as-of date; ignored",
                    location=ref_of(r),
                )
            )
            continue
        sessions.append(
            Session(
                kind=info.kind,  # type: ignore[arg-type]
                day=day,
                modality=modality,
                laterality=laterality,  # type: ignore[arg-type]
                resource=ref_of(r),
            )
        )
    return sessions, warnings
