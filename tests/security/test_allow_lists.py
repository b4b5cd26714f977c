"""Allow-lists compare parsed URLs (scheme, host and port exactly, no user info, a path prefix on
a segment boundary), loopback is decided from IP literals and `localhost` only, and the FHIR
client never follows a redirect to another origin (issue 11, items 1, 3 and 8)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import cds_request, example, make_client, prefetch_of
from tests.api.stub_fhir import StubFhir
from trdfhir.auth.backend import discover_token_url
from trdfhir.auth.base import BearerToken
from trdfhir.auth.cds_jwt import CdsIssuer, CdsJwtVerifier, JwksCache
from trdfhir.auth.smart import checked_url
from trdfhir.client import FhirClient
from trdfhir.client.http import NO_RETRY, is_loopback
from trdfhir.errors import AuthError, FhirServerError
from trdfhir.service.cds_models import CdsRequest
from trdfhir.service.prefetch import fallback_client
from trdfhir.service.smart_app import SmartAppSettings, SmartRuntime
from trdfhir.urls import allowed_entry, parse_url, url_allowed

VIEW = "/cds-services/trd-patient-view"
__all__ = ["make_client"]  # the API tests' fixture
EHR = "https://ehr.example.org"


# -- the rule --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "https://ehr.example.org.attacker.test/fhir",
        "https://ehr.example.orgevil.test/fhir",
        "https://ehr.example.org@attacker.test/fhir",
        "https://ehr.example.org:443@attacker.test/fhir",
        "https://attacker.test/https://ehr.example.org/fhir",
        "http://ehr.example.org/fhir",  # another scheme
        "https://ehr.example.org:8443/fhir",  # another port
        "https://ehr.example.org/fhirx",  # not on a segment boundary
        "https://ehr.example.org/fhir/../admin",
        "https://ehr.example.org/fhir/%2e%2e/admin",
        "https://ehr.example.org\\@attacker.test/fhir",
        "https://ehr.example.org%2eattacker.test/fhir",
        "javascript:alert(1)//https://ehr.example.org/fhir",
        "//ehr.example.org/fhir",
        "https://ehr.example.org:99999/fhir",
        "",
    ],
)
def test_lookalike_urls_are_not_allowed(url: str) -> None:
    assert not url_allowed(url, (f"{EHR}/fhir",))


@pytest.mark.parametrize(
    "url",
    [
        "https://ehr.example.org/fhir",
        "https://ehr.example.org/fhir/",
        "https://ehr.example.org/fhir/r4",
        "https://EHR.example.org:443/fhir",
        "https://ehr.example.org./fhir",
    ],
)
def test_the_same_server_is_allowed(url: str) -> None:
    assert url_allowed(url, (f"{EHR}/fhir",))


def test_an_exact_match_is_by_parsed_url() -> None:
    assert allowed_entry("https://EHR.example.org:443/jwks", (f"{EHR}/jwks",), prefix=False)
    assert not allowed_entry(f"{EHR}/jwks/other", (f"{EHR}/jwks",), prefix=False)
    assert parse_url(f"{EHR}/jwks") == parse_url("https://ehr.example.org:443/jwks/")


def test_a_port_that_starts_like_the_allowed_port_is_another_port() -> None:
    assert not url_allowed("http://127.0.0.1:18739/fhir", ("http://127.0.0.1:1873",))
    assert url_allowed("http://127.0.0.1:1873/fhir", ("http://127.0.0.1:1873",))


# -- cds_fhir_servers ------------------------------------------------------------------------------
def _request(server: str) -> CdsRequest:
    return CdsRequest.model_validate(
        {
            "hook": "patient-view",
            "hookInstance": "i",
            "fhirServer": server,
            "fhirAuthorization": {
                "access_token": "secret-ehr-token",
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "patient/*.read",
                "subject": "trd",
            },
            "context": {"userId": "Practitioner/1", "patientId": "p1"},
        }
    )


@pytest.mark.parametrize(
    "server",
    [
        "https://ehr.example.org.attacker.test/fhir",
        "https://ehr.example.orgevil.test/fhir",
        "https://ehr.example.org@attacker.test/fhir",
    ],
)
def test_no_client_carrying_the_ehr_token_is_built_for_a_lookalike_server(server: str) -> None:
    assert fallback_client(_request(server), (EHR,)) is None


def test_a_client_is_built_for_the_allowed_server() -> None:
    client = fallback_client(_request(f"{EHR}/fhir/r4"), (EHR,))
    assert client is not None and client.base == f"{EHR}/fhir/r4"


def _without_conditions(ex: Any) -> dict[str, Any]:
    prefetch = prefetch_of(ex)
    del prefetch["conditions"]
    return prefetch


def test_userinfo_cannot_smuggle_another_server_past_the_allow_list(
    make_client: Callable[..., TestClient], stub: StubFhir
) -> None:
    """The red team's case: an allowed http://127.0.0.1:<port> followed by `@` and the real
    server: the service must not query the second address."""
    ex = example("01")
    stub.resources = ex.resources
    netloc = stub.origin.removeprefix("http://")
    body = cds_request(ex, prefetch=_without_conditions(ex))
    body["fhirServer"] = f"http://127.0.0.1:19301@{netloc}/fhir"
    client = make_client(ex, cds_fhir_servers=("http://127.0.0.1:19301",))
    response = client.post(VIEW, json=body)
    assert response.status_code == 412, response.text
    assert stub.paths() == []


def test_an_allowed_port_is_not_a_prefix_of_other_ports(
    make_client: Callable[..., TestClient], stub: StubFhir
) -> None:
    ex = example("01")
    stub.resources = ex.resources
    body = cds_request(ex, prefetch=_without_conditions(ex))
    body["fhirServer"] = stub.base
    client = make_client(ex, cds_fhir_servers=(stub.origin[:-1],))  # port 4321 vs 43215
    assert client.post(VIEW, json=body).status_code == 412
    assert stub.paths() == []
    client = make_client(ex, cds_fhir_servers=(stub.origin,))
    assert client.post(VIEW, json=body).status_code == 200
    assert stub.paths() == ["/fhir/Condition"]


# -- SMART issuers and CDS JWKS URLs ---------------------------------------------------------------
def test_smart_issuers_are_compared_as_parsed_urls() -> None:
    runtime = SmartRuntime(SmartAppSettings.from_mapping({"issuers": [f"{EHR}/fhir"]}))
    assert runtime.issuer_allowed("https://EHR.example.org:443/fhir")
    for other in (f"{EHR}/fhir/../admin", f"{EHR}.attacker.test/fhir", f"{EHR}/fhir2"):
        assert not runtime.issuer_allowed(other)


def test_a_jku_is_matched_as_a_parsed_url_and_the_configured_url_is_fetched(
    ec_signer: Any,
) -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, tzinfo=UTC)
    fetched: list[str] = []

    def fetch(url: str) -> dict[str, Any]:
        fetched.append(url)
        return ec_signer.jwks()  # type: ignore[no-any-return]

    verifier = CdsJwtVerifier(
        [CdsIssuer(iss=ec_signer.iss, jwks_urls=(f"{EHR}/jwks",))],
        jwks=JwksCache(fetch=fetch),
        now=lambda: now,
    )
    aud = "https://trd.example.org/cds-services/trd-patient-view"
    token = ec_signer.token(aud, now=now, header={"jku": "https://EHR.example.org:443/jwks"})
    assert verifier.verify(f"Bearer {token}", audience=aud).kid == ec_signer.kid
    assert fetched == [f"{EHR}/jwks"]
    for jku in (f"{EHR}/jwks/../other", f"{EHR}.attacker.test/jwks", f"{EHR}@attacker.test/jwks"):
        token = ec_signer.token(aud, now=now, header={"jku": jku})
        with pytest.raises(AuthError, match="jku"):
            verifier.verify(f"Bearer {token}", audience=aud)
    assert fetched == [f"{EHR}/jwks"]


# -- loopback --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8080/fhir", True),
        ("http://127.1.2.3/fhir", True),
        ("http://localhost:8080/fhir", True),
        ("http://LOCALHOST/fhir", True),
        ("http://[::1]:8080/fhir", True),
        ("http://127.attacker.test/fhir", False),
        ("http://127.0.0.1.attacker.test/fhir", False),
        ("http://localhost.attacker.test/fhir", False),
        ("http://127.0.0.1@attacker.test/fhir", False),
        ("http://[::ffff:8.8.8.8]/fhir", False),
        ("http://10.0.0.1/fhir", False),
    ],
)
def test_loopback_is_read_from_ip_literals_and_localhost_only(url: str, loopback: bool) -> None:
    assert is_loopback(url) is loopback


def test_a_bearer_token_never_goes_over_plain_http_to_a_127_named_host() -> None:
    with pytest.raises(AuthError, match="plain http"):
        FhirClient("http://127.attacker.test/fhir", auth=BearerToken("t"))
    with pytest.raises(AuthError, match="https"):
        checked_url("http://127.attacker.test/token", "token endpoint")


# -- redirects -------------------------------------------------------------------------------------
class _Server:
    """A server that answers every GET with `reply(path)` -> (status, headers, body)."""

    def __init__(self, reply: Callable[[str], tuple[int, dict[str, str], bytes]]) -> None:
        self.seen: list[tuple[str, str | None]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:
                owner.seen.append((self.path, self.headers.get("Authorization")))
                status, headers, body = reply(self.path)
                self.send_response(status)
                for k, v in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


PATIENT = b'{"resourceType": "Patient", "id": "p1"}'


@pytest.fixture
def elsewhere() -> Iterator[_Server]:
    server = _Server(lambda path: (200, {"Content-Type": "application/fhir+json"}, PATIENT))
    yield server
    server.close()


def test_the_fhir_client_refuses_a_redirect_to_another_origin(elsewhere: _Server) -> None:
    def reply(path: str) -> tuple[int, dict[str, str], bytes]:
        if path.startswith("/fhir/Patient/here"):
            return 302, {"Location": "/fhir/Patient/p1"}, b""
        if path.startswith("/fhir/Patient/p1"):
            return 200, {"Content-Type": "application/fhir+json"}, PATIENT
        return 307, {"Location": f"{elsewhere.origin}/fhir/Patient/p1"}, b""

    server = _Server(reply)
    try:
        with FhirClient(f"{server.origin}/fhir", auth=BearerToken("tok"), retry=NO_RETRY) as c:
            assert c.read("Patient", "here")["id"] == "p1"  # same origin: followed
            with pytest.raises(FhirServerError, match=r"redirect.*another origin"):
                c.read("Patient", "there")
    finally:
        server.close()
    assert elsewhere.seen == []


def test_the_jwks_and_smart_discovery_fetches_refuse_a_redirect_to_another_origin(
    elsewhere: _Server,
) -> None:
    import requests

    from trdfhir.auth.cds_jwt import fetch_jwks

    def reply(path: str) -> tuple[int, dict[str, str], bytes]:
        return 302, {"Location": f"{elsewhere.origin}{path}"}, b""

    server = _Server(reply)
    try:
        with pytest.raises(AuthError):
            fetch_jwks(f"{server.origin}/jwks")
        with requests.Session() as session, pytest.raises(AuthError):
            discover_token_url(session, f"{server.origin}/fhir", retry=NO_RETRY)
    finally:
        server.close()
    assert elsewhere.seen == []
