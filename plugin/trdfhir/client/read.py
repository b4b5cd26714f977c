"""Everything one patient's assessment needs, in few round trips.

1. `Patient/{id}/$everything` when the server lists the operation (pages followed);
2. else the Patient and one search per type (`patient=` or `subject=`, `_count`, and
   `_include=<type>:medication` where the server lists it), with `Prefer: handling=strict` so a
   server that does not know a parameter says so instead of ignoring it;
3. then any Medication still referenced but missing, in one `_id` search per 50.

Whatever the server returns, only this patient's resources are kept: a resource that names
another patient is dropped (and counted), so a server that ignores a search parameter cannot
mix two patients' records.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import FhirServerError, InputError
from ..fhir.values import reference_target
from ..ingest.grouping import patient_of
from ..urls import url_allowed
from .core import FhirClient

log = logging.getLogger("trdfhir.client")

MEDICATION_TYPES = (
    "MedicationStatement",
    "MedicationRequest",
    "MedicationDispense",
    "MedicationAdministration",
)
CLINICAL_TYPES = (
    *MEDICATION_TYPES,
    "Procedure",
    "Observation",
    "QuestionnaireResponse",
    "Condition",
)
WANTED_TYPES = frozenset({"Patient", "Medication", *CLINICAL_TYPES})
_ID_CHUNK = 50
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
# Answers to $everything that mean "not here / not like that": fall back to searches.
_EVERYTHING_FALLBACK = frozenset({400, 404, 405, 422, 501})


@dataclass(frozen=True)
class PatientRecord:
    patient_id: str
    resources: tuple[dict[str, Any], ...]
    strategy: str  # "$everything" or "search"
    unsearchable: tuple[str, ...]  # types the server cannot search by patient
    dropped: int  # resources of other patients that the server returned

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(r.get("resourceType", "?") for r in self.resources).items()))

    def bundle(self, base: str) -> dict[str, Any]:
        """A collection Bundle with each resource's server URL as fullUrl, ready to evaluate."""
        entries = []
        for resource in self.resources:
            entry: dict[str, Any] = {"resource": resource}
            if isinstance(resource.get("id"), str):
                entry["fullUrl"] = f"{base}/{resource['resourceType']}/{resource['id']}"
            entries.append(entry)
        return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def plain_patient_id(value: str) -> str:
    """'123', 'Patient/123' or a full URL -> '123'."""
    target = reference_target({"reference": value.strip()}) or value.strip()
    rid = target.split("/", 1)[1] if target.startswith("Patient/") else target
    if not _FHIR_ID.fullmatch(rid):
        raise InputError(f"not a FHIR patient id: {value!r}")
    return rid


def fetch_patient(
    client: FhirClient,
    patient_id: str,
    *,
    everything: bool | None = None,
    exclude: Callable[[dict[str, Any]], bool] | None = None,
) -> PatientRecord:
    """Read one patient's record. `everything`: True/False forces the strategy; None lets
    the CapabilityStatement decide. `exclude`: resources to leave out (e.g. trd-fhir's own
    earlier write-back, which must not feed the next evaluation)."""
    pid = plain_patient_id(patient_id)
    caps = client.capabilities()
    resources: list[dict[str, Any]] | None = None
    unsearchable: list[str] = []
    strategy = "search"
    use_everything = (
        caps.has_operation("Patient", "everything") if everything is None else everything
    )
    if use_everything:
        try:
            resources = client.search(
                f"Patient/{pid}/$everything",
                {"_count": str(client.page_size)},
                what="Patient $everything",
            )
            strategy = "$everything"
        except FhirServerError as exc:
            if exc.status not in _EVERYTHING_FALLBACK:
                raise
            log.info("Patient $everything: HTTP %s; falling back to searches", exc.status)
    if resources is None:
        resources, unsearchable = _search_each_type(client, pid)
    resources = [
        r
        for r in resources
        if r.get("resourceType") in WANTED_TYPES and not (exclude is not None and exclude(r))
    ]
    resources += _missing_medications(client, resources)
    kept, dropped = _only_patient(resources, pid)
    if not any(r.get("resourceType") == "Patient" for r in kept):
        kept.insert(0, _read_patient(client, pid))
    record = PatientRecord(
        patient_id=pid,
        resources=tuple(kept),
        strategy=strategy,
        unsearchable=tuple(unsearchable),
        dropped=dropped,
    )
    log.info(
        "read a patient record via %s: %s%s",
        strategy,
        ", ".join(f"{t} {n}" for t, n in record.counts().items()) or "nothing",
        f"; dropped {dropped} resources of other patients" if dropped else "",
    )
    return record


