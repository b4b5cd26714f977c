"""validate FHIR JSON (a resource or Bundle, or NDJSON): R4B models, R4 JSON Schema, profiles

    trd-fhir validate FILE [--format text|json] [--no-profiles]

Runs the four checks of trdfhir.fhir.conformance. Prints one line per issue (text), or an
OperationOutcome (json). Exit 0 when there is no error, 2 when there is one; input that is not
JSON, not a FHIR resource, or nested deeper than the library's depth limit (100 objects/arrays,
checked before any check reads it) is a one-line error (exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import EXIT_INPUT, EXIT_OK, InputError, LimitError
from ..fhir.conformance import Issue, operation_outcome, validate
from ..limits import DEFAULT_MAX_DEPTH, json_depth_exceeds

_TOO_DEEP = "nests JSON objects/arrays more than {} levels deep"


def _loads(text: str, label: str, where: str | None) -> Any:
    try:
        return json.loads(text)
    except RecursionError:  # deeper than the parser can go
        raise LimitError(f"{label} {_TOO_DEEP.format(DEFAULT_MAX_DEPTH)}", location=where) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", metavar="FILE", help="JSON resource or Bundle, or NDJSON; - for stdin"
    )
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text: one line per issue and a verdict (default); json: an OperationOutcome",
    )
    parser.add_argument(
        "--no-profiles",
        action="store_true",
        help="skip the profile check (it needs node and tools/validator)",
    )


def read_documents(path: str) -> list[Any]:
    """The resources of a JSON file (one) or an NDJSON file (one a line)."""
    label = "stdin" if path == "-" else path
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"{label} is not UTF-8 text") from None
    if not text.strip():
        raise InputError(f"{label} is empty")
    try:
        documents = [_loads(text, label, None)]
    except json.JSONDecodeError as whole:
        lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
        if len(lines) < 2:
            raise InputError(
                f"{label} is not valid JSON: {whole.msg}",
                location=f"line {whole.lineno}, column {whole.colno}",
            ) from None
        documents = []
        for n, line in lines:
            try:
                documents.append(_loads(line, label, f"line {n}"))
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"{label} is neither JSON nor NDJSON: {exc.msg}",
                    location=f"line {n}, column {exc.colno}",
                ) from None
    for n, doc in enumerate(documents, start=1):
        where = f"line {n}" if len(documents) > 1 else None
        if not isinstance(doc, dict) or not isinstance(doc.get("resourceType"), str):
            raise InputError(f"{label} is not a FHIR resource (no resourceType)", location=where)
        if json_depth_exceeds(doc, DEFAULT_MAX_DEPTH):
            raise LimitError(f"{label} {_TOO_DEEP.format(DEFAULT_MAX_DEPTH)}", location=where)
    return documents


def run(args: argparse.Namespace) -> int:
    documents = read_documents(args.file)
    results = validate(documents, profiles=not args.no_profiles)
    issues: list[Issue] = []
    for n, found in enumerate(results, start=1):
        if len(documents) > 1:
            found = [
                Issue(
                    severity=i.severity,
                    check=i.check,
                    location=f"line {n}: {i.location}",
                    message=i.message,
                )
                for i in found
            ]
        issues += found
    errors = sum(i.is_error for i in issues)
    if args.format == "json":
        sys.stdout.write(json.dumps(operation_outcome(issues), indent=2, ensure_ascii=False) + "\n")
    else:
        for issue in issues:
            sys.stdout.write(issue.line() + "\n")
        checks = "models, schema, terminology" + ("" if args.no_profiles else ", profile")
        verdict = "valid" if not errors else "NOT valid"
        sys.stdout.write(
            f"{args.file}: {verdict}: {errors} error(s), {len(issues) - errors} other issue(s) "
            f"({len(documents)} resource(s); checks: {checks})\n"
        )
    return EXIT_OK if not errors else EXIT_INPUT
