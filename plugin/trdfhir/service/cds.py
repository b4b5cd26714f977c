"""The CDS Hooks 2.0 face: `GET /cds-services`, `POST /cds-services/{id}` and
`POST /cds-services/{id}/feedback`.

Services: trd-patient-view (patient-view), trd-order-select (order-select) and trd-order-sign
(order-sign), all with the same prefetch templates (prefetch.py). Service and feedback calls
carry the CDS client's JWT (auth/cds_jwt.py) unless `cds_auth_required` is false; discovery is
open (it holds no patient data).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from ..errors import AuthError
from .cards import patient_view_cards
from .cds_models import CONTEXTS, CdsRequest, FeedbackRequest, OrderSelectContext, validate
from .cds_models import OrderSignContext as OrderContext
from .engine import ServiceState
from .http import (
    ServiceError,
    check_cds_body,
    check_resource_limit,
    endpoint_url,
    public_base,
    read_json,
)
from .orders import order_cards, read_draft_orders
from .prefetch import TEMPLATES, gather

log = logging.getLogger("trdfhir.service.cds")

router = APIRouter(tags=["CDS Hooks"])

USAGE = (
    "Send the prefetch keys, or fhirServer with fhirAuthorization (read access to the prefetch "
    "resource types for the patient); missing data that cannot be fetched gives HTTP 412. "
    "Authenticate with a signed JWT (RS384/ES384) from an allow-listed issuer."
)


@dataclass(frozen=True)
class Service:
    id: str
    hook: str
    title: str
    description: str

    def discovery(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "title": self.title,
            "description": self.description,
            "id": self.id,
            "prefetch": dict(TEMPLATES),
            "usageRequirements": USAGE,
        }


SERVICES = {
    s.id: s
    for s in (
        Service(
            "trd-patient-view",
            "patient-view",
            "Treatment-resistant depression staging",
            "Stages treatment-resistant depression under every published model from the "
            "patient's treatment trials; urgent findings first; suggestions as draft care plans.",
        ),
        Service(
            "trd-order-select",
            "order-select",
            "TRD check of a selected antidepressant",
            "When an antidepressant is selected: the current trial is inadequate (optimise "
            "before switching), or the drug already failed an adequate trial in this episode.",
        ),
        Service(
            "trd-order-sign",
            "order-sign",
            "TRD check of an antidepressant order before signing",
            "Before an antidepressant order is signed: the current trial is inadequate (optimise "
            "before switching), or the drug already failed an adequate trial in this episode.",
        ),
    )
}


def state_of(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.trd
    return state


def service_of(service_id: str) -> Service:
    service = SERVICES.get(service_id)
    if service is None:
        raise ServiceError(
            f"no CDS service {service_id[:64]!r} (see /cds-services)", status=404, code="not-found"
        )
    return service


async def authenticate(request: Request, state: ServiceState) -> None:
    if not state.settings.cds_auth_required:
        return
    audience = endpoint_url(request, state.settings.public_base_url)
    header = request.headers.get("authorization")
    try:
        client = await run_in_threadpool(state.verifier.verify, header, audience=audience)
    except AuthError as exc:
        log.warning("%s %s: %s", request.method, request.url.path, exc.message)
        raise
    log.info("CDS call from %s (kid %s)", client.iss, client.kid)


@router.get("/cds-services")
async def discovery(request: Request) -> JSONResponse:
    state_of(request).throttle(request, "discovery")
    return JSONResponse({"services": [s.discovery() for s in SERVICES.values()]})


@router.post("/cds-services/{service_id}")
async def call_service(service_id: str, request: Request) -> JSONResponse:
    service = service_of(service_id)
    state = state_of(request)
    await authenticate(request, state)
    settings = state.settings
    body = await read_json(request, settings.max_body_bytes, settings.max_depth, walk=False)
    check_cds_body(body, settings.max_depth, settings.max_resources)  # prefetch resources: below
    req = validate(CdsRequest, body, "request")
    if req.hook != service.hook:
        raise ServiceError(
            f"service {service.id} answers hook {service.hook}, not {req.hook[:64]!r}",
            location="hook",
        )
    context = validate(CONTEXTS[service.hook], req.context, "context")
    base = public_base(request, state.settings.public_base_url)
    app_url = base + state.settings.app_launch_path if state.smart_app else None

    def work() -> list[dict[str, Any]]:
        gathered = gather(req, context.patientId, allowed_servers=state.settings.cds_fhir_servers)
        resources = gathered.resources
        orders: list[dict[str, Any]] = []
        notes: list[str] = []
        if isinstance(context, OrderContext):
            selections = context.selections if isinstance(context, OrderSelectContext) else None
            orders, notes = read_draft_orders(context.draftOrders, selections)
            drafts = {f"MedicationRequest/{o.get('id')}" for o in orders if o.get("id")}
            resources = [
                r for r in resources if f"{r.get('resourceType')}/{r.get('id')}" not in drafts
            ]
        check_resource_limit(resources, state.settings.max_resources)
        bundle = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": r} for r in resources],
        }
        is_view = service.hook == "patient-view"
        ev = state.evaluate(bundle, state.today(), emit=is_view, warnings=gathered.warnings)
        if ev.assessment.deceased:  # no cards for a patient who has died
            return []
        if is_view:
            return patient_view_cards(
                ev,
                req.hookInstance,
                docs_url=state.settings.docs_url,
                app_url=app_url,
                version=state.version,
                finding_texts={k: v.text for k, v in state.maps.findings.items()},
            )
        return order_cards(
            ev.assessment,
            orders,
            resources,
            state.maps,
            req.hookInstance,
            docs_url=state.settings.docs_url,
            app_url=app_url,
            notes=notes,
        )

    cards = await run_in_threadpool(work)
    return JSONResponse({"cards": cards})


@router.post("/cds-services/{service_id}/feedback")
async def feedback(service_id: str, request: Request) -> Response:
    service = service_of(service_id)
    state = state_of(request)
    await authenticate(request, state)
    body = await read_json(request, state.settings.max_body_bytes, state.settings.max_depth)
    items = validate(FeedbackRequest, body, "request").feedback
    state.feedback.add(
        service.id, [i.model_dump(exclude_none=True) for i in items], state.settings.now()
    )
    return Response(status_code=200)
