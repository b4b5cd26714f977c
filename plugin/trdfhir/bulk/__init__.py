"""Population runs over Bulk Data NDJSON exports, and a synthetic population to run them on.

from trdfhir.bulk import BulkOptions, run_bulk, write_population
write_population("export", patients=1000, seed=7)
run_bulk(BulkOptions(input=Path("export"), output=Path("out")))
"""

from .run import BulkOptions, BulkReport, run_bulk
from .synth import DEFAULT_AS_OF, SynthResult, patient_resources, write_population

__all__ = [
    "DEFAULT_AS_OF",
    "BulkOptions",
    "BulkReport",
    "SynthResult",
    "patient_resources",
    "run_bulk",
    "write_population",
]
