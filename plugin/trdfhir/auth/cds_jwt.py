"""Verification of the JWT a CDS Hooks 2.0 client sends with every call ("Trusting CDS Clients").

    verifier = CdsJwtVerifier([CdsIssuer(iss=..., jwks_urls=(...,))], now=clock)
    client = verifier.verify(request.headers.get("Authorization"), audience=endpoint_url)

Checks, in order: `Authorization: Bearer <JWT>`; header `alg` in RS384/ES384/RS256/ES256 (never
`none`, never HMAC), `typ` JWT, `kid` present; `iss` allow-listed, and `jku` (when present) one
of that issuer's allowed JWKS URLs; the key found by `kid` in the allow-listed JWK Set (fetched
with requests and cached, or given inline) and of the right type for `alg`; the signature; `aud`
equal to the exact URL called (string or list); `exp` in the future and `iat` not in the future
(with a small leeway), and `exp - iat` at most `max_lifetime` (5 minutes, as CDS Hooks
recommends) plus the leeway; `jti` present and never seen before from that issuer (replay cache,
kept until the token expires). Any failure is an AuthError (HTTP 401) with a one-line reason; a
replay cache full of live tokens is a BusyError (HTTP 503, retry later), never a lockout. Keys
configured for an issuer answer first, also for a `jku` that is one of its allowed JWKS URLs (so
a key set can be given offline for a client such as the CDS Hooks sandbox, whose tokens always
carry a `jku`). Tokens are never logged or echoed.
"""

from __future__ import annotations

import heapq
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import jwt
import requests

from ..errors import AuthError, BusyError, SettingsError
from ..urls import allowed_entry

log = logging.getLogger("trdfhir.auth.cds")

ALLOWED_ALGORITHMS = ("RS384", "ES384", "RS256", "ES256")
_KTY = {"RS": "RSA", "ES": "EC"}
_CURVE = {"ES256": "P-256", "ES384": "P-384"}
MAX_TOKEN_CHARS = 16_384
MAX_JWKS_BYTES = 1_000_000
REFETCH_INTERVAL = 30.0  # seconds between two fetches of one JWKS URL for an unknown kid
DEFAULT_MAX_LIFETIME = 300.0  # seconds from iat to exp (CDS Hooks: "5 minutes")
DEFAULT_LEEWAY = 30.0
DEFAULT_REPLAY_TOKENS_PER_SECOND = 100


@dataclass(frozen=True, kw_only=True)
class CdsIssuer:
    """A trusted CDS client: its `iss`, the JWKS URLs allowed as `jku` and searched for keys,
    and/or an inline JWK Set."""

    iss: str
    jwks_urls: tuple[str, ...] = ()
    jwks: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if not self.iss:
            raise SettingsError("cds_issuers: every issuer needs an `iss`")
        keys = self.jwks.get("keys") if isinstance(self.jwks, Mapping) else None
        if self.jwks is not None and not isinstance(keys, list):
            raise SettingsError(f"cds_issuers[{self.iss}].jwks must be a JWK Set ({{'keys': []}})")
        if not self.jwks_urls and self.jwks is None:
            raise SettingsError(f"cds_issuers[{self.iss}]: give jwks_urls or an inline jwks")

    def inline_keys(self) -> list[dict[str, Any]]:
        keys = self.jwks.get("keys") if self.jwks is not None else None
        return [k for k in keys or [] if isinstance(k, dict)]


@dataclass(frozen=True)
class VerifiedClient:
    iss: str
    kid: str
    jti: str
    exp: float
    tenant: str | None


def reject(reason: str) -> AuthError:
    return AuthError(f"CDS client JWT rejected: {reason}")


