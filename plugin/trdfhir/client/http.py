"""HTTP under the FHIR client: one requests.Session, timeouts on every call, bounded retries.

Retried: HTTP 429/502/503/504 and network failures, with exponential backoff that honours
Retry-After, bounded both by a number of attempts and by a total time budget. A request that is
not idempotent is retried only when the server cannot have acted on it (429, 503, or a
connection that was never opened).

Logging never carries PHI or tokens: only the interaction ("search Observation"), status codes,
counts and durations. URLs (which hold patient ids) and bodies are never logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin

import requests
from urllib3.exceptions import NewConnectionError

from .. import logsafety
from ..errors import FhirServerError
from ..urls import is_loopback as is_loopback
from ..urls import origin_of, same_origin

log = logging.getLogger("trdfhir.client")
logsafety.install()  # urllib3 logs request URLs, which carry patient ids

RETRY_STATUSES = frozenset({429, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
# Statuses that say the server did not act on the request: safe to retry even a plain POST.
NOT_ACTED_STATUSES = frozenset({429, 503})

Timeout = tuple[float, float]
DEFAULT_TIMEOUT: Timeout = (5.0, 30.0)  # (connect, read) seconds


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. `attempts` counts every try, the first included; `max_total` bounds the
    whole exchange (tries and waits) in seconds."""

    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_total: float = 30.0
    statuses: frozenset[int] = field(default=RETRY_STATUSES)

    def wait_before(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before try number `attempt + 1` (attempt counts from 1)."""
        if retry_after is not None:
            return max(0.0, retry_after)
        return float(min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))


NO_RETRY = RetryPolicy(attempts=1)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After: delay-seconds or an HTTP-date -> seconds from now (None if absent/invalid)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _never_sent(exc: requests.ConnectionError) -> bool:
    """True when the connection was never opened, so the server cannot have seen the request."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason: Any = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)
    return isinstance(reason, NewConnectionError)


def _network_failure(exc: requests.RequestException, timeout: Timeout, origin: str) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return f"cannot reach the FHIR server at {origin}: no connection within {timeout[0]:g} s"
    if isinstance(exc, requests.Timeout):
        return f"no answer from the FHIR server at {origin} within {timeout[1]:g} s (read timeout)"
    if isinstance(exc, requests.ConnectionError):
        how = "connection refused" if _never_sent(exc) else "connection failed"
        return f"cannot reach the FHIR server at {origin}: {how}"
    return f"request to the FHIR server at {origin} failed ({type(exc).__name__})"


@dataclass
class Exchange:
    """The outcome of `send`: the last response (any status) and how long it all took."""

    response: requests.Response
    attempts: int
    seconds: float


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    what: str,
    policy: RetryPolicy,
    timeout: Timeout,
    idempotent: bool,
    headers: Callable[[], Mapping[str, str]] | None = None,
    params: Any = None,
    data: Any = None,
    json_body: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    stream: bool = False,
) -> Exchange:
    """Send with bounded retries. Returns the final response whatever its status; raises
    FhirServerError (status None) when the server could not be reached or never answered.
    `headers` is called before every try, so a renewed token is picked up."""
    start = clock()
    attempt = 0
    while True:
        attempt += 1
        begun = clock()
        try:
            response = _request_on_this_origin(
                session,
                method,
                url,
                what=what,
                params=params,
                data=data,
                json_body=json_body,
                headers=dict(headers()) if headers else None,
                timeout=timeout,
                stream=stream,
            )
        except requests.RequestException as exc:
            failure = _network_failure(exc, timeout, origin_of(url))
            retryable = idempotent or (
                isinstance(exc, requests.ConnectionError) and _never_sent(exc)
            )
            log.info(
                "%s: %s (try %d, %.0f ms)", what, type(exc).__name__, attempt, _ms(clock() - begun)
            )
            wait = policy.wait_before(attempt, None)
            if not retryable or not _room(policy, attempt, start, wait, clock):
                tries = f" after {attempt} tries" if attempt > 1 else ""
                raise FhirServerError(f"{what}: {failure}{tries}", unreachable=True) from None
            sleep(wait)
            continue
        status = response.status_code
        log.debug("%s -> %d (%.0f ms)", what, status, _ms(clock() - begun))
        if status in policy.statuses and (idempotent or status in NOT_ACTED_STATUSES):
            delay = retry_after_seconds(response.headers.get("Retry-After"))
            wait = policy.wait_before(attempt, delay)
            if _room(policy, attempt, start, wait, clock):
                log.info(
                    "%s: HTTP %d, retrying in %.1f s (try %d of %d)",
                    what,
                    status,
                    wait,
                    attempt,
                    policy.attempts,
                )
                response.close()
                sleep(wait)
                continue
        return Exchange(response=response, attempts=attempt, seconds=clock() - start)


def _request_on_this_origin(
    session: requests.Session,
    method: str,
    url: str,
    *,
    what: str,
    params: Any,
    data: Any,
    json_body: Any,
    headers: dict[str, str] | None,
    timeout: Timeout,
    stream: bool = False,
) -> requests.Response:
    """One request, following redirects only within the origin of `url` (at most
    MAX_REDIRECTS); a redirect to another origin is a FhirServerError, so credentials, patient
    ids in the path and bodies never reach a server nobody allowed."""
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        response = session.request(
            method,
            current,
            params=params,
            data=data,
            json=json_body,
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
            stream=stream,
        )
        location = response.headers.get("Location")
        if response.status_code not in REDIRECT_STATUSES or not location:
            return response
        response.close()
        target = urljoin(current, location)
        if not same_origin(target, url):
            raise FhirServerError(
                f"{what}: the server sent a redirect to another origin "
                f"({origin_of(target)}); not following it"
            )
        current, params = target, None
        if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
            method, data, json_body = "GET", None, None
    raise FhirServerError(f"{what}: more than {MAX_REDIRECTS} redirects; stopped")


def _room(
    policy: RetryPolicy, attempt: int, start: float, wait: float, clock: Callable[[], float]
) -> bool:
    return attempt < policy.attempts and (clock() - start) + wait <= policy.max_total


def _ms(seconds: float) -> float:
    return seconds * 1000.0