def _read_patient(client: FhirClient, pid: str) -> dict[str, Any]:
    """The Patient resource; a 404/410 names the patient asked for (not a generic HTTP error)."""
    try:
        return client.read("Patient", pid)
    except FhirServerError as exc:
        if exc.status in (404, 410):
            gone = "was deleted from" if exc.status == 410 else "is not on"
            raise FhirServerError(
                f"Patient/{pid} {gone} the server {client.base}", status=exc.status
            ) from None
        raise


def _search_each_type(client: FhirClient, pid: str) -> tuple[list[dict[str, Any]], list[str]]:
    caps = client.capabilities()
    resources = [_read_patient(client, pid)]
    unsearchable = []
    strict = {"Prefer": "handling=strict"}
    for rtype in CLINICAL_TYPES:
        if caps.can_search(rtype, "patient"):
            params = {"patient": pid}
        elif caps.can_search(rtype, "subject"):
            params = {"subject": f"Patient/{pid}"}
        else:
            unsearchable.append(rtype)
            continue
        params["_count"] = str(client.page_size)
        if rtype in MEDICATION_TYPES and caps.can_include(rtype, f"{rtype}:medication"):
            params["_include"] = f"{rtype}:medication"
        resources += client.search(rtype, params, headers=strict, what=f"search {rtype}")
    if unsearchable:
        log.warning("the server cannot search by patient: %s", ", ".join(unsearchable))
    return resources, unsearchable


def _missing_medications(
    client: FhirClient, resources: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    have = {r["id"] for r in resources if r.get("resourceType") == "Medication" and "id" in r}
    wanted: list[str] = []
    for r in resources:
        if r.get("resourceType") not in MEDICATION_TYPES:
            continue
        ref = r.get("medicationReference")
        raw = ref.get("reference") if isinstance(ref, dict) else None
        if not isinstance(raw, str) or ("://" in raw and not url_allowed(raw, (client.base,))):
            continue  # absent, contained, or on another server: never followed with our token
        target = reference_target(ref)
        if target and target.startswith("Medication/"):
            mid = target.split("/", 1)[1]
            if mid not in have and mid not in wanted:
                wanted.append(mid)
    if not wanted:
        return []
    caps = client.capabilities()
    found: list[dict[str, Any]] = []
    if caps.can_search("Medication", "_id"):
        for i in range(0, len(wanted), _ID_CHUNK):
            chunk = wanted[i : i + _ID_CHUNK]
            found += client.search(
                "Medication",
                {"_id": ",".join(chunk), "_count": str(len(chunk))},
                what="search Medication",
            )
    else:
        for mid in wanted:
            try:
                found.append(client.read("Medication", mid))
            except FhirServerError as exc:
                if exc.status not in (404, 410):
                    raise
    return [m for m in found if m.get("resourceType") == "Medication"]


def _only_patient(resources: list[dict[str, Any]], pid: str) -> tuple[list[dict[str, Any]], int]:
    mine = f"Patient/{pid}"
    kept: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    dropped = 0
    for resource in resources:
        owner = patient_of(resource)
        if owner is not None and owner != mine:
            dropped += 1
            continue
        rid = resource.get("id")
        if isinstance(rid, str):
            key = (str(resource.get("resourceType")), rid)
            if key in seen:
                continue
            seen.add(key)
        kept.append(resource)
    return kept, dropped
