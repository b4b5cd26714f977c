"""Cards of the order-select and order-sign services: what the TRD assessment says about an
antidepressant being ordered. Two rules, nothing more (no interaction checking):

- optimise before switching: the order is a different antidepressant while the current trial
  (the latest of the episode, ongoing or recently ended) is inadequate for a reason that can be
  fixed (dose below the minimum, too short, non-adherence); not when it was stopped for
  intolerance;
- repeats a failed trial: the ordered ingredient already failed an adequate trial that has ended
  in this episode (non-response or worsening, and partial when settings count it).

Drug codes map through the same mappings as the record (RxNorm/ATC ingredient or product codes,
else the drug name in the text).

Draft orders are read liberally (clients get details wrong: the CDS Hooks sandbox sends
`category` as an object): an element whose JSON type is wrong is left unread with a note in the
cards' detail, unless the card depends on it (the medication, the id), in which case that order
is skipped with a note. Only a call whose MedicationRequests are all unreadable is a 400.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from ..assessment import Assessment
from ..fhir.shape import resource_problem
from ..fhir.values import codings, concept_text, reference_target
from ..mappings import Drug, Mappings
from ..model import FAILURE_OUTCOMES, AssessedTrial
from .cards import Json, card_uuid, shorten, smart_link, source
from .detail import cell
from .http import ServiceError

FIXABLE = {
    "dose-below-minimum": "the dose is below the minimum adequate dose",
    "too-short": "it has not run long enough at an adequate dose",
    "non-adherence": "non-adherence is documented",
}


# Elements an order-select/order-sign card is about: an order with one of these unreadable is
# skipped; any other malformed element is left unread.
ESSENTIAL = frozenset({"resourceType", "id", "medicationCodeableConcept", "medicationReference"})
_TOP = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _readable(order: dict[str, Any], where: str) -> tuple[dict[str, Any] | None, list[str]]:
    """The order with its malformed non-essential elements removed (None when an essential
    one is malformed), and a note for each."""
    notes: list[str] = []
    for _ in range(len(order) + 1):
        problem = resource_problem(order)
        if problem is None:
            return order, notes
        path, _, message = problem.partition(": ")
        top = _TOP.match(path)
        element = top[0] if top else ""
        if not element or element in ESSENTIAL or element not in order:
            notes.append(f"{where}.{path} is unreadable ({message}): the order was skipped")
            return None, notes
        notes.append(f"{where}.{path} was not read ({message})")
        order = {k: v for k, v in order.items() if k != element}
    return None, notes


def read_draft_orders(
    draft_orders: dict[str, Any], selections: list[str] | None
) -> tuple[list[dict[str, Any]], list[str]]:
    """The draft MedicationRequests to check (those selected, when `selections` names any) and
    notes on what could not be read; ServiceError 400 when there are MedicationRequests and
    none is readable."""
    orders: list[dict[str, Any]] = []
    notes: list[str] = []
    unreadable = 0
    for i, entry in enumerate(draft_orders.get("entry") or []):
        where = f"draftOrders.entry[{i}]"
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            notes.append(f"{where} was skipped: it holds no resource")
            unreadable += 1
            continue
        if resource.get("resourceType") != "MedicationRequest":
            continue
        order, found = _readable(resource, f"{where}.resource")
        notes += found
        if order is None:
            unreadable += 1
        else:
            orders.append(order)
    if unreadable and not orders:
        first = next(n for n in notes if "skipped" in n or "holds no" in n)
        raise ServiceError(f"no draft order can be read: {first}", location="draftOrders")
    return _selected(orders, selections), notes


def draft_medication_requests(
    draft_orders: dict[str, Any], selections: list[str] | None
) -> list[dict[str, Any]]:
    """The draft MedicationRequests to check (read_draft_orders without its notes)."""
    return read_draft_orders(draft_orders, selections)[0]


def _selected(orders: list[dict[str, Any]], selections: list[str] | None) -> list[dict[str, Any]]:
    if selections:
        chosen = [o for o in orders if f"MedicationRequest/{o.get('id')}" in selections]
        return chosen or orders  # selections naming no MedicationRequest by id: look at all
    return orders


def ordered_drugs(
    order: dict[str, Any], maps: Mappings, resources: list[dict[str, Any]]
) -> list[Drug]:
    concept = order.get("medicationCodeableConcept")
    if concept is None:
        target = reference_target(order.get("medicationReference"))
        pool = [*(order.get("contained") or []), *resources]
        rid = target[1:] if target and target.startswith("#") else target
        for med in pool:
            if not isinstance(med, dict) or med.get("resourceType") != "Medication":
                continue
            if rid in (med.get("id"), f"Medication/{med.get('id')}"):
                concept = med.get("code")
                break
    for c in codings(concept):
        system, code = c.get("system"), c.get("code")
        if not isinstance(system, str) or not isinstance(code, str):
            continue
        product = maps.products.get((system, code))
        if product is not None:
            return [maps.drugs_by_name[product.ingredient]]
        drug = maps.drug_for(system, code)
        if drug is not None:
            return [drug]
    text = concept_text(concept).lower()
    if not text:
        return []
    hits = {
        d.ingredient: d
        for name, d in maps.drugs_by_name.items()
        if re.search(rf"\b{re.escape(name)}\b", text)
    }
    return [d for _, d in sorted(hits.items())]


def current_trial(a: Assessment) -> AssessedTrial | None:
    ads = [t for t in a.trials if t.trial.in_current_episode and t.trial.kind == "antidepressant"]
    latest = max(ads, key=lambda t: (t.trial.start, t.trial.id), default=None)
    if latest is None:
        return None
    recent = a.as_of - timedelta(days=a.settings.current_trial_recent_days)
    return latest if latest.trial.ongoing or latest.trial.end > recent else None


def failed_trials(a: Assessment, ingredient: str) -> list[AssessedTrial]:
    failures = set(FAILURE_OUTCOMES) | (
        {"partial"} if a.settings.partial_counts_as_failure else set()
    )
    return [
        t
        for t in a.trials
        if t.trial.in_current_episode
        and t.trial.kind == "antidepressant"
        and t.trial.agent == ingredient
        and not t.trial.ongoing
        and t.adequacy.status == "adequate"
        and t.outcome.status in failures
    ]


def order_cards(
    a: Assessment,
    orders: list[dict[str, Any]],
    resources: list[dict[str, Any]],
    maps: Mappings,
    hook_instance: str,
    *,
    docs_url: str,
    app_url: str | None,
    notes: list[str] | None = None,
) -> list[Json]:
    cards: list[Json] = []
    current = current_trial(a)
    for order in orders:
        ref = f"MedicationRequest/{order.get('id', '?')}"
        for drug in ordered_drugs(order, maps, resources):
            if drug.role != "antidepressant":
                continue
            if current is not None and current.trial.agent != drug.ingredient:
                card = _optimise(current, drug, ref, hook_instance, docs_url)
                if card is not None:
                    cards.append(card)
            for failed in failed_trials(a, drug.ingredient):
                cards.append(_repeat(failed, drug, ref, hook_instance, docs_url))
    for card in cards:
        if app_url:
            card["links"] = [smart_link(app_url)]
        if notes:
            card["detail"] += "\n\nNot read in the draft orders: " + "; ".join(
                cell(n) for n in notes
            )
    return cards


def _optimise(
    current: AssessedTrial, drug: Drug, ref: str, hook_instance: str, docs_url: str
) -> Json | None:
    reasons = list(current.adequacy.reasons)
    if current.adequacy.status != "inadequate" or "stopped-for-intolerance" in reasons:
        return None
    why = [FIXABLE[r] for r in reasons if r in FIXABLE]
    if not why:
        return None
    t = current.trial
    state = "is ongoing" if t.ongoing else f"ended {(t.end - timedelta(days=1)).isoformat()}"
    detail = (
        f"The current {t.agent} trial (started {t.start.isoformat()}, {state}) is not an adequate "
        f"trial: {'; '.join(why)}. A switch to {drug.ingredient} now would leave {t.agent} "
        "untested: consider optimising the dose, duration or adherence first "
        "(pseudo-resistance). This is a consideration, not an order."
    )
    return {
        "uuid": card_uuid(hook_instance, f"order:optimise:{ref}:{drug.ingredient}"),
        "summary": shorten(
            f"Current {t.agent} trial is inadequate ({', '.join(reasons)}): optimise before "
            f"switching to {drug.ingredient}"
        ),
        "indicator": "warning",
        "detail": detail,
        "source": source(docs_url, "trial"),
    }


def _repeat(failed: AssessedTrial, drug: Drug, ref: str, hook_instance: str, docs_url: str) -> Json:
    t = failed.trial
    last = (t.end - timedelta(days=1)).isoformat()
    dose = f", up to {t.max_daily_dose_mg:g} mg/day" if t.max_daily_dose_mg else ""
    detail = (
        f"{drug.ingredient.capitalize()} was already tried in this episode: an adequate trial "
        f"from {t.start.isoformat()} to {last}{dose}, outcome {failed.outcome.status} "
        f"({failed.outcome.evidence}). Resources: {', '.join(t.resources) or 'none listed'}. "
        "Repeating a failed adequate trial is rarely useful; this is a consideration, not an order."
    )
    return {
        "uuid": card_uuid(hook_instance, f"order:repeat:{ref}:{t.id}"),
        "summary": shorten(
            f"{drug.ingredient.capitalize()} already failed an adequate trial in this episode "
            f"({t.start.isoformat()} to {last}, {failed.outcome.status})"
        ),
        "indicator": "warning",
        "detail": detail,
        "source": source(docs_url, "trial"),
    }
