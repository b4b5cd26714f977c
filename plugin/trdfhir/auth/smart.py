"""SMART App Launch 2.2 for a user-facing app: EHR launch and standalone launch, PKCE S256.

    config = discover(iss)                                  # {iss}/.well-known/smart-configuration
    pending = PendingLaunch.new(iss=iss, config=config, client=client, launch=launch)
    store.put(pending)                                       # server-side, keyed by `state`
    redirect(pending.authorize_url(client))                  # -> the EHR's authorize endpoint
    ...
    pending = store.take(state)                              # single use, with an expiry
    tokens = exchange_code(pending, code, client)            # -> TokenSet (patient, scopes, ...)
    tokens = refresh(tokens, config, client)                 # when it expires

Launch state lives on the server, keyed by `state`; the browser that started the launch holds a
binding cookie the callback must return (a partitioned cookie, so it survives in an EHR's
iframe). Pending launches are bounded overall and per client address; a full store refuses new
launches (BusyError, 503; ThrottledError, 429 for one address) and never drops a live one.
Granted scopes are read in v2 syntax and in v1 syntax (`patient/Observation.write` means c, u
and d). Tokens are never logged, never put in URLs, and never shown by `repr`.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import urlencode, urljoin, urlsplit

import requests

from ..client.http import DEFAULT_TIMEOUT, Timeout
from ..errors import AuthError, BusyError, ThrottledError
from ..urls import is_loopback, parse_url

log = logging.getLogger("trdfhir.auth")

# What the app reads, and what its write-back creates (smart-cdshooks.md §0). The draft CarePlan
# is written with a conditional update on its identifier, hence `u` on CarePlan.
READ_TYPES = (
    "Patient",
    "Condition",
    "MedicationStatement",
    "MedicationRequest",
    "MedicationDispense",
    "MedicationAdministration",
    "Procedure",
    "Observation",
    "QuestionnaireResponse",
)
WRITE_SCOPES = (
    "patient/Observation.c",
    "patient/CarePlan.cu",
    "patient/Provenance.c",
    "patient/Flag.c",
)
DEFAULT_SCOPE = " ".join(
    ["launch", "openid", "fhirUser", *(f"patient/{t}.rs" for t in READ_TYPES), *WRITE_SCOPES]
)
STANDALONE_SCOPE = "launch/patient"
# What the write-back button needs: create on these types (the rest is reported, not required).
WRITE_NEEDS: tuple[tuple[str, str], ...] = (("Observation", "c"), ("CarePlan", "c"))

STATE_BYTES = 32  # 256 bits; the spec asks for at least 122
VERIFIER_BYTES = 64  # 86 characters of base64url; RFC 7636 allows 43-128
DEFAULT_LAUNCH_TTL = 600.0  # seconds a launch may take from /launch to /callback
USED_MEMORY = 3600.0  # seconds a used state is remembered, to say "already used"
REFRESH_MARGIN = 30.0  # refresh this many seconds before the access token expires
DEFAULT_MAX_PENDING = 10_000  # pending launches, overall
DEFAULT_MAX_PENDING_PER_CLIENT = 50  # pending launches of one client address (a NAT: many users)


# -- discovery -------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class SmartConfiguration:
    """The parts of `.well-known/smart-configuration` the app uses, URLs made absolute."""

    iss: str
    authorization_endpoint: str
    token_endpoint: str
    capabilities: tuple[str, ...] = ()
    scopes_supported: tuple[str, ...] = ()
    code_challenge_methods: tuple[str, ...] = ()
    token_auth_methods: tuple[str, ...] = ()

    @property
    def v1_only(self) -> bool:
        """The server says it knows v1 scopes and does not say it knows v2."""
        caps = set(self.capabilities)
        return "permission-v1" in caps and "permission-v2" not in caps


def well_known_url(iss: str) -> str:
    """`.well-known` is appended to the FHIR base even when the base has a path."""
    return iss.rstrip("/") + "/.well-known/smart-configuration"


def checked_url(url: str, what: str) -> str:
    """An absolute http(s) URL; plain http only on the loopback interface."""
    parts = parse_url(url)
    if parts is None:
        raise AuthError(f"the {what} is not an absolute http(s) URL")
    if parts.scheme == "http" and not is_loopback(url):
        raise AuthError(f"the {what} must use https (plain http only on 127.0.0.1/localhost)")
    return url


def parse_configuration(iss: str, document: Any) -> SmartConfiguration:
    """Read a smart-configuration document; endpoint URLs may be relative to the FHIR base."""
    if not isinstance(document, dict):
        raise AuthError("the SMART configuration is not a JSON object")
    base = iss.rstrip("/") + "/"

    def endpoint(name: str) -> str:
        value = document.get(name)
        if not isinstance(value, str) or not value.strip():
            raise AuthError(f"the SMART configuration has no {name}")
        return checked_url(urljoin(base, value.strip()), name)

    def strings(name: str) -> tuple[str, ...]:
        value = document.get(name)
        return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()

    methods = strings("code_challenge_methods_supported")
    if "S256" not in methods:
        raise AuthError(
            "the authorization server does not offer PKCE S256 "
            "(code_challenge_methods_supported lacks S256); refusing to launch"
        )
    return SmartConfiguration(
        iss=iss.rstrip("/"),
        authorization_endpoint=endpoint("authorization_endpoint"),
        token_endpoint=endpoint("token_endpoint"),
        capabilities=strings("capabilities"),
        scopes_supported=strings("scopes_supported"),
        code_challenge_methods=methods,
        token_auth_methods=strings("token_endpoint_auth_methods_supported"),
    )


def discover(
    iss: str,
    *,
    session: requests.Session | None = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> SmartConfiguration:
    """GET `{iss}/.well-known/smart-configuration` and read it."""
    iss = checked_url(iss.strip().rstrip("/"), "FHIR server (iss)")
    http = session or requests.Session()
    try:
        with http.get(
            well_known_url(iss),
            headers={"Accept": "application/json"},
            timeout=timeout,
            allow_redirects=False,  # the configuration is served at the issuer itself
        ) as response:
            if response.status_code != 200:
                raise AuthError(
                    f"SMART discovery failed: {well_known_url(iss)} answered "
                    f"HTTP {response.status_code}"
                )
            try:
                document = response.json()
            except ValueError:
                raise AuthError("SMART discovery failed: the answer is not JSON") from None
    except requests.RequestException as exc:
        raise AuthError(
            f"SMART discovery failed: cannot reach the FHIR server ({type(exc).__name__})"
        ) from None
    finally:
        if session is None:
            http.close()
    return parse_configuration(iss, document)


# -- PKCE and state --------------------------------------------------------------------------------
def new_state() -> str:
    return secrets.token_urlsafe(STATE_BYTES)


def code_verifier() -> str:
    return secrets.token_urlsafe(VERIFIER_BYTES)


def code_challenge(verifier: str) -> str:
    """S256: base64url(sha256(verifier)) without padding (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


# -- scopes ----------------------------------------------------------------------------------------
_V2 = re.compile(r"(patient|user|system)/(\*|[A-Z][A-Za-z]*)\.([cruds]+)(\?\S*)?")
_V2_ORDER = re.compile(r"c?r?u?d?s?")
_V1 = re.compile(r"(patient|user|system)/(\*|[A-Z][A-Za-z]*)\.(read|write|\*)")
_V1_PERMS = {"read": "rs", "write": "cud", "*": "cruds"}


@dataclass(frozen=True)
class ResourceScope:
    """One resource scope: `patient/Observation.rs`, or v1 `patient/Observation.read`."""

    context: str  # patient, user, system
    resource: str  # a type, or "*"
    permissions: frozenset[str]  # of c r u d s
    query: str | None  # granular restriction (v2 `?category=...`)
    text: str
    v1: bool

    def covers(self, rtype: str, permission: str) -> bool:
        return self.resource in ("*", rtype) and permission in self.permissions


def parse_scope(text: str) -> ResourceScope | None:
    """A resource scope in v2 or v1 syntax; None for other scopes (launch, openid, ...) and for
    malformed ones (a v2 suffix that is not an in-order subset of `cruds`)."""
    match = _V2.fullmatch(text)
    if match:
        perms = match.group(3)
        if not _V2_ORDER.fullmatch(perms):
            return None
        query = match.group(4)[1:] if match.group(4) else None
        return ResourceScope(
            match.group(1), match.group(2), frozenset(perms), query or None, text, False
        )
    match = _V1.fullmatch(text)
    if match:
        perms = _V1_PERMS[match.group(3)]
        return ResourceScope(match.group(1), match.group(2), frozenset(perms), None, text, True)
    return None


@dataclass(frozen=True)
class GrantedScopes:
    """The scopes a token carries, v1 or v2, with questions the app asks of them."""

    scopes: tuple[str, ...]
    resources: tuple[ResourceScope, ...]

    @classmethod
    def parse(cls, text: str | Iterable[str] | None) -> GrantedScopes:
        items = text.split() if isinstance(text, str) else list(text or ())
        unique = tuple(dict.fromkeys(s for s in items if s))
        parsed = tuple(p for p in (parse_scope(s) for s in unique) if p is not None)
        return cls(scopes=unique, resources=parsed)

    def __str__(self) -> str:
        return " ".join(self.scopes)

    def allows(
        self,
        rtype: str,
        permission: str,
        *,
        contexts: tuple[str, ...] = ("patient", "user"),
        unrestricted: bool = True,
    ) -> bool:
        """Some scope grants `permission` (one of c r u d s) on `rtype` in these contexts;
        `unrestricted`: a granular scope (`?category=...`) does not count."""
        return any(
            s.covers(rtype, permission)
            and s.context in contexts
            and not (unrestricted and s.query is not None)
            for s in self.resources
        )

    def missing(self, needs: Iterable[tuple[str, str]]) -> list[str]:
        """The needs (type, permission) no scope grants, as v2 scope strings."""
        return [f"patient/{t}.{p}" for t, p in needs if not self.allows(t, p)]

    @property
    def syntax(self) -> str:
        """ "v1", "v2", "mixed" or "none": the syntax of the resource scopes."""
        kinds = {s.v1 for s in self.resources}
        if not kinds:
            return "none"
        if kinds == {True}:
            return "v1"
        return "v2" if kinds == {False} else "mixed"

    def has(self, scope: str) -> bool:
        return scope in self.scopes


def to_v1(scope: str) -> str:
    """A v2 request scope in v1 syntax, for servers that only know v1 (`.rs` -> `.read`)."""
    parsed = parse_scope(scope)
    if parsed is None or parsed.v1:
        return scope
    perms = parsed.permissions
    head = f"{parsed.context}/{parsed.resource}"
    if perms & {"c", "u", "d"}:
        return f"{head}.write" if not perms & {"r", "s"} else f"{head}.*"
    return f"{head}.read"


def request_scope(scope: str, *, standalone: bool, config: SmartConfiguration) -> str:
    """The scope to request: EHR launch keeps `launch`; standalone asks `launch/patient`
    instead; v1 syntax when the server only speaks v1."""
    items = scope.split()
    if standalone:
        items = [s for s in items if s != "launch"]
        if STANDALONE_SCOPE not in items:
            items.insert(0, STANDALONE_SCOPE)
    elif "launch" not in items:
        items.insert(0, "launch")
    if config.v1_only:
        items = [to_v1(s) for s in items]
    return " ".join(dict.fromkeys(items))


# -- the client ------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class SmartClient:
    """The app's registration: public (no secret) or confidential (client_secret_basic)."""

    client_id: str
    redirect_uri: str
    client_secret: str | None = field(default=None, repr=False)
    timeout: Timeout = DEFAULT_TIMEOUT

    @property
    def confidential(self) -> bool:
        return bool(self.client_secret)


# -- pending launches (server-side state) ----------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class PendingLaunch:
    state: str
    iss: str
    config: SmartConfiguration
    launch: str | None  # the EHR's launch parameter; None for standalone launch
    scope: str
    verifier: str = field(repr=False)
    created: float
    expires: float
    extra: Mapping[str, str] = field(default_factory=dict)  # e.g. the as-of date asked for
    binding: str | None = field(default=None, repr=False)  # browser-binding cookie value

    @classmethod
    def new(
        cls,
        *,
        iss: str,
        config: SmartConfiguration,
        launch: str | None,
        scope: str,
        ttl: float = DEFAULT_LAUNCH_TTL,
        extra: Mapping[str, str] | None = None,
        now: float | None = None,
    ) -> PendingLaunch:
        created = time.time() if now is None else now
        return cls(
            state=new_state(),
            iss=iss.rstrip("/"),
            config=config,
            launch=launch,
            scope=request_scope(scope, standalone=launch is None, config=config),
            verifier=code_verifier(),
            created=created,
            expires=created + ttl,
            extra=dict(extra or {}),
            binding=secrets.token_urlsafe(16),
        )

    @property
    def standalone(self) -> bool:
        return self.launch is None

    def authorize_params(self, client: SmartClient) -> dict[str, str]:
        params = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": client.redirect_uri,
            "scope": self.scope,
            "state": self.state,
            "aud": self.iss,
            "code_challenge": code_challenge(self.verifier),
            "code_challenge_method": "S256",
        }
        if self.launch is not None:
            params["launch"] = self.launch
        return params

    def authorize_url(self, client: SmartClient) -> str:
        endpoint = self.config.authorization_endpoint
        sep = "&" if urlsplit(endpoint).query else "?"
        return endpoint + sep + urlencode(self.authorize_params(client))


