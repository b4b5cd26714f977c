"""Observations and QuestionnaireResponses -> scores, labs, adherence notes and markers.

PHQ-9 totals come from a total Observation, or are summed from the nine item answers (standalone
item Observations, components of a panel, or a QuestionnaireResponse) when no total is given.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ..fhir.values import codings, number, obj, parse_date, ref_of, reference_target
from ..mappings import Mappings
from ..model import AdherenceNote, DataWarning, Lab, Marker, Rating, Score, ScorePoint
from .bundle import ResourceSet

_SCORE_UNITS = {"", "{score}", "score", "{scores}", "1", "{points}", "points", "{#}"}
_USABLE_STATUS = {None, "final", "amended", "corrected", "preliminary", "registered"}
_ORDINAL_URLS = (
    "http://hl7.org/fhir/StructureDefinition/ordinalValue",
    "http://hl7.org/fhir/StructureDefinition/itemWeight",
)
_MDQ_POSITIVE_MIN = 7  # MDQ part 1: >= 7 "yes" (research §3; co-occurrence/impairment not coded)


@dataclass
class ObservationOutput:
    scores: list[Score] = field(default_factory=list)
    labs: list[Lab] = field(default_factory=list)
    adherence: list[AdherenceNote] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    functional: list[Rating] = field(default_factory=list)
    item9: list[ScorePoint] = field(default_factory=list)
    warnings: list[DataWarning] = field(default_factory=list)


@dataclass
class _Items:
    """PHQ-9 item answers of one administration (one day)."""

    values: dict[int, int] = field(default_factory=dict)
    resources: set[str] = field(default_factory=set)


def read_observations(rs: ResourceSet, maps: Mappings, as_of: date) -> ObservationOutput:
    out = ObservationOutput()
    totals: dict[tuple[str, date], Score] = {}
    items: dict[date, _Items] = defaultdict(_Items)
    for resource, _loc in rs.resources:
        rtype = resource.get("resourceType")
        if rtype == "Observation":
            _observation(resource, maps, as_of, out, totals, items)
        elif rtype == "QuestionnaireResponse":
            _questionnaire(resource, maps, as_of, out, totals, items)
    _merge_items(totals, items, out)
    out.scores = sorted(totals.values(), key=lambda s: (s.day, s.scale))
    return out


def _day(resource: dict[str, Any], as_of: date, out: ObservationOutput) -> date | None:
    period = resource.get("effectivePeriod")
    raw = (
        resource.get("effectiveDateTime")
        or (period.get("start") if isinstance(period, dict) else None)
        or resource.get("authored")
        or resource.get("issued")
    )
    day, _ = parse_date(raw)
    if day is None:
        out.warnings.append(
            DataWarning(
                code="missing-date",
                diagnostic="no effective date; skipped",
                location=ref_of(resource),
            )
        )
        return None
    if day > as_of:
        out.warnings.append(
            DataWarning(
                code="after-as-of",
                diagnostic=f"dated {day.isoformat()}, after the as-of date; ignored",
                location=ref_of(resource),
            )
        )
        return None
    return day


def _observation(
    r: dict[str, Any],
    maps: Mappings,
    as_of: date,
    out: ObservationOutput,
    totals: dict[tuple[str, date], Score],
    items: dict[date, _Items],
) -> None:
    if r.get("status") not in _USABLE_STATUS:
        return
    known = [
        (c, maps.scale_codes.get((str(c.get("system")), str(c.get("code")))))
        for c in codings(r.get("code"))
    ]
    scale_code = next((sc for _, sc in known if sc is not None), None)
    kind = next(
        (maps.observation_kinds[k] for k in _keys(r.get("code")) if k in maps.observation_kinds),
        None,
    )
    components = [c for c in r.get("component") or [] if isinstance(c, dict)]
    if scale_code is None and kind is None and not components:
        return
    day = _day(r, as_of, out)
    if day is None:
        return
    ref = ref_of(r)
    if scale_code is not None and scale_code.role in ("total", "item"):
        value = _answer_value(r, maps)
        _add_value(
            scale_code.scale,
            scale_code.role,
            scale_code.item,
            value,
            r,
            day,
            ref,
            maps,
            out,
            totals,
            items,
        )
    for i, comp in enumerate(components):
        sc = next(
            (maps.scale_codes[k] for k in _keys(comp.get("code")) if k in maps.scale_codes), None
        )
        if sc is not None and sc.role in ("total", "item"):
            _add_value(
                sc.scale,
                sc.role,
                sc.item,
                _answer_value(comp, maps),
                comp,
                day,
                f"{ref}.component[{i}]",
                maps,
                out,
                totals,
                items,
                resource_ref=ref,
            )
    if kind is not None:
        _other_kind(kind, r, maps, day, ref, out)


def _keys(concept: Any) -> list[tuple[str, str]]:
    return [(str(c.get("system")), str(c.get("code"))) for c in codings(concept)]


def _add_value(
    scale: str,
    role: str,
    item: int | None,
    value: float | None,
    holder: dict[str, Any],
    day: date,
    where: str,
    maps: Mappings,
    out: ObservationOutput,
    totals: dict[tuple[str, date], Score],
    items: dict[date, _Items],
    resource_ref: str | None = None,
) -> None:
    ref = resource_ref or where
    unit = _unit(holder)
    if unit is not None and unit not in _SCORE_UNITS:
        out.warnings.append(
            DataWarning(
                code="unexpected-unit",
                diagnostic=f"{scale} value in '{unit}', not a score; ignored",
                location=where,
            )
        )
        return
    if value is None:
        out.warnings.append(
            DataWarning(
                code="missing-value",
                diagnostic=f"{scale} without a usable value; ignored",
                location=where,
            )
        )
        return
    info = maps.scales[scale]
    if role == "item":
        if scale == "PHQ-9" and item is not None and 0 <= value <= 3 and value == int(value):
            items[day].values[item] = int(value)
            items[day].resources.add(ref)
        else:
            out.warnings.append(
                DataWarning(
                    code="out-of-range",
                    diagnostic=f"{scale} item value {value:g} outside 0-3; ignored",
                    location=where,
                )
            )
        return
    if not info.min <= value <= info.max:
        out.warnings.append(
            DataWarning(
                code="out-of-range",
                diagnostic=f"{scale} total {value:g} outside {info.min:g}-{info.max:g}; ignored",
                location=where,
            )
        )
        return
    key = (scale, day)
    other = totals.get(key)
    if other is not None and other.value != value:
        out.warnings.append(
            DataWarning(
                code="duplicate-score",
                diagnostic=f"another {scale} total on {day.isoformat()} differs; the first "
                "resource by reference is used",
                location=max(ref, other.resources[0]),  # the one left out
            )
        )
    if other is None or ref < other.resources[0]:  # independent of input order
        totals[key] = Score(scale=scale, day=day, value=value, resources=(ref,))


def _unit(holder: dict[str, Any]) -> str | None:
    qty = holder.get("valueQuantity")
    if not isinstance(qty, dict):
        return None
    unit = qty.get("code") or qty.get("unit") or ""
    return str(unit).strip().lower()


def _answer_value(holder: dict[str, Any], maps: Mappings) -> float | None:
    for key in ("valueInteger", "valueDecimal"):
        if key in holder:
            return number(holder[key])
    qty = holder.get("valueQuantity")
    if isinstance(qty, dict):
        return number(qty.get("value"))
    if isinstance(holder.get("valueString"), str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*", holder["valueString"])
        return float(m[1]) if m else None
    coding = holder.get("valueCoding")
    candidates = (
        [coding] if isinstance(coding, dict) else codings(holder.get("valueCodeableConcept"))
    )
    for c in candidates:
        for ext in c.get("extension") or []:
            if isinstance(ext, dict) and ext.get("url") in _ORDINAL_URLS:
                raw = ext.get("valueDecimal", ext.get("valueInteger"))
                return number(raw)
        mapped = maps.scale_answers.get((str(c.get("system")), str(c.get("code"))))
        if mapped is not None:
            return float(mapped)
    return None


def _other_kind(
    kind: str, r: dict[str, Any], maps: Mappings, day: date, ref: str, out: ObservationOutput
) -> None:
    if kind in ("tsh", "vitamin-d"):
        qty = obj(r.get("valueQuantity"))
        value = number(qty.get("value"))
        unit = str(qty.get("code") or qty.get("unit") or "")
        factor = maps.lab_units.get((kind, unit))
        if value is None or factor is None or value < 0:
            out.warnings.append(
                DataWarning(
                    code="unexpected-unit",
                    diagnostic=f"{kind} result without a value in a known unit ('{unit}'); ignored",
                    location=ref,
                )
            )
            return
        out.labs.append(
            Lab(
                test=kind,  # type: ignore[arg-type]
                day=day,
                value=round(value * factor, 3),
                resource=ref,
                recorded_value=value,
                recorded_unit=unit or None,
            )
        )
    elif kind == "adherence":
        meaning = _meaning(r, maps)
        if meaning in ("adherent", "non-adherent"):
            focus = tuple(t for f in r.get("focus") or [] if (t := reference_target(f)))
            out.adherence.append(
                AdherenceNote(day=day, adherent=meaning == "adherent", resource=ref, focus=focus)
            )
    elif kind == "mdq":
        out.markers.append(Marker(kind="mdq", day=day, resource=ref))
        if _mdq_positive(r, maps):
            out.markers.append(Marker(kind="mdq-positive", day=day, resource=ref))
    else:
        out.markers.append(Marker(kind=kind, day=day, resource=ref))
        if kind == "functional":
            _functional_rating(r, maps, day, ref, out)


def _functional_rating(
    r: dict[str, Any], maps: Mappings, day: date, ref: str, out: ObservationOutput
) -> None:
    """The value of a functional rating (WSAS, Q-LES-Q-SF, WPAI, SOFAS, GAF), when it has one in
    the scale's range; a rating without a value stays a marker (the rating was done)."""
    scale = next(
        (maps.functional_scales[k] for k in _keys(r.get("code")) if k in maps.functional_scales),
        None,
    )
    if scale is None:
        return
    name, low, high = scale
    value = _answer_value(r, maps)
    if value is None:
        return
    if not low <= value <= high:
        out.warnings.append(
            DataWarning(
                code="out-of-range",
                diagnostic=f"{name} value {value:g} outside {low:g}-{high:g}; ignored",
                location=ref,
            )
        )
        return
    out.functional.append(Rating(scale=name, day=day, value=value, resource=ref))


