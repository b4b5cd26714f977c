"""Staging models, one module each, run side by side through a registry."""

from __future__ import annotations

import dataclasses
from types import ModuleType

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
from .base import StagingContext

# Order is the order of the contract's `stages` object.
MODELS: dict[str, ModuleType] = {
    m.NAME: m
    for m in (
        regulatory,
        thase_rush,
        esm,
        mgh,
        maudsley,
        dm_trd,
        conway,
        markowitz,
        guidi_fava,
        spectrum,
    )
}

# Models whose headline number is reported under `upper_bound`.
UPPER_BOUND_MODELS = ("regulatory", "thase_rush", "mgh", "maudsley", "conway")


def get_model(name: str) -> ModuleType:
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown staging model '{name}'; known: {', '.join(MODELS)}") from None


def run_all(ctx: StagingContext) -> dict[str, StageResult]:
    results: dict[str, StageResult] = {name: m.stage(ctx) for name, m in MODELS.items()}
    return results


def upper_bounds(ctx: StagingContext) -> dict[str, float | int | bool | None]:
    optimistic = dataclasses.replace(ctx, optimistic=True)
    return {name: MODELS[name].stage(optimistic).headline for name in UPPER_BOUND_MODELS}


__all__ = ["MODELS", "UPPER_BOUND_MODELS", "StagingContext", "get_model", "run_all", "upper_bounds"]
