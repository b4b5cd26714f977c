"""The one module that imports fhir.resources: its R4B models read R4 (4.0.1) wire JSON.

fhir.resources 8.x ships R5 as its default and R4B under `fhir.resources.R4B`; R4B and R4 agree on
every element trd-fhir reads or writes. Pydantic is slow next to plain dicts, so the pipeline does
not use these models: validation does (`trd-fhir validate`, the tests of emit).
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError


def model_class(resource_type: str) -> Any:
    """The R4B model class of a resource type; ValueError for an unknown type."""
    return get_fhir_model_class(resource_type)


def parse(resource: dict[str, Any]) -> Any:
    """A resource as its R4B model (raises ValueError, or pydantic's ValidationError)."""
    return model_class(str(resource.get("resourceType"))).model_validate(resource)


def model_issues(resource: dict[str, Any]) -> list[tuple[str, str]]:
    """Why the R4B models reject a resource: (location, message) pairs, none when it parses.
    Locations are FHIRPath-like: `Bundle.entry[2].resource.valueInteger`."""
    kind = resource.get("resourceType")
    if not isinstance(kind, str):
        return [("", "not a FHIR resource: no resourceType")]
    try:
        cls = model_class(kind)
    except (ValueError, KeyError):
        return [("resourceType", f"unknown resource type {kind!r}")]
    try:
        cls.model_validate(resource)
    except ValidationError as exc:
        return [(location(kind, err["loc"]), err["msg"]) for err in exc.errors()]
    return []


def location(root: str, path: tuple[int | str, ...] | list[Any]) -> str:
    out = root
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part != "__root__":
            out += f".{part}"
    return out
