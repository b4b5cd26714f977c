"""The JSON shape of a resource: every known element has the JSON type FHIR R4 gives it.

    shape_problem(resource)   # None, or "dosage[0].doseAndRate: expected a list, got an object"

The pipeline reads resources as plain dicts and trusts FHIR's JSON types (a `coding` is a list of
objects, a `code` a string, a `value` a number). This check guarantees that before anything reads
a resource: strings are strings, numbers are finite numbers (not booleans), booleans are booleans,
complex elements are objects, repeating elements are lists of them, contained resources are
checked by their own type, and ids match the id pattern. It reads the types from the official R4
JSON Schema (the vendored copy of fhir/schema.py; a Bundle's entries are resources of their own,
checked one by one) but none of its other patterns or cardinalities: only what would make code
that expects FHIR JSON fail. Elements the schema does not know (extensions of other versions,
typos) are left alone; nothing reads them. It is fast (a dict walk; no jsonschema) and does not
recurse deeper than the input, whose depth limits.check_input has bounded first.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

from .schema import definitions

# A compiled definition: ("prim", json type) | ("complex", {element: (repeats, target)})
# | ("resource",) for the "any resource" list | ("any",). A target is a definition name, or
# "#string" / "#number" / "#boolean" / "#any" for inline types.
Compiled = tuple[Any, ...]
_JSON_TYPES = ("string", "number", "boolean")
# The one pattern checked: a resource id (R4 `id`) travels into references, the summary, the
# report, card text and the write-back, so it must be what FHIR says it is.
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def _target(spec: dict[str, Any]) -> str:
    if "$ref" in spec:
        return str(spec["$ref"]).rsplit("/", 1)[-1]
    kind = spec.get("type")
    if kind in _JSON_TYPES:
        return f"#{kind}"
    if "const" in spec or "enum" in spec:
        return "#string"
    return "#any"


@lru_cache(maxsize=1)
def _compiled() -> dict[str, Compiled]:
    out: dict[str, Compiled] = {}
    for name, definition in definitions().items():
        if "oneOf" in definition:
            out[name] = ("resource",)
        elif "properties" in definition:
            elements: dict[str, tuple[bool, str]] = {}
            for element, spec in definition["properties"].items():
                if spec.get("type") == "array":
                    elements[element] = (True, _target(spec.get("items") or {}))
                else:
                    elements[element] = (False, _target(spec))
            out[name] = ("complex", elements)
        elif definition.get("type") in _JSON_TYPES:
            out[name] = ("prim", definition["type"])
        else:
            out[name] = ("any",)
    return out


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float) and not math.isfinite(value):
        return f"the non-finite number {value!r}"
    names = {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number"}
    return names.get(type(value), "null" if value is None else type(value).__name__)


_EXPECTED = {"string": "a string", "number": "a finite number", "boolean": "true or false"}


def _primitive_ok(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return not isinstance(value, float) or math.isfinite(value)


def _is_primitive(target: str, compiled: dict[str, Compiled]) -> bool:
    return target.startswith("#") or compiled.get(target, ("any",))[0] == "prim"


# A problem as (path relative to the value checked, what is wrong). Paths are only built on the
# way back up from a problem: the walk over a well-formed resource formats no strings.
Problem = tuple[str, str]


def _under(prefix: str, found: Problem) -> Problem:
    rel, message = found
    if not rel:
        return prefix, message
    return f"{prefix}{rel}" if rel.startswith("[") else f"{prefix}.{rel}", message


def _problem(value: Any, target: str, compiled: dict[str, Compiled]) -> Problem | None:
    if target == "#any":
        return None
    if target.startswith("#"):
        kind = target[1:]
        if _primitive_ok(value, kind):
            return None
        return "", f"expected {_EXPECTED[kind]}, got {_kind(value)}"
    shape = compiled.get(target, ("any",))
    if shape[0] == "prim":
        if not _primitive_ok(value, shape[1]):
            return "", f"expected {_EXPECTED[shape[1]]}, got {_kind(value)}"
        if target == "id" and not _ID.fullmatch(value):
            return "", "not a FHIR id (1-64 of A-Z a-z 0-9 - .)"
        return None
    if shape[0] == "resource":
        return _resource(value, compiled)
    if shape[0] != "complex":
        return None
    if not isinstance(value, dict):
        return "", f"expected an object, got {_kind(value)}"
    elements: dict[str, tuple[bool, str]] = shape[1]
    for name, item in value.items():
        spec = elements.get(name)
        if spec is None:
            continue
        repeats, inner = spec
        if not repeats:
            found = _problem(item, inner, compiled)
            if found is not None:
                return _under(name, found)
            continue
        if not isinstance(item, list):
            return name, f"expected a list, got {_kind(item)}"
        # primitive lists may hold null where only the `_name` extension has a value
        nulls = name.startswith("_") or _is_primitive(inner, compiled)
        for i, v in enumerate(item):
            if v is None and nulls:
                continue
            found = _problem(v, inner, compiled)
            if found is not None:
                return _under(f"{name}[{i}]", found)
    return None


def _resource(value: Any, compiled: dict[str, Compiled]) -> Problem | None:
    """A resource inside another (contained, a Bundle entry)."""
    if not isinstance(value, dict):
        return "", f"expected a resource (an object), got {_kind(value)}"
    rtype = value.get("resourceType")
    shape = compiled.get(rtype) if isinstance(rtype, str) else None
    if shape is None or shape[0] != "complex" or "resourceType" not in shape[1]:
        return "resourceType", "not a FHIR R4 resource type"
    return _problem(value, str(rtype), compiled)


def resource_problem(
    value: Any, path: str = "", compiled: dict[str, Compiled] | None = None
) -> str | None:
    """The first element of a resource whose JSON type is wrong, or None."""
    compiled = compiled or _compiled()
    if not path:
        if not isinstance(value, dict):
            return f"resource: expected a resource (an object), got {_kind(value)}"
        rtype = value.get("resourceType")
        shape = compiled.get(rtype) if isinstance(rtype, str) else None
        if shape is None or shape[0] != "complex" or "resourceType" not in shape[1]:
            return "not a resource"  # a datatype's name or an unknown type
    found = _resource(value, compiled)
    if found is None:
        return None
    rel, message = _under(path, found) if path else found
    return f"{rel}: {message}"


def shape_problem(resource: Any) -> str | None:
    """None when every known element of the resource has its FHIR JSON type; else the first
    element that does not, as "path: expected ..., got ..." (path relative to the resource)."""
    return resource_problem(resource)
