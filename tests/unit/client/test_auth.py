"""Keys, JWKS, signed assertions and the backend-services token cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from trdfhir.auth import (
    BackendServicesAuth,
    BearerToken,
    client_assertion,
    generate_signing_key,
    load_signing_key,
    private_key_pem,
    public_jwks,
)
from trdfhir.errors import AuthError

from .fakes import Clock, FakeFhir, Seen

TOKEN_URL = "https://auth.test/token"  # noqa: S105 - a URL, not a secret


def test_bearer_token_never_shows_itself() -> None:
    token = BearerToken("Bearer abc")
    assert token.authorization() == "Bearer abc"
    assert not token.renew()
    assert "abc" not in repr(token)


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_pem_and_jwk_files_give_the_same_key_and_kid(tmp_path: Path, alg: str) -> None:
    key = generate_signing_key(alg)
    pem = tmp_path / "key.pem"
    pem.write_bytes(private_key_pem(key))
    loaded = load_signing_key(pem)
    assert loaded.alg == alg
    assert loaded.kid == key.kid  # RFC 7638 thumbprint: stable
    jwk = _private_jwk(key.private_key)
    jwk["kid"] = "my-kid"
    jwk_file = tmp_path / "key.json"
    jwk_file.write_text(json.dumps({"keys": [jwk]}))
    from_jwk = load_signing_key(jwk_file)
    assert from_jwk.kid == "my-kid" and from_jwk.alg == alg
    assert "PRIVATE" not in repr(from_jwk)


def _private_jwk(key: Any) -> dict[str, Any]:
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm

    algo = RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else ECAlgorithm
    return json.loads(algo.to_jwk(key))  # type: ignore[arg-type]


def test_weak_or_wrong_keys_are_refused(tmp_path: Path) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    p256 = ec.generate_private_key(ec.SECP256R1())
    for name, key in (("small.pem", small), ("p256.pem", p256)):
        path = tmp_path / name
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        with pytest.raises(AuthError):
            load_signing_key(path)
    (tmp_path / "junk.pem").write_text("not a key")
    with pytest.raises(AuthError, match="cannot load the private key"):
        load_signing_key(tmp_path / "junk.pem")
    with pytest.raises(AuthError, match="cannot read the key file"):
        load_signing_key(tmp_path / "missing.pem")
    (tmp_path / "public.json").write_text(json.dumps({"kty": "RSA", "n": "x", "e": "AQAB"}))
    with pytest.raises(AuthError, match="not a private JWK"):
        load_signing_key(tmp_path / "public.json")


def test_public_jwks_holds_public_parts_only() -> None:
    rsa_key, ec_key = generate_signing_key("RS384"), generate_signing_key("ES384")
    jwks = public_jwks([rsa_key, ec_key])
    assert [k["kty"] for k in jwks["keys"]] == ["RSA", "EC"]
    assert all("d" not in k and k["use"] == "sig" for k in jwks["keys"])
    assert [k["alg"] for k in jwks["keys"]] == ["RS384", "ES384"]
    assert jwks["keys"][1]["crv"] == "P-384"


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_assertion_header_and_claims(alg: str) -> None:
    key = generate_signing_key(alg, kid="k1")
    token = client_assertion(
        key, client_id="engine", token_url=TOKEN_URL, jku="https://engine/jwks", now=1_000
    )
    header = jwt.get_unverified_header(token)
    assert header == {"alg": alg, "kid": "k1", "typ": "JWT", "jku": "https://engine/jwks"}
    public = jwt.PyJWK.from_dict(public_jwks([key])["keys"][0])
    claims = jwt.decode(
        token, public, algorithms=[alg], audience=TOKEN_URL, options={"verify_exp": False}
    )
    assert claims["iss"] == claims["sub"] == "engine"
    assert 0 < claims["exp"] - 1_000 <= 300
    other = client_assertion(key, client_id="engine", token_url=TOKEN_URL, now=1_000)
    assert jwt.decode(other, options={"verify_signature": False})["jti"] != claims["jti"]
    with pytest.raises(AuthError):
        client_assertion(key, client_id="engine", token_url=TOKEN_URL, lifetime=301)


class TokenEndpoint:
    def __init__(self, expires_in: int = 300, fail: dict[str, Any] | None = None) -> None:
        self.expires_in = expires_in
        self.fail = fail
        self.forms: list[dict[str, str]] = []

    def __call__(self, seen: Seen) -> tuple[int, Any, dict[str, str]]:
        if seen.path.endswith(".well-known/smart-configuration"):
            return (
                200,
                {
                    "token_endpoint": TOKEN_URL,
                    "grant_types_supported": ["client_credentials"],
                    "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                    "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
                },
                {},
            )
        self.forms.append(dict(parse_qsl(seen.body)))
        if self.fail:
            return 401, self.fail, {}
        return (
            200,
            {
                "access_token": f"t{len(self.forms)}",
                "token_type": "bearer",
                "expires_in": self.expires_in,
            },
            {},
        )


def backend(endpoint: TokenEndpoint, clock: Clock, **kwargs: Any) -> BackendServicesAuth:
    session = requests.Session()
    fake = FakeFhir(endpoint)
    session.mount("https://auth.test/", fake)
    session.mount("https://fhir.test/", fake)
    return BackendServicesAuth(
        client_id="engine",
        key=generate_signing_key("ES384"),
        scope="system/Observation.rs",
        session=session,
        clock=clock,
        **kwargs,
    )


def test_tokens_are_cached_renewed_before_expiry_and_on_demand() -> None:
    endpoint, clock = TokenEndpoint(expires_in=300), Clock()
    auth = backend(endpoint, clock, fhir_base="https://fhir.test/fhir")
    assert auth.authorization() == "Bearer t1"
    assert auth.authorization() == "Bearer t1"  # cached
    clock.now += 239
    assert auth.authorization() == "Bearer t1"
    clock.now += 2  # within a minute of expiry: renewed
    assert auth.authorization() == "Bearer t2"
    assert auth.renew() and auth.authorization() == "Bearer t3"
    form = endpoint.forms[0]
    assert form["grant_type"] == "client_credentials"
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert form["scope"] == "system/Observation.rs"
    assert (
        jwt.decode(form["client_assertion"], options={"verify_signature": False})["aud"]
        == TOKEN_URL
    )


def test_token_errors_are_clear_and_never_echo_secrets() -> None:
    endpoint = TokenEndpoint(fail={"error": "invalid_client", "error_description": "unknown kid"})
    auth = backend(endpoint, Clock(), token_url=TOKEN_URL)
    with pytest.raises(AuthError) as err:
        auth.authorization()
    assert err.value.message == (
        "the authorization server refused the token request "
        "(HTTP 401: invalid_client (unknown kid))"
    )


def test_discovery_checks_what_the_server_offers() -> None:
    def handler(seen: Seen) -> tuple[int, Any, dict[str, str]]:
        return (
            200,
            {
                "token_endpoint": TOKEN_URL,
                "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
            },
            {},
        )

    session = requests.Session()
    session.mount("https://fhir.test/", FakeFhir(handler))
    auth = BackendServicesAuth(
        client_id="engine",
        key=generate_signing_key("ES384"),
        scope="s",
        fhir_base="https://fhir.test/fhir",
        session=session,
    )
    with pytest.raises(AuthError, match="does not offer ES384"):
        auth.authorization()


def test_token_endpoint_must_be_https_unless_loopback() -> None:
    key = generate_signing_key("ES384")
    with pytest.raises(AuthError, match="https"):
        BackendServicesAuth(
            client_id="c",
            key=key,
            scope="s",
            token_url="http://auth.example/token",  # noqa: S106
        )
    BackendServicesAuth(
        client_id="c",
        key=key,
        scope="s",
        token_url="http://127.0.0.1:9/token",  # noqa: S106
    ).close()
