"""HTTP plumbing shared by the routers: errors as OperationOutcomes, JSON bodies read within
limits, FHIR JSON responses."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from fastapi import Request
from fastapi.responses import JSONResponse

from ..errors import BusyError, TrdFhirError
from ..limits import DEFAULT_MAX_DEPTH, json_depth_exceeds

FHIR_JSON = "application/fhir+json"
JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")


class FhirResponse(JSONResponse):
    media_type = FHIR_JSON


class ServiceError(TrdFhirError):
    """An HTTP-level error with its own status and OperationOutcome issue code."""

    http_status: ClassVar[int] = 400

    def __init__(
        self, message: str, *, status: int = 400, code: str = "invalid", location: str | None = None
    ) -> None:
        super().__init__(message, location=location)
        self.status = status
        self.code = code

    def operation_outcome(self) -> dict[str, Any]:
        outcome = super().operation_outcome()
        outcome["issue"][0]["code"] = self.code
        return outcome


def status_of(error: TrdFhirError) -> int:
    return error.status if isinstance(error, ServiceError) else error.http_status


def outcome(severity: str, code: str, diagnostics: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }


def error_response(error: TrdFhirError, *, media_type: str = FHIR_JSON) -> JSONResponse:
    status = status_of(error)
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if status == 401 else None
    if isinstance(error, BusyError):
        headers = {"Retry-After": str(error.retry_after)}
    return JSONResponse(
        error.operation_outcome(), status_code=status, media_type=media_type, headers=headers
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


async def read_json(
    request: Request, max_bytes: int, max_depth: int = DEFAULT_MAX_DEPTH, *, walk: bool = True
) -> Any:
    """The request body as JSON: 415 unless a JSON media type, 413 above `max_bytes`,
    400 unless it parses, 422 when it nests objects/arrays deeper than `max_depth`.
    `walk=False`: the caller checks the depth itself (the CDS routes: check_cds_body), only a
    body deeper than the JSON parser goes is refused here."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in JSON_TYPES:
        raise ServiceError(
            f"send {FHIR_JSON} or application/json, not {media or 'no Content-Type'}",
            status=415,
            code="not-supported",
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise too_large(max_bytes)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise too_large(max_bytes)
    if not body.strip():
        raise ServiceError("the request body is empty", code="structure")
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except RecursionError:
        raise too_deep(max_depth) from None
    except UnicodeDecodeError:
        raise ServiceError("the request body is not UTF-8", code="structure") from None
    except json.JSONDecodeError as exc:
        raise ServiceError(
            f"the request body is not valid JSON: {exc.msg}",
            code="structure",
            location=f"line {exc.lineno}, column {exc.colno}",
        ) from None
    except ValueError as exc:
        raise ServiceError(
            f"the request body is not usable JSON: {exc}", code="structure"
        ) from None
    if walk and isinstance(data, dict | list) and json_depth_exceeds(data, max_depth):
        raise too_deep(max_depth)
    return data


def too_deep(max_depth: int) -> ServiceError:
    return ServiceError(
        f"the request body nests JSON objects/arrays more than {max_depth} levels deep",
        status=422,
        code="too-costly",
    )


def too_large(max_bytes: int) -> ServiceError:
    return ServiceError(
        f"the request body is larger than the limit of {max_bytes} bytes",
        status=413,
        code="too-costly",
    )


def count_resources(data: Any, limit: int) -> int:
    """Resources in a (possibly nested) Bundle, list or wrapper object; counting stops past
    `limit`."""
    count = 0
    stack = [data]
    while stack and count <= limit:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            if item.get("resourceType") == "Bundle" and isinstance(item.get("entry"), list):
                stack.extend(e.get("resource") for e in item["entry"] if isinstance(e, dict))
            elif "resourceType" in item:
                count += 1
            else:  # a wrapper, e.g. a CDS request or its prefetch
                stack.extend(item.values())
    return count


def check_resource_limit(data: Any, limit: int, *, status: int = 413) -> None:
    if count_resources(data, limit) > limit:
        raise ServiceError(
            f"more than {limit} resources in one request; evaluate one patient at a time",
            status=status,
            code="too-costly",
        )


def check_cds_body(body: Any, max_depth: int, max_resources: int) -> None:
    """A CDS request body's depth and resource count in one walk, without walking the resources
    of `prefetch`: the evaluation walks those itself (limits.check_input, depth and shape in one
    walk), so walking them here too would walk every resource twice. Everything else (hook,
    context with its draft orders, the prefetch's Bundles and entries) is checked here, level by
    level from the body. 422 when too deep (first), 413 when more than `max_resources`
    resources (counted as count_resources counts)."""
    count = 0
    # (node, its level, on the counting path, inside prefetch)
    stack: list[tuple[Any, int, bool, bool]] = [(body, 1, True, False)]
    while stack:
        node, level, counted, in_prefetch = stack.pop()
        if level > max_depth:
            raise too_deep(max_depth)
        if isinstance(node, list):
            stack.extend(
                (c, level + 1, counted, in_prefetch) for c in node if isinstance(c, dict | list)
            )
            continue
        kind = node.get("resourceType")
        if kind == "Bundle" and isinstance(node.get("entry"), list):
            if level + 1 > max_depth:  # the entry list
                raise too_deep(max_depth)
            for key, value in node.items():
                if key != "entry" and isinstance(value, dict | list):
                    stack.append((value, level + 1, False, in_prefetch))
            for entry in node["entry"]:
                if isinstance(entry, list):
                    stack.append((entry, level + 2, False, in_prefetch))
                elif isinstance(entry, dict):
                    if level + 2 > max_depth:
                        raise too_deep(max_depth)
                    for key, value in entry.items():
                        if isinstance(value, dict | list):
                            on_path = counted and key == "resource"
                            stack.append((value, level + 3, on_path, in_prefetch))
            continue
        if "resourceType" in node:
            count += counted
            if in_prefetch and isinstance(kind, str):
                continue  # a resource the evaluation walks (limits.check_input)
            counted = False  # inside a resource: walked for depth, not counted
        for key, value in node.items():
            if isinstance(value, dict | list):
                inside = in_prefetch or (level == 1 and key == "prefetch")
                stack.append((value, level + 1, counted, inside))
    if count > max_resources:
        raise ServiceError(
            f"more than {max_resources} resources in one request; evaluate one patient at a time",
            status=413,
            code="too-costly",
        )


def public_base(request: Request, configured: str | None) -> str:
    """The service's public base URL: the configured one, else what this request reached."""
    if configured:
        return configured
    return str(request.base_url).rstrip("/")


def endpoint_url(request: Request, configured: str | None) -> str:
    """The exact URL of the endpoint called (no query): the `aud` a CDS client must sign."""
    root = request.scope.get("root_path", "")
    path = request.url.path
    if root and path.startswith(root):
        path = path[len(root) :]
    if configured:
        return configured + path
    return str(request.url.replace(query="", fragment="")).rstrip("?")
