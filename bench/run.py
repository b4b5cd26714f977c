"""`make bench`: every figure of issue 6, measured in one run on this machine.

    .venv/bin/python bench/run.py            the full run (10,000 and 100,000 patients)
    .venv/bin/python bench/run.py --quick    a smoke run (small populations, few requests)

Writes bench/results/latest.json (not committed), prints a short table, and records the table
in bench/README.md between its `results` markers. Timings are wall-clock (time.perf_counter)
on this machine; nothing here is a pass/fail test.

Measured:
- limit: the time to merely parse the export's NDJSON with orjson (one core), the floor any
  pipeline must pay;
- pipeline: `trd-fhir bulk` (read NDJSON -> group -> evaluate -> summaries) on the same export,
  with 1 and 2 workers, as resources/s, patients/s and a ratio to the limit;
- naive: the same pipeline in one process with every input resource validated by the
  fhir.resources R4B models (model_validate), against the same pipeline without, as a ratio;
- CDS Hooks patient-view latency over HTTP (uvicorn on 127.0.0.1) for a ~300-resource patient,
  with prefetch, and without prefetch against the sandbox FHIR server (sekmet-fhir);
- `trd-fhir bulk` peak memory (RSS summed over the process tree, sampled) at 10,000 and 100,000
  patients.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from service_load import TreeCpu, workers_scaling

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "latest.json"
README = ROOT / "bench" / "README.md"
WORK = ROOT / "bench" / ".work"
TRD = [sys.executable, "-m", "trdfhir.cli"]
SEED = 1
PAGE = os.sysconf("SC_PAGE_SIZE")
MARK_START = "<!-- results:start -->"
MARK_END = "<!-- results:end -->"


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# -- process tree memory -----------------------------------------------------------------------


def _processes() -> dict[int, tuple[int, int, int]]:
    """pid -> (ppid, rss bytes, peak rss bytes) of every process we can read."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        try:
            ppid = int(fields["PPid"])
            rss = int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
            hwm = int(fields.get("VmHWM", "0 kB").split()[0]) * 1024
        except (KeyError, ValueError):
            continue
        out[int(entry)] = (ppid, rss, hwm)
    return out