class JwksCache:
    """JWK Sets by URL, fetched with requests and kept `ttl` seconds."""

    def __init__(
        self,
        ttl: float = 300.0,
        *,
        fetch: Callable[[str], Mapping[str, Any]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self._fetch = fetch or fetch_jwks
        self._clock = clock
        self._entries: dict[str, tuple[float, list[dict[str, Any]]]] = {}
        self._lock = threading.Lock()

    def keys(self, url: str, *, refresh: bool = False) -> list[dict[str, Any]]:
        now = self._clock()
        with self._lock:
            cached = self._entries.get(url)
        if cached is not None:
            fetched_at, keys = cached
            fresh = now - fetched_at < self.ttl
            if fresh and not (refresh and now - fetched_at >= REFETCH_INTERVAL):
                return keys
        document = self._fetch(url)
        raw = document.get("keys")
        keys = [k for k in raw if isinstance(k, dict)] if isinstance(raw, list) else []
        with self._lock:
            self._entries[url] = (now, keys)
        return keys


def fetch_jwks(url: str) -> Mapping[str, Any]:
    try:
        with requests.get(
            url,
            timeout=(3.0, 5.0),
            headers={"Accept": "application/json"},
            stream=True,
            allow_redirects=False,  # the key set is served at the allowed URL itself
        ) as response:
            if response.status_code != 200:
                raise reject(f"the issuer's JWKS URL answered HTTP {response.status_code}")
            body = response.raw.read(MAX_JWKS_BYTES + 1, decode_content=True)
    except requests.RequestException:
        raise reject("the issuer's JWKS URL cannot be reached") from None
    if len(body) > MAX_JWKS_BYTES:
        raise reject("the issuer's JWK Set is too large")
    try:
        data = json.loads(body)
    except ValueError:
        raise reject("the issuer's JWKS URL did not return JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise reject("the issuer's JWKS URL did not return a JWK Set")
    return data


class ReplayStore(Protocol):
    """Where the verifier remembers the (iss, jti) pairs it has accepted. One process keeps them
    in memory (ReplayCache); several workers would share one store behind this interface."""

    def first_use(self, iss: str, jti: str, until: float, now: float) -> bool:
        """True the first time (remembered until `until`), False for a replay; BusyError when
        the store is full of live tokens."""
        ...


class ReplayCache:
    """(iss, jti) pairs seen, each kept until its token expires and forgotten then (a heap by
    expiry). Sized from the longest token lifetime allowed (`for_lifetime`): every entry is gone
    within that lifetime plus the leeways, so the cache holds at most that many seconds of
    calls. Full of live tokens, it raises BusyError (retry once the oldest expires): it never
    forgets a live token (that would allow a replay) and never locks clients out for good."""

    def __init__(self, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise SettingsError("the replay cache needs room for at least one token")
        self.max_entries = max_entries
        self._seen: dict[tuple[str, str], float] = {}
        self._expiry: list[tuple[float, tuple[str, str]]] = []
        self._lock = threading.Lock()

    @classmethod
    def for_lifetime(
        cls,
        max_lifetime: float = DEFAULT_MAX_LIFETIME,
        leeway: float = DEFAULT_LEEWAY,
        per_second: int = DEFAULT_REPLAY_TOKENS_PER_SECOND,
    ) -> ReplayCache:
        """Room for `per_second` new tokens a second: an accepted token is remembered until
        exp + leeway, and exp <= iat + max_lifetime + leeway with iat <= now + leeway."""
        return cls(max_entries=max(1, int(per_second * (max_lifetime + 3 * leeway))))

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)

    def first_use(self, iss: str, jti: str, until: float, now: float) -> bool:
        key = (iss, jti)
        with self._lock:
            self._forget(now)
            expires = self._seen.get(key)
            if expires is not None and expires > now:
                return False
            if len(self._seen) >= self.max_entries:
                raise BusyError(
                    "too many CDS calls at once: the JWT replay cache is full; retry shortly",
                    retry_after=self._expiry[0][0] - now,
                )
            self._seen[key] = until
            heapq.heappush(self._expiry, (until, key))
            return True

    def _forget(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            until, key = heapq.heappop(self._expiry)
            if self._seen.get(key) == until:
                del self._seen[key]


class CdsJwtVerifier:
    def __init__(
        self,
        issuers: Iterable[CdsIssuer],
        *,
        leeway: float = DEFAULT_LEEWAY,
        max_lifetime: float = DEFAULT_MAX_LIFETIME,
        jwks: JwksCache | None = None,
        replay: ReplayStore | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.issuers = {i.iss: i for i in issuers}
        self.leeway = leeway
        self.max_lifetime = max_lifetime
        self.jwks = jwks or JwksCache()
        self.replay: ReplayStore = (
            replay if replay is not None else ReplayCache.for_lifetime(max_lifetime, leeway)
        )
        self.now = now

    def verify(self, authorization: str | None, *, audience: str) -> VerifiedClient:
        token = bearer_token(authorization)
        header = _header(token)
        alg, kid = header["alg"], header["kid"]
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise reject("the payload is not valid JSON claims") from None
        iss = unverified.get("iss")
        issuer = self.issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise reject("the issuer (iss) is not trusted")
        jku = header.get("jku")
        if jku is not None:
            # compared as a parsed URL; the configured URL is the one fetched
            jku = allowed_entry(jku, issuer.jwks_urls, prefix=False)
            if jku is None:
                raise reject("the jku header is not an allowed JWKS URL of this issuer")
        key = self._key(issuer, kid, alg, jku)
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=audience,
                issuer=issuer.iss,
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["iss", "aud", "exp", "iat", "jti"],
                },
            )
        except jwt.MissingRequiredClaimError as exc:
            raise reject(f"the {exc.claim} claim is missing") from None
        except jwt.InvalidAudienceError:
            raise reject(f"aud is not this endpoint ({audience})") from None
        except jwt.InvalidSignatureError:
            raise reject("the signature does not verify") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise reject("the token does not verify") from None
        return self._check_claims(claims, issuer.iss, kid)

    def _check_claims(self, claims: dict[str, Any], iss: str, kid: str) -> VerifiedClient:
        now = self.now().timestamp()
        exp, iat = _seconds(claims.get("exp")), _seconds(claims.get("iat"))
        nbf = _seconds(claims.get("nbf"))
        if exp is None or iat is None or (nbf is None and claims.get("nbf") is not None):
            raise reject("exp, iat and nbf must be numbers (seconds since the epoch)")
        if exp <= now - self.leeway:
            raise reject("the token has expired (exp)")
        if iat > now + self.leeway:
            raise reject("the token was issued in the future (iat)")
        if nbf is not None and nbf > now + self.leeway:
            raise reject("the token is not valid yet (nbf)")
        if exp - iat > self.max_lifetime + self.leeway:
            raise reject(
                f"the token's lifetime (exp - iat) is over the limit of {self.max_lifetime:g} s"
            )
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise reject("the jti claim must be a non-empty string")
        if not self.replay.first_use(iss, jti, exp + self.leeway, now):
            raise reject("the jti was already used (replay)")
        tenant = claims.get("tenant")
        return VerifiedClient(
            iss=iss,
            kid=kid,
            jti=jti,
            exp=exp,
            tenant=tenant if isinstance(tenant, str) else None,
        )

    def _key(self, issuer: CdsIssuer, kid: str, alg: str, jku: str | None) -> Any:
        # The configured keys answer first, also for an allowed jku (checked by the caller):
        # they are the same trusted issuer's keys, held offline.
        urls = (jku,) if jku is not None else issuer.jwks_urls
        jwk = _find(issuer.inline_keys(), kid)
        for url in urls if jwk is None else ():
            jwk = _find(self.jwks.keys(url), kid) or _find(self.jwks.keys(url, refresh=True), kid)
            if jwk is not None:
                break
        if jwk is None:
            raise reject("no key of the issuer has this kid")
        family = _KTY[alg[:2]]
        if jwk.get("kty") != family or jwk.get("alg", alg) != alg:
            raise reject(f"the key {kid!r} is not a {family} key for {alg}")
        if alg in _CURVE and jwk.get("crv") != _CURVE[alg]:
            raise reject(f"the key {kid!r} is not on curve {_CURVE[alg]}")
        try:
            return jwt.PyJWK(jwk, algorithm=alg).key
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            raise reject(f"the key {kid!r} cannot be read") from None


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise reject("no Authorization: Bearer header")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise reject("the Authorization header is not 'Bearer <JWT>'")
    if len(token) > MAX_TOKEN_CHARS:
        raise reject("the token is too long")
    return token


def _header(token: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise reject("not a JWT") from None
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS:
        shown = alg[:16] if isinstance(alg, str) else type(alg).__name__
        raise reject(f"alg {shown!r} is not allowed (use {', '.join(ALLOWED_ALGORITHMS)})")
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.upper() != "JWT":
        raise reject("the typ header must be JWT")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise reject("the kid header is missing")
    jku = header.get("jku")
    if jku is not None and not isinstance(jku, str):
        raise reject("the jku header must be a URL")
    return header


def _find(keys: Iterable[dict[str, Any]], kid: str) -> dict[str, Any] | None:
    return next((k for k in keys if k.get("kid") == kid and k.get("use", "sig") == "sig"), None)


def _seconds(value: Any) -> float | None:
    """A NumericDate claim as a float; None when absent or not a number."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
