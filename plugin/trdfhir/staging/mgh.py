"""Massachusetts General Hospital staging (MGH-S; Fava M. Biol Psychiatry 2003;53:649-659).

Points as tabulated by Hägg 2020 (PLOS One, Panel 1; research §1.3): +1 per non-response to an
adequate antidepressant trial, +0.5 per trial for dose optimisation, +0.5 per trial for
augmentation, +3 for ECT. The score is continuous (no published bands). Uncertainties: counting a
combination like augmentation is widely quoted but was not seen verbatim (setting
`mgh_combination_counts`); the separate +0.5 for duration optimisation (also not seen verbatim) is
not scored.

Rule (docs/rules.md): per counted antidepressant failure of the current episode, +1, +0.5 if it was
dose-optimised, +0.5 if it was augmented (or combined, when `mgh_combination_counts`); +3 per
counted failure of an ECT course.
"""

from __future__ import annotations

from ..model import AssessedTrial, StageResult
from .base import (
    ModelSpec,
    StagingContext,
    as_mapping,
    card_score,
    fhir_score,
    ids,
    keyed_cells,
    page_score,
    page_upper,
    same_value,
)

NAME = "mgh"
SOURCE = "Fava 2003 (MGH staging), points as tabulated by Hägg et al. 2020"
TRIAL_POINTS = 1.0
HALF_POINT = 0.5
ECT_POINTS = 3.0


def _points(ctx: StagingContext, t: AssessedTrial) -> tuple[float, str]:
    points, notes = TRIAL_POINTS, []
    if t.trial.dose_optimised:
        points += HALF_POINT
        notes.append("+0.5 dose optimised")
    combined = bool(t.trial.combined_with) and ctx.settings.mgh_combination_counts
    if t.trial.augmented_by or combined:
        points += HALF_POINT
        notes.append("+0.5 augmented" if t.trial.augmented_by else "+0.5 combined")
    return points, " ".join([f"{t.trial.agent} 1", *notes])


def stage(ctx: StagingContext) -> StageResult:
    failures = ctx.counted_failures("antidepressant")
    ect = ctx.counted_failures("ect")
    parts: dict[str, float] = {}
    notes: list[str] = []
    for t in failures:
        parts[t.trial.id], note = _points(ctx, t)
        notes.append(note)
    for t in ect:
        parts[t.trial.id] = ECT_POINTS
        notes.append("ECT course 3")
    score = sum(parts.values(), 0.0)
    if parts:
        text = f"MGH-S {score:g}: {'; '.join(notes)} (failed adequate trials, current episode)"
    else:
        text = (
            "MGH-S 0: no failed adequate antidepressant trial or ECT course in the current episode"
        )
    return StageResult(
        model=NAME,
        value={"score": score, "points": parts},
        headline=score,
        explanation=text,
        source=SOURCE,
        counted=ids([*failures, *ect]),
    )


SPEC = ModelSpec(
    name=NAME,
    source=SOURCE,
    stage=stage,
    upper_bound=True,
    code_display="Massachusetts General Hospital staging score",
    concepts={},
    page_label="MGH staging (MGH-S)",
    report_label="MGH-S (Fava 2003)",
    page_result=lambda value: page_score(as_mapping(value).get("score")),
    page_upper=page_upper,
    report_value=same_value,
    card_result=lambda value: card_score(as_mapping(value)),
    card_headline=None,
    fhir=lambda value, kit: (fhir_score(as_mapping(value), kit), [], []),
    csv_keys=("score",),
    csv_cells=keyed_cells("score"),
    trd_met=None,  # a score without a published TRD threshold
)
