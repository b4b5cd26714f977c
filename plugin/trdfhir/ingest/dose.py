"""Daily dose in mg from FHIR Dosage elements.

daily dose = dose quantity x administrations per day. A dose in tablets or capsules uses the
product's strength. Anything that cannot be derived gives None with the reason, never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..fhir.values import number, obj

_MG_FACTORS = {
    "mg": 1.0,
    "milligram": 1.0,
    "milligrams": 1.0,
    "g": 1000.0,
    "gram": 1000.0,
    "ug": 0.001,
    "mcg": 0.001,
    "µg": 0.001,
    "microgram": 0.001,
}
_UNIT_WORDS = {
    "tablet": "tablet",
    "tablets": "tablet",
    "tab": "tablet",
    "tabs": "tablet",
    "{tbl}": "tablet",
    "{tablet}": "tablet",
    "{tablets}": "tablet",
    "capsule": "capsule",
    "capsules": "capsule",
    "cap": "capsule",
    "{capsule}": "capsule",
    "{caps}": "capsule",
    "patch": "patch",
    "{patch}": "patch",
}
_PERIOD_DAYS = {
    "s": 1 / 86400,
    "min": 1 / 1440,
    "h": 1 / 24,
    "d": 1.0,
    "wk": 7.0,
    "mo": 30.0,
    "a": 365.0,
}
_TIMING_CODES = {"QD": 1.0, "BID": 2.0, "TID": 3.0, "QID": 4.0, "QOD": 0.5, "AM": 1.0, "PM": 1.0}
_TEXT_FREQUENCY = (
    (re.compile(r"\b(twice (a|per) day|twice daily|bid|b\.i\.d\.)\b", re.I), 2.0),
    (re.compile(r"\b(three times (a|per) day|tid|t\.i\.d\.)\b", re.I), 3.0),
    (
        re.compile(
            r"\b(once (a|per) day|once daily|daily|every day|each day|qd|q\.d\.|"
            r"every morning|every night|at night|nightly|at bedtime|qhs)\b",
            re.I,
        ),
        1.0,
    ),
)
_TEXT_DOSE = re.compile(r"(\d+(?:\.\d+)?)\s*(mg|milligrams?)\b", re.I)
_STRENGTH = re.compile(r"(\d+(?:\.\d+)?)\s*MG\b", re.I)


@dataclass(frozen=True)
class DoseResult:
    mg_per_day: float | None
    source: str | None  # how it was derived, or why not
    units_per_day: float | None = None  # tablets/capsules a day, for supply from quantity


def strength_from_text(text: str) -> float | None:
    """'sertraline 50 MG Oral Tablet' -> 50.0 (only when exactly one strength is named)."""
    found = {float(m) for m in _STRENGTH.findall(text or "")}
    return found.pop() if len(found) == 1 else None


def daily_dose(dosages: Any, strength_mg: float | None) -> DoseResult:
    if not isinstance(dosages, list) or not dosages:
        return DoseResult(None, "no dosage recorded")
    sequences = {d.get("sequence") for d in dosages if isinstance(d, dict)}
    if len(sequences) > 1:
        return DoseResult(None, "a dosage schedule with several steps; daily dose not derivable")
    total_mg, total_units, sources = 0.0, 0.0, set()
    for dosage in dosages:
        if not isinstance(dosage, dict):
            return DoseResult(None, "malformed dosage")
        one = _one_dosage(dosage, strength_mg)
        if one.mg_per_day is None:
            return one
        total_mg += one.mg_per_day
        total_units += one.units_per_day or 0.0
        sources.add(one.source or "")
    return DoseResult(round(total_mg, 3), "; ".join(sorted(sources)), total_units or None)


def _one_dosage(dosage: dict[str, Any], strength_mg: float | None) -> DoseResult:
    if dosage.get("asNeededBoolean") is True:
        return DoseResult(None, "as-needed dosing")
    quantity = _dose_quantity(dosage)
    per_day = _per_day(dosage.get("timing"))
    text = dosage.get("text") if isinstance(dosage.get("text"), str) else ""
    if quantity is None or per_day is None:
        return _from_text(text) if text else DoseResult(None, "dose or frequency not recorded")
    value, unit = quantity
    factor = _MG_FACTORS.get(unit)
    if factor is not None:
        return DoseResult(value * factor * per_day, "dose quantity x frequency")
    if unit in _UNIT_WORDS or unit == "1":
        if strength_mg is None:
            return DoseResult(None, "dose in tablets but the product strength is unknown")
        units = value * per_day
        return DoseResult(units * strength_mg, "tablets x product strength", units)
    return DoseResult(None, f"dose unit '{unit}' cannot be converted to mg")


def _dose_quantity(dosage: dict[str, Any]) -> tuple[float, str] | None:
    for item in dosage.get("doseAndRate") or []:
        if not isinstance(item, dict):
            continue
        qty = item.get("doseQuantity")
        if isinstance(qty, dict):
            value = number(qty.get("value"))
            unit = qty.get("code") or qty.get("unit") or ""
            if value is not None and isinstance(unit, str):
                return value, unit.strip().lower()
        rng = item.get("doseRange")
        if isinstance(rng, dict):
            low, high = obj(rng.get("low")), obj(rng.get("high"))
            lv, hv = number(low.get("value")), number(high.get("value"))
            unit = low.get("code") or low.get("unit") or ""
            if lv is not None and lv == hv and isinstance(unit, str):
                return lv, unit.strip().lower()
    return None


def _per_day(timing: Any) -> float | None:
    if not isinstance(timing, dict):
        return None
    repeat = timing.get("repeat")
    if isinstance(repeat, dict) and (repeat.get("period") is not None or repeat.get("frequency")):
        if repeat.get("frequencyMax") is not None or repeat.get("periodMax") is not None:
            return None  # "1-2 times a day": the daily dose is a range, not a number
        frequency = number(repeat.get("frequency"))
        if frequency is None:
            frequency = 1.0  # a period without a frequency means once per period
        if frequency <= 0:
            return None
        period = number(repeat.get("period")) or 1.0
        unit = repeat.get("periodUnit", "d")
        days = _PERIOD_DAYS.get(unit) if isinstance(unit, str) else None
        if days is None or period <= 0:
            return None
        return frequency / (period * days)
    if isinstance(repeat, dict) and isinstance(repeat.get("timeOfDay"), list):
        return float(len(repeat["timeOfDay"])) or None
    code = timing.get("code")
    if isinstance(code, dict):
        for coding in code.get("coding") or []:
            if isinstance(coding, dict) and coding.get("code") in _TIMING_CODES:
                return _TIMING_CODES[coding["code"]]
    return None


_TEXT_AMBIGUOUS = re.compile(
    r"\b(tablets?|tabs?|capsules?|caps?|half|quarter|and|then|or|plus|increase|decrease|taper|"
    r"titrat\w*|week|weeks|alternate)\b|\d+\s*/\s*\d+|\d+(\.\d+)?\s*x\b",
    re.I,
)


def _from_text(text: str) -> DoseResult:
    """Only the plainest text ("sertraline 100 mg once daily"): exactly one mg amount, one
    frequency, and nothing that could change it (tablets, fractions, 'and', titration)."""
    doses = _TEXT_DOSE.findall(text)
    frequency = next((f for pattern, f in _TEXT_FREQUENCY if pattern.search(text)), None)
    if len(doses) == 1 and frequency is not None and not _TEXT_AMBIGUOUS.search(text):
        return DoseResult(float(doses[0][0]) * frequency, "parsed from dosage text")
    return DoseResult(None, "dosage text is not a single plain dose and frequency")
