"""read patients from a FHIR server, evaluate them, print the report, optionally write back

    trd-fhir sync --fhir-base URL --patient ID [--as-of DATE] [--write [--dry-run]]
    trd-fhir sync --fhir-base URL --all --write --format json
    trd-fhir sync --fhir-base URL --all --write --resume sync-state.jsonl   # skips finished ones

Credentials: --token (or $TRDFHIR_TOKEN), or SMART backend services with --backend-client-id,
--backend-key (PEM or JWK) and --token-url (else discovered from the server's
.well-known/smart-configuration). With --write the assessment is written back as one
transaction Bundle (Observations, draft CarePlan, Provenance); resources already on the server
are not written again. --dry-run shows what would be written without writing.

--resume FILE records each patient finished without error (one JSON line each, appended and
flushed as it happens); a later run with the same FILE skips them, so an interrupted `--all` (the
server stopped, a 429 storm, Ctrl-C) goes on where it stopped. The file also records the server,
the as-of date and whether the run writes: a run with other values refuses it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

import requests

from ..assessment import Assessment, evaluate, parse_as_of
from ..auth import Auth, BackendServicesAuth, BearerToken, load_signing_key
from ..client import (
    CLINICAL_TYPES,
    FhirClient,
    PartialWriteError,
    PatientRecord,
    RetryPolicy,
    WriteMode,
    WriteOutcome,
    WritePlan,
    fetch_patient,
    plain_patient_id,
    plan_write,
    write_if_changed,
)
from ..emit import emit_bundle
from ..errors import (
    AuthError,
    FhirServerError,
    SettingsError,
    TrdFhirError,
)
from ..ingest.bundle import is_own_output
from ..mappings import Mappings, load_mappings
from ..report import render_text
from ..settings import Settings

Emitter = Callable[..., dict[str, Any]]

WRITE_SCOPES = (
    "system/Device.crs system/Observation.crs system/Flag.crs system/CarePlan.crus "
    "system/Provenance.crs"
)


def default_scope(write: bool) -> str:
    read = " ".join(f"system/{t}.rs" for t in ("Patient", "Medication", *CLINICAL_TYPES))
    return f"{read} {WRITE_SCOPES}" if write else read


@dataclass
class SyncResult:
    patient_id: str
    record: PatientRecord | None = None
    assessment: Assessment | None = None
    bundle: dict[str, Any] | None = None
    plan: WritePlan | None = None
    outcome: WriteOutcome | None = None
    error: TrdFhirError | None = None
    written_before_error: tuple[str, ...] = field(default=())

    @property
    def written(self) -> int:
        return self.outcome.written if self.outcome else len(self.written_before_error)


def sync_patient(
    client: FhirClient,
    patient_id: str,
    *,
    as_of: date,
    settings: Settings,
    mappings: Mappings,
    write: bool = False,
    dry_run: bool = False,
    now: datetime | None = None,
    mode: WriteMode = "auto",
    emitter: Emitter | None = None,
) -> SyncResult:
    """Read one patient, evaluate, and (with `write`) write the assessment back. Raises on
    failure; `run` turns failures into per-patient results."""
    result = SyncResult(patient_id=plain_patient_id(patient_id))
    result.record = fetch_patient(client, result.patient_id, exclude=is_own_output)
    result.assessment = evaluate(
        result.record.bundle(client.base), as_of=as_of, settings=settings, mappings=mappings
    )
    if not write or result.assessment.deceased:  # nothing is written for a deceased patient
        return result
    emit = emitter or emit_bundle
    result.bundle = emit(result.assessment, now=now or datetime.now(UTC))
    if dry_run:
        result.plan = plan_write(client, result.bundle)
        return result
    result.plan, result.outcome = write_if_changed(
        client,
        result.bundle,
        patient=result.patient_id,
        mode=mode,
    )
    return result


# -- command line --------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fhir-base", required=True, metavar="URL", help="FHIR R4 base URL")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--patient", action="append", metavar="ID", help="a patient id (repeatable)")
    who.add_argument("--all", action="store_true", help="every patient on the server")
    parser.add_argument("--as-of", metavar="YYYY-MM-DD", help="evaluation date (default: today)")
    parser.add_argument("--write", action="store_true", help="write the assessment back")
    parser.add_argument(
        "--dry-run", action="store_true", help="with --write: show what would be written"
    )
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text: a block per patient and a total line (default); json: one document of "
        "every patient's result and the totals",
    )
    parser.add_argument(
        "--resume",
        metavar="FILE",
        help="record finished patients in FILE and skip those it already lists (resumable --all)",
    )
    parser.add_argument(
        "--write-mode",
        choices=("auto", "transaction", "conditional"),
        default="auto",
        help="transaction, one conditional create at a time, or as the server allows (default)",
    )
    parser.add_argument(
        "--measured-only", action="store_true", help="count only measured or documented failures"
    )
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting")
    parser.add_argument("--settings", metavar="FILE", help="JSON object of setting overrides")
    parser.add_argument(
        "--mappings", metavar="DIR", help="a mappings directory (default: built in)"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log each FHIR interaction on stderr (types, counts, status codes, times; no PHI)",
    )
    add_access_arguments(parser, page_size=True)


def add_access_arguments(parser: argparse.ArgumentParser, *, page_size: bool = False) -> None:
    """Server access and credentials, the same for every command that talks to a FHIR server
    (sync, export, bulk --fhir-base, subscribe)."""
    net = parser.add_argument_group("server access")
    net.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="read timeout in seconds (default 30)",
    )
    if page_size:
        net.add_argument(
            "--page-size",
            type=int,
            default=100,
            metavar="N",
            help="resources per search page, _count (default 100)",
        )
    net.add_argument(
        "--allow-http",
        action="store_true",
        help="allow credentials over plain http to a host other than 127.0.0.1/localhost",
    )
    auth = parser.add_argument_group("authorization")
    auth.add_argument("--token", metavar="TOKEN", help="bearer token (default: $TRDFHIR_TOKEN)")
    auth.add_argument("--backend-client-id", metavar="ID", help="SMART backend services client")
    auth.add_argument("--backend-key", metavar="FILE", help="its private key (PEM or JWK)")
    auth.add_argument("--backend-kid", metavar="KID", help="key id (default: JWK kid/thumbprint)")
    auth.add_argument("--backend-jku", metavar="URL", help="JWKS URL to put in the assertion")
    auth.add_argument("--token-url", metavar="URL", help="token endpoint (default: discovered)")
    auth.add_argument("--scope", help="scopes to request (default: the system/ scopes needed)")


def make_auth(
    args: argparse.Namespace, session: requests.Session, timeout: tuple[float, float]
) -> Auth | None:
    token = args.token or os.environ.get("TRDFHIR_TOKEN")
    backend = args.backend_client_id or args.backend_key
    if backend:
        if not (args.backend_client_id and args.backend_key):
            raise SettingsError("--backend-client-id and --backend-key go together")
        if args.token:
            raise SettingsError("use either --token or backend services, not both")
        password = os.environ.get("TRDFHIR_KEY_PASSWORD")
        key = load_signing_key(
            args.backend_key,
            kid=args.backend_kid,
            password=password.encode() if password else None,
        )
        return BackendServicesAuth(
            client_id=args.backend_client_id,
            key=key,
            scope=args.scope or default_scope(args.write and not args.dry_run),
            token_url=args.token_url,
            fhir_base=None if args.token_url else args.fhir_base.rstrip("/"),
            jku=args.backend_jku,
            session=session,
            timeout=timeout,
        )
    if args.token_url:
        raise SettingsError("--token-url needs --backend-client-id and --backend-key")
    return BearerToken(token) if token else None


class Progress:
    """A bar on stderr when it is a terminal; otherwise one line per patient."""

    def __init__(self, total: int, stream: IO[str]) -> None:
        self.total = total
        self.stream = stream
        self.tty = stream.isatty()
        self.done = 0
        self.failed = 0

    def step(self, result: SyncResult) -> None:
        self.done += 1
        self.failed += result.error is not None
        if self.tty:
            width = 30
            filled = width * self.done // max(self.total, 1)
            bar = "#" * filled + "-" * (width - filled)
            failed = f", {self.failed} failed" if self.failed else ""
            self.stream.write(f"\r[{bar}] {self.done}/{self.total} patients{failed}")
            if self.done == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(
                f"[{self.done}/{self.total}] Patient/{result.patient_id}: {_status(result)}\n"
            )
        self.stream.flush()

    def finish(self) -> None:
        if self.tty and self.done < self.total:
            self.stream.write("\n")
            self.stream.flush()


def _status(result: SyncResult) -> str:
    if result.error is not None:
        return f"failed: {result.error.one_line()}"
    if result.outcome is not None:
        if result.outcome.mode == "skipped":
            return "up to date, nothing written"
        return f"{result.outcome.written} written"
    if result.plan is not None:
        return f"dry run, {len(result.plan.new)} would be created"
    return "evaluated"


def _types(labels: Sequence[str]) -> str:
    counts = Counter(label.split()[1] if " " in label else label for label in labels)
    return ", ".join(f"{t} x{n}" for t, n in sorted(counts.items())) or "nothing"


def _refs(refs: Sequence[str]) -> str:
    counts = Counter(r.split("/")[0] for r in refs)
    return ", ".join(f"{t} x{n}" for t, n in sorted(counts.items())) or "nothing"


def text_block(result: SyncResult, base: str) -> str:
    """The report of one patient, then where the data came from and what was written."""
    lines: list[str] = []
    if result.assessment is not None:
        lines.append(render_text(result.assessment).rstrip("\n"))
    if result.record is not None:
        counts = ", ".join(f"{t} {n}" for t, n in result.record.counts().items())
        lines.append(f"Read from {base} via {result.record.strategy}: {counts}")
        if result.record.unsearchable:
            lines.append(
                "  not searchable by patient on this server: "
                + ", ".join(result.record.unsearchable)
            )
        if result.record.dropped:
            lines.append(f"  dropped {result.record.dropped} resources of other patients")
    if result.plan is not None and result.outcome is None:
        lines.append(
            f"Dry run: would create {_types(result.plan.new)}; already on the server: "
            f"{len(result.plan.present)}; would update {_types(result.plan.refresh)}"
        )
    if result.outcome is not None:
        out = result.outcome
        if out.mode == "skipped":
            lines.append(
                f"Write-back: already on the server ({len(out.unchanged)} resources); "
                "nothing written"
            )
        else:
            lines.append(
                f"Write-back ({out.mode}): created {_refs(out.created)}; updated "
                f"{_refs(out.updated)}; already present {len(out.unchanged)}"
            )
    if result.error is not None:
        lines.append(f"Patient/{result.patient_id}: FAILED: {result.error.one_line()}")
        if result.written_before_error:
            lines.append(f"  written before the failure: {_refs(result.written_before_error)}")
    return "\n".join(lines) + "\n"


def json_result(result: SyncResult) -> dict[str, Any]:
    return {
        "patient": f"Patient/{result.patient_id}",
        "source": (
            {
                "strategy": result.record.strategy,
                "counts": result.record.counts(),
                "unsearchable": list(result.record.unsearchable),
                "dropped": result.record.dropped,
            }
            if result.record
            else None
        ),
        "assessment": result.assessment.summary() if result.assessment else None,
        "plan": result.plan.as_json() if result.plan else None,
        "write": result.outcome.as_json() if result.outcome else None,
        "error": result.error.one_line() if result.error else None,
        "written_before_error": list(result.written_before_error),
    }


def totals(results: Sequence[SyncResult]) -> dict[str, int]:
    return {
        "patients": len(results),
        "evaluated": sum(r.assessment is not None for r in results),
        "written": sum(r.written for r in results),
        "failures": sum(r.error is not None for r in results),
    }


# After its retries, a server still answering these is refusing service: stop, don't hammer it.
REFUSING_STATUSES = (429, 503)


def _fatal(error: TrdFhirError) -> bool:
    """Errors after which the other patients would fail the same way: credentials refused, the
    server unreachable, or still rate-limiting/unavailable after the client's bounded retries."""
    return isinstance(error, AuthError) or (
        isinstance(error, FhirServerError)
        and (error.unreachable or error.status in REFUSING_STATUSES)
    )


