"""Write-back of a transaction Bundle, serialised per patient.

- `post_transaction`: one atomic transaction; the response is checked entry by entry.
- `write_conditionally`: the fallback for servers without transactions: the entries one by one
  in transaction order (DELETE, POST, PUT/PATCH), dependencies first, `urn:uuid` references
  rewritten to the ids the server assigned, POSTs made conditional with If-None-Exist. It stops
  at the first error and reports exactly what was written before it (PartialWriteError).
- `write_bundle`: picks one of the two from the CapabilityStatement, under a per-patient lock,
  because servers race on concurrent conditional creates (smart-cdshooks.md §4.3).
"""

from __future__ import annotations

import copy
import logging
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, urlsplit

from ..errors import FhirServerError, InputError, TrdFhirError
from ..ingest.grouping import patient_of
from .core import FhirClient

log = logging.getLogger("trdfhir.client")

WriteMode = Literal["auto", "transaction", "conditional"]
_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}


class PartialWriteError(FhirServerError):
    """A write that stopped part way: `written` names what the server had already accepted."""

    def __init__(
        self, message: str, *, written: tuple[str, ...], status: int | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.written = written


@dataclass(frozen=True)
class WriteOutcome:
    mode: str
    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()  # conditional creates that matched an existing resource

    @property
    def written(self) -> int:
        return len(self.created) + len(self.updated) + len(self.deleted)

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "written": self.written,
            "created": list(self.created),
            "updated": list(self.updated),
            "deleted": list(self.deleted),
            "unchanged": list(self.unchanged),
        }


# -- per-patient serialisation -----------------------------------------------------------------
_locks: dict[tuple[str, str], tuple[threading.Lock, int]] = {}
_locks_guard = threading.Lock()


@contextmanager
def patient_lock(base: str, patient: str) -> Iterator[None]:
    """One writer at a time per (server, patient) in this process; the table only holds locks
    that are in use."""
    key = (base, patient)
    with _locks_guard:
        lock, users = _locks.get(key, (threading.Lock(), 0))
        _locks[key] = (lock, users + 1)
    try:
        with lock:
            yield
    finally:
        with _locks_guard:
            lock, users = _locks[key]
            if users <= 1:
                del _locks[key]
            else:
                _locks[key] = (lock, users - 1)


def bundle_patient(bundle: Mapping[str, Any]) -> str:
    """The patient a write-back Bundle is about ('Patient/x'), or '-' when none is named."""
    for entry in _entries(bundle):
        resource = entry.get("resource")
        if isinstance(resource, dict):
            owner = patient_of(resource)
            if owner and owner.startswith("Patient/"):
                return owner
    return "-"


def _entries(bundle: Mapping[str, Any]) -> list[dict[str, Any]]:
    entries = bundle.get("entry") or []
    return [e for e in entries if isinstance(e, dict)]


def _checked(bundle: Any) -> list[dict[str, Any]]:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InputError("write-back needs a Bundle")
    if bundle.get("type") != "transaction":
        raise InputError(f"write-back needs a transaction Bundle, got type {bundle.get('type')!r}")
    entries = _entries(bundle)
    for i, entry in enumerate(entries):
        request = entry.get("request")
        if (
            not isinstance(request, dict)
            or not isinstance(request.get("method"), str)
            or not isinstance(request.get("url"), str)
        ):
            raise InputError(
                "a transaction entry needs request.method and request.url",
                location=f"Bundle.entry[{i}].request",
            )
    return entries


def _method(entry: Mapping[str, Any]) -> str:
    return str(entry["request"]["method"]).upper()


def _is_idempotent(entries: list[dict[str, Any]]) -> bool:
    """Safe to send twice: no plain (unconditional) POST."""
    return all(_method(e) != "POST" or e["request"].get("ifNoneExist") for e in entries)


