"""the population picture of a bulk run: one offline HTML page (prevalence, agreement, ...)

    trd-fhir population results/ --output population.html [--figures DIR] [--json FILE]
        [--measure-report FILE] [--label TEXT] [--now DATETIME]

RESULTS_DIR is the --output of `trd-fhir bulk` (summaries.ndjson; errors.ndjson, bulk-state.json
and reading.json where present). The page is self-contained: inline CSS and SVG, no script, no
request. docs/population.md describes every number. Needs the optional extra `[report]`
(pip install 'trd-fhir[report]'): matplotlib and statsmodels.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import InputError, SettingsError, TrdFhirError


class ReportExtraMissing(TrdFhirError):
    """The optional dependencies of the report are not installed."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", metavar="RESULTS_DIR", help="the --output of trd-fhir bulk")
    parser.add_argument("--output", required=True, metavar="FILE", help="the HTML page to write")
    parser.add_argument(
        "--figures", metavar="DIR", help="also write NAME.png and NAME.svg per figure"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    parser.add_argument(
        "--measure-report",
        metavar="FILE",
        help="also write a Bundle of one summary MeasureReport per model",
    )
    parser.add_argument(
        "--label", metavar="TEXT", help="a banner on the page, e.g. 'Synthetic population'"
    )
    parser.add_argument(
        "--now",
        metavar="DATETIME",
        help="MeasureReport date (default: the run's as-of date, 00:00Z)",
    )


def _write(path: Path, text: str) -> None:
    """All or nothing: a temporary file in the same folder, renamed over the target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)  # a report to share, like the other outputs
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _partial_is_failure(overrides: dict[str, Any], mappings: str | None) -> bool:
    from ..mappings import load_mappings

    settings = load_mappings(mappings).settings.with_overrides(overrides)
    return bool(settings.partial_counts_as_failure)


def _now(value: str | None, as_of: str) -> str:
    if value is None:
        return f"{as_of}T00:00:00Z"
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"--now must be an ISO date-time, got {value!r}") from None
    if parsed.tzinfo is None:
        raise InputError(f"--now needs a time zone (e.g. {value}Z)")
    return parsed.isoformat().replace("+00:00", "Z")


def run(args: argparse.Namespace) -> int:
    try:
        from ..population.compute import compute, reading_coverage
        from ..population.definitions import load_definitions
        from ..population.figures import all_charts, write_files
        from ..population.load import read_results
        from ..population.measure import measure_bundle
        from ..population.page import render
    except ImportError as exc:
        raise ReportExtraMissing(
            f"the report needs the optional extra: pip install 'trd-fhir[report]' ({exc.name} "
            "is missing)"
        ) from None
    from .. import __version__
    from ..summary import CONTRACT_VERSION

    results = read_results(args.results)
    params = results.params
    found = params.get("overrides")
    overrides: dict[str, Any] = dict(found) if isinstance(found, dict) else {}
    where = params.get("mappings")
    mappings = where if isinstance(where, str) else None
    as_of = params.get("as_of") or results.summaries[0].get("as_of")
    if not isinstance(as_of, str):
        raise InputError(f"{args.results}: no as-of date in bulk-state.json or the summaries")
    try:
        partial = _partial_is_failure(overrides, mappings)
    except SettingsError as exc:
        raise SettingsError(f"bulk-state.json's settings: {exc.message}") from None
    now = _now(args.now, as_of)
    defs = load_definitions()
    numbers = compute(results.summaries, defs, partial_is_failure=partial)
    numbers["reading"] = reading_coverage(results.reading)
    numbers["run"] = {
        "as_of": as_of,
        "overrides": overrides,
        "bad_lines": [{"line": n, "error": why} for n, why in results.bad_lines],
        "errors": results.error_kinds,
        "reading": results.reading,
    }
    ordinal = [m.model for m in defs.models if m.ordinal_field]
    charts = all_charts(numbers, ordinal)
    page = render(
        numbers,
        charts,
        as_of=as_of,
        version=__version__,
        contract=CONTRACT_VERSION,
        overrides=overrides,
        error_kinds=results.error_kinds,
        bad_lines=len(results.bad_lines),
        reading=results.reading,
        notes=results.notes,
        label=args.label,
    )
    outputs = [("page", Path(args.output), page)]
    if args.json:
        outputs.append(("numbers", Path(args.json), json.dumps(numbers, indent=1) + "\n"))
    if args.measure_report:
        bundle = measure_bundle(results.summaries, defs, as_of=as_of, now=now)
        outputs.append(
            ("MeasureReports", Path(args.measure_report), json.dumps(bundle, indent=1) + "\n")
        )
    for _, path, text in outputs:
        _write(path, text)
    if args.figures:
        write_files(charts, Path(args.figures))
    sys.stderr.write(
        f"trd-fhir population: {numbers['patients']:,} patients, {len(charts)} figures; "
        + ", ".join(f"{what} in {path}" for what, path, _ in outputs)
        + (f", figures in {args.figures}" if args.figures else "")
        + "\n"
    )
    return 0
