"""Credentials for FHIR servers: bearer tokens and SMART Backend Services.

BearerToken(token)                       a fixed token; a 401 is final
BackendServicesAuth(client_id=, key=, scope=, token_url= | fhir_base=)
                                         client_credentials + signed JWT assertion (RS384/ES384)
load_signing_key(path)                   PEM or JWK private key -> SigningKey (alg, kid)
public_jwks([key])                       the JWK Set to register or serve (public parts only)
"""

from .backend import BackendServicesAuth, client_assertion, discover_token_url
from .base import Auth, BearerToken
from .keys import (
    SigningKey,
    generate_signing_key,
    load_signing_key,
    private_key_pem,
    public_jwk,
    public_jwks,
)

__all__ = [
    "Auth",
    "BackendServicesAuth",
    "BearerToken",
    "SigningKey",
    "client_assertion",
    "discover_token_url",
    "generate_signing_key",
    "load_signing_key",
    "private_key_pem",
    "public_jwk",
    "public_jwks",
]