def describe_plan(bundle: Any) -> list[str]:
    """What a Bundle would do, PHI-free: ['POST Observation (if none exists)', ...]."""
    out = []
    for entry in _checked(bundle):
        request = entry["request"]
        rtype = urlsplit(request["url"]).path.split("/")[0] or "?"
        condition = " (if none exists)" if request.get("ifNoneExist") else ""
        if "?" in request["url"]:
            condition = " (conditional)"
        out.append(f"{_method(entry)} {rtype}{condition}")
    return out


def _status_code(text: Any) -> int:
    try:
        return int(str(text).strip().split()[0])
    except (ValueError, IndexError):
        return 0


def _location_ref(location: Any) -> str | None:
    """'http://x/fhir/Observation/1/_history/1' or 'Observation/1' -> 'Observation/1'."""
    if not isinstance(location, str) or not location:
        return None
    path = urlsplit(location).path.split("/_history")[0]
    parts = [p for p in path.split("/") if p]
    return f"{parts[-2]}/{parts[-1]}" if len(parts) >= 2 else None


def _classify(method: str, status: int, conditional_delete: bool) -> str:
    if method == "POST":
        return "created" if status == 201 else "unchanged"
    if method in ("PUT", "PATCH"):
        return "created" if status == 201 else "updated"
    if method == "DELETE":
        return "unchanged" if status == 204 and conditional_delete else "deleted"
    return "read"


class _Tally:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.kinds: dict[str, list[str]] = {
            "created": [],
            "updated": [],
            "deleted": [],
            "unchanged": [],
            "read": [],
        }

    def add(self, kind: str, ref: str) -> None:
        self.kinds[kind].append(ref)

    def written(self) -> tuple[str, ...]:
        k = self.kinds
        return (*k["created"], *k["updated"], *k["deleted"])

    def outcome(self) -> WriteOutcome:
        k = self.kinds
        return WriteOutcome(
            mode=self.mode,
            created=tuple(k["created"]),
            updated=tuple(k["updated"]),
            deleted=tuple(k["deleted"]),
            unchanged=tuple(k["unchanged"]),
        )


def _summary(refs: tuple[str, ...]) -> str:
    counts = Counter(r.split("/")[0] for r in refs)
    return ", ".join(f"{t} x{n}" for t, n in sorted(counts.items())) or "nothing"


# -- transaction -------------------------------------------------------------------------------
def post_transaction(client: FhirClient, bundle: Any) -> WriteOutcome:
    """POST one transaction Bundle; check the response accounts for every entry."""
    entries = _checked(bundle)
    if not entries:
        return WriteOutcome(mode="transaction")
    response = client.request(
        "POST",
        "",
        body=bundle,
        idempotent=_is_idempotent(entries),
        headers={"Prefer": "return=minimal"},
        what="transaction",
    )
    body = client.parse_json(response, "transaction")
    answers = body.get("entry") if body.get("resourceType") == "Bundle" else None
    if not isinstance(answers, list) or len(answers) != len(entries):
        raise FhirServerError(
            "transaction: the server's answer does not account for every entry; "
            "cannot tell what was written"
        )
    tally = _Tally("transaction")
    for entry, answer in zip(entries, answers, strict=True):
        reply = answer.get("response") if isinstance(answer, dict) else None
        status = _status_code(reply.get("status")) if isinstance(reply, dict) else 0
        if not 200 <= status < 300:
            raise FhirServerError(
                "transaction: the server answered 200 but an entry failed "
                f"(HTTP {status or '?'}); check what the server stored",
                status=status or None,
            )
        assert isinstance(reply, dict)  # noqa: S101 - checked through status above
        method = _method(entry)
        ref = _location_ref(reply.get("location")) or _resource_ref(answer.get("resource"))
        if ref is None:
            ref = _location_ref(entry["request"]["url"]) or entry["request"]["url"].split("?")[0]
        tally.add(_classify(method, status, "?" in entry["request"]["url"]), ref)
    outcome = tally.outcome()
    log.info(
        "transaction: %d entries, %d written (%s), %d already present",
        len(entries),
        outcome.written,
        _summary(tally.written()),
        len(outcome.unchanged),
    )
    return outcome


