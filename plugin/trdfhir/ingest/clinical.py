"""Conditions -> diagnoses; Procedures -> sessions (psychotherapy, ECT, rTMS, esketamine,
IV ketamine); CarePlan activities of delivered psychotherapy -> courses with unknown sessions.

A Procedure or CarePlan whose reason (`reasonCode`, `reasonReference`; CarePlan `addresses`)
names another condition than depression (ADHD, PTSD, insomnia...) is not a depression treatment:
it is left out with a warning `other-indication`. A reason that names depression, or no reason,
keeps it.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from ..fhir.values import codings, concept_text, iter_concepts, obj, parse_date, ref_of
from ..mappings import Mappings
from ..model import Course, DataWarning, Diagnosis, Session
from .bundle import ResourceSet

_DEPRESSION = {"mdd", "mdd-remission", "trd"}  # condition categories (mappings/conditions.json)
_DELIVERED = {"completed", "in-progress"}  # CarePlan activity statuses of therapy given
_PLAN_USABLE = {None, "active", "completed", "on-hold"}  # CarePlan statuses read

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
        other = other_indication(r, ("reasonCode",), ("reasonReference",), rs, maps)
        if other is not None:
            warnings.append(_other_warning(ref_of(r), other))
            continue
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


def other_indication(
    r: dict[str, Any],
    code_keys: tuple[str, ...],
    ref_keys: tuple[str, ...],
    rs: ResourceSet,
    maps: Mappings,
) -> str | None:
    """The name of the other condition a resource's reasons give, when none of them is
    depression; None when a reason is depression or no reason can be read."""
    concepts = [c for key in code_keys for c in iter_concepts(r.get(key))]
    for key in ref_keys:
        for ref in r.get(key) or []:
            if not isinstance(ref, dict):
                continue
            target = rs.resolve(ref, r)
            if target is not None and isinstance(target.get("code"), dict):
                concepts.append(target["code"])
            elif isinstance(ref.get("display"), str):
                concepts.append({"text": ref["display"]})
    names: list[str] = []
    for concept in concepts:
        categories = [
            rule.category
            for c in codings(concept)
            if (rule := maps.classify_condition(c.get("system"), c.get("code"))) is not None
        ]
        text = concept_text(concept)
        if any(cat in _DEPRESSION for cat in categories) or "depress" in text.lower():
            return None
        names.append(categories[0] if categories else text or "an unnamed condition")
    return names[0] if names else None


def _other_warning(location: str, other: str) -> DataWarning:
    return DataWarning(
        code="other-indication",
        diagnostic=f"its reason is another condition ({other[:80]}), not depression; "
        "not counted as a depression treatment",
        location=location,
        reason="other-indication",
    )


def read_careplans(
    rs: ResourceSet, maps: Mappings, as_of: date
) -> tuple[list[Course], list[DataWarning]]:
    """Psychotherapy a CarePlan records as delivered (activity status completed or in-progress):
    a course over the activity's scheduled period, else the CarePlan's period, with its sessions
    unknown (warning `unknown-sessions`). Activities of one CarePlan over the same period are one
    course (Synthea lists CBT and psychodynamic-interpersonal therapy side by side), with the
    modality of the first. Planned or cancelled activities are not treatment."""
    courses: list[Course] = []
    warnings: list[DataWarning] = []
    for r, _loc in rs.resources:
        if r.get("resourceType") != "CarePlan" or r.get("status") not in _PLAN_USABLE:
            continue
        periods: set[tuple[date, date | None]] = set()
        for i, activity in enumerate(r.get("activity") or []):
            detail = obj(obj(activity).get("detail"))
            keys = [(str(c.get("system")), str(c.get("code"))) for c in codings(detail.get("code"))]
            known = [maps.procedures[k] for k in keys if k in maps.procedures]
            if not known or known[0].kind != "psychotherapy":
                continue
            if detail.get("status") not in _DELIVERED:
                continue
            where = f"{ref_of(r)}.activity[{i}]"
            other = other_indication(
                {**detail, "addresses": r.get("addresses")},
                ("reasonCode",),
                ("reasonReference", "addresses"),
                rs,
                maps,
            )
            if other is not None:
                warnings.append(_other_warning(where, other))
                continue
            period = obj(detail.get("scheduledPeriod")) or obj(r.get("period"))
            start, _ = parse_date(period.get("start"))
            end, _ = parse_date(period.get("end"))
            if start is None or start > as_of:
                warnings.append(
                    DataWarning(
                        code="missing-date" if start is None else "after-as-of",
                        diagnostic="psychotherapy activity without a start on or before the "
                        "as-of date; skipped",
                        location=where,
                    )
                )
                continue
            stop = None if end is None else max(end, start) + timedelta(days=1)
            if (start, stop) in periods:
                continue  # another therapy of the same plan over the same period: one course
            periods.add((start, stop))
            courses.append(
                Course(
                    kind="psychotherapy",
                    modality=next((p.modality for p in known if p.modality), None),
                    start=start,
                    end=stop,
                    resource=ref_of(r),
                )
            )
            warnings.append(
                DataWarning(
                    code="unknown-sessions",
                    diagnostic="psychotherapy recorded as a CarePlan activity: the number of "
                    "sessions is unknown, so its adequacy is indeterminate",
                    location=where,
                    reason="careplan-sessions",
                )
            )
    return courses, warnings
