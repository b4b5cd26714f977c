"""`trd-fhir serve --workers 2`: real worker processes sharing their state through the SQLite
store (service/shared.py). A CDS client JWT accepted once is refused whichever worker the replay
reaches, and a client's rate limit is one budget across the workers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.api.conftest import ISS, Signer, cds_request, example

ROOT = Path(__file__).resolve().parents[2]
VIEW = "/cds-services/trd-patient-view"
EX = example("01")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(rsa_signer: Signer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    work = tmp_path_factory.mktemp("workers")
    settings = {
        "public_base_url": base,
        "cds_issuers": [{"iss": ISS, "jwks": {"keys": [rsa_signer.jwk()]}}],
        "state_dir": str(work / "state"),
        "rate_limit_discovery_per_minute": 6,
    }
    (work / "service.json").write_text(json.dumps(settings))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRDFHIR_")}
    cmd = [sys.executable, "-m", "trdfhir.cli", "serve", "--workers", "2", "--port", str(port)]
    cmd += ["--settings", str(work / "service.json"), "--log-level", "warning"]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/fhir/metadata", timeout=5).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.2)
        _wait_for_both_workers(proc)
        yield base
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert "2 worker processes" in out


def _wait_for_both_workers(proc: subprocess.Popen[str]) -> None:
    """Until two worker processes of this server are alive (uvicorn starts them one by one)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        pids = children.read_text().split() if children.exists() else []
        workers = [p for p in pids if "spawn_main" in _cmdline(p)]
        if len(workers) >= 2:
            time.sleep(2.0)  # each imports the app before it accepts
            return
        time.sleep(0.2)
    raise AssertionError("two worker processes did not start")


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def _post(base: str, token: str) -> int:
    with requests.Session() as fresh:  # a new connection: any worker may accept it
        response = fresh.post(
            base + VIEW,
            json=cds_request(EX),
            headers={"Authorization": f"Bearer {token}", "Connection": "close"},
            timeout=60,
        )
        return response.status_code


def test_a_jwt_replayed_to_any_worker_is_refused(served: str, rsa_signer: Signer) -> None:
    token = rsa_signer.token(served + VIEW, now=datetime.now(UTC))
    assert _post(served, token) == 200
    with ThreadPoolExecutor(max_workers=6) as pool:  # concurrent: both workers take some
        replays = list(pool.map(lambda _: _post(served, token), range(12)))
    assert replays == [401] * 12
    fresh = rsa_signer.token(served + VIEW, now=datetime.now(UTC))
    assert _post(served, fresh) == 200  # a new token still works


def test_the_rate_limit_counts_across_workers(served: str) -> None:
    def discovery(_: Any) -> int:
        with requests.Session() as fresh:
            url = served + "/cds-services"
            return fresh.get(url, headers={"Connection": "close"}, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(discovery, range(10)))
    assert sorted(answers) == [200] * 6 + [429] * 4  # 6 a minute for this address, all workers
