"""The service's own figures for bench/run.py: CPU per CDS request of the server process tree,
and the throughput of `trd-fhir serve --workers N` under a light load generator (wrk).

    cpu = TreeCpu(server_pid); ...requests...; cpu.seconds()   # user + system of the tree
    workers_scaling(start_service, body, url_path, seconds=10)  # {"1": req/s, "2": req/s, ...}

wrk (Debian's package, `make bench-tools`) is a C client: it costs a small fraction of a core at
these rates, so the server keeps the cores. Without wrk the scaling is not measured (said so).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

TICK = os.sysconf("SC_CLK_TCK")


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        out.setdefault(ppid, []).append(int(entry))
    return out


def _cpu_of(pid: int) -> float:
    """user + system seconds of one process (its own, not its reaped children's)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14, 15)


def tree_pids(root: int) -> list[int]:
    children = _children()
    todo, seen = [root], []
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.append(pid)
            todo += children.get(pid, [])
    return seen


class TreeCpu:
    """CPU seconds used by a process tree (the server and its workers) since construction."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.start = self._now()

    def _now(self) -> float:
        return sum(_cpu_of(pid) for pid in tree_pids(self.root))

    def seconds(self) -> float:
        return self._now() - self.start


def busy_cores() -> Callable[[], float]:
    """A stopwatch of the whole machine's busy CPU, in cores, from /proc/stat."""

    def busy() -> tuple[float, float]:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return (sum(fields[:8]) - idle) / TICK, time.monotonic()

    start = busy()

    def stop() -> float:
        end = busy()
        return round((end[0] - start[0]) / max(1e-9, end[1] - start[1]), 2)

    return stop


WRK_SCRIPT = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("{body}", "rb")
wrk.body = f:read("*a")
f:close()
"""


def wrk(url: str, body: bytes, *, seconds: int, connections: int) -> dict[str, Any]:
    exe = shutil.which("wrk")
    if exe is None:
        return {"not_measured": "wrk is not installed (make bench-tools)"}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "body.json").write_bytes(body)
        script = Path(tmp) / "post.lua"
        script.write_text(WRK_SCRIPT.format(body=Path(tmp) / "body.json"))
        cmd = [exe, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s"]
        cmd += ["-s", str(script), url]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests_per_s": float(rate.group(1)) if rate else None,
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def workers_scaling(
    start: Callable[[int], AbstractContextManager[tuple[str, int]]],
    path: str,
    body: bytes,
    warm: Callable[[str], None],
    *,
    seconds: int,
    connections: int = 8,
) -> dict[str, Any]:
    """Requests/s of `serve --workers 1` and `--workers 2` under wrk (`connections` clients),
    the server tree's CPU per request, and the other load on the machine meanwhile."""
    out: dict[str, Any] = {"connections": connections, "seconds": seconds}
    for workers in (1, 2):
        with start(workers) as (base, pid):
            for _ in range(5 * workers):
                warm(base + path)
            cpu = TreeCpu(pid)
            machine = busy_cores()
            run = wrk(base + path, body, seconds=seconds, connections=connections)
            used = cpu.seconds()
            run["machine_busy_cores"] = machine()
            run["server_cores"] = round(used / seconds, 2)
            run["other_load_cores"] = round(run["machine_busy_cores"] - run["server_cores"], 2)
            run["load_average"] = [round(x, 2) for x in os.getloadavg()]
        out[str(workers)] = run
        if "not_measured" in run:
            return {"not_measured": run["not_measured"]}
    one, two = out["1"].get("requests_per_s"), out["2"].get("requests_per_s")
    out["speedup"] = round(two / one, 2) if one and two else None
    return out
