"""Command line: `trd-fhir evaluate | validate | sync | serve | sandbox | bulk`.

Every failure is one line on stderr and a non-zero exit code (errors.py); never a traceback.
Set TRDFHIR_DEBUG=1 to see tracebacks of internal errors.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from .assessment import evaluate
from .emit.format import fhir_format
from .errors import (
    EXIT_INPUT,
    EXIT_INTERNAL,
    InputError,
    LimitError,
    SettingsError,
    TrdFhirError,
    printable,
)
from .ingest.grouping import group_by_patient
from .mappings import load_mappings
from .report import render_text

# Subcommands in their own modules: name -> module with add_arguments(parser) and run(args) -> int.
EXTRA_COMMANDS: dict[str, str] = {
    "bulk": ".commands.bulk",
    "export": ".commands.export",
    "population": ".commands.population",
    "sandbox": ".commands.sandbox",
    "serve": ".commands.serve",
    "subscribe": ".commands.subscribe",
    "synth": ".commands.synth",
    "sync": ".commands.sync",
    "validate": ".commands.validate",
}

Formatter = Callable[[Any, argparse.Namespace], str]
FORMATS: dict[str, Formatter] = {}


def read_input(path: str) -> list[tuple[str, Any]]:
    """A file ('-' for stdin) of JSON (a Bundle or a resource) or NDJSON -> (label, data) units,
    one per patient."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text") from None
    label = "stdin" if path == "-" else path
    stripped = text.strip()
    if not stripped:
        raise InputError(f"{label} is empty")
    try:
        return [(label, json.loads(stripped))]
    except RecursionError:
        raise LimitError(f"{label} nests JSON objects/arrays too deeply") from None
    except json.JSONDecodeError as whole:
        if not _looks_like_ndjson(stripped):  # e.g. a truncated JSON file: say where it broke
            raise InputError(
                f"{label} is not valid JSON: {whole.msg}",
                location=f"line {whole.lineno}, column {whole.colno}",
            ) from None
    resources = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            resources.append(json.loads(line))
        except RecursionError:
            raise LimitError(f"{label} nests JSON too deeply", location=f"line {n}") from None
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{label} is not valid NDJSON: {exc.msg}", location=f"line {n}, column {exc.colno}"
            ) from None
    bad = next((i for i, r in enumerate(resources) if not isinstance(r, dict)), None)
    if bad is not None:
        raise InputError(
            f"{label}: each NDJSON line must be a FHIR resource", location=f"line {bad + 1}"
        )
    groups = group_by_patient(resources)
    if not groups:
        raise InputError(f"{label}: no patient found in the NDJSON")
    return [(f"{label} ({patient})", items) for patient, items in sorted(groups.items())]


def _looks_like_ndjson(text: str) -> bool:
    """NDJSON when the first line is a whole JSON object by itself (a pretty-printed JSON file's
    first line is only "{")."""
    first, newline, _rest = text.partition("\n")
    if not newline or not first.lstrip().startswith("{"):
        return False
    try:
        return isinstance(json.loads(first), dict)
    except (json.JSONDecodeError, RecursionError):
        return False


def parse_overrides(pairs: Sequence[str], settings_file: str | None) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if settings_file:
        try:
            loaded = json.loads(Path(settings_file).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise SettingsError(f"cannot read settings file {settings_file}: {exc}") from None
        if not isinstance(loaded, dict):
            raise SettingsError(f"settings file {settings_file} must hold a JSON object")
        overrides.update(loaded)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SettingsError(f"--set needs KEY=VALUE, got '{pair}'")
        overrides[key.strip()] = value
    return overrides


def _json(assessment: Any, args: argparse.Namespace) -> str:
    indent = None if args.compact else 2
    return json.dumps(assessment.summary(), indent=indent, ensure_ascii=False) + "\n"


def _text(assessment: Any, args: argparse.Namespace) -> str:
    return render_text(assessment)


FORMATS.update({"text": _text, "json": _json})
FORMATS["fhir"] = fhir_format  # the write-back transaction Bundle (emit/)


def cmd_evaluate(args: argparse.Namespace) -> int:
    maps = load_mappings(args.mappings)
    overrides = parse_overrides(args.set or [], args.settings)
    if args.measured_only:
        overrides["count_inferred_failures"] = False
    settings = maps.settings.with_overrides(overrides)
    as_of = args.as_of or date.today().isoformat()
    outputs = []
    for path in args.files:
        for _label, data in read_input(path):
            assessment = evaluate(
                data, as_of=as_of, settings=settings, mappings=maps, strict=args.strict
            )
            outputs.append(FORMATS[args.format](assessment, args))
    sys.stdout.write(("\n" if args.format == "text" else "").join(outputs))
    return 0


def _version() -> str:
    try:
        return importlib.metadata.version("trd-fhir")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree without install
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trd-fhir",
        description="Treatment trials, adequacy and TRD staging from FHIR R4 records.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    ev = sub.add_parser("evaluate", help="evaluate Bundle/NDJSON files and print the assessment")
    ev.add_argument("files", nargs="+", metavar="FILE", help="Bundle JSON or NDJSON; - for stdin")
    ev.add_argument("--as-of", metavar="YYYY-MM-DD", help="evaluation date (default: today)")
    ev.add_argument(
        "--format",
        choices=sorted(FORMATS),
        default="text",
        help="text: the report (default); json: the assessment contract object; "
        "fhir: the write-back transaction Bundle",
    )
    ev.add_argument(
        "--strict",
        action="store_true",
        help="fail (exit 4) on any data warning instead of skipping the resource",
    )
    ev.add_argument(
        "--measured-only",
        action="store_true",
        help="count only measured or documented failures, not inferred ones",
    )
    ev.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting")
    ev.add_argument("--settings", metavar="FILE", help="JSON object of setting overrides")
    ev.add_argument("--mappings", metavar="DIR", help="a mappings directory (default: built in)")
    ev.add_argument("--compact", action="store_true", help="json: one line per patient")
    ev.add_argument("--now", metavar="DATETIME", help="fhir: write time (default: as-of 00:00Z)")
    ev.set_defaults(handler=cmd_evaluate)
    for name, module_name in EXTRA_COMMANDS.items():
        module = importlib.import_module(module_name, __package__)
        sp = sub.add_parser(name, help=(module.__doc__ or "").strip().splitlines()[0])
        module.add_arguments(sp)
        sp.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
        return code
    except TrdFhirError as exc:
        print(f"trd-fhir: error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("trd-fhir: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("TRDFHIR_DEBUG"):
            raise
        print(
            f"trd-fhir: internal error: {type(exc).__name__}: {printable(str(exc))} "
            "(set TRDFHIR_DEBUG=1 for details; please report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())

__all__ = ["EXIT_INPUT", "FORMATS", "build_parser", "main", "read_input"]
