"""Fixtures shared across test folders.

The sandbox FHIR server fixtures (`fhir_base`, `loaded`, `examples`) are written in
tests/integration/conftest.py; importing them here makes them available to tests/api and
tests/e2e as well (tests/integration keeps its own definitions).
"""

from tests.integration.conftest import examples, fhir_base, loaded

__all__ = ["examples", "fhir_base", "loaded"]
