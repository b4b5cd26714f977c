"""The SMART app attacked: open redirects and foreign FHIR servers at the launch, header
injection, the callback's redirect target, session fixation, cross-site write-back (CSRF) and
write-back without the create scopes, security headers on every page, and random query strings
and bodies (never a 5xx). tests/api/test_smart_launch.py has the basic cases (state unknown,
reused, expired or from another browser; PKCE; missing or wrong CSRF token; an unlisted iss)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from tests.api.smart_support import (
    authorize,
    callback,
    launch,
    make_client,
    sign_in,
)
from tests.fuzz.budget import budget, tried
from trdfhir.auth.smart import GrantedScopes
from trdfhir.devtools.smart_server import SmartTestServer
from trdfhir.service.smart_app import SmartRuntime
from trdfhir.service.smart_page import missing_write_scopes

JSON = {"Accept": "application/json"}


def runtime_of(client: TestClient) -> SmartRuntime:
    runtime: SmartRuntime = client.app.state.trd_smart  # type: ignore[attr-defined]
    return runtime


def csrf_of(client: TestClient) -> str:
    sessions = list(runtime_of(client).sessions._sessions.values())
    assert len(sessions) == 1
    return sessions[0].csrf


def writes(auth: SmartTestServer) -> list[Any]:
    return [r for r in auth.seen if r.method in ("POST", "PUT", "PATCH", "DELETE")]


def assert_app_headers(response: Any) -> None:
    csp = response.headers["content-security-policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    ):
        assert directive in csp, (directive, csp)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


# -- launch: foreign servers, open redirects, header injection ------------------------------------
FOREIGN = [
    "https://evil.example/fhir",
    "javascript:alert(1)",
    "//evil.example/fhir",
    "data:text/html,<script>alert(1)</script>",
    "https://evil.example/fhir?x=http://127.0.0.1",
    "{base}.evil.example",  # the allowed origin as a prefix of another host
    "{base}@evil.example/fhir",  # userinfo trick
    "{base}/../../evil",
    "{base}/fhir/../..",
    "{base_upper}",
    "{base} ",
    "{base}%0d%0aLocation:%20https://evil.example",
]


@pytest.mark.parametrize("iss", FOREIGN)
def test_a_foreign_iss_is_refused_without_a_redirect_or_a_request(
    iss: str, auth: SmartTestServer
) -> None:
    base = auth.fhir_base
    value = iss.format(base=base, base_upper=base.upper())
    client = make_client(auth)
    response = client.get(
        "/app/launch", params={"iss": value, "launch": "x"}, follow_redirects=False
    )
    if value.strip().rstrip("/") == base:  # trailing space is trimmed: that is the real iss
        assert response.status_code == 302
        return
    assert response.status_code == 400, (value, response.status_code)
    assert "location" not in response.headers
    assert "not allowed" in response.text
    assert auth.seen == []  # nothing was asked of any server
    assert_app_headers(response)


def test_the_authorize_redirect_goes_only_to_the_discovered_endpoint(
    auth: SmartTestServer,
) -> None:
    client = make_client(auth)
    response = launch(
        client,
        auth,
        redirect_uri="https://evil.example/cb",
        authorization_endpoint="https://evil.example/authorize",
        next="https://evil.example",
    )
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}" == auth.base
    assert "evil.example" not in response.headers["location"]


@pytest.mark.parametrize(
    "endpoint",
    ["javascript:alert(1)", "http://evil.example/authorize", "//evil.example/a", "ftp://x/a"],
)
def test_a_discovered_authorize_endpoint_must_be_https_or_loopback(
    endpoint: str, auth: SmartTestServer
) -> None:
    auth.advertise = {"authorization_endpoint": endpoint}
    runtime_cache_free = make_client(auth)
    response = launch(runtime_cache_free, auth)
    assert response.status_code == 502
    assert "location" not in response.headers


def test_a_launch_parameter_cannot_inject_headers(auth: SmartTestServer) -> None:
    client = make_client(auth)
    evil = "abc\r\nSet-Cookie: trd-smart=attacker\r\nLocation: https://evil.example"
    response = client.get(
        "/app/launch", params={"iss": auth.fhir_base, "launch": evil}, follow_redirects=False
    )
    assert response.status_code == 302
    location = response.headers["location"]
    assert "\r" not in location and "\n" not in location
    assert location.startswith(auth.base)
    cookies = response.headers.get_list("set-cookie")
    assert not any("attacker" in c for c in cookies)


# -- callback ------------------------------------------------------------------------------------
def test_the_callback_redirects_only_to_the_app_page(auth: SmartTestServer) -> None:
    client = make_client(auth)
    started = launch(client, auth)
    back = authorize(started.headers["location"])
    parts = urlsplit(back)
    extra = "&redirect_uri=https://evil.example&next=https://evil.example&return_to=//evil"
    response = client.get(f"{parts.path}?{parts.query}{extra}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/app/"
    assert_app_headers(response)


@pytest.mark.parametrize(
    "query",
    [
        "",
        "code=x",
        "state=",
        "state=" + "A" * 10_000,
        "code=%00&state=%0d%0a",
        "error=access_denied&error_description=<script>alert(1)</script>",
        "state=x&state=y&code=1&code=2",
    ],
)
def test_a_forged_callback_is_a_400_page_without_a_redirect(
    query: str, auth: SmartTestServer
) -> None:
    response = make_client(auth).get(f"/app/callback?{query}", follow_redirects=False)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "<script>alert" not in response.text
    assert_app_headers(response)


def test_a_planted_session_cookie_is_not_adopted(auth: SmartTestServer) -> None:
    """Session fixation: the attacker plants a cookie value; it never becomes a session."""
    client = make_client(auth)
    client.cookies.set("trd-smart", "attacker-chosen")
    assert client.get("/app/").status_code == 401
    assert sign_in(client, auth).status_code == 303
    sessions = runtime_of(client).sessions._sessions
    assert len(sessions) == 1 and "attacker-chosen" not in sessions
    issued = [c.value for c in client.cookies.jar if c.name == "trd-smart"]
    assert set(sessions) <= set(issued)  # the app's own, new session id


# -- write-back: CSRF ----------------------------------------------------------------------------
def test_write_back_csrf(auth: SmartTestServer) -> None:
    victim = make_client(auth)
    assert sign_in(victim, auth).status_code == 303
    attacker = make_client(auth)
    assert sign_in(attacker, auth).status_code == 303
    attackers_token = csrf_of(attacker)
    token = csrf_of(victim)
    cases: list[tuple[str, dict[str, Any]]] = [
        ("another session's token", {"json": {"csrf_token": attackers_token}}),
        ("token in the query string", {"params": {"csrf_token": token}, "json": {}}),
        ("token of another type", {"json": {"csrf_token": [token]}}),
        ("empty header", {"json": {}, "headers": {"X-CSRF-Token": ""}}),
        (
            "foreign origin",
            {"json": {"csrf_token": token}, "headers": {"Origin": "https://evil.example"}},
        ),
        ("opaque origin", {"json": {"csrf_token": token}, "headers": {"Origin": "null"}}),
        (
            "lookalike origin",
            {"json": {"csrf_token": token}, "headers": {"Origin": "http://testserver.evil"}},
        ),
        (
            "text/plain form (a simple cross-site request)",
            {"content": f"csrf_token={attackers_token}", "headers": {"Content-Type": "text/plain"}},
        ),
    ]
    for name, kwargs in cases:
        headers = {**JSON, **kwargs.pop("headers", {})}
        response = victim.post("/app/write-back", headers=headers, **kwargs)
        assert response.status_code == 403, (name, response.status_code, response.text)
        assert response.json()["ok"] is False
    assert victim.get("/app/write-back").status_code == 405
    assert writes(auth) == []


# -- write-back: scopes --------------------------------------------------------------------------
def _only(drop: tuple[str, ...] = (), add: tuple[str, ...] = ()) -> Any:
    def grant(scope: str) -> str:
        kept = [s for s in scope.split() if not any(s.startswith(d) for d in drop)]
        return " ".join([*kept, *add])

    return grant


SCOPE_CASES = {
    "no Observation create": _only(drop=("patient/Observation.c",)),
    "no CarePlan create": _only(drop=("patient/CarePlan.c",)),
    "read-only v2": _only(drop=("patient/Observation.c", "patient/CarePlan.c")),
    "read-only v1": lambda s: " ".join(
        x.replace(".rs", ".read") for x in s.split() if not x.endswith((".c", ".cu"))
    ),
    "granular create only": _only(
        drop=("patient/Observation.c",),
        add=(
            "patient/Observation.c?category=http://terminology.hl7.org/CodeSystem/"
            "observation-category|laboratory",
        ),
    ),
    "system scopes are not the user's": _only(
        drop=("patient/Observation.c", "patient/CarePlan.c"),
        add=("system/Observation.c", "system/CarePlan.cu"),
    ),
    "a malformed create scope": _only(
        drop=("patient/Observation.c",), add=("patient/Observation.dc",)
    ),
}


@pytest.mark.parametrize("case", sorted(SCOPE_CASES))
def test_no_write_without_create_on_observation_and_careplan(
    case: str, auth: SmartTestServer
) -> None:
    auth.grant_scope = SCOPE_CASES[case]
    client = make_client(auth)
    assert sign_in(client, auth).status_code == 303
    token = csrf_of(client)
    response = client.post(
        "/app/write-back", json={"csrf_token": token}, headers={**JSON, "X-CSRF-Token": token}
    )
    assert response.status_code == 403, response.text
    assert "Not authorized to write" in response.json()["message"]
    assert writes(auth) == []  # refused before anything reached the FHIR server


@pytest.mark.parametrize(
    ("granted", "missing"),
    [
        ("patient/Observation.c patient/CarePlan.c", []),
        ("user/Observation.cruds user/CarePlan.c", []),
        ("patient/*.write", []),
        ("patient/*.cruds", []),
        ("patient/Observation.rs patient/CarePlan.rs", ["Observation", "CarePlan"]),
        ("patient/*.read", ["Observation", "CarePlan"]),
        ("system/*.cruds", ["Observation", "CarePlan"]),
        ("patient/Observation.c", ["CarePlan"]),
    ],
)
def test_which_grants_allow_the_write_back(granted: str, missing: list[str]) -> None:
    lacking = missing_write_scopes(GrantedScopes.parse(granted))
    assert [m.split("/")[1].split(".")[0] for m in lacking] == missing


# -- headers on every app page -------------------------------------------------------------------
def test_security_headers_on_every_app_answer(auth: SmartTestServer) -> None:
    client = make_client(auth)
    answers = [
        client.get("/app/"),
        client.get("/app/launch", follow_redirects=False),
        client.get("/app/launch", params={"iss": "https://evil.example"}),
        client.get("/app/callback"),
        client.get("/app/logout"),
        client.post("/app/write-back", json={}, headers=JSON),
        client.post("/app/write-back", data={}),
    ]
    assert sign_in(client, auth).status_code == 303
    token = csrf_of(client)
    answers += [
        client.post("/app/write-back", json={"csrf_token": "no"}, headers=JSON),
        client.post("/app/write-back", json={"csrf_token": token}, headers=JSON),  # 502: no FHIR
    ]
    for response in answers:
        assert_app_headers(response)
        assert "no-store" in response.headers["cache-control"], response.request.url
    for name in ("app.js", "app.css", "nope.js"):
        assert_app_headers(client.get(f"/app/static/{name}"))
    unknown = client.get("/app/nothing")  # not a page: an OperationOutcome that renders nothing
    assert unknown.status_code == 404
    assert "default-src 'none'" in unknown.headers["content-security-policy"]


def test_api_answers_carry_nosniff_referrer_policy_and_no_store(auth: SmartTestServer) -> None:
    client = make_client(auth)
    for response in (
        client.get("/fhir/metadata"),
        client.get("/cds-services"),
        client.post("/fhir/$trd-evaluate", content="{", headers={"Content-Type": "text/plain"}),
        client.get("/nowhere"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "no-store" in client.get("/fhir/metadata").headers["cache-control"]


# -- random input: never a 5xx -------------------------------------------------------------------
query_values = st.text(max_size=50) | st.sampled_from(
    ["https://evil.example", "javascript:alert(1)", "%00", "\r\n", "' OR 1=1 --", "<svg onload=1>"]
)
query_keys = st.sampled_from(
    ["iss", "launch", "as_of", "code", "state", "error", "error_description", "x"]
)


@pytest.fixture(scope="module")
def fuzz_client(server: SmartTestServer) -> TestClient:
    """Thousands of launches from one address: the launch rate limit and the per-address bound
    on pending launches (tests/security/test_flood_and_login_csrf.py) are lifted here so that
    the random queries keep reaching the launch's checks."""
    return make_client(
        server,
        service={"rate_limit_launch_per_minute": 0},
        max_pending_launches_per_client=1_000_000,
    )


