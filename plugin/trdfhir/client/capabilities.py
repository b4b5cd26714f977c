"""What a FHIR server says it can do (its CapabilityStatement), read defensively.

A server that lists no resources is taken to support everything (many do not fill the
statement in); a server that lists resources is taken at its word: unlisted types, search
parameters, _include values and operations are not used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import FhirServerError

# Search parameters every server understands without listing them (FHIR R4 search.html).
COMMON_PARAMS = frozenset({"_id", "_lastUpdated", "_count", "_include", "_elements"})


@dataclass(frozen=True)
class TypeCapabilities:
    interactions: frozenset[str]
    search_params: frozenset[str] | None  # None: not listed, unknown
    search_include: frozenset[str] | None
    operations: frozenset[str]
    conditional_create: bool


@dataclass(frozen=True)
class Capabilities:
    fhir_version: str
    software: str
    types: Mapping[str, TypeCapabilities] | None  # None: the statement lists no resources
    interactions: frozenset[str]  # system level: transaction, batch, ...
    operations: frozenset[str]  # system level operations

    @property
    def transaction(self) -> bool:
        return "transaction" in self.interactions

    def supports_type(self, rtype: str) -> bool:
        return self.types is None or rtype in self.types

    def _type(self, rtype: str) -> TypeCapabilities | None:
        return None if self.types is None else self.types.get(rtype)

    def can_search(self, rtype: str, param: str) -> bool:
        """True when `param` may be used on `rtype` (listed, common, or nothing listed)."""
        if not self.supports_type(rtype):
            return False
        caps = self._type(rtype)
        if caps is None or caps.search_params is None or param in COMMON_PARAMS:
            return True
        return param in caps.search_params

    def can_include(self, rtype: str, include: str) -> bool:
        """Only when listed: an unlisted _include can be refused or ignored by the server."""
        caps = self._type(rtype)
        if caps is None or caps.search_include is None:
            return False
        return include in caps.search_include or "*" in caps.search_include

    def has_operation(self, rtype: str, name: str) -> bool:
        name = name.lstrip("$")
        caps = self._type(rtype)
        return (caps is not None and name in caps.operations) or name in self.operations

    def can_create_conditionally(self, rtype: str) -> bool:
        caps = self._type(rtype)
        return caps is None or caps.conditional_create


def _names(items: Any, key: str) -> frozenset[str]:
    out = set()
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get(key), str):
            out.add(item[key])
    return frozenset(out)


def _operation_names(items: Any) -> frozenset[str]:
    names = set()
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        name = item.get("name")
        if isinstance(name, str):
            names.add(name.lstrip("$"))
        definition = item.get("definition")
        if isinstance(definition, str) and "/OperationDefinition/" in definition:
            # ".../OperationDefinition/Patient-everything" -> "everything"
            names.add(definition.rsplit("/", 1)[-1].split("-")[-1])
    return frozenset(names)


def parse_capabilities(statement: Any) -> Capabilities:
    """Read a CapabilityStatement; refuse anything that is not FHIR R4 (4.0.x)."""
    if not isinstance(statement, dict) or statement.get("resourceType") != "CapabilityStatement":
        raise FhirServerError("the server's /metadata is not a CapabilityStatement")
    version = statement.get("fhirVersion")
    if not isinstance(version, str):
        raise FhirServerError("the server's CapabilityStatement gives no fhirVersion")
    if not version.startswith("4.0."):
        raise FhirServerError(f"the server speaks FHIR {version}; trd-fhir needs FHIR R4 (4.0.x)")
    software = statement.get("software")
    name = software.get("name") if isinstance(software, dict) else None
    rest = next(
        (
            r
            for r in statement.get("rest") or []
            if isinstance(r, dict) and r.get("mode", "server") == "server"
        ),
        {},
    )
    types: dict[str, TypeCapabilities] = {}
    for res in rest.get("resource") or []:
        if not isinstance(res, dict) or not isinstance(res.get("type"), str):
            continue
        params = res.get("searchParam")
        includes = res.get("searchInclude")
        types[res["type"]] = TypeCapabilities(
            interactions=_names(res.get("interaction"), "code"),
            search_params=_names(params, "name") if isinstance(params, list) else None,
            search_include=(
                frozenset(i for i in includes if isinstance(i, str))
                if isinstance(includes, list)
                else None
            ),
            operations=_operation_names(res.get("operation")),
            conditional_create=res.get("conditionalCreate") is not False,
        )
    return Capabilities(
        fhir_version=version,
        software=name if isinstance(name, str) else "unknown",
        types=types or None,
        interactions=_names(rest.get("interaction"), "code"),
        operations=_operation_names(rest.get("operation")),
    )