class StateError(AuthError):
    """An unknown, expired or reused `state` at the callback."""

    http_status = 400

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason  # unknown, expired, used


class PendingLaunches(Protocol):
    """Where pending launches wait for their callback. One process keeps them in memory
    (LaunchStore); several workers would share one store behind this interface."""

    def put(self, pending: PendingLaunch, *, client: str = "") -> None:
        """Keep `pending` for `client` (an address); BusyError/ThrottledError when full."""
        ...

    def take(self, state: str | None) -> PendingLaunch:
        """The launch of this state, removed; StateError if unknown, expired or used."""
        ...


class LaunchStore:
    """Pending launches by `state`: single use, with an expiry. Thread-safe, in memory (one
    process). Bounded overall (`limit`) and per client address (`per_client`): a store full of
    live launches refuses the new one (BusyError, HTTP 503; ThrottledError, 429, for an address
    over its share) and never evicts a live launch, so a flood cannot lock a user out of the
    sign-in they started. Expired launches make room."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        limit: int = DEFAULT_MAX_PENDING,
        per_client: int = DEFAULT_MAX_PENDING_PER_CLIENT,
    ) -> None:
        self._pending: dict[str, tuple[PendingLaunch, str]] = {}
        self._used: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self._limit = limit
        self._per_client = per_client

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def put(self, pending: PendingLaunch, *, client: str = "") -> None:
        with self._lock:
            self._sweep()
            now = self._clock()
            if len(self._pending) >= self._limit:  # expired launches make room first
                for key in [k for k, (p, _) in self._pending.items() if p.expires < now]:
                    del self._pending[key]
            mine = [p.expires for p, c in self._pending.values() if c == client]
            if client and len(mine) >= self._per_client:
                raise ThrottledError(
                    "too many launches are waiting for their sign-in from this address; "
                    "finish one or wait for it to expire",
                    retry_after=min(mine) - now,
                )
            if len(self._pending) >= self._limit:
                raise BusyError(
                    "the app is busy: too many sign-ins are in progress; try again shortly",
                    retry_after=min(p.expires for p, _ in self._pending.values()) - now,
                )
            self._pending[pending.state] = (pending, client)

    def take(self, state: str | None) -> PendingLaunch:
        """The launch of this state, removed so it cannot be used again; StateError if the state
        is unknown, expired or already used."""
        if not state:
            raise StateError("the authorization response has no state", reason="unknown")
        with self._lock:
            self._sweep()
            found = self._pending.pop(state, None)
            if found is None:
                if state in self._used:
                    raise StateError("this authorization response was already used", reason="used")
                raise StateError("unknown state: this launch is not ours", reason="unknown")
            pending = found[0]
            self._used[state] = self._clock() + USED_MEMORY
            if pending.expires < self._clock():
                raise StateError("the launch expired; launch the app again", reason="expired")
            return pending

    def _sweep(self) -> None:
        now = self._clock()
        for key in [k for k, (p, _) in self._pending.items() if p.expires < now - USED_MEMORY]:
            del self._pending[key]
        for key in [k for k, until in self._used.items() if until < now]:
            del self._used[key]


# -- tokens ----------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class TokenSet:
    """A token response: the tokens (hidden from repr) and the launch context."""

    access_token: str = field(repr=False)
    token_type: str
    expires_at: float | None
    scopes: GrantedScopes
    refresh_token: str | None = field(default=None, repr=False)
    id_token: str | None = field(default=None, repr=False)
    patient: str | None = None
    encounter: str | None = None
    need_patient_banner: bool | None = None
    context: Mapping[str, Any] = field(default_factory=dict)  # other context parameters
    issued_at: float | None = None

    def expired(self, now: float | None = None, margin: float = REFRESH_MARGIN) -> bool:
        """At or past expiry, less a margin (at most a quarter of the token's lifetime)."""
        if self.expires_at is None:
            return False
        if self.issued_at is not None:
            margin = min(margin, (self.expires_at - self.issued_at) / 4)
        return (time.time() if now is None else now) >= self.expires_at - margin

    @property
    def authorization(self) -> str:
        return f"Bearer {self.access_token}"


CONTEXT_KEYS = ("fhirContext", "intent", "smart_style_url", "tenant", "fhirUser")


def parse_token_response(body: Any, *, requested_scope: str, now: float | None = None) -> TokenSet:
    """Read a token response (RFC 6749 §5.1 + SMART context). A missing `scope` means the
    requested one was granted."""
    if not isinstance(body, dict):
        raise AuthError("the token response is not a JSON object")
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise AuthError("the token response has no access_token")
    kind = body.get("token_type")
    if not isinstance(kind, str) or kind.lower() != "bearer":
        raise AuthError(f"the token response's token_type is not Bearer ({kind!r})")
    issued = time.time() if now is None else now
    expires_in = body.get("expires_in")
    expires_at = None
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
        expires_at = issued + float(expires_in)
    scope = body.get("scope")
    patient = body.get("patient")
    encounter = body.get("encounter")
    banner = body.get("need_patient_banner")
    refresh_token = body.get("refresh_token")
    id_token = body.get("id_token")
    return TokenSet(
        access_token=token,
        token_type="Bearer",  # noqa: S106 - the token type, not a secret
        expires_at=expires_at,
        scopes=GrantedScopes.parse(scope if isinstance(scope, str) else requested_scope),
        refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else None,
        id_token=id_token if isinstance(id_token, str) else None,
        patient=patient if isinstance(patient, str) and patient else None,
        encounter=encounter if isinstance(encounter, str) and encounter else None,
        need_patient_banner=banner if isinstance(banner, bool) else None,
        context={k: body[k] for k in CONTEXT_KEYS if k in body},
        issued_at=issued,
    )


def _token_request(
    config: SmartConfiguration,
    client: SmartClient,
    form: dict[str, str],
    *,
    session: requests.Session | None,
    what: str,
) -> dict[str, Any]:
    auth: tuple[str, str] | None = None
    if client.confidential:
        auth = (client.client_id, client.client_secret or "")  # client_secret_basic
    else:
        form = {**form, "client_id": client.client_id}
    http = session or requests.Session()
    try:
        with http.post(
            config.token_endpoint,
            data=form,
            auth=auth,
            headers={"Accept": "application/json"},
            timeout=client.timeout,
            allow_redirects=False,
        ) as response:
            try:
                body = response.json()
            except ValueError:
                body = None
            if response.status_code != 200:
                error = body.get("error") if isinstance(body, dict) else None
                desc = body.get("error_description") if isinstance(body, dict) else None
                said = f": {error}" if isinstance(error, str) else ""
                said += f" ({desc[:200]})" if isinstance(desc, str) else ""
                raise AuthError(
                    f"{what} failed: the token endpoint answered HTTP {response.status_code}{said}"
                )
            if not isinstance(body, dict):
                raise AuthError(f"{what} failed: the token response is not JSON")
            return body
    except requests.RequestException as exc:
        raise AuthError(
            f"{what} failed: cannot reach the token endpoint ({type(exc).__name__})"
        ) from None
    finally:
        if session is None:
            http.close()


def exchange_code(
    pending: PendingLaunch,
    code: str,
    client: SmartClient,
    *,
    session: requests.Session | None = None,
    now: float | None = None,
) -> TokenSet:
    """The authorization code -> tokens (with the PKCE verifier)."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": client.redirect_uri,
        "code_verifier": pending.verifier,
    }
    body = _token_request(
        pending.config, client, form, session=session, what="exchanging the authorization code"
    )
    tokens = parse_token_response(body, requested_scope=pending.scope, now=now)
    log.info(
        "SMART %s launch: token received (%s scopes, %s syntax, refresh %s)",
        "standalone" if pending.standalone else "EHR",
        len(tokens.scopes.scopes),
        tokens.scopes.syntax,
        "yes" if tokens.refresh_token else "no",
    )
    return tokens


def refresh(
    tokens: TokenSet,
    config: SmartConfiguration,
    client: SmartClient,
    *,
    session: requests.Session | None = None,
    now: float | None = None,
) -> TokenSet:
    """A new access token from the refresh token; the launch context is kept, a rotated refresh
    token replaces the old one."""
    if not tokens.refresh_token:
        raise AuthError("the access token expired and no refresh token was granted; launch again")
    form = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token}
    body = _token_request(config, client, form, session=session, what="refreshing the token")
    fresh = parse_token_response(body, requested_scope=str(tokens.scopes), now=now)
    log.info("SMART token refreshed")
    return replace(
        fresh,
        refresh_token=fresh.refresh_token or tokens.refresh_token,
        patient=fresh.patient or tokens.patient,
        encounter=fresh.encounter or tokens.encounter,
        need_patient_banner=(
            fresh.need_patient_banner
            if fresh.need_patient_banner is not None
            else tokens.need_patient_banner
        ),
        context={**tokens.context, **fresh.context},
        id_token=fresh.id_token or tokens.id_token,
    )


class TokenHolder:
    """The current tokens of one app session, refreshed when they expire; an `Auth` for the
    FHIR client (authorization() refreshes ahead of expiry, renew() after a 401)."""

    def __init__(
        self,
        tokens: TokenSet,
        config: SmartConfiguration,
        client: SmartClient,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        on_refresh: Callable[[TokenSet], None] | None = None,
    ) -> None:
        self._tokens = tokens
        self._config = config
        self._client = client
        self._session = session
        self._clock = clock
        self._lock = threading.Lock()
        self._on_refresh = on_refresh  # e.g. a store shared by worker processes keeps them
        self.refreshes = 0

    @property
    def config(self) -> SmartConfiguration:
        return self._config

    @property
    def client(self) -> SmartClient:
        return self._client

    def __repr__(self) -> str:
        return "TokenHolder(***)"

    @property
    def tokens(self) -> TokenSet:
        with self._lock:
            return self._tokens

    def current(self) -> TokenSet:
        """The tokens, refreshed first when the access token has expired (and can be)."""
        with self._lock:
            if self._tokens.expired(self._clock()) and self._tokens.refresh_token:
                self._refresh_locked()
            return self._tokens

    def _refresh_locked(self) -> None:
        self._tokens = refresh(
            self._tokens, self._config, self._client, session=self._session, now=self._clock()
        )
        self.refreshes += 1
        if self._on_refresh is not None:
            self._on_refresh(self._tokens)

    # Auth protocol (trdfhir.auth.base.Auth)
    def authorization(self) -> str | None:
        return self.current().authorization

    def renew(self) -> bool:
        with self._lock:
            if not self._tokens.refresh_token:
                return False
            try:
                self._refresh_locked()
            except AuthError as exc:
                log.warning("%s", exc.one_line())
                return False
            return True
