"""The service's CapabilityStatement and the $trd-evaluate OperationDefinition.

The OperationDefinition is the one in profiles/ (the checkout's, or the copy packaged in
trdfhir/_data/profiles); a minimal copy stands in when neither is there.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..emit.ids import BASE

if TYPE_CHECKING:
    from .engine import ServiceState

OPERATION_URL = f"{BASE}/OperationDefinition/trd-evaluate"
CAPABILITY_URL = f"{BASE}/CapabilityStatement/trd-fhir"
_FILE = "OperationDefinition-trd-evaluate.json"


def _candidates() -> list[Path]:
    try:
        from ..fhir.profiles import ig_dir

        return [ig_dir() / _FILE]
    except (ImportError, FileNotFoundError):
        here = Path(__file__).resolve()
        return [here.parents[3] / "profiles" / "fsh-generated" / "resources" / _FILE]


@cache
def _operation_definition() -> dict[str, Any]:
    for path in _candidates():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("resourceType") == "OperationDefinition":
            return data
    return {
        "resourceType": "OperationDefinition",
        "id": "trd-evaluate",
        "url": OPERATION_URL,
        "name": "TrdEvaluate",
        "status": "draft",
        "kind": "operation",
        "code": "trd-evaluate",
        "system": True,
        "type": False,
        "instance": False,
        "affectsState": False,
        "parameter": [
            {"name": "bundle", "use": "in", "min": 1, "max": "1", "type": "Bundle"},
            {"name": "asOf", "use": "in", "min": 0, "max": "1", "type": "date"},
            {"name": "summary", "use": "out", "min": 1, "max": "1", "type": "string"},
            {"name": "bundle", "use": "out", "min": 0, "max": "1", "type": "Bundle"},
            {"name": "issues", "use": "out", "min": 0, "max": "1", "type": "OperationOutcome"},
        ],
    }


def operation_definition() -> dict[str, Any]:
    return copy.deepcopy(_operation_definition())


def capability_statement(state: ServiceState, base: str) -> dict[str, Any]:
    definition = _operation_definition().get("url", OPERATION_URL)
    operation = {"name": "trd-evaluate", "definition": definition}
    patient_read = state.settings.fhir_base_url is not None
    resources: list[dict[str, Any]] = []
    if patient_read:
        resources.append(
            {
                "type": "Patient",
                "operation": [
                    {
                        **operation,
                        "documentation": "GET Patient/{id}/$trd-evaluate?asOf=: reads the "
                        "record from the configured FHIR server and evaluates it.",
                    }
                ],
            }
        )
    rest: dict[str, Any] = {
        "mode": "server",
        "documentation": "POST $trd-evaluate with a Parameters (bundle, asOf) or a Bundle. "
        "Nothing is written: the caller posts the returned Bundle if it wants the results.",
        "operation": [operation],
    }
    if resources:
        rest["resource"] = resources
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": state.settings.now().date().isoformat(),
        "publisher": "trd-fhir project",
        "kind": "instance",
        "instantiates": [CAPABILITY_URL],
        "software": {"name": "trd-fhir", "version": state.version},
        "implementation": {
            "description": "trd-fhir service: treatment-resistant depression staging",
            "url": f"{base}/fhir",
        },
        "fhirVersion": "4.0.1",
        "format": ["json", "application/fhir+json"],
        "rest": [rest],
    }
