"""Thase & Rush 1997 staging, stages 0-V (Thase ME, Rush AJ. J Clin Psychiatry 1997;58 Suppl 13).

Table as given by medicalalgorithms.com (research §1.1). Rule (docs/rules.md), on counted failures
of adequate antidepressant trials in the current episode:
- I: >= 1 failure; II: failures in >= 2 classes (SSRI, SNRI, TCA, MAOI, other);
- III: a TCA failure plus failures in >= 2 classes other than TCA;
- IV: III plus an MAOI failure, where III must hold without the MAOI failure (so: TCA, MAOI and two
  of SSRI / SNRI / other);
- V: IV plus a failed adequate ECT course that is bilateral or of unspecified laterality (a course
  coded right-unilateral does not count).
The stage is the highest contiguous one: an MAOI failure without a TCA failure stays at II.
Known limits of the model: augmentation and combination are not counted; the TCA > SSRI and
MAOI > TCA hierarchy is assumed; no duration or severity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..model import AssessedTrial, StageResult
from .base import (
    ModelSpec,
    StageValue,
    StagingContext,
    as_int,
    as_mapping,
    card_stage,
    classes,
    describe,
    fhir_stage,
    ids,
    keyed_cells,
    page_upper,
)

NAME = "thase_rush"
SOURCE = "Thase & Rush 1997 (J Clin Psychiatry 58 Suppl 13)"
ROMAN = ("0", "I", "II", "III", "IV", "V")


def _bilateral_ect(ctx: StagingContext) -> list[AssessedTrial]:
    return [t for t in ctx.counted_failures("ect") if t.trial.laterality in (None, "bilateral")]


def stage(ctx: StagingContext) -> StageResult:
    failures = ctx.counted_failures("antidepressant")
    found = classes(failures)
    others = found - {"TCA"}
    level = 0
    if failures:
        level = 1
    if len(found) >= 2:
        level = 2
    if level == 2 and "TCA" in found and len(others) >= 2:
        level = 3
    if level == 3 and "MAOI" in found and len(others - {"MAOI"}) >= 2:
        level = 4
    ect = _bilateral_ect(ctx) if level == 4 else []
    if ect:
        level = 5
    used = failures + ect
    if level == 0:
        text = "Stage 0: no failed adequate antidepressant trial in the current episode"
    else:
        text = f"Stage {ROMAN[level]}: failed adequate trials of {describe(used)}"
    text += _next_step(level, found, ctx)
    return StageResult(
        model=NAME,
        value={"stage": level, "roman": ROMAN[level]},
        headline=level,
        explanation=text,
        source=SOURCE,
        counted=ids(used),
    )


def _next_step(level: int, found: set[str], ctx: StagingContext) -> str:
    if level == 1:
        return "; stage II needs a failure in a different class"
    if level == 2:
        if "TCA" not in found:
            return "; stage III needs a TCA failure"
        return "; stage III needs failures in two classes besides TCA"
    if level == 3:
        if "MAOI" not in found:
            return "; stage IV needs an MAOI failure"
        return "; stage IV needs two classes besides TCA and MAOI"
    if level == 4:
        if ctx.counted_failures("ect"):
            return "; the failed ECT course is not bilateral, stage V needs bilateral ECT"
        return "; stage V needs a failed bilateral ECT course"
    return ""


def _page(value: StageValue) -> str:
    v = as_mapping(value)
    roman = v.get("roman") or v.get("stage")
    return f"Stage {roman}" if roman is not None else "Not staged"


def _page_upper(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return "Stage " + ROMAN[value] if 0 <= value <= len(ROMAN) - 1 else str(value)
    return page_upper(value)


def _report_value(value: StageValue) -> Any:
    """The text report shows the roman stage."""
    if isinstance(value, Mapping) and "roman" in value:
        return {"stage": value["roman"]}
    return value


def _card_headline(v: Mapping[str, Any]) -> str:
    return f"Thase–Rush {v.get('roman', v.get('stage', '?'))}"  # noqa: RUF001 (en dash)


SPEC = ModelSpec(
    name=NAME,
    source=SOURCE,
    stage=stage,
    upper_bound=True,
    code_display="Thase & Rush stage",
    concepts={},
    page_label="Thase-Rush",
    report_label="Thase & Rush 1997",
    page_result=_page,
    page_upper=_page_upper,
    report_value=_report_value,
    card_result=lambda value: card_stage(as_mapping(value)),
    card_headline=_card_headline,
    fhir=lambda value, kit: fhir_stage(as_mapping(value), kit),
    csv_keys=("stage",),
    csv_cells=keyed_cells("stage"),
    trd_met=lambda v: as_int(v.get("stage")) >= 2,  # stage II or higher
)
