"""European Staging Method (Souery D et al. Eur Neuropsychopharmacol 1999;9:83-91).

As tabulated by Hägg 2020 (PLOS One, Panel 1; research §1.2): one failed adequate trial makes a
non-responder; resistance to >= 2 adequate trials of different classes is TRD, TRD1 ... TRD5 by
treatment duration (12-16 ... 36-52 weeks); chronic resistant depression (CRD) is resistance to
several treatments including augmentation lasting >= 12 months.

Rule (docs/rules.md), on counted antidepressant failures of the current episode: 0 `none`; 1, or
>= 2 all of one class, `non-responder`; >= 2 in >= 2 classes TRD1...TRD5 by 2...6+ failures (the
published week windows equal n x 6-8 weeks, so the count is used; `weeks` reports the summed length
of the counted trials as a cross-check); `CRD` when TRD, a counted failed trial was augmented, and
the span from the first counted failure's start to the last one's end is >= 365 days.
Uncertainty: the non-responder trial length (6-8 weeks) was not seen verbatim.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..model import StageResult
from .base import (
    FhirKit,
    ModelSpec,
    Parts,
    StageValue,
    StagingContext,
    as_mapping,
    classes,
    describe,
    fhir_category,
    ids,
    keyed_cells,
    page_upper,
    same_value,
)

NAME = "esm"
SOURCE = "Souery et al. 1999 (European Staging Method), as tabulated by Hägg et al. 2020"
MAX_LEVEL = 5


def stage(ctx: StagingContext) -> StageResult:
    failures = ctx.counted_failures("antidepressant")
    n = len(failures)
    weeks = round(sum(t.trial.days for t in failures) / 7, 1)
    span = 0
    if failures:
        span = (max(t.trial.end for t in failures) - min(t.trial.start for t in failures)).days
    augmented = [t for t in failures if t.trial.augmented_by]
    if n == 0:
        category = "none"
        text = "None: no failed adequate antidepressant trial in the current episode"
    elif n == 1 or len(classes(failures)) < 2:
        category = "non-responder"
        why = "one failed adequate trial" if n == 1 else f"{n} failed adequate trials of one class"
        text = f"Non-responder: {why}: {describe(failures)}; TRD needs two different classes"
    elif augmented and span >= ctx.settings.esm_crd_days:
        category = "CRD"
        text = (
            f"CRD: {n} failed adequate trials ({describe(failures)}) over {span} days "
            f"(>= {ctx.settings.esm_crd_days}), including augmentation of {describe(augmented)}"
        )
    else:
        category = f"TRD{min(n - 1, MAX_LEVEL)}"
        text = (
            f"{category}: {n} failed adequate trials of different classes: "
            f"{describe(failures)}; {weeks:g} weeks of treatment"
        )
    return StageResult(
        model=NAME,
        value={"category": category, "failed_trials": n, "weeks": weeks, "span_days": span},
        headline=None,
        explanation=text,
        source=SOURCE,
        counted=ids(failures),
    )


_PAGE_WORDS = {"none": "None", "non-responder": "Non-responder", "CRD": "CRD (chronic)"}


def _page(value: StageValue) -> str:
    category = str(as_mapping(value).get("category") or "none")
    return _PAGE_WORDS.get(category, category)


def _fhir(value: StageValue, kit: FhirKit) -> Parts:
    v = as_mapping(value)
    code = f"esm-{v.get('category')}"
    fields = fhir_category(kit, code)
    parts = [kit.component("failed-adequate-trials", v.get("failed_trials"))]
    if isinstance(v.get("weeks"), int | float):
        weeks = kit.quantity(v["weeks"], "wk")
        parts.append(kit.component("treatment-weeks", fields={"valueQuantity": weeks}))
    if isinstance(v.get("span_days"), int):
        span = kit.quantity(v["span_days"], "d")
        parts.append(kit.component("failure-span-days", fields={"valueQuantity": span}))
    return fields, parts, []


def _card_headline(v: Mapping[str, Any]) -> str:
    return f"ESM {v.get('category', '?')}"


SPEC = ModelSpec(
    name=NAME,
    source=SOURCE,
    stage=stage,
    upper_bound=False,
    code_display="European Staging Method category",
    concepts={},
    page_label="European Staging Method",
    report_label="European Staging (Souery 1999)",
    page_result=_page,
    page_upper=page_upper,
    report_value=same_value,
    card_result=lambda value: str(as_mapping(value).get("category")),
    card_headline=_card_headline,
    fhir=_fhir,
    csv_keys=("category",),
    csv_cells=keyed_cells("category"),
    trd_met=lambda v: str(v.get("category", "")).startswith(("TRD", "CRD")),  # TRD1-5 or CRD
)
