"""run a FHIR Bulk Data $export from a server into NDJSON files (resumable, incremental)

    trd-fhir export --fhir-base URL --output DIR                       # Patient/$export
    trd-fhir export --fhir-base URL --group ID --output DIR            # Group/ID/$export
    trd-fhir export --fhir-base URL --patient ID [--patient ID] --output DIR
    trd-fhir export --fhir-base URL --system --output DIR              # [base]/$export
    trd-fhir export --fhir-base URL --output DIR --since 2026-11-01T00:00:00Z

Asks for the resource types trd-fhir reads (`_type`), polls the status URL (honouring
Retry-After, showing X-Progress), downloads every file (kept gzip-compressed when the server
sends it so) and writes manifest.json like `trd-fhir synth`'s; the result is the --input of
`trd-fhir bulk`. Killed or failed part way, the same command goes on where it stopped; Ctrl-C
deletes the job on the server. Run again into a DIR holding a complete export, it asks only for
the changes since that export's transactionTime (DIR then holds those changes); --restart starts
a full export. Credentials as for `trd-fhir sync` (--token, or backend services).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import requests

from ..client import FhirClient, RetryPolicy
from ..client.bulk_export import EXPORT_TYPES, ExportRequest, ExportResult, run_export
from ..errors import SettingsError
from . import sync


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fhir-base", required=True, metavar="URL", help="FHIR R4 base URL")
    parser.add_argument("--output", required=True, metavar="DIR", help="where the files go")
    add_export_arguments(parser)
    parser.add_argument("--restart", action="store_true", help="discard what DIR holds; start anew")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_access_arguments(parser)


def add_export_arguments(parser: argparse._ActionsContainer) -> None:
    """The options of the export itself (shared with `bulk --fhir-base`)."""
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--group", metavar="ID", help="export the members of this Group")
    who.add_argument(
        "--patient", action="append", metavar="ID", help="export these patients (repeatable)"
    )
    who.add_argument("--system", action="store_true", help="system-level [base]/$export")
    parser.add_argument(
        "--since",
        metavar="INSTANT",
        help="only resources changed since then (default: the previous export's transactionTime)",
    )
    parser.add_argument(
        "--type-filter",
        action="append",
        metavar="QUERY",
        help="a _typeFilter, e.g. 'Observation?status=final' (dropped if the server refuses it)",
    )
    parser.add_argument(
        "--max-wait",
        type=float,
        default=24 * 3600.0,
        metavar="S",
        help="give up when the export is not ready after S seconds (default 86400, a day)",
    )


def add_access_arguments(parser: argparse.ArgumentParser) -> None:
    """Server access and credentials, as `trd-fhir sync` takes them, and -v."""
    sync.add_access_arguments(parser)
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log each FHIR interaction on stderr (no PHI)"
    )


def export_request(args: argparse.Namespace) -> ExportRequest:
    if args.group:
        return ExportRequest(
            level="group", group=args.group, since=args.since, type_filters=_filters(args)
        )
    return ExportRequest(
        level="system" if args.system else "patient",
        patients=tuple(args.patient or ()),
        since=args.since,
        type_filters=_filters(args),
    )


def _filters(args: argparse.Namespace) -> tuple[str, ...]:
    filters = tuple(args.type_filter or ())
    for f in filters:
        rtype = f.split("?", 1)[0]
        if "?" not in f or rtype not in EXPORT_TYPES:
            raise SettingsError(
                f"--type-filter must be Type?query for a type trd-fhir reads, got {f!r}"
            )
    return filters


def open_client(args: argparse.Namespace, session: requests.Session) -> FhirClient:
    from .sync import _log_to_stderr, make_auth

    if args.timeout <= 0:
        raise SettingsError("--timeout must be positive")
    if args.verbose:
        _log_to_stderr()
    timeout = (min(10.0, args.timeout), args.timeout)
    auth = make_auth(args, session, timeout)
    return FhirClient(
        args.fhir_base,
        auth=auth,
        timeout=timeout,
        retry=RetryPolicy(max_total=max(30.0, 2 * args.timeout)),
        session=session,
        allow_insecure_http=args.allow_http,
    )


def describe(result: ExportResult) -> list[str]:
    """The closing report: one line, then the error files' messages."""
    counts: Counter[str] = Counter()
    for f in result.files:
        counts[f.type] += f.count
    what = ", ".join(f"{t} {n}" for t, n in sorted(counts.items())) or "no resources"
    since = f" changed since {result.since}" if result.since else ""
    lines = [
        f"export: {result.resources} resources{since} in {len(result.files)} files ({what}); "
        f"transactionTime {result.transaction_time}; in {result.output}"
    ]
    if result.supplemented:
        lines.append(
            f"  {result.supplemented} referenced Medications read by id (not in the export)"
        )
    if result.errors:
        n = sum(f.count for f in result.errors)
        lines.append(
            f"  the server reported {n} issues in {len(result.errors)} error files "
            f"(kept in {result.output / 'errors'}):"
        )
        lines += [f"    {m}" for m in result.error_messages]
    return lines


def run(args: argparse.Namespace) -> int:
    args.write = False
    args.dry_run = False
    request = export_request(args)
    session = requests.Session()
    try:
        with open_client(args, session) as client:
            client.capabilities()  # fail early: unreachable, not FHIR R4, or no access
            result = run_export(
                client,
                request,
                Path(args.output),
                restart=args.restart,
                stream=None if args.quiet else sys.stderr,
                max_wait=args.max_wait,
            )
    finally:
        session.close()
    sys.stdout.write("\n".join(describe(result)) + "\n")
    return 0
