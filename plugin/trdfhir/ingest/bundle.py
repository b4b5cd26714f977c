"""From a Bundle, a list of resources or NDJSON lines to a checked, indexed set of resources.

Checks: every item is a JSON object with a known R4 resourceType; all resources belong to one
patient. Drops `entered-in-error` resources, and resources whose elements do not have their FHIR
JSON types (warning `malformed-resource`; fhir/shape.py). Indexes resources by `Type/id` and by
`fullUrl`, so references (including `urn:uuid:` ones of transaction Bundles) can be followed.

Real shapes (docs/real-world.md):
- A resource without an `id` whose entry has a `urn:uuid:` fullUrl (transaction Bundles of
  generators and integration engines) is read as `Type/<uuid>`, the id a server loading the
  transaction through `trd-fhir sandbox` gives it.
- A Bundle nested in a Bundle (eCQM test cases store their own test Bundle inside it) is read
  once: a resource of a nested Bundle that the outer Bundle also holds is the same record twice,
  and only the outer copy is read.
- A resource of a type trd-fhir does not read that names another patient (a ServiceRequest of a
  relative, say) is left out with a warning; read types of another patient stay an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from ..fhir.resource_types import R4_RESOURCE_TYPES
from ..fhir.shape import shape_problem
from ..fhir.values import ref_of, reference_target
from ..model import DataWarning

_MAX_NESTING = 3
OWN_NAMESPACE = "http://trd-fhir.org/fhir/"  # the systems of everything trd-fhir writes


@dataclass(kw_only=True)
class ResourceSet:
    patient: str
    resources: list[tuple[dict[str, Any], str]]  # (resource, location in the input)
    by_ref: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[DataWarning] = field(default_factory=list)  # resources left out, and why

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


Item = tuple[dict[str, Any], str, str | None]  # resource, location, fullUrl

# The resource types whose content the readers use (ingest/*.py): another patient's resource of
# one of these is an error; another patient's resource of any other type is left out.
READ_TYPES = frozenset(
    {
        "Patient",
        "Condition",
        "Procedure",
        "CarePlan",
        "Observation",
        "QuestionnaireResponse",
        "MedicationStatement",
        "MedicationRequest",
        "MedicationDispense",
        "MedicationAdministration",
    }
)


def _walk(
    data: Any,
    location: str,
    full_url: str | None,
    out: list[Item],
    depth: int,
    depths: dict[int, int] | None = None,
) -> None:
    if isinstance(data, list):
        for i, item in enumerate(data):
            _walk(item, f"{location}[{i}]", None, out, depth, depths)
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
    if rtype != "Bundle" and _has_bundle_entries(data):
        raise InputError(
            f"a {rtype} with Bundle entries (entry[].resource): a Bundle relabelled "
            f"'{rtype}'? Set resourceType to \"Bundle\"",
            location=f"{location}.resourceType",
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
            _walk(entry["resource"], f"{where}.resource", url, out, depth + 1, depths)
        return
    if depths is not None:
        depths[len(out)] = depth
    out.append((_with_id(data, full_url), location, full_url))


def _has_bundle_entries(data: dict[str, Any]) -> bool:
    """An `entry` list of objects holding a `resource`: the shape of Bundle.entry (List.entry
    holds `item`, a reference, never a resource)."""
    entries = data.get("entry")
    return isinstance(entries, list) and any(
        isinstance(e, dict) and isinstance(e.get("resource"), dict) for e in entries
    )


_UUID = re.compile(r"urn:uuid:([A-Za-z0-9\-.]{1,64})")
_URL_ID = re.compile(r"https?://\S+/([A-Za-z]+)/([A-Za-z0-9\-.]{1,64})")


def _with_id(resource: dict[str, Any], full_url: str | None) -> dict[str, Any]:
    """A resource without an id gets one from its entry's fullUrl (a copy: the input is not
    changed): the uuid of a `urn:uuid:`, or the id of an absolute `.../Type/id` URL of its type."""
    if "id" in resource or full_url is None:
        return resource
    m = _UUID.fullmatch(full_url)
    if m:
        return {**resource, "id": m[1]}
    m = _URL_ID.fullmatch(full_url)
    if m and m[1] == resource.get("resourceType"):
        return {**resource, "id": m[2]}
    return resource


def _kind(value: Any) -> str:
    names: dict[type, str] = {dict: "an object", list: "a list", str: "a string"}
    return names.get(type(value), type(value).__name__)


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def is_entered_in_error(resource: dict[str, Any]) -> bool:
    if resource.get("status") == "entered-in-error":
        return True
    verification = resource.get("verificationStatus")
    if isinstance(verification, dict):
        return any(
            c.get("code") == "entered-in-error"
            for c in _items(verification.get("coding"))
            if isinstance(c, dict)
        )
    return False


def is_own_output(resource: dict[str, Any]) -> bool:
    """A resource trd-fhir wrote back earlier (identifier system, tag or profile in the project's
    namespace): never an input of the next evaluation, or each write would feed the next."""
    meta = resource.get("meta") if isinstance(resource.get("meta"), dict) else {}
    systems = [i.get("system") for i in _items(resource.get("identifier")) if isinstance(i, dict)]
    systems += [t.get("system") for t in _items((meta or {}).get("tag")) if isinstance(t, dict)]
    systems += _items((meta or {}).get("profile"))
    return any(isinstance(s, str) and s.startswith(OWN_NAMESPACE) for s in systems)


def build_resource_set(data: Any, well_formed: frozenset[int] = frozenset()) -> ResourceSet:
    """`well_formed`: ids (`id()`) of resources already found well formed (limits.check_input)."""
    items, warnings = _well_formed(_read_once(*_collect(data)), well_formed)
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
    warnings.extend(
        DataWarning(
            code="observation-status",
            diagnostic="status 'entered-in-error': not a result; left out",
            location=f"{ref_of(r)}.status",
            reason="observation-status",
        )
        for r, _loc, _ in items
        if r.get("resourceType") == "Observation" and r.get("status") == "entered-in-error"
    )
    kept, duplicates = _latest_versions(kept)
    warnings.extend(duplicates)
    refs = [tuple(_patient_refs(r, urls)) for r, _ in kept]
    kept, refs, strangers = _other_patients_unread(kept, refs)
    warnings.extend(strangers)
    patient = _single_patient(kept, refs)
    return ResourceSet(patient=patient, resources=kept, by_ref=by_ref, warnings=warnings)


def _read_once(items: list[Item], depths: dict[int, int]) -> list[Item]:
    """Leave out a nested Bundle's copy of a resource that a Bundle nearer the top also holds
    (same Type/id): the same record stored twice, not another version."""
    if len(set(depths.values())) <= 1:
        return items  # no nested Bundle
    shallowest: dict[str, int] = {}
    for i, (resource, _loc, _url) in enumerate(items):
        if isinstance(resource.get("id"), str):
            ref = ref_of(resource)
            shallowest[ref] = min(shallowest.get(ref, depths[i]), depths[i])
    return [
        item
        for i, item in enumerate(items)
        if not isinstance(item[0].get("id"), str) or depths[i] <= shallowest[ref_of(item[0])]
    ]


def _other_patients_unread(
    items: list[tuple[dict[str, Any], str]], refs: list[tuple[str, ...]]
) -> tuple[list[tuple[dict[str, Any], str]], list[tuple[str, ...]], list[DataWarning]]:
    """Leave out, with a warning, the resources of types no reader uses that name another patient
    than the one the read types name (a ServiceRequest of a relative, say). `refs`: the patient
    references of each item."""
    own = {
        ref
        for (r, _), found in zip(items, refs, strict=True)
        if r.get("resourceType") in READ_TYPES
        for ref in found
    }
    if len(own) != 1:
        return items, refs, []  # no patient, or several: _single_patient says so
    kept, kept_refs, warnings = [], [], []
    for (resource, loc), found in zip(items, refs, strict=True):
        if resource.get("resourceType") in READ_TYPES or set(found) <= own:
            kept.append((resource, loc))
            kept_refs.append(found)
            continue
        warnings.append(
            DataWarning(
                code="other-patient",
                diagnostic=f"{resource.get('resourceType')} of another patient, a type trd-fhir "
                "does not read; left out",
                location=ref_of(resource) if isinstance(resource.get("id"), str) else loc,
                reason="other-patient",
            )
        )
    return kept, kept_refs, warnings


def _version_key(resource: dict[str, Any]) -> tuple[int, str]:
    meta = resource.get("meta") if isinstance(resource.get("meta"), dict) else {}
    version = str((meta or {}).get("versionId", ""))
    updated = (meta or {}).get("lastUpdated")
    return (int(version) if version.isdigit() else -1, updated if isinstance(updated, str) else "")


def _latest_versions(
    items: list[tuple[dict[str, Any], str]],
) -> tuple[list[tuple[dict[str, Any], str]], list[DataWarning]]:
    """One resource per Type/id: the highest versionId, else the latest lastUpdated, else the
    last in the input (a history Bundle, or a resource sent twice)."""
    chosen: dict[str, int] = {}
    for i, (resource, _loc) in enumerate(items):
        if isinstance(resource.get("id"), str):
            ref = ref_of(resource)
            if ref not in chosen or _version_key(resource) >= _version_key(items[chosen[ref]][0]):
                chosen[ref] = i
    kept, warnings = [], []
    for i, (resource, loc) in enumerate(items):
        if not isinstance(resource.get("id"), str) or chosen[ref_of(resource)] == i:
            kept.append((resource, loc))
        else:
            warnings.append(
                DataWarning(
                    code="duplicate-resource",
                    diagnostic="another version of this resource is in the input; "
                    "the latest is used",
                    location=ref_of(resource),
                )
            )
    return kept, warnings


def _well_formed(
    items: list[tuple[dict[str, Any], str, str | None]],
    checked: frozenset[int] = frozenset(),
) -> tuple[list[tuple[dict[str, Any], str, str | None]], list[DataWarning]]:
    """The resources whose elements have their FHIR JSON types; a warning for each other one
    (it is left out whole: reading part of it could misstate the record)."""
    kept: list[tuple[dict[str, Any], str, str | None]] = []
    warnings: list[DataWarning] = []
    for item in items:
        problem = None if id(item[0]) in checked else shape_problem(item[0])
        if problem is None:
            kept.append(item)
            continue
        rid = item[0].get("id")
        valid_id = isinstance(rid, str) and not problem.startswith("id:")
        name = f"{item[0]['resourceType']}/{rid}" if valid_id else item[1]
        element = problem.split(":", 1)[0]
        warnings.append(
            DataWarning(
                code="malformed-resource",
                diagnostic=f"{name} left out: {problem}",
                location=f"{name}.{element}" if element else name,
            )
        )
    return kept, warnings


def _collect(data: Any) -> tuple[list[Item], dict[int, int]]:
    out: list[Item] = []
    depths: dict[int, int] = {}
    root = data.get("resourceType") if isinstance(data, dict) else None
    _walk(data, root if isinstance(root, str) else "input", None, out, 0, depths)
    return out, depths


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


_PATIENT_REF = re.compile(r"Patient/[A-Za-z0-9\-.]{1,64}|urn:(uuid|oid):[A-Za-z0-9\-.]{1,64}")


def _single_patient(items: list[tuple[dict[str, Any], str]], refs: list[tuple[str, ...]]) -> str:
    seen: dict[str, str] = {}
    for (_resource, loc), found in zip(items, refs, strict=True):
        for ref in found:
            if not _PATIENT_REF.fullmatch(ref):  # it becomes the subject of what is written
                raise InputError("the patient reference is not a FHIR reference", location=loc)
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
