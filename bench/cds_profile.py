"""CPU per CDS patient-view request, in process (no network), and a cProfile of the handler.

    .venv/bin/python bench/cds_profile.py [--requests 200] [--profile 30]

The request is bench/run.py's: the first synthetic patient of about 300 resources, every
prefetch key filled as a CDS client fills it. The ASGI app is called directly in this thread
(the whole stack: middleware, routing, JSON parsing, validation, evaluation, cards, the JSON
response; no socket, no HTTP client), authentication off, and the handler's thread-pool work run
inline so that one profiler sees it all. CPU is `time.process_time()` per request; the cProfile
tables are the top functions by own and by cumulative time over `--profile` requests.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("TRDFHIR_CDS_AUTH_REQUIRED", "false")

from run import bench_patient, prefetch_of  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--profile", type=int, default=30, help="profiled requests (0: none)")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--no-gc-tuning", action="store_true", help="leave the collector as Python sets it"
    )
    args = parser.parse_args()

    import asyncio

    from trdfhir.service import cds
    from trdfhir.service.app import create_app
    from trdfhir.service.settings import ServiceSettings

    pid, resources = bench_patient()
    body = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/bench", "patientId": pid},
        "prefetch": prefetch_of(resources),
    }
    payload = json.dumps(body).encode()

    async def inline(func: Any, *args: Any) -> Any:
        return func(*args)

    cds.run_in_threadpool = inline  # type: ignore[assignment]
    app = create_app(ServiceSettings(cds_auth_required=False))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/cds-services/trd-patient-view",
        "raw_path": b"/cds-services/trd-patient-view",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    loop = asyncio.new_event_loop()
    if not args.no_gc_tuning:
        from trdfhir.service.app import tune_gc

        tune_gc(app.state.settings)  # as `trd-fhir serve` does after start-up

    def call() -> None:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": payload, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        loop.run_until_complete(app(dict(scope), receive, send))
        if sent[0]["status"] != 200:
            raise RuntimeError(f"{sent[0]['status']}: {sent[1].get('body', b'')[:200]!r}")

    for _ in range(10):
        call()
    cpu: list[float] = []
    wall: list[float] = []
    for _ in range(args.requests):
        c, w = time.process_time(), time.perf_counter()
        call()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    cuts = statistics.quantiles(wall, n=100, method="inclusive")
    print(
        f"{len(resources)} resources, {len(payload):,} bytes, {args.requests} requests: "
        f"CPU {statistics.mean(cpu) * 1000:.1f} ms/request (median "
        f"{statistics.median(cpu) * 1000:.1f}); wall p50 {statistics.median(wall) * 1000:.1f} "
        f"p95 {cuts[94] * 1000:.1f} p99 {cuts[98] * 1000:.1f} ms"
    )
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.profile):
            call()
        profile.disable()
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(args.top)
        print(out.getvalue())
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(args.top)
        print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
