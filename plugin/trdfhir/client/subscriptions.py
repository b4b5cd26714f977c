"""FHIR R4 Subscriptions for the resources that change a stage: built (pure) and registered.

    specs = stage_criteria(mappings)        # [("Observation", "Observation?code=..."), ...]
    subs = classic_subscriptions(specs, endpoint, secret)
    results = register(client, subs)        # [Registered(...)]

Two forms, both rest-hook with the full resource as payload and the shared secret sent in the
`Authorization` header of every notification (`channel.header`):

- classic R4: one Subscription per resource type, `criteria` a search (`Observation?code=...`
  with the codes of the scales and labs trd-fhir reads; the medication types, procedures,
  conditions and questionnaire responses whole);
- the Subscriptions Backport IG (topic-based), when a topic is named and the server's
  CapabilityStatement lists it: `criteria` the topic's canonical URL, content `full-resource`.

Registering is idempotent: each Subscription carries a tag that hashes its criteria and endpoint,
and one already on the server (not in error or off) is kept, not created again; if it carries
another secret (a rotation), its channel header is replaced in place.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from ..errors import FhirServerError, SettingsError, printable
from ..ingest.bundle import OWN_NAMESPACE
from ..mappings import Mappings
from .core import FhirClient
from .read import MEDICATION_TYPES

BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"
BACKPORT_PROFILE = f"{BACKPORT}/backport-subscription"
BACKPORT_CONTENT = f"{BACKPORT}/backport-payload-content"
TOPIC_CANONICAL = f"{BACKPORT}/capabilitystatement-subscriptiontopic-canonical"
TAG_SYSTEM = f"{OWN_NAMESPACE.rstrip('/')}/subscription"
REASON = "trd-fhir: re-evaluate the depression treatment staging when its inputs change"
WHOLE_TYPES = (*MEDICATION_TYPES, "Procedure", "Condition", "QuestionnaireResponse")
_KEEP_STATUSES = ("requested", "active")


@dataclass(frozen=True)
class Registered:
    label: str  # the resource type, or the topic
    id: str | None
    status: str  # the server's status of the Subscription: active, requested, error, off
    created: bool
    error: str | None = None
    updated: bool = False  # the same Subscription with another secret: its header replaced


def stage_criteria(mappings: Mappings) -> list[tuple[str, str]]:
    """(label, criteria) of the classic Subscriptions: every type that can change a stage."""
    codes = sorted({f"{system}|{code}" for system, code in mappings.scale_codes})
    codes += sorted({f"{s}|{c}" for s, c in mappings.observation_kinds} - set(codes))
    out = [(t, f"{t}?") for t in WHOLE_TYPES]
    out.append(
        ("Observation", "Observation?code=" + ",".join(quote(c, safe="|:/.-") for c in codes))
    )
    return out


def _tag(criteria: str, endpoint: str) -> dict[str, str]:
    digest = hashlib.sha256(f"{criteria}\n{endpoint}".encode()).hexdigest()[:32]
    return {"system": TAG_SYSTEM, "code": digest}


def check_endpoint(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"--endpoint must be an http(s) URL, got {endpoint!r}")
    host = (parts.hostname or "").lower()
    if parts.scheme == "http" and not (host in ("localhost", "::1") or host.startswith("127.")):
        raise SettingsError(
            "--endpoint must use https (the secret travels with every notification); "
            "plain http only on 127.0.0.1/localhost"
        )
    return endpoint


def _channel(endpoint: str, secret: str) -> dict[str, Any]:
    return {
        "type": "rest-hook",
        "endpoint": endpoint,
        "payload": "application/fhir+json",
        "header": [f"Authorization: Bearer {secret}"],
    }


def classic_subscriptions(
    specs: list[tuple[str, str]], endpoint: str, secret: str
) -> list[tuple[str, dict[str, Any]]]:
    return [
        (
            label,
            {
                "resourceType": "Subscription",
                "meta": {"tag": [_tag(criteria, endpoint)]},
                "status": "requested",
                "reason": REASON,
                "criteria": criteria,
                "channel": _channel(endpoint, secret),
            },
        )
        for label, criteria in specs
    ]


def backport_subscription(topic: str, endpoint: str, secret: str) -> dict[str, Any]:
    channel = _channel(endpoint, secret)
    channel["_payload"] = {"extension": [{"url": BACKPORT_CONTENT, "valueCode": "full-resource"}]}
    return {
        "resourceType": "Subscription",
        "meta": {"profile": [BACKPORT_PROFILE], "tag": [_tag(topic, endpoint)]},
        "status": "requested",
        "reason": REASON,
        "criteria": topic,
        "channel": channel,
    }


def offered_topics(statement: dict[str, Any]) -> list[str]:
    """Topic canonicals the CapabilityStatement lists for Subscription (Backport IG)."""
    topics: list[str] = []
    for rest in statement.get("rest") or []:
        for res in rest.get("resource") or [] if isinstance(rest, dict) else []:
            if not isinstance(res, dict) or res.get("type") != "Subscription":
                continue
            for ext in res.get("extension") or []:
                if isinstance(ext, dict) and ext.get("url") == TOPIC_CANONICAL:
                    value = ext.get("valueCanonical") or ext.get("valueUri")
                    if isinstance(value, str):
                        topics.append(value)
    return topics


def register(
    client: FhirClient, subscriptions: list[tuple[str, dict[str, Any]]]
) -> list[Registered]:
    """Create each Subscription unless the same one (its tag) is on the server, not in error."""
    out: list[Registered] = []
    for label, subscription in subscriptions:
        tag = subscription["meta"]["tag"][0]
        found = client.search(
            "Subscription",
            {"_tag": f"{tag['system']}|{tag['code']}"},
            what="search Subscription",
        )
        kept = next(
            (
                s
                for s in found
                if s.get("status") in _KEEP_STATUSES and isinstance(s.get("id"), str)
            ),
            None,
        )
        if kept is not None:
            channel = kept.get("channel") if isinstance(kept.get("channel"), dict) else {}
            if (channel or {}).get("header") == subscription["channel"]["header"]:
                out.append(Registered(label, kept["id"], str(kept["status"]), created=False))
                continue
            # a new secret: the same Subscription, its header replaced (so the old one stops)
            replacement = {**subscription, "id": kept["id"]}
            client.request("PUT", f"Subscription/{kept['id']}", body=replacement)
            current = client.read("Subscription", kept["id"])
            out.append(
                Registered(
                    label,
                    kept["id"],
                    str(current.get("status") or "?"),
                    created=False,
                    updated=True,
                )
            )
            continue
        response = client.request(
            "POST", "Subscription", body=subscription, headers={"Prefer": "return=representation"}
        )
        try:
            created = client.parse_json(response, "create Subscription")
        except FhirServerError:
            created = {}
        sid = created.get("id") if isinstance(created.get("id"), str) else None
        if sid is None:
            location = response.headers.get("Location") or ""
            parts = [p for p in urlsplit(location).path.split("/_history")[0].split("/") if p]
            sid = parts[-1] if len(parts) >= 2 else None
        current = client.read("Subscription", sid) if sid else created
        error = printable(current["error"], 200) if isinstance(current.get("error"), str) else None
        out.append(
            Registered(label, sid, str(current.get("status") or "?"), created=True, error=error)
        )
    return out


__all__ = [
    "Registered",
    "backport_subscription",
    "check_endpoint",
    "classic_subscriptions",
    "offered_topics",
    "register",
    "stage_criteria",
]
