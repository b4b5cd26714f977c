"""SMART Backend Services (SMART App Launch 2.x, backend-services.md): the client_credentials
grant with a signed JWT assertion (client-confidential-asymmetric.md).

The assertion: header alg (RS384/ES384), kid, typ=JWT and optionally jku; claims iss = sub =
client_id, aud = the token endpoint, exp <= 5 minutes ahead, a unique jti. The token endpoint is
discovered from `{fhir base}/.well-known/smart-configuration` unless given. Tokens are cached and
renewed shortly before they expire; after a 401 the client renews once (`renew`).
Tokens and assertions are never logged.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import requests

from ..client.http import DEFAULT_TIMEOUT, RetryPolicy, Timeout, send
from ..errors import AuthError, FhirServerError
from ..urls import is_loopback, parse_url
from .keys import SigningKey

log = logging.getLogger("trdfhir.auth")

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 240  # seconds; the spec allows at most 300, this leaves room for clock skew


def client_assertion(
    key: SigningKey,
    *,
    client_id: str,
    token_url: str,
    jku: str | None = None,
    now: float | None = None,
    lifetime: int = ASSERTION_LIFETIME,
) -> str:
    """A signed client assertion for one token request (a new jti every time)."""
    if not 0 < lifetime <= 300:
        raise AuthError("the assertion lifetime must be between 1 and 300 seconds")
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "iat": issued,
        "exp": issued + lifetime,
        "jti": uuid.uuid4().hex,
    }
    headers: dict[str, Any] = {"kid": key.kid, "typ": "JWT"}
    if jku:
        headers["jku"] = jku
    return jwt.encode(claims, key.private_key, algorithm=key.alg, headers=headers)


def _checked_https(url: str, what: str) -> str:
    parsed = parse_url(url)
    if parsed is None or not (parsed.scheme == "https" or is_loopback(url)):
        raise AuthError(f"the {what} must use https (plain http only on 127.0.0.1/localhost)")
    return url


def discover_token_url(
    session: requests.Session,
    fhir_base: str,
    *,
    timeout: Timeout = DEFAULT_TIMEOUT,
    retry: RetryPolicy | None = None,
    alg: str | None = None,
) -> str:
    """token_endpoint from `{base}/.well-known/smart-configuration`, after checking that the
    server offers client_credentials, private_key_jwt and our signing algorithm (when it says)."""
    url = fhir_base.rstrip("/") + "/.well-known/smart-configuration"
    try:
        exchange = send(
            session,
            "GET",
            url,
            what="SMART discovery",
            policy=retry or RetryPolicy(),
            timeout=timeout,
            idempotent=True,
            headers=lambda: {"Accept": "application/json"},
        )
    except FhirServerError as exc:
        raise AuthError(exc.message) from None
    response = exchange.response
    if response.status_code != 200:
        raise AuthError(
            f"SMART discovery: HTTP {response.status_code} from the server's "
            ".well-known/smart-configuration; pass the token endpoint (--token-url)"
        )
    try:
        config = response.json()
    except ValueError:
        raise AuthError("SMART discovery: .well-known/smart-configuration is not JSON") from None
    token_url = config.get("token_endpoint") if isinstance(config, dict) else None
    if not isinstance(token_url, str) or not token_url:
        raise AuthError("SMART discovery: the smart-configuration has no token_endpoint")
    checks = (
        ("grant_types_supported", "client_credentials", "the client_credentials grant"),
        ("token_endpoint_auth_methods_supported", "private_key_jwt", "private_key_jwt"),
        ("token_endpoint_auth_signing_alg_values_supported", alg, f"{alg} signatures"),
    )
    for field_name, needed, label in checks:
        offered = config.get(field_name)
        if needed and isinstance(offered, list) and needed not in offered:
            raise AuthError(f"SMART discovery: the authorization server does not offer {label}")
    return _checked_https(token_url, "token endpoint")


class BackendServicesAuth:
    """client_credentials + private_key_jwt, with a cached token renewed before it expires."""

    def __init__(
        self,
        *,
        client_id: str,
        key: SigningKey,
        scope: str,
        token_url: str | None = None,
        fhir_base: str | None = None,
        jku: str | None = None,
        session: requests.Session | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not token_url and not fhir_base:
            raise AuthError("backend services need a token endpoint or a FHIR base to discover it")
        self.client_id = client_id
        self.key = key
        self.scope = scope
        self.jku = jku
        self._token_url = _checked_https(token_url, "token endpoint") if token_url else None
        self._fhir_base = fhir_base
        self._session = session or requests.Session()
        self._own_session = session is None
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self._renew_at = 0.0
        self.tokens_fetched = 0

    def __repr__(self) -> str:
        return f"BackendServicesAuth(client_id={self.client_id!r}, key={self.key!r})"

    @property
    def token_url(self) -> str:
        if self._token_url is None:
            assert self._fhir_base is not None  # noqa: S101 - guaranteed by __init__
            self._token_url = discover_token_url(
                self._session,
                self._fhir_base,
                timeout=self._timeout,
                retry=self._retry,
                alg=self.key.alg,
            )
        return self._token_url

    def authorization(self) -> str | None:
        with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                self._fetch()
            return f"Bearer {self._token}"

    def renew(self) -> bool:
        with self._lock:
            self._token = None
            self._fetch()
            return True

    def close(self) -> None:
        if self._own_session:
            self._session.close()

    def _fetch(self) -> None:
        token_url = self.token_url
        form = {
            "grant_type": "client_credentials",
            "scope": self.scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion(
                self.key,
                client_id=self.client_id,
                token_url=token_url,
                jku=self.jku,
                now=self._clock(),
            ),
        }
        try:
            exchange = send(
                self._session,
                "POST",
                token_url,
                what="token request",
                policy=self._retry,
                timeout=self._timeout,
                idempotent=True,  # a fresh assertion (jti) per call; a lost token is harmless
                headers=lambda: {"Accept": "application/json"},
                data=form,
            )
        except FhirServerError as exc:
            raise AuthError(exc.message) from None
        response = exchange.response
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        if response.status_code != 200:
            error = body.get("error") if isinstance(body, dict) else None
            detail = body.get("error_description") if isinstance(body, dict) else None
            said = f": {error}" if isinstance(error, str) else ""
            if isinstance(detail, str) and detail:
                said += f" ({detail[:160]})"
            raise AuthError(
                f"the authorization server refused the token request "
                f"(HTTP {response.status_code}{said})"
            )
        token = body.get("access_token") if isinstance(body, dict) else None
        token_type = body.get("token_type") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthError("the token response has no access_token")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise AuthError("the token response is not a bearer token")
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 300.0
        lifetime = max(lifetime, 1.0)
        now = self._clock()
        self._token = token
        self._expires_at = now + lifetime
        self._renew_at = now + lifetime - min(60.0, lifetime / 5)
        self.tokens_fetched += 1
        log.info("obtained an access token valid for %.0f s", lifetime)
