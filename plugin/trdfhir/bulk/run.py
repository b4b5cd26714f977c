"""A population run over a Bulk Data export: partition, evaluate bucket by bucket, merge.

    report = run_bulk(BulkOptions(input=Path("export"), output=Path("out"), workers=2))

Phases (see partition.py and worker.py):
1. partition: every input line once, into K bucket files by a stable hash of the patient;
2. evaluate: buckets on a pool of worker processes (each loads the mappings once); each
   bucket's results go to part files sorted by patient, renamed into place when complete;
3. merge: the parts into the outputs, in patient order (so the outputs do not depend on the
   number of workers or buckets): summaries.ndjson, summaries.csv, errors.ndjson and with
   `fhir` fhir/<Type>.ndjson.

Resumable: bulk-state.json in the output directory records the parameters, the partition and
every finished bucket. A re-run with the same input and options skips what is done; a run
with other input or options is refused unless `restart` is set. Memory stays flat: the main
process streams, a worker holds one bucket's bytes and one patient's resources.
"""

from __future__ import annotations

import heapq
import json
import multiprocessing
import os
import resource
import shutil
import sys
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

from ..client.bulk_export import read_state
from ..errors import InputError
from ..limits import DEFAULT_MAX_LINE_BYTES
from ..reading import empty_report, finish_report, merge_reports
from ..summary import CONTRACT_VERSION
from .ndjson import InputFile, create_new, find_inputs, manifest_date, refuse_symlinks
from .partition import PartitionStats, partition
from .progress import Progress
from .worker import (
    BucketResult,
    Worker,
    WorkerConfig,
    csv_columns,
    csv_line,
    init_worker,
    reading_path,
    run_bucket,
)

STATE_FILE = "bulk-state.json"
WORK_DIR = ".bulk-work"
SUMMARIES = "summaries.ndjson"
TABLE = "summaries.csv"
ERRORS = "errors.ndjson"
READING = "reading.json"  # the reading report (docs/real-world.md)
FHIR_DIR = "fhir"
BUCKET_BYTES = 24 << 20  # input bytes per bucket: a worker holds about this much
MAX_BUCKETS = 4096
STATE_VERSION = 1


@dataclass
class BulkOptions:
    input: Path
    output: Path
    workers: int = 0  # 0: every core
    as_of: date | None = None  # default: the export's transactionTime, else today
    fhir: bool = False
    buckets: int | None = None  # default: from the input size
    mappings: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    now: datetime | None = None  # the write time of the FHIR output; default: the first start
    restart: bool = False
    keep_work: bool = False
    progress: bool = True
    stream: TextIO | None = None  # progress and the closing report (default stderr)
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES  # longer lines are error rows, never parsed


@dataclass
class BulkReport:
    output: Path
    patients: int
    resources: int
    failed: int
    internal: int
    bad_lines: int
    seconds: dict[str, float]
    resumed_buckets: int
    already_complete: bool
    state: dict[str, Any]

    @property
    def errors(self) -> int:
        return self.failed + self.internal + self.bad_lines


def _say(stream: TextIO, message: str) -> None:
    stream.write(f"trd-fhir bulk: {message}\n")
    stream.flush()


