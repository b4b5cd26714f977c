"""One Observation per staging model (profile trd-stage-observation).

value[x] carries the model's headline (stage, score, category or met), components its dimensions,
interpretation its category, each as the model's declaration (`staging/<model>.py`, `SPEC.fhir`)
builds them with the `FhirKit` here. A model the registry does not know still gets an
Observation: code, note and method, no value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..model import AssessedTrial, StageResult
from ..staging import registry
from ..staging.base import Parts
from .codes import concept, concepts, model_code
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


class _Kit:
    """The FhirKit each staging model's `fhir` declaration builds its parts with."""

    def component(self, code: str, value: Any = None, *, fields: Json | None = None) -> Json:
        return component(code, value, fields=fields)

    def concept(self, code: str) -> Json:
        return concept(code)

    def absent(self, reason: str) -> Json:
        return absent(reason)

    def quantity(self, value: float, unit: str) -> Json:
        return quantity(value, unit)

    def known(self, code: str) -> bool:
        return code in concepts()


KIT = _Kit()


def parts_of(name: str, value: dict[str, object] | str) -> Parts:
    """value[x], components and interpretation of model `name`, from its declaration."""
    spec = registry().find(name)
    if spec is None:
        return ({"valueString": value}, [], []) if isinstance(value, str) else ({}, [], [])
    return spec.fhir(value, KIT)


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
    table = concepts()
    known = code in table
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
    title = table[code][0] if known else name
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
