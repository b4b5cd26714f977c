"""One Observation per treatment trial (profile trd-trial-observation): adequacy and outcome.

`focus` points at the medication or procedure resources that make the trial, `derivedFrom` at the
scores its outcome was judged on, `effectivePeriod` spans the trial (no end while ongoing).
"""

from __future__ import annotations

from typing import Any

from ..model import AssessedTrial
from ..summary import last_day, trial_json
from .codes import CONCEPTS, concept
from .common import (
    Json,
    WriteContext,
    Written,
    absent,
    assessment_identifier,
    category,
    component,
    note,
    quantity,
    score_refs,
)
from .ids import ASSESSMENT_SYSTEM, PROFILE_TRIAL

DRUG_KINDS = ("antidepressant", "augmentation")


def _quantity(value: Any, unit: str, code: str) -> Json:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return absent("unknown")
    return {"valueQuantity": quantity(value, unit, code)}


def _coded(code: str, text: str | None = None) -> Json:
    if code not in CONCEPTS:
        return {"valueCodeableConcept": {"text": text or code}}
    return {"valueCodeableConcept": concept(code, text)}


def trial_components(t: AssessedTrial, summary: dict[str, Any]) -> list[Json]:
    tr, out = t.trial, t.outcome
    parts = [
        component("trial-kind", fields=_coded(f"kind-{tr.kind}")),
        component("trial-agent", fields={"valueCodeableConcept": {"text": tr.agent}}),
    ]
    if tr.drug_class:
        parts.append(component("drug-class", fields=_coded(f"class-{tr.drug_class}")))
    if tr.kind in DRUG_KINDS:
        weeks = summary["weeks_at_adequate_dose"]
        parts += [
            component("weeks-at-adequate-dose", fields=_quantity(weeks, "wk", "wk")),
            component("max-daily-dose", fields=_quantity(tr.max_daily_dose_mg, "mg/day", "mg/d")),
            component(
                "adequate-daily-dose", fields=_quantity(tr.adequate_dose_mg, "mg/day", "mg/d")
            ),
            component("dose-optimised", tr.dose_optimised),
        ]
    else:
        parts.append(component("sessions", tr.sessions))
    reasons = "; ".join(t.adequacy.reasons) or None
    parts += [
        component("adequacy", fields=_coded(f"adequacy-{t.adequacy.status}", reasons)),
        component("outcome", fields=_coded(f"outcome-{out.status}", out.basis or None)),
        component("evidence", fields=_coded(f"evidence-{out.evidence}")),
        component("current-episode", tr.in_current_episode),
    ]
    return parts


def title(t: AssessedTrial) -> str:
    tr = t.trial
    what = f"{tr.agent} ({tr.drug_class})" if tr.drug_class else tr.agent
    until = "ongoing" if tr.ongoing else last_day(tr.end).isoformat()
    return f"{tr.kind.capitalize()} trial: {what}, {tr.start.isoformat()} to {until}"


def trial_observation(ctx: WriteContext, t: AssessedTrial) -> Written:
    tr, out = t.trial, t.outcome
    summary = trial_json(t)
    ident = ctx.business_id("trial", tr.id, summary)
    period: Json = {"start": tr.start.isoformat()}
    if not tr.ongoing:
        period["end"] = last_day(tr.end).isoformat()
    resource: Json = {
        "resourceType": "Observation",
        "meta": {"profile": [PROFILE_TRIAL]},
        "identifier": assessment_identifier(ident),
        "status": "preliminary",
        "category": category("therapy", "Therapy"),
        "code": concept("trial-summary", title(t)),
        "subject": {"reference": ctx.patient},
        "effectivePeriod": period,
        "issued": ctx.now,
        "valueCodeableConcept": _coded(f"outcome-{out.status}")["valueCodeableConcept"],
    }
    if tr.resources:
        resource["focus"] = [{"reference": r} for r in sorted(set(tr.resources))]
    reasons = f"Adequacy {t.adequacy.status}: {'; '.join(t.adequacy.reasons)}"
    resource["note"] = note(
        f"Outcome {out.status} ({out.evidence}): {out.basis}" if out.basis else "",
        reasons if t.adequacy.reasons else "",
    )
    if not resource["note"]:
        del resource["note"]
    resource["device"] = ctx.device
    scores = [
        *(out.baseline.resources if out.baseline else ()),
        *(out.end.resources if out.end else ()),
    ]
    derived = score_refs(scores)
    if derived:
        resource["derivedFrom"] = derived
    resource["component"] = trial_components(t, summary)
    return Written(resource=resource, system=ASSESSMENT_SYSTEM, value=ident)