def tree_rss(root: int) -> tuple[int, int]:
    """(RSS summed over `root` and its descendants, the largest peak RSS of one of them)."""
    procs = _processes()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    total, peak, todo, seen = 0, 0, [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in procs:
            continue
        seen.add(pid)
        total += procs[pid][1]
        peak = max(peak, procs[pid][2])
        todo += children.get(pid, [])
    return total, peak


def busy_cpu_seconds() -> float:
    """CPU time spent by the whole machine (all processes), from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Measured:
    seconds: float
    peak_tree_rss: int
    peak_process_rss: int
    returncode: int
    cpu_seconds: float  # user + system of the command and its (reaped) descendants
    other_cores_busy: float  # CPU used by everything else on the machine meanwhile, in cores
    tree_cpu_seconds: float = 0.0  # user + system of every descendant seen alive (sampled)


def own_cpu(pid: int) -> float:
    """utime + stime of one process, in seconds (0 when gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_pids(root: int) -> list[int]:
    procs = _processes()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in procs and pid not in found:
            found.append(pid)
            todo += children.get(pid, [])
    return found


def measured(
    cmd: list[str], log: Path, timeout: float, env: dict[str, str] | None = None
) -> Measured:
    """Run `cmd`, sampling the RSS of its process tree every 0.2 s."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as err:
        cpu0, busy0 = children_cpu(), busy_cpu_seconds()
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT, env=env)
        peak_tree = peak_one = 0
        stop = threading.Event()
        seen_cpu: dict[int, float] = {}  # pid -> its last utime + stime (JVMs, Python workers)

        def sample() -> None:
            nonlocal peak_tree, peak_one
            while not stop.is_set():
                total, one = tree_rss(proc.pid)
                peak_tree, peak_one = max(peak_tree, total), max(peak_one, one)
                for pid in tree_pids(proc.pid):
                    seen_cpu[pid] = max(seen_cpu.get(pid, 0.0), own_cpu(pid))
                stop.wait(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"{' '.join(cmd[3:5])} took over {timeout:.0f} s") from None
        finally:
            stop.set()
            sampler.join()
        seconds = time.perf_counter() - started
        cpu = children_cpu() - cpu0
        others = max(0.0, (busy_cpu_seconds() - busy0 - cpu) / seconds)
    if code != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(cmd[3:5])} failed ({code}): {' / '.join(tail)}")
    return Measured(seconds, peak_tree, peak_one, code, cpu, others, sum(seen_cpu.values()))


# -- populations -------------------------------------------------------------------------------


def synth(patients: int, directory: Path) -> dict[str, Any]:
    if directory.exists():
        shutil.rmtree(directory)
    say(f"synth {patients:,} patients")
    cmd = [*TRD, "synth", "--patients", str(patients), "--seed", str(SEED)]
    cmd += ["--output", str(directory), "--workers", "2", "--quiet"]
    m = measured(cmd, WORK / "logs" / f"synth-{patients}.log", timeout=1800)
    manifest = json.loads((directory / "manifest.json").read_text())
    resources = sum(item["count"] for item in manifest["output"])
    size = sum(p.stat().st_size for p in directory.glob("*.ndjson"))
    return {
        "patients": patients,
        "resources": resources,
        "bytes": size,
        "resources_per_patient": round(resources / patients, 1),
        "seconds": round(m.seconds, 2),
    }


def ndjson_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.ndjson"))


def limit(directory: Path, repeats: int) -> dict[str, Any]:
    """orjson.loads of every line, one core; median of `repeats` (the files are in the page
    cache after a first read)."""
    import orjson

    files = ndjson_files(directory)
    for path in files:  # warm the page cache
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass

    def read_only() -> int:
        n = 0
        for path in files:
            with open(path, "rb", buffering=1 << 20) as f:
                for _line in f:
                    n += 1
        return n

    def parse() -> int:
        n = 0
        loads = orjson.loads
        for path in files:
            with open(path, "rb", buffering=1 << 20) as f:
                for line in f:
                    loads(line)
                    n += 1
        return n

    say("limit: orjson parse")
    reads, parses, lines = [], [], 0
    for _ in range(repeats):
        t = time.perf_counter()
        read_only()
        reads.append(time.perf_counter() - t)
        t = time.perf_counter()
        lines = parse()
        parses.append(time.perf_counter() - t)
    seconds = statistics.median(parses)
    return {
        "lines": lines,
        "seconds": round(seconds, 3),
        "read_only_seconds": round(statistics.median(reads), 3),
        "resources_per_s": round(lines / seconds),
        "repeats": repeats,
        "orjson": orjson.__version__,
    }


def bulk(directory: Path, workers: int, label: str) -> dict[str, Any]:
    out = WORK / f"out-{label}"
    if out.exists():
        shutil.rmtree(out)
    say(f"bulk {label} with {workers} worker(s)")
    cmd = [*TRD, "bulk", "--input", str(directory), "--output", str(out)]
    cmd += ["--workers", str(workers), "--quiet"]
    m = measured(cmd, WORK / "logs" / f"bulk-{label}.log", timeout=3600)
    state = json.loads((out / "bulk-state.json").read_text())
    done = state["done"].values()
    patients = sum(d["patients"] for d in done)
    resources = sum(d["resources"] for d in done)
    outputs = {p.name: p.stat().st_size for p in out.iterdir() if p.is_file()}
    shutil.rmtree(out)
    return {
        "workers": workers,
        "patients": patients,
        "resources": resources,
        "seconds": round(m.seconds, 2),
        "patients_per_s": round(patients / m.seconds, 1),
        "resources_per_s": round(resources / m.seconds),
        "phases": {k: state["timings"][k] for k in ("partition", "evaluate", "merge")},
        "buckets": state["buckets"],
        "cpu_seconds": round(m.cpu_seconds, 1),
        "other_cores_busy": round(m.other_cores_busy, 2),
        "peak_tree_rss_mib": round(m.peak_tree_rss / 2**20, 1),
        "peak_process_rss_mib": round(m.peak_process_rss / 2**20, 1),
        "output_bytes": outputs,
    }


# -- spark: trd-fhir bulk --engine spark ------------------------------------------------------


def process_cpu(pids: list[int]) -> float:
    """CPU seconds of these processes and of their reaped children (utime + stime + cutime +
    cstime from /proc): a standalone worker's executors are its children."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


def group_cpu(pgids: list[int]) -> float:
    """CPU seconds of every live process of these process groups, with their reaped children."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) in pgids:
                pids.append(int(entry))
    return process_cpu(pids)


def spark_bulk(
    directory: Path, master: str, label: str, env: dict[str, str] | None = None
) -> dict[str, Any]:
    out = WORK / f"out-{label}"
    if out.exists():
        shutil.rmtree(out)
    say(f"bulk --engine spark --master {master} ({label})")
    cmd = [*TRD, "bulk", "--engine", "spark", "--master", master]
    cmd += ["--input", str(directory), "--output", str(out), "--quiet"]
    m = measured(cmd, WORK / "logs" / f"spark-{label}.log", timeout=3600, env=env)
    state = json.loads((out / "bulk-state.json").read_text())
    shutil.rmtree(out)
    patients = state["totals"]["patients"]
    return {
        "master": master,
        "patients": patients,
        "seconds": round(m.seconds, 2),
        "patients_per_s": round(patients / m.seconds, 1),
        "phases": {k: state["timings"][k] for k in ("read", "evaluate", "write")},
        "partitions": state["buckets"],
        # the driver, its JVM and (local[N]) its Python workers: sampled from /proc, since the
        # JVM and its workers are not always reaped where getrusage would count them
        "cpu_seconds": round(max(m.cpu_seconds, m.tree_cpu_seconds), 1),
        "other_cores_busy": round(m.other_cores_busy, 2),
        "peak_tree_rss_mib": round(m.peak_tree_rss / 2**20, 1),
    }


def spark_section(directory: Path, local: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Spark local[1] vs local[2], a standalone cluster of one vs two one-core workers, and the
    overhead against the local engine (1 and 2 workers) on the same export."""
    sys.path.insert(0, str(ROOT))
    from tests.spark.cluster import HOST, cluster_env, standalone_cluster, write_conf

    out: dict[str, Any] = {}
    for slots in (1, 2):
        out[f"local[{slots}]"] = spark_bulk(directory, f"local[{slots}]", f"local{slots}")
    # the fixed cost of a run (JVM, session, Python workers): the same on 20 patients
    tiny = WORK / "export-tiny"
    synth(20, tiny)
    out["fixed"] = spark_bulk(tiny, "local[1]", "fixed")
    shutil.rmtree(tiny)
    conf = write_conf(
        WORK / "spark-conf",
        **{
            "spark.driver.host": HOST,
            "spark.driver.bindAddress": HOST,
            "spark.executor.memory": "1g",
            "spark.ui.enabled": "false",
        },
    )
    env = cluster_env(conf) | {"PYSPARK_PYTHON": sys.executable}
    for workers in (1, 2):
        label = f"cluster-{workers}x1"
        with standalone_cluster(WORK / label, workers=workers, memory="1500m") as cluster:
            groups = cluster.pids  # each started in its own process group
            before = group_cpu(groups)
            r = spark_bulk(directory, cluster.url, label, env=env)
            r["cluster_cpu_seconds"] = round(group_cpu(groups) - before, 1)
            r["cpu_seconds"] = round(r["cpu_seconds"] + r["cluster_cpu_seconds"], 1)
        out[label] = r

    def ratio(a: float, b: float) -> float:
        return round(a / b, 2) if b else 0.0

    one, two = out["local[1]"], out["local[2]"]
    c1, c2 = out["cluster-1x1"], out["cluster-2x1"]
    out["ratios"] = {
        "speedup_local_1_to_2": ratio(one["seconds"], two["seconds"]),
        "speedup_cluster_1_to_2_workers": ratio(c1["seconds"], c2["seconds"]),
        "wall_local1_vs_engine_1_worker": ratio(one["seconds"], local["1"]["seconds"]),
        "cpu_local1_vs_engine_1_worker": ratio(one["cpu_seconds"], local["1"]["cpu_seconds"]),
        "wall_local2_vs_engine_2_workers": ratio(two["seconds"], local["2"]["seconds"]),
        "cpu_local2_vs_engine_2_workers": ratio(two["cpu_seconds"], local["2"]["cpu_seconds"]),
        "cpu_ms_per_patient_local2": round(two["cpu_seconds"] / two["patients"] * 1000, 1),
    }
    fixed = out["fixed"]
    extra = max(one["patients"] - fixed["patients"], 1)
    marginal = (one["cpu_seconds"] - fixed["cpu_seconds"]) / extra
    out["ratios"]["fixed_cpu_seconds"] = fixed["cpu_seconds"]
    out["ratios"]["fixed_wall_seconds"] = fixed["seconds"]
    out["ratios"]["marginal_cpu_ms_per_patient"] = round(marginal * 1000, 1)
    engine = local["1"]["cpu_seconds"] / local["1"]["patients"]
    out["ratios"]["marginal_cpu_vs_engine"] = ratio(marginal, engine)
    out["ratios"]["cpu_hours_per_million"] = round(marginal * 1e6 / 3600, 1)
    return out


# -- naive: validate every resource with the R4B models ----------------------------------------


def group(resources: Any) -> dict[str, list[dict[str, Any]]]:
    """Resources by patient, each patient with the Medications it references in front (as
    `trd-fhir bulk` does; the core's group_by_patient gives every patient every Medication)."""
    from trdfhir.ingest.grouping import patient_of

    groups: dict[str, list[dict[str, Any]]] = {}
    meds: dict[str, dict[str, Any]] = {}
    for r in resources:
        patient = patient_of(r)
        if patient is not None:
            groups.setdefault(patient, []).append(r)
        elif r.get("resourceType") == "Medication":
            meds[f"Medication/{r.get('id')}"] = r
    for items in groups.values():
        refs = {(r.get("medicationReference") or {}).get("reference") for r in items}
        items[:0] = [meds[ref] for ref in sorted(ref for ref in refs if ref in meds)]
    return groups


def in_process(directory: Path, validate: bool) -> tuple[float, int, int]:
    """Read -> (validate) -> group -> evaluate -> summary JSON, one process, one core."""
    import orjson

    from trdfhir.assessment import evaluate
    from trdfhir.fhir.models import parse
    from trdfhir.mappings import load_mappings

    maps = load_mappings()
    started = time.perf_counter()
    resources = []
    for path in ndjson_files(directory):
        with open(path, "rb") as f:
            for line in f:
                resource = orjson.loads(line)
                if validate:
                    parse(resource)
                resources.append(resource)
    groups = group(resources)
    as_of = "2026-10-01"
    for patient in sorted(groups):
        summary = evaluate(groups[patient], as_of=as_of, mappings=maps).summary()
        orjson.dumps(summary)
    return time.perf_counter() - started, len(groups), len(resources)


def naive(directory: Path) -> dict[str, Any]:
    say("naive: R4B validation of every resource")
    in_process(directory, validate=False)  # warm-up (imports, caches)
    plain, patients, resources = in_process(directory, validate=False)
    validated, _, _ = in_process(directory, validate=True)
    return {
        "patients": patients,
        "resources": resources,
        "seconds": round(plain, 2),
        "validated_seconds": round(validated, 2),
        "ratio": round(validated / plain, 2),
        "validation_us_per_resource": round((validated - plain) / resources * 1e6, 1),
    }


STAGES = (
    ("parse (orjson)", "", "loads"),
    ("ingest: resource set, one-patient check", "ingest/bundle.py", "build_resource_set"),
    ("ingest: medications", "ingest/medications.py", "read_medications"),
    ("ingest: observations", "ingest/observations.py", "read_observations"),
    ("ingest: procedures", "ingest/clinical.py", "read_procedures"),
    ("ingest: conditions", "ingest/clinical.py", "read_conditions"),
    ("episode", "episodes.py", "current_episode"),
    ("trials", "trials.py", "build_trials"),
    ("adequacy", "adequacy.py", "judge"),
    ("outcomes", "outcomes.py", "judge"),
    ("patterns (loss of effect)", "patterns.py", "loss_of_effect"),
    ("staging (all models)", "staging/__init__.py", "run_all"),
    ("staging upper bounds", "staging/__init__.py", "upper_bounds"),
    ("findings", "findings.py", "find_all"),
    ("suggestions", "suggestions.py", "suggest"),
    ("summary (contract JSON object)", "summary.py", "summarise"),
    ("summary -> bytes (orjson)", "", "dumps"),
)


def _matches(key: tuple[str, int, str], suffix: str, name: str) -> bool:
    filename, _line, func = key
    if not suffix:  # a C function of orjson: ('~', 0, '<built-in method orjson.loads>')
        return filename == "~" and func.endswith(f"orjson.{name}>")
    return func == name and filename.endswith(suffix)


def breakdown(directory: Path, patients: int) -> dict[str, Any]:
    """Where one process spends its time per patient (cProfile: inflates small calls), and the
    cost of the FHIR output (emit_bundle), measured without the profiler."""
    import cProfile
    import pstats

    import orjson

    from trdfhir.assessment import evaluate
    from trdfhir.emit import emit_bundle
    from trdfhir.mappings import load_mappings

    say("breakdown of the evaluation (cProfile)")
    maps = load_mappings()
    lines = [line for path in ndjson_files(directory) for line in path.read_bytes().splitlines()]
    groups = group(orjson.loads(line) for line in lines)
    chosen = sorted(groups)[:patients]
    per_patient = [[orjson.dumps(r) for r in groups[p]] for p in chosen]

    def run() -> list[Any]:
        out = []
        for raw in per_patient:
            assessment = evaluate([orjson.loads(x) for x in raw], as_of="2026-10-01", mappings=maps)
            orjson.dumps(assessment.summary())
            out.append(assessment)
        return out

    assessments = run()  # warm-up
    t = time.perf_counter()
    run()
    plain = time.perf_counter() - t
    t = time.perf_counter()
    for a in assessments:
        emit_bundle(a, now=datetime(2026, 10, 1, tzinfo=UTC))
    emit = time.perf_counter() - t
    profile = cProfile.Profile()
    profile.enable()
    run()
    profile.disable()
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in stats.values())
    stages: dict[str, float] = {}
    for label, suffix, name in STAGES:
        ct = sum(v[3] for key, v in stats.items() if _matches(key, suffix, name))
        stages[label] = round(100 * ct / total, 1)
    n = len(per_patient)
    resources = sum(len(x) for x in per_patient)
    return {
        "patients": n,
        "resources_per_patient": round(resources / n, 1),
        "ms_per_patient": round(plain / n * 1000, 2),
        "us_per_resource": round(plain / resources * 1e6, 1),
        "emit_bundle_ms_per_patient": round(emit / n * 1000, 2),
        "percent_of_profiled_time": stages,
    }


# -- CDS Hooks latency -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_patient(size: int = 300) -> tuple[str, list[dict[str, Any]]]:
    """The first synthetic patient with about `size` resources, with its Medications."""
    from trdfhir.bulk.synth import DEFAULT_AS_OF, build_catalog, patient_resources

    catalog = build_catalog()
    meds = {f"Medication/{m['id']}": m for m in catalog.medications}
    for index in range(20_000):
        resources = patient_resources(index, SEED, DEFAULT_AS_OF, catalog)
        if abs(len(resources) - size) <= 15:
            refs = sorted(
                {
                    r["medicationReference"]["reference"]
                    for r in resources
                    if "medicationReference" in r
                }
            )
            return resources[0]["id"], [meds[ref] for ref in refs] + resources
    raise RuntimeError(f"no synthetic patient of about {size} resources")


PREFETCH_KEYS = {
    "Condition": "conditions",
    "MedicationStatement": "medicationStatements",
    "MedicationRequest": "medicationRequests",
    "MedicationDispense": "medicationDispenses",
    "Procedure": "procedures",
    "Observation": "observations",
    "QuestionnaireResponse": "questionnaireResponses",
}


def prefetch_of(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """Every prefetch key as a CDS client fills it: searchset Bundles, Medications _included."""
    meds = {f"Medication/{r['id']}": r for r in resources if r["resourceType"] == "Medication"}
    groups: dict[str, list[dict[str, Any]]] = {k: [] for k in PREFETCH_KEYS.values()}
    included: dict[str, set[str]] = {k: set() for k in PREFETCH_KEYS.values()}
    patient = None
    for r in resources:
        if r["resourceType"] == "Patient":
            patient = r
        key = PREFETCH_KEYS.get(r["resourceType"])
        if key is None:
            continue
        groups[key].append({"resource": r, "search": {"mode": "match"}})
        ref = (r.get("medicationReference") or {}).get("reference")
        if ref in meds and ref not in included[key]:
            included[key].add(ref)
            groups[key].append({"resource": meds[ref], "search": {"mode": "include"}})
    out: dict[str, Any] = {"patient": patient}
    for key, entries in groups.items():
        bundle = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
        out[key] = bundle if entries else None
    return out


def percentiles(samples: list[float]) -> dict[str, Any]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {
        "n": len(samples),
        "p50_ms": round(statistics.median(samples) * 1000, 1),
        "p95_ms": round(cuts[94] * 1000, 1),
        "p99_ms": round(cuts[98] * 1000, 1),
        "max_ms": round(max(samples) * 1000, 1),
    }


@contextmanager
def service(port: int) -> Iterator[str]:
    with served(port) as (base, _pid):
        yield base


@contextmanager
def served(port: int, workers: int = 1) -> Iterator[tuple[str, int]]:
    """`trd-fhir serve --workers N` on 127.0.0.1:port: (its base URL, its pid)."""
    env = {**os.environ, "TRDFHIR_CDS_AUTH_REQUIRED": "false"}
    env["TRDFHIR_STATE_DIR"] = str(WORK / "state")
    cmd = [*TRD, "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    cmd += ["--workers", str(workers)]
    log = WORK / "logs" / "serve.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as err:
        proc = subprocess.Popen(cmd, stdout=err, stderr=err, env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        import requests

        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"trd-fhir serve exited: {log.read_text()[-300:]}")
            try:
                if requests.get(f"{base}/cds-services", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("trd-fhir serve did not answer within 30 s")
            time.sleep(0.1)
        yield base, proc.pid
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def latency(call: Callable[[], Any], warmup: int, count: int, budget: float) -> dict[str, Any]:
    for _ in range(warmup):
        call()
    samples: list[float] = []
    deadline = time.monotonic() + budget
    for _ in range(count):
        t = time.perf_counter()
        call()
        samples.append(time.perf_counter() - t)
        if time.monotonic() > deadline:
            break
    return percentiles(samples)


def cds(quick: bool) -> dict[str, Any]:
    import requests

    say("CDS Hooks patient-view latency")
    pid, resources = bench_patient()
    out: dict[str, Any] = {"patient_resources": len(resources)}
    session = requests.Session()
    with served(free_port()) as (base, server):
        url = f"{base}/cds-services/trd-patient-view"
        body = {
            "hook": "patient-view",
            "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/bench", "patientId": pid},
            "prefetch": prefetch_of(resources),
        }
        payload = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}

        def with_prefetch() -> None:
            r = session.post(url, data=payload, headers=headers, timeout=30)
            if r.status_code != 200 or "cards" not in r.json():
                raise RuntimeError(f"patient-view answered {r.status_code}: {r.text[:200]}")

        out["request_bytes"] = len(payload)
        count = 50 if quick else 300
        for _ in range(20):  # warm-up
            with_prefetch()
        cpu = TreeCpu(server)  # the server's CPU over the measured requests, one client
        out["with_prefetch"] = latency(with_prefetch, 0, count, budget=120)
        out["with_prefetch"]["cpu_ms_per_request"] = round(
            cpu.seconds() / out["with_prefetch"]["n"] * 1000, 1
        )
        try:
            out["without_prefetch"] = _without_prefetch(session, url, pid, resources, quick)
        except Exception as exc:  # reported, not fatal
            out["without_prefetch"] = {"not_measured": f"{type(exc).__name__}: {exc}"}

    def warm(url: str) -> None:
        session.post(url, data=payload, headers=headers, timeout=60)

    say("serve --workers 1 and 2 under wrk")
    out["workers"] = workers_scaling(
        lambda workers: served(free_port(), workers),
        "/cds-services/trd-patient-view",
        payload,
        warm,
        seconds=10 if quick else 30,
    )
    return out


def _without_prefetch(
    session: Any, url: str, pid: str, resources: list[dict[str, Any]], quick: bool
) -> dict[str, Any]:
    import requests

    from trdfhir.sandbox import (
        default_paths,
        ensure_installed,
        start_server,
        stop_process,
        to_transaction,
    )
    from trdfhir.sandbox import free_port as sandbox_port

    say("sandbox FHIR server (sekmet-fhir) for patient-view without prefetch")
    executable = ensure_installed(default_paths(ROOT), log=sys.stderr)
    state = WORK / "sandbox"
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    server = start_server(
        executable,
        state=state,
        port=sandbox_port(),
        database=":memory:",
        settings_path=state / "settings.yaml",
        log_path=state / "sekmet.log",
    )
    try:
        bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "collection"}
        bundle["entry"] = [{"resource": r} for r in resources]
        r = requests.post(
            server.base_url,
            json=to_transaction(bundle),
            headers={"Content-Type": "application/fhir+json"},
            timeout=120,
        )
        if r.status_code >= 300:
            raise RuntimeError(f"loading the patient: HTTP {r.status_code} {r.text[:200]}")
        body = {
            "hook": "patient-view",
            "hookInstance": str(uuid.uuid4()),
            "fhirServer": server.base_url,
            "context": {"userId": "Practitioner/bench", "patientId": pid},
        }
        payload = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}

        def without() -> None:
            r = session.post(url, data=payload, headers=headers, timeout=60)
            if r.status_code != 200 or "cards" not in r.json():
                raise RuntimeError(f"patient-view answered {r.status_code}: {r.text[:200]}")

        result: dict[str, Any] = latency(without, 3, 10 if quick else 60, budget=120)
        result["fhir_server"] = "sekmet-fhir (sandbox, in memory)"
        return result
    finally:
        stop_process(server.process)


