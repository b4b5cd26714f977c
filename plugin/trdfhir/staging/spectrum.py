"""The response spectrum of the latest treatment (Guidi J, Fava GA 2024, Fig. 2): full response,
response with residual symptoms, partial response, non-response, resistance (unchanged or worse, or
behavioural toxicity), refractoriness.

Rule (docs/rules.md), from the latest trial of the current episode (latest start; an augmentation
trial attached to an antidepressant is judged through that antidepressant and is skipped):
remission -> full-response; response -> residual-symptoms; partial -> partial-response; a failure
(as counted by this evaluation, so an inferred one is ignored under `--measured-only`) with
Guidi & Fava criteria A through E all met -> refractoriness (Table 3: all five are necessary; when
the others are met and B, or another, cannot be assessed, the explanation says "criteria met except
B (not assessable)" and the label below applies); non-response with some improvement
(change > 0) -> non-response; unchanged or worse (change <= 0, or outcome worsening) -> resistance;
otherwise unknown. Interpretations: a non-response without a score change (documented or inferred)
is reported as non-response, since "resistance" needs evidence that nothing improved; behavioural
toxicity is reported as its own finding (`behavioural-toxicity`), not as a spectrum label.
"""

from __future__ import annotations

from ..model import AssessedTrial, StageResult
from ..patterns import latest_trial
from . import guidi_fava
from .base import (
    FhirKit,
    ModelSpec,
    Parts,
    StageValue,
    StagingContext,
    describe,
    fhir_category,
    page_upper,
    same_value,
    words,
)

NAME = "spectrum"
SOURCE = "Guidi & Fava 2024, Fig. 2 (response spectrum)"
DIRECT = {
    "remission": "full-response",
    "response": "residual-symptoms",
    "partial": "partial-response",
}


def latest(ctx: StagingContext) -> AssessedTrial | None:
    return latest_trial(ctx.trials)


def classify(ctx: StagingContext, t: AssessedTrial) -> tuple[str, str]:
    note = ""
    if ctx.counted_failure(t):
        gf = guidi_fava.stage(ctx).value
        tag = gf.get("label") if isinstance(gf, dict) else None
        if tag == "refractoriness":
            return "refractoriness", "Guidi & Fava criteria A through E met"
        if tag:
            note = f"; Guidi & Fava {tag}, so not labelled refractoriness"
    label, why = _classify(ctx, t)
    return label, why + note


def _classify(ctx: StagingContext, t: AssessedTrial) -> tuple[str, str]:
    outcome = t.outcome
    if outcome.status in DIRECT:
        return DIRECT[outcome.status], outcome.status
    if outcome.status in ("non-response", "worsening") and ctx.is_failure(t):
        change = outcome.change
        if outcome.status == "worsening" or (change is not None and change <= 0):
            return "resistance", "unchanged or worse"
        if change is not None:
            return "non-response", f"{change:.0%} improvement, below partial response"
        return "non-response", f"{outcome.evidence} non-response, no score change"
    return "unknown", f"outcome {outcome.status} ({outcome.evidence})"


def stage(ctx: StagingContext) -> StageResult:
    last = latest(ctx)
    if last is None:
        return StageResult(
            model=NAME,
            value="unknown",
            headline=None,
            explanation="Unknown: no treatment trial in the current episode",
            source=SOURCE,
        )
    label, why = classify(ctx, last)
    text = f"{label.capitalize()}: latest trial {describe([last])}: {why}"
    return StageResult(
        model=NAME,
        value=label,
        headline=None,
        explanation=text,
        source=SOURCE,
        counted=(last.trial.id,),
    )


# The classes of the response spectrum, from the best response to the worst (Guidi & Fava Fig. 2),
# then "unknown": the one list the codes, the page and the population report follow.
CLASSES = (
    "full-response",
    "residual-symptoms",
    "partial-response",
    "non-response",
    "resistance",
    "refractoriness",
    "unknown",
)
_PAGE_WORDS = {
    "full-response": "Full response",
    "residual-symptoms": "Residual symptoms",
    "partial-response": "Partial response",
    "non-response": "Non-response",
    "resistance": "Resistance",
    "refractoriness": "Refractoriness",
    "unknown": "Unknown",
}


def _page(value: StageValue) -> str:
    if isinstance(value, str):
        return _PAGE_WORDS.get(value, words(value))
    return "—"


def _fhir(value: StageValue, kit: FhirKit) -> Parts:
    code = f"spectrum-{value}"
    fields = fhir_category(kit, code)
    return fields, [], []


SPEC = ModelSpec(
    name=NAME,
    source=SOURCE,
    stage=stage,
    upper_bound=False,
    code_display="Guidi & Fava response spectrum of the latest treatment",
    concepts={},
    page_label="Response spectrum",
    report_label="Response spectrum",
    page_result=_page,
    page_upper=page_upper,
    report_value=same_value,
    card_result=str,
    card_headline=None,
    fhir=_fhir,
    csv_keys=("",),
    csv_cells=lambda value: [value],
    trd_met=None,  # the response of the latest treatment, not a TRD test
)
