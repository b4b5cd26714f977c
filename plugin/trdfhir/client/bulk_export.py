"""A FHIR Bulk Data Access client (`$export`, Bulk Data IG 2.0): kick-off, polling, download.

    request = ExportRequest(level="patient", since="2026-11-01T00:00:00Z")
    result = run_export(client, request, Path("export"))      # ExportResult

1. kick-off: `GET [base]/Patient/$export` (or `$export`, `Group/{id}/$export`; a POST of
   Parameters when patients are named) with `Prefer: respond-async`, `_type` = the types trd-fhir
   reads, `_since` and `_typeFilter` when given. A server that answers 400 to `_typeFilter` under
   `Prefer: handling=strict` is asked again without it (a superset: the filters only save volume).
2. polling the status URL: 202 with `X-Progress` shown and `Retry-After` honoured (clamped to
   `max_poll`), 429 waited out, 200 with the manifest; any other answer is one error line.
3. download of every output file, streamed to `<name>.part` and renamed when complete; with the
   token only when the manifest says `requiresAccessToken` (and then only to the server's own
   origin); a gzip-encoded answer is kept compressed as `.ndjson.gz`. Error files go to
   `errors/` and are reported.
4. Medications the exported records reference but the export lacks (Patient- and Group-level
   exports hold only compartment resources) are read by `_id` into `Medication.referenced.ndjson`.
5. `manifest.json` in the shape of `trd-fhir synth`'s, and `export-state.json`.

Resumable: export-state.json records the request, the status URL, the server's manifest and
every finished file, so a run killed at any point goes on where it stopped (polling the same job,
downloading only what is missing). Cancellable: Ctrl-C sends DELETE to the status URL.
Incremental: a run into a directory holding a complete export asks for the changes since its
transactionTime, unless `since` is given or `restart` is set.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal
from urllib.parse import urlsplit

import requests

from ..errors import FhirServerError, InputError, TrdFhirError, printable
from ..fhir.values import reference_target
from ..urls import origin_of
from .core import FhirClient, outcome_text
from .http import is_loopback, retry_after_seconds
from .read import CLINICAL_TYPES, MEDICATION_TYPES, plain_patient_id

log = logging.getLogger("trdfhir.client")

Level = Literal["system", "patient", "group"]
EXPORT_TYPES = ("Patient", "Medication", *CLINICAL_TYPES)
STATE_FILE = "export-state.json"
MANIFEST = "manifest.json"
ERRORS_DIR = "errors"
SUPPLEMENT = "Medication.referenced.ndjson"
STATE_VERSION = 1
NDJSON = "application/fhir+ndjson"
_CHUNK = 1 << 16
_ID_CHUNK = 50
_DOWNLOAD_TRIES = 3
_STATUS_ERRORS_SHOWN = 3
BAR_WIDTH = 24
_PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*%")


def progress_fraction(text: str) -> float | None:
    """'45% complete' -> 0.45; 'step 3 of 8' / '3/8' -> 0.375; None when it says no number."""
    m = _PERCENT.search(text)
    if m:
        return min(100.0, float(m[1])) / 100.0
    m = re.search(r"(\d+)\s*(?:of|/)\s*(\d+)", text)
    if m and int(m[2]) > 0:
        return min(1.0, int(m[1]) / int(m[2]))
    return None


class ExportError(FhirServerError):
    """The export failed on the server's side (refused, failed, expired)."""


@dataclass(frozen=True)
class ExportRequest:
    level: Level = "patient"
    group: str | None = None
    patients: tuple[str, ...] = ()
    types: tuple[str, ...] = EXPORT_TYPES
    since: str | None = None
    type_filters: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.level == "group" and not self.group:
            raise InputError("a Group-level export needs the Group's id")
        if self.patients and self.level != "patient":
            raise InputError("patients can be named only in a Patient-level export")
        object.__setattr__(self, "patients", tuple(plain_patient_id(p) for p in self.patients))

    @property
    def path(self) -> str:
        if self.level == "system":
            return "$export"
        if self.level == "group":
            return f"Group/{self.group}/$export"
        return "Patient/$export"

    def identity(self) -> dict[str, Any]:
        """What makes two runs the same export (the `since` of an increment aside)."""
        return {
            "level": self.level,
            "group": self.group,
            "patients": list(self.patients),
            "types": list(self.types),
            "type_filters": list(self.type_filters),
        }

    def params(self, with_filters: bool) -> list[tuple[str, str]]:
        out = [("_outputFormat", NDJSON), ("_type", ",".join(self.types))]
        if self.since:
            out.append(("_since", self.since))
        if with_filters:
            out += [("_typeFilter", f) for f in self.type_filters]
        return out

    def parameters(self, with_filters: bool) -> dict[str, Any]:
        """The same request as a Parameters resource (the POST form, needed for `patient`)."""
        params: list[dict[str, Any]] = [
            {"name": name, "valueInstant" if name == "_since" else "valueString": value}
            for name, value in self.params(with_filters)
        ]
        params += [
            {"name": "patient", "valueReference": {"reference": f"Patient/{p}"}}
            for p in self.patients
        ]
        return {"resourceType": "Parameters", "parameter": params}


