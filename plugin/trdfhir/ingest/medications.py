"""Medication resources -> exposures (ingredient, interval, daily dose) and esketamine sessions.

Each reader turns one resource into zero or more Exposures, reporting unmapped codes and
data problems as warnings instead of dropping them silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from ..fhir.values import (
    codings,
    concept_text,
    iter_concepts,
    number,
    obj,
    parse_date,
    ref_of,
    reference_target,
)
from ..mappings import Drug, Mappings
from ..model import DataWarning, Exposure, Session, StopReason, UnmappedCode
from ..settings import Settings
from .bundle import ResourceSet
from .dose import DoseResult, daily_dose, strength_from_text

ADHERENCE_EXTENSIONS = (
    "http://hl7.org/fhir/us/core/StructureDefinition/us-core-medication-adherence",
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-MedicationStatement.adherence",
)
_R5_NOT_ADHERENT = {"not-taking", "taking-not-as-directed", "stopped-not-as-directed"}
_R5_ADHERENT = {"taking", "taking-as-directed", "stopped-as-directed"}
_SUPPLY_UNITS = {"d": 1, "day": 1, "days": 1, "wk": 7, "week": 7, "weeks": 7, "mo": 30, "month": 30}


@dataclass(frozen=True)
class Ingredient:
    drug: Drug
    strength_mg: float | None
    matched_by: str  # code, name


@dataclass(frozen=True)
class OrderIndex:
    """What later records say about an order: the start of each order of an ingredient (to find
    the one that replaced it) and the last day each order was dispensed."""

    starts: dict[str, tuple[tuple[date, str], ...]] = field(default_factory=dict)
    dispensed: dict[str, date] = field(default_factory=dict)
    death: date | None = None
    cap_days: int = 90  # settings.active_order_cap_days

    def replaced_on(self, ingredient: str, start: date, resource: str) -> date | None:
        """The start of the next order of the same ingredient after `start`, if any."""
        return next(
            (d for d, ref in self.starts.get(ingredient, ()) if d > start and ref != resource),
            None,
        )


_NOT_ORDERS = ("cancelled", "draft", "unknown", "entered-in-error")


@dataclass
class MedicationOutput:
    exposures: list[Exposure] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)
    unmapped: list[UnmappedCode] = field(default_factory=list)
    warnings: list[DataWarning] = field(default_factory=list)


def read_medications(
    rs: ResourceSet,
    maps: Mappings,
    as_of: date,
    death: date | None = None,
    *,
    settings: Settings | None = None,
) -> MedicationOutput:
    """`death`: the patient's date of death, if known; no inferred end runs past it.
    `settings`: the evaluation's settings (default: those of the mappings)."""
    out = MedicationOutput()
    readers = {
        "MedicationStatement": _statement,
        "MedicationRequest": _request,
        "MedicationDispense": _dispense,
        "MedicationAdministration": _administration,
    }
    read: list[tuple[dict[str, Any], list[Ingredient]]] = []
    for resource, _loc in rs.resources:
        if str(resource.get("resourceType")) not in readers:
            continue
        if resource.get("doNotPerform") is True:
            out.warnings.append(
                DataWarning(
                    code="not-an-exposure",
                    diagnostic="doNotPerform is true: a record that the drug is not to be "
                    "given, not a treatment; not read as an exposure",
                    location=f"{ref_of(resource)}.doNotPerform",
                    reason="do-not-perform",
                )
            )
            continue
        ingredients = _ingredients(resource, rs, maps, out)
        if ingredients:
            read.append((resource, ingredients))
    cap = (settings or maps.settings).active_order_cap_days
    index = _order_index(read, rs, death, cap)
    for resource, ingredients in read:
        reader = readers[str(resource.get("resourceType"))]
        if ingredients:
            try:
                reader(resource, ingredients, maps, as_of, out, index)
            except OverflowError:  # a duration or quantity too large for the calendar
                out.warnings.append(
                    DataWarning(
                        code="out-of-range",
                        diagnostic="a duration or quantity is too large to place in time; "
                        "the resource was skipped",
                        location=ref_of(resource),
                        reason="out-of-range",
                    )
                )
    return out


