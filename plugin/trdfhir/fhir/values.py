"""Small readers for FHIR datatypes held as plain dicts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
# Dates outside these years are not read: they are sentinels ("9999-12-31" for no end,
# "0001-01-01" for unknown), never clinical dates, and date arithmetic near the ends of the
# calendar overflows.
MIN_YEAR, MAX_YEAR = 1800, 2999


def parse_date(value: Any) -> tuple[date | None, bool]:
    """FHIR date/dateTime -> (date, precise). The date part is read as written (no time zone
    shift), so the same input gives the same day everywhere. Partial dates give the first day
    of their year or month with precise=False. Years outside MIN_YEAR..MAX_YEAR give None."""
    if not isinstance(value, str):
        return None, False
    m = _DATE.match(value)
    if not m:
        return None, False
    year, month, day = int(m[1]), int(m[2] or 1), int(m[3] or 1)
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None, False
    try:
        return date(year, month, day), m[3] is not None
    except ValueError:
        return None, False


def codings(concept: Any) -> list[dict[str, Any]]:
    """The codings of a CodeableConcept (empty when absent or malformed)."""
    if not isinstance(concept, dict):
        return []
    return [c for c in concept.get("coding") or [] if isinstance(c, dict)]


def concept_text(concept: Any) -> str:
    """All human text of a CodeableConcept: text and coding displays."""
    if not isinstance(concept, dict):
        return ""
    parts = [concept.get("text")] + [c.get("display") for c in codings(concept)]
    return " ".join(p for p in parts if isinstance(p, str))


def iter_concepts(value: Any) -> Iterator[dict[str, Any]]:
    """A CodeableConcept or a list of them."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, dict):
            yield item


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def ref_of(resource: dict[str, Any]) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id', '?')}"


def reference_target(reference: Any) -> str | None:
    """'Patient/1', 'http://x/fhir/Patient/1/_history/2' -> 'Patient/1'; urn and '#id' kept."""
    if not isinstance(reference, dict):
        return None
    ref = reference.get("reference")
    if not isinstance(ref, str) or not ref:
        return None
    if ref.startswith(("urn:", "#")):
        return ref
    parts = [p for p in ref.split("/_history/")[0].split("/") if p]
    if len(parts) >= 2:
        return f"{parts[-2]}/{parts[-1]}"
    return ref


def obj(value: Any) -> dict[str, Any]:
    """A JSON object, or an empty one when the value is absent or not an object."""
    return value if isinstance(value, dict) else {}


def json_number(value: float) -> float | int:
    """Whole numbers as ints, others rounded to 2 places: the same bytes on every run."""
    rounded = round(float(value), 2)
    return int(rounded) if rounded == int(rounded) else rounded
