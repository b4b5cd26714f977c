"""The SMART app's launch and callback, against our test authorization server: EHR and
standalone launch, discovery, PKCE, state (unknown, expired, reused), the EHR's errors, missing
patient context, confidential clients, cookies, security headers and the write-back's CSRF
and scope checks. No FHIR server is needed until the page itself (test_smart_page.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from trdfhir.devtools.smart_server import RegisteredClient, SmartTestServer, s256, to_v1

from .smart_support import (
    APP,
    CLIENT_ID,
    authorize,
    callback,
    fresh,
    launch,
    make_client,
    query_of,
    running_auth_server,
    sign_in,
    with_query,
)

SECRET = "s3cret-value"  # noqa: S105 - a test client secret


@pytest.fixture(scope="module")
def server() -> Iterator[SmartTestServer]:
    redirects = (f"{APP}/app/callback", "https://testserver/app/callback")
    with running_auth_server(
        RegisteredClient(CLIENT_ID, redirects),
        RegisteredClient("trd-confidential", redirects, secret=SECRET),
    ) as s:
        yield s


@pytest.fixture
def auth(server: SmartTestServer) -> Iterator[SmartTestServer]:
    with fresh(server) as s:
        yield s


def no_redirect_to(response: object, *hosts: str) -> None:
    location = getattr(response, "headers", {}).get("location")
    assert location is None or not any(h in location for h in hosts)


# -- launch ---------------------------------------------------------------------------------------
def test_ehr_launch_redirects_to_authorize_with_pkce_state_aud_and_launch(
    auth: SmartTestServer,
) -> None:
    client = make_client(auth)
    response = launch(client, auth, "p1")
    assert response.status_code == 302
    url = response.headers["location"]
    assert url.startswith(f"{auth.base}/auth/authorize?")
    q = query_of(url)
    assert q["response_type"] == "code"
    assert q["client_id"] == CLIENT_ID
    assert q["redirect_uri"] == f"{APP}/app/callback"
    assert q["aud"] == auth.fhir_base
    assert q["launch"]
    assert q["code_challenge_method"] == "S256"
    assert len(q["code_challenge"]) == 43
    assert len(q["state"]) >= 43
    scopes = q["scope"].split()
    assert "launch" in scopes and "launch/patient" not in scopes
    assert {"openid", "fhirUser", "patient/Observation.rs", "patient/Observation.c"} <= set(scopes)
    assert "patient/MedicationRequest.rs" in scopes and "patient/CarePlan.cu" in scopes
    # two launches never share state or PKCE
    other = query_of(launch(client, auth, "p1").headers["location"])
    assert other["state"] != q["state"] and other["code_challenge"] != q["code_challenge"]


def test_standalone_launch_asks_for_a_patient_and_sends_no_launch(auth: SmartTestServer) -> None:
    client = make_client(auth)
    response = client.get("/app/launch", follow_redirects=False)  # the configured default iss
    assert response.status_code == 302
    q = query_of(response.headers["location"])
    assert "launch" not in q
    scopes = q["scope"].split()
    assert "launch/patient" in scopes and "launch" not in scopes
    assert q["aud"] == auth.fhir_base


def test_relative_endpoints_in_discovery_are_resolved(auth: SmartTestServer) -> None:
    auth.relative_endpoints = True
    response = launch(make_client(auth), auth)
    assert response.headers["location"].startswith(f"{auth.base}/auth/authorize?")


def test_v1_only_server_gets_v1_scopes(auth: SmartTestServer) -> None:
    auth.advertise = {"capabilities": ["launch-ehr", "permission-v1"]}
    q = query_of(launch(make_client(auth), auth).headers["location"])
    scopes = q["scope"].split()
    assert "patient/Observation.read" in scopes and "patient/CarePlan.write" in scopes
    assert not any(s.endswith(".rs") for s in scopes)


def test_server_without_s256_is_refused(auth: SmartTestServer) -> None:
    auth.advertise = {"code_challenge_methods_supported": ["plain"]}
    response = launch(make_client(auth), auth)
    assert response.status_code == 502
    assert "S256" in response.text
    assert "location" not in response.headers


def test_no_iss_and_no_default_is_a_clear_error(auth: SmartTestServer) -> None:
    client = make_client(auth, iss=None, issuers=[auth.fhir_base])
    response = client.get("/app/launch", follow_redirects=False)
    assert response.status_code == 400
    assert "No FHIR server" in response.text


def test_unlisted_iss_is_refused_without_contacting_it(auth: SmartTestServer) -> None:
    client = make_client(auth)
    response = client.get(
        "/app/launch",
        params={"iss": "https://evil.example/fhir", "launch": "x"},
        follow_redirects=False,
    )
    assert response.status_code == 400
    assert "not allowed" in response.text
    no_redirect_to(response, "evil.example")


def test_unreachable_fhir_server_is_a_clear_error(auth: SmartTestServer) -> None:
    client = make_client(auth, iss="http://127.0.0.1:9/fhir")
    response = client.get("/app/launch", follow_redirects=False)
    assert response.status_code == 502
    assert "discovery failed" in response.text


def test_bad_as_of_is_refused(auth: SmartTestServer) -> None:
    response = launch(make_client(auth), auth, as_of="2026-13-01")
    assert response.status_code == 400


# -- callback -------------------------------------------------------------------------------------
def test_callback_exchanges_the_code_and_opens_a_session(auth: SmartTestServer) -> None:
    client = make_client(auth)
    response = sign_in(client, auth)
    assert response.status_code == 303
    assert response.headers["location"] == "/app/"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("trd-smart=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    session = cookie.split(";")[0].split("=", 1)[1]
    assert len(session) >= 43
    for token in auth.access_tokens():  # the browser never sees a token
        assert token not in cookie and token not in response.text
    assert auth.token_requests[-1] == {"grant_type": "authorization_code", "client_auth": "public"}


def test_https_cookie_is_secure_samesite_none_partitioned_host_prefixed(
    auth: SmartTestServer,
) -> None:
    client = make_client(auth, base_url="https://testserver")
    response = sign_in(client, auth)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-trd-smart=")
    for part in ("Secure", "HttpOnly", "SameSite=None", "Partitioned", "Path=/"):
        assert part in cookie


def test_confidential_client_authenticates_with_client_secret_basic(
    auth: SmartTestServer,
) -> None:
    client = make_client(auth, client_id="trd-confidential", client_secret=SECRET)
    assert sign_in(client, auth).status_code == 303
    assert auth.token_requests[-1] == {"grant_type": "authorization_code", "client_auth": "basic"}


def test_wrong_client_secret_fails_sign_in(auth: SmartTestServer) -> None:
    client = make_client(auth, client_id="trd-confidential", client_secret=SECRET[::-1])
    response = sign_in(client, auth)
    assert response.status_code == 502
    assert "invalid_client" in response.text
    assert SECRET[::-1] not in response.text


def test_unknown_state_is_a_400_page_never_a_redirect(auth: SmartTestServer) -> None:
    client = make_client(auth)
    response = client.get(
        "/app/callback",
        params={"code": "c", "state": "forged", "redirect_uri": "https://evil.example/"},
        follow_redirects=False,
    )
    assert response.status_code == 400
    assert "Unknown launch" in response.text
    assert "location" not in response.headers
    assert "evil.example" not in response.text
    missing = client.get("/app/callback", params={"code": "c"}, follow_redirects=False)
    assert missing.status_code == 400


def test_reused_state_is_refused(auth: SmartTestServer) -> None:
    client = make_client(auth)
    started = launch(client, auth)
    back = authorize(started.headers["location"])
    assert callback(client, back).status_code == 303
    again = callback(client, back)
    assert again.status_code == 400
    assert "already used" in again.text
    assert "location" not in again.headers


def test_expired_state_is_refused(auth: SmartTestServer) -> None:
    client = make_client(auth, launch_ttl_seconds=1)
    started = launch(client, auth)
    back = authorize(started.headers["location"])
    time.sleep(1.2)
    response = callback(client, back)
    assert response.status_code == 400
    assert "expired" in response.text


def test_state_from_another_browser_is_refused_when_its_cookie_is_present(
    auth: SmartTestServer,
) -> None:
    client = make_client(auth)
    started = launch(client, auth)
    back = authorize(started.headers["location"])
    (cookie,) = [c for c in client.cookies.jar if c.name.startswith("trd-launch-")]
    client.cookies.clear()
    client.cookies.set(cookie.name, "another-browser", domain=cookie.domain, path=cookie.path)
    response = callback(client, back)
    assert response.status_code == 400
    assert "another browser" in response.text


def test_a_callback_without_the_binding_cookie_signs_no_one_in(auth: SmartTestServer) -> None:
    """Was accepted on the state alone ("as in an iframe"): a login CSRF. The EHR iframe keeps
    the cookie now that it is partitioned (tests/security/test_flood_and_login_csrf.py)."""
    client = make_client(auth)
    started = launch(client, auth)
    client.cookies.clear()
    response = callback(client, authorize(started.headers["location"]))
    assert response.status_code == 400
    assert "Sign-in not completed" in response.text
    assert "trd-smart=" not in response.headers.get("set-cookie", "")


def test_pkce_mismatch_fails_the_exchange(auth: SmartTestServer) -> None:
    client = make_client(auth)
    started = launch(client, auth)
    forged = with_query(started.headers["location"], code_challenge=s256("x" * 50))
    response = callback(client, authorize(forged))
    assert response.status_code == 502
    assert "PKCE" in response.text


def test_ehr_error_is_shown_escaped(auth: SmartTestServer) -> None:
    client = make_client(auth)
    state = query_of(launch(client, auth).headers["location"])["state"]
    response = client.get(
        "/app/callback",
        params={
            "state": state,
            "error": "access_denied",
            "error_description": "<script>alert(1)</script> the user said no",
        },
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "access_denied" in response.text
    assert "<script>alert(1)" not in response.text
    assert "&lt;script&gt;" in response.text


def test_missing_patient_context_is_a_clear_error(auth: SmartTestServer) -> None:
    auth.omit_patient = True
    response = sign_in(make_client(auth), auth)
    assert response.status_code == 400
    assert "No patient selected" in response.text
    assert "set-cookie" not in response.headers or "trd-smart=" not in response.headers.get(
        "set-cookie", ""
    )


def test_standalone_launch_adds_launch_patient_to_a_configured_scope(
    auth: SmartTestServer,
) -> None:
    client = make_client(auth, scope="openid patient/Observation.rs")
    started = client.get("/app/launch", follow_redirects=False)
    assert "launch/patient" in query_of(started.headers["location"])["scope"]


# -- pages without a session, headers -------------------------------------------------------------
def test_page_without_session_is_401_with_a_launch_link(auth: SmartTestServer) -> None:
    response = make_client(auth).get("/app/")
    assert response.status_code == 401
    assert 'href="/app/launch"' in response.text


def test_security_headers_and_frame_ancestors(auth: SmartTestServer) -> None:
    client = make_client(auth, frame_ancestors="https://ehr.example.org, https://ehr2.example.org")
    for response in (
        client.get("/app/"),
        launch(client, auth),
        client.get("/app/callback", params={"state": "x"}),
    ):
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'self' https://ehr.example.org https://ehr2.example.org" in csp
        assert "x-frame-options" not in response.headers
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "no-store" in response.headers["cache-control"]
    alone = make_client(auth).get("/app/")
    assert "frame-ancestors 'self'" in alone.headers["content-security-policy"]
    assert alone.headers["x-frame-options"] == "SAMEORIGIN"


def test_static_files(auth: SmartTestServer) -> None:
    client = make_client(auth)
    js = client.get("/app/static/app.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    css = client.get("/app/static/app.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert client.get("/app/static/../smart_app.py").status_code == 404
    assert client.get("/app/static/nope.js").status_code == 404


def test_no_inline_script_or_style_in_pages(auth: SmartTestServer) -> None:
    client = make_client(auth)
    for text in (client.get("/app/").text, client.get("/app/callback").text):
        assert "<script>" not in text and "style=" not in text and "<style" not in text


# -- write-back guards ----------------------------------------------------------------------------
def test_write_back_needs_a_session(auth: SmartTestServer) -> None:
    response = make_client(auth).post(
        "/app/write-back", json={"csrf_token": "x"}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 401
    assert response.json()["ok"] is False


def _csrf(client: object) -> str:
    from trdfhir.service.smart_app import SmartRuntime

    app = client.app  # type: ignore[attr-defined]
    runtime: SmartRuntime = app.state.trd_smart
    sessions = list(runtime.sessions._sessions.values())
    assert len(sessions) == 1
    return sessions[0].csrf


def test_write_back_refuses_a_missing_or_wrong_csrf_token_and_foreign_origins(
    auth: SmartTestServer,
) -> None:
    client = make_client(auth)
    assert sign_in(client, auth).status_code == 303
    json_accept = {"Accept": "application/json"}
    missing = client.post("/app/write-back", json={}, headers=json_accept)
    assert missing.status_code == 403
    wrong = client.post("/app/write-back", json={"csrf_token": "nope"}, headers=json_accept)
    assert wrong.status_code == 403
    token = _csrf(client)
    foreign = client.post(
        "/app/write-back",
        json={"csrf_token": token},
        headers={**json_accept, "Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    form = client.post(
        "/app/write-back",
        data={"csrf_token": "nope"},
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 403
    assert "text/html" in form.headers["content-type"]


def test_write_back_refused_without_create_scopes(auth: SmartTestServer) -> None:
    auth.grant_scope = lambda scope: " ".join(
        s for s in scope.split() if not s.endswith((".c", ".cu"))
    )
    client = make_client(auth)
    assert sign_in(client, auth).status_code == 303
    response = client.post(
        "/app/write-back",
        json={"csrf_token": _csrf(client)},
        headers={"Accept": "application/json", "X-CSRF-Token": _csrf(client)},
    )
    assert response.status_code == 403
    body = response.json()
    assert "patient/Observation.c" in body["message"] and "patient/CarePlan.c" in body["message"]


def test_v1_grants_are_understood(auth: SmartTestServer) -> None:
    auth.grant_scope = to_v1
    client = make_client(auth)
    assert sign_in(client, auth).status_code == 303
    from trdfhir.service.smart_app import SmartRuntime

    runtime: SmartRuntime = client.app.state.trd_smart  # type: ignore[attr-defined]
    (session,) = runtime.sessions._sessions.values()
    scopes = session.holder.tokens.scopes
    assert scopes.syntax == "v1"
    assert scopes.allows("Observation", "c") and scopes.allows("CarePlan", "c")


def test_logout_forgets_the_session(auth: SmartTestServer) -> None:
    client = make_client(auth)
    assert sign_in(client, auth).status_code == 303
    assert client.get("/app/logout").status_code == 200
    assert (
        client.post(
            "/app/write-back", json={"csrf_token": "x"}, headers={"Accept": "application/json"}
        ).status_code
        == 401
    )


def test_smart_settings_are_checked() -> None:
    from trdfhir.errors import SettingsError
    from trdfhir.service.smart_app import SmartAppSettings

    with pytest.raises(SettingsError, match="unknown smart setting"):
        SmartAppSettings.from_mapping({"clientid": "x"})
    with pytest.raises(SettingsError, match="https"):
        SmartAppSettings.from_mapping({"iss": "http://ehr.example.org/fhir"})
    with pytest.raises(SettingsError, match="date"):
        SmartAppSettings.from_mapping({"as_of": "soon"})
    with pytest.raises(SettingsError, match="not an origin"):
        SmartAppSettings.from_mapping({"frame_ancestors": "https://ehr.example; script-src *"})
    parsed = SmartAppSettings.from_mapping(
        {
            "issuers": "https://a.example/fhir/, https://b.example/fhir",
            "allow_any_issuer": "false",
            "as_of_by_patient": '{"p1": "2026-01-02"}',
            "launch_ttl_seconds": "30",
        }
    )
    assert parsed.issuers == ("https://a.example/fhir", "https://b.example/fhir")
    assert parsed.as_of_by_patient["p1"].isoformat() == "2026-01-02"
    assert parsed.launch_ttl_seconds == 30
