"""FHIR R4 REST client (requests, one Session): capabilities, patient reads, write-back.

    with FhirClient("https://ehr.example/fhir", auth=BearerToken(token)) as client:
        record = fetch_patient(client, "123")          # PatientRecord
        assessment = evaluate(record.bundle(client.base), as_of="2026-11-21")
        outcome = write_bundle(client, bundle)           # WriteOutcome

Server-agnostic: everything it does beyond plain REST is read from the CapabilityStatement.
"""

from .capabilities import Capabilities, parse_capabilities
from .core import FhirClient, describe, next_link, outcome_text
from .http import DEFAULT_TIMEOUT, NO_RETRY, RetryPolicy, retry_after_seconds
from .read import CLINICAL_TYPES, PatientRecord, fetch_patient, plain_patient_id
from .write import (
    PartialWriteError,
    WriteMode,
    WriteOutcome,
    WritePlan,
    bundle_patient,
    describe_plan,
    patient_lock,
    plan_write,
    post_transaction,
    write_bundle,
    write_conditionally,
    write_if_changed,
)

__all__ = [
    "CLINICAL_TYPES",
    "DEFAULT_TIMEOUT",
    "NO_RETRY",
    "Capabilities",
    "FhirClient",
    "PartialWriteError",
    "PatientRecord",
    "RetryPolicy",
    "WriteMode",
    "WriteOutcome",
    "WritePlan",
    "bundle_patient",
    "describe",
    "describe_plan",
    "fetch_patient",
    "next_link",
    "outcome_text",
    "parse_capabilities",
    "patient_lock",
    "plain_patient_id",
    "plan_write",
    "post_transaction",
    "retry_after_seconds",
    "write_bundle",
    "write_conditionally",
    "write_if_changed",
]
