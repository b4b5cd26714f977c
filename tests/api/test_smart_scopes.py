"""SMART client pieces without HTTP: scopes (v2 and v1), PKCE, discovery documents, launch
state, token responses."""

from __future__ import annotations

import pytest

from trdfhir.auth.smart import (
    DEFAULT_SCOPE,
    STANDALONE_SCOPE,
    WRITE_NEEDS,
    GrantedScopes,
    LaunchStore,
    PendingLaunch,
    SmartClient,
    SmartConfiguration,
    StateError,
    TokenHolder,
    code_challenge,
    code_verifier,
    new_state,
    parse_configuration,
    parse_scope,
    parse_token_response,
    refresh,
    request_scope,
    to_v1,
)
from trdfhir.errors import AuthError

ISS = "https://ehr.example.org/fhir/r4"


def config(**kw: object) -> SmartConfiguration:
    values: dict[str, object] = {
        "iss": ISS,
        "authorization_endpoint": "https://ehr.example.org/auth/authorize",
        "token_endpoint": "https://ehr.example.org/auth/token",
        "capabilities": ("launch-ehr", "permission-v2"),
        "code_challenge_methods": ("S256",),
    }
    values.update(kw)
    return SmartConfiguration(**values)  # type: ignore[arg-type]


# -- scopes ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "context", "resource", "perms", "v1"),
    [
        ("patient/Observation.rs", "patient", "Observation", "rs", False),
        ("patient/Observation.c", "patient", "Observation", "c", False),
        ("user/*.cruds", "user", "*", "cruds", False),
        ("patient/Observation.read", "patient", "Observation", "rs", True),
        ("patient/Observation.write", "patient", "Observation", "cud", True),
        ("patient/*.*", "patient", "*", "cruds", True),
        ("system/CarePlan.cu", "system", "CarePlan", "cu", False),
    ],
)
def test_parse_scope_v2_and_v1(
    text: str, context: str, resource: str, perms: str, v1: bool
) -> None:
    scope = parse_scope(text)
    assert scope is not None
    assert (scope.context, scope.resource, scope.permissions, scope.v1) == (
        context,
        resource,
        frozenset(perms),
        v1,
    )


@pytest.mark.parametrize(
    "text",
    ["launch", "openid", "fhirUser", "launch/patient", "patient/Observation.sr", "patient/Obs.x"],
)
def test_non_resource_and_malformed_scopes_are_not_resource_scopes(text: str) -> None:
    # `.sr` is not an in-order subset of `cruds`: undefined in v2, so not honoured
    assert parse_scope(text) is None


def test_granular_scope_keeps_its_query_and_does_not_count_as_unrestricted() -> None:
    granted = GrantedScopes.parse(
        "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/"
        "observation-category|laboratory"
    )
    assert granted.resources[0].query is not None
    assert not granted.allows("Observation", "r")
    assert granted.allows("Observation", "r", unrestricted=False)


def test_v1_write_means_create() -> None:
    granted = GrantedScopes.parse("launch patient/Observation.write patient/CarePlan.write")
    assert granted.allows("Observation", "c")
    assert granted.allows("CarePlan", "u")
    assert not granted.allows("Observation", "r")
    assert granted.missing(WRITE_NEEDS) == []
    assert granted.syntax == "v1"


def test_v2_create_and_wildcards() -> None:
    granted = GrantedScopes.parse("patient/*.rs patient/Observation.c patient/CarePlan.cu")
    assert granted.allows("MedicationRequest", "s")
    assert granted.missing(WRITE_NEEDS) == []
    assert granted.syntax == "v2"
    read_only = GrantedScopes.parse("patient/*.rs")
    assert read_only.missing(WRITE_NEEDS) == ["patient/Observation.c", "patient/CarePlan.c"]


def test_system_scopes_do_not_grant_a_user_app() -> None:
    granted = GrantedScopes.parse("system/Observation.c system/CarePlan.c")
    assert granted.missing(WRITE_NEEDS) == ["patient/Observation.c", "patient/CarePlan.c"]


def test_default_scope_reads_the_record_and_creates_the_write_back() -> None:
    granted = GrantedScopes.parse(DEFAULT_SCOPE)
    reads = ("Patient", "Condition", "MedicationStatement", "MedicationRequest")
    reads += ("MedicationDispense", "Procedure", "Observation", "QuestionnaireResponse")
    for rtype in reads:
        assert granted.allows(rtype, "r") and granted.allows(rtype, "s"), rtype
    for rtype in ("Observation", "CarePlan", "Provenance", "Flag"):
        assert granted.allows(rtype, "c"), rtype
    assert {"launch", "openid", "fhirUser"} <= set(granted.scopes)


