"""From a Bundle, a list of resources or NDJSON lines to a checked, indexed set of resources.

Checks: every item is a JSON object with a known R4 resourceType; all resources belong to one
patient. Drops `entered-in-error` resources. Indexes resources by `Type/id` and by `fullUrl`, so
references (including `urn:uuid:` ones of transaction Bundles) can be followed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from ..fhir.resource_types import R4_RESOURCE_TYPES
from ..fhir.values import ref_of, reference_target

_MAX_NESTING = 3
OWN_NAMESPACE = "http://trd-fhir.org/fhir/"  # the systems of everything trd-fhir writes


@dataclass(kw_only=True)
class ResourceSet:
    patient: str
    resources: list[tuple[dict[str, Any], str]]  # (resource, location in the input)
    by_ref: dict[str, dict[str, Any]] = field(default_factory=dict)

    def resolve(self, reference: Any, container: dict[str, Any]) -> dict[str, Any] | None:
        target = reference_target(reference)
        if target is None:
            return None
        if target.startswith("#"):
            for item in container.get("contained") or []:
                if isinstance(item, dict) and item.get("id") == target[1:]:
                    return item
            return None
        return self.by_ref.get(target)


def _walk(
    data: Any,
    location: str,
    full_url: str | None,
    out: list[tuple[dict[str, Any], str, str | None]],
    depth: int,
) -> None:
    if isinstance(data, list):
        for i, item in enumerate(data):
            _walk(item, f"{location}[{i}]", None, out, depth)
        return
    if not isinstance(data, dict):
        raise InputError(
            f"expected a FHIR resource (a JSON object), got {_kind(data)}", location=location
        )
    rtype = data.get("resourceType")
    if not isinstance(rtype, str):
        raise InputError("resource without a resourceType", location=location)
    if rtype not in R4_RESOURCE_TYPES:
        raise InputError(
            f"'{rtype}' is not a FHIR R4 resource type", location=f"{location}.resourceType"
        )
    if rtype == "Bundle":
        if depth >= _MAX_NESTING:
            raise InputError("Bundles nested too deeply", location=location)
        entries = data.get("entry") or []
        if not isinstance(entries, list):
            raise InputError("Bundle.entry must be a list", location=f"{location}.entry")
        for i, entry in enumerate(entries):
            where = f"{location}.entry[{i}]"
            if not isinstance(entry, dict):
                raise InputError(
                    f"Bundle entry must be an object, got {_kind(entry)}", location=where
                )
            if "resource" not in entry:
                continue  # e.g. a delete or a search-mode outcome without a resource
            url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
            _walk(entry["resource"], f"{where}.resource", url, out, depth + 1)
        return
    out.append((data, location, full_url))


def _kind(value: Any) -> str:
    names: dict[type, str] = {dict: "an object", list: "a list", str: "a string"}
    return names.get(type(value), type(value).__name__)


def is_entered_in_error(resource: dict[str, Any]) -> bool:
    if resource.get("status") == "entered-in-error":
        return True
    verification = resource.get("verificationStatus")
    if isinstance(verification, dict):
        return any(
            c.get("code") == "entered-in-error"
            for c in verification.get("coding") or []
            if isinstance(c, dict)
        )
    return False


def is_own_output(resource: dict[str, Any]) -> bool:
    """A resource trd-fhir wrote back earlier (identifier system, tag or profile in the project's
    namespace): never an input of the next evaluation, or each write would feed the next."""
    meta = resource.get("meta") if isinstance(resource.get("meta"), dict) else {}
    systems = [i.get("system") for i in resource.get("identifier") or [] if isinstance(i, dict)]
    systems += [t.get("system") for t in (meta or {}).get("tag") or [] if isinstance(t, dict)]
    systems += list((meta or {}).get("profile") or [])
    return any(isinstance(s, str) and s.startswith(OWN_NAMESPACE) for s in systems)


def build_resource_set(data: Any) -> ResourceSet:
    items = _collect(data)
    by_ref: dict[str, dict[str, Any]] = {}
    urls: dict[str, str] = {}
    for resource, _loc, url in items:
        if isinstance(resource.get("id"), str):
            by_ref[ref_of(resource)] = resource
            if url:
                urls[url] = ref_of(resource)
        if url:
            by_ref[url] = resource
    kept = [(r, loc) for r, loc, _ in items if not is_entered_in_error(r) and not is_own_output(r)]
    patient = _single_patient(kept, urls)
    return ResourceSet(patient=patient, resources=kept, by_ref=by_ref)


def _collect(data: Any) -> list[tuple[dict[str, Any], str, str | None]]:
    out: list[tuple[dict[str, Any], str, str | None]] = []
    root = data.get("resourceType") if isinstance(data, dict) else None
    _walk(data, root if isinstance(root, str) else "input", None, out, 0)
    return out


def _patient_refs(resource: dict[str, Any], urls: dict[str, str]) -> Iterable[str]:
    if resource.get("resourceType") == "Patient":
        yield ref_of(resource)
        return
    for key in ("subject", "patient"):
        target = reference_target(resource.get(key))
        if target is None:
            continue
        target = urls.get(target, target)
        if target.startswith("Patient/") or target.startswith("urn:"):
            yield target


def _single_patient(items: list[tuple[dict[str, Any], str]], urls: dict[str, str]) -> str:
    seen: dict[str, str] = {}
    for resource, loc in items:
        for ref in _patient_refs(resource, urls):
            if ref not in seen:
                seen[ref] = loc
            if len(seen) > 1:
                first, second = list(seen)[:2]
                raise InputError(
                    f"resources of more than one patient ({first}, {second}); "
                    "evaluate one patient at a time",
                    location=seen[second],
                )
    if not seen:
        raise InputError("no patient found: include the Patient or reference it in subject")
    return next(iter(seen))
