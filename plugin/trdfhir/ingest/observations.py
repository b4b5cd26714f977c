"""Observations and QuestionnaireResponses -> scores, labs, adherence notes and markers.

PHQ-9 totals come from a total Observation, or are summed from the nine item answers (standalone
item Observations, components of a panel, or a QuestionnaireResponse) when no total is given.

QuestionnaireResponses are read as real forms write them (docs/real-world.md): item linkIds that
are LOINC codes, bare or with a path prefix ("/44250-9", "/44249-1/44260-8": NLM LHC-Forms, US
Core), nested groups, answers as LOINC answer codes (LA6568-5 ...; mappings/scales.json table
'answers'), ordinal-value extensions or numbers. A QuestionnaireResponse that looks like a known
scale (its `questionnaire` names a known form, or an item is a known scale code) but gives neither
a total nor every item gets a warning `questionnaire-unread`; an unreadable PHQ-9 item 9 always
gets its own warning, since the suicide-risk finding depends on it.
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
_LA_CODE = re.compile(r"LA\d{1,8}-\d")  # a LOINC answer code: unambiguous without its system
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
    if r.get("status") not in _USABLE_STATUS:
        if scale_code is not None or kind is not None:
            out.warnings.append(
                DataWarning(
                    code="observation-status",
                    diagnostic=f"status '{r.get('status')}': not a usable result; left out",
                    location=f"{ref_of(r)}.status",
                    reason="observation-status",
                )
            )
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
        system = c.get("system")
        if system is None and _LA_CODE.fullmatch(str(c.get("code"))):
            system = "http://loinc.org"  # LHC-Forms may leave out the system of LA answer codes
        mapped = maps.scale_answers.get((str(system), str(c.get("code"))))
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
    found = list(_qr_items(r.get("item"), maps))
    form = _form_scale(r.get("questionnaire"), maps)
    if not found and form is None:
        return
    if r.get("status") not in (None, "completed", "amended"):
        out.warnings.append(
            DataWarning(
                code="questionnaire-unread",
                diagnostic=f"status '{r.get('status')}': an unfinished or stopped questionnaire "
                "is not read (its item 9 included)",
                location=f"{ref_of(r)}.status",
                reason="questionnaire-status",
            )
        )
        return
    day = _day(r, as_of, out)
    if day is None:
        return
    ref = ref_of(r)
    read_total, read_items = False, set()
    for sc, answer, link in found:
        value = _answer_value(answer, maps) if answer is not None else None
        if value is None and sc.scale == "PHQ-9" and sc.item == 9:
            out.warnings.append(
                DataWarning(
                    code="item9-unread",
                    diagnostic=f"PHQ-9 item 9 (linkId '{link}') has no answer trd-fhir can read; "
                    "the suicide-risk finding cannot be checked for this questionnaire",
                    location=f"{ref}.item",
                    reason="item9-unread",
                )
            )
            continue
        if answer is None:
            continue  # an item without an answer: not answered
        before = len(out.warnings)
        _add_value(
            sc.scale,
            sc.role,
            sc.item,
            value,
            answer,
            day,
            ref,
            maps,
            out,
            totals,
            items,
        )
        if value is not None and len(out.warnings) == before:  # read without a complaint
            read_total = read_total or sc.role == "total"
            if sc.role == "item":
                read_items.add(sc.item)
    scales = {sc.scale for sc, _, _ in found if sc.role in ("total", "item", "panel")}
    scale = form or (sorted(scales)[0] if scales else None)
    if scale is not None and not read_total and not (scale == "PHQ-9" and len(read_items) == 9):
        out.warnings.append(
            DataWarning(
                code="questionnaire-unread",
                diagnostic=f"looks like a {scale} questionnaire, but neither a total nor every "
                "item could be read (linkIds, answer codes or values of an unknown shape)",
                location=f"{ref}.item",
                reason="questionnaire-unread",
            )
        )


_LOINC = re.compile(r"\d{1,8}-\d")


def link_code(link_id: Any) -> str | None:
    """The LOINC code a linkId names: bare ("44250-9") or as the last segment of a path
    ("/44250-9", "/44249-1/44260-8"), as NLM LHC-Forms and US Core write them."""
    if not isinstance(link_id, str):
        return None
    last = link_id.rstrip("/").rsplit("/", 1)[-1].strip()
    return last if _LOINC.fullmatch(last) else None


def _form_scale(canonical: Any, maps: Mappings) -> str | None:
    """The scale a QuestionnaireResponse.questionnaire names (last segment of the canonical,
    version after '|' ignored), if it is a known form."""
    if not isinstance(canonical, str):
        return None
    last = canonical.split("|", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return maps.scale_forms.get(last)


def _qr_items(entries: Any, maps: Mappings, depth: int = 0) -> Any:
    """(scale code, first answer or None, linkId) of each item that is a known scale code,
    through nested groups and items nested under answers."""
    if not isinstance(entries, list) or depth > 5:
        return
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        link = entry.get("linkId")
        code = link_code(link)
        keys = [
            *([("http://loinc.org", code)] if code else []),
            ("http://loinc.org", str(link)),
            *_keys({"coding": entry.get("code")}),
        ]
        sc = next((maps.scale_codes[k] for k in keys if k in maps.scale_codes), None)
        answers = [a for a in entry.get("answer") or [] if isinstance(a, dict)]
        if sc is not None and sc.role != "panel":
            yield sc, (answers[0] if answers else None), str(link)
        elif sc is not None:
            yield sc, None, str(link)
        yield from _qr_items(entry.get("item"), maps, depth + 1)
        for answer in answers:
            yield from _qr_items(answer.get("item"), maps, depth + 1)


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
