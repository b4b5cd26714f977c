"""Medication resources -> exposures (ingredient, interval, daily dose) and esketamine sessions.

Each reader turns one resource into zero or more Exposures, reporting unmapped codes and
data problems as warnings instead of dropping them silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from ..fhir.values import codings, concept_text, iter_concepts, number, obj, parse_date, ref_of
from ..mappings import Drug, Mappings
from ..model import DataWarning, Exposure, Session, StopReason, UnmappedCode
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


@dataclass
class MedicationOutput:
    exposures: list[Exposure] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)
    unmapped: list[UnmappedCode] = field(default_factory=list)
    warnings: list[DataWarning] = field(default_factory=list)


def read_medications(rs: ResourceSet, maps: Mappings, as_of: date) -> MedicationOutput:
    out = MedicationOutput()
    readers = {
        "MedicationStatement": _statement,
        "MedicationRequest": _request,
        "MedicationDispense": _dispense,
        "MedicationAdministration": _administration,
    }
    for resource, _loc in rs.resources:
        reader = readers.get(str(resource.get("resourceType")))
        if reader is None:
            continue
        ingredients = _ingredients(resource, rs, maps, out)
        if ingredients:
            try:
                reader(resource, ingredients, maps, as_of, out)
            except OverflowError:  # a duration or quantity too large for the calendar
                out.warnings.append(
                    DataWarning(
                        code="out-of-range",
                        diagnostic="a duration or quantity is too large to place in time; "
                        "the resource was skipped",
                        location=ref_of(resource),
                    )
                )
    return out


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
    dosages: Any, ing: Ingredient, maps: Mappings, where: str, out: MedicationOutput
) -> DoseResult:
    result = daily_dose(dosages, ing.strength_mg)
    mg = result.mg_per_day
    limit = (ing.drug.usual_max_mg or 0) * maps.settings.implausible_dose_factor
    if mg is not None and (mg <= 0 or (limit and mg > limit)):
        out.warnings.append(
            DataWarning(
                code="implausible-dose",
                diagnostic=f"daily dose {mg:g} mg of {ing.drug.ingredient} is implausible; "
                "treated as unknown",
                location=where,
            )
        )
        return DoseResult(None, "implausible dose")
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
    ongoing: bool = False,
    not_taken: bool = False,
    stop_reason: StopReason | None = None,
    adherence: str | None = None,
) -> None:
    if start > as_of:
        out.warnings.append(
            DataWarning(
                code="after-as-of",
                diagnostic=f"starts {start.isoformat()}, after the as-of date; ignored",
                location=ref_of(resource),
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
            )
        )
        return
    if end is not None:
        end = max(min(end, as_of + timedelta(days=1)), start + timedelta(days=1))
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
        )
    )


def _missing_date(out: MedicationOutput, resource: dict[str, Any], what: str) -> None:
    out.warnings.append(
        DataWarning(
            code="missing-date",
            diagnostic=f"no usable {what}; the resource cannot be placed in time and was skipped",
            location=ref_of(resource),
        )
    )


def _statement(
    r: dict[str, Any], ings: list[Ingredient], maps: Mappings, as_of: date, out: MedicationOutput
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
    ongoing = status == "active" and end is not None and end > as_of
    for ing in ings:
        dose = _dose(r.get("dosage"), ing, maps, f"{ref_of(r)}.dosage", out)
        _emit(
            out,
            r,
            ing,
            "statement",
            start,
            end,
            dose,
            as_of,
            ongoing=ongoing,
            not_taken=status == "not-taken",
            stop_reason=_stop_reason(r, maps),
            adherence="non-adherent" if status == "not-taken" else _adherence(r, maps),
        )


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
            )
        )
        return start, None, False
    if last is not None and last < start:
        out.warnings.append(
            DataWarning(
                code="invalid-period",
                diagnostic="the period ends before it starts: the duration is treated as unknown",
                location=f"{ref_of(r)}.effectivePeriod",
            )
        )
        return start, None, False
    return start, (last + timedelta(days=1) if last is not None else None), True


def _request(
    r: dict[str, Any], ings: list[Ingredient], maps: Mappings, as_of: date, out: MedicationOutput
) -> None:
    if r.get("status") in ("cancelled", "draft", "unknown") or r.get("intent") in (
        "proposal",
        "plan",
    ):
        return
    dispense = obj(r.get("dispenseRequest"))
    validity = obj(dispense.get("validityPeriod"))
    start, _ = parse_date(r.get("authoredOn") or validity.get("start"))
    if start is None:
        _missing_date(out, r, "authoredOn or dispenseRequest.validityPeriod.start")
        return
    repeats = number(dispense.get("numberOfRepeatsAllowed")) or 0.0
    for ing in ings:
        dose = _dose(r.get("dosageInstruction"), ing, maps, f"{ref_of(r)}.dosageInstruction", out)
        days = _supply_days(dispense.get("expectedSupplyDuration"))
        if days is None:
            qty = number(obj(dispense.get("quantity")).get("value"))
            if qty and dose.units_per_day:
                days = qty / dose.units_per_day
        # validityPeriod.end says until when it may be dispensed, not how long it was taken.
        end = start + timedelta(days=round(days * (1 + repeats))) if days is not None else None
        ongoing = r.get("status") == "active" and end is not None and end > as_of
        _emit(
            out,
            r,
            ing,
            "request",
            start,
            end,
            dose,
            as_of,
            ongoing=ongoing,
            stop_reason=_stop_reason(r, maps),
            adherence=_adherence(r, maps),
        )


def _supply_days(duration: Any) -> float | None:
    if not isinstance(duration, dict):
        return None
    value = number(duration.get("value"))
    unit = str(duration.get("code") or duration.get("unit") or "d").lower()
    factor = _SUPPLY_UNITS.get(unit)
    return value * factor if value and value > 0 and factor else None


def _dispense(
    r: dict[str, Any], ings: list[Ingredient], maps: Mappings, as_of: date, out: MedicationOutput
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
        _emit(out, r, ing, "dispense", start, end, dose, as_of)


def _administration(
    r: dict[str, Any], ings: list[Ingredient], maps: Mappings, as_of: date, out: MedicationOutput
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
        )
