"""SMART backend services against a test authorization server of ours that verifies every
signed assertion, and a FHIR server (the proxy) that only takes its tokens."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from trdfhir.auth import BackendServicesAuth, generate_signing_key, private_key_pem, public_jwks
from trdfhir.cli import main
from trdfhir.client import FhirClient, fetch_patient
from trdfhir.errors import EXIT_AUTH, AuthError
from trdfhir.sandbox import Example

from .servers import FaultProxy, TokenServer

pytestmark = pytest.mark.integration

CLIENT_ID = "trd-fhir-engine"


@pytest.fixture
def key_files(tmp_path: Path) -> dict[str, Path]:
    """An RS384 key as PEM and an ES384 key as a JWK file."""
    from jwt.algorithms import ECAlgorithm

    rsa_key = generate_signing_key("RS384")
    ec_key = generate_signing_key("ES384", kid="ec-1")
    pem = tmp_path / "rsa.pem"
    pem.write_bytes(private_key_pem(rsa_key))
    jwk = json.loads(ECAlgorithm.to_jwk(ec_key.private_key))  # type: ignore[arg-type]
    jwk["kid"] = "ec-1"
    jwk_file = tmp_path / "ec.json"
    jwk_file.write_text(json.dumps(jwk))
    jwks = public_jwks([rsa_key, ec_key])
    (tmp_path / "jwks.json").write_text(json.dumps(jwks))
    return {"RS384": pem, "ES384": jwk_file, "jwks": tmp_path / "jwks.json"}


def _tokens(key_files: dict[str, Path], **kwargs: int) -> TokenServer:
    return TokenServer(CLIENT_ID, json.loads(key_files["jwks"].read_text()), **kwargs)


@pytest.fixture
def secured(proxy: FaultProxy) -> Iterator[FaultProxy]:
    yield proxy


def _protect(proxy: FaultProxy, tokens: TokenServer) -> None:
    proxy.accept_token = tokens.accept
    proxy.smart_configuration = {
        "token_endpoint": tokens.url,
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
    }


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_the_token_request_carries_a_valid_signed_assertion(
    proxy: FaultProxy,
    loaded: str,
    examples: list[Example],
    key_files: dict[str, Path],
    alg: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tokens = _tokens(key_files)
    try:
        _protect(proxy, tokens)
        example = examples[0]
        code = main(
            [
                "sync",
                "--fhir-base",
                proxy.base,
                "--patient",
                example.patient_id,
                "--as-of",
                example.as_of.isoformat(),
                "--backend-client-id",
                CLIENT_ID,
                "--backend-key",
                str(key_files[alg]),
                "--format",
                "json",
            ]
        )
        out = capsys.readouterr().out
        assert code == 0, out
        assert json.loads(out)["summary"]["evaluated"] == 1
        assert tokens.errors == []
        assert len(tokens.requests) == 1  # one token, reused for every request
        sent = tokens.requests[0]
        assert sent["header"]["alg"] == alg and sent["header"]["typ"] == "JWT"
        assert sent["claims"]["iss"] == sent["claims"]["sub"] == CLIENT_ID
        assert sent["claims"]["aud"] == tokens.url
        assert "system/Observation.rs" in sent["scope"].split()
        assert all(
            r.headers.get("Authorization") == "Bearer token-1"
            for r in proxy.seen
            if r.path not in ("metadata", ".well-known/smart-configuration")
        )
    finally:
        tokens.close()


def test_an_expired_token_is_renewed_once(
    proxy: FaultProxy, loaded: str, examples: list[Example], key_files: dict[str, Path]
) -> None:
    from trdfhir.auth import load_signing_key

    tokens = _tokens(key_files, expired=1)
    try:
        _protect(proxy, tokens)
        auth = BackendServicesAuth(
            client_id=CLIENT_ID,
            key=load_signing_key(key_files["ES384"]),
            scope="system/*.rs",
            fhir_base=proxy.base,
        )
        with FhirClient(proxy.base, auth=auth) as client:
            record = fetch_patient(client, examples[0].patient_id)
        auth.close()
        assert record.counts()["Patient"] == 1
        assert len(tokens.requests) == 2
        used = [
            r.headers.get("Authorization") for r in proxy.seen if r.path.endswith("$everything")
        ]
        assert used == ["Bearer token-1", "Bearer token-2"]
    finally:
        tokens.close()


def test_a_token_refused_again_after_renewal_is_a_clear_error(
    proxy: FaultProxy,
    loaded: str,
    examples: list[Example],
    key_files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    tokens = _tokens(key_files, expired=99)
    try:
        _protect(proxy, tokens)
        code = main(
            [
                "sync",
                "--fhir-base",
                proxy.base,
                "--patient",
                examples[0].patient_id,
                "--backend-client-id",
                CLIENT_ID,
                "--backend-key",
                str(key_files["RS384"]),
            ]
        )
        err = capsys.readouterr().err
        assert code == EXIT_AUTH
        assert err.strip() == (
            "trd-fhir: error: Patient $everything: the FHIR server refused the credentials "
            "even after renewing the token (HTTP 401)"
        )
        assert len(tokens.requests) == 2  # renewed exactly once
        assert "token-" not in err
    finally:
        tokens.close()


def test_an_unregistered_key_is_refused_by_the_authorization_server(
    proxy: FaultProxy, loaded: str, key_files: dict[str, Path], tmp_path: Path
) -> None:
    stranger = tmp_path / "stranger.pem"
    stranger.write_bytes(private_key_pem(generate_signing_key("RS384")))
    tokens = _tokens(key_files)
    try:
        _protect(proxy, tokens)
        from trdfhir.auth import load_signing_key

        auth = BackendServicesAuth(
            client_id=CLIENT_ID,
            key=load_signing_key(stranger),
            scope="system/*.rs",
            fhir_base=proxy.base,
        )
        with FhirClient(proxy.base, auth=auth) as client, pytest.raises(AuthError) as err:
            client.read("Patient", "vignette-01")
        auth.close()
        assert "invalid_client (unknown kid)" in err.value.message
    finally:
        tokens.close()


def test_a_static_bearer_token_refused_is_final(
    proxy: FaultProxy, loaded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proxy.accept_token = lambda token: token == "right"  # noqa: S105
    code = main(["sync", "--fhir-base", proxy.base, "--patient", "vignette-01", "--token", "wrong"])
    err = capsys.readouterr().err
    assert code == EXIT_AUTH
    assert "refused the credentials (HTTP 401)" in err and "wrong" not in err
    assert proxy.count(lambda r: r.path.endswith("$everything")) == 1