def _order_index(
    read: list[tuple[dict[str, Any], list[Ingredient]]],
    rs: ResourceSet,
    death: date | None,
    cap_days: int,
) -> OrderIndex:
    starts: dict[str, list[tuple[date, str]]] = {}
    dispensed: dict[str, date] = {}
    for resource, ingredients in read:
        kind = resource.get("resourceType")
        if kind == "MedicationRequest" and _is_order(resource):
            start = _request_start(resource)
            if start is not None:
                for ing in ingredients:
                    starts.setdefault(ing.drug.ingredient, []).append((start, ref_of(resource)))
        elif kind == "MedicationDispense":
            day, _ = parse_date(resource.get("whenHandedOver") or resource.get("whenPrepared"))
            prescriptions = resource.get("authorizingPrescription")
            for reference in prescriptions if isinstance(prescriptions, list) else []:
                target = rs.resolve(reference, resource)
                key = ref_of(target) if target is not None else reference_target(reference)
                if day is not None and key and (key not in dispensed or dispensed[key] < day):
                    dispensed[key] = day
    return OrderIndex(
        starts={k: tuple(sorted(v)) for k, v in starts.items()},
        dispensed=dispensed,
        death=death,
        cap_days=cap_days,
    )


def _is_order(r: dict[str, Any]) -> bool:
    return r.get("status") not in _NOT_ORDERS and r.get("intent") not in ("proposal", "plan")


def _is_reported_plan(r: dict[str, Any]) -> bool:
    """US Core's self-reported medication list: intent plan with reported[x]."""
    reported = r.get("reportedBoolean") is True or isinstance(r.get("reportedReference"), dict)
    return r.get("intent") == "plan" and reported and r.get("status") not in _NOT_ORDERS


# -- what drug ---------------------------------------------------------------------------------


def _ingredients(
    resource: dict[str, Any], rs: ResourceSet, maps: Mappings, out: MedicationOutput
) -> list[Ingredient]:
    concept = resource.get("medicationCodeableConcept")
    medication: dict[str, Any] | None = None
    if concept is None and "medicationReference" in resource:
        medication = rs.resolve(resource["medicationReference"], resource)
        if medication is None:
            out.warnings.append(
                DataWarning(
                    code="unresolved-reference",
                    diagnostic="medicationReference points to no Medication in the input",
                    location=f"{ref_of(resource)}.medicationReference",
                    reason="unresolved-reference",
                )
            )
            return []
        concept = medication.get("code")
    found = _match_concept(concept, maps)
    if not found and medication is not None:
        for ing in medication.get("ingredient") or []:
            if isinstance(ing, dict):
                found += _match_concept(ing.get("itemCodeableConcept"), maps)
    if not found:
        first = (codings(concept) or [{}])[0]
        out.unmapped.append(
            UnmappedCode(
                system=first.get("system"),
                code=first.get("code"),
                display=first.get("display") or (concept or {}).get("text"),
                resource=ref_of(resource),
            )
        )
        return []
    strength = _medication_strength(medication) if medication else None
    if strength is not None:
        found = [Ingredient(i.drug, i.strength_mg or strength, i.matched_by) for i in found]
    return found


_WORD = re.compile(r"\w+")  # the name index is keyed by each name's first word


def _match_concept(concept: Any, maps: Mappings) -> list[Ingredient]:
    for coding in codings(concept):
        system, code = coding.get("system"), coding.get("code")
        if not isinstance(system, str) or not isinstance(code, str):
            continue
        product = maps.products.get((system, code))
        if product is not None:
            return [Ingredient(maps.drugs_by_name[product.ingredient], product.strength_mg, "code")]
        drug = maps.drug_for(system, code)
        if drug is not None:
            strength = strength_from_text(coding.get("display") or "")
            return [Ingredient(drug, strength, "code")]
    text = concept_text(concept).lower()
    if not text:
        return []
    hits: dict[str, Drug] = {}
    for word in sorted(set(_WORD.findall(text))):
        for pattern, drug in maps.name_patterns.get(word, ()):
            if pattern.search(text):
                hits[drug.ingredient] = drug
    strength = strength_from_text(text) if len(hits) == 1 else None
    return [Ingredient(d, strength, "name") for _, d in sorted(hits.items())]


def _medication_strength(medication: dict[str, Any]) -> float | None:
    ingredients = [i for i in medication.get("ingredient") or [] if isinstance(i, dict)]
    if len(ingredients) == 1:
        strength = ingredients[0].get("strength") or {}
        num, den = strength.get("numerator") or {}, strength.get("denominator") or {}
        value = number(num.get("value"))
        unit = str(num.get("code") or num.get("unit") or "").lower()
        if value is not None and unit == "mg" and number(den.get("value")) in (None, 1.0):
            return value
    return strength_from_text(concept_text(medication.get("code")))


