"""Canonical URLs, identifier systems and deterministic ids of everything emit writes.

Ids are derived, never drawn: a business identifier is a hash of what it identifies, and a
resource's `urn:uuid` full URL is a UUID v5 of its business identifier. The same assessment
therefore gives the same Bundle, byte for byte.
"""

from __future__ import annotations

import functools
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


_NAMESPACE_BYTES = _NAMESPACE.bytes
# One encoder, built once: json.dumps with these arguments builds a new one on every call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    return _CANONICAL.encode(value)


def digest(*parts: Any) -> str:
    """A stable 128-bit hex digest of JSON-able parts."""
    return hashlib.sha256(_CANONICAL.encode(list(parts)).encode("utf-8")).hexdigest()[:32]


@functools.lru_cache(maxsize=4096)
def full_url(system: str, value: str) -> str:
    """The urn:uuid full URL of the resource with this business identifier: uuid.uuid5 of
    `system|value` in trd-fhir's namespace, computed without building a UUID object (RFC 4122
    §4.3: SHA-1 of namespace + name, version 5, variant RFC 4122), and remembered (ids repeat
    from one evaluation of a patient to the next)."""
    name = _NAMESPACE_BYTES + f"{system}|{value}".encode()
    raw = bytearray(hashlib.sha1(name, usedforsecurity=False).digest()[:16])  # as uuid5 does
    raw[6] = (raw[6] & 0x0F) | 0x50
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"urn:uuid:{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def identifier(system: str, value: str) -> dict[str, str]:
    return {"system": system, "value": value}


def search(system: str, value: str) -> str:
    """The `identifier=` search of a business identifier, for ifNoneExist and conditional PUT."""
    return f"identifier={system}|{value}"
