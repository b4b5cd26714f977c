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


# -- the fast path -------------------------------------------------------------------------------
# Nearly every resource is well formed, so the check first asks only "is it?" with a boolean walk
# that formats nothing and calls no function for primitive elements (the bulk of a resource);
# only a resource that fails it is walked again by `_problem` above for the path and message.
# An element's kind: string, number, boolean, id (a string of the id pattern), a complex type
# (its element table), a resource (contained), or anything.
_STR, _NUM, _BOOL, _IDK, _COMPLEX, _RES, _ANY = range(7)
# element -> (repeats, kind, element table of a complex kind, nulls allowed in the list)
Table = dict[str, tuple[bool, int, Any, bool]]


@lru_cache(maxsize=1)
def _tables() -> dict[str, Table]:
    compiled = _compiled()
    prim = {"string": _STR, "number": _NUM, "boolean": _BOOL}
    tables: dict[str, Table] = {
        name: {} for name, shape in compiled.items() if shape[0] == "complex"
    }

    def kind_of(target: str) -> tuple[int, Any]:
        if target == "#any":
            return _ANY, None
        if target.startswith("#"):
            return prim[target[1:]], None
        shape = compiled.get(target, ("any",))
        if shape[0] == "prim":
            return (_IDK if target == "id" else prim[shape[1]]), None
        if shape[0] == "resource":
            return _RES, None
        if shape[0] == "complex":
            return _COMPLEX, tables[target]
        return _ANY, None

    for name, table in tables.items():
        for element, (repeats, target) in compiled[name][1].items():
            kind, inner = kind_of(target)
            nulls = element.startswith("_") or _is_primitive(target, compiled)
            table[element] = (repeats, kind, inner, nulls)
    return tables


def _number_ok(value: Any) -> bool:
    kind = type(value)
    return kind is int or (kind is float and math.isfinite(value))


class TooDeep(Exception):  # an internal signal: limits.check_input raises LimitError
    """The resource nests deeper than the depth left to it (fast_check's `depth`)."""


def _deep(value: Any, depth: int) -> None:
    """TooDeep when an element no check reads (unknown to the schema, or typed "any") holds
    containers deeper than `depth` levels."""
    level = [value]
    while level:
        if depth <= 0:
            raise TooDeep
        depth -= 1
        below: list[Any] = []
        for node in level:
            below += [c for c in (node.values() if type(node) is dict else node) if _nests(c)]
        level = below


def _nests(value: Any) -> bool:
    return isinstance(value, dict | list)


def _value_ok(value: Any, kind: int, inner: Any, depth: int) -> bool:
    # `depth`: the levels of objects/arrays `value` may still use (1: a flat object)
    if kind == _STR:
        return type(value) is str
    if kind == _COMPLEX:
        return type(value) is dict and _complex_ok(value, inner, depth)
    if kind == _NUM:
        return _number_ok(value)
    if kind == _BOOL:
        return type(value) is bool
    if kind == _IDK:
        return type(value) is str and _ID.fullmatch(value) is not None
    if kind == _RES:
        return _resource_ok(value, depth)
    if _nests(value):  # typed "any": nothing reads it, only its depth counts
        _deep(value, depth)
    return True


def _complex_ok(value: dict[str, Any], table: Table, depth: int) -> bool:
    if depth <= 0:
        raise TooDeep
    below = depth - 1  # for the elements' own objects; a list of them takes one more level
    get = table.get
    for name, item in value.items():
        spec = get(name)
        if spec is None:
            if _nests(item):
                _deep(item, below)
            continue
        repeats, kind, inner, nulls = spec
        # strings and objects, the most frequent kinds, are checked here without a call
        if not repeats:
            if kind == _STR:
                if type(item) is not str:
                    return False
            elif kind == _COMPLEX:
                if type(item) is not dict or not _complex_ok(item, inner, below):
                    return False
            elif not _value_ok(item, kind, inner, below):
                return False
            continue
        if type(item) is not list:
            return False
        if below <= 0:
            raise TooDeep
        if kind == _STR:
            for v in item:
                if type(v) is not str and not (v is None and nulls):
                    return False
        elif kind == _COMPLEX:
            for v in item:
                if type(v) is dict:
                    if not _complex_ok(v, inner, below - 1):
                        return False
                elif not (v is None and nulls):
                    return False
        else:
            for v in item:
                if not _value_ok(v, kind, inner, below - 1) and not (v is None and nulls):
                    return False
    return True


def _resource_ok(value: Any, depth: int) -> bool:
    if type(value) is not dict:
        return False
    rtype = value.get("resourceType")
    table = _tables().get(rtype) if type(rtype) is str else None
    return table is not None and "resourceType" in table and _complex_ok(value, table, depth)


def fast_check(resource: Any, depth: int) -> bool:
    """True when every known element of the resource has its FHIR JSON type; False when one
    does not (shape_problem then says which). TooDeep when the resource holds objects/arrays
    more than `depth` levels deep (the resource itself is one). One walk does both, and a
    resource that passes is never walked again."""
    if _resource_ok(resource, depth):
        return True
    if _nests(resource):  # the walk stopped at the first wrong element: the rest still counts
        _deep(resource, depth)
    return False


def resource_problem(
    value: Any, path: str = "", compiled: dict[str, Compiled] | None = None
) -> str | None:
    """The first element of a resource whose JSON type is wrong, or None."""
    if compiled is None and _fast_ok(value):
        return None
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


def _fast_ok(value: Any) -> bool:
    try:
        return _resource_ok(value, _UNBOUNDED)
    except RecursionError:  # a caller that did not bound the depth first: take the slow path
        return False


_UNBOUNDED = 1 << 30


def shape_problem(resource: Any) -> str | None:
    """None when every known element of the resource has its FHIR JSON type; else the first
    element that does not, as "path: expected ..., got ..." (path relative to the resource)."""
    return resource_problem(resource)
