"""The CDS client's JWT (CDS Hooks 2.0 "Trusting CDS Clients"), every check with really signed
tokens: RSA and EC keys generated here, tokens signed by PyJWT (or by hand for `none` and the
HS256 key-confusion attack)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient

from trdfhir.auth.cds_jwt import (
    REFETCH_INTERVAL,
    CdsIssuer,
    CdsJwtVerifier,
    JwksCache,
    ReplayCache,
)
from trdfhir.errors import AuthError, BusyError

from .conftest import PUBLIC, Signer, cds_request, client_for, example, secured_settings
from .stub_fhir import StubFhir

EX = example("01")
VIEW = "/cds-services/trd-patient-view"
AUD = f"{PUBLIC}{VIEW}"


def call(client: TestClient, token: str | None, url: str = VIEW, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.post(url, json=body if body is not None else cds_request(EX), headers=headers)


def rejected(response: Any, fragment: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    issue = body["issue"][0]
    assert issue["code"] == "security"
    assert "\n" not in issue["diagnostics"]
    assert fragment in issue["diagnostics"], issue["diagnostics"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(signer: Signer, **extra: Any) -> dict[str, Any]:
    now = int(EX.now.timestamp())
    return {"iss": signer.iss, "aud": AUD, "exp": now + 300, "iat": now, "jti": "j-1", **extra}


@pytest.fixture
def client(rsa_signer: Signer, ec_signer: Signer, ec256_signer: Signer) -> TestClient:
    return client_for(secured_settings(EX, [rsa_signer, ec_signer, ec256_signer]))


@pytest.mark.parametrize("name", ["rsa_signer", "ec_signer", "ec256_signer"])
def test_signed_tokens_are_accepted(name: str, client: TestClient, request: Any) -> None:
    signer: Signer = request.getfixturevalue(name)
    response = call(client, signer.token(AUD, now=EX.now))
    assert response.status_code == 200, response.text


def test_rs256_is_accepted(client: TestClient, rsa_signer: Signer) -> None:
    rs256 = Signer(rsa_signer.private, "RS256", "rs256")
    client = client_for(secured_settings(EX, [rs256]))
    assert call(client, rs256.token(AUD, now=EX.now)).status_code == 200


def test_aud_as_a_list(client: TestClient, rsa_signer: Signer) -> None:
    token = rsa_signer.token([AUD, "https://other.example/cds-services"], now=EX.now)
    assert call(client, token).status_code == 200


@pytest.mark.parametrize(
    "aud",
    [
        f"{PUBLIC}/cds-services",  # another endpoint
        f"{PUBLIC}/cds-services/trd-order-sign",
        f"http://testserver{VIEW}",  # the URL without the configured public base
        f"{AUD}/",
        ["https://other.example/cds-services"],
    ],
)
def test_wrong_aud(aud: Any, client: TestClient, rsa_signer: Signer) -> None:
    rejected(call(client, rsa_signer.token(aud, now=EX.now)), "aud is not this endpoint")


def test_aud_is_the_request_url_without_a_public_base(rsa_signer: Signer) -> None:
    client = client_for(secured_settings(EX, [rsa_signer], public_base_url=None))
    assert call(client, rsa_signer.token(f"http://testserver{VIEW}", now=EX.now)).status_code == 200
    rejected(call(client, rsa_signer.token(AUD, now=EX.now)), "aud")


def test_expired(client: TestClient, rsa_signer: Signer) -> None:
    token = rsa_signer.token(AUD, now=EX.now, exp=timedelta(seconds=-60), iat=timedelta(minutes=-6))
    rejected(call(client, token), "expired")


def test_small_leeway(client: TestClient, rsa_signer: Signer) -> None:
    token = rsa_signer.token(AUD, now=EX.now, exp=timedelta(seconds=-10), iat=timedelta(seconds=10))
    assert call(client, token).status_code == 200


def test_issued_in_the_future(client: TestClient, rsa_signer: Signer) -> None:
    rejected(call(client, rsa_signer.token(AUD, now=EX.now, iat=timedelta(minutes=5))), "future")


def test_replayed_jti(client: TestClient, rsa_signer: Signer) -> None:
    token = rsa_signer.token(AUD, now=EX.now)
    assert call(client, token).status_code == 200
    rejected(call(client, token), "replay")
    fresh = rsa_signer.token(AUD, now=EX.now)
    assert call(client, fresh).status_code == 200


@pytest.mark.parametrize("claim", ["jti", "exp", "iat", "aud", "iss"])
def test_required_claims(claim: str, client: TestClient, rsa_signer: Signer) -> None:
    rejected(call(client, rsa_signer.token(AUD, now=EX.now, drop=(claim,))), "rejected")


def test_non_numeric_times(client: TestClient, rsa_signer: Signer) -> None:
    rejected(call(client, rsa_signer.token(AUD, now=EX.now, exp="soon")), "must be numbers")
    rejected(call(client, rsa_signer.token(AUD, now=EX.now, iat=True)), "must be numbers")
    rejected(
        call(client, rsa_signer.token(AUD, now=EX.now, nbf=int(EX.now.timestamp()) + 600)),
        "not valid yet",
    )
    token = rsa_signer.token(AUD, now=EX.now, tenant="org-1")
    assert call(client, token).status_code == 200


def test_unknown_issuer(client: TestClient, rsa_signer: Signer) -> None:
    stranger = Signer(rsa_signer.private, "RS384", "rsa-1", iss="https://evil.example")
    rejected(call(client, stranger.token(AUD, now=EX.now)), "issuer (iss) is not trusted")


def test_unknown_kid(client: TestClient) -> None:
    unknown = Signer(
        rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS384", "rsa-9"
    )
    rejected(call(client, unknown.token(AUD, now=EX.now)), "no key of the issuer has this kid")


def test_same_kid_other_key(client: TestClient) -> None:
    impostor = Signer(
        rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS384", "rsa-1"
    )
    rejected(call(client, impostor.token(AUD, now=EX.now)), "signature does not verify")


def test_key_of_another_type(client: TestClient, ec_signer: Signer) -> None:
    confused = Signer(ec_signer.private, "ES384", "rsa-1")  # names the RSA key
    rejected(call(client, confused.token(AUD, now=EX.now)), "is not a EC key")


def test_alg_none(client: TestClient, rsa_signer: Signer) -> None:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "rsa-1"}).encode())
    payload = _b64(json.dumps(_claims(rsa_signer)).encode())
    rejected(call(client, f"{header}.{payload}."), "alg 'none' is not allowed")


def test_hs256_with_the_public_key_as_secret(client: TestClient, rsa_signer: Signer) -> None:
    """The classic key-confusion attack: HMAC keyed with the issuer's public key."""
    secret = rsa_signer.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    payload = _b64(json.dumps(_claims(rsa_signer)).encode())
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    rejected(call(client, f"{header}.{payload}.{_b64(signature)}"), "alg 'HS256' is not allowed")


