"""Split a stream of resources (NDJSON, Bulk Data) into one list per patient."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from ..fhir.values import ref_of, reference_target


def patient_of(resource: dict[str, Any]) -> str | None:
    if resource.get("resourceType") == "Patient":
        return ref_of(resource)
    for key in ("subject", "patient"):
        target = reference_target(resource.get(key))
        if target and target.startswith("Patient/"):
            return target
    return None


def group_by_patient(resources: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Resources of each patient, in input order, each preceded by the resources without a patient
    (Medication, ...) that it references."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    shared: dict[str, dict[str, Any]] = {}
    for resource in resources:
        patient = patient_of(resource)
        if patient:
            groups[patient].append(resource)
        elif isinstance(resource.get("id"), str):
            shared.setdefault(ref_of(resource), resource)
    return {p: [*_referenced(items, shared), *items] for p, items in groups.items()}


def _referenced(
    items: list[dict[str, Any]], shared: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """The shared resources that these resources reference (medicationReference and the like)."""
    wanted = {
        target
        for item in items
        for value in item.values()
        if (target := reference_target(value)) is not None and target in shared
    }
    return [shared[ref] for ref in sorted(wanted)]
