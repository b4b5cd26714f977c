"""What every face of the service shares: the loaded mappings, the clinical settings, the CDS
JWT verifier, the feedback store, and one evaluation (assessment + write-back Bundle)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from .. import __version__
from ..assessment import Assessment, evaluate
from ..auth.cds_jwt import CdsJwtVerifier, JwksCache, ReplayCache
from ..emit import emit_bundle
from ..errors import TrdFhirError
from ..limits import Limits, checkpoint, deadline
from ..mappings import Mappings, load_mappings
from ..model import DataWarning
from ..settings import Settings
from .ratelimit import RateLimiter, TokenBuckets, client_address, throttle
from .settings import ServiceSettings
from .shared import SharedStore

MAX_FEEDBACK = 10_000


@dataclass(frozen=True)
class Evaluation:
    assessment: Assessment
    summary: dict[str, Any]
    bundle: dict[str, Any] | None  # the write-back transaction Bundle
    bundle_problem: str | None  # why there is no Bundle


class FeedbackStore:
    """CDS Hooks feedback kept in memory (the newest MAX_FEEDBACK items)."""

    def __init__(self, limit: int = MAX_FEEDBACK) -> None:
        self._items: deque[dict[str, Any]] = deque(maxlen=limit)
        self._lock = threading.Lock()

    def add(self, service_id: str, items: list[dict[str, Any]], received: datetime) -> None:
        with self._lock:
            for item in items:
                self._items.append(
                    {"service": service_id, "received": received.isoformat(), **item}
                )

    def all(self, service_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [i for i in self._items if service_id in (None, i["service"])]


class ServiceState:
    """Built once per app by create_app; routers reach it as `request.app.state.trd`."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.maps: Mappings = load_mappings(settings.mappings_dir)
        self.clinical: Settings = self.maps.settings.with_overrides(dict(settings.evaluation))
        # what worker processes must share (service/shared.py); None: this process's memory
        self.shared = SharedStore.open(settings.state_path()) if settings.shared_state else None
        replay = ReplayCache.for_lifetime(
            settings.jwt_max_lifetime_seconds,
            settings.jwt_leeway_seconds,
            settings.jwt_replay_tokens_per_second,
        )
        self.verifier = CdsJwtVerifier(
            settings.cds_issuers,
            leeway=settings.jwt_leeway_seconds,
            max_lifetime=settings.jwt_max_lifetime_seconds,
            jwks=JwksCache(ttl=settings.jwks_cache_seconds),
            replay=self.shared.replay(replay.max_entries) if self.shared else replay,
            now=settings.now,
        )
        self.feedback = FeedbackStore()
        self.rates: dict[str, RateLimiter | None] = {
            name: self._limiter(name, per_minute) if per_minute else None
            for name, per_minute in (
                ("launch", settings.rate_limit_launch_per_minute),
                ("discovery", settings.rate_limit_discovery_per_minute),
                ("evaluate", settings.rate_limit_evaluate_per_minute),
            )
        }
        self.version = __version__
        self.smart_app = False  # set by create_app when the SMART app router is mounted
        # the time limit is set around evaluate() and emit() together, below
        self.limits = Limits(max_depth=settings.max_depth, max_resources=settings.max_resources)

    def _limiter(self, name: str, per_minute: int) -> RateLimiter:
        if self.shared is not None:
            return self.shared.rate_limiter(name, per_minute)
        return TokenBuckets(per_minute)

    def client(self, request: Any) -> str:
        """The client's address (the peer, or the configured trusted forwarding header)."""
        return client_address(request, self.settings.forwarded_header)

    def throttle(self, request: Any, name: str) -> None:
        """ThrottledError (429, Retry-After) when this client is over the `name` rate."""
        throttle(self.rates.get(name), self.client(request), time.monotonic(), name)

    def today(self) -> date:
        return self.settings.now().date()

    def evaluate(
        self,
        data: Any,
        as_of: date,
        *,
        emit: bool = True,
        warnings: Sequence[DataWarning] = (),
    ) -> Evaluation:
        """One evaluation within the limits: LimitError (HTTP 422) when the input is too deep or
        too big, or when evaluating and emitting take longer than max_evaluation_seconds.
        `warnings`: about input the service left out before evaluating (they join the record's)."""
        with deadline(self.settings.max_evaluation_seconds):
            assessment = evaluate(
                data, as_of=as_of, settings=self.clinical, mappings=self.maps, limits=self.limits
            )
            if warnings:
                record = replace(
                    assessment.record, warnings=(*assessment.record.warnings, *warnings)
                )
                assessment = replace(assessment, record=record)
            checkpoint("writing the Bundle")
            bundle, problem = self.emit(assessment) if emit else (None, "not requested")
        return Evaluation(
            assessment=assessment,
            summary=assessment.summary(),
            bundle=bundle,
            bundle_problem=problem,
        )

    def emit(self, assessment: Assessment) -> tuple[dict[str, Any] | None, str | None]:
        try:
            bundle = emit_bundle(
                assessment, now=self.settings.now(), device_ref=self.settings.device_reference
            )
        except TrdFhirError as exc:
            return None, exc.one_line()
        return bundle, None
