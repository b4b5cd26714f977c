"""Fixtures of the API tests: the app on a fixed clock, the example vignettes as requests, a
stub FHIR server, and CDS clients with real keys that sign real JWTs."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from trdfhir.auth.cds_jwt import CdsIssuer
from trdfhir.service import ServiceSettings, create_app

from .stub_fhir import StubFhir

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = "https://trd.example.org"
ISS = "https://ehr.example.org"
PREFETCH_KEYS = {
    "Condition": "conditions",
    "MedicationStatement": "medicationStatements",
    "MedicationRequest": "medicationRequests",
    "MedicationDispense": "medicationDispenses",
    "Procedure": "procedures",
    "Observation": "observations",
    "QuestionnaireResponse": "questionnaireResponses",
}


@dataclass(frozen=True)
class Example:
    name: str
    bundle: dict[str, Any]
    as_of: date

    @property
    def patient_id(self) -> str:
        return next(
            e["resource"]["id"]
            for e in self.bundle["entry"]
            if e["resource"]["resourceType"] == "Patient"
        )

    @property
    def resources(self) -> list[dict[str, Any]]:
        return [e["resource"] for e in self.bundle["entry"]]

    @property
    def now(self) -> datetime:
        return datetime.combine(self.as_of, time(12, 0), tzinfo=UTC)


def _examples() -> dict[str, Example]:
    index = json.loads((ROOT / "examples" / "index.json").read_text())
    out = {}
    for item in index["examples"]:
        bundle = json.loads((ROOT / "examples" / item["file"]).read_text())
        name = item["file"].removesuffix(".json")
        out[name] = Example(name, bundle, date.fromisoformat(item["as_of"]))
    return out


EXAMPLES = _examples()


def example(prefix: str) -> Example:
    return next(e for n, e in EXAMPLES.items() if n.startswith(prefix))


def fixed(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def prefetch_of(ex: Example) -> dict[str, Any]:
    """Every prefetch key filled as a CDS client would: searchset Bundles (with the _included
    Medications), null when empty."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    patient = None
    medications = {r["id"]: r for r in ex.resources if r["resourceType"] == "Medication"}
    for r in ex.resources:
        if r["resourceType"] == "Patient":
            patient = r
        elif r["resourceType"] in PREFETCH_KEYS:
            key = PREFETCH_KEYS[r["resourceType"]]
            groups[key].append({"resource": r, "search": {"mode": "match"}})
            ref = (r.get("medicationReference") or {}).get("reference", "")
            med = medications.get(ref.removeprefix("Medication/"))
            if (
                med is not None
                and {"resource": med, "search": {"mode": "include"}} not in groups[key]
            ):
                groups[key].append({"resource": med, "search": {"mode": "include"}})
    out: dict[str, Any] = {"patient": patient}
    for key in PREFETCH_KEYS.values():
        out[key] = (
            {"resourceType": "Bundle", "type": "searchset", "entry": groups[key]}
            if groups[key]
            else None
        )
    return out


def cds_request(
    ex: Example,
    hook: str = "patient-view",
    *,
    prefetch: dict[str, Any] | None = None,
    instance: str | None = None,
    **context: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": hook,
        "hookInstance": instance or str(uuid.uuid4()),
        "context": {"userId": "Practitioner/dr-1", "patientId": ex.patient_id, **context},
        "prefetch": prefetch_of(ex) if prefetch is None else prefetch,
    }
    return body


@dataclass
class Signer:
    """A CDS client's key pair; `token()` signs a CDS Hooks JWT."""

    private: Any
    alg: str
    kid: str
    iss: str = ISS

    def jwk(self) -> dict[str, Any]:
        tool = RSAAlgorithm if self.alg.startswith("RS") else ECAlgorithm
        data: dict[str, Any] = tool.to_jwk(self.private.public_key(), as_dict=True)
        return {**data, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk()]}

    def token(
        self,
        aud: str | list[str],
        *,
        now: datetime,
        exp: timedelta | Any = timedelta(minutes=5),
        iat: timedelta | Any = timedelta(0),
        header: dict[str, Any] | None = None,
        drop: tuple[str, ...] = (),
        **claims: Any,
    ) -> str:
        """`exp`/`iat`: a timedelta from `now`, or the raw claim value (e.g. "soon")."""
        payload = {
            "iss": self.iss,
            "aud": aud,
            "exp": int((now + exp).timestamp()) if isinstance(exp, timedelta) else exp,
            "iat": int((now + iat).timestamp()) if isinstance(iat, timedelta) else iat,
            "jti": str(uuid.uuid4()),
        }
        payload.update(claims)
        for name in drop:
            payload.pop(name, None)
        headers = {"kid": self.kid, "typ": "JWT", **(header or {})}
        return jwt.encode(payload, self.private, algorithm=self.alg, headers=headers)


@pytest.fixture(scope="session")
def rsa_signer() -> Signer:
    return Signer(rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS384", "rsa-1")


@pytest.fixture(scope="session")
def ec_signer() -> Signer:
    return Signer(ec.generate_private_key(ec.SECP384R1()), "ES384", "ec-1")


@pytest.fixture(scope="session")
def ec256_signer() -> Signer:
    return Signer(ec.generate_private_key(ec.SECP256R1()), "ES256", "ec-256")


@pytest.fixture
def stub() -> Iterator[StubFhir]:
    server = StubFhir()
    try:
        yield server
    finally:
        server.close()


def open_settings(ex: Example | None = None, **kw: Any) -> ServiceSettings:
    """No CDS authentication; the clock at the example's as-of date."""
    moment = ex.now if ex else datetime(2026, 11, 21, 12, tzinfo=UTC)
    return ServiceSettings(cds_auth_required=False, now=fixed(moment), **kw)


def client_for(settings: ServiceSettings) -> TestClient:
    return TestClient(create_app(settings), raise_server_exceptions=False)


@pytest.fixture
def make_client() -> Callable[..., TestClient]:
    def make(ex: Example | None = None, **kw: Any) -> TestClient:
        return client_for(open_settings(ex, **kw))

    return make


def secured_settings(
    ex: Example,
    signers: list[Signer],
    *,
    jwks_urls: tuple[str, ...] = (),
    inline: bool = True,
    **kw: Any,
) -> ServiceSettings:
    """CDS authentication required; one trusted issuer (ISS) with the signers' keys inline
    and/or at `jwks_urls`; the public base URL PUBLIC."""
    jwks = {"keys": [s.jwk() for s in signers]} if inline else None
    issuer = CdsIssuer(iss=ISS, jwks=jwks, jwks_urls=jwks_urls)
    kw.setdefault("public_base_url", PUBLIC)
    return ServiceSettings(cds_auth_required=True, cds_issuers=(issuer,), now=fixed(ex.now), **kw)