@dataclass(frozen=True)
class ExportedFile:
    type: str
    name: str  # file name in the output directory (errors: below errors/)
    count: int
    bytes: int


@dataclass(frozen=True)
class ExportResult:
    output: Path
    transaction_time: str
    since: str | None
    files: tuple[ExportedFile, ...]
    errors: tuple[ExportedFile, ...]
    error_messages: tuple[str, ...]
    supplemented: int  # Medications read by _id because the export lacked them
    resumed: bool

    @property
    def resources(self) -> int:
        return sum(f.count for f in self.files)


@dataclass
class Display:
    """Progress on a stream: a redrawn line on a terminal, else a line when something changes."""

    stream: IO[str] | None = None
    tty: bool | None = None
    _last: str = field(default="", init=False)

    def __post_init__(self) -> None:
        if self.stream is not None and self.tty is None:
            self.tty = self.stream.isatty()

    def show(self, text: str, final: bool = False, fraction: float | None = None) -> None:
        """`fraction` (0..1): drawn as a bar on a terminal."""
        if self.stream is None or (text == self._last and not final):
            return
        self._last = text
        if self.tty:
            if fraction is not None:
                filled = int(BAR_WIDTH * min(1.0, max(0.0, fraction)))
                text = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {text}"
            self.stream.write(f"\r{text}\x1b[K" + ("\n" if final else ""))
        else:
            self.stream.write(f"trd-fhir export: {text}\n")
        self.stream.flush()


# -- state -----------------------------------------------------------------------------------------
def _atomic_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_state(out: Path) -> dict[str, Any] | None:
    return read_state(out / STATE_FILE, STATE_VERSION)


def read_state(path: Path, version: int) -> dict[str, Any] | None:
    """A run's JSON state file (None when there is none); InputError when it cannot be used."""
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InputError(f"{path} is unreadable; run again with --restart") from None
    if not isinstance(state, dict) or state.get("version") != version:
        raise InputError(f"{path} is from another version; run again with --restart")
    return state


def _clear_outputs(out: Path, state: dict[str, Any] | None) -> None:
    """The files of an earlier export in `out` (only those it made)."""
    names = [MANIFEST, SUPPLEMENT]
    if state:
        names += [f["name"] for f in (state.get("files") or {}).values() if isinstance(f, dict)]
    for name in names:
        (out / name).unlink(missing_ok=True)
    for part in out.glob("*.part"):
        part.unlink()
    shutil.rmtree(out / ERRORS_DIR, ignore_errors=True)