# -- when and how much ------------------------------------------------------------------------


def _dose(
    dosages: Any,
    ing: Ingredient,
    maps: Mappings,
    where: str,
    out: MedicationOutput,
    *,
    warn: bool = True,
) -> DoseResult:
    names = maps.name_words.get(ing.drug.ingredient, frozenset())
    result = daily_dose(dosages, ing.strength_mg, maps.dose_units, names)
    mg = result.mg_per_day
    if mg is None and warn:
        shape = f" ({result.shape})" if result.shape else ""
        out.warnings.append(
            DataWarning(
                code="unknown-dose",
                diagnostic=f"{result.source}{shape}; the daily dose of {ing.drug.ingredient} "
                "is unknown",
                location=where,
                reason=result.reason or "unknown",
            )
        )
    limit = (ing.drug.usual_max_mg or 0) * maps.settings.implausible_dose_factor
    if mg is not None and (mg <= 0 or (limit and mg > limit)):
        out.warnings.append(
            DataWarning(
                code="implausible-dose",
                diagnostic=f"daily dose {mg:g} mg of {ing.drug.ingredient} is implausible; "
                "treated as unknown",
                location=where,
                reason="implausible-dose",
            )
        )
        return DoseResult(None, "implausible dose", reason="implausible-dose")
    return result


def _stop_reason(resource: dict[str, Any], maps: Mappings) -> StopReason | None:
    for concept in iter_concepts(resource.get("statusReason")):
        for coding in codings(concept):
            reason = maps.stop_reason_codes.get(
                (str(coding.get("system")), str(coding.get("code")))
            )
            if reason:
                return reason  # type: ignore[return-value]
        text = concept_text(concept)
        for pattern, reason in maps.stop_reason_patterns:
            if pattern.search(text):
                return reason  # type: ignore[return-value]
    return None


def _adherence(resource: dict[str, Any], maps: Mappings) -> str | None:
    for ext in resource.get("extension") or []:
        if not isinstance(ext, dict) or ext.get("url") not in ADHERENCE_EXTENSIONS:
            continue
        values = [ext, *[e for e in ext.get("extension") or [] if isinstance(e, dict)]]
        for item in values:
            for coding in codings(item.get("valueCodeableConcept")):
                code = str(coding.get("code"))
                meaning = maps.answer_meanings.get((str(coding.get("system")), code))
                if meaning in ("adherent", "non-adherent"):
                    return meaning
                if code in _R5_NOT_ADHERENT:
                    return "non-adherent"
                if code in _R5_ADHERENT:
                    return "adherent"
    return None


def _emit(
    out: MedicationOutput,
    resource: dict[str, Any],
    ing: Ingredient,
    source_type: str,
    start: date,
    end: date | None,
    dose: DoseResult,
    as_of: date,
    *,
    not_taken: bool = False,
    stop_reason: StopReason | None = None,
    adherence: str | None = None,
    assumed_end: str | None = None,
    no_end: str = "no-end",
) -> None:
    if start > as_of:
        out.warnings.append(
            DataWarning(
                code="after-as-of",
                diagnostic=f"starts {start.isoformat()}, after the as-of date; ignored",
                location=ref_of(resource),
                reason="after-as-of",
            )
        )
        return
    if ing.drug.ingredient == "esketamine":
        out.warnings.append(
            DataWarning(
                code="esketamine-course",
                diagnostic="esketamine is counted in sessions from MedicationAdministration or "
                "Procedure (G2082/G2083), not from prescriptions",
                location=ref_of(resource),
                reason="esketamine-course",
            )
        )
        return
    # an active record whose end lies past the as-of date is still being taken (before the clamp)
    ongoing = resource.get("status") == "active" and end is not None and end > as_of
    if end is not None:
        end = max(min(end, as_of + timedelta(days=1)), start + timedelta(days=1))
    elif not not_taken:
        out.warnings.append(
            DataWarning(
                code="unknown-duration",
                diagnostic=_NO_END_TEXT.get(no_end, "no end, supply or stop date")
                + f"; how long {ing.drug.ingredient} was taken is unknown",
                location=ref_of(resource),
                reason=no_end,
            )
        )
    role = ing.drug.role
    out.exposures.append(
        Exposure(
            ingredient=ing.drug.ingredient,
            role=role,  # type: ignore[arg-type]
            drug_class=ing.drug.drug_class,
            start=start,
            end=end,
            daily_dose_mg=dose.mg_per_day,
            dose_source=dose.source,
            resource=ref_of(resource),
            source_type=source_type,  # type: ignore[arg-type]
            matched_by=ing.matched_by,  # type: ignore[arg-type]
            ongoing=ongoing,
            not_taken=not_taken,
            stop_reason=stop_reason,
            adherence=adherence,  # type: ignore[arg-type]
            assumed_end=assumed_end,
        )
    )