@given(params=st.lists(st.tuples(query_keys, query_values), max_size=5))
@budget("smart-launch")
def test_random_launch_queries(params: list[tuple[str, str]], fuzz_client: TestClient) -> None:
    tried("smart-launch")
    response = fuzz_client.get("/app/launch", params=params, follow_redirects=False)
    assert response.status_code in (302, 400, 502), response.status_code
    location = response.headers.get("location", "")
    assert location == "" or location.startswith(SERVER_BASE[0])


@given(params=st.lists(st.tuples(query_keys, query_values), max_size=5))
@budget("smart-callback")
def test_random_callback_queries(params: list[tuple[str, str]], fuzz_client: TestClient) -> None:
    tried("smart-callback")
    response = fuzz_client.get("/app/callback", params=params, follow_redirects=False)
    assert response.status_code in (400, 403), response.status_code
    assert "location" not in response.headers


SERVER_BASE: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _remember_base(server: SmartTestServer) -> None:
    SERVER_BASE[:] = [server.base]


@pytest.fixture(scope="module")
def signed_in(server: SmartTestServer) -> TestClient:
    client = make_client(server)
    assert sign_in(client, server).status_code == 303
    return client


@given(
    body=st.binary(max_size=300)
    | st.sampled_from([b"[" * 20_000, b'{"csrf_token": {"$ne": 1}}', b"\xff\xfe", b"{}"]),
    kind=st.sampled_from(
        ["application/json", "application/x-www-form-urlencoded", "text/plain", "multipart/x"]
    ),
)
@budget("smart-write-back")
def test_random_write_back_bodies(body: bytes, kind: str, signed_in: TestClient) -> None:
    tried("smart-write-back")
    response = signed_in.post(
        "/app/write-back", content=body, headers={"Content-Type": kind, **JSON}
    )
    assert response.status_code in (400, 403), (response.status_code, response.text[:200])


def test_callback_helper_is_used(auth: SmartTestServer) -> None:
    """(keeps the shared helper honest: a genuine sign-in still works after the attacks)"""
    client = make_client(auth)
    started = launch(client, auth)
    assert callback(client, authorize(started.headers["location"])).status_code == 303
