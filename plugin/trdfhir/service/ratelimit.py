"""Rate limits of the unauthenticated endpoints (SMART launch, CDS discovery, `$trd-evaluate`),
per client address, and how that address is found.

    buckets = TokenBuckets(per_minute=30)
    wait = buckets.hit(client_address(request, settings.forwarded_header), now=time.monotonic())
    if wait is not None: ...   # 429, Retry-After: ceil(wait)

A token bucket per client: `per_minute` requests in a burst, refilled at `per_minute` a minute.
The number of clients remembered is bounded (idle, full buckets are forgotten first, then the
least recently seen). The client address is the connection's peer, or, when `forwarded_header`
is configured (a reverse proxy in front that sets it), the last address in that header: the one
the trusted proxy added (an X-Forwarded-For a client sends itself comes before it). RateLimiter is
the interface a limiter shared by several worker processes would implement.
"""

from __future__ import annotations

import ipaddress
import math
import threading
from collections import OrderedDict
from typing import Protocol

from fastapi import Request

from ..errors import ThrottledError

DEFAULT_MAX_KEYS = 100_000


class RateLimiter(Protocol):
    def hit(self, key: str, now: float) -> float | None:
        """Count one request of `key`: None when allowed, else the seconds to wait."""
        ...


class TokenBuckets:
    """In-memory token buckets by key (one process)."""

    def __init__(self, per_minute: int, *, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        if per_minute < 1 or max_keys < 1:
            raise ValueError("a rate limit needs at least 1 request a minute and 1 key")
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens a second
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._buckets)

    def hit(self, key: str, now: float) -> float | None:
        with self._lock:
            tokens, at = self._buckets.pop(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + max(0.0, now - at) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                self._bound(now)
                return None
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate

    def _bound(self, now: float) -> None:
        if len(self._buckets) <= self.max_keys:
            return
        full = [
            key
            for key, (tokens, at) in self._buckets.items()
            if tokens + (now - at) * self.rate >= self.capacity
        ]
        for key in full[: len(self._buckets) - self.max_keys]:
            del self._buckets[key]
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)  # the least recently seen


def client_address(request: Request, forwarded_header: str | None) -> str:
    """The client's address: the peer, or the last address of the configured forwarding header
    (ignored when absent or not an IP address)."""
    peer = request.client.host if request.client is not None else "unknown"
    if not forwarded_header:
        return peer
    # every line of the header, in order: a proxy that adds a line of its own (rather than
    # extending the client's) puts the address it saw last
    value = ",".join(request.headers.getlist(forwarded_header.lower()))
    if not value:
        return peer
    last = value.split(",")[-1].strip()
    try:
        return str(ipaddress.ip_address(last))
    except ValueError:
        return peer


def throttle(limiter: RateLimiter | None, key: str, now: float, what: str) -> None:
    """ThrottledError (HTTP 429 with Retry-After) when `key` is over its rate."""
    if limiter is None:
        return
    wait = limiter.hit(key, now)
    if wait is not None:
        raise ThrottledError(
            f"too many {what} requests from this address; retry in {math.ceil(wait)} s",
            retry_after=wait,
        )


__all__ = ["RateLimiter", "TokenBuckets", "client_address", "throttle"]