def _resource_ref(resource: Any) -> str | None:
    if isinstance(resource, dict) and isinstance(resource.get("id"), str):
        return f"{resource.get('resourceType')}/{resource['id']}"
    return None


# -- fallback: one conditional interaction at a time -------------------------------------------
def _urn_refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str) and item.startswith("urn:"):
                yield item
            else:
                yield from _urn_refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _urn_refs(item)


def _rewrite(value: Any, mapping: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {
            k: (
                mapping.get(v, v)
                if k == "reference" and isinstance(v, str)
                else _rewrite(v, mapping)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_rewrite(v, mapping) for v in value]
    return value


def _rewrite_query(text: str, mapping: Mapping[str, str]) -> str:
    for urn, ref in mapping.items():
        text = text.replace(urn, ref).replace(quote(urn, safe=""), quote(ref, safe=""))
    return text


def _ordered(entries: list[dict[str, Any]]) -> list[int]:
    """Transaction order (DELETE, POST, PUT/PATCH, GET), each entry after the entries whose
    urn:uuid it references; input order otherwise. Raises on a reference cycle."""
    urls = {e.get("fullUrl"): i for i, e in enumerate(entries) if isinstance(e.get("fullUrl"), str)}
    needs = []
    for i, entry in enumerate(entries):
        text = " ".join(str(entry["request"].get(k) or "") for k in ("url", "ifNoneExist"))
        deps = {urls[u] for u in _urn_refs(entry.get("resource")) if u in urls}
        deps |= {j for u, j in urls.items() if isinstance(u, str) and u in text}
        deps.discard(i)
        needs.append(deps)
    placed: list[int] = []
    done: set[int] = set()
    while len(placed) < len(entries):
        ready = [i for i in range(len(entries)) if i not in done and needs[i] <= done]
        if not ready:
            raise InputError("the write-back Bundle's urn:uuid references form a cycle")
        pick = min(ready, key=lambda i: (_ORDER.get(_method(entries[i]), 9), i))
        placed.append(pick)
        done.add(pick)
    return placed


def write_conditionally(client: FhirClient, bundle: Any) -> WriteOutcome:
    """The fallback for servers without transactions (see the module docstring)."""
    entries = _checked(bundle)
    mapping: dict[str, str] = {}
    for entry in entries:  # PUT Type/id: the id is known before anything is sent
        full = entry.get("fullUrl")
        ref = _location_ref(entry["request"]["url"])
        if isinstance(full, str) and _method(entry) == "PUT" and "?" not in entry["request"]["url"]:
            if ref:
                mapping[full] = ref
    tally = _Tally("conditional")
    order = _ordered(entries)
    for step, i in enumerate(order, start=1):
        entry = entries[i]
        try:
            kind, ref = _write_one(client, entry, mapping)
        except TrdFhirError as exc:
            written = tally.written()
            if not written:
                raise
            raise PartialWriteError(
                f"write-back stopped at entry {step} of {len(order)}: {exc.message}; "
                f"already written: {_summary(written)}",
                written=written,
                status=getattr(exc, "status", None),
            ) from None
        full = entry.get("fullUrl")
        if isinstance(full, str) and ref:
            mapping[full] = ref
        tally.add(kind, ref or "?")
    outcome = tally.outcome()
    log.info(
        "conditional writes: %d entries, %d written (%s), %d already present",
        len(entries),
        outcome.written,
        _summary(tally.written()),
        len(outcome.unchanged),
    )
    return outcome


def _write_one(
    client: FhirClient, entry: dict[str, Any], mapping: Mapping[str, str]
) -> tuple[str, str | None]:
    request = entry["request"]
    method = _method(entry)
    url = _rewrite_query(str(request["url"]), mapping)
    resource = _rewrite(copy.deepcopy(entry.get("resource")), mapping)
    unresolved = next(_urn_refs(resource), None) if resource is not None else None
    if unresolved is not None:
        raise InputError("the write-back Bundle references an entry it does not contain")
    headers = {"Prefer": "return=representation"}
    condition = request.get("ifNoneExist")
    if method == "POST" and isinstance(condition, str) and condition:
        headers["If-None-Exist"] = _rewrite_query(condition, mapping)
    if method in ("GET", "HEAD"):
        return "read", None
    response = client.request(
        method,
        url,
        body=resource if method in ("POST", "PUT", "PATCH") else None,
        headers=headers,
        idempotent=method != "POST" or "If-None-Exist" in headers,
    )
    status = response.status_code
    try:
        answer: Any = response.json() if response.content else None
    except ValueError:
        answer = None
    ref = _resource_ref(answer) or _location_ref(response.headers.get("Location"))
    if ref is None:
        ref = _location_ref(response.headers.get("Content-Location"))
    if ref is None and method == "POST" and "If-None-Exist" in headers:
        rtype = url.split("?")[0].strip("/")
        found = client.search(rtype, _query_pairs(headers["If-None-Exist"]), what=f"search {rtype}")
        ref = _resource_ref(found[0]) if len(found) == 1 else None
    if ref is None and method in ("PUT", "DELETE") and "?" not in url:
        ref = _location_ref(url)
    return _classify(method, status, "?" in url), ref


def _query_pairs(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query.lstrip("?"), keep_blank_values=True)


# -- what a write would change -----------------------------------------------------------------
@dataclass(frozen=True)
class WritePlan:
    """Which entries of a write-back Bundle the server already holds (PHI-free labels)."""

    new: tuple[str, ...]  # entries that would create a resource
    present: tuple[str, ...]  # conditional creates that would match an existing resource
    refresh: tuple[str, ...]  # updates of a resource that exists (e.g. the draft CarePlan)

    @property
    def redundant(self) -> bool:
        """Nothing but bookkeeping would be written: every resource exists already, except the
        Provenance that would record this very write."""
        return all(label.split()[1:2] == ["Provenance"] for label in self.new)

    def as_json(self) -> dict[str, Any]:
        return {"new": list(self.new), "present": list(self.present), "refresh": list(self.refresh)}


def _tag_searches(resource: Any) -> list[str]:
    meta = resource.get("meta") if isinstance(resource, dict) else None
    tags = meta.get("tag") if isinstance(meta, dict) else None
    return [
        f"_tag={t['system']}|{t['code']}"
        for t in tags or []
        if isinstance(t, dict)
        and isinstance(t.get("system"), str)
        and isinstance(t.get("code"), str)
    ]


def _existence_query(entry: Mapping[str, Any]) -> tuple[str, str] | None:
    """(type, search) that finds what an entry would touch; None when it always creates."""
    request = entry["request"]
    method = _method(entry)
    path, _, query = str(request["url"]).partition("?")
    rtype = path.strip("/").split("/")[0]
    if method == "POST":
        condition = request.get("ifNoneExist")
        return (rtype, str(condition).lstrip("?")) if condition else None
    if method in ("PUT", "PATCH"):
        if query:
            # An update changes nothing only if a match already carries every tag of the new
            # content (a writer can tag a content hash to make that checkable).
            return rtype, "&".join([query, *_tag_searches(entry.get("resource"))])
        parts = path.strip("/").split("/")
        return (rtype, f"_id={parts[1]}") if len(parts) >= 2 else None
    return None


def plan_write(client: FhirClient, bundle: Any) -> WritePlan:
    """Ask the server which entries already exist: one batch of searches when the server takes
    batches, else one search per entry. References to other entries (urn:uuid) in a search
    mean the entry depends on a new resource, so it is new too."""
    entries = _checked(bundle)
    queries: list[tuple[int, str, str]] = []
    labels = [
        describe_plan({"resourceType": "Bundle", "type": "transaction", "entry": [e]})[0]
        for e in entries
    ]
    new: list[str] = []
    for i, entry in enumerate(entries):
        if _method(entry) in ("DELETE", "GET", "HEAD"):
            continue
        query = _existence_query(entry)
        if query is None or "urn:" in query[1]:
            new.append(labels[i])
        else:
            queries.append((i, *query))
    found = _exists(client, [(rtype, q) for _, rtype, q in queries])
    present: list[str] = []
    refresh: list[str] = []
    for (i, _rtype, _q), exists in zip(queries, found, strict=True):
        if not exists:
            new.append(labels[i])
        elif _method(entries[i]) == "POST":
            present.append(labels[i])
        else:
            refresh.append(labels[i])
    return WritePlan(new=tuple(new), present=tuple(present), refresh=tuple(refresh))


def _exists(client: FhirClient, searches: list[tuple[str, str]]) -> list[bool]:
    if not searches:
        return []
    caps = client.capabilities()
    if "batch" in caps.interactions:
        batch = {
            "resourceType": "Bundle",
            "type": "batch",
            "entry": [
                {"request": {"method": "GET", "url": f"{rtype}?{query}&_count=1&_elements=id"}}
                for rtype, query in searches
            ],
        }
        response = client.request("POST", "", body=batch, idempotent=True, what="batch search")
        answer = client.parse_json(response, "batch search")
        results = answer.get("entry") if answer.get("resourceType") == "Bundle" else None
        if isinstance(results, list) and len(results) == len(searches):
            out = []
            for item in results:
                reply = item.get("response") if isinstance(item, dict) else None
                status = _status_code(reply.get("status")) if isinstance(reply, dict) else 0
                page = item.get("resource") if isinstance(item, dict) else None
                if not 200 <= status < 300 or not isinstance(page, dict):
                    raise FhirServerError(
                        f"batch search: an entry failed (HTTP {status or '?'})",
                        status=status or None,
                    )
                out.append(_has_match(page))
            return out
        log.info("batch search: unusable answer; searching one by one")
    return [
        _has_match(
            client.get_json(
                rtype, params=[*_query_pairs(query), ("_count", "1")], what=f"search {rtype}"
            )
        )
        for rtype, query in searches
    ]


def _has_match(page: Mapping[str, Any]) -> bool:
    for entry in page.get("entry") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            continue
        mode = (entry.get("search") or {}).get("mode", "match")
        if mode == "match" and entry["resource"].get("resourceType") != "OperationOutcome":
            return True
    return False


# -- the entry points --------------------------------------------------------------------------
def _lock_key(bundle: Any, patient: str | None) -> str:
    if patient:
        return patient if patient.startswith("Patient/") else f"Patient/{patient}"
    return bundle_patient(bundle)


def _write(client: FhirClient, bundle: Any, mode: WriteMode) -> WriteOutcome:
    use_transaction = mode == "transaction" or (
        mode == "auto" and client.capabilities().transaction
    )
    if use_transaction:
        return post_transaction(client, bundle)
    return write_conditionally(client, bundle)


def write_bundle(
    client: FhirClient,
    bundle: Any,
    *,
    patient: str | None = None,
    mode: WriteMode = "auto",
) -> WriteOutcome:
    """Write a transaction Bundle: as a transaction when the server offers them (or mode says
    so), else entry by entry; one writer per patient at a time."""
    _checked(bundle)
    with patient_lock(client.base, _lock_key(bundle, patient)):
        return _write(client, bundle, mode)


def write_if_changed(
    client: FhirClient,
    bundle: Any,
    *,
    patient: str | None = None,
    mode: WriteMode = "auto",
) -> tuple[WritePlan, WriteOutcome]:
    """Plan, then write only when the server lacks something (under the patient's lock). A
    Bundle whose resources are all on the server already is not sent at all, so repeating a
    sync adds nothing, not even a Provenance."""
    _checked(bundle)
    with patient_lock(client.base, _lock_key(bundle, patient)):
        plan = plan_write(client, bundle)
        if plan.redundant:
            return plan, WriteOutcome(mode="skipped", unchanged=(*plan.present, *plan.refresh))
        return plan, _write(client, bundle, mode)
