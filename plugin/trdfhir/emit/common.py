"""What every emitter shares: the write context and small FHIR datatype builders."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from ..fhir.values import json_number
from .codes import concept
from .ids import (
    ASSESSMENT_SYSTEM,
    DATA_ABSENT,
    OBSERVATION_CATEGORY,
    UCUM,
    digest,
    full_url,
    identifier,
    search,
)

Json = dict[str, Any]
SCORE_TYPES = ("Observation/", "QuestionnaireResponse/")  # what R4 allows in derivedFrom


@dataclass(frozen=True, kw_only=True)
class WriteContext:
    patient: str  # "Patient/p1"
    patient_id: str  # "p1"
    as_of: date
    now: str  # FHIR instant, UTC
    version: str  # the project's version
    contract: str  # the assessment contract's version
    device: Json  # Reference to the plugin's Device
    inputs: tuple[str, ...]  # every input resource, "Type/id"

    def business_id(self, kind: str, key: str, content: Any) -> str:
        """The deterministic identifier value of one assessment resource: a hash of the patient,
        what it is, the as-of date, the contract version, the inputs and the content."""
        return digest(
            kind, self.patient, key, self.as_of.isoformat(), self.contract, self.inputs, content
        )


@dataclass(frozen=True, kw_only=True)
class Written:
    """One resource to write and how: a conditional create on its identifier, or a conditional
    update when `update` holds the search that finds the resource to replace."""

    resource: Json
    system: str
    value: str
    update: str | None = None  # PUT [type]?<update>: replace the one match, or create
    match: str | None = None  # ifNoneExist other than the identifier search

    @property
    def full_url(self) -> str:
        return full_url(self.system, self.value)

    @property
    def reference(self) -> Json:
        return {"reference": self.full_url}

    def entry(self) -> Json:
        kind = self.resource["resourceType"]
        if self.update is not None:
            request: Json = {"method": "PUT", "url": f"{kind}?{self.update}"}
        else:
            match = self.match or search(self.system, self.value)
            request = {"method": "POST", "url": kind, "ifNoneExist": match}
        return {"fullUrl": self.full_url, "resource": self.resource, "request": request}


def assessment_identifier(value: str) -> list[Json]:
    return [identifier(ASSESSMENT_SYSTEM, value)]


def category(code: str, display: str) -> list[Json]:
    return [{"coding": [{"system": OBSERVATION_CATEGORY, "code": code, "display": display}]}]


def quantity(value: float | int, unit: str, code: str | None = None) -> Json:
    return {"value": number(value), "unit": unit, "system": UCUM, "code": code or unit}


def number(value: float | int) -> float | int:
    return json_number(value)


def value_of(value: Any) -> Json:
    """A Python value -> the matching value[x] (None -> dataAbsentReason unknown)."""
    if value is None:
        return absent("unknown")
    if isinstance(value, bool):
        return {"valueBoolean": value}
    if isinstance(value, int):
        return {"valueInteger": value}
    if isinstance(value, float):
        return {"valueQuantity": quantity(value, "{score}")}
    if isinstance(value, str):
        return {"valueString": value}
    raise TypeError(f"no FHIR value for {type(value).__name__}")


def absent(reason: str) -> Json:
    return {"dataAbsentReason": {"coding": [{"system": DATA_ABSENT, "code": reason}]}}


def component(code: str, value: Any = None, *, fields: Json | None = None) -> Json:
    """A component coded from the project's CodeSystem; `fields` gives value[x] directly."""
    return {"code": concept(code), **(fields if fields is not None else value_of(value))}


def score_refs(refs: Iterable[str]) -> list[Json]:
    """derivedFrom: only the score Observations and QuestionnaireResponses, sorted, once."""
    return [{"reference": r} for r in sorted(set(refs)) if r.startswith(SCORE_TYPES)]


def note(*texts: str) -> list[Json]:
    return [{"text": t} for t in texts if t]