# -- report ------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) * 1024
    except OSError:
        pass
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(
                (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu
            )
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def table(r: dict[str, Any]) -> list[str]:
    rows: list[tuple[str, str, str]] = []
    lim = r["limit"]
    rows.append(
        (
            "limit: orjson parse (1 core)",
            f"{lim['resources_per_s']:,} resources/s",
            f"{lim['lines']:,} lines in {lim['seconds']} s",
        )
    )
    for w in ("1", "2"):
        p = r["pipeline"].get(w)
        if p:
            rows.append(
                (
                    f"pipeline, {w} worker{'s' if w == '2' else ''}",
                    f"{p['resources_per_s']:,} resources/s, {p['patients_per_s']:,} patients/s",
                    f"{p['ratio_to_limit']}x the limit (target <= 3x); "
                    f"{p['cpu_seconds'] / p['patients'] * 1000:.1f} ms CPU/patient; "
                    f"other processes {p['other_cores_busy']} cores",
                )
            )
    n = r["naive"]
    rows.append(
        (
            "naive: + R4B validation (1 core)",
            f"{n['ratio']}x our pipeline",
            f"{n['validation_us_per_resource']} us/resource for model_validate",
        )
    )
    c = r.get("cds") or {}
    for key, label in (("with_prefetch", "with prefetch"), ("without_prefetch", "no prefetch")):
        v = c.get(key) if isinstance(c, dict) else None
        if isinstance(v, dict) and "p50_ms" in v:
            target = " (target p95 <= 20 ms)" if key == "with_prefetch" else ""
            rows.append(
                (
                    f"patient-view {label}",
                    f"p50 {v['p50_ms']} / p95 {v['p95_ms']} / p99 {v['p99_ms']} ms",
                    f"{c['patient_resources']} resources, n={v['n']}{target}",
                )
            )
        else:
            reason = (v or {}).get("not_measured") if isinstance(v, dict) else c.get("not_measured")
            rows.append((f"patient-view {label}", "not measured", str(reason)))
    for label, m in r["memory"].items():
        rows.append(
            (
                f"bulk peak RSS, {label} patients",
                f"{m['peak_tree_rss_mib']} MiB (process tree)",
                f"largest process {m['peak_process_rss_mib']} MiB; {m['seconds']} s; "
                f"other processes {m['other_cores_busy']} cores",
            )
        )
    rows += cds_rows(c if isinstance(c, dict) else {})
    s = r["scaling"]
    rows.append(
        (
            "scaling 1 -> 2 workers",
            f"{s['1']} -> {s['2']} patients/s",
            f"speed-up {s['speedup']}x",
        )
    )
    rows += spark_rows(r)
    return _columns(rows)


def spark_rows(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    sp = r.get("spark")
    if not sp:
        return []
    rows = []
    for label in ("local[1]", "local[2]", "cluster-1x1", "cluster-2x1"):
        m = sp[label]
        rows.append(
            (
                f"spark {label}",
                f"{m['patients_per_s']:,} patients/s, {m['seconds']} s",
                f"{m['cpu_seconds'] / m['patients'] * 1000:.1f} ms CPU/patient; "
                f"other processes {m['other_cores_busy']} cores",
            )
        )
    q = sp["ratios"]
    rows.append(
        (
            "spark scaling 1 -> 2 slots/workers",
            f"local {q['speedup_local_1_to_2']}x, cluster {q['speedup_cluster_1_to_2_workers']}x",
            "wall time, the driver on the same 2 cores",
        )
    )
    rows.append(
        (
            "spark vs the local engine",
            f"wall {q['wall_local1_vs_engine_1_worker']}x"
            f" / {q['wall_local2_vs_engine_2_workers']}x",
            f"CPU {q['cpu_local1_vs_engine_1_worker']}x / {q['cpu_local2_vs_engine_2_workers']}x "
            "(local[1] vs 1 worker / local[2] vs 2 workers)",
        )
    )
    rows.append(
        (
            "spark fixed + marginal cost",
            f"{q['fixed_cpu_seconds']} s CPU + {q['marginal_cpu_ms_per_patient']} ms/patient",
            f"marginal {q['marginal_cpu_vs_engine']}x the local engine's CPU per patient; "
            f"{q['cpu_hours_per_million']} CPU-hours per million patients",
        )
    )
    return rows


def spark_table(r: dict[str, Any]) -> list[str]:
    rows: list[tuple[str, str, str]] = []
    for w in ("1", "2"):
        p = r["pipeline"][w]
        rows.append(
            (
                f"local engine, {w} worker{'s' if w == '2' else ''}",
                f"{p['patients_per_s']:,} patients/s, {p['seconds']} s",
                f"{p['cpu_seconds'] / p['patients'] * 1000:.1f} ms CPU/patient; "
                f"other processes {p['other_cores_busy']} cores",
            )
        )
    return _columns(rows + spark_rows(r))


def _columns(rows: list[tuple[str, str, str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows
    ]
    return lines


def targets(r: dict[str, Any]) -> dict[str, Any]:
    p2 = r["pipeline"].get("2") or r["pipeline"].get("1")
    with_prefetch = (r.get("cds") or {}).get("with_prefetch") or {}
    sizes = list(r["memory"].values())
    flat = None
    if len(sizes) >= 2 and sizes[0]["peak_tree_rss_mib"]:
        flat = round(sizes[-1]["peak_tree_rss_mib"] / sizes[0]["peak_tree_rss_mib"], 2)
    return {
        "pipeline_within_3x_of_orjson": p2["ratio_to_limit"] <= 3 if p2 else None,
        "patient_view_p95_under_50ms": (
            with_prefetch["p95_ms"] < 50 if "p95_ms" in with_prefetch else None
        ),
        "bulk_largest_peak_rss_under_1GiB": (
            sizes[-1]["peak_tree_rss_mib"] < 1024 if sizes else None
        ),
        "bulk_memory_growth_smallest_to_largest": flat,
    }


def write_readme(lines: list[str], r: dict[str, Any]) -> None:
    if not README.exists():
        return
    text = README.read_text(encoding="utf-8")
    if MARK_START not in text or MARK_END not in text:
        return
    m = r["machine"]
    head = [
        MARK_START,
        f"Last run: {r['finished'][:10]}, {m['cpus']} cores ({m['cpu']}), {m['memory_gib']} GiB, "
        f"Python {m['python']}; populations of {r['populations']['small']['patients']:,} and "
        f"{r['populations']['large']['patients']:,} synthetic patients "
        f"({r['populations']['small']['resources_per_patient']} resources each on average); "
        f"`make bench` took {r['seconds'] / 60:.1f} min.",
        "",
        "```",
        *lines,
        "```",
        "",
        "Targets: " + ", ".join(f"{k} = {v}" for k, v in r["targets"].items()),
        MARK_END,
    ]
    before, rest = text.split(MARK_START, 1)
    after = rest.split(MARK_END, 1)[1]
    README.write_text(before + "\n".join(head) + after, encoding="utf-8")


def cds_rows(c: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The CDS figures of issue 13: CPU ms per request, p95, p99; workers 1 -> 2."""
    rows: list[tuple[str, str, str]] = []
    v = c.get("with_prefetch") or {}
    if "cpu_ms_per_request" in v:
        rows.append(
            (
                "patient-view CPU/request",
                f"{v['cpu_ms_per_request']} ms CPU (server process)",
                f"p95 {v['p95_ms']} / p99 {v['p99_ms']} ms at one client "
                "(targets <= 10 ms CPU, p95 <= 20, p99 <= 30)",
            )
        )
    w = c.get("workers") or {}
    if "speedup" in w:
        rows.append(
            (
                "serve --workers 1 -> 2 (wrk)",
                f"{w['1']['requests_per_s']} -> {w['2']['requests_per_s']} req/s",
                f"speed-up {w['speedup']}x (target >= 1.5x); other load "
                f"{w['1']['other_load_cores']} / {w['2']['other_load_cores']} cores",
            )
        )
    elif w:
        rows.append(("serve --workers 1 -> 2", "not measured", str(w.get("not_measured"))))
    return rows


def only_cds(quick: bool) -> int:
    """`bench/run.py --only cds`: the CDS part alone, printed and written to cds.json."""
    WORK.mkdir(parents=True, exist_ok=True)
    r: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "quick": quick,
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        r["cds"] = cds(quick)
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    r["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    out = RESULTS.with_name("cds.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(r, indent=2) + "\n", encoding="utf-8")
    v = r["cds"].get("with_prefetch") or {}
    rows = [
        ("patient-view with prefetch", f"p50 {v.get('p50_ms')} / p95 {v.get('p95_ms')} / "
         f"p99 {v.get('p99_ms')} ms", f"{r['cds'].get('patient_resources')} resources"),
        *cds_rows(r["cds"]),
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print(" | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    print(f"load average {r['load_average_before']} -> {r['load_average_after']}")
    print(f"results: {out.relative_to(ROOT)}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small populations, few requests")
    parser.add_argument("--small", type=int, help="patients of the first population")
    parser.add_argument("--large", type=int, help="patients of the memory population")
    parser.add_argument("--keep", action="store_true", help="keep bench/.work")
    parser.add_argument("--no-readme", action="store_true", help="leave bench/README.md alone")
    parser.add_argument(
        "--only", choices=["cds"], help="only this part (cds: patient-view CPU, latency, workers)"
    )
    parser.add_argument(
        "--spark-only",
        action="store_true",
        help="only the local engine's pipeline and the Spark section (on the first population)",
    )
    args = parser.parse_args()
    if args.only == "cds":
        return only_cds(args.quick)
    small = args.small or (1_000 if args.quick else 10_000)
    large = args.large or (3_000 if args.quick else 100_000)
    started = time.perf_counter()
    WORK.mkdir(parents=True, exist_ok=True)
    r: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "quick": args.quick,
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        export = WORK / "export-small"
        r["populations"] = {"small": synth(small, export)}
        r["limit"] = limit(export, repeats=3)
        r["pipeline"] = {}
        for workers in (2, 1):
            r["pipeline"][str(workers)] = bulk(export, workers, f"small-w{workers}")
        for p in r["pipeline"].values():
            p["ratio_to_limit"] = round(p["seconds"] / r["limit"]["seconds"], 1)
        r["scaling"] = {
            "1": r["pipeline"]["1"]["patients_per_s"],
            "2": r["pipeline"]["2"]["patients_per_s"],
        }
        r["scaling"]["speedup"] = round(r["scaling"]["2"] / r["scaling"]["1"], 2)
        r["spark"] = spark_section(export, r["pipeline"])
        if args.spark_only:
            return _finish(r, started, args, spark_only=True)
        sample = WORK / "export-naive"
        synth(200 if args.quick else 1000, sample)
        r["naive"] = naive(sample)
        r["breakdown"] = breakdown(sample, 100 if args.quick else 300)
        shutil.rmtree(sample)
        try:
            r["cds"] = cds(args.quick)
        except Exception as exc:  # reported, not fatal
            r["cds"] = {"not_measured": f"{type(exc).__name__}: {exc}"}
        shutil.rmtree(export)
        r["memory"] = {f"{small:,}": {**r["pipeline"]["2"]}}
        export = WORK / "export-large"
        r["populations"]["large"] = synth(large, export)
        r["memory"][f"{large:,}"] = bulk(export, 2, "large-w2")
        shutil.rmtree(export)
    finally:
        if not args.keep:
            shutil.rmtree(WORK, ignore_errors=True)
    return _finish(r, started, args)


def _finish(r: dict[str, Any], started: float, args: Any, spark_only: bool = False) -> int:
    if spark_only:
        lines = spark_table(r)
        r["seconds"] = round(time.perf_counter() - started, 1)
        r["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        path = RESULTS.with_name("spark.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(r, indent=2) + "\n", encoding="utf-8")
        print("\n".join(lines))
        print(f"results: {path.relative_to(ROOT)} ({r['seconds'] / 60:.1f} min)")
        return 0
    r["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    r["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    r["seconds"] = round(time.perf_counter() - started, 1)
    r["targets"] = targets(r)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(r, indent=2) + "\n", encoding="utf-8")
    lines = table(r)
    print("\n".join(lines))
    print("targets: " + ", ".join(f"{k}={v}" for k, v in r["targets"].items()))
    print(f"results: {RESULTS.relative_to(ROOT)} ({r['seconds'] / 60:.1f} min)")
    if not args.no_readme and not args.quick:
        write_readme(lines, r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
