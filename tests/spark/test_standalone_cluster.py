"""`trd-fhir bulk --engine spark --master spark://127.0.0.1:PORT`: a real standalone cluster (a
master and two one-core workers) runs the export; the outputs are the local engine's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .cluster import HOST, cluster_env, standalone_cluster, write_conf
from .conftest import outputs

pytestmark = pytest.mark.spark


def test_a_standalone_cluster_gives_the_local_engines_outputs(
    export: Path, local_outputs: Path, tmp_path: Path
) -> None:
    conf = write_conf(
        tmp_path / "conf",
        **{
            "spark.driver.host": HOST,
            "spark.driver.bindAddress": HOST,
            "spark.executor.memory": "512m",
            "spark.driver.memory": "512m",
            "spark.ui.enabled": "false",
        },
    )
    env = cluster_env(conf) | {"PYSPARK_PYTHON": sys.executable}
    out = tmp_path / "out"
    with standalone_cluster(tmp_path / "cluster", workers=2) as cluster:
        master = cluster.url
        command = [
            sys.executable, "-m", "trdfhir.cli", "bulk", "--engine", "spark",
            "--master", master, "--input", str(export), "--output", str(out),
            "--fhir", "--now", "2026-10-01T00:00:00Z", "--buckets", "4", "--quiet",
        ]  # fmt: skip
        done = subprocess.run(command, env=env, capture_output=True, timeout=600, check=False)
    # one patient's input is refused (an error row), which is not a failure of the run
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    state = json.loads((out / "bulk-state.json").read_text())
    assert state["spark"]["master"] == master
    assert state["totals"]["failed"] == 1
    local, ours = outputs(local_outputs), outputs(out)
    assert sorted(ours) == sorted(local)
    for name in local:
        assert ours[name] == local[name], name
