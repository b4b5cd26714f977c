"""Availability and sign-in binding (issue 11, items 2 and 4): a flood of unauthenticated
launches cannot evict a real user's pending launch (bounded per client address and overall; a
full store answers 503, never by dropping someone else's), the unauthenticated endpoints are
rate-limited with 429 and Retry-After per client address (taken from a forwarding header only
when one is configured), and a callback opened in a browser without the launch's binding cookie
never signs anyone in (login CSRF)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.datastructures import Headers

from tests.api.conftest import client_for, example, open_settings
from tests.api.smart_support import (
    APP,
    authorize,
    callback,
    launch,
    make_client,
)
from trdfhir.auth.smart import LaunchStore, PendingLaunch, SmartConfiguration
from trdfhir.devtools.smart_server import SmartTestServer
from trdfhir.errors import BusyError, ThrottledError
from trdfhir.service.ratelimit import TokenBuckets, client_address

CONFIG = SmartConfiguration(
    iss="https://ehr.example.org/fhir",
    authorization_endpoint="https://ehr.example.org/authorize",
    token_endpoint="https://ehr.example.org/token",  # noqa: S106 - a URL
    code_challenge_methods=("S256",),
)
NO_RATE_LIMITS = {
    "rate_limit_launch_per_minute": 0,
    "rate_limit_discovery_per_minute": 0,
    "rate_limit_evaluate_per_minute": 0,
}


def _pending(now: float) -> PendingLaunch:
    return PendingLaunch.new(
        iss=CONFIG.iss, config=CONFIG, launch="x", scope="launch", ttl=600, now=now
    )


# -- item 2: the launch store ----------------------------------------------------------------------
def test_a_flood_never_evicts_a_live_pending_launch() -> None:
    now = [1000.0]
    store = LaunchStore(clock=lambda: now[0], limit=3, per_client=2)
    user = _pending(now[0])
    store.put(user, client="10.0.0.1")
    store.put(_pending(now[0]), client="10.9.0.1")
    store.put(_pending(now[0]), client="10.9.0.2")
    with pytest.raises(BusyError) as full:
        store.put(_pending(now[0]), client="10.9.0.3")
    assert full.value.http_status == 503 and 1 <= full.value.retry_after <= 600
    assert store.take(user.state) is user  # still there
    now[0] += 601  # the flood's launches expire: room again
    store.put(_pending(now[0]), client="10.9.0.4")


def test_pending_launches_are_bounded_per_client_address() -> None:
    store = LaunchStore(clock=lambda: 1000.0, limit=100, per_client=2)
    store.put(_pending(1000.0), client="10.9.0.1")
    store.put(_pending(1000.0), client="10.9.0.1")
    with pytest.raises(ThrottledError):
        store.put(_pending(1000.0), client="10.9.0.1")
    store.put(_pending(1000.0), client="10.9.0.2")  # another address is not affected


def test_a_flood_through_the_app_gets_a_503_page_and_the_user_still_signs_in(
    auth: SmartTestServer,
) -> None:
    service = {**NO_RATE_LIMITS, "forwarded_header": "X-Forwarded-For"}
    client = make_client(
        auth, service=service, max_pending_launches=4, max_pending_launches_per_client=2
    )
    mine = launch(client, auth, headers={"X-Forwarded-For": "10.0.0.1"})
    assert mine.status_code == 302
    statuses = []
    for n in range(6):
        flood = launch(client, auth, headers={"X-Forwarded-For": f"10.9.0.{n}"})
        statuses.append(flood.status_code)
    assert statuses == [302, 302, 302, 503, 503, 503]
    assert "retry-after" in flood.headers and "busy" in flood.text.lower()
    assert callback(client, authorize(mine.headers["location"])).status_code == 303


# -- item 2: rate limits ---------------------------------------------------------------------------
def test_token_buckets_allow_a_burst_then_refill() -> None:
    buckets = TokenBuckets(per_minute=60, max_keys=10)
    assert all(buckets.hit("a", now=0.0) is None for _ in range(60))
    wait = buckets.hit("a", now=0.0)
    assert wait is not None and 0 < wait <= 1.0
    assert buckets.hit("b", now=0.0) is None  # another client
    assert buckets.hit("a", now=1.0) is None  # one token a second
    for n in range(20):  # many clients: memory stays bounded
        buckets.hit(f"c{n}", now=2.0)
    assert len(buckets) <= 10


@pytest.mark.parametrize(
    ("setting", "method", "path"),
    [
        ("rate_limit_discovery_per_minute", "GET", "/cds-services"),
        ("rate_limit_evaluate_per_minute", "POST", "/fhir/$trd-evaluate"),
    ],
)
def test_unauthenticated_endpoints_answer_429_with_retry_after(
    setting: str, method: str, path: str
) -> None:
    ex = example("01")
    client = client_for(open_settings(ex, **{**NO_RATE_LIMITS, setting: 3}))
    body = {"resourceType": "Bundle", "type": "collection", "entry": []}
    statuses = [client.request(method, path, json=body).status_code for _ in range(4)]
    assert statuses[:3] != [429] * 3 and statuses[3] == 429
    last = client.request(method, path, json=body)
    assert last.status_code == 429
    assert int(last.headers["retry-after"]) >= 1
    issue = last.json()["issue"][0]
    assert issue["code"] == "throttled" and "\n" not in issue["diagnostics"]


def test_the_launch_is_rate_limited_with_a_429_page(auth: SmartTestServer) -> None:
    client = make_client(auth, service={**NO_RATE_LIMITS, "rate_limit_launch_per_minute": 2})
    statuses = [launch(client, auth).status_code for _ in range(3)]
    assert statuses == [302, 302, 429]
    page = launch(client, auth)
    assert page.status_code == 429 and int(page.headers["retry-after"]) >= 1
    assert "content-security-policy" in page.headers  # an app page, with its headers


def test_a_forwarding_header_is_trusted_only_when_configured() -> None:
    ex = example("01")
    spoofed = [{"X-Forwarded-For": f"10.9.0.{n}"} for n in range(4)]
    untrusting = client_for(open_settings(ex, rate_limit_discovery_per_minute=2))
    assert [untrusting.get("/cds-services", headers=h).status_code for h in spoofed] == [
        200,
        200,
        429,
        429,
    ]
    trusting = client_for(
        open_settings(ex, rate_limit_discovery_per_minute=2, forwarded_header="X-Forwarded-For")
    )
    assert [trusting.get("/cds-services", headers=h).status_code for h in spoofed] == [200] * 4


def test_the_client_address_is_the_last_hop_the_trusted_proxy_added() -> None:
    class Request:
        def __init__(self, headers: dict[str, str] | list[tuple[str, str]]) -> None:
            pairs = list(headers.items()) if isinstance(headers, dict) else headers
            self.headers = Headers(raw=[(k.encode(), v.encode()) for k, v in pairs])
            self.client = type("Peer", (), {"host": "127.0.0.1"})()

    req: Any = Request({"x-forwarded-for": "6.6.6.6, 10.0.0.7"})
    assert client_address(req, "X-Forwarded-For") == "10.0.0.7"
    # a proxy that adds a line of its own: the client's own line comes first and is not trusted
    two_lines: Any = Request([("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "10.0.0.9")])
    assert client_address(two_lines, "X-Forwarded-For") == "10.0.0.9"
    assert client_address(req, None) == "127.0.0.1"
    assert client_address(Request({"x-forwarded-for": "not an address"}), "X-Forwarded-For") == (
        "127.0.0.1"
    )


def test_serve_does_not_let_uvicorn_trust_forwarding_headers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uvicorn

    from trdfhir.cli import main

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw))
    monkeypatch.setenv("TRDFHIR_CDS_AUTH_REQUIRED", "false")
    assert main(["serve", "--port", "8999"]) == 0
    assert seen["proxy_headers"] is False


# -- item 4: login CSRF ----------------------------------------------------------------------------
def test_an_attackers_callback_opened_in_another_browser_signs_no_one_in(
    auth: SmartTestServer,
) -> None:
    attacker = make_client(auth)
    started = launch(attacker, auth)
    back = authorize(started.headers["location"])  # code + state of the attacker's grant
    victim = TestClient(attacker.app, base_url=APP, raise_server_exceptions=False)
    response = callback(victim, back)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "trd-smart=" not in response.headers.get("set-cookie", "")
    assert "browser" in response.text
    assert victim.get("/app/").status_code == 401  # no session


def test_the_binding_cookie_is_partitioned_for_an_ehr_iframe(auth: SmartTestServer) -> None:
    client = make_client(auth, base_url="https://testserver")
    started = launch(client, auth)
    cookie = started.headers["set-cookie"]
    assert cookie.startswith("trd-launch-")
    for part in ("SameSite=None", "Secure", "Partitioned", "HttpOnly", "Path=/app/callback"):
        assert part in cookie
    # the https sign-in itself: tests/api/test_smart_launch.py (the cookie comes back)
