"""evaluate every patient of a Bulk Data export (NDJSON files) on all cores

    trd-fhir bulk --input export/ --output results/ [--workers N] [--as-of DATE] [--fhir]
    trd-fhir bulk --fhir-base URL --output results/ [--group ID] [--write]   # docs/bulk-export.md

Reads every `.ndjson` and `.ndjson.gz` file of --input once, groups the resources by patient
through bucket files on disk (memory stays flat whatever the size of the export), evaluates the
patients on --workers processes and writes to --output:

  summaries.ndjson   the assessment summary (the JSON contract), one line per patient
  summaries.csv      a flat table: episode, headline of every staging model, findings by severity
  errors.ndjson      bad lines (file and line number) and patients that could not be evaluated
  fhir/<Type>.ndjson with --fhir: the assessment resources, ready for a FHIR `$import`
  bulk-state.json    parameters, progress and statistics of the run

With --engine spark (pip install 'trd-fhir[spark]', Java 17) the same run happens on Apache
Spark: --master local[*] (default), spark://HOST:PORT, yarn, ...; --input may then be any path
Spark reads (hdfs://, s3a://, with your Spark configuration); the outputs are the same, plus
summaries.parquet (docs/spark.md).

Rows are in patient order. An interrupted run resumes where it stopped when re-run with the
same arguments; --restart starts over. The as-of date defaults to the transactionTime of the
export's manifest.json, else today.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path

from ..bulk.remote import as_of_option, now_option
from ..bulk.run import BulkOptions, BulkReport, run_bulk
from ..errors import EXIT_INTERNAL, InputError
from ..limits import DEFAULT_MAX_LINE_BYTES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input", metavar="DIR", help="the Bulk Data export (or --fhir-base: export it first)"
    )
    parser.add_argument("--output", required=True, metavar="DIR", help="where results go")
    parser.add_argument(
        "--workers", type=int, default=0, metavar="N", help="processes (default: every core)"
    )
    parser.add_argument(
        "--as-of",
        metavar="YYYY-MM-DD",
        help="evaluation date (default: the export's transactionTime "
        "from manifest.json, else today)",
    )
    parser.add_argument(
        "--fhir", action="store_true", help="also write the FHIR resources as NDJSON for $import"
    )
    parser.add_argument(
        "--now",
        metavar="INSTANT",
        help="with --fhir: the write time recorded in the resources (default: the run's start)",
    )
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting")
    parser.add_argument("--settings", metavar="FILE", help="JSON object of setting overrides")
    parser.add_argument(
        "--mappings", metavar="DIR", help="a mappings directory (default: built in)"
    )
    parser.add_argument(
        "--buckets", type=int, metavar="K", help="number of buckets (default: from the input size)"
    )
    parser.add_argument(
        "--max-line-bytes",
        type=int,
        default=DEFAULT_MAX_LINE_BYTES,
        metavar="N",
        help="a longer NDJSON line is an error row, never parsed "
        f"(default {DEFAULT_MAX_LINE_BYTES:,})",
    )
    parser.add_argument("--restart", action="store_true", help="discard a previous run in --output")
    parser.add_argument("--keep-work", action="store_true", help="keep the bucket files")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument(
        "--engine",
        choices=("local", "spark"),
        default="local",
        help="local: this machine's cores (default); spark: Apache Spark (docs/spark.md)",
    )
    parser.add_argument(
        "--master",
        metavar="URL",
        help="with --engine spark: local[*] (default), spark://HOST:PORT, yarn, ...",
    )
    _remote_arguments(parser)


def _remote_arguments(parser: argparse.ArgumentParser) -> None:
    """--fhir-base: export from a server first (bulk/remote.py), incrementally; --write."""
    from .export import add_access_arguments, add_export_arguments

    remote = parser.add_argument_group("from a FHIR server (instead of --input)")
    remote.add_argument("--fhir-base", metavar="URL", help="run $export on this server first")
    remote.add_argument(
        "--write", action="store_true", help="write each assessment back to that server"
    )
    remote.add_argument(
        "--batch-entries",
        type=int,
        default=200,
        metavar="N",
        help="with --write: at most N entries per transaction (default 200)",
    )
    add_export_arguments(remote)
    add_access_arguments(parser)


# the master URLs Spark itself accepts (SparkContext): checked before a JVM is started for nothing
_MASTER = re.compile(r"local(\[(\d+|\*)(,\d+)?\])?|spark://\S+|yarn|k8s://\S+|mesos://\S+")


def _engine(args: argparse.Namespace) -> Callable[[BulkOptions], BulkReport]:
    """The local engine (run_bulk), or Spark's (bulk/spark.py) with --engine spark."""
    if args.engine == "spark":
        from ..bulk.spark import run_spark

        if args.master and not _MASTER.fullmatch(args.master):
            raise InputError(
                f"--master must be local, local[N], local[*], spark://HOST:PORT, yarn or "
                f"k8s://URL, got {args.master!r}"
            )

        return lambda options: run_spark(options, master=args.master, source=args.input)
    if args.master:
        raise InputError("--master needs --engine spark")
    return run_bulk


def run(args: argparse.Namespace) -> int:
    from ..cli import parse_overrides
    from ..mappings import load_mappings

    overrides = parse_overrides(args.set or [], args.settings)
    # Check the mappings and settings here, once, before any worker starts.
    load_mappings(args.mappings).settings.with_overrides(overrides)
    if args.fhir_base:
        if args.engine != "local":
            raise InputError(
                "--fhir-base runs with the local engine; for Spark, run `trd-fhir export` "
                "first and then `bulk --engine spark --input DIR`"
            )
        from ..bulk.remote import run_remote

        return run_remote(args, overrides)
    if not args.input:
        raise InputError("give --input DIR (an export on disk) or --fhir-base URL")
    if args.write:
        raise InputError("--write needs --fhir-base (the server to write to)")
    report = _engine(args)(
        BulkOptions(
            input=Path(args.input),
            output=Path(args.output),
            workers=max(0, args.workers),
            as_of=as_of_option(args.as_of),
            fhir=args.fhir,
            buckets=args.buckets,
            mappings=args.mappings,
            overrides=overrides,
            now=now_option(args.now),
            restart=args.restart,
            keep_work=args.keep_work,
            progress=not args.quiet,
            max_line_bytes=args.max_line_bytes,
        )
    )
    return EXIT_INTERNAL if report.internal else 0