class ResumeState:
    """--resume FILE: a JSON-lines file, first the run's identity, then one line per patient
    finished without error. Appended and flushed patient by patient, so an interruption at any
    point loses nothing recorded; a line torn by an interruption is ignored."""

    def __init__(self, path: Path, run: dict[str, Any], done: set[str]) -> None:
        self.path = path
        self.run = run
        self.done = done

    @classmethod
    def open(cls, path: str, *, server: str, as_of: date | None, write: bool) -> ResumeState:
        """Load FILE (or start it). `as_of` None: take the recorded one."""
        file = Path(path)
        run: dict[str, Any] | None = None
        done: set[str] = set()
        if file.exists():
            try:
                text = file.read_text(encoding="utf-8")
                if text and not text.endswith("\n"):  # torn: new lines start on a line of their own
                    with file.open("a", encoding="utf-8") as out:
                        out.write("\n")
            except (OSError, UnicodeDecodeError) as exc:
                raise SettingsError(f"cannot read the resume file {path}: {exc}") from None
            for n, line in enumerate(text.splitlines()):
                try:
                    item = json.loads(line)
                except ValueError:
                    if n > 0:
                        continue  # torn by an interruption
                    raise SettingsError(f"{path} is not a trd-fhir resume file") from None
                if n == 0:
                    if not isinstance(item, dict) or item.get("trd-fhir-sync") != 1:
                        raise SettingsError(f"{path} is not a trd-fhir resume file")
                    run = item
                elif isinstance(item, dict) and isinstance(item.get("done"), str):
                    done.add(item["done"])
        if run is None:
            when = (as_of or date.today()).isoformat()
            run = {"trd-fhir-sync": 1, "server": server, "as_of": when, "write": write}
            try:
                file.write_text(json.dumps(run) + "\n", encoding="utf-8")
            except OSError as exc:
                raise SettingsError(f"cannot write the resume file {path}: {exc}") from None
            return cls(file, run, done)
        asked = {"server": server, "write": write}
        if as_of is not None:
            asked["as_of"] = as_of.isoformat()
        differs = [k for k, v in asked.items() if run.get(k) != v]
        if differs:
            raise SettingsError(
                f"{path} records another run (its {', '.join(differs)} differ); "
                "use another file, or delete it to start again"
            )
        return cls(file, run, done)

    @property
    def as_of(self) -> date:
        return date.fromisoformat(str(self.run["as_of"]))

    def record(self, patient_id: str) -> None:
        try:
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps({"done": patient_id}) + "\n")
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            raise SettingsError(f"cannot write the resume file {self.path}: {exc}") from None
        self.done.add(patient_id)


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is when a line is logged, not the stream of the first -v
    call (which a caller, a test runner say, may have replaced and closed since)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _log_to_stderr() -> None:
    """-v: the client's log lines (never PHI or tokens) on stderr, once per process."""
    for name in ("trdfhir.client", "trdfhir.auth"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.DEBUG)
        if not any(getattr(h, "trdfhir_verbose", False) for h in logger.handlers):
            handler = _CurrentStderr()
            handler.setFormatter(logging.Formatter("trd-fhir: %(message)s"))
            handler.trdfhir_verbose = True  # type: ignore[attr-defined]
            logger.addHandler(handler)