_NO_END_TEXT = {
    "point-claim": "a claim for one day (effectiveDateTime)",
    "no-end": "no end, supply, later order or stop date",
    "stopped-no-date": "stopped or completed with no date, supply or later order",
    "no-supply": "a dispense with no daysSupply and no quantity in known units",
    "single-administration": "one administration",
    "imprecise-date": "a partial date",
    "invalid-period": "a period that ends before it starts",
}


def _missing_date(out: MedicationOutput, resource: dict[str, Any], what: str) -> None:
    out.warnings.append(
        DataWarning(
            code="missing-date",
            diagnostic=f"no usable {what}; the resource cannot be placed in time and was skipped",
            location=ref_of(resource),
            reason="missing-date",
        )
    )


def _statement(
    r: dict[str, Any],
    ings: list[Ingredient],
    maps: Mappings,
    as_of: date,
    out: MedicationOutput,
    index: OrderIndex,
) -> None:
    status = r.get("status")
    if status == "intended":
        return
    interval = _effective(r, out)
    if interval is None:
        return
    start, end, reliable = interval
    period = obj(r.get("effectivePeriod"))
    if reliable and period and end is None and status == "active":
        end = as_of + timedelta(days=1)  # an open period of an active statement: taken until now
        if index.death is not None:
            end = min(end, index.death + timedelta(days=1))
    no_end = "point-claim" if not period else "no-end" if reliable else _imprecise(r)
    for ing in ings:
        dose = _dose(
            r.get("dosage"), ing, maps, f"{ref_of(r)}.dosage", out, warn=status != "not-taken"
        )
        _emit(
            out,
            r,
            ing,
            "statement",
            start,
            end,
            dose,
            as_of,
            not_taken=status == "not-taken",
            stop_reason=_stop_reason(r, maps),
            adherence="non-adherent" if status == "not-taken" else _adherence(r, maps),
            no_end=no_end,
        )


def _imprecise(r: dict[str, Any]) -> str:
    period = obj(r.get("effectivePeriod"))
    _start, precise = parse_date(period.get("start") if period else r.get("effectiveDateTime"))
    last, last_precise = parse_date(period.get("end"))
    if not precise or (last is not None and not last_precise):
        return "imprecise-date"
    return "invalid-period"


def _effective(r: dict[str, Any], out: MedicationOutput) -> tuple[date, date | None, bool] | None:
    """(first day, day after the last, reliable) of effective[x]. The end is None when the
    duration is unknown: a point claim, an open period, or an unreliable period (a partial date,
    or an end before the start), which is reported."""
    period = obj(r.get("effectivePeriod"))
    start, precise = parse_date(period.get("start") if period else r.get("effectiveDateTime"))
    if start is None:
        _missing_date(out, r, "effectivePeriod.start or effectiveDateTime")
        return None
    last, last_precise = parse_date(period.get("end"))
    if not precise or (last is not None and not last_precise):
        out.warnings.append(
            DataWarning(
                code="imprecise-date",
                diagnostic="a partial date (year or month only): "
                "the duration is treated as unknown",
                location=f"{ref_of(r)}.effective",
                reason="imprecise-date",
            )
        )
        return start, None, False
    if last is not None and last < start:
        out.warnings.append(
            DataWarning(
                code="invalid-period",
                diagnostic="the period ends before it starts: the duration is treated as unknown",
                location=f"{ref_of(r)}.effectivePeriod",
                reason="invalid-period",
            )
        )
        return start, None, False
    return start, (last + timedelta(days=1) if last is not None else None), True


def _bounds(dosages: Any) -> tuple[date | None, date | None, float | None]:
    """(first day, day after the last, days) of the first dosage's timing.repeat.boundsPeriod,
    or (None, None, days) of its boundsDuration. An end before the start is no end."""
    for dosage in dosages if isinstance(dosages, list) else []:
        repeat = obj(obj(obj(dosage).get("timing")).get("repeat"))
        period = obj(repeat.get("boundsPeriod"))
        if period:
            first, _ = parse_date(period.get("start"))
            last, precise = parse_date(period.get("end"))
            end = last + timedelta(days=1) if last is not None and precise else None
            if first is not None and end is not None and end <= first:
                end = None
            return first, end, None
        days = _supply_days(repeat.get("boundsDuration"))
        if days is not None:
            return None, None, days
    return None, None, None


