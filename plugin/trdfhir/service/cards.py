"""CDS Hooks cards of the patient-view service, built from one evaluation.

Cards, in order: one `critical` card per urgent finding (with the suggestions that finding
triggers), then the staging card: a summary line across models and a detail a clinician takes in
at a glance (the headline models, urgent then warning findings, the count of suggestions, their
cautions), with the full staging table, trials and findings behind the SMART app link (in the
detail itself only when the service runs without the SMART app). Suggestions are `create`
actions of a draft CarePlan (status draft, intent proposal) derived from the emitted one, one
per suggestion, `selectionBehavior: any`: proposals for the clinician, never orders. Every card
and suggestion has a uuid5 of the hookInstance and its code, so the same call gives the same ids.
"""

from __future__ import annotations

import uuid
from typing import Any

from ..emit.codes import coding
from ..emit.ids import BASE, CAREPLAN_SYSTEM, DEVICE_SYSTEM
from ..model import Finding, Suggestion
from ..staging import registry
from .detail import cell, detail_markdown, glance_markdown
from .engine import Evaluation

Json = dict[str, Any]
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, f"{BASE}/cds")
SUMMARY_MAX = 139


def card_uuid(hook_instance: str, code: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{hook_instance}|{code}"))


def shorten(text: str, limit: int = SUMMARY_MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def source(docs_url: str, topic: str) -> Json:
    return {"label": "trd-fhir", "url": docs_url, "topic": coding(topic)}


def smart_link(url: str) -> Json:
    return {"label": "Open the TRD timeline and staging (SMART app)", "url": url, "type": "smart"}


def models_met(stages: dict[str, Any]) -> list[str]:
    """The models whose TRD threshold (their declaration's `trd_met`) is reached, as
    suggestions.trd_models_met."""
    return [
        s.name
        for s in registry()
        if s.trd_met is not None
        and isinstance(stages.get(s.name), dict)
        and s.trd_met(stages[s.name])
    ]


def summary_line(summary: Json) -> str:
    """'TRD: regulatory met; Thase-Rush II; ESM TRD1; Maudsley 8 (moderate)' (en dash): the
    `card_headline` of each model that declares one."""
    st = summary["stages"]
    parts = [
        spec.card_headline(st.get(spec.name) or {})
        for spec in registry()
        if spec.card_headline is not None
    ]
    return shorten("TRD: " + "; ".join(parts))


def _careplan_of(ev: Evaluation) -> Json | None:
    for entry in (ev.bundle or {}).get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == "CarePlan":
            return resource
    return None


def suggestion_plan(plan: Json, s: Suggestion, patient_id: str, version: str) -> Json:
    """The emitted draft CarePlan narrowed to one suggestion, with no references that only
    exist inside the write-back transaction (urn:uuid). No copy of the plan: a new top-level
    object (same key order) whose untouched elements are the plan's own (shared, never changed;
    the card is only serialised)."""
    out = dict(plan)
    codes = {s.code, *(p.code for p in s.plan)}  # the suggestion and its plan's steps
    out["identifier"] = [{"system": CAREPLAN_SYSTEM, "value": f"{patient_id}-{s.code}"}]
    out["title"] = shorten(f"TRD consideration: {s.text}", 200)
    out.pop("supportingInfo", None)
    out["activity"] = [
        a
        for a in out.get("activity") or []
        if any(c.get("code") in codes for c in a["detail"]["code"]["coding"])
    ]
    author = out.get("author") or {}
    if str(author.get("reference", "")).startswith("urn:"):
        out["author"] = {
            "type": "Device",
            "identifier": {"system": DEVICE_SYSTEM, "value": f"trd-fhir-{version}"},
            "display": f"trd-fhir {version}",
        }
    addresses = [r for r in out.get("addresses") or [] if not r["reference"].startswith("urn:")]
    if addresses:
        out["addresses"] = addresses
    else:
        out.pop("addresses", None)
    return out


def suggestion(hook_instance: str, s: Suggestion, plan: Json) -> Json:
    return {
        "label": shorten(s.text, 200),
        "uuid": card_uuid(hook_instance, f"suggestion:{s.code}"),
        "actions": [
            {
                "type": "create",
                "description": shorten(
                    f"Save as a draft care plan (a proposal, not an order): {s.text}. "
                    f"Because {s.reason}." + "".join(f" Caution: {c.text}." for c in s.cautions),
                    400,
                ),
                "resource": plan,
            }
        ],
    }


def patient_view_cards(
    ev: Evaluation,
    hook_instance: str,
    *,
    docs_url: str,
    app_url: str | None,
    version: str,
    finding_texts: dict[str, str],
) -> list[Json]:
    a, summary = ev.assessment, ev.summary
    has_mdd = any(d.category == "mdd" for d in a.record.diagnoses)
    if not a.trials and not has_mdd:
        return []  # nothing about depression on record: no card on every chart opened
    plan = _careplan_of(ev)
    patient_id = a.patient.partition("/")[2]
    links = [smart_link(app_url)] if app_url else []
    urgent = [f for f in a.findings if f.severity == "urgent"]
    taken: set[str] = set()
    cards: list[Json] = []
    for f in urgent:
        mine = [s for s in a.suggestions if s.reason.startswith(f"{f.code}:")]
        taken |= {s.code for s in mine}
        cards.append(
            _card(
                f"urgent:{f.code}",
                hook_instance,
                docs_url,
                links,
                plan,
                mine,
                patient_id,
                version,
                summary=f"Urgent: {finding_texts.get(f.code, f.code)}",
                indicator="critical",
                detail=_urgent_detail(f),
                topic="finding",
            )
        )
    rest = [s for s in a.suggestions if s.code not in taken]
    warning = models_met(summary["stages"]) or any(f.severity == "warning" for f in a.findings)
    cards.append(
        _card(
            "trd-staging",
            hook_instance,
            docs_url,
            links,
            plan,
            rest,
            patient_id,
            version,
            summary=summary_line(summary),
            indicator="warning" if warning else "info",
            detail=(
                glance_markdown(summary, ev, finding_texts=finding_texts)
                if app_url
                else detail_markdown(summary, ev)  # no app to hold the full table: the card does
            ),
            topic="model",
        )
    )
    return cards


def _urgent_detail(f: Finding) -> str:
    evidence = ", ".join(f.evidence) or "none listed"
    return f"**{cell(f.detail)}**\n\nSource: {cell(f.source)}. Evidence: {cell(evidence)}."


def _card(
    code: str,
    hook_instance: str,
    docs_url: str,
    links: list[Json],
    plan: Json | None,
    suggestions: list[Suggestion],
    patient_id: str,
    version: str,
    *,
    summary: str,
    indicator: str,
    detail: str,
    topic: str,
) -> Json:
    card: Json = {
        "uuid": card_uuid(hook_instance, code),
        "summary": shorten(summary),
        "indicator": indicator,
        "detail": detail,
        "source": source(docs_url, topic),
    }
    if plan is not None and suggestions:
        card["suggestions"] = [
            suggestion(hook_instance, s, suggestion_plan(plan, s, patient_id, version))
            for s in suggestions
        ]
        card["selectionBehavior"] = "any"
    if links:
        card["links"] = links
    return card