def _meaning(r: dict[str, Any], maps: Mappings) -> str | None:
    concepts = [r.get("valueCodeableConcept"), *(r.get("interpretation") or [])]
    for concept in concepts:
        for key in _keys(concept):
            if key in maps.answer_meanings:
                return maps.answer_meanings[key]
    if isinstance(r.get("valueBoolean"), bool):
        return "positive" if r["valueBoolean"] else "negative"
    return None


def _mdq_positive(r: dict[str, Any], maps: Mappings) -> bool:
    meaning = _meaning(r, maps)
    if meaning is not None:
        return meaning == "positive"
    value = _answer_value(r, maps)
    return value is not None and value >= _MDQ_POSITIVE_MIN


def _questionnaire(
    r: dict[str, Any],
    maps: Mappings,
    as_of: date,
    out: ObservationOutput,
    totals: dict[tuple[str, date], Score],
    items: dict[date, _Items],
) -> None:
    if r.get("status") not in (None, "completed", "amended"):
        return
    found = list(_qr_items(r.get("item"), maps))
    if not found:
        return
    day = _day(r, as_of, out)
    if day is None:
        return
    ref = ref_of(r)
    for sc, answer in found:
        _add_value(
            sc.scale,
            sc.role,
            sc.item,
            _answer_value(answer, maps),
            answer,
            day,
            ref,
            maps,
            out,
            totals,
            items,
        )


def _qr_items(entries: Any, maps: Mappings, depth: int = 0) -> Any:
    if not isinstance(entries, list) or depth > 5:
        return
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        keys = [
            ("http://loinc.org", str(entry.get("linkId"))),
            *_keys({"coding": entry.get("code")}),
        ]
        sc = next((maps.scale_codes[k] for k in keys if k in maps.scale_codes), None)
        answers = [a for a in entry.get("answer") or [] if isinstance(a, dict)]
        if sc is not None and answers:
            yield sc, answers[0]
        yield from _qr_items(entry.get("item"), maps, depth + 1)


def _merge_items(
    totals: dict[tuple[str, date], Score], items: dict[date, _Items], out: ObservationOutput
) -> None:
    """Sum nine PHQ-9 items into a total where no total was given; keep every item 9 answer."""
    for day, got in sorted(items.items()):
        resources = tuple(sorted(got.resources))
        if 9 in got.values:
            out.item9.append(
                ScorePoint(scale="PHQ-9 item 9", value=got.values[9], day=day, resources=resources)
            )
        key = ("PHQ-9", day)
        if key not in totals and len(got.values) == 9:
            totals[key] = Score(
                scale="PHQ-9", day=day, value=float(sum(got.values.values())), resources=resources
            )