# -- the run ---------------------------------------------------------------------------------------
def run_export(
    client: FhirClient,
    request: ExportRequest,
    out: Path,
    *,
    restart: bool = False,
    stream: IO[str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    max_wait: float = 24 * 3600.0,
    max_poll: float = 120.0,
    delete_when_done: bool = True,
) -> ExportResult:
    """Run (or resume, or continue incrementally) an export into `out` (see the module doc)."""
    out.mkdir(parents=True, exist_ok=True)
    display = Display(stream)
    state = load_state(out)
    if state is not None and (restart or state.get("server") != client.base):
        if not restart:
            raise InputError(
                f"{out} holds an export from another server; run again with --restart to "
                "discard it, or choose another --output"
            )
        _clear_outputs(out, state)
        (out / STATE_FILE).unlink(missing_ok=True)
        state = None
    if state is not None and state.get("request") != request.identity():
        raise InputError(
            f"{out} holds an export of another request; run again with --restart to discard it, "
            "or choose another --output"
        )
    resumed = False
    if state is not None and state.get("complete"):
        previous = str(state["transaction_time"])
        since = request.since or previous
        _clear_outputs(out, state)
        state = _new_state(client, request, since, previous)
        display.show(f"asking for the changes since {since}")
    elif state is not None:
        resumed = True
        display.show("resuming the export recorded in " + str(out / STATE_FILE))
    else:
        state = _new_state(client, request, request.since, None)
    _atomic_json(out / STATE_FILE, state)
    run = _Run(client, request, out, state, display, sleep, clock, max_wait, max_poll)
    try:
        if not state.get("manifest"):
            if not state.get("status_url"):
                run.kickoff()
            run.poll()
        run.download()
        supplemented = run.supplement()
    except KeyboardInterrupt:
        run.cancel()
        raise
    result = run.finish(supplemented, resumed)
    if delete_when_done:
        run.release()
    return result


def _new_state(
    client: FhirClient, request: ExportRequest, since: str | None, previous: str | None
) -> dict[str, Any]:
    return {
        "version": STATE_VERSION,
        "server": client.base,
        "request": request.identity(),
        "requested_since": since,
        "previous_transaction_time": previous,
        "status_url": None,
        "manifest": None,
        "files": {},
        "complete": False,
    }


class _Run:
    def __init__(
        self,
        client: FhirClient,
        request: ExportRequest,
        out: Path,
        state: dict[str, Any],
        display: Display,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
        max_wait: float,
        max_poll: float,
    ) -> None:
        self.client = client
        self.request = request
        self.out = out
        self.state = state
        self.display = display
        self.sleep = sleep
        self.clock = clock
        self.max_wait = max_wait
        self.max_poll = max_poll
        self.since = state.get("requested_since")

    def save(self) -> None:
        _atomic_json(self.out / STATE_FILE, self.state)

    # -- kick-off --------------------------------------------------------------------------------
    def kickoff(self) -> None:
        filters = bool(self.request.type_filters)
        try:
            status_url = self._kickoff(filters)
        except ExportError as exc:
            if not (filters and exc.status == 400):
                raise
            log.info("$export: the server refused _typeFilter (HTTP 400); asking without it")
            self.display.show("the server does not take _typeFilter; exporting whole types")
            status_url = self._kickoff(False)
        self.state["status_url"] = status_url
        self.save()

    def _kickoff(self, filters: bool) -> str:
        request = ExportRequest(
            level=self.request.level,
            group=self.request.group,
            patients=self.request.patients,
            types=self.request.types,
            since=self.since,
            type_filters=self.request.type_filters,
        )
        prefer = "respond-async"
        if filters or request.patients:
            prefer += ", handling=strict"  # so a server that cannot filter says so
        headers = {"Prefer": prefer, "Accept": "application/fhir+json"}
        what = f"{request.path} kick-off"
        try:
            if request.patients:
                response = self.client.request(
                    "POST",
                    request.path,
                    body=request.parameters(filters),
                    headers=headers,
                    idempotent=False,
                    what=what,
                )
            else:
                response = self.client.request(
                    "GET", request.path, params=request.params(filters), headers=headers, what=what
                )
        except FhirServerError as exc:
            if isinstance(exc, ExportError):
                raise
            hint = ""
            if exc.status in (404, 405, 501):
                hint = f"; the server does not offer {request.path}"
            elif exc.status == 400 and request.patients:
                hint = "; it may not support the `patient` parameter (try --group)"
            raise ExportError(f"{exc.message}{hint}", status=exc.status) from None
        with response:
            location = response.headers.get("Content-Location")
            if response.status_code != 202 or not location:
                raise ExportError(
                    f"{what}: the server answered HTTP {response.status_code} without a status "
                    "URL (Content-Location); it does not run $export asynchronously",
                    status=response.status_code,
                )
        self.display.show(f"export started ({request.path})")
        return self.client.url(location)

    # -- polling ---------------------------------------------------------------------------------
    def poll(self) -> None:
        url = str(self.state["status_url"])
        started = self.clock()
        wait = 1.0
        while True:
            if self.clock() - started > self.max_wait:
                raise ExportError(
                    f"export status: not finished after {self.max_wait:.0f} s; gave up"
                )
            try:
                response = self.client.request(
                    "GET", url, headers={"Accept": "application/json"}, what="export status"
                )
            except FhirServerError as exc:
                if exc.status == 429:  # still refused after the client's own waits: slow down
                    wait = min(self.max_poll, wait * 2)
                    self.display.show(
                        f"the server asks to slow down; polling again in {wait:.0f} s"
                    )
                    self.sleep(wait)
                    continue
                if exc.status in (404, 410):
                    self._forget_job()
                    raise ExportError(
                        f"{exc.message}; the server no longer knows the export (expired or "
                        "deleted); run again to start a new one",
                        status=exc.status,
                    ) from None
                raise ExportError(f"{exc.message}; the export failed", status=exc.status) from None
            with response:
                if response.status_code == 202:
                    progress = printable(response.headers.get("X-Progress") or "in progress", 80)
                    delay = retry_after_seconds(response.headers.get("Retry-After"))
                    wait = min(self.max_poll, max(0.5, delay if delay is not None else wait * 1.5))
                    elapsed = self.clock() - started
                    self.display.show(
                        f"export {progress} ({elapsed:.0f} s)", fraction=progress_fraction(progress)
                    )
                    self.sleep(wait)
                    continue
                if response.status_code != 200:
                    raise ExportError(
                        f"export status: unexpected HTTP {response.status_code}",
                        status=response.status_code,
                    )
                try:
                    manifest = response.json()
                except ValueError:
                    raise ExportError("export status: the manifest is not JSON") from None
            break
        self.state["manifest"] = _checked_manifest(manifest)
        self.save()
        self.display.show("export complete on the server; downloading", final=False)

    def _forget_job(self) -> None:
        self.state["status_url"] = None
        self.save()

    # -- download --------------------------------------------------------------------------------
    def download(self) -> None:
        manifest = self.state["manifest"]
        token = bool(manifest.get("requiresAccessToken"))
        entries = [("output", e) for e in manifest["output"]] + [
            ("error", e) for e in manifest["error"]
        ]
        names = _file_names(entries)
        done = self.state["files"]
        total = len(entries)
        for n, ((kind, entry), name) in enumerate(zip(entries, names, strict=True), start=1):
            url = entry["url"]
            if url in done:
                continue
            self.display.show(
                f"downloading {n}/{total}: {entry['type']}", fraction=(n - 1) / max(total, 1)
            )
            record = self._fetch(kind, entry, name, token)
            done[url] = record
            self.save()
        self.display.show(f"downloaded {total} files", final=True, fraction=1.0)

    def _fetch(self, kind: str, entry: dict[str, Any], name: str, token: bool) -> dict[str, Any]:
        target_dir = self.out / ERRORS_DIR if kind == "error" else self.out
        target_dir.mkdir(exist_ok=True)
        what = f"download of the {entry['type']} {'error ' if kind == 'error' else ''}file"
        for attempt in range(1, _DOWNLOAD_TRIES + 1):
            try:
                return self._fetch_once(kind, entry, name, token, target_dir, what)
            except (requests.exceptions.ChunkedEncodingError, requests.ConnectionError) as exc:
                if attempt == _DOWNLOAD_TRIES:
                    raise ExportError(
                        f"{what}: the connection broke {attempt} times ({type(exc).__name__})"
                    ) from None
                log.info("%s: connection broke (%s); again", what, type(exc).__name__)
                self.sleep(min(8.0, 2.0**attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def _fetch_once(
        self,
        kind: str,
        entry: dict[str, Any],
        name: str,
        token: bool,
        target_dir: Path,
        what: str,
    ) -> dict[str, Any]:
        headers = {"Accept": NDJSON, "Accept-Encoding": "gzip"}
        url = str(entry["url"])
        try:
            if token:
                response = self.client.request("GET", url, headers=headers, stream=True, what=what)
            else:
                response = self._plain_get(url, headers, what)
        except FhirServerError as exc:
            if exc.status in (404, 410):
                raise ExportError(
                    f"{what}: the file is gone (HTTP {exc.status}); the export may have expired; "
                    "run again with --restart",
                    status=exc.status,
                ) from None
            raise
        with response:
            gz = "gzip" in (response.headers.get("Content-Encoding") or "").lower()
            chunks: Iterator[bytes] = (
                response.raw.stream(_CHUNK, decode_content=False)
                if gz
                else response.iter_content(_CHUNK)
            )
            first = next(chunks, b"")
            gz = gz or first[:2] == b"\x1f\x8b"
            final = name + ".gz" if gz and not name.endswith(".gz") else name
            part = target_dir / (final + ".part")
            counter = _LineCounter(gz)
            size = 0
            with open(part, "wb") as f:
                for chunk in _chain(first, chunks):
                    f.write(chunk)
                    counter.feed(chunk)
                    size += len(chunk)
                f.flush()
                os.fsync(f.fileno())
        os.replace(part, target_dir / final)
        rel = f"{ERRORS_DIR}/{final}" if kind == "error" else final
        return {
            "kind": kind,
            "type": entry["type"],
            "name": rel,
            "count": counter.lines(),
            "bytes": size,
        }

    def _plain_get(self, url: str, headers: dict[str, str], what: str) -> requests.Response:
        """requiresAccessToken false: no credentials at all; https, or the server's own origin."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            url = self.client.url(url)
        elif (
            parts.scheme == "http" and origin_of(url) != self.client.origin and not is_loopback(url)
        ):
            raise ExportError(f"{what}: refusing a plain-http file URL on another host")
        try:
            # no redirects: the checks above hold for this URL only (an https file URL must not
            # lead on to plain http elsewhere)
            response = self.client.session.get(
                url,
                headers=headers,
                stream=True,
                timeout=self.client.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise ExportError(f"{what}: {type(exc).__name__}") from None
        if 300 <= response.status_code < 400:
            status = response.status_code
            response.close()
            raise ExportError(f"{what}: HTTP {status} redirect; not followed", status=status)
        if response.status_code >= 400:
            status = response.status_code
            response.close()
            raise ExportError(f"{what}: HTTP {status}", status=status)
        return response

    # -- medications the export references but lacks ---------------------------------------------
    def supplement(self) -> int:
        if "Medication" not in self.request.types:
            return 0
        have: set[str] = set()
        wanted: list[str] = []
        seen: set[str] = set()
        for record in self._records():
            if record["kind"] != "output":
                continue
            for resource in read_ndjson(self.out / record["name"]):
                rtype = resource.get("resourceType")
                if rtype == "Medication" and isinstance(resource.get("id"), str):
                    have.add(resource["id"])
                elif rtype in MEDICATION_TYPES:
                    ref = resource.get("medicationReference")
                    raw = ref.get("reference") if isinstance(ref, dict) else None
                    if not isinstance(raw, str) or (
                        "://" in raw and not raw.startswith(self.client.base + "/")
                    ):
                        continue
                    target = reference_target(ref)
                    if target and target.startswith("Medication/"):
                        mid = target.split("/", 1)[1]
                        if mid not in seen:
                            seen.add(mid)
                            wanted.append(mid)
        missing = [m for m in wanted if m not in have]
        path = self.out / SUPPLEMENT
        if not missing:
            path.unlink(missing_ok=True)
            return 0
        found: list[dict[str, Any]] = []
        for i in range(0, len(missing), _ID_CHUNK):
            chunk = missing[i : i + _ID_CHUNK]
            found += [
                r
                for r in self.client.search(
                    "Medication",
                    {"_id": ",".join(chunk), "_count": str(len(chunk))},
                    what="search Medication",
                )
                if r.get("resourceType") == "Medication"
            ]
        tmp = path.with_name(path.name + ".part")
        with open(tmp, "wb") as f:
            for resource in found:
                f.write(json.dumps(resource, separators=(",", ":"), ensure_ascii=False).encode())
                f.write(b"\n")
        os.replace(tmp, path)
        log.info("read %d referenced Medications the export lacked", len(found))
        return len(found)

    def _records(self) -> list[dict[str, Any]]:
        return [r for r in self.state["files"].values() if isinstance(r, dict)]

    # -- the end ---------------------------------------------------------------------------------
    def finish(self, supplemented: int, resumed: bool) -> ExportResult:
        manifest = self.state["manifest"]
        records = self._records()
        outputs = [r for r in records if r["kind"] == "output"]
        errors = [r for r in records if r["kind"] == "error"]
        if supplemented:
            outputs.append(
                {
                    "kind": "output",
                    "type": "Medication",
                    "name": SUPPLEMENT,
                    "count": supplemented,
                    "bytes": (self.out / SUPPLEMENT).stat().st_size,
                }
            )
        messages = _error_messages(self.out, errors)
        local = {
            "transactionTime": manifest["transactionTime"],
            "request": manifest.get("request") or f"{self.client.base}/{self.request.path}",
            "requiresAccessToken": False,
            "output": [{"type": r["type"], "url": r["name"], "count": r["count"]} for r in outputs],
            "error": [{"type": r["type"], "url": r["name"], "count": r["count"]} for r in errors],
            "extension": {
                "generator": "trd-fhir export",
                "server": self.client.base,
                "since": self.since,
                "supplementedMedications": supplemented,
            },
        }
        _atomic_json(self.out / MANIFEST, local)
        self.state["complete"] = True
        self.state["transaction_time"] = manifest["transactionTime"]
        self.save()
        return ExportResult(
            output=self.out,
            transaction_time=str(manifest["transactionTime"]),
            since=self.since,
            files=tuple(
                ExportedFile(r["type"], r["name"], r["count"], r["bytes"]) for r in outputs
            ),
            errors=tuple(
                ExportedFile(r["type"], r["name"], r["count"], r["bytes"]) for r in errors
            ),
            error_messages=tuple(messages),
            supplemented=supplemented,
            resumed=resumed,
        )

    def release(self) -> None:
        """Tell the server the files are no longer needed (best effort)."""
        url = self.state.get("status_url")
        if url:
            try:
                self.client.request("DELETE", str(url), what="export release")
            except TrdFhirError as exc:
                log.info("export release: %s", exc.one_line())

    def cancel(self) -> None:
        """Ctrl-C: delete the job on the server, forget it here (files already kept stay)."""
        url = self.state.get("status_url")
        if url and not self.state.get("manifest"):
            try:
                self.client.request("DELETE", str(url), what="export cancel")
                self.display.show("cancelled: the export job was deleted on the server", final=True)
            except TrdFhirError as exc:
                self.display.show(f"cancel: {exc.one_line()}", final=True)
            self.state["status_url"] = None
            self.save()
        for part in [*self.out.glob("*.part"), *(self.out / ERRORS_DIR).glob("*.part")]:
            part.unlink(missing_ok=True)


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


class _LineCounter:
    """Lines of what is written (decompressing gzip on the fly, never holding it)."""

    def __init__(self, gz: bool) -> None:
        self.inflate = zlib.decompressobj(wbits=47) if gz else None
        self.count = 0
        self.last = b"\n"

    def feed(self, chunk: bytes) -> None:
        data = self.inflate.decompress(chunk) if self.inflate is not None else chunk
        if data:
            self.count += data.count(b"\n")
            self.last = data[-1:]

    def lines(self) -> int:
        return self.count + (0 if self.last == b"\n" else 1)


def _file_names(entries: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Output files `<Type>.ndjson`, `<Type>.2.ndjson`, ...; error files likewise."""
    seen: dict[tuple[str, str], int] = {}
    names = []
    for kind, entry in entries:
        key = (kind, entry["type"])
        seen[key] = seen.get(key, 0) + 1
        n = seen[key]
        names.append(f"{entry['type']}.ndjson" if n == 1 else f"{entry['type']}.{n}.ndjson")
    return names


def _checked_manifest(manifest: Any) -> dict[str, Any]:
    if not isinstance(manifest, dict) or not isinstance(manifest.get("transactionTime"), str):
        raise ExportError("export status: the manifest has no transactionTime")
    for key in ("output", "error"):
        items = manifest.get(key) or []
        if not isinstance(items, list) or not all(
            isinstance(i, dict)
            and isinstance(i.get("type"), str)
            and i["type"].isalnum()
            and isinstance(i.get("url"), str)
            for i in items
        ):
            raise ExportError(f"export status: the manifest's {key} list is malformed")
        manifest[key] = items
    return manifest


def read_ndjson(path: Path) -> Iterator[dict[str, Any]]:
    import gzip

    opener: Any = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                item = json.loads(line)
            except ValueError:
                continue  # the bulk run reports bad lines with their place
            if isinstance(item, dict):
                yield item


def _error_messages(out: Path, errors: list[dict[str, Any]]) -> list[str]:
    """The first few diagnostics of the error files (OperationOutcomes), PHI-free as sent."""
    messages: list[str] = []
    for record in errors:
        for item in read_ndjson(out / record["name"]):
            text = printable(outcome_text(item), 200)
            if text and text not in messages:
                messages.append(text)
            if len(messages) >= _STATUS_ERRORS_SHOWN:
                return messages
    return messages


__all__ = [
    "EXPORT_TYPES",
    "ExportError",
    "ExportRequest",
    "ExportResult",
    "ExportedFile",
    "load_state",
    "read_ndjson",
    "read_state",
    "run_export",
]