def test_request_scope_ehr_standalone_and_v1() -> None:
    ehr = request_scope(DEFAULT_SCOPE, standalone=False, config=config()).split()
    assert "launch" in ehr and STANDALONE_SCOPE not in ehr
    alone = request_scope(DEFAULT_SCOPE, standalone=True, config=config()).split()
    assert STANDALONE_SCOPE in alone and "launch" not in alone
    v1 = request_scope(
        DEFAULT_SCOPE, standalone=False, config=config(capabilities=("permission-v1",))
    ).split()
    assert "patient/Observation.read" in v1 and "patient/Observation.write" in v1
    assert not [s for s in v1 if s.endswith((".rs", ".c", ".cu"))]


def test_to_v1() -> None:
    assert to_v1("patient/Observation.rs") == "patient/Observation.read"
    assert to_v1("patient/CarePlan.cu") == "patient/CarePlan.write"
    assert to_v1("patient/Observation.cruds") == "patient/Observation.*"
    assert to_v1("launch") == "launch"


# -- PKCE and state -------------------------------------------------------------------------------
def test_pkce_s256_matches_rfc7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_verifier_and_state_are_long_and_random() -> None:
    verifiers = {code_verifier() for _ in range(50)}
    states = {new_state() for _ in range(50)}
    assert len(verifiers) == len(states) == 50
    assert all(43 <= len(v) <= 128 for v in verifiers)
    assert all(len(s) >= 43 for s in states)  # 256 bits of base64url: >= 128 bits required


def test_authorize_url_carries_every_parameter() -> None:
    client = SmartClient(client_id="app", redirect_uri="https://app.example/cb")
    pending = PendingLaunch.new(iss=ISS, config=config(), launch="xyz", scope=DEFAULT_SCOPE)
    params = pending.authorize_params(client)
    assert params["response_type"] == "code"
    assert params["aud"] == ISS
    assert params["launch"] == "xyz"
    assert params["code_challenge_method"] == "S256"
    assert params["code_challenge"] == code_challenge(pending.verifier)
    assert pending.verifier not in repr(pending)


# -- discovery ------------------------------------------------------------------------------------
def test_configuration_resolves_relative_endpoints_against_the_base() -> None:
    parsed = parse_configuration(
        ISS,
        {
            "authorization_endpoint": "../../auth/authorize",
            "token_endpoint": "token",
            "code_challenge_methods_supported": ["S256"],
            "capabilities": ["launch-ehr"],
        },
    )
    assert parsed.authorization_endpoint == "https://ehr.example.org/auth/authorize"
    assert parsed.token_endpoint == ISS + "/token"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"authorization_endpoint": "a", "token_endpoint": "t"}, "S256"),
        (
            {
                "authorization_endpoint": "a",
                "token_endpoint": "t",
                "code_challenge_methods_supported": ["plain"],
            },
            "S256",
        ),
        ({"token_endpoint": "t", "code_challenge_methods_supported": ["S256"]}, "authorization"),
        (
            {
                "authorization_endpoint": "http://evil.example/authorize",
                "token_endpoint": "t",
                "code_challenge_methods_supported": ["S256"],
            },
            "https",
        ),
        ([], "not a JSON object"),
    ],
)
def test_configuration_errors(document: object, message: str) -> None:
    with pytest.raises(AuthError, match=message):
        parse_configuration(ISS, document)


# -- launch state ---------------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_state_is_single_use_and_expires() -> None:
    clock = Clock()
    store = LaunchStore(clock=clock)
    first = PendingLaunch.new(iss=ISS, config=config(), launch="l", scope="launch", now=1000.0)
    store.put(first)
    assert store.take(first.state) is first
    with pytest.raises(StateError) as used:
        store.take(first.state)
    assert used.value.reason == "used"
    late = PendingLaunch.new(
        iss=ISS, config=config(), launch="l", scope="launch", ttl=60, now=1000.0
    )
    store.put(late)
    clock.now = 1061.0
    with pytest.raises(StateError) as expired:
        store.take(late.state)
    assert expired.value.reason == "expired"
    for bad in ("", None, "not-a-state"):
        with pytest.raises(StateError) as unknown:
            store.take(bad)
        assert unknown.value.reason == "unknown"


