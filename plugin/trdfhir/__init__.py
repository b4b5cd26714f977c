"""trd-fhir: treatment trials, adequacy and staging of treatment-resistant depression from FHIR R4.

import trdfhir
assessment = trdfhir.evaluate(bundle, as_of="2026-11-21")
assessment.summary()   # the JSON object of assessment-contract.md
"""

from .assessment import Assessment, evaluate
from .errors import (
    AuthError,
    FhirServerError,
    InputError,
    LimitError,
    MappingError,
    SettingsError,
    StrictModeError,
    TrdFhirError,
)
from .limits import Limits
from .mappings import Mappings, load_mappings
from .settings import Settings

__version__ = "0.1.0"

__all__ = [
    "Assessment",
    "AuthError",
    "FhirServerError",
    "InputError",
    "LimitError",
    "Limits",
    "MappingError",
    "Mappings",
    "Settings",
    "SettingsError",
    "StrictModeError",
    "TrdFhirError",
    "__version__",
    "evaluate",
    "load_mappings",
]
