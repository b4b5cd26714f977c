"""The app of one worker process of `trd-fhir serve --workers N`.

uvicorn starts N processes and each imports `trdfhir.service.worker:worker_app` (a factory):
the settings come from the same file and TRDFHIR_* variables as the parent's (`serve` passes
the file as $TRDFHIR_SERVICE_SETTINGS and the count as $TRDFHIR_WORKERS, so that the stores
that must hold across processes are the shared ones: service/shared.py), and the collector is
tuned once the app is built, as for one process.
"""

from __future__ import annotations

from fastapi import FastAPI

from .app import create_app, tune_gc
from .settings import load_service_settings


def worker_app() -> FastAPI:
    settings = load_service_settings()
    app = create_app(settings)
    tune_gc(settings)
    return app
