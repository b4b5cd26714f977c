"""Daily dose in mg from FHIR Dosage elements.

daily dose = dose quantity x administrations per day, or a rate in mg per day. A dose in units of
the product (tablets, capsules, Synthea's unit-less `{"value": 1}`) uses the product's strength.
Units and timing codes are data (mappings/dose_units.json). The sig text (ingest/sig.py) is read
only when the structured dose is missing. Anything that cannot be derived gives None with the
reason (`DoseResult.reason`, a stable slug), never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..fhir.values import number, obj
from ..mappings import DoseUnits, load_mappings
from .sig import read_sig

_PERIOD_DAYS = {
    "s": 1 / 86400,
    "min": 1 / 1440,
    "h": 1 / 24,
    "d": 1.0,
    "wk": 7.0,
    "mo": 30.0,
    "a": 365.0,
}
# "50 MG", "100MG", "50mg" -- but not a concentration ("20 MG/ML", "10mg/5ml").
_STRENGTH = re.compile(r"(\d+(?:\.\d+)?)\s*MG\b(?!\s*/\s*(?:\d+(?:\.\d+)?\s*)?ML\b)", re.I)


@dataclass(frozen=True)
class DoseResult:
    mg_per_day: float | None
    source: str | None  # how it was derived, or why not
    units_per_day: float | None = None  # tablets/capsules a day, for supply from quantity
    per_day: float | None = None  # doses a day, when read from a sig (checked against structure)
    reason: str = ""  # why the dose is unknown: a stable slug (dose-range, no-strength, ...)
    shape: str = ""  # the element and shape it was read from or failed on, for warnings


def strength_from_text(text: str) -> float | None:
    """'sertraline 50 MG Oral Tablet' -> 50.0 (only when exactly one strength is named)."""
    found = {float(m) for m in _STRENGTH.findall(text or "")}
    return found.pop() if len(found) == 1 else None


def _unknown(source: str, reason: str, shape: str = "") -> DoseResult:
    return DoseResult(None, source, reason=reason, shape=shape)


def daily_dose(
    dosages: Any,
    strength_mg: float | None,
    units: DoseUnits | None = None,
    name_words: frozenset[str] = frozenset(),
) -> DoseResult:
    if not isinstance(dosages, list) or not dosages:
        return _unknown("no dosage recorded", "no-dosage")
    if units is None:  # the default mappings (tests and callers without a Mappings)
        maps = load_mappings()
        units = maps.dose_units
        name_words = name_words or frozenset().union(*maps.name_words.values())
    sequences = {d.get("sequence") for d in dosages if isinstance(d, dict)}
    if len(sequences) > 1:
        return _unknown(
            "a dosage schedule with several steps; daily dose not derivable", "several-steps"
        )
    total_mg, total_units, sources = 0.0, 0.0, set()
    for dosage in dosages:
        if not isinstance(dosage, dict):
            return _unknown("malformed dosage", "malformed")
        one = _one_dosage(dosage, strength_mg, units, name_words)
        if one.mg_per_day is None:
            return one
        total_mg += one.mg_per_day
        total_units += one.units_per_day or 0.0
        sources.add(one.source or "")
    return DoseResult(round(total_mg, 3), "; ".join(sorted(sources)), total_units or None)


def _one_dosage(
    dosage: dict[str, Any], strength_mg: float | None, units: DoseUnits, names: frozenset[str]
) -> DoseResult:
    if dosage.get("asNeededBoolean") is True or "asNeededCodeableConcept" in dosage:
        return _unknown("as-needed dosing", "as-needed", "asNeeded")
    rate = _rate(dosage, units)
    if rate is not None:
        return rate
    quantity = _dose_quantity(dosage, units)
    if isinstance(quantity, DoseResult):
        return quantity
    per_day = _per_day(dosage.get("timing"), units)
    if isinstance(per_day, DoseResult):
        return per_day
    if quantity is not None and quantity[0] == "rate":  # "50 mg/day" as a dose
        return DoseResult(quantity[1], "dose quantity in mg per day")
    if quantity is None or per_day is None:
        sig = _from_text(dosage, strength_mg, names)
        if sig is not None:
            return _agreeing(sig, quantity, per_day, strength_mg)
        if quantity is None:
            return _unknown("dose not recorded", "no-dose", "doseAndRate")
        return _unknown("dose frequency not recorded", "no-frequency", "timing")
    kind, value = quantity
    if kind == "mass":
        return DoseResult(value * per_day, "dose quantity x frequency")
    if strength_mg is None:
        sig = _from_text(dosage, None, names)  # "Take 1 tablet (50 mg total) ..." says the mg
        if sig is not None and sig.mg_per_day is not None:
            return _agreeing(sig, quantity, per_day, None)
        return _unknown(
            "dose in units of the product (tablets) but the product strength is unknown",
            "no-strength",
            "doseQuantity in product units",
        )
    count = value * per_day
    return DoseResult(count * strength_mg, "tablets x product strength", count)


def _dose_quantity(
    dosage: dict[str, Any], units: DoseUnits
) -> tuple[str, float] | DoseResult | None:
    """("mass", mg) | ("form", count of product units) | ("rate", mg a day); a DoseResult when
    the dose is recorded but cannot be used; None when it is not recorded."""
    for item in dosage.get("doseAndRate") or []:
        if not isinstance(item, dict):
            continue
        qty = item.get("doseQuantity")
        if isinstance(qty, dict):
            value = number(qty.get("value"))
            if value is None:
                continue
            return _in_units(value, qty, units, "doseQuantity")
        rng = item.get("doseRange")
        if isinstance(rng, dict):
            low, high = obj(rng.get("low")), obj(rng.get("high"))
            lv, hv = number(low.get("value")), number(high.get("value"))
            if lv is not None and lv == hv:
                return _in_units(lv, low, units, "doseRange")
            return _unknown("a dose range; the daily dose is unknown", "dose-range", "doseRange")
    return None


def _in_units(
    value: float, qty: dict[str, Any], units: DoseUnits, element: str
) -> tuple[str, float] | DoseResult:
    system, code, text = qty.get("system"), qty.get("code"), qty.get("unit")
    if not any(isinstance(v, str) and v.strip() for v in (code, text)):
        return ("form", value)  # Synthea's {"value": 1}: one unit of the product
    hit = units.unit(system, code, text)
    if hit is None:
        shown = code if isinstance(code, str) else text
        return _unknown(
            f"dose unit '{shown}' cannot be converted to mg", "unit-unconvertible", element
        )
    kind, _meaning, factor = hit
    return (kind, value * factor) if kind != "form" else ("form", value)


def _rate(dosage: dict[str, Any], units: DoseUnits) -> DoseResult | None:
    """doseAndRate.rateQuantity in mg/d, or rateRatio mg per N d: a daily dose with no frequency."""
    for item in dosage.get("doseAndRate") or []:
        if not isinstance(item, dict):
            continue
        qty = item.get("rateQuantity")
        if isinstance(qty, dict):
            value = number(qty.get("value"))
            hit = units.unit(qty.get("system"), qty.get("code"), qty.get("unit"))
            if value is not None and hit is not None and hit[0] == "rate":
                return DoseResult(value * hit[2], "rate in mg per day")
            return _unknown("a dose rate not in mg per day", "unit-unconvertible", "rateQuantity")
        ratio = item.get("rateRatio")
        if isinstance(ratio, dict):
            num, den = obj(ratio.get("numerator")), obj(ratio.get("denominator"))
            value = number(num.get("value"))
            hit = units.unit(num.get("system"), num.get("code"), num.get("unit"))
            per = number(den.get("value")) or 1.0
            den_unit = str(den.get("code") or den.get("unit") or "").strip().lower()
            days = _PERIOD_DAYS.get({"day": "d", "days": "d"}.get(den_unit, den_unit))
            if value is not None and hit is not None and hit[0] == "mass" and days and per > 0:
                return DoseResult(value * hit[2] / (per * days), "rate in mg per day")
            return _unknown("a dose rate not in mg per time", "unit-unconvertible", "rateRatio")
    return None


def _per_day(timing: Any, units: DoseUnits) -> float | DoseResult | None:
    if not isinstance(timing, dict):
        return None
    repeat = timing.get("repeat")
    if isinstance(repeat, dict):
        if repeat.get("frequencyMax") is not None or repeat.get("periodMax") is not None:
            # "1-2 times a day": the daily dose is a range, not a number
            return _unknown("a frequency range (frequencyMax/periodMax)", "frequency-max", "timing")
        if repeat.get("period") is not None or repeat.get("frequency"):
            frequency = number(repeat.get("frequency"))
            if frequency is None:
                frequency = 1.0  # a period without a frequency means once per period
            period = number(repeat.get("period")) or 1.0
            unit = repeat.get("periodUnit", "d")
            days = _PERIOD_DAYS.get(unit) if isinstance(unit, str) else None
            if frequency <= 0 or days is None or period <= 0:
                return None
            return frequency / (period * days)
        for key in ("when", "timeOfDay"):  # one dose per entry ("MORN", "HS"; "08:00")
            entries = repeat.get(key)
            if isinstance(entries, list) and entries:
                return float(len(entries))
    code = timing.get("code")
    if isinstance(code, dict):
        for coding in code.get("coding") or []:
            if isinstance(coding, dict):
                hit = units.per_day(coding.get("system"), coding.get("code"))
                if hit is not None:
                    return hit
        text = code.get("text")
        if isinstance(text, str):
            return units.per_day_text(text)
    return None


def _agreeing(
    sig: DoseResult,
    quantity: tuple[str, float] | None,
    per_day: float | None,
    strength_mg: float | None,
) -> DoseResult:
    """The sig's dose, unless the half of the structured dose that is recorded says otherwise
    (a dose quantity, or a frequency): then the dose is unknown (`sig-conflict`), never one of
    the two picked."""
    if sig.mg_per_day is None or sig.per_day is None:
        return sig
    disagrees = per_day is not None and abs(per_day - sig.per_day) > 1e-6
    if quantity is not None:
        kind, value = quantity
        dose_count = None if sig.units_per_day is None else sig.units_per_day / sig.per_day
        dose_mg = sig.mg_per_day / sig.per_day
        if kind == "mass":
            disagrees = disagrees or abs(value - dose_mg) > 1e-6
        elif dose_count is not None:
            disagrees = disagrees or abs(value - dose_count) > 1e-6
        elif strength_mg is not None:
            disagrees = disagrees or abs(value * strength_mg - dose_mg) > 1e-6
    if disagrees:
        return _unknown(
            "the dosage text disagrees with the structured dose or frequency",
            "sig-conflict",
            sig.shape or "dosage text",
        )
    return sig


def _from_text(
    dosage: dict[str, Any], strength_mg: float | None, names: frozenset[str]
) -> DoseResult | None:
    """The sig (dosage text, then the patient instruction); None when there is no text. A range
    or as-needed dose in either is an unknown dose (never the other text's single number), and
    two readable texts that disagree are a conflict."""
    results: list[DoseResult] = []
    for element in ("text", "patientInstruction"):
        text = dosage.get(element)
        if not isinstance(text, str) or not text.strip():
            continue
        result = _sig_dose(text, strength_mg, names, element)
        if result.reason in ("dose-range", "as-needed"):
            return result
        results.append(result)
    readable = [r for r in results if r.mg_per_day is not None]
    if len({round(r.mg_per_day or 0, 6) for r in readable}) > 1:
        return _unknown(
            "the dosage text and the patient instruction give different doses",
            "sig-conflict",
            "dosage text and patientInstruction",
        )
    if readable:
        return readable[0]
    return results[0] if results else None


def _sig_dose(
    text: str, strength_mg: float | None, names: frozenset[str], element: str
) -> DoseResult:
    sig = read_sig(text, names)
    shown = f"{element} '{text[:60]}'"
    if sig.reason or sig.amount is None or sig.per_day is None:
        why = {
            "dose-range": "the dosage text gives a dose range",
            "as-needed": "the dosage text says as needed",
        }.get(sig.reason, "the dosage text is not a single plain dose and frequency")
        return _unknown(why, sig.reason or "sig-unreadable", shown)
    if sig.unit == "mg":
        return DoseResult(
            sig.amount * sig.per_day, "parsed from dosage text", per_day=sig.per_day, shape=shown
        )
    count = sig.amount * sig.per_day
    if sig.total_mg is not None:
        if strength_mg is not None and abs(sig.amount * strength_mg - sig.total_mg) > 1e-6:
            return _unknown(
                "the dosage text's mg total disagrees with the product strength",
                "sig-conflict",
                shown,
            )
        return DoseResult(
            sig.total_mg * sig.per_day,
            "parsed from dosage text",
            count,
            per_day=sig.per_day,
            shape=shown,
        )
    if strength_mg is None:
        return _unknown(
            "dosage text in tablets but the product strength is unknown", "no-strength", shown
        )
    return DoseResult(
        count * strength_mg,
        "dosage text tablets x product strength",
        count,
        per_day=sig.per_day,
        shape=shown,
    )
