"""run the HTTP service: FHIR $trd-evaluate, CDS Hooks 2.0 services, SMART app

    trd-fhir serve                            127.0.0.1:8000, settings from TRDFHIR_* variables
    trd-fhir serve --settings service.toml    settings from a file (JSON or TOML), env on top
    trd-fhir serve --host 127.0.0.1 --port 8080
    trd-fhir serve --workers 2                worker processes sharing their state (SQLite)

docs/service.md lists the endpoints and every setting.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from ..errors import SettingsError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address (default {DEFAULT_HOST})")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--settings", metavar="FILE", help="service settings, JSON or TOML (docs/service.md)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="worker processes (default: the `workers` setting, 1); with more than one, the "
        "state they must share is kept in a SQLite file in `state_dir` (docs/service.md)",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="log level of uvicorn and of trd-fhir's own log (default info)",
    )


def faces(base: str, *, smart_app: bool, fhir_base: str | None) -> list[str]:
    """One line per face of the service, with its URL."""
    lines = [
        f"FHIR operation     POST {base}/fhir/$trd-evaluate",
        f"FHIR metadata      GET  {base}/fhir/metadata",
        f"CDS Hooks          GET  {base}/cds-services",
    ]
    if fhir_base:
        lines.insert(
            1,
            f"FHIR read+evaluate GET  {base}/fhir/Patient/{{id}}/$trd-evaluate (from {fhir_base})",
        )
    if smart_app:
        lines.append(f"SMART app launch   GET  {base}/app/launch")
    else:
        lines.append("SMART app          (not in this build)")
    return lines


def own_log(level: str) -> None:
    """trd-fhir's log lines (CDS calls, refused JWTs, FHIR interactions: never PHI or tokens)
    on stderr next to uvicorn's, at the same level."""
    logger = logging.getLogger("trdfhir")
    logger.setLevel(level.upper())
    if not any(getattr(h, "trdfhir_serve", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        handler.trdfhir_serve = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from ..service import create_app, load_service_settings
    from ..service.app import tune_gc
    from ..service.settings import SETTINGS_FILE_ENV

    if args.workers is not None:
        if not 1 <= args.workers <= 64:
            raise SettingsError("--workers must be between 1 and 64")
        os.environ["TRDFHIR_WORKERS"] = str(args.workers)
    if args.settings:  # the worker processes read the same file
        os.environ[SETTINGS_FILE_ENV] = str(Path(args.settings).resolve())
    settings = load_service_settings(args.settings)
    app = create_app(settings)  # in this process: checks everything once, creates the store
    state = app.state.trd
    base = settings.public_base_url or f"http://{args.host}:{args.port}"
    out = sys.stdout
    workers = settings.workers
    more = f" ({workers} worker processes)" if workers > 1 else ""
    out.write(f"trd-fhir service on http://{args.host}:{args.port}{more}\n")
    if state.shared is not None:
        out.write(f"  shared state       {state.shared.path}\n")
    for line in faces(base, smart_app=state.smart_app, fhir_base=settings.fhir_base_url):
        out.write(f"  {line}\n")
    if settings.subscription_secret:
        out.write(f"  FHIR notifications POST {base}/subscriptions/notify (trd-fhir subscribe)\n")
    out.flush()
    if settings.cds_auth_required and not settings.cds_issuers:
        sys.stderr.write(
            "  note: CDS calls need a JWT from a trusted issuer and none is configured "
            "(cds_issuers), so every CDS service call is refused; set "
            "TRDFHIR_CDS_AUTH_REQUIRED=false for local testing\n"
        )
        sys.stderr.flush()
    own_log(args.log_level)
    # proxy_headers=False: uvicorn would otherwise take the client address from X-Forwarded-For
    # sent by anyone connecting from 127.0.0.1; the rate limits use `forwarded_header` only.
    if workers > 1:  # each worker builds its own app (service/worker.py), tuned there
        del app
        uvicorn.run(
            "trdfhir.service.worker:worker_app",
            factory=True,
            workers=workers,
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            proxy_headers=False,
        )
        return 0
    tune_gc(settings)  # after start-up: what is alive now is frozen out of every collection
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, proxy_headers=False)
    return 0