def _request_start(r: dict[str, Any]) -> date | None:
    validity = obj(obj(r.get("dispenseRequest")).get("validityPeriod"))
    first, _, _ = _bounds(r.get("dosageInstruction"))
    start, _ = parse_date(r.get("authoredOn"))
    if start is None:
        start = first
    if start is None:
        start, _ = parse_date(validity.get("start"))
    return start


def _request(
    r: dict[str, Any],
    ings: list[Ingredient],
    maps: Mappings,
    as_of: date,
    out: MedicationOutput,
    index: OrderIndex,
) -> None:
    if _is_reported_plan(r):
        _reported_plan(r, ings, maps, as_of, out, index)
        return
    if not _is_order(r):
        return
    start = _request_start(r)
    if start is None:
        _missing_date(
            out, r, "authoredOn, timing.repeat.boundsPeriod.start or validityPeriod.start"
        )
        return
    dispense = obj(r.get("dispenseRequest"))
    repeats = number(dispense.get("numberOfRepeatsAllowed")) or 0.0
    first, bounds_end, bounds_days = _bounds(r.get("dosageInstruction"))
    if bounds_end is None and bounds_days is not None:
        bounds_end = (first or start) + timedelta(days=round(bounds_days))
    for ing in ings:
        dose = _dose(r.get("dosageInstruction"), ing, maps, f"{ref_of(r)}.dosageInstruction", out)
        end = bounds_end
        if end is None:
            days = _supply_days(dispense.get("expectedSupplyDuration"))
            if days is None:
                qty = number(obj(dispense.get("quantity")).get("value"))
                if qty and dose.units_per_day:
                    days = qty / dose.units_per_day
            # validityPeriod.end says until when it may be dispensed, not how long it was taken.
            if days is not None:
                end = start + timedelta(days=round(days * (1 + repeats)))
        stopped = _stopped_on(r, start)
        if stopped is not None and (end is None or stopped < end):
            end = stopped  # a documented stop date ends the order, supply or not
        assumed, no_end = None, "no-end"
        if end is None:
            end, assumed, no_end = _open_end(r, ing, start, as_of, out, index)
        _emit(
            out,
            r,
            ing,
            "request",
            start,
            end,
            dose,
            as_of,
            stop_reason=_stop_reason(r, maps),
            adherence=_adherence(r, maps),
            assumed_end=assumed,
            no_end=no_end,
        )


STATUS_CHANGED = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-MedicationRequest.statusChanged"
)


def _stopped_on(r: dict[str, Any], start: date) -> date | None:
    """The day after a stopped or completed order's documented stop: R5's statusChanged, carried
    in R4 by its cross-version extension. None without one, or before the start."""
    if r.get("status") not in ("stopped", "completed"):
        return None
    for ext in r.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == STATUS_CHANGED:
            day, precise = parse_date(ext.get("valueDateTime"))
            if day is not None and precise and day >= start:
                return day + timedelta(days=1)
    return None


def _open_end(
    r: dict[str, Any],
    ing: Ingredient,
    start: date,
    as_of: date,
    out: MedicationOutput,
    index: OrderIndex,
) -> tuple[date | None, str | None, str]:
    """The end of an order that states none: (end, assumption label, reason when unknown).

    A later order of the same drug replaces it (a documented end). Otherwise an `active` order
    is current to the as-of date, but at most `active_order_cap_days` after the last evidence
    that it was current (authored, dispensed), and never past death: an assumption, labelled.
    An order in any other status without a date has an unknown end."""
    ref = ref_of(r)
    cap = timedelta(days=index.cap_days)
    last = max(start, index.dispensed.get(ref, start))
    capped = last + cap
    replaced = index.replaced_on(ing.drug.ingredient, start, ref)
    if r.get("status") != "active":
        if replaced is not None and replaced <= capped:
            return replaced, None, ""
        return (
            None,
            None,
            "stopped-no-date" if r.get("status") in ("stopped", "completed") else "no-end",
        )
    limit = as_of + timedelta(days=1)
    if index.death is not None:
        limit = min(limit, index.death + timedelta(days=1))
    if replaced is not None and replaced <= min(capped, limit):
        return replaced, None, ""
    end = min(capped, limit)
    why = (
        f"capped at {index.cap_days} days after "
        f"{'the last dispense' if last > start else 'it was authored'} "
        f"({last.isoformat()}; setting active_order_cap_days)"
        if capped < limit
        else "taken to the as-of date"
        if index.death is None or limit == as_of + timedelta(days=1)
        else "taken to the date of death"
    )
    out.warnings.append(
        DataWarning(
            code="assumed-end",
            diagnostic=f"an active order (or reported medication) with no end, supply or later "
            f"order: {why}; "
            "the end is an assumption (capped-active-order)",
            location=ref,
            reason="capped-active-order",
        )
    )
    return end, "capped-active-order", ""


