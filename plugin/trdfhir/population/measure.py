"""The population numbers as FHIR: one summary MeasureReport per model with a TRD definition,
profile trd-population-measurereport, referencing the model's Measure
(profiles/input/fsh/population-measure.fsh), in a collection Bundle.

initial-population = patients staged; denominator = those the model could rate; numerator =
those meeting its TRD definition; for the models that count psychotherapy (Conway, Markowitz) a
stratifier "psychotherapy counted" with the strata counted / not counted.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from typing import Any

from .compute import Summary, psychotherapy_counted, trd_label
from .definitions import Definitions, ModelDefinition

CANONICAL = "http://trd-fhir.org/fhir"
PROFILE = f"{CANONICAL}/StructureDefinition/trd-population-measurereport"
TRD_SYSTEM = f"{CANONICAL}/CodeSystem/trd"
MEASURE_POPULATION = "http://terminology.hl7.org/CodeSystem/measure-population"
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, f"{CANONICAL}/population")


def measure_url(m: ModelDefinition) -> str:
    return f"{CANONICAL}/Measure/trd-population-{m.code}"


def _populations(labels: Sequence[bool | None]) -> dict[str, Any]:
    rated = [x for x in labels if x is not None]
    numerator = sum(1 for x in rated if x)
    out: dict[str, Any] = {
        "population": [
            {"code": _code("initial-population"), "count": len(labels)},
            {"code": _code("denominator"), "count": len(rated)},
            {"code": _code("numerator"), "count": numerator},
        ]
    }
    if rated:
        out["measureScore"] = {"value": round(numerator / len(rated), 4)}
    return out


def _code(code: str) -> dict[str, Any]:
    return {"coding": [{"system": MEASURE_POPULATION, "code": code}]}


def measure_report(
    rows: Sequence[Summary], m: ModelDefinition, *, as_of: str, now: str
) -> dict[str, Any]:
    labels = [trd_label(s, m) for s in rows]
    group: dict[str, Any] = {
        "code": {"coding": [{"system": TRD_SYSTEM, "code": m.code}], "text": m.label},
        **_populations(labels),
    }
    if m.psychotherapy in ("counted", "required"):
        counted = [psychotherapy_counted(s, m.model) for s in rows]
        group["stratifier"] = [
            {
                "code": [{"text": "psychotherapy counted"}],
                "stratum": [
                    {
                        "value": {"text": text},
                        **_populations(
                            [x for x, c in zip(labels, counted, strict=True) if c is want]
                        ),
                    }
                    for text, want in (("counted", True), ("not counted", False))
                ],
            }
        ]
    return {
        "resourceType": "MeasureReport",
        "id": f"trd-population-{m.code}",
        "meta": {"profile": [PROFILE]},
        "status": "complete",
        "type": "summary",
        "measure": measure_url(m),
        "date": now,
        "period": {"start": as_of, "end": as_of},
        "group": [group],
    }


def measure_bundle(
    rows: Sequence[Summary], defs: Definitions, *, as_of: str, now: str
) -> dict[str, Any]:
    """A collection Bundle of the MeasureReports; full URLs are uuid5 of the content, so the
    same summaries give the same Bundle."""
    entries = []
    for m in defs.models:
        report = measure_report(rows, m, as_of=as_of, now=now)
        digest = hashlib.sha256(json.dumps(report, sort_keys=True).encode()).hexdigest()
        entries.append({"fullUrl": f"urn:uuid:{uuid.uuid5(NAMESPACE, digest)}", "resource": report})
    return {"resourceType": "Bundle", "type": "collection", "timestamp": now, "entry": entries}
