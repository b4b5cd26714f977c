"""Subscription notifications: re-evaluate the patient and write the assessment back.

    POST /subscriptions/notify                  a notification (classic R4 rest-hook with the
    PUT  /subscriptions/notify/{type}/{id}      resource as payload, or a Backport IG Bundle)
    GET  /subscriptions/status                  counters (received, queued, written, failed, ...)

Mounted when `subscription_secret` is set (with `fhir_base_url`, the server written back to).
Every call must carry `Authorization: Bearer <subscription_secret>` (what `trd-fhir subscribe`
puts in the Subscription's channel.header); anything else is 401.

A notification names a patient (the resource's subject/patient, a Patient itself, or the
Backport event's additional-context), or only a focus resource, which is read to find its
patient. The patient goes on a bounded queue (full: 503 with Retry-After, so the server tries
again later); a notification seen before (same resource version, or same subscription event
number) and a patient already waiting are not queued twice. One worker takes patients off the
queue and does what `trd-fhir sync --write` does for one patient: reads the whole record,
evaluates it and writes back what the server lacks (conditional creates: idempotent), retrying
transient failures with exponential back-off. Resources trd-fhir wrote itself never trigger an
evaluation. Nothing of a notification is logged but counts.
"""

from __future__ import annotations

import functools
import hmac
import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..auth import BearerToken
from ..client import FhirClient
from ..emit import emit_bundle
from ..errors import FhirServerError, TrdFhirError
from ..fhir.values import reference_target
from ..ingest.bundle import is_own_output
from ..ingest.grouping import patient_of
from .http import FHIR_JSON, outcome

log = logging.getLogger("trdfhir.service")

RECENT = 10_000  # notification keys remembered for de-duplication
TRANSIENT = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Notice:
    """What a notification asks for: patients to re-evaluate, or focus resources to read."""

    kind: str  # "event", "handshake", "heartbeat", "ping", ...
    patients: tuple[str, ...] = ()
    focus: tuple[str, ...] = ()  # "Type/id" whose patient is unknown yet
    keys: tuple[str, ...] = ()  # de-duplication keys


def _version_key(resource: dict[str, Any]) -> str | None:
    meta = resource.get("meta") if isinstance(resource.get("meta"), dict) else {}
    version = (meta or {}).get("versionId") or (meta or {}).get("lastUpdated")
    rid = resource.get("id")
    if isinstance(rid, str) and isinstance(version, str):
        return f"{resource.get('resourceType')}/{rid}/{version}"
    return None


