"""Assessment -> one FHIR R4 transaction Bundle: the write-back of one evaluation.

Entries: the plugin's Device (unless a `device_ref` on the server is given), one Observation per
staging model, one per treatment trial, one per finding plus a Flag per urgent finding, the draft
CarePlan, and the Provenance of the write. Full URLs are `urn:uuid`s derived from business
identifiers; creates are conditional (`ifNoneExist`), the CarePlan is a conditional update. So
posting the same Bundle twice creates nothing new, and a changed assessment adds its new
Observations and replaces the draft CarePlan.

Pure: the clock (`now`) and the software version are inputs; the same inputs give the same bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..summary import CONTRACT_VERSION
from .careplan import careplan, mdd_condition
from .common import Json, WriteContext, Written
from .findings import finding_resources
from .ids import DEVICE_SYSTEM, WRITE_SYSTEM, digest, identifier
from .stages import stage_observation
from .trials import trial_observation

if TYPE_CHECKING:
    from ..assessment import Assessment

PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
ENTITY_ROLE_SOURCE = "source"


def instant(now: datetime) -> str:
    """A FHIR instant in UTC, to the second (a naive datetime is taken as UTC)."""
    aware = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def device(version: str) -> Written:
    value = f"trd-fhir-{version}"
    resource: Json = {
        "resourceType": "Device",
        "identifier": [identifier(DEVICE_SYSTEM, value)],
        "status": "active",
        "manufacturer": "trd-fhir project",
        "deviceName": [{"name": "trd-fhir", "type": "model-name"}],
        "type": {"text": "Clinical decision support software (treatment-resistant depression)"},
        "version": [{"value": version}],
    }
    return Written(resource=resource, system=DEVICE_SYSTEM, value=value)


def provenance(ctx: WriteContext, targets: list[Written]) -> Written:
    """The Provenance of this write. R4 Provenance has no identifier: its conditional create
    matches a meta.tag that hashes everything written."""
    # The write's identity is its content without the clock, so re-posting the same assessment
    # later matches the Provenance already there.
    stable = [[w.system, w.value, _without_times(w.resource)] for w in targets]
    write = digest("write", stable, ctx.device)
    resource: Json = {
        "resourceType": "Provenance",
        "meta": {"tag": [{"system": WRITE_SYSTEM, "code": write}]},
        "target": [w.reference for w in targets],
        "recorded": ctx.now,
        "activity": {"coding": [{"system": DATA_OPERATION, "code": "CREATE", "display": "create"}]},
        "agent": [
            {
                "type": {
                    "coding": [
                        {"system": PARTICIPANT_TYPE, "code": "assembler", "display": "Assembler"}
                    ]
                },
                "who": ctx.device,
            }
        ],
    }
    if ctx.inputs:
        resource["entity"] = [
            {"role": ENTITY_ROLE_SOURCE, "what": {"reference": ref}} for ref in ctx.inputs
        ]
    return Written(
        resource=resource, system=WRITE_SYSTEM, value=write, match=f"_tag={WRITE_SYSTEM}|{write}"
    )


_TIMES = ("issued", "created", "recorded")


def _without_times(resource: Json) -> Json:
    return {k: v for k, v in resource.items() if k not in _TIMES}


def patient_id(patient: str) -> str:
    kind, _, pid = patient.partition("/")
    if kind != "Patient" or not pid or "/" in pid:
        raise InputError(
            f"write-back needs the patient's id on the server (Patient/<id>), got {patient!r}"
        )
    return pid


def emit_bundle(
    assessment: Assessment,
    *,
    now: datetime,
    device_ref: str | None = None,
    version: str | None = None,
) -> dict[str, Any]:
    """The transaction Bundle that writes `assessment` back (see the module docstring).

    now: the time of the write (`issued`, `recorded`, `created`); device_ref: a Device already on
    the server ("Device/123") instead of the conditional create of the plugin's Device; version:
    the software version to record (default: this package's).
    """
    if assessment.deceased:
        raise InputError(
            "the patient has died"
            + (f" ({assessment.record.death.isoformat()})" if assessment.record.death else "")
            + ": trd-fhir writes nothing back for a deceased patient"
        )
    if version is None:
        from .. import __version__

        version = __version__
    plugin = device(version)
    ctx = WriteContext(
        patient=assessment.patient,
        patient_id=patient_id(assessment.patient),
        as_of=assessment.as_of,
        now=instant(now),
        version=version,
        contract=CONTRACT_VERSION,
        device={"reference": device_ref} if device_ref else plugin.reference,
        inputs=tuple(sorted(set(assessment.record.inputs))),
    )
    by_id = {t.trial.id: t for t in assessment.trials}
    stages = [
        stage_observation(
            ctx,
            name,
            result,
            assessment.upper_bound.get(name),
            [by_id[i] for i in result.counted if i in by_id],
            name in assessment.upper_bound,
        )
        for name, result in assessment.stages.items()
    ]
    trials = [trial_observation(ctx, t) for t in assessment.trials]
    findings = finding_resources(ctx, assessment.findings)
    condition = mdd_condition(assessment.record.diagnoses, assessment.episode)
    plan = careplan(ctx, assessment.suggestions, [s.reference for s in stages], condition)
    written = [*stages, *trials, *findings, plan]
    entries = [] if device_ref else [plugin]
    entries += [*written, provenance(ctx, written)]
    return {"resourceType": "Bundle", "type": "transaction", "entry": [e.entry() for e in entries]}
