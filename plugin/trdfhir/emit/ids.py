"""Canonical URLs, identifier systems and deterministic ids of everything emit writes.

Ids are derived, never drawn: a business identifier is a hash of what it identifies, and a
resource's `urn:uuid` full URL is a UUID v5 of its business identifier. The same assessment
therefore gives the same Bundle, byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

BASE = "http://trd-fhir.org/fhir"
CODE_SYSTEM = f"{BASE}/CodeSystem/trd"
ASSESSMENT_SYSTEM = f"{BASE}/sid/assessment"
CAREPLAN_SYSTEM = f"{BASE}/sid/careplan"
FLAG_SYSTEM = f"{BASE}/sid/flag"
DEVICE_SYSTEM = f"{BASE}/sid/device"
CONTENT_SYSTEM = f"{BASE}/sid/content"  # meta.tag: hash of a replaceable resource's content
WRITE_SYSTEM = f"{BASE}/sid/write"  # meta.tag of the Provenance of one write (R4 Provenance
# has no identifier, so its conditional create matches on _tag)
SOURCE_EXTENSION = f"{BASE}/StructureDefinition/trd-source"

PROFILE_STAGE = f"{BASE}/StructureDefinition/trd-stage-observation"
PROFILE_TRIAL = f"{BASE}/StructureDefinition/trd-trial-observation"
PROFILE_FINDING = f"{BASE}/StructureDefinition/trd-finding-observation"
PROFILE_CAREPLAN = f"{BASE}/StructureDefinition/trd-suggestion-careplan"

UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, BASE)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(*parts: Any) -> str:
    """A stable 128-bit hex digest of JSON-able parts."""
    return hashlib.sha256(canonical_json(list(parts)).encode("utf-8")).hexdigest()[:32]


def full_url(system: str, value: str) -> str:
    """The urn:uuid full URL of the resource with this business identifier."""
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{system}|{value}')}"


def identifier(system: str, value: str) -> dict[str, str]:
    return {"system": system, "value": value}


def search(system: str, value: str) -> str:
    """The `identifier=` search of a business identifier, for ifNoneExist and conditional PUT."""
    return f"identifier={system}|{value}"
