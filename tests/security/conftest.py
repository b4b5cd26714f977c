"""The security suites reuse the API tests' keys, signers and stub FHIR server, and the
integration tests' fault proxy in front of the sandbox server."""

from tests.api.conftest import ec256_signer, ec_signer, rsa_signer, stub
from tests.integration.conftest import maps, proxy

__all__ = ["ec256_signer", "ec_signer", "maps", "proxy", "rsa_signer", "stub"]
