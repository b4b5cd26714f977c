"""CDS client JWTs live at most `jwt_max_lifetime_seconds`; the replay cache is sized from that
lifetime, forgets by expiry and answers a full cache with a retryable 503 (never a lockout); the
sandbox's real token shape (ES384, kid, jku) verifies against a configured key set without a
fetch; the feedback store keeps only the spec's fields, each bounded; TRDFHIR_SMART_* variables
merge key by key into the settings file's [smart] table (issue 11, items 9, 10, 12, 13)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.api.conftest import PUBLIC, Signer, cds_request, client_for, example, secured_settings
from trdfhir.auth.cds_jwt import CdsIssuer, CdsJwtVerifier, JwksCache, ReplayCache
from trdfhir.errors import AuthError, BusyError
from trdfhir.service import load_service_settings
from trdfhir.service.engine import FeedbackStore

EX = example("01")
VIEW = "/cds-services/trd-patient-view"
AUD = f"{PUBLIC}{VIEW}"


def _call(client: Any, token: str, url: str = VIEW, body: Any = None) -> Any:
    return client.post(
        url,
        json=body if body is not None else cds_request(EX),
        headers={"Authorization": f"Bearer {token}"},
    )


# -- item 9: the lifetime cap ----------------------------------------------------------------------
def test_a_token_valid_for_ten_years_is_refused(rsa_signer: Signer) -> None:
    client = client_for(secured_settings(EX, [rsa_signer]))
    response = _call(client, rsa_signer.token(AUD, now=EX.now, exp=timedelta(days=3650)))
    assert response.status_code == 401
    assert "lifetime" in response.json()["issue"][0]["diagnostics"]


def test_the_lifetime_cap_is_five_minutes_plus_leeway_and_a_setting(rsa_signer: Signer) -> None:
    client = client_for(secured_settings(EX, [rsa_signer]))
    five_plus = timedelta(minutes=5, seconds=30)
    assert _call(client, rsa_signer.token(AUD, now=EX.now, exp=five_plus)).status_code == 200
    too_long = five_plus + timedelta(seconds=1)
    assert _call(client, rsa_signer.token(AUD, now=EX.now, exp=too_long)).status_code == 401
    hour = client_for(secured_settings(EX, [rsa_signer], jwt_max_lifetime_seconds=3600))
    assert _call(hour, rsa_signer.token(AUD, now=EX.now, exp=timedelta(hours=1))).status_code == 200


# -- item 10: the replay cache ---------------------------------------------------------------------
def test_a_full_replay_cache_is_a_retryable_503_not_a_lockout(rsa_signer: Signer) -> None:
    settings = secured_settings(EX, [rsa_signer], jwt_replay_tokens_per_second=1)
    client = client_for(settings)
    capacity = 300 + 3 * 30  # one token a second over the longest lifetime, leeways included
    replay = client.app.state.trd.verifier.replay  # type: ignore[attr-defined]
    assert replay.max_entries == capacity
    for n in range(capacity):
        assert replay.first_use("other", f"j{n}", until=EX.now.timestamp() + 200, now=0.0)
    response = _call(client, rsa_signer.token(AUD, now=EX.now))
    assert response.status_code == 503, response.text
    assert 1 <= int(response.headers["retry-after"]) <= 200
    assert response.json()["issue"][0]["code"] == "transient"


def test_the_replay_cache_evicts_by_expiry() -> None:
    cache = ReplayCache(max_entries=3)
    assert cache.first_use("i", "a", until=10, now=0)
    assert cache.first_use("i", "b", until=50, now=0)
    assert cache.first_use("i", "c", until=20, now=0)
    with pytest.raises(BusyError) as full:
        cache.first_use("i", "d", until=60, now=5)
    assert full.value.retry_after == 5  # "a" expires at 10
    assert cache.first_use("i", "d", until=60, now=11)  # "a" gone, the others kept
    assert not cache.first_use("i", "b", until=50, now=11)  # still remembered: a replay
    assert not cache.first_use("i", "c", until=20, now=12)


def test_a_replay_is_still_refused_when_the_cache_is_full(rsa_signer: Signer) -> None:
    cache = ReplayCache(max_entries=1)
    assert cache.first_use("i", "a", until=100, now=0)
    assert not cache.first_use("i", "a", until=100, now=1)  # a replay is a 401, not a 503


# -- item 12: the sandbox's token ------------------------------------------------------------------
SANDBOX = "https://sandbox.cds-hooks.org"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"


def _sandbox_token(signer: Signer, now: datetime) -> str:
    """The shape the CDS Hooks sandbox sends: ES384, a uuid kid, a jku at its own site."""
    payload = {
        "iss": SANDBOX,
        "aud": AUD,
        "exp": int((now + timedelta(minutes=5)).timestamp()),
        "iat": int(now.timestamp()),
        "jti": str(uuid.uuid4()),
    }
    headers = {"typ": "JWT", "kid": signer.kid, "jku": SANDBOX_JKU}
    return jwt.encode(payload, signer.private, algorithm="ES384", headers=headers)


@pytest.fixture(scope="module")
def sandbox_signer() -> Signer:
    return Signer(ec.generate_private_key(ec.SECP384R1()), "ES384", str(uuid.uuid4()), SANDBOX)


def _no_fetch(url: str) -> dict[str, Any]:
    raise AssertionError(f"fetched {url}")


def test_the_sandbox_token_verifies_against_a_configured_key_set_offline(
    sandbox_signer: Signer,
) -> None:
    issuer = CdsIssuer(iss=SANDBOX, jwks=sandbox_signer.jwks(), jwks_urls=(SANDBOX_JKU,))
    verifier = CdsJwtVerifier([issuer], jwks=JwksCache(fetch=_no_fetch), now=lambda: EX.now)
    token = _sandbox_token(sandbox_signer, EX.now)
    assert verifier.verify(f"Bearer {token}", audience=AUD).iss == SANDBOX


def test_the_documented_sandbox_settings_work(sandbox_signer: Signer, tmp_path: Path) -> None:
    (tmp_path / "sandbox-jwks.json").write_text(json.dumps(sandbox_signer.jwks()))
    (tmp_path / "service.toml").write_text(
        f'public_base_url = "{PUBLIC}"\n[[cds_issuers]]\niss = "{SANDBOX}"\n'
        f'jwks_urls = ["{SANDBOX_JKU}"]\njwks_file = "sandbox-jwks.json"\n'
    )
    settings = load_service_settings(tmp_path / "service.toml", env={}, now=lambda: EX.now)
    client = client_for(settings)
    assert _call(client, _sandbox_token(sandbox_signer, EX.now)).status_code == 200


def test_a_jku_outside_the_issuers_urls_is_still_refused(sandbox_signer: Signer) -> None:
    issuer = CdsIssuer(iss=SANDBOX, jwks=sandbox_signer.jwks(), jwks_urls=(f"{SANDBOX}/keys",))
    verifier = CdsJwtVerifier([issuer], jwks=JwksCache(fetch=_no_fetch), now=lambda: EX.now)
    with pytest.raises(AuthError, match="jku"):
        verifier.verify(f"Bearer {_sandbox_token(sandbox_signer, EX.now)}", audience=AUD)


# -- item 10: the feedback store -------------------------------------------------------------------
def test_feedback_keeps_only_the_spec_fields_each_bounded(rsa_signer: Signer) -> None:
    client = client_for(secured_settings(EX, [rsa_signer]))
    url = f"{VIEW}/feedback"
    item = {
        "card": "c1",
        "outcome": "overridden",
        "outcomeTimestamp": "2026-09-01T10:00:00Z",
        "overrideReason": {
            "reason": {"code": "x", "system": "http://example.org", "pad": "y" * 1000},
            "userComment": "fine",
            "extra": "z" * 1000,
        },
        "padding": "p" * 1_000_000,
    }
    response = _call(
        client, rsa_signer.token(f"{PUBLIC}{url}", now=EX.now), url, {"feedback": [item]}
    )
    assert response.status_code == 200, response.text
    (kept,) = client.app.state.trd.feedback.all()  # type: ignore[attr-defined]
    assert "padding" not in kept
    assert set(kept["overrideReason"]) == {"reason", "userComment"}
    assert set(kept["overrideReason"]["reason"]) == {"code", "system"}
    assert len(json.dumps(kept)) < 2_000
    long_card = {**item, "card": "c" * 5000}
    del long_card["padding"]
    token = rsa_signer.token(f"{PUBLIC}{url}", now=EX.now)
    assert _call(client, token, url, {"feedback": [long_card]}).status_code == 400


def test_the_feedback_store_bounds_its_items() -> None:
    store = FeedbackStore(limit=2)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    store.add("s", [{"card": str(n), "outcome": "overridden"} for n in range(5)], now)
    assert [i["card"] for i in store.all()] == ["3", "4"]


# -- item 13: TRDFHIR_SMART_* merged per key -------------------------------------------------------
def test_one_smart_variable_changes_one_key_of_the_smart_table(tmp_path: Path) -> None:
    path = tmp_path / "service.toml"
    path.write_text(
        '[smart]\nclient_id = "trd"\niss = "https://ehr.example.org/fhir"\n'
        'issuers = ["https://ehr2.example.org/fhir"]\n'
    )
    settings = load_service_settings(path, env={"TRDFHIR_SMART_CLIENT_ID": "other"})
    assert dict(settings.smart) == {
        "client_id": "other",
        "iss": "https://ehr.example.org/fhir",
        "issuers": ["https://ehr2.example.org/fhir"],
    }
