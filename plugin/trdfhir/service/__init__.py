"""The HTTP service: FastAPI app with the FHIR $trd-evaluate operation, the CDS Hooks 2.0
services and (when present) the SMART on FHIR app.

    from trdfhir.service import ServiceSettings, create_app, load_service_settings
    app = create_app(load_service_settings("service.toml"))

docs/service.md describes the endpoints and every setting.
"""

from .app import create_app
from .settings import ServiceSettings, build_settings, load_service_settings

__all__ = ["ServiceSettings", "build_settings", "create_app", "load_service_settings"]
