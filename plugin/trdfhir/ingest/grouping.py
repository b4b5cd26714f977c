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
    """Resources of each patient, in input order; resources without a patient (Medication,
    Organization, ...) are shared by every patient."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    shared: list[dict[str, Any]] = []
    for resource in resources:
        patient = patient_of(resource)
        (groups[patient] if patient else shared).append(resource)
    return {p: [*shared, *items] for p, items in groups.items()}
