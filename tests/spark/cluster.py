"""A real standalone Spark cluster on 127.0.0.1 for the tests and the benchmark: a master and
N workers started from the classes pyspark ships (`spark-class ...deploy.master.Master` and
`...deploy.worker.Worker`), on free ports, torn down with their executors however the block
ends."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from trdfhir.sandbox import free_port

HOST = "127.0.0.1"


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def cluster_env(conf_dir: Path | None = None) -> dict[str, str]:
    env = {**os.environ, "SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": HOST}
    env["SPARK_MASTER_HOST"] = HOST
    if conf_dir is not None:
        env["SPARK_CONF_DIR"] = str(conf_dir)
    return env


def _alive_workers(ui_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{ui_port}/json/", timeout=2) as answer:
            return int(json.load(answer).get("aliveworkers", 0))
    except (OSError, ValueError):
        return -1


def _stop(process: subprocess.Popen[bytes]) -> None:
    """The process and everything it started (its executors): its whole process group."""
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 10.0)):
        if process.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=wait)
    with contextlib.suppress(ProcessLookupError):  # executors left in the group
        os.killpg(process.pid, signal.SIGKILL)


@dataclass
class Cluster:
    url: str  # spark://127.0.0.1:PORT
    pids: list[int] = field(default_factory=list)  # master and workers, each its process group


@contextlib.contextmanager
def standalone_cluster(
    work: Path, workers: int = 2, cores: int = 1, memory: str = "1g", timeout: float = 120.0
) -> Iterator[Cluster]:
    """Yields the cluster once `workers` workers registered with its master."""
    spark_class = str(spark_home() / "bin" / "spark-class")
    env = cluster_env()
    work.mkdir(parents=True, exist_ok=True)
    port, ui = free_port(), free_port()
    url = f"spark://{HOST}:{port}"
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str, args: list[str]) -> None:
        log = open(work / f"{name}.log", "wb")
        started.append(
            subprocess.Popen(
                [spark_class, *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        )
        log.close()

    try:
        master = "org.apache.spark.deploy.master.Master"
        start("master", [master, "--host", HOST, "--port", str(port), "--webui-port", str(ui)])
        for i in range(workers):
            directory = work / f"worker-{i}"
            directory.mkdir(exist_ok=True)
            start(
                f"worker-{i}",
                [
                    "org.apache.spark.deploy.worker.Worker",
                    "--host", HOST,
                    "--port", str(free_port()),
                    "--webui-port", str(free_port()),
                    "--cores", str(cores),
                    "--memory", memory,
                    "--work-dir", str(directory),
                    url,
                ],
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while _alive_workers(ui) != workers:
            if time.monotonic() > deadline or any(p.poll() is not None for p in started):
                logs = "\n".join(p.read_text(errors="replace")[-2000:] for p in work.glob("*.log"))
                raise RuntimeError(f"the standalone cluster did not start:\n{logs}")
            time.sleep(0.5)
        yield Cluster(url, [p.pid for p in started])
    finally:
        for process in reversed(started):
            _stop(process)


def write_conf(directory: Path, **settings: str) -> Path:
    """A SPARK_CONF_DIR with spark-defaults.conf: the way a user configures the driver."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = [f"{k} {v}" for k, v in sorted(settings.items())]
    (directory / "spark-defaults.conf").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory
