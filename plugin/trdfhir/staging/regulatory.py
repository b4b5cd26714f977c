"""Regulatory TRD (FDA / EMA): at least two failed adequate antidepressant trials in the episode.

Sources: FDA esketamine indication ("inadequate response to at least two oral antidepressants of
adequate dose and duration in the current episode"; secondary sources); EMA guideline
EMA/CHMP/185423/2010 Rev. 2 (commonly quoted as "same or a different class": that sentence was not
retrieved verbatim); the older EMA wording required two products of *different* pharmacological
classes (quoted by Jaffe 2019), reported as `ema_older_met`. Bipolar disorder on record excludes the
label (EU-PEARL, Sforzini 2022).

Rule (docs/rules.md): `met` = >= 2 counted antidepressant failures and no bipolar diagnosis on
record (active or not; `excluded_by` lists those Conditions). `different_classes` reports whether
the failures span >= 2 classes.
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
    card_met,
    classes,
    describe,
    fhir_met,
    ids,
    keyed_cells,
    page_upper,
    same_value,
)

NAME = "regulatory"
SOURCE = (
    "FDA esketamine indication; EMA/CHMP/185423/2010 Rev. 2 (older wording: different classes); "
    "bipolar exclusion per EU-PEARL (Sforzini 2022)"
)
MIN_FAILURES = 2  # the definition itself, not a tunable threshold


def stage(ctx: StagingContext) -> StageResult:
    failures = ctx.counted_failures("antidepressant")
    excluded_by = sorted({d.resource for d in ctx.record.diagnoses if d.category == "bipolar"})
    enough = len(failures) >= MIN_FAILURES
    different = len(classes(failures)) >= MIN_FAILURES
    met = enough and not excluded_by
    n = len(failures)
    trials = f"{n} failed adequate antidepressant trial{'s' if n != 1 else ''} in the episode"
    if failures:
        trials += f" ({describe(failures)})"
    if excluded_by:
        text = f"Not met: bipolar disorder on record ({', '.join(excluded_by)}); {trials}"
    elif met:
        older = "met" if different else "not met (all one class)"
        text = f"Met: {trials}; older EMA wording (different classes) {older}"
    else:
        text = f"Not met: {trials}; at least {MIN_FAILURES} needed"
    return StageResult(
        model=NAME,
        value={
            "met": met,
            "failed_adequate_trials": n,
            "different_classes": different,
            "ema_older_met": met and different,
            "excluded_by": excluded_by,
        },
        headline=met,
        explanation=text,
        source=SOURCE,
        counted=ids(failures),
    )


def _page(value: StageValue) -> str:
    v = as_mapping(value)
    if v.get("excluded_by"):
        return "Excluded (bipolar or other exclusion)"
    n = v.get("failed_adequate_trials")
    return ("Met" if v.get("met") else "Not met") + (
        f" — {n} failed adequate trial{'s' if n != 1 else ''}" if n is not None else ""
    )


def _fhir(value: StageValue, kit: FhirKit) -> Parts:
    v = as_mapping(value)
    parts = [
        kit.component("failed-adequate-trials", v.get("failed_adequate_trials")),
        kit.component("different-classes", v.get("different_classes")),
        kit.component("ema-older-met", v.get("ema_older_met")),
    ]
    if v.get("excluded_by"):
        parts.append(kit.component("excluded-by", ", ".join(map(str, v["excluded_by"]))))
    return {"valueBoolean": bool(v.get("met"))}, parts, fhir_met(kit, v.get("met"))


def _card_headline(v: Mapping[str, Any]) -> str:
    if v.get("excluded_by"):
        return "regulatory excluded (bipolar on record)"
    return "regulatory " + ("met" if v.get("met") else "not met")


SPEC = ModelSpec(
    name=NAME,
    source=SOURCE,
    stage=stage,
    upper_bound=True,
    code_display="Regulatory TRD definition (FDA/EMA) met",
    concepts={},
    page_label="Regulatory definition (FDA / EMA)",
    report_label="Regulatory (FDA/EMA)",
    page_result=_page,
    page_upper=page_upper,
    report_value=same_value,
    card_result=lambda value: card_met(as_mapping(value)),
    card_headline=_card_headline,
    fhir=_fhir,
    csv_keys=("met",),
    csv_cells=keyed_cells("met"),
    trd_met=lambda v: bool(v.get("met")),
)
