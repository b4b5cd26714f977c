"""The security suites reuse the API tests' keys, signers and stub FHIR server, and the
integration tests' fault proxy in front of the sandbox server; the SMART suites share one test
authorization server per module (`server`), reset around each test (`auth`)."""

from collections.abc import Iterator

import pytest

from tests.api.conftest import ec256_signer, ec_signer, rsa_signer, stub
from tests.api.smart_support import APP, CLIENT_ID, fresh, running_auth_server
from tests.integration.conftest import maps, proxy
from trdfhir.devtools.smart_server import RegisteredClient, SmartTestServer


@pytest.fixture(scope="module")
def server() -> Iterator[SmartTestServer]:
    with running_auth_server(RegisteredClient(CLIENT_ID, (f"{APP}/app/callback",))) as s:
        yield s


@pytest.fixture
def auth(server: SmartTestServer) -> Iterator[SmartTestServer]:
    with fresh(server) as s:
        yield s


__all__ = ["ec256_signer", "ec_signer", "maps", "proxy", "rsa_signer", "stub"]
