"""Staging models, one module each, run side by side through a registry.

Each `staging/<name>.py` declares its model in one `ModelSpec` (`SPEC`, see `base.py`); the
registry below lists them in the order of the contract's `stages` object, and every consumer (the
summary, the emitted Observations and codes, the text report, the CDS card, the SMART page and the
bulk CSV) reads the models from `registry()`. Tests may run with another registry (`using`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from ..model import StageResult
from . import (
    conway,
    dm_trd,
    esm,
    guidi_fava,
    markowitz,
    maudsley,
    mgh,
    regulatory,
    spectrum,
    thase_rush,
)
from .base import ModelSpec, StagingContext


@dataclass(frozen=True, eq=False)
class Registry:
    """The staging models, in the order of the contract's `stages` object (compared and hashed
    by identity)."""

    specs: tuple[ModelSpec, ...]

    def __post_init__(self) -> None:
        names = [s.name for s in self.specs]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"staging model(s) registered twice: {', '.join(twice)}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.specs)

    @property
    def upper_bound_names(self) -> tuple[str, ...]:
        """Models whose headline number is reported under `upper_bound`."""
        return tuple(s.name for s in self.specs if s.upper_bound)

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self.specs)

    def __contains__(self, name: object) -> bool:
        return any(s.name == name for s in self.specs)

    def get(self, name: str) -> ModelSpec:
        for spec in self.specs:
            if spec.name == name:
                return spec
        raise ValueError(f"unknown staging model '{name}'; known: {', '.join(self.names)}")

    def find(self, name: str) -> ModelSpec | None:
        return next((s for s in self.specs if s.name == name), None)


DEFAULT = Registry(
    (
        regulatory.SPEC,
        thase_rush.SPEC,
        esm.SPEC,
        mgh.SPEC,
        maudsley.SPEC,
        dm_trd.SPEC,
        conway.SPEC,
        markowitz.SPEC,
        guidi_fava.SPEC,
        spectrum.SPEC,
    )
)
_ACTIVE: ContextVar[Registry] = ContextVar("trdfhir_staging_registry", default=DEFAULT)


def registry() -> Registry:
    """The registry in force: `DEFAULT`, or the one a caller set with `using`."""
    return _ACTIVE.get()


@contextmanager
def using(models: Registry) -> Iterator[Registry]:
    """Run the block with another registry (a test adding a fixture model, say)."""
    token = _ACTIVE.set(models)
    try:
        yield models
    finally:
        _ACTIVE.reset(token)


# The default registry as a mapping (name -> spec) and its upper-bound models.
MODELS: dict[str, ModelSpec] = {s.name: s for s in DEFAULT}
UPPER_BOUND_MODELS = DEFAULT.upper_bound_names


def get_model(name: str) -> ModelSpec:
    return registry().get(name)


def run_all(ctx: StagingContext) -> dict[str, StageResult]:
    return {spec.name: spec.stage(ctx) for spec in registry()}


def upper_bounds(ctx: StagingContext) -> dict[str, float | int | bool | None]:
    optimistic = dataclasses.replace(ctx, optimistic=True)
    return {spec.name: spec.stage(optimistic).headline for spec in registry() if spec.upper_bound}


__all__ = [
    "DEFAULT",
    "MODELS",
    "UPPER_BOUND_MODELS",
    "ModelSpec",
    "Registry",
    "StagingContext",
    "get_model",
    "registry",
    "run_all",
    "upper_bounds",
    "using",
]
