"""start the sandbox FHIR server on 127.0.0.1, load the examples, print its base URL

    trd-fhir sandbox              install once (.sandbox/venv), start, load examples/, print URL
    trd-fhir sandbox --port 8091  another port
    trd-fhir sandbox --stop       stop it

The server is sekmet-fhir, pinned by sandbox/constraints.txt, with its data in
.sandbox/data/sekmet.db (kept between runs). Re-running while it is up reloads the examples.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..client import FhirClient
from ..sandbox import (
    DEFAULT_PORT,
    default_paths,
    load_examples,
    project_root,
    read_examples,
    start_sandbox,
    stop_sandbox,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (default {DEFAULT_PORT})"
    )
    parser.add_argument("--stop", action="store_true", help="stop the running sandbox")
    parser.add_argument(
        "--examples",
        metavar="DIR",
        help="directory of example Bundles to load (default: examples/ of the checkout)",
    )
    parser.add_argument("--no-load", action="store_true", help="do not load the examples")
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        help="where the server keeps its settings, data, log and pid file (default: .sandbox)",
    )


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    paths = default_paths(state=Path(args.state_dir).resolve() if args.state_dir else None)
    if args.stop:
        stopped = stop_sandbox(paths)
        _say("sandbox stopped" if stopped else "sandbox was not running")
        return 0
    base, started = start_sandbox(paths, port=args.port, log=sys.stderr)
    if started:
        _say(f"sandbox started (log: {paths.log})")
    elif args.port != DEFAULT_PORT and not base.endswith(f":{args.port}/fhir"):
        _say("sandbox already running; --port ignored")
    if not args.no_load:
        directory = Path(args.examples) if args.examples else project_root() / "examples"
        examples = read_examples(directory)
        with FhirClient(base) as client:
            count = load_examples(client, examples)
        _say(f"loaded {len(examples)} example patients ({count} resources) from {directory}")
    state = f" --state-dir {args.state_dir}" if args.state_dir else ""
    _say(f"stop it with: trd-fhir sandbox --stop{state}")
    sys.stdout.write(base + "\n")
    return 0