def _patients_of(resources: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(patient ids, keys) of resources that are inputs (trd-fhir's own output left out)."""
    patients: list[str] = []
    keys: list[str] = []
    for resource in resources:
        if is_own_output(resource):
            continue
        if resource.get("resourceType") == "Patient" and isinstance(resource.get("id"), str):
            owner: str | None = f"Patient/{resource['id']}"
        else:
            owner = patient_of(resource)
        if owner and owner.startswith("Patient/") and owner[8:] not in patients:
            patients.append(owner[8:])
        key = _version_key(resource)
        if key:
            keys.append(key)
    return patients, keys


def _ref(value: Any) -> str | None:
    target = reference_target(value) if isinstance(value, dict) else None
    if target and target.count("/") == 1:
        return target
    return None


def parse_notice(body: Any, path_ref: str | None = None) -> Notice:
    """A notification body (None: empty) -> Notice. Raises ValueError when it is not one."""
    if body is None:
        return Notice("ping", focus=(path_ref,) if path_ref else ())
    if not isinstance(body, dict) or not isinstance(body.get("resourceType"), str):
        raise ValueError("the notification is not a FHIR resource")
    if body["resourceType"] == "Bundle" and body.get("type") == "history":
        return _backport(body)
    if body["resourceType"] == "Bundle":
        resources = [
            e["resource"]
            for e in body.get("entry") or []
            if isinstance(e, dict) and isinstance(e.get("resource"), dict)
        ]
    else:
        resources = [body]
    patients, keys = _patients_of(resources)
    if all(is_own_output(r) for r in resources):
        return Notice("own-output")
    return Notice("resource", patients=tuple(patients), keys=tuple(keys))


def _backport(bundle: dict[str, Any]) -> Notice:
    entries = [e for e in bundle.get("entry") or [] if isinstance(e, dict)]
    first = entries[0].get("resource") if entries else None
    if not isinstance(first, dict) or first.get("resourceType") not in (
        "Parameters",
        "SubscriptionStatus",
    ):
        raise ValueError("a history Bundle without a SubscriptionStatus first")
    kind = "event-notification"
    subscription = ""
    events: list[dict[str, Any]] = []
    if first["resourceType"] == "Parameters":
        for p in first.get("parameter") or []:
            if not isinstance(p, dict):
                continue
            if p.get("name") == "type":
                kind = str(p.get("valueCode"))
            elif p.get("name") == "subscription":
                subscription = str((p.get("valueReference") or {}).get("reference") or "")
            elif p.get("name") in ("notification-event", "notificationEvent"):
                event: dict[str, Any] = {"context": []}
                for part in p.get("part") or []:
                    name = part.get("name") if isinstance(part, dict) else None
                    if name in ("event-number", "eventNumber"):
                        event["number"] = part.get("valueString") or part.get("valueInteger")
                    elif name == "focus":
                        event["focus"] = _ref(part.get("valueReference"))
                    elif name in ("additional-context", "additionalContext"):
                        event["context"].append(_ref(part.get("valueReference")))
                events.append(event)
    else:  # R4B SubscriptionStatus
        kind = str(first.get("type"))
        subscription = str((first.get("subscription") or {}).get("reference") or "")
        for e in first.get("notificationEvent") or []:
            if isinstance(e, dict):
                events.append(
                    {
                        "number": e.get("eventNumber"),
                        "focus": _ref(e.get("focus")),
                        "context": [_ref(c) for c in e.get("additionalContext") or []],
                    }
                )
    if kind != "event-notification":
        return Notice(kind)
    included = [e["resource"] for e in entries[1:] if isinstance(e.get("resource"), dict)]
    patients, keys = _patients_of(included)
    own = {f"{r.get('resourceType')}/{r.get('id')}" for r in included if is_own_output(r)}
    known = {f"{r.get('resourceType')}/{r.get('id')}" for r in included}
    focus: list[str] = []
    for event in events:
        if event.get("number") is not None:
            keys.append(f"{subscription}#{event['number']}")
        context = [c[8:] for c in event["context"] if c and c.startswith("Patient/")]
        target = event.get("focus")
        if target in own:
            continue
        if target and target.startswith("Patient/"):
            context.append(target[8:])
        for pid in context:
            if pid not in patients:
                patients.append(pid)
        if not context and target and target not in known:
            focus.append(target)
    return Notice("event", patients=tuple(patients), focus=tuple(focus), keys=tuple(keys))


@dataclass
class Counters:
    received: int = 0
    duplicates: int = 0
    queued: int = 0
    refused_busy: int = 0
    evaluated: int = 0
    written: int = 0  # resources written back
    failed: int = 0
    retries: int = 0
    ignored: int = 0
    unauthorized: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class RecentKeys(Protocol):
    """Notification keys already handled. One process keeps them in memory (MemoryRecentKeys);
    worker processes share them (service/shared.py), so a notification delivered twice is
    handled once whichever worker receives it."""

    def all_seen(self, keys: Iterable[str]) -> bool: ...

    def remember(self, keys: Iterable[str]) -> None: ...

    def forget(self, keys: Iterable[str]) -> None: ...


class MemoryRecentKeys:
    """The newest RECENT keys, in memory (callers hold the receiver's lock)."""

    def __init__(self, limit: int = RECENT) -> None:
        self._recent: deque[str] = deque()
        self._set: set[str] = set()
        self._limit = limit

    def all_seen(self, keys: Iterable[str]) -> bool:
        return all(k in self._set for k in keys)

    def remember(self, keys: Iterable[str]) -> None:
        for key in keys:
            if key in self._set:
                continue
            self._recent.append(key)
            self._set.add(key)
            if len(self._recent) > self._limit:
                self._set.discard(self._recent.popleft())

    def forget(self, keys: Iterable[str]) -> None:
        for key in keys:  # (the deque entry stays until it ages out; it is no longer "seen")
            self._set.discard(key)


class Receiver:
    """The bounded queue, the de-duplication and the worker (see the module docstring)."""

    def __init__(
        self,
        process: Callable[[str], int],
        resolve: Callable[[str], str | None],
        *,
        queue_size: int = 1000,
        retries: int = 4,
        backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        recent: RecentKeys | None = None,
    ) -> None:
        self.process = process  # patient id -> resources written
        self.resolve = resolve  # "Type/id" -> patient id (or None)
        self.queue: queue.Queue[tuple[str, str]] = queue.Queue(maxsize=queue_size)
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        self.counters = Counters()
        self._lock = threading.Lock()
        self.recent: RecentKeys = recent if recent is not None else MemoryRecentKeys()
        self._pending: set[tuple[str, str]] = set()
        # the notification keys each queued job answers: forgotten when the job fails, so that
        # the server's redelivery of that notification is handled, not taken as a duplicate
        self._job_keys: dict[tuple[str, str], set[str]] = {}
        self._busy = 0
        self._idle = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._work, name="trd-subscriptions", daemon=True)
        self._thread.start()

    def submit(self, notice: Notice) -> str:
        """'queued', 'duplicate', 'ignored' or 'busy' (the queue is full)."""
        with self._lock:
            self.counters.received += 1
            if not notice.patients and not notice.focus:
                self.counters.ignored += 1
                return "ignored"
            if notice.keys and self.recent.all_seen(notice.keys):
                self.counters.duplicates += 1
                return "duplicate"
            jobs: list[tuple[str, str]] = [
                ("patient", p) for p in notice.patients if ("patient", p) not in self._pending
            ]
            jobs += [("focus", f) for f in notice.focus if ("focus", f) not in self._pending]
            if not jobs:  # coalesced into jobs already queued: they answer its keys too
                for job in [("patient", p) for p in notice.patients] + [
                    ("focus", f) for f in notice.focus
                ]:
                    if job in self._job_keys:
                        self._job_keys[job].update(notice.keys)
                self.counters.duplicates += 1
                self.recent.remember(notice.keys)
                return "duplicate"
            if self.queue.maxsize - self.queue.qsize() < len(jobs):
                self.counters.refused_busy += 1
                return "busy"
            for job in jobs:
                self._pending.add(job)
                self._job_keys.setdefault(job, set()).update(notice.keys)
                self.queue.put_nowait(job)
                self.counters.queued += 1
            self.recent.remember(notice.keys)
            return "queued"

    def _work(self) -> None:
        while True:
            job = self.queue.get()
            with self._lock:
                self._pending.discard(job)
                keys = self._job_keys.pop(job, set())
                self._busy += 1
            done = False
            try:
                done = self._run(job)
            except Exception as exc:  # never let the worker die
                log.error("subscription worker: %s", type(exc).__name__)
                with self._lock:
                    self.counters.failed += 1
            finally:
                if not done and keys:
                    with self._lock:
                        self.recent.forget(keys)
                with self._lock:
                    self._busy -= 1
                    self._idle.notify_all()

    def _run(self, job: tuple[str, str]) -> bool:
        """True when the job is done (re-evaluated, or nothing to do); False when it failed."""
        kind, value = job
        for attempt in range(1, self.retries + 1):
            try:
                pid = value if kind == "patient" else self.resolve(value)
                if pid is None:
                    with self._lock:
                        self.counters.ignored += 1
                    return True
                written = self.process(pid)
            except TrdFhirError as exc:
                transient = isinstance(exc, FhirServerError) and (
                    exc.unreachable or exc.status in TRANSIENT
                )
                if transient and attempt < self.retries:
                    with self._lock:
                        self.counters.retries += 1
                    self.sleep(min(60.0, self.backoff * 2 ** (attempt - 1)))
                    continue
                log.warning("re-evaluation after a notification failed: %s", type(exc).__name__)
                with self._lock:
                    self.counters.failed += 1
                return False
            with self._lock:
                self.counters.evaluated += 1
                self.counters.written += written
            log.info("re-evaluated a patient after a notification: %d resources written", written)
            return True
        return False

    def count_unauthorized(self) -> None:
        with self._lock:
            self.counters.unauthorized += 1

    def wait_idle(self, timeout: float) -> bool:
        """True when nothing is queued or running (for tests and shutdown)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self.queue.qsize() or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.1))
        return True

    def stats(self) -> dict[str, Any]:
        with self._lock:
            c = self.counters
            return {
                "received": c.received,
                "duplicates": c.duplicates,
                "queued": c.queued,
                "refused_busy": c.refused_busy,
                "waiting": self.queue.qsize(),
                "running": self._busy,
                "evaluated": c.evaluated,
                "written": c.written,
                "failed": c.failed,
                "retries": c.retries,
                "ignored": c.ignored,
                "unauthorized": c.unauthorized,
            }


def make_receiver(state: Any) -> Receiver:
    """The receiver of a service: the FHIR server of `fhir_base_url`, sync's per-patient write."""
    from ..commands.sync import sync_patient

    settings = state.settings
    auth = (
        BearerToken(settings.subscription_fhir_token) if settings.subscription_fhir_token else None
    )
    emitter = functools.partial(emit_bundle, device_ref=settings.device_reference)

    clients: list[FhirClient] = []  # one, made on first use; only the worker thread uses it

    def client() -> FhirClient:
        if not clients:
            clients.append(FhirClient(settings.fhir_base_url, auth=auth))
        return clients[0]

    def process(pid: str) -> int:
        result = sync_patient(
            client(),
            pid,
            as_of=state.today(),
            settings=state.clinical,
            mappings=state.maps,
            write=True,
            now=settings.now(),
            emitter=emitter,
        )
        return result.written

    def resolve(ref: str) -> str | None:
        rtype, _, rid = ref.partition("/")
        try:
            resource = client().read(rtype, rid)
        except FhirServerError as exc:
            if exc.status in (404, 410):
                return None
            raise
        if is_own_output(resource):
            return None
        owner = f"Patient/{rid}" if rtype == "Patient" else patient_of(resource)
        return owner[8:] if owner and owner.startswith("Patient/") else None

    return Receiver(
        process,
        resolve,
        queue_size=settings.subscription_queue_size,
        retries=settings.subscription_retries,
        recent=shared.notices() if (shared := getattr(state, "shared", None)) else None,
    )


def _answer(status: int, severity: str, code: str, text: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        outcome(severity, code, text), status_code=status, media_type=FHIR_JSON, headers=headers
    )


def create_router(state: Any) -> APIRouter:
    settings = state.settings
    secret = f"Bearer {settings.subscription_secret}".encode()
    receiver = make_receiver(state)
    state.subscriptions = receiver
    router = APIRouter()

    def authorized(request: Request) -> bool:
        given = (request.headers.get("authorization") or "").encode()
        ok = hmac.compare_digest(given, secret)
        if not ok:
            receiver.count_unauthorized()
        return ok

    async def notify(
        request: Request, rtype: str | None = None, rid: str | None = None
    ) -> JSONResponse:
        if not authorized(request):
            return _answer(
                401,
                "error",
                "security",
                "the notification lacks the shared secret",
                **{"WWW-Authenticate": "Bearer"},
            )
        raw = await request.body()
        if len(raw) > settings.max_body_bytes:
            return _answer(413, "error", "too-costly", "the notification is too large")
        try:
            body = json.loads(raw) if raw.strip() else None
            path_ref = f"{rtype}/{rid}" if rtype and rid else None
            notice = parse_notice(body, path_ref)
        except ValueError as exc:
            return _answer(400, "error", "invalid", f"not a notification: {exc}")
        result = receiver.submit(notice)
        if result == "busy":
            return _answer(
                503, "error", "transient", "too many notifications waiting", **{"Retry-After": "5"}
            )
        return _answer(200, "information", "informational", f"notification {result}")

    router.add_api_route("/subscriptions/notify", notify, methods=["POST"], include_in_schema=True)
    router.add_api_route(
        "/subscriptions/notify/{rtype}/{rid}",
        notify,
        methods=["POST", "PUT"],
        include_in_schema=True,
    )

    async def status(request: Request) -> JSONResponse:
        if not authorized(request):
            return _answer(401, "error", "security", "the request lacks the shared secret")
        return JSONResponse(receiver.stats())

    router.add_api_route("/subscriptions/status", status, methods=["GET"])
    return router


__all__ = ["Notice", "Receiver", "create_router", "make_receiver", "parse_notice"]
