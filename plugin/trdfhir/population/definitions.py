"""Each model's TRD definition, the common ordinal scale and the pseudo-resistance findings, as
data (`mappings/population.json`, validated against its schema on load)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import MappingError
from ..mappings import _read_valid, default_directory

FILE = "population"


@dataclass(frozen=True)
class Test:
    """A test on one field of a stage value: equals a boolean, at least a number, or one of."""

    field: str | None
    equals: bool | None = None
    at_least: float | None = None
    among: tuple[str, ...] | None = None

    def holds(self, value: object) -> bool | None:
        """True/False, or None when the value is missing (the model could not rate it)."""
        if value is None:
            return None
        if self.equals is not None:
            return isinstance(value, bool) and value is self.equals
        if self.at_least is not None:
            return (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and value >= self.at_least
            )
        if self.among is not None:
            return isinstance(value, str) and value in self.among
        return None


@dataclass(frozen=True)
class ModelDefinition:
    model: str  # key of the summary's `stages`
    code: str  # the model's code in the trd-fhir CodeSystem
    label: str
    definition: str
    test: Test
    upper_bound: Test | None
    psychotherapy: str  # not-counted, counted, required
    ordinal_field: str | None
    ordinal_levels: tuple[tuple[str | int, int], ...]
    source: str
    confidence: str


@dataclass(frozen=True)
class FindingRow:
    code: str
    group: str
    source: str
    confidence: str


@dataclass(frozen=True)
class ReasonRow:
    reason: str
    label: str
    group: str
    source: str
    confidence: str


@dataclass(frozen=True)
class Definitions:
    models: tuple[ModelDefinition, ...]
    ordinal_notes: str
    ordinal_source: str
    ordinal_confidence: str
    pseudo_resistance: tuple[FindingRow, ...]
    failed_trial_reasons: tuple[ReasonRow, ...]

    def model(self, name: str) -> ModelDefinition:
        return next(m for m in self.models if m.model == name)


def _test(row: dict[str, Any] | None, field: str | None = None) -> Test | None:
    if row is None:
        return None
    among = row.get("in")
    return Test(
        field=row.get("field", field),
        equals=row.get("equals"),
        at_least=row.get("at_least"),
        among=tuple(among) if among is not None else None,
    )


def _model(row: dict[str, Any]) -> ModelDefinition:
    ordinal = row["ordinal"] or {}
    test = _test(row["test"])
    if test is None:  # the schema requires a test; a custom mappings directory may not
        raise MappingError(f"{FILE}.json: model '{row['model']}' has no test")
    return ModelDefinition(
        model=row["model"],
        code=row["code"],
        label=row["label"],
        definition=row["definition"],
        test=test,
        upper_bound=_test(row["upper_bound"]),
        psychotherapy=row["psychotherapy"],
        ordinal_field=ordinal.get("field"),
        ordinal_levels=tuple((v, int(level)) for v, level in ordinal.get("levels", ())),
        source=row["source"],
        confidence=row["confidence"],
    )


def load_definitions(directory: str | Path | None = None) -> Definitions:
    path = Path(directory) if directory is not None else default_directory()
    return _load(path.resolve())


@functools.lru_cache(maxsize=4)
def _load(directory: Path) -> Definitions:
    doc = _read_valid(directory, FILE)
    return Definitions(
        models=tuple(_model(r) for r in doc["models"]),
        ordinal_notes=doc["ordinal_notes"],
        ordinal_source=doc["ordinal_source"],
        ordinal_confidence=doc["ordinal_confidence"],
        pseudo_resistance=tuple(
            FindingRow(r["code"], r["group"], r["source"], r["confidence"])
            for r in doc["pseudo_resistance"]
        ),
        failed_trial_reasons=tuple(
            ReasonRow(r["reason"], r["label"], r["group"], r["source"], r["confidence"])
            for r in doc["failed_trial_reasons"]
        ),
    )
