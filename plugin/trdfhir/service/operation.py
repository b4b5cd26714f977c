"""The FHIR face: `POST /fhir/$trd-evaluate`, `GET /fhir/Patient/{id}/$trd-evaluate`,
`GET /fhir/metadata` and `GET /fhir/OperationDefinition/trd-evaluate`.

Every answer is application/fhir+json; every error an OperationOutcome with a 4xx code (502/504
when the configured FHIR server fails).
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from ..auth.base import BearerToken
from ..client import FhirClient, fetch_patient
from ..errors import FhirServerError
from ..ingest.bundle import is_own_output
from .conformance import capability_statement, operation_definition
from .engine import Evaluation, ServiceState
from .http import FhirResponse, ServiceError, check_resource_limit, public_base, read_json

router = APIRouter(prefix="/fhir", tags=["FHIR"])

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def state_of(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.trd
    return state


def parse_as_of(value: Any, where: str) -> date:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ServiceError(f"{where} must be a full date YYYY-MM-DD, got {value!r}", location=where)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ServiceError(f"{where} is not a calendar date: {value!r}", location=where) from None


def read_parameters(body: Any) -> tuple[dict[str, Any], str | None]:
    """A Parameters resource (bundle, asOf) or a bare Bundle -> (Bundle, asOf text or None)."""
    if not isinstance(body, dict):
        raise ServiceError("the body must be a FHIR resource (a JSON object)", code="structure")
    rtype = body.get("resourceType")
    if rtype == "Bundle":
        return body, None
    if rtype != "Parameters":
        raise ServiceError(
            f"$trd-evaluate takes a Parameters or a Bundle resource, not {rtype!r}",
            location="resourceType",
        )
    params = body.get("parameter")
    if not isinstance(params, list) or not params:
        raise ServiceError(
            "Parameters.parameter must list 'bundle'", location="Parameters.parameter"
        )
    bundle: dict[str, Any] | None = None
    as_of: str | None = None
    for i, param in enumerate(params):
        where = f"Parameters.parameter[{i}]"
        if not isinstance(param, dict) or not isinstance(param.get("name"), str):
            raise ServiceError("each parameter needs a name", location=where)
        name = param["name"]
        if name == "bundle":
            resource = param.get("resource")
            if bundle is not None:
                raise ServiceError("'bundle' is given more than once", location=where)
            if not isinstance(resource, dict) or resource.get("resourceType") != "Bundle":
                raise ServiceError("'bundle' must carry a Bundle in resource", location=where)
            bundle = resource
        elif name == "asOf":
            if as_of is not None:
                raise ServiceError("'asOf' is given more than once", location=where)
            if "valueDate" not in param:
                raise ServiceError("'asOf' must be a valueDate", location=f"{where}.valueDate")
            as_of = param["valueDate"]
            parse_as_of(as_of, f"{where}.valueDate")
        else:
            raise ServiceError(f"unknown parameter {name!r} (known: bundle, asOf)", location=where)
    if bundle is None:
        raise ServiceError("the 'bundle' parameter is missing", location="Parameters.parameter")
    return bundle, as_of


def issues_outcome(ev: Evaluation) -> dict[str, Any]:
    issues: list[dict[str, Any]] = [
        {
            "severity": "warning",
            "code": "processing",
            "details": {"text": w.code},
            "diagnostics": w.diagnostic,
            "expression": [w.location],
        }
        for w in ev.assessment.record.warnings
    ]
    if ev.bundle_problem:
        issues.append(
            {
                "severity": "warning",
                "code": "incomplete",
                "diagnostics": f"no write-back Bundle: {ev.bundle_problem}",
            }
        )
    if not issues:
        issues = [
            {"severity": "information", "code": "informational", "diagnostics": "no data issues"}
        ]
    return {"resourceType": "OperationOutcome", "issue": issues}


def result_parameters(ev: Evaluation) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": "summary", "valueString": json.dumps(ev.summary, ensure_ascii=False)}
    ]
    if ev.bundle is not None:
        params.append({"name": "bundle", "resource": ev.bundle})
    params.append({"name": "issues", "resource": issues_outcome(ev)})
    return {"resourceType": "Parameters", "parameter": params}


@router.post("/$trd-evaluate", response_class=FhirResponse)
async def evaluate_posted(request: Request, asOf: str | None = None) -> FhirResponse:
    state = state_of(request)
    state.throttle(request, "evaluate")
    body = await read_json(request, state.settings.max_body_bytes, state.settings.max_depth)
    bundle, param_as_of = read_parameters(body)
    if param_as_of is not None and asOf is not None and param_as_of != asOf:
        raise ServiceError("asOf is given both as a parameter and in the query, differently")
    text = param_as_of or asOf
    day = parse_as_of(text, "asOf") if text is not None else state.today()
    check_resource_limit(bundle, state.settings.max_resources)
    ev = await run_in_threadpool(state.evaluate, bundle, day)
    return FhirResponse(result_parameters(ev))


@router.get("/Patient/{patient_id}/$trd-evaluate", response_class=FhirResponse)
async def evaluate_patient(
    request: Request,
    patient_id: str,
    asOf: str | None = None,
) -> FhirResponse:
    state = state_of(request)
    state.throttle(request, "evaluate")
    base = state.settings.fhir_base_url
    if base is None:
        raise ServiceError(
            "no FHIR server is configured (fhir_base_url); POST the record to /fhir/$trd-evaluate",
            status=501,
            code="not-supported",
        )
    if not _FHIR_ID.fullmatch(patient_id):
        raise ServiceError(f"not a FHIR id: {patient_id[:70]!r}", location="Patient.id")
    day = parse_as_of(asOf, "asOf") if asOf is not None else state.today()
    header = request.headers.get("authorization")
    token = header if header and state.settings.fhir_forward_authorization else None

    def work() -> Evaluation:
        auth = BearerToken(token) if token else None
        with FhirClient(base, auth=auth) as client:
            try:
                record = fetch_patient(client, patient_id, exclude=is_own_output)
            except FhirServerError as exc:
                if exc.status in (404, 410):
                    raise ServiceError(
                        f"Patient/{patient_id} is not on the FHIR server",
                        status=404,
                        code="not-found",
                    ) from None
                raise
            bundle = record.bundle(client.base)
        check_resource_limit(bundle, state.settings.max_resources, status=422)
        return state.evaluate(bundle, day)

    ev = await run_in_threadpool(work)
    return FhirResponse(result_parameters(ev))


@router.get("/metadata", response_class=FhirResponse)
async def metadata(request: Request) -> FhirResponse:
    state = state_of(request)
    base = public_base(request, state.settings.public_base_url)
    return FhirResponse(capability_statement(state, base))


@router.get("/OperationDefinition/trd-evaluate", response_class=FhirResponse)
async def definition() -> FhirResponse:
    return FhirResponse(operation_definition())
