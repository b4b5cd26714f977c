"""Prefetch: the templates every TRD service asks for, and the per-key fallback to FHIR queries.

Medication searches `_include` the referenced Medications (as the spec's own prefetch example
uses `_include`); Medications still missing are read from `fhirServer` when there is one.

For each key: a prefetched value is used as is (`null` = the client found nothing); a key that is
missing, holds an OperationOutcome, or holds a Bundle with a `next` link is fetched from
`fhirServer` (with the `fhirAuthorization` bearer token, when given). When neither works the
service answers 412 naming the keys. trd-fhir's own earlier write-back is left out of the
evaluation.

Whose data (clinical spec §1): a patient-specific resource (of the types the prefetch reads)
must reference `context.patientId`. One that names no patient (no subject, or a subject given
only by identifier or display) is left out with a `no-patient` warning. One of another patient
is an error (422) when the caller sent it; when the service fetched it itself, it is left out
with an `other-patient` warning, since servers have quirks (one ignores `patient` on some
searches). Resources that have no subject by nature (Medication, Practitioner, ...) are kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote

from ..auth.base import BearerToken
from ..client import FhirClient, RetryPolicy
from ..errors import TrdFhirError
from ..fhir.values import reference_target
from ..ingest.bundle import is_own_output
from ..ingest.grouping import patient_of
from ..model import DataWarning
from ..urls import url_allowed
from .cds_models import CdsRequest
from .http import ServiceError

log = logging.getLogger("trdfhir.service.cds")

PATIENT = "{{context.patientId}}"
TEMPLATES: dict[str, str] = {
    "patient": f"Patient/{PATIENT}",
    "conditions": f"Condition?patient={PATIENT}",
    **{
        key: f"{rtype}?patient={PATIENT}&_include={rtype}:medication"
        for key, rtype in (
            ("medicationStatements", "MedicationStatement"),
            ("medicationRequests", "MedicationRequest"),
            ("medicationDispenses", "MedicationDispense"),
        )
    },
    "procedures": f"Procedure?patient={PATIENT}",
    "observations": f"Observation?patient={PATIENT}",
    "questionnaireResponses": f"QuestionnaireResponse?patient={PATIENT}",
}
FALLBACK_TIMEOUT = (3.0, 10.0)
FALLBACK_RETRY = RetryPolicy(attempts=2, max_total=10.0)
MAX_MEDICATION_READS = 50
# Types that always belong to one patient (the prefetch's, as the FHIR client reads them).
PATIENT_TYPES = frozenset(
    {
        "Condition",
        "MedicationStatement",
        "MedicationRequest",
        "MedicationDispense",
        "MedicationAdministration",
        "Procedure",
        "Observation",
        "QuestionnaireResponse",
    }
)


def render(template: str, context: dict[str, Any]) -> str:
    out = template
    for key, value in context.items():
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            out = out.replace(f"{{{{context.{key}}}}}", quote(str(value), safe=""))
    return out


@dataclass
class Gathered:
    resources: list[dict[str, Any]] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)  # keys fetched from fhirServer
    warnings: list[DataWarning] = field(default_factory=list)  # resources left out, and why
    from_server: set[int] = field(default_factory=set)  # id() of resources the service fetched


class _Unusable(Exception):
    """This prefetch value cannot be used as it is."""


def _from_value(key: str, value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        raise ServiceError(f"prefetch.{key} must be a FHIR resource or null", location=key)
    rtype = value["resourceType"]
    if rtype == "OperationOutcome":
        raise _Unusable
    if rtype != "Bundle":
        return [value]
    if any(isinstance(ln, dict) and ln.get("relation") == "next" for ln in value.get("link") or []):
        raise _Unusable  # only one page: the rest must be fetched
    out = []
    for entry in value.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        mode = (entry.get("search") or {}).get("mode") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") != "OperationOutcome":
            if mode != "outcome":
                out.append(resource)
    return out


def fallback_client(req: CdsRequest, allowed: tuple[str, ...]) -> FhirClient | None:
    if req.fhirServer is None:
        return None
    if allowed and not url_allowed(req.fhirServer, allowed):
        log.warning("fhirServer is not in cds_fhir_servers; not querying it")
        return None
    token = req.fhirAuthorization.access_token if req.fhirAuthorization else None
    try:
        return FhirClient(
            req.fhirServer,
            auth=BearerToken(token) if token else None,
            timeout=FALLBACK_TIMEOUT,
            retry=FALLBACK_RETRY,
        )
    except TrdFhirError as exc:
        log.warning("cannot use fhirServer: %s", exc.one_line())
        return None


def _fetch(client: FhirClient, query: str) -> list[dict[str, Any]]:
    path, _, params = query.partition("?")
    if not params:
        rtype, _, rid = path.partition("/")
        return [client.read(rtype, rid)]
    return client.search(path, parse_qsl(params, keep_blank_values=True), what=f"search {path}")


def gather(
    req: CdsRequest,
    patient_id: str,
    *,
    allowed_servers: tuple[str, ...] = (),
    make_client: Callable[[CdsRequest, tuple[str, ...]], FhirClient | None] = fallback_client,
) -> Gathered:
    prefetch = req.prefetch or {}
    out = Gathered()
    missing: list[str] = []
    for key in TEMPLATES:
        if key in prefetch:
            try:
                out.resources += _from_value(key, prefetch[key])
                continue
            except _Unusable:
                pass
        missing.append(key)
    if missing:
        _fetch_missing(req, missing, out, allowed_servers, make_client)
    elif req.fhirServer is not None and _wanted_medications(out.resources, req.fhirServer):
        client = make_client(req, allowed_servers)
        if client is not None:
            with client:
                out.resources += _medications(client, out.resources)
    kept = [r for r in _this_patients(out, patient_id) if not is_own_output(r)]
    if not any(r.get("resourceType") == "Patient" for r in kept):
        kept.insert(0, {"resourceType": "Patient", "id": patient_id})
    out.resources = kept
    return out


def _name(resource: dict[str, Any]) -> str:
    rid = resource.get("id")
    return f"{resource.get('resourceType')}/{rid if isinstance(rid, str) else '(no id)'}"


def _this_patients(out: Gathered, patient_id: str) -> list[dict[str, Any]]:
    """The resources of `context.patientId` (see the module's rule); warnings for the others
    left out; ServiceError 422 for a sent resource of another patient."""
    mine = f"Patient/{patient_id}"
    kept: list[dict[str, Any]] = []
    dropped = 0
    for resource in out.resources:
        owner = patient_of(resource)
        fetched = id(resource) in out.from_server
        if owner is None and resource.get("resourceType") in PATIENT_TYPES:
            out.warnings.append(
                DataWarning(
                    code="no-patient",
                    diagnostic=f"{_name(resource)} left out: it names no patient (its subject "
                    "is missing or not a reference to a Patient); it may not be "
                    f"{mine}'s",
                    location=f"{_name(resource)}.subject",
                    reason="no-patient",
                )
            )
            dropped += 1
        elif owner is not None and owner != mine and fetched:
            out.warnings.append(
                DataWarning(
                    code="other-patient",
                    diagnostic=f"{_name(resource)} left out: it belongs to another patient "
                    f"({owner}) than {mine} (fetched from the FHIR server, which did not "
                    "filter its search by patient)",
                    location=f"{_name(resource)}.subject",
                    reason="other-patient",
                )
            )
            dropped += 1
        elif owner is not None and owner != mine:
            raise ServiceError(
                f"the data holds a resource of another patient ({owner}) than "
                f"context.patientId ({patient_id})",
                status=422,
                code="business-rule",
            )
        else:
            kept.append(resource)
    if dropped:
        log.warning("left out %d resource(s) that are not the context patient's", dropped)
    return kept


def _fetch_missing(
    req: CdsRequest,
    missing: list[str],
    out: Gathered,
    allowed: tuple[str, ...],
    make_client: Callable[[CdsRequest, tuple[str, ...]], FhirClient | None],
) -> None:
    client = make_client(req, allowed)
    if client is None:
        how = "no fhirServer" if req.fhirServer is None else "the fhirServer cannot be used"
        raise precondition(missing, how)
    with client:
        for key in missing:
            try:
                found = _fetch(client, render(TEMPLATES[key], req.context))
            except TrdFhirError as exc:
                raise precondition(missing, exc.one_line()) from None
            out.from_server.update(id(r) for r in found)
            out.resources += found
            out.fetched.append(key)
        out.resources += _medications(client, out.resources)


def precondition(keys: list[str], why: str) -> ServiceError:
    return ServiceError(
        f"prefetch key(s) {', '.join(keys)} missing and not obtainable from the FHIR server "
        f"({why})",
        status=412,
        code="incomplete",
    )


def _wanted_medications(resources: list[dict[str, Any]], base: str | None = None) -> list[str]:
    """Ids of Medications referenced by the resources but not among them (references to other
    servers than `base` are never followed)."""
    have = {r.get("id") for r in resources if r.get("resourceType") == "Medication"}
    wanted: list[str] = []
    for r in resources:
        ref = r.get("medicationReference")
        raw = ref.get("reference") if isinstance(ref, dict) else None
        if isinstance(raw, str) and "://" in raw and not (base and url_allowed(raw, (base,))):
            continue
        target = reference_target(ref)
        if target and target.startswith("Medication/"):
            mid = target.split("/", 1)[1]
            if mid not in have and mid not in wanted and "/" not in mid:
                wanted.append(mid)
    return wanted[:MAX_MEDICATION_READS]


def _medications(client: FhirClient, resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Medications referenced but not in hand, read one by one (best effort)."""
    found = []
    for mid in _wanted_medications(resources, client.base):
        try:
            found.append(client.read("Medication", mid))
        except TrdFhirError as exc:
            log.info("Medication read failed: %s", exc.one_line())
    return found