@pytest.mark.parametrize(
    ("header", "fragment"),
    [({"typ": "at+jwt"}, "typ"), ({"kid": ""}, "kid"), ({"jku": 5}, "jku")],
)
def test_bad_headers(
    header: dict[str, Any], fragment: str, client: TestClient, rsa_signer: Signer
) -> None:
    rejected(call(client, rsa_signer.token(AUD, now=EX.now, header=header)), fragment)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (None, "no Authorization"),
        ("Basic abc", "not 'Bearer"),
        ("Bearer", "not 'Bearer"),
        ("Bearer not.a.jwt", "not a JWT"),
        ("Bearer " + "a" * 20_000, "too long"),
    ],
)
def test_bad_authorization_headers(value: str | None, fragment: str, client: TestClient) -> None:
    headers = {"Authorization": value} if value is not None else {}
    rejected(client.post(VIEW, json=cds_request(EX), headers=headers), fragment)


def test_auth_comes_before_the_body(client: TestClient) -> None:
    response = client.post(VIEW, content="{", headers={"Content-Type": "application/json"})
    rejected(response, "no Authorization")


def test_jku_in_the_allow_list_is_fetched_and_cached(ec_signer: Signer, stub: StubFhir) -> None:
    stub.jwks = ec_signer.jwks()
    client = client_for(secured_settings(EX, [], jwks_urls=(stub.jwks_url,), inline=False))
    with_jku = ec_signer.token(AUD, now=EX.now, header={"jku": stub.jwks_url})
    assert call(client, with_jku).status_code == 200
    assert call(client, ec_signer.token(AUD, now=EX.now)).status_code == 200  # no jku: same URL
    assert stub.paths() == ["/jwks"]


def test_unknown_jku(client: TestClient, ec_signer: Signer, stub: StubFhir) -> None:
    stub.jwks = ec_signer.jwks()
    token = ec_signer.token(AUD, now=EX.now, header={"jku": stub.jwks_url})
    rejected(call(client, token), "jku header is not an allowed JWKS URL")
    assert stub.paths() == []  # never fetched


