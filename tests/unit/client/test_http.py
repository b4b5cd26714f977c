"""Retries, backoff, Retry-After, timeouts and error mapping of the HTTP layer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests
from urllib3.exceptions import NewConnectionError

from trdfhir.client import RetryPolicy, retry_after_seconds
from trdfhir.errors import AuthError, FhirServerError

from .fakes import Clock, Seen, capability, client_for, outcome


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=7)), now) == 7.0
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=7)), now) == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(backoff=0.5, max_backoff=3.0)
    assert [policy.wait_before(n, None) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 3.0]
    assert policy.wait_before(1, 9.0) == 9.0


def test_503_then_success_is_retried_with_backoff() -> None:
    replies = iter(
        [(503, outcome("transient", "busy"), {}), (503, None, {}), (200, capability(), {})]
    )
    client, fake, clock = client_for(lambda seen: next(replies))
    caps = client.capabilities()
    assert caps.fhir_version == "4.0.1"
    assert len(fake.seen) == 3
    assert clock.sleeps == [0.5, 1.0]


def test_retry_after_is_honoured() -> None:
    replies = iter([(429, None, {"Retry-After": "2"}), (200, capability(), {})])
    client, _fake, clock = client_for(lambda seen: next(replies))
    client.capabilities()
    assert clock.sleeps == [2.0]


def test_retries_are_bounded_by_attempts() -> None:
    client, fake, _ = client_for(lambda seen: (502, None, {}), retry=RetryPolicy(attempts=3))
    with pytest.raises(FhirServerError) as err:
        client.capabilities()
    assert len(fake.seen) == 3
    assert err.value.status == 502
    assert "HTTP 502" in err.value.message and "after 3 tries" in err.value.message


def test_retries_are_bounded_by_total_time() -> None:
    client, fake, clock = client_for(
        lambda seen: (503, None, {"Retry-After": "20"}),
        retry=RetryPolicy(attempts=10, max_total=30),
    )
    with pytest.raises(FhirServerError):
        client.capabilities()
    assert len(fake.seen) == 2  # 20 s waited once; a second wait would pass 30 s
    assert sum(clock.sleeps) <= 30


def test_a_plain_post_is_not_retried_after_502() -> None:
    client, fake, _ = client_for(lambda seen: (502, None, {}))
    with pytest.raises(FhirServerError):
        client.request("POST", "Observation", body={"resourceType": "Observation"})
    assert len(fake.seen) == 1


def test_a_plain_post_is_retried_after_503() -> None:
    replies = iter([(503, None, {}), (201, {"resourceType": "Observation", "id": "1"}, {})])
    client, fake, _ = client_for(lambda seen: next(replies))
    client.request("POST", "Observation", body={"resourceType": "Observation"})
    assert len(fake.seen) == 2


def test_500_is_not_retried_and_names_the_outcome() -> None:
    client, fake, _ = client_for(lambda seen: (500, outcome("exception", "db  is\nlocked"), {}))
    with pytest.raises(FhirServerError) as err:
        client.get_json("Observation", params={"patient": "p1"})
    assert len(fake.seen) == 1
    assert err.value.message == "search Observation: HTTP 500 Status (exception: db is locked)"
    assert "p1" not in err.value.message


def test_connection_refused_is_a_clear_error_after_bounded_retries() -> None:
    refused = requests.ConnectionError(
        requests.packages.urllib3.exceptions.MaxRetryError(  # type: ignore[attr-defined]
            None,
            "/",
            NewConnectionError(None, "refused"),  # type: ignore[arg-type]
        )
    )
    client, fake, _ = client_for(lambda seen: refused)
    with pytest.raises(FhirServerError) as err:
        client.capabilities()
    assert err.value.status is None
    assert (
        "cannot reach the FHIR server at https://fhir.test: connection refused" in err.value.message
    )
    assert len(fake.seen) == 3


def test_read_timeout_names_the_limit_and_every_call_has_a_timeout() -> None:
    client, fake, _ = client_for(lambda seen: requests.ReadTimeout("slow"), timeout=(1.0, 2.5))
    with pytest.raises(FhirServerError) as err:
        client.capabilities()
    assert "no answer from the FHIR server at https://fhir.test within 2.5 s" in err.value.message
    assert all(s.timeout == (1.0, 2.5) for s in fake.seen)


def test_a_plain_post_is_not_retried_after_a_read_timeout() -> None:
    client, fake, _ = client_for(lambda seen: requests.ReadTimeout("slow"))
    with pytest.raises(FhirServerError):
        client.request("POST", "Observation", body={"resourceType": "Observation"})
    assert len(fake.seen) == 1


def test_401_without_credentials_and_403() -> None:
    client, _, _ = client_for(lambda seen: (401, None, {}))
    with pytest.raises(AuthError, match="requires authorization"):
        client.capabilities()
    client, _, _ = client_for(lambda seen: (403, outcome("forbidden", "no scope"), {}))
    with pytest.raises(AuthError, match=r"forbidden \(HTTP 403\)"):
        client.read("Patient", "p1")


class Renewing:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.renewals = 0

    def authorization(self) -> str | None:
        return f"Bearer {self.tokens[0]}"

    def renew(self) -> bool:
        self.renewals += 1
        self.tokens.pop(0)
        return True


def test_401_renews_once_then_succeeds() -> None:
    def handler(seen: Seen) -> tuple[int, object, dict[str, str]]:
        if seen.headers.get("Authorization") == "Bearer fresh":
            return 200, capability(), {}
        return 401, None, {}

    auth = Renewing(["old", "fresh"])
    client, fake, _ = client_for(handler, auth=auth)
    client.capabilities()
    assert auth.renewals == 1
    assert [s.headers["Authorization"] for s in fake.seen] == ["Bearer old", "Bearer fresh"]


def test_401_after_renewal_is_a_clear_auth_error() -> None:
    auth = Renewing(["old", "fresh", "never-used"])
    client, fake, _ = client_for(lambda seen: (401, None, {}), auth=auth)
    with pytest.raises(AuthError, match="refused the credentials even after renewing"):
        client.capabilities()
    assert auth.renewals == 1
    assert len(fake.seen) == 2


def test_credentials_are_never_sent_to_another_origin() -> None:
    page = {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": [{"relation": "next", "url": "https://evil.example/fhir/Observation?page=2"}],
    }
    client, fake, _ = client_for(lambda seen: (200, page, {}))
    with pytest.raises(FhirServerError, match="another origin"):
        client.search("Observation", {"patient": "p1"})
    assert len(fake.seen) == 1


def test_credentials_over_plain_http_to_a_remote_host_are_refused() -> None:
    from trdfhir.auth import BearerToken
    from trdfhir.client import FhirClient

    with pytest.raises(AuthError, match="plain http"):
        FhirClient("http://ehr.example/fhir", auth=BearerToken("t"))
    FhirClient("http://127.0.0.1:9/fhir", auth=BearerToken("t")).close()
    FhirClient("http://ehr.example/fhir", auth=BearerToken("t"), allow_insecure_http=True).close()


def test_no_phi_or_token_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from trdfhir.auth import BearerToken

    replies = iter([(503, None, {}), (200, {"resourceType": "Patient", "id": "secret-id"}, {})])
    client, _, _ = client_for(lambda seen: next(replies), auth=BearerToken("tok-123"))
    with caplog.at_level(logging.DEBUG, logger="trdfhir"):
        client.read("Patient", "secret-id")
    text = caplog.text
    assert "read Patient" in text
    assert "secret-id" not in text and "tok-123" not in text


def test_clock_fake_is_monotonic() -> None:
    clock = Clock()
    clock.sleep(1.5)
    assert clock() == 1001.5