def _atomic_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with create_new(tmp) as f:
        f.write(json.dumps(data, indent=1, sort_keys=True).encode("utf-8") + b"\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _params(opts: BulkOptions, files: list[InputFile], as_of: date) -> dict[str, Any]:
    from .. import __version__

    return {
        "inputs": [[f.name, f.size, int(f.path.stat().st_mtime_ns)] for f in files],
        "as_of": as_of.isoformat(),
        "fhir": opts.fhir,
        "mappings": str(Path(opts.mappings).resolve()) if opts.mappings else None,
        "overrides": {k: opts.overrides[k] for k in sorted(opts.overrides)},
        "max_line_bytes": opts.max_line_bytes,
        "contract": CONTRACT_VERSION,
        "version": __version__,
    }


def _bucket_count(opts: BulkOptions, files: list[InputFile], workers: int) -> int:
    if opts.buckets:
        return max(1, min(MAX_BUCKETS, opts.buckets))
    size = sum(f.estimated_bytes() for f in files)
    return max(4 * workers, min(MAX_BUCKETS, -(-size // BUCKET_BYTES)))


def _raise_open_files_limit() -> None:
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
            resource.setrlimit(
                resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard)
            )
    except (ValueError, OSError):  # pragma: no cover - platform dependent
        pass


def _outputs(out: Path) -> list[Path]:
    """Every entry a run writes in the output folder (its temporary names are created new by
    create_new, so a link planted there is replaced, never followed)."""
    return [
        out / SUMMARIES,
        out / TABLE,
        out / ERRORS,
        out / READING,
        out / FHIR_DIR,
        out / WORK_DIR,
        out / STATE_FILE,
    ]


def _clear(out: Path) -> None:
    for path in _outputs(out):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def run_bulk(opts: BulkOptions) -> BulkReport:
    stream = opts.stream if opts.stream is not None else sys.stderr
    started = time.perf_counter()
    files = find_inputs(opts.input)
    out = opts.output
    if out.resolve() == Path(opts.input).resolve():
        raise InputError("the output directory must not be the input directory")
    out.mkdir(parents=True, exist_ok=True)
    outputs = _outputs(out)
    refuse_symlinks([*outputs, out / FHIR_DIR / "Device.ndjson"])
    if opts.max_line_bytes < 1:
        raise InputError("the line size limit must be at least 1 byte")
    if opts.restart:
        _clear(out)
    state_path = out / STATE_FILE
    state = _load_state(state_path)
    as_of = (
        opts.as_of
        or (date.fromisoformat(state["params"]["as_of"]) if state else None)
        or manifest_date(opts.input)
        or date.today()
    )
    params = _params(opts, files, as_of)
    if state and state.get("params") != params:
        raise InputError(
            f"{out} holds a bulk run of other input or options; "
            "re-run with --restart to discard it, or choose another --output"
        )
    workers = opts.workers or os.cpu_count() or 1
    if state and state.get("status") == "complete":
        _say(stream, f"already complete in {out} (use --restart to run again)")
        return _report(out, state, already=True, resumed=0)
    if not state:
        now = opts.now or datetime.now(UTC)
        state = {
            "version": STATE_VERSION,
            "params": params,
            "buckets": _bucket_count(opts, files, workers),
            "now": now.isoformat(),
            "status": "partitioning",
            "partition": None,
            "done": {},
            "timings": {"partition": 0.0, "evaluate": 0.0, "merge": 0.0},
        }
        _atomic_json(state_path, state)
    _raise_open_files_limit()
    work = out / WORK_DIR
    if state["status"] == "partitioning":
        _partition(opts, files, work, state, state_path, stream)
    resumed = len(state["done"])
    if resumed:
        _say(stream, f"resuming: {resumed} of {state['buckets']} buckets already done")
    config = WorkerConfig(
        work=str(work),
        as_of=params["as_of"],
        mappings=opts.mappings,
        overrides=dict(opts.overrides),
        fhir=opts.fhir,
        now=state["now"],
        files=tuple(f.name for f in files),
    )
    _evaluate(opts, config, workers, state, state_path, stream)
    _merge(out, work, state, files, opts)
    state["status"] = "complete"
    state["timings"]["total_this_session"] = round(time.perf_counter() - started, 3)
    _atomic_json(state_path, state)
    if not opts.keep_work:
        shutil.rmtree(work, ignore_errors=True)
    report = _report(out, state, already=False, resumed=resumed)
    _closing(stream, report)
    return report


def _load_state(path: Path) -> dict[str, Any] | None:
    return read_state(path, STATE_VERSION)


def _partition(
    opts: BulkOptions,
    files: list[InputFile],
    work: Path,
    state: dict[str, Any],
    state_path: Path,
    stream: TextIO,
) -> None:
    if work.exists():
        shutil.rmtree(work)  # an interrupted partition starts again
    work.mkdir(parents=True)
    total = sum(f.size for f in files)
    bar = Progress("partition", total, "B", stream=stream, enabled=opts.progress)
    t0 = time.perf_counter()
    with create_new(work / "errors-partition.ndjson") as errors:
        stats: PartitionStats = partition(
            files,
            work,
            state["buckets"],
            errors,
            progress=bar.update,
            max_line_bytes=opts.max_line_bytes,
        )
    bar.finish(f"{stats.resources:,} resources, {stats.bad_lines} bad lines")
    state["timings"]["partition"] = round(time.perf_counter() - t0, 3)
    state["partition"] = stats.as_dict()
    state["status"] = "evaluating"
    _atomic_json(state_path, state)


def _evaluate(
    opts: BulkOptions,
    config: WorkerConfig,
    workers: int,
    state: dict[str, Any],
    state_path: Path,
    stream: TextIO,
) -> None:
    pending = [b for b in range(state["buckets"]) if str(b) not in state["done"]]
    total = int(state["partition"]["resources"])
    done_resources = sum(int(d["resources"]) for d in state["done"].values())
    bar = Progress("evaluate", total, "resources", stream=stream, enabled=opts.progress)
    bar.update(done_resources)
    t0 = time.perf_counter()

    def record(result: BucketResult) -> None:
        nonlocal done_resources
        entry = result.as_dict()
        if result.device is not None:
            state["device"] = result.device.decode("utf-8")
        state["done"][str(result.bucket)] = entry
        state["timings"]["evaluate"] = round(
            state["timings"]["evaluate"] + (time.perf_counter() - mark[0]), 3
        )
        mark[0] = time.perf_counter()
        _atomic_json(state_path, state)
        done_resources += result.resources
        patients = sum(int(d["patients"]) for d in state["done"].values())
        bar.update(done_resources, f"{patients:,} patients")

    mark = [t0]
    if pending and workers <= 1:
        worker = Worker(config)
        for b in pending:
            record(worker.run(b))
    elif pending:
        for result in _pool_map(config, workers, pending):
            record(result)
    patients = sum(int(d["patients"]) for d in state["done"].values())
    bar.finish(f"{patients:,} patients")


def _pool_map(config: WorkerConfig, workers: int, buckets: list[int]) -> Iterator[BucketResult]:
    """Results of run_bucket over `buckets` as they complete; at most 2 per worker in flight.
    Ctrl-C cancels what has not started."""
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(buckets)),
        mp_context=context,
        initializer=init_worker,
        initargs=(config,),
    )
    todo = iter(buckets)
    running: set[Future[BucketResult]] = set()
    try:
        for b in todo:
            running.add(pool.submit(run_bucket, b))
            if len(running) >= 2 * workers:
                break
        while running:
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                nxt = next(todo, None)
                if nxt is not None:
                    running.add(pool.submit(run_bucket, nxt))
                yield fut.result()
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


# -- merge -------------------------------------------------------------------------------------


def _keyed(path: Path) -> Iterator[tuple[bytes, bytes]]:
    with open(path, "rb", buffering=1 << 16) as f:
        for line in f:
            key, _, rest = line.partition(b"\t")
            yield key, rest


def _merge_parts(paths: list[Path], target: Path, header: bytes = b"") -> int:
    """Merge part files sorted by key into `target` (keys dropped), atomically."""
    tmp = target.with_name(target.name + ".tmp")
    count = 0
    with create_new(tmp) as out:
        out.write(header)
        for _key, rest in heapq.merge(*(_keyed(p) for p in paths), key=lambda item: item[0]):
            out.write(rest)
            count += 1
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, target)
    return count