def test_unreachable_jwks(ec_signer: Signer, stub: StubFhir) -> None:
    url = stub.jwks_url
    stub.close()
    client = client_for(secured_settings(EX, [], jwks_urls=(url,), inline=False))
    rejected(call(client, ec_signer.token(AUD, now=EX.now)), "cannot be reached")


def test_feedback_needs_a_token_for_its_own_url(client: TestClient, rsa_signer: Signer) -> None:
    body = {
        "feedback": [
            {"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-09-01T10:00:00Z"}
        ]
    }
    url = f"{VIEW}/feedback"
    rejected(client.post(url, json=body), "no Authorization")
    rejected(call(client, rsa_signer.token(AUD, now=EX.now), url, body), "aud")
    assert (
        call(client, rsa_signer.token(f"{PUBLIC}{url}", now=EX.now), url, body).status_code == 200
    )


def test_discovery_is_open(client: TestClient) -> None:
    assert client.get("/cds-services").status_code == 200


def test_tokens_are_never_logged(
    client: TestClient, rsa_signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    good = rsa_signer.token(AUD, now=EX.now)
    bad = rsa_signer.token(f"{PUBLIC}/elsewhere", now=EX.now)
    call(client, good)
    call(client, bad)
    assert "aud is not this endpoint" in caplog.text
    assert good not in caplog.text and bad not in caplog.text
    assert good.split(".")[2] not in caplog.text


# -- the verifier's caches, without HTTP -----------------------------------------------------------


def test_jwks_refetched_for_an_unknown_kid_at_most_every_interval(ec_signer: Signer) -> None:
    now = [1000.0]
    fetched: list[str] = []
    sets = [{"keys": []}, ec_signer.jwks()]

    def fetch(url: str) -> dict[str, Any]:
        fetched.append(url)
        return sets[min(len(fetched) - 1, 1)]

    cache = JwksCache(ttl=3600, fetch=fetch, clock=lambda: now[0])
    verifier = CdsJwtVerifier(
        [CdsIssuer(iss=ec_signer.iss, jwks_urls=("https://ehr.example.org/jwks",))],
        jwks=cache,
        now=lambda: EX.now,
    )
    token = ec_signer.token(AUD, now=EX.now)
    with pytest.raises(AuthError, match="kid"):
        verifier.verify(f"Bearer {token}", audience=AUD)
    assert len(fetched) == 1  # just fetched: no immediate refetch
    now[0] += REFETCH_INTERVAL + 1  # the issuer rotated its keys meanwhile
    assert verifier.verify(f"Bearer {token}", audience=AUD).kid == "ec-1"
    assert len(fetched) == 2


def test_replay_cache_forgets_expired_tokens() -> None:
    cache = ReplayCache(max_entries=2)
    assert cache.first_use("i", "a", until=10, now=0)
    assert not cache.first_use("i", "a", until=10, now=5)
    assert cache.first_use("j", "a", until=10, now=5)  # keyed by issuer too
    with pytest.raises(BusyError):  # full of live tokens: retry later (503), never forget one
        cache.first_use("i", "b", until=30, now=5)
    assert cache.first_use("i", "b", until=30, now=11)  # the expired ones are purged
    assert cache.first_use("i", "a", until=40, now=11)


def test_issuer_settings_are_checked() -> None:
    from trdfhir.errors import SettingsError

    with pytest.raises(SettingsError):
        CdsIssuer(iss="x")
    with pytest.raises(SettingsError):
        CdsIssuer(iss="x", jwks={"keys": "no"})
    with pytest.raises(SettingsError):
        CdsIssuer(iss="", jwks={"keys": []})


def test_ec_key_on_the_wrong_curve() -> None:
    p256 = Signer(ec.generate_private_key(ec.SECP256R1()), "ES256", "k")
    wrong = {**p256.jwk(), "alg": "ES384"}
    verifier = CdsJwtVerifier([CdsIssuer(iss=p256.iss, jwks={"keys": [wrong]})], now=lambda: EX.now)
    token = Signer(p256.private, "ES256", "k").token(AUD, now=EX.now)
    with pytest.raises(AuthError, match="not a EC key"):
        verifier.verify(f"Bearer {token}", audience=AUD)
    verifier = CdsJwtVerifier(
        [CdsIssuer(iss=p256.iss, jwks={"keys": [{**p256.jwk(), "crv": "P-384", "alg": "ES256"}]})],
        now=lambda: EX.now,
    )
    with pytest.raises(AuthError, match="curve"):
        verifier.verify(f"Bearer {token}", audience=AUD)
