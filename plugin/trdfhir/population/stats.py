"""The statistics of the population report, from statsmodels (never hand-written): Wilson
score intervals for proportions and Cohen's kappa (unweighted, or quadratic-weighted on an
ordinal scale) with its 95 % interval."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from statsmodels.stats.inter_rater import cohens_kappa  # type: ignore[import-untyped]
from statsmodels.stats.proportion import proportion_confint  # type: ignore[import-untyped]

ALPHA = 0.05  # 95 % intervals


@dataclass(frozen=True)
class Proportion:
    count: int
    n: int
    share: float | None  # None when n is 0
    low: float | None  # Wilson 95 % interval
    high: float | None

    def json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "n": self.n,
            "share": _round(self.share),
            "ci95": [_round(self.low), _round(self.high)] if self.low is not None else None,
        }


@dataclass(frozen=True)
class Kappa:
    n: int  # patients both models could rate
    agreement: float | None  # observed agreement
    kappa: float | None  # None when undefined (both models put everyone in one category)
    low: float | None
    high: float | None

    def json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "agreement": _round(self.agreement),
            "kappa": _round(self.kappa),
            "ci95": [_round(self.low), _round(self.high)] if self.low is not None else None,
        }


def _round(value: float | None, places: int = 4) -> float | None:
    return None if value is None else round(value, places)


def _finite(value: object) -> float | None:
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else None


def wilson(count: int, n: int) -> Proportion:
    if n <= 0:
        return Proportion(count, n, None, None, None)
    low, high = proportion_confint(count, n, alpha=ALPHA, method="wilson")
    return Proportion(count, n, count / n, max(0.0, float(low)), min(1.0, float(high)))


def kappa(pairs: Sequence[tuple[int, int]], levels: int, *, weighted: bool) -> Kappa:
    """Kappa of paired ratings on levels 0..levels-1 (quadratic weights when `weighted`)."""
    n = len(pairs)
    if n == 0:
        return Kappa(0, None, None, None, None)
    table = np.zeros((levels, levels))
    for a, b in pairs:
        table[a, b] += 1
    agreement = float(np.trace(table)) / n
    rows, cols = table.sum(axis=1) / n, table.sum(axis=0) / n
    if float(rows @ cols) >= 1.0 - 1e-12:  # chance agreement 1: kappa is undefined
        return Kappa(n, agreement, None, None, None)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        result = cohens_kappa(table, wt="quadratic" if weighted else None)
    value = _finite(result.kappa)
    low, high = _finite(result.kappa_low), _finite(result.kappa_upp)
    if value is None or low is None or high is None:
        return Kappa(n, agreement, value, None, None)
    return Kappa(n, agreement, value, max(-1.0, low), min(1.0, high))  # kappa lies in [-1, 1]