def _reported_plan(
    r: dict[str, Any],
    ings: list[Ingredient],
    maps: Mappings,
    as_of: date,
    out: MedicationOutput,
    index: OrderIndex,
) -> None:
    """A self-reported medication (US Core: intent plan, reported[x]) read like a
    MedicationStatement: from authoredOn or boundsPeriod, to boundsPeriod's end; with no end,
    the bounded rule of an active order."""
    first, bounds_end, bounds_days = _bounds(r.get("dosageInstruction"))
    start, _ = parse_date(r.get("authoredOn"))
    start = first or start
    if start is None:
        _missing_date(out, r, "authoredOn or timing.repeat.boundsPeriod.start")
        return
    if bounds_end is None and bounds_days is not None:
        bounds_end = start + timedelta(days=round(bounds_days))
    for ing in ings:
        dose = _dose(r.get("dosageInstruction"), ing, maps, f"{ref_of(r)}.dosageInstruction", out)
        end, assumed, no_end = bounds_end, None, "no-end"
        if end is None:
            end, assumed, no_end = _open_end(r, ing, start, as_of, out, index)
        _emit(
            out,
            r,
            ing,
            "statement",
            start,
            end,
            dose,
            as_of,
            stop_reason=_stop_reason(r, maps),
            adherence=_adherence(r, maps),
            assumed_end=assumed,
            no_end=no_end,
        )


def _supply_days(duration: Any) -> float | None:
    if not isinstance(duration, dict):
        return None
    value = number(duration.get("value"))
    unit = str(duration.get("code") or duration.get("unit") or "d").lower()
    factor = _SUPPLY_UNITS.get(unit)
    return value * factor if value and value > 0 and factor else None


def _dispense(
    r: dict[str, Any],
    ings: list[Ingredient],
    maps: Mappings,
    as_of: date,
    out: MedicationOutput,
    index: OrderIndex,
) -> None:
    if r.get("status") not in (None, "completed", "in-progress"):
        return
    start, _ = parse_date(r.get("whenHandedOver") or r.get("whenPrepared"))
    if start is None:
        _missing_date(out, r, "whenHandedOver")
        return
    supply = number(obj(r.get("daysSupply")).get("value"))
    for ing in ings:
        dose = _dose(r.get("dosageInstruction"), ing, maps, f"{ref_of(r)}.dosageInstruction", out)
        days = supply
        if days is None:
            qty = number(obj(r.get("quantity")).get("value"))
            days = qty / dose.units_per_day if qty and dose.units_per_day else None
        end = start + timedelta(days=round(days)) if days and days > 0 else None
        _emit(out, r, ing, "dispense", start, end, dose, as_of, no_end="no-supply")


def _administration(
    r: dict[str, Any],
    ings: list[Ingredient],
    maps: Mappings,
    as_of: date,
    out: MedicationOutput,
    index: OrderIndex,
) -> None:
    if r.get("status") not in (None, "completed", "in-progress"):
        return
    period = r.get("effectivePeriod") if isinstance(r.get("effectivePeriod"), dict) else None
    day, _ = parse_date(period.get("start") if period else r.get("effectiveDateTime"))
    if day is None:
        _missing_date(out, r, "effectiveDateTime")
        return
    for ing in ings:
        if ing.drug.ingredient == "esketamine":
            if day <= as_of:
                out.sessions.append(
                    Session(
                        kind="esketamine",
                        day=day,
                        modality=None,
                        laterality=None,
                        resource=ref_of(r),
                    )
                )
            continue
        # One administration is a point claim: the day's dose, not a daily regimen.
        _emit(
            out,
            r,
            ing,
            "administration",
            day,
            None,
            DoseResult(None, "single administration"),
            as_of,
            no_end="single-administration",
        )
