"""The suggestions as one draft CarePlan (profile trd-suggestion-careplan): intent `proposal`,
one activity per suggestion (its cautions as `progress` notes), then, for a suggestion with a
sequential plan (Guidi & Fava 2024 Table 4), one activity per step in order, each conditional on
the previous one and timed relative to it; `supportingInfo` pointing at the stage Observations.

One current draft per patient: its identifier is stable per patient and it is written with a
conditional update on that identifier and `status=draft`, so a changed assessment replaces the
draft in place, while a plan the clinician has already activated is never overwritten.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from ..model import Diagnosis, Episode, PlanStep, Suggestion
from .codes import concept
from .common import Json, WriteContext, Written
from .ids import (
    CAREPLAN_SYSTEM,
    CONTENT_SYSTEM,
    PROFILE_CAREPLAN,
    SOURCE_EXTENSION,
    digest,
    identifier,
    search,
)

# Suggestions that a clinician would carry out by ordering something: activity.detail.kind.
SERVICE_REQUESTS = frozenset(
    {
        "psychotherapy-trial",
        "screen-misdiagnosis",
        "medical-workup",
        "neuromodulation-referral",
        "sequential-psychotherapy",
        "loss-of-effect-psychotherapy",
    }
)


def mdd_condition(diagnoses: Sequence[Diagnosis], episode: Episode) -> str | None:
    """The MDD Condition the plan addresses: the one dating the episode, else the latest active
    MDD Condition, else the latest MDD Condition."""
    mdd = [d for d in diagnoses if d.category == "mdd" and d.resource.startswith("Condition/")]
    if not mdd:
        return None
    dating = [r for r in episode.resources if r in {d.resource for d in mdd}]
    if dating:
        return dating[0]
    ranked = sorted(mdd, key=lambda d: (d.active, d.onset or d.recorded or date.min, d.resource))
    return ranked[-1].resource


def activity(s: Suggestion) -> Json:
    detail: Json = {
        "extension": [{"url": SOURCE_EXTENSION, "valueString": s.source}],
    }
    if s.code in SERVICE_REQUESTS:
        detail["kind"] = "ServiceRequest"
    detail |= {
        "code": concept(s.code),
        "reasonCode": [{"text": s.reason}],
        "status": "not-started",
        "description": s.text,
    }
    out: Json = {"detail": detail}
    if s.cautions:
        out["progress"] = [
            {"text": f"Caution ({c.code}): {c.text}. Source: {c.source}."} for c in s.cautions
        ]
    return out


def plan_activity(s: Suggestion, step: PlanStep, total: int) -> Json:
    """One step of a sequential plan: ordered, conditional on the previous step, timed relative
    to it (scheduledString), never a date or an order."""
    after = "the plan starts" if step.step == 1 else f"step {step.step - 1} succeeded"
    detail: Json = {
        "extension": [{"url": SOURCE_EXTENSION, "valueString": step.source}],
        "code": concept(step.code),
        "reasonCode": [{"text": f"{s.code} (step {step.step} of {total}): {s.reason}"}],
        "status": "not-started",
        "scheduledString": step.timing,
        "description": f"Step {step.step} of {total}: {step.text}",
    }
    notes = [
        f"Only if: {step.condition} (after {after}). A step of a plan to consider, not an order.",
        *(f"Caution ({c.code}): {c.text}. Source: {c.source}." for c in s.cautions),
    ]
    return {"detail": detail, "progress": [{"text": n} for n in notes]}


def activities(s: Suggestion) -> list[Json]:
    return [activity(s), *(plan_activity(s, p, len(s.plan)) for p in s.plan)]


def careplan(
    ctx: WriteContext,
    suggestions: Sequence[Suggestion],
    stage_refs: Sequence[Json],
    condition: str | None,
) -> Written:
    resource: Json = {
        "resourceType": "CarePlan",
        "meta": {"profile": [PROFILE_CAREPLAN]},
        "identifier": [identifier(CAREPLAN_SYSTEM, ctx.patient_id)],
        "status": "draft",
        "intent": "proposal",
        "category": [concept("suggestion-plan")],
        "title": "Treatment-resistant depression: considerations for the clinician",
        "description": (
            f"Suggestions of trd-fhir {ctx.version} from the assessment as of "
            f"{ctx.as_of.isoformat()}: considerations to review, not orders."
        ),
        "subject": {"reference": ctx.patient},
        "created": ctx.now,
        "author": ctx.device,
    }
    if condition:
        resource["addresses"] = [{"reference": condition}]
    if stage_refs:
        resource["supportingInfo"] = list(stage_refs)
    if suggestions:
        resource["activity"] = [a for s in suggestions for a in activities(s)]
    # The draft is replaced in place (a conditional update on a stable identifier); a tag of its
    # content, without the clock, lets a writer tell an unchanged draft from a changed one.
    content = digest("careplan", {k: v for k, v in resource.items() if k != "created"})
    resource["meta"]["tag"] = [{"system": CONTENT_SYSTEM, "code": content}]
    update = f"{search(CAREPLAN_SYSTEM, ctx.patient_id)}&status=draft"
    return Written(resource=resource, system=CAREPLAN_SYSTEM, value=ctx.patient_id, update=update)
