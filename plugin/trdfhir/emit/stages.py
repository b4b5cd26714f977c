"""One Observation per staging model (profile trd-stage-observation).

value[x] carries the model's headline (stage, score, category or met), components its dimensions,
interpretation its category. A model this module does not know still gets an Observation: code,
note and method, no value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..model import AssessedTrial, StageResult
from .codes import CONCEPTS, concept, model_code
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
from .ids import ASSESSMENT_SYSTEM, PROFILE_STAGE

Parts = tuple[Json, list[Json], list[Json]]  # value fields, components, interpretation
MAUDSLEY_DIMENSIONS = ("duration", "severity", "failures", "augmentation", "ect")
CRITERIA = ("A", "B", "C", "D", "E")


def _met(met: Any) -> list[Json]:
    return [concept("criterion-met" if met else "criterion-not-met")]


def _criterion(value: Any) -> Json:
    code = f"criterion-{value}"
    return {"valueCodeableConcept": concept(code)} if code in CONCEPTS else absent("unknown")


def _regulatory(v: dict[str, Any]) -> Parts:
    parts = [
        component("failed-adequate-trials", v.get("failed_adequate_trials")),
        component("different-classes", v.get("different_classes")),
        component("ema-older-met", v.get("ema_older_met")),
    ]
    if v.get("excluded_by"):
        parts.append(component("excluded-by", ", ".join(map(str, v["excluded_by"]))))
    return {"valueBoolean": bool(v.get("met"))}, parts, _met(v.get("met"))


def _stage(v: dict[str, Any]) -> Parts:
    stage = v.get("stage")
    parts = []
    if "failed_trials" in v:
        parts.append(component("failed-adequate-trials", v["failed_trials"]))
    if v.get("classes"):
        parts.append(component("failed-classes", ", ".join(map(str, v["classes"]))))
    value = {"valueInteger": stage} if isinstance(stage, int) else absent("unknown")
    return value, parts, []


def _esm(v: dict[str, Any]) -> Parts:
    code = f"esm-{v.get('category')}"
    value = {"valueCodeableConcept": concept(code)} if code in CONCEPTS else absent("unknown")
    parts = [component("failed-adequate-trials", v.get("failed_trials"))]
    if isinstance(v.get("weeks"), int | float):
        parts.append(
            component("treatment-weeks", fields={"valueQuantity": quantity(v["weeks"], "wk")})
        )
    if isinstance(v.get("span_days"), int):
        parts.append(
            component("failure-span-days", fields={"valueQuantity": quantity(v["span_days"], "d")})
        )
    return value, parts, []


def _score(v: dict[str, Any]) -> Json:
    score = v.get("score")
    if isinstance(score, bool) or not isinstance(score, int | float):
        return absent("not-applicable" if v.get("category") == "not-applicable" else "unknown")
    return {"valueQuantity": quantity(score, "{score}")}


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _mgh(v: dict[str, Any]) -> Parts:
    return _score(v), [], []


def _maudsley(v: dict[str, Any]) -> Parts:
    dims = _mapping(v.get("dimensions"))
    parts = [component(f"maudsley-{d}", dims.get(d)) for d in MAUDSLEY_DIMENSIONS]
    score = v.get("score")
    value = {"valueInteger": score} if isinstance(score, int) else _score(v)
    code = f"maudsley-{v.get('category')}"
    return value, parts, [concept(code)] if code in CONCEPTS else []


def _dm_trd(v: dict[str, Any]) -> Parts:
    items = _mapping(v.get("items"))
    parts = [component(f"dm-trd-{k.replace('_', '-')}", items[k]) for k in items]
    parts.append(component("provisional", bool(v.get("provisional"))))
    return _score(v), parts, []


def _markowitz(v: dict[str, Any]) -> Parts:
    parts = [component("strict-met", bool(v.get("strict_met")))]
    for item in v.get("missing") or []:
        code = f"markowitz-{item}"
        fields = {"valueCodeableConcept": concept(code) if code in CONCEPTS else {"text": item}}
        parts.append(component("missing-criterion", fields=fields))
    return {"valueBoolean": bool(v.get("met"))}, parts, _met(v.get("met"))


def _guidi_fava(v: dict[str, Any]) -> Parts:
    parts = [component(f"guidi-fava-{c}", fields=_criterion(v.get(c))) for c in CRITERIA]
    if v.get("comorbidities"):
        parts.append(component("comorbidities", ", ".join(map(str, v["comorbidities"]))))
    return {}, parts, []


def _spectrum(label: Any) -> Parts:
    code = f"spectrum-{label}"
    value = {"valueCodeableConcept": concept(code)} if code in CONCEPTS else absent("unknown")
    return value, [], []


BUILDERS: dict[str, Callable[[dict[str, Any]], Parts]] = {
    "regulatory": _regulatory,
    "thase_rush": _stage,
    "esm": _esm,
    "mgh": _mgh,
    "maudsley": _maudsley,
    "dm_trd": _dm_trd,
    "conway": _stage,
    "markowitz": _markowitz,
    "guidi_fava": _guidi_fava,
}


def parts_of(name: str, value: dict[str, object] | str) -> Parts:
    if isinstance(value, str):
        return _spectrum(value) if name == "spectrum" else ({"valueString": value}, [], [])
    builder = BUILDERS.get(name)
    return builder(dict(value)) if builder else ({}, [], [])


def stage_observation(
    ctx: WriteContext,
    name: str,
    result: StageResult,
    upper: Any,
    counted: Sequence[AssessedTrial],
    has_upper: bool,
) -> Written:
    value, components, interpretation = parts_of(name, result.value)
    if has_upper:
        components = [*components, component("upper-bound", upper)]
    code = model_code(name)
    known = code in CONCEPTS
    ident = ctx.business_id("stage", name, [result.value, result.explanation, upper])
    resource: Json = {
        "resourceType": "Observation",
        "meta": {"profile": [PROFILE_STAGE]},
        "identifier": assessment_identifier(ident),
        "status": "preliminary",
        "category": category("survey", "Survey"),
        "code": concept(code) if known else {"text": name},
        "subject": {"reference": ctx.patient},
        "effectiveDateTime": ctx.as_of.isoformat(),
        "issued": ctx.now,
        **value,
    }
    if interpretation:
        resource["interpretation"] = interpretation
    resource["note"] = note(result.explanation)
    title = CONCEPTS[code][0] if known else name
    resource["method"] = {
        "text": f"{title}: {result.source}; trd-fhir {ctx.version}, "
        f"assessment contract {ctx.contract}"
    }
    resource["device"] = ctx.device
    derived = score_refs(r for t in counted for r in _score_resources(t))
    if derived:
        resource["derivedFrom"] = derived
    if components:
        resource["component"] = components
    return Written(resource=resource, system=ASSESSMENT_SYSTEM, value=ident)


def _score_resources(t: AssessedTrial) -> tuple[str, ...]:
    out = t.outcome
    return (
        *(out.baseline.resources if out.baseline else ()),
        *(out.end.resources if out.end else ()),
    )
