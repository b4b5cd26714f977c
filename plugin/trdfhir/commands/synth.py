"""write a synthetic depression registry as a Bulk Data export (NDJSON per resource type)

    trd-fhir synth --patients 1000 --seed 7 --output export/
    trd-fhir synth --patients 100000 --seed 7 --output export/ --workers 2 --gzip

Deterministic: the same --patients, --seed, --as-of and --gzip give byte-identical files,
whatever --workers. The files are what a FHIR server's `$export` writes (Patient.ndjson,
Condition.ndjson, ...), with a manifest.json whose transactionTime is the as-of date.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date

from ..bulk.progress import Progress
from ..bulk.synth import DEFAULT_AS_OF, write_population
from ..errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--patients", type=int, required=True, metavar="N", help="1 to 1,000,000")
    parser.add_argument("--seed", type=int, default=1, metavar="S", help="random seed (default 1)")
    parser.add_argument("--output", required=True, metavar="DIR", help="directory to write")
    parser.add_argument(
        "--as-of",
        metavar="YYYY-MM-DD",
        help=f"the date the histories lead up to (default {DEFAULT_AS_OF.isoformat()})",
    )
    parser.add_argument("--workers", type=int, default=1, metavar="N", help="processes (default 1)")
    parser.add_argument("--gzip", action="store_true", help="write .ndjson.gz files")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.patients <= 1_000_000:
        raise InputError("--patients must be between 1 and 1,000,000")
    try:
        as_of = date.fromisoformat(args.as_of) if args.as_of else DEFAULT_AS_OF
    except ValueError:
        raise InputError(f"--as-of must be YYYY-MM-DD, got {args.as_of!r}") from None
    bar = Progress(
        "synth", args.patients, "patients", enabled=not args.quiet, prefix="trd-fhir synth"
    )
    started = time.perf_counter()
    result = write_population(
        args.output,
        patients=args.patients,
        seed=args.seed,
        as_of=as_of,
        workers=max(1, args.workers),
        gz=args.gzip,
        progress=bar.update,
    )
    bar.finish()
    total = sum(result.counts.values())
    sys.stderr.write(
        f"trd-fhir synth: {result.patients:,} patients, {total:,} resources in "
        f"{len(result.files)} files under {args.output} ({time.perf_counter() - started:.1f} s)\n"
    )
    return 0
