"""Findings as Observations (profile trd-finding-observation), and an active Flag for every urgent
finding so it shows where clinicians look first (banner / alert lists).

A finding's interpretation carries its severity; an urgent one also the HL7 code AA (critical
abnormal), a warning A (abnormal). The Flag's business identifier is a hash of the patient, the
finding code and its evidence: the same evidence never raises a second Flag, and a Flag the
clinician has closed stays closed until new evidence arrives.
"""

from __future__ import annotations

from ..model import Finding
from .codes import CONCEPTS, coding, concept
from .common import (
    Json,
    WriteContext,
    Written,
    assessment_identifier,
    category,
    note,
    score_refs,
)
from .ids import ASSESSMENT_SYSTEM, FLAG_SYSTEM, INTERPRETATION, PROFILE_FINDING, digest, identifier

FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
FLAG_DETAIL = "http://hl7.org/fhir/StructureDefinition/flag-detail"
HL7_SEVERITY = {"urgent": ("AA", "Critical abnormal"), "warning": ("A", "Abnormal")}


def interpretation(severity: str) -> list[Json]:
    codings = [coding(f"severity-{severity}")]
    if severity in HL7_SEVERITY:
        code, display = HL7_SEVERITY[severity]
        codings.insert(0, {"system": INTERPRETATION, "code": code, "display": display})
    return [{"coding": codings, "text": severity}]


def finding_observation(ctx: WriteContext, f: Finding) -> Written:
    content = [f.code, f.severity, list(f.evidence), f.source, f.detail]
    ident = ctx.business_id("finding", f.code, content)
    others = [e for e in f.evidence if not e.startswith(("Observation/", "QuestionnaireResponse/"))]
    resource: Json = {
        "resourceType": "Observation",
        "meta": {"profile": [PROFILE_FINDING]},
        "identifier": assessment_identifier(ident),
        "status": "preliminary",
        "category": category("survey", "Survey"),
        "code": concept(f.code),
        "subject": {"reference": ctx.patient},
        "effectiveDateTime": ctx.as_of.isoformat(),
        "issued": ctx.now,
        "valueString": f.detail or CONCEPTS.get(f.code, (f.code,))[0],
        "interpretation": interpretation(f.severity),
        "note": note(f"Evidence: {', '.join(others)}" if others else ""),
        "method": {"text": f.source},
        "device": ctx.device,
    }
    if not resource["note"]:
        del resource["note"]
    derived = score_refs(f.evidence)
    if derived:
        resource["derivedFrom"] = derived
    return Written(resource=resource, system=ASSESSMENT_SYSTEM, value=ident)


def flag(ctx: WriteContext, f: Finding, observation: Written) -> Written:
    value = digest("flag", ctx.patient, f.code, sorted(f.evidence) or ctx.as_of.isoformat())
    display = CONCEPTS.get(f.code, (f.code,))[0]
    resource: Json = {
        "resourceType": "Flag",
        "extension": [{"url": FLAG_DETAIL, "valueReference": observation.reference}],
        "identifier": [identifier(FLAG_SYSTEM, value)],
        "status": "active",
        "category": [
            {"coding": [{"system": FLAG_CATEGORY, "code": c, "display": c.capitalize()}]}
            for c in ("clinical", "safety")
        ],
        "code": concept(f.code, f"{display}: {f.detail}" if f.detail else display),
        "subject": {"reference": ctx.patient},
        "period": {"start": ctx.as_of.isoformat()},
        "author": ctx.device,
    }
    return Written(resource=resource, system=FLAG_SYSTEM, value=value)


def finding_resources(ctx: WriteContext, findings: tuple[Finding, ...]) -> list[Written]:
    out: list[Written] = []
    for f in findings:
        obs = finding_observation(ctx, f)
        out.append(obs)
        if f.severity == "urgent":
            out.append(flag(ctx, f, obs))
    return out