def run(args: argparse.Namespace) -> int:
    from ..cli import parse_overrides  # the same --set/--settings handling as `evaluate`

    if args.verbose:
        _log_to_stderr()

    maps = load_mappings(args.mappings)
    overrides = parse_overrides(args.set or [], args.settings)
    if args.measured_only:
        overrides["count_inferred_failures"] = False
    settings = maps.settings.with_overrides(overrides)
    as_of = parse_as_of(args.as_of or date.today().isoformat())
    if args.dry_run and not args.write:
        raise SettingsError("--dry-run goes with --write")
    if args.resume and args.dry_run:
        raise SettingsError("--resume records what was written; it does not go with --dry-run")
    if args.page_size < 1 or args.timeout <= 0:
        raise SettingsError("--page-size and --timeout must be positive")
    emitter = emit_bundle if args.write else None
    timeout = (min(10.0, args.timeout), args.timeout)
    session = requests.Session()
    now = datetime.now(UTC)
    results: list[SyncResult] = []
    try:
        auth = make_auth(args, session, timeout)
        with FhirClient(
            args.fhir_base,
            auth=auth,
            timeout=timeout,
            retry=RetryPolicy(max_total=max(30.0, 2 * args.timeout)),
            page_size=args.page_size,
            session=session,
            allow_insecure_http=args.allow_http,
        ) as client:
            client.capabilities()  # fail early: unreachable, not FHIR R4, or no access
            resume = None
            if args.resume:
                resume = ResumeState.open(
                    args.resume,
                    server=client.base,
                    as_of=as_of if args.as_of else None,
                    write=bool(args.write),
                )
                as_of = resume.as_of
            ids = [plain_patient_id(p) for p in args.patient] if args.patient else None
            if ids is None:
                ids = list(client.patient_ids())
            if resume is not None:
                skipped = [i for i in ids if i in resume.done]
                ids = [i for i in ids if i not in resume.done]
                if skipped:
                    sys.stderr.write(
                        f"resuming: {len(skipped)} patients already done (in {args.resume}); "
                        f"{len(ids)} to go\n"
                    )
            progress = Progress(len(ids), sys.stderr) if args.all else None
            for pid in ids:
                try:
                    result = sync_patient(
                        client,
                        pid,
                        as_of=as_of,
                        settings=settings,
                        mappings=maps,
                        write=args.write,
                        dry_run=args.dry_run,
                        now=now,
                        mode=args.write_mode,
                        emitter=emitter,
                    )
                except TrdFhirError as exc:
                    result = SyncResult(patient_id=pid, error=exc)
                    if isinstance(exc, PartialWriteError):
                        result.written_before_error = exc.written
                results.append(result)
                if resume is not None and result.error is None:
                    resume.record(result.patient_id)
                if progress:
                    progress.step(result)
                if result.error is not None and _fatal(result.error):
                    break
            if progress:
                progress.finish()
            _print(results, args, client.base, as_of, len(skipped) if resume else None)
    finally:
        session.close()
    if len(results) == 1 and results[0].error is not None and not args.all:
        raise results[0].error
    failures = [r.error for r in results if r.error is not None]
    return failures[0].exit_code if failures else 0


def _print(
    results: list[SyncResult],
    args: argparse.Namespace,
    base: str,
    as_of: date,
    skipped: int | None = None,
) -> None:
    summary = totals(results)
    if skipped is not None:
        summary["skipped"] = skipped  # --resume: finished by an earlier run
    if args.format == "json":
        document = {
            "server": base,
            "as_of": as_of.isoformat(),
            "patients": [json_result(r) for r in results],
            "summary": summary,
        }
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        return
    if len(results) == 1 and results[0].error is not None and not args.all:
        return  # the one failure is reported by the CLI as its error line
    blocks = [text_block(r, base) for r in results]
    sys.stdout.write("\n".join(blocks))
    failed = [f"Patient/{r.patient_id}" for r in results if r.error is not None]
    sys.stdout.write(
        f"\nsync: {summary['patients']} patients, {summary['evaluated']} evaluated, "
        f"{summary['written']} resources written, {summary['failures']} failures"
        + (f" ({', '.join(failed)})" if failed else "")
        + (f", {skipped} skipped as already done" if skipped else "")
        + "\n"
    )
