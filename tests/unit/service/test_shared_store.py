"""The stores that worker processes share (service/shared.py): two SharedStore objects on one
file stand for two workers; each store keeps the rule of its one-process twin."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from trdfhir.auth.smart import PendingLaunch, SmartClient, SmartConfiguration, StateError
from trdfhir.errors import BusyError, SettingsError, ThrottledError
from trdfhir.service import ServiceSettings, create_app
from trdfhir.service.ratelimit import TokenBuckets
from trdfhir.service.shared import SharedStore
from trdfhir.service.subscriptions import MemoryRecentKeys


@pytest.fixture
def two(tmp_path: Path) -> tuple[SharedStore, SharedStore]:
    return SharedStore.open(tmp_path / "state"), SharedStore.open(tmp_path / "state")


def test_the_file_is_private(tmp_path: Path) -> None:
    store = SharedStore.open(tmp_path / "state")
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700
    assert store.path.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("mode", [0o770, 0o707])
def test_a_state_dir_others_may_write_to_is_refused(tmp_path: Path, mode: int) -> None:
    shared = tmp_path / "shared-state"
    shared.mkdir(mode=0o700)
    shared.chmod(mode)
    with pytest.raises(SettingsError, match="writable by others"):
        SharedStore.open(shared)


def test_a_store_file_others_may_write_to_is_refused(tmp_path: Path) -> None:
    SharedStore.open(tmp_path / "state")
    (tmp_path / "state" / "service-state.sqlite3").chmod(0o666)
    with pytest.raises(SettingsError, match="writable by others"):
        SharedStore.open(tmp_path / "state")


def test_a_token_accepted_by_one_worker_is_a_replay_for_the_other(
    two: tuple[SharedStore, SharedStore],
) -> None:
    a, b = two[0].replay(10), two[1].replay(10)
    assert a.first_use("iss", "jti-1", until=100.0, now=0.0)
    assert not b.first_use("iss", "jti-1", until=100.0, now=50.0)
    assert b.first_use("other-iss", "jti-1", until=100.0, now=50.0)  # per issuer
    assert b.first_use("iss", "jti-1", until=300.0, now=100.5)  # expired: forgotten


def test_a_full_shared_replay_cache_is_busy_until_the_oldest_expires(
    two: tuple[SharedStore, SharedStore],
) -> None:
    a, b = two[0].replay(2), two[1].replay(2)
    assert a.first_use("i", "x", until=10.0, now=0.0)
    assert b.first_use("i", "y", until=30.0, now=0.0)
    with pytest.raises(BusyError) as full:
        a.first_use("i", "z", until=40.0, now=4.0)
    assert full.value.retry_after == 6.0
    assert b.first_use("i", "z", until=40.0, now=11.0)


def test_a_rate_limit_is_one_budget_across_workers(two: tuple[SharedStore, SharedStore]) -> None:
    a, b = two[0].rate_limiter("launch", 4), two[1].rate_limiter("launch", 4)
    memory = TokenBuckets(4)
    shared = [(a if n % 2 else b).hit("10.0.0.1", now=100.0) for n in range(5)]
    alone = [memory.hit("10.0.0.1", now=100.0) for _ in range(5)]
    assert shared == alone == [None, None, None, None, 15.0]  # 4 a minute: one every 15 s
    assert a.hit("10.0.0.2", now=100.0) is None  # per address
    assert b.hit("10.0.0.1", now=115.0) is None  # refilled: one token after 15 s
    assert two[0].rate_limiter("discovery", 4).hit("10.0.0.1", now=115.0) is None  # per limit


def _launch(state_ttl: float = 600.0) -> PendingLaunch:
    config = SmartConfiguration(
        iss="https://ehr.example.org/fhir",
        authorization_endpoint="https://ehr.example.org/auth",
        token_endpoint="https://ehr.example.org/token",  # noqa: S106 (a URL)
    )
    return PendingLaunch.new(
        iss="https://ehr.example.org/fhir", config=config, launch="L1", scope="", ttl=state_ttl
    )


def test_a_launch_started_on_one_worker_finishes_on_the_other_once(
    two: tuple[SharedStore, SharedStore],
) -> None:
    a = two[0].launches(limit=10, per_client=2)
    b = two[1].launches(limit=10, per_client=2)
    pending = _launch()
    a.put(pending, client="10.0.0.1")
    assert b.take(pending.state) == pending
    with pytest.raises(StateError) as used:
        a.take(pending.state)
    assert used.value.reason == "used"
    with pytest.raises(StateError) as unknown:
        b.take("not-ours")
    assert unknown.value.reason == "unknown"


def test_shared_launches_are_bounded_per_client_and_overall(
    two: tuple[SharedStore, SharedStore],
) -> None:
    a = two[0].launches(limit=3, per_client=2)
    b = two[1].launches(limit=3, per_client=2)
    a.put(_launch(), client="10.0.0.1")
    b.put(_launch(), client="10.0.0.1")
    with pytest.raises(ThrottledError):
        a.put(_launch(), client="10.0.0.1")
    b.put(_launch(), client="10.0.0.2")
    with pytest.raises(BusyError):
        a.put(_launch(), client="10.0.0.3")


def test_an_expired_shared_launch_is_refused(two: tuple[SharedStore, SharedStore]) -> None:
    a = two[0].launches(limit=3, per_client=2)
    pending = _launch(state_ttl=-1.0)
    a.put(pending)
    with pytest.raises(StateError) as expired:
        two[1].launches(limit=3, per_client=2).take(pending.state)
    assert expired.value.reason == "expired"


def test_a_session_record_is_read_by_the_other_worker_until_it_expires(
    two: tuple[SharedStore, SharedStore],
) -> None:
    a, b = two[0].sessions(limit=2), two[1].sessions(limit=2)
    client = SmartClient(client_id="app", redirect_uri="https://trd.example.org/app/callback")
    a.put("s1", time.time() + 60, client)
    assert b.get("s1") == client
    a.put("s2", time.time() + 120, client)
    a.put("s3", time.time() + 180, client)  # over the limit: the soonest to expire goes
    assert b.get("s1") is None and b.get("s3") == client
    b.put("old", time.time() - 1, client)
    assert a.get("old") is None
    b.drop("s3")
    assert a.get("s3") is None


def test_notification_keys_are_shared_and_behave_as_in_memory(
    two: tuple[SharedStore, SharedStore],
) -> None:
    a, b = two[0].notices(), two[1].notices()
    memory = MemoryRecentKeys()
    for keys in (a, memory):
        assert not keys.all_seen(["n1", "n2"])
        keys.remember(["n1"])
        assert keys.all_seen(["n1"]) and not keys.all_seen(["n1", "n2"])
    assert b.all_seen(["n1"])
    for keys in (b, memory):  # a failed job's keys are forgotten, by any worker
        keys.forget(["n1"])
        assert not keys.all_seen(["n1"])
    assert not a.all_seen(["n1"])


def test_the_shared_stores_are_chosen_with_several_workers_or_when_asked(tmp_path: Path) -> None:
    one = create_app(ServiceSettings(cds_auth_required=False))
    assert one.state.trd.shared is None
    several = ServiceSettings(state_dir=str(tmp_path / "s"), workers=2)
    asked = ServiceSettings(state_dir=str(tmp_path / "s"), state_store="sqlite")
    for settings in (several, asked):
        app = create_app(settings)
        state = app.state.trd
        assert state.shared is not None and state.shared.path.parent == tmp_path / "s"
        assert type(state.verifier.replay).__name__ == "SharedReplayCache"
        assert type(state.rates["launch"]).__name__ == "SharedTokenBuckets"
    memory = create_app(ServiceSettings(workers=2, state_store="memory"))
    assert memory.state.trd.shared is None


def test_a_smart_session_made_on_one_worker_works_on_the_other(tmp_path: Path) -> None:
    from trdfhir.auth.smart import TokenHolder, parse_token_response
    from trdfhir.service.smart_app import AppSession, SmartAppSettings, SmartRuntime

    settings = SmartAppSettings.from_mapping({})
    one = SmartRuntime(settings, SharedStore.open(tmp_path / "state"))
    other = SmartRuntime(settings, SharedStore.open(tmp_path / "state"))
    tokens = parse_token_response(
        {"access_token": "at-1", "token_type": "Bearer", "expires_in": 3600, "patient": "p1"},
        requested_scope="launch patient/Observation.rs",
    )
    config = _launch().config
    client = SmartClient(client_id="app", redirect_uri="https://trd.example.org/app/callback")
    session = AppSession(
        id="sid-1",
        iss="https://ehr.example.org/fhir",
        patient="p1",
        holder=TokenHolder(tokens, config, client),
        csrf="csrf-1",
        expires=time.time() + 600,
        as_of=None,
    )
    one.sessions.add(session)
    seen = other.sessions.get("sid-1")
    assert seen is not None and seen is not session
    assert (seen.patient, seen.csrf, seen.iss) == ("p1", "csrf-1", "https://ehr.example.org/fhir")
    assert seen.holder.tokens == tokens and seen.holder.authorization() == "Bearer at-1"
    assert other.sessions.get("sid-1") is seen  # kept in that process while the tokens match
    other.sessions.drop("sid-1")
    assert one.sessions.get("sid-1") is None  # logged out everywhere


def test_tokens_refreshed_by_one_worker_reach_the_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    import trdfhir.auth.smart as smart
    from trdfhir.auth.smart import TokenHolder, parse_token_response
    from trdfhir.service.smart_app import AppSession, SmartAppSettings, SmartRuntime

    settings = SmartAppSettings.from_mapping({})
    one = SmartRuntime(settings, SharedStore.open(tmp_path / "state"))
    other = SmartRuntime(settings, SharedStore.open(tmp_path / "state"))
    tokens = parse_token_response(
        {"access_token": "at-1", "token_type": "Bearer", "refresh_token": "rt-1", "patient": "p1"},
        requested_scope="launch patient/Observation.rs",
    )
    client = SmartClient(client_id="app", redirect_uri="https://trd.example.org/app/callback")
    session = AppSession(
        id="sid-2",
        iss="https://ehr.example.org/fhir",
        patient="p1",
        holder=TokenHolder(tokens, _launch().config, client),
        csrf="csrf-2",
        expires=time.time() + 600,
        as_of=None,
    )
    assert isinstance(one.sessions, type(other.sessions))
    session.holder = one.sessions.holder(session)  # type: ignore[union-attr]
    one.sessions.add(session)
    before = other.sessions.get("sid-2")
    assert before is not None and before.holder.authorization() == "Bearer at-1"
    rotated = replace(tokens, access_token="at-2", refresh_token="rt-2")  # noqa: S106 (fake)
    monkeypatch.setattr(smart, "refresh", lambda *a, **k: rotated)
    assert session.holder.renew()  # worker one refreshes (e.g. after a 401)
    after = other.sessions.get("sid-2")
    assert after is not None and after is not before
    assert after.holder.authorization() == "Bearer at-2"
    assert after.holder.tokens.refresh_token == "rt-2"  # noqa: S105 (fake)