# -- token responses ------------------------------------------------------------------------------
def test_token_response_context_and_defaults() -> None:
    tokens = parse_token_response(
        {
            "access_token": "secret-access",
            "token_type": "bearer",
            "expires_in": 300,
            "patient": "123",
            "refresh_token": "secret-refresh",
            "need_patient_banner": False,
            "fhirContext": [{"reference": "Encounter/1"}],
        },
        requested_scope="launch patient/Observation.rs",
        now=0.0,
    )
    assert tokens.patient == "123"
    assert tokens.expires_at == 300.0
    assert tokens.scopes.has("patient/Observation.rs")  # no `scope`: the requested one
    assert tokens.need_patient_banner is False
    assert tokens.context["fhirContext"] == [{"reference": "Encounter/1"}]
    assert "secret" not in repr(tokens)
    assert tokens.expired(now=271.0) and not tokens.expired(now=200.0)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"token_type": "Bearer"}, "access_token"),
        ({"access_token": "x", "token_type": "mac"}, "Bearer"),
        ("nope", "JSON object"),
    ],
)
def test_token_response_errors(body: object, message: str) -> None:
    with pytest.raises(AuthError, match=message):
        parse_token_response(body, requested_scope="launch")


def test_short_lived_tokens_are_not_refreshed_on_every_call() -> None:
    tokens = parse_token_response(
        {"access_token": "a", "token_type": "Bearer", "expires_in": 20},
        requested_scope="launch",
        now=0.0,
    )
    assert not tokens.expired(now=10.0)  # margin: a quarter of 20 s, not 30 s
    assert tokens.expired(now=15.0)


# -- refresh --------------------------------------------------------------------------------------
class FakeResponse:
    def __init__(self, status: int, body: object) -> None:
        self.status_code = status
        self._body = body

    def json(self) -> object:
        return self._body

    def __enter__(self) -> FakeResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class FakeTokenEndpoint:
    """Stands in for requests.Session at the token endpoint; rotates refresh tokens."""

    def __init__(self) -> None:
        self.forms: list[dict[str, str]] = []
        self.auth: list[object] = []

    def post(self, url: str, *, data: dict[str, str], auth: object, **_: object) -> FakeResponse:
        self.forms.append(data)
        self.auth.append(auth)
        n = len(self.forms)
        if data.get("refresh_token") != f"refresh-{n - 1}":
            return FakeResponse(400, {"error": "invalid_grant"})
        body = {"access_token": f"access-{n}", "token_type": "Bearer", "expires_in": 3600}
        return FakeResponse(200, {**body, "refresh_token": f"refresh-{n}"})


def test_token_holder_refreshes_expired_tokens_and_keeps_the_context() -> None:
    clock = Clock()
    first = parse_token_response(
        {
            "access_token": "access-0",
            "token_type": "Bearer",
            "expires_in": 300,
            "refresh_token": "refresh-0",
            "patient": "p1",
            "scope": "launch patient/*.rs",
        },
        requested_scope="launch",
        now=clock.now,
    )
    endpoint = FakeTokenEndpoint()
    client = SmartClient(client_id="app", redirect_uri="https://app.example/cb")
    holder = TokenHolder(first, config(), client, session=endpoint, clock=clock)  # type: ignore[arg-type]
    assert holder.authorization() == "Bearer access-0"
    assert endpoint.forms == []
    clock.now += 400  # expired
    assert holder.authorization() == "Bearer access-1"
    assert endpoint.forms[-1] == {
        "grant_type": "refresh_token",
        "refresh_token": "refresh-0",
        "client_id": "app",
    }
    assert holder.tokens.patient == "p1" and holder.tokens.scopes.has("patient/*.rs")
    assert holder.renew() is True  # after a 401: the rotated refresh token is used
    assert endpoint.forms[-1]["refresh_token"] == "refresh-1"  # noqa: S105 - a test value
    assert holder.refreshes == 2
    assert "access" not in repr(holder)


def test_token_holder_without_refresh_token_cannot_renew() -> None:
    tokens = parse_token_response(
        {"access_token": "a", "token_type": "Bearer", "expires_in": 1},
        requested_scope="launch",
        now=0.0,
    )
    client = SmartClient(client_id="app", redirect_uri="https://app.example/cb")
    holder = TokenHolder(tokens, config(), client, clock=lambda: 100.0)
    assert holder.renew() is False
    assert holder.authorization() == "Bearer a"  # expired, but nothing better: the 401 stands


def test_confidential_refresh_uses_basic_auth() -> None:
    tokens = parse_token_response(
        {"access_token": "a", "token_type": "Bearer", "refresh_token": "refresh-0"},
        requested_scope="launch",
    )
    endpoint = FakeTokenEndpoint()
    secret = "pw"  # noqa: S105 - a test value
    client = SmartClient(client_id="app", redirect_uri="https://x.example/cb", client_secret=secret)
    refreshed = refresh(tokens, config(), client, session=endpoint)  # type: ignore[arg-type]
    assert refreshed.authorization == "Bearer access-1"
    assert endpoint.auth == [("app", secret)]
    assert "client_id" not in endpoint.forms[0]