def _merge(
    out: Path, work: Path, state: dict[str, Any], files: list[InputFile], opts: BulkOptions
) -> None:
    t0 = time.perf_counter()
    parts = work / "parts"
    buckets = range(state["buckets"])

    def part(name: str) -> list[Path]:
        return [p for b in buckets if (p := parts / f"b{b:05d}.{name}").exists()]

    _merge_parts(part("summaries"), out / SUMMARIES)
    header = csv_line(csv_columns())
    _merge_parts(part("csv"), out / TABLE, header=header)
    _merge_errors(out, work, part("errors"))
    _merge_reading(out, [reading_path(work, b) for b in buckets])
    if opts.fhir:
        fhir = out / FHIR_DIR
        if fhir.exists():
            shutil.rmtree(fhir)
        fhir.mkdir()
        types = sorted({t for d in state["done"].values() for t in d.get("fhir_types", [])})
        for rtype in types:
            _merge_parts(part(f"fhir.{rtype}"), fhir / f"{rtype}.ndjson")
        if state.get("device"):
            with create_new(fhir / "Device.ndjson") as device:
                device.write(state["device"].encode("utf-8") + b"\n")
    state["timings"]["merge"] = round(time.perf_counter() - t0, 3)


def _merge_reading(out: Path, paths: list[Path]) -> None:
    report = empty_report()
    for path in paths:
        if path.exists():
            report = merge_reports(report, json.loads(path.read_bytes()))
    _atomic_json(out / READING, finish_report(report))


def _merge_errors(out: Path, work: Path, parts: list[Path]) -> None:
    target = out / ERRORS
    tmp = target.with_name(target.name + ".tmp")
    with create_new(tmp) as f:
        first = work / "errors-partition.ndjson"
        if first.exists():
            with open(first, "rb") as src:
                shutil.copyfileobj(src, f)
        for _key, rest in heapq.merge(*(_keyed(p) for p in parts), key=lambda item: item[0]):
            f.write(rest)
    os.replace(tmp, target)


# -- report ------------------------------------------------------------------------------------


def _report(out: Path, state: dict[str, Any], *, already: bool, resumed: int) -> BulkReport:
    done = state["done"].values()
    return BulkReport(
        output=out,
        patients=sum(int(d["patients"]) for d in done),
        resources=sum(int(d["resources"]) for d in done),
        failed=sum(int(d["failed"]) for d in done),
        internal=sum(int(d["internal"]) for d in done),
        bad_lines=int((state.get("partition") or {}).get("bad_lines", 0)),
        seconds=dict(state["timings"]),
        resumed_buckets=resumed,
        already_complete=already,
        state=state,
    )


def _closing(stream: TextIO, r: BulkReport) -> None:
    elapsed = r.seconds.get("total_this_session", 0.0)
    rate = r.patients / elapsed if elapsed else 0.0
    _say(
        stream,
        f"{r.patients:,} patients ({r.resources:,} resources) in {elapsed:.1f} s "
        f"({rate:,.0f} patients/s); outputs in {r.output}",
    )
    if r.errors:
        parts = []
        if r.bad_lines:
            parts.append(f"{r.bad_lines} bad line{'s' if r.bad_lines != 1 else ''}")
        if r.failed:
            parts.append(f"{r.failed} patient{'s' if r.failed != 1 else ''} with unusable input")
        if r.internal:
            parts.append(f"{r.internal} internal error{'s' if r.internal != 1 else ''}")
        _say(stream, f"{', '.join(parts)}: see {r.output / ERRORS}")


__all__ = ["BulkOptions", "BulkReport", "run_bulk"]
