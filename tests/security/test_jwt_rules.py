"""Every rule of the JWTs trd-fhir checks or signs, attacked.

CDS client JWTs (verified by the service; tests/api/test_cds_jwt.py has the basic cases: expired,
replayed, wrong aud, alg none, HS256 key confusion, unknown kid/iss/jku, missing claims). Here the
rest: keys smuggled in the header (jwk, x5c, x5u), another trusted issuer's key, spellings of
`none`, a stripped or tampered signature, a token used at two endpoints, the same token raced
from many threads, and random headers and claims (never a 5xx).

SMART: the app verifies no JWT itself (it never relies on the id_token; the patient comes from
the token response over TLS, bound to the launch by state and PKCE): a forged id_token changes
nothing. The JWTs it signs, backend-services client assertions, keep every rule of
client-confidential-asymmetric: RS384/ES384 with kid and typ, iss = sub = client id, aud = the
token endpoint, exp at most 5 minutes after iat, a new jti each time; they verify only with
their own public key and only for their own token endpoint.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from jwt.algorithms import RSAAlgorithm

from tests.api.conftest import (
    ISS,
    PUBLIC,
    Signer,
    cds_request,
    client_for,
    example,
    secured_settings,
)
from tests.fuzz.budget import budget, tried
from trdfhir.auth import load_signing_key
from trdfhir.auth.backend import client_assertion
from trdfhir.auth.cds_jwt import CdsIssuer
from trdfhir.errors import AuthError

EX = example("01")
VIEW = "/cds-services/trd-patient-view"
SIGN = "/cds-services/trd-order-sign"
AUD = f"{PUBLIC}{VIEW}"
OTHER_ISS = "https://other-ehr.example.org"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def call(client: TestClient, token: str, url: str = VIEW, body: Any = None) -> Any:
    return client.post(
        url,
        json=body if body is not None else cds_request(EX),
        headers={"Authorization": f"Bearer {token}"},
    )


def refused(response: Any, fragment: str = "") -> None:
    assert response.status_code == 401, response.text
    diagnostics = response.json()["issue"][0]["diagnostics"]
    assert fragment in diagnostics, diagnostics


@pytest.fixture
def client(rsa_signer: Signer, ec_signer: Signer) -> TestClient:
    """Two trusted issuers: ISS (rsa-1, ec-1) and OTHER_ISS (its own key "other-1")."""
    other = Signer(ec.generate_private_key(ec.SECP384R1()), "ES384", "other-1", iss=OTHER_ISS)
    settings = secured_settings(EX, [rsa_signer, ec_signer])
    extra = CdsIssuer(iss=OTHER_ISS, jwks=other.jwks())
    c = client_for(dataclasses.replace(settings, cds_issuers=(*settings.cds_issuers, extra)))
    c.other = other  # type: ignore[attr-defined]
    return c


def attacker_rsa() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize("smuggled", ["jwk", "x5c", "x5u"])
def test_a_key_carried_in_the_header_is_never_used(
    smuggled: str, client: TestClient, rsa_signer: Signer
) -> None:
    """The attacker signs with a key of their own and offers it in the header, under the
    trusted issuer's kid: the key is looked up in the issuer's JWK Set only."""
    key = attacker_rsa()
    public_jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    offered: dict[str, Any] = {
        "jwk": public_jwk,
        "x5c": ["MIIB" + "A" * 40],
        "x5u": "https://evil.example/cert.pem",
    }
    forger = Signer(key, "RS384", "rsa-1")
    token = forger.token(AUD, now=EX.now, header={smuggled: offered[smuggled]})
    refused(call(client, token), "signature does not verify")


def test_another_trusted_issuers_key_does_not_sign_for_this_issuer(client: TestClient) -> None:
    other: Signer = client.other  # type: ignore[attr-defined]
    assert call(client, other.token(AUD, now=EX.now)).status_code == 200  # as itself: fine
    posing = Signer(other.private, "ES384", "other-1", iss=ISS)  # its kid, under ISS
    refused(call(client, posing.token(AUD, now=EX.now)), "no key of the issuer has this kid")


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", "", "HS384", "RS384 ", "PS384"])
def test_every_spelling_of_none_and_other_algorithms(
    alg: str, client: TestClient, rsa_signer: Signer
) -> None:
    now = int(EX.now.timestamp())
    claims = {"iss": ISS, "aud": AUD, "exp": now + 300, "iat": now, "jti": f"j-{alg}"}
    header = b64(json.dumps({"alg": alg, "typ": "JWT", "kid": "rsa-1"}).encode())
    payload = b64(json.dumps(claims).encode())
    for signature in ("", b64(b"x" * 256)):
        refused(call(client, f"{header}.{payload}.{signature}"), "is not allowed")


def test_a_stripped_or_tampered_signature(client: TestClient, rsa_signer: Signer) -> None:
    token = rsa_signer.token(AUD, now=EX.now)
    header, payload, signature = token.split(".")
    refused(call(client, f"{header}.{payload}."))
    refused(call(client, f"{header}.{payload}"), "not a JWT")
    flipped = bytearray(unb64(signature))
    flipped[10] ^= 1
    refused(call(client, f"{header}.{payload}.{b64(bytes(flipped))}"), "signature")
    claims = json.loads(unb64(payload))
    claims["aud"] = f"{PUBLIC}{SIGN}"  # re-aimed at another endpoint, signature kept
    refused(call(client, f"{header}.{b64(json.dumps(claims).encode())}.{signature}", SIGN))
    assert call(client, token).status_code == 200  # the genuine one still works (jti unused)


def test_a_token_for_two_endpoints_is_used_once(client: TestClient, rsa_signer: Signer) -> None:
    token = rsa_signer.token([AUD, f"{PUBLIC}{SIGN}"], now=EX.now)
    assert call(client, token).status_code == 200
    body = cds_request(EX, "order-sign", draftOrders={"resourceType": "Bundle", "entry": []})
    refused(call(client, token, SIGN, body), "replay")


def test_a_token_raced_from_many_threads_is_accepted_once(
    client: TestClient, rsa_signer: Signer
) -> None:
    token = rsa_signer.token(AUD, now=EX.now)
    statuses: list[int] = []
    lock = threading.Lock()

    def send() -> None:
        status = call(client, token).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(statuses) == [200] + [401] * 7


def test_an_encryption_key_with_the_kid_does_not_verify(rsa_signer: Signer) -> None:
    enc = {**rsa_signer.jwk(), "use": "enc"}
    settings = dataclasses.replace(
        secured_settings(EX, []), cds_issuers=(CdsIssuer(iss=ISS, jwks={"keys": [enc]}),)
    )
    refused(call(client_for(settings), rsa_signer.token(AUD, now=EX.now)), "kid")


# -- random headers and claims: never a 5xx ------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=5,
)
header_fields = st.fixed_dictionaries(
    {},
    optional={
        "alg": st.sampled_from(["RS384", "ES384", "none", "HS256", "RS256"]) | json_values,
        "typ": st.sampled_from(["JWT", "jwt", "at+jwt"]) | json_values,
        "kid": st.sampled_from(["rsa-1", "ec-1", "../../etc/passwd", "x" * 5000]) | json_values,
        "jku": st.sampled_from(["https://evil.example/jwks", "file:///etc/passwd"]) | json_values,
        "crit": json_values,
        "jwk": json_values,
    },
)
claim_fields = st.fixed_dictionaries(
    {},
    optional={
        "iss": st.sampled_from([ISS, OTHER_ISS, ""]) | json_values,
        "aud": st.sampled_from([AUD, [AUD], [AUD, 5]]) | json_values,
        "exp": st.integers(-(2**63), 2**63) | json_values,
        "iat": st.integers(-(2**63), 2**63) | json_values,
        "nbf": json_values,
        "jti": st.text(max_size=40) | json_values,
        "tenant": json_values,
    },
)


@given(
    header=header_fields,
    claims=claim_fields,
    sign=st.sampled_from(["rsa", "garbage", "empty", "raw"]),
    raw=st.text(max_size=300),
)
@budget("jwt-header")
def test_random_tokens_are_refused_or_accepted_never_a_crash(
    header: dict[str, Any], claims: dict[str, Any], sign: str, raw: str
) -> None:
    tried("jwt-header")
    if sign == "raw":
        token = raw
    else:
        head = b64(json.dumps(header).encode())
        body = b64(json.dumps(claims).encode())
        signing_input = f"{head}.{body}".encode()
        if sign == "rsa":
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.asymmetric import padding

            signature = RSA_KEY.sign(signing_input, padding.PKCS1v15(), hashes.SHA384())
            token = f"{head}.{body}.{b64(signature)}"
        else:
            token = f"{head}.{body}." + ("" if sign == "empty" else b64(raw.encode()))
    try:
        response = FUZZ_CLIENT.post(
            VIEW, json=cds_request(EX), headers={"Authorization": f"Bearer {token}"}
        )
    except UnicodeEncodeError:
        return  # not a header value at all (an HTTP client refuses to send it)
    assert response.status_code in (200, 401), response.text
    if response.status_code == 401:
        diagnostics = response.json()["issue"][0]["diagnostics"]
        assert diagnostics and "\n" not in diagnostics


RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
FUZZ_CLIENT = client_for(
    secured_settings(EX, [Signer(RSA_KEY, "RS384", "rsa-1")], jwks_urls=(), inline=True)
)


# -- SMART ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def signing_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from cryptography.hazmat.primitives import serialization

    folder = tmp_path_factory.mktemp("keys")
    out = {}
    for alg, key in (
        ("RS384", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        ("ES384", ec.generate_private_key(ec.SECP384R1())),
    ):
        path = folder / f"{alg}.pem"
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        out[alg] = load_signing_key(str(path), kid=f"kid-{alg}")
    return out


TOKEN_URL = "https://ehr.example.org/oauth2/token"  # noqa: S105 - a URL


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_backend_assertions_keep_every_rule(alg: str, signing_keys: dict[str, Any]) -> None:
    key = signing_keys[alg]
    verify_key = jwt.PyJWK(key.public_jwk()).key  # as the EHR would: from the published JWK
    jtis = set()
    for _ in range(50):
        token = client_assertion(key, client_id="trd-backend", token_url=TOKEN_URL)
        header = jwt.get_unverified_header(token)
        assert header["alg"] == alg and header["typ"] == "JWT" and header["kid"] == f"kid-{alg}"
        assert "jku" not in header and "jwk" not in header
        claims = jwt.decode(
            token,
            verify_key,
            algorithms=[alg],
            audience=TOKEN_URL,
            issuer="trd-backend",
            options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]},
        )
        assert claims["sub"] == "trd-backend"
        assert 0 < claims["exp"] - claims["iat"] <= 300
        jtis.add(claims["jti"])
    assert len(jtis) == 50  # a new jti every time
    with pytest.raises(jwt.InvalidAudienceError):  # not valid at another token endpoint
        jwt.decode(token, verify_key, algorithms=[alg], audience="https://evil.example/token")
    stranger = attacker_rsa() if alg == "RS384" else ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(jwt.InvalidSignatureError):  # does not verify with another key
        jwt.decode(token, stranger.public_key(), algorithms=[alg], audience=TOKEN_URL)
    with pytest.raises(jwt.PyJWTError):  # an expired assertion is expired
        stale = client_assertion(key, client_id="trd-backend", token_url=TOKEN_URL, now=1000.0)
        jwt.decode(stale, verify_key, algorithms=[alg], audience=TOKEN_URL)
    with pytest.raises(AuthError):
        client_assertion(key, client_id="trd-backend", token_url=TOKEN_URL, lifetime=301)
