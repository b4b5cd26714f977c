"""Guidi J, Fava GA 2024, "The clinical inadequacy of the concept of treatment-resistant
depression", Table 3: criteria for refractoriness, each met / not-met / not-assessable.

- A: >= 2 adequate failed trials, >= 1 involving psychotherapy (medication 4-8 weeks at an adequate
  dose; psychotherapy 20-52 weeks). Re-judged here: a medication failure counts with
  `days_at_adequate_dose` >= `guidi_fava_medication_min_days` (28) and no documented non-adherence;
  a psychotherapy failure with a course >= `guidi_fava_psychotherapy_min_days` (140) long of an
  evidence-based modality. Trials that could reach this (days at unknown dose, unknown duration
  or dose threshold, unspecified modality) count in the upper-bound pass; if only they could make
  A met, A is `not-assessable`.
- B: treatments evidence-based and fitted to the patient's complexity: a clinician's judgement, so
  always `not-assessable`; `comorbidities` lists what is on record.
- C: clinimetric assessment documented: a `clinimetric` marker dated in the episode (within
  `lab_lookback_days` of the as-of date when the episode start is unknown).
- D: not loss of clinical effect during maintenance nor failure on rechallenge: `not-met` with
  either, `not-assessable` without any counted failure (of any kind), else `met`.
- E: shared decision documented: a `shared-decision` marker, dated as for C.
"""

from __future__ import annotations

from typing import Literal

from ..model import AssessedTrial, StageResult
from .base import StagingContext, describe

NAME = "guidi_fava"
SOURCE = "Guidi & Fava 2024, Table 3 (criteria for refractoriness)"
COMORBIDITIES = (
    "anxiety", "substance-use", "borderline", "personality-disorder", "adhd", "ptsd", "bipolar",
    "hypothyroidism", "sleep-apnea", "vitamin-d-deficiency",
)  # fmt: skip
Judgement = Literal["yes", "maybe", "no"]


def judge(ctx: StagingContext, t: AssessedTrial) -> Judgement:
    """Whether a trial is an adequate failure for criterion A ("maybe": could be)."""
    trial, settings = t.trial, ctx.settings
    if not ctx.is_failure(t) or trial.non_adherence or "non-adherence" in t.adequacy.reasons:
        return "no"
    if trial.kind == "antidepressant":
        need, known = settings.guidi_fava_medication_min_days, trial.days_at_adequate_dose
        if known is not None and known >= need:
            return "yes"
        reachable = known is None or known + trial.days_unknown_dose >= need
        return "maybe" if reachable or not trial.duration_known else "no"
    if trial.kind == "psychotherapy" and trial.days >= settings.guidi_fava_psychotherapy_min_days:
        if trial.evidence_based is None:
            return "maybe"
        return "yes" if trial.evidence_based else "no"
    return "no"


def criterion_a(ctx: StagingContext) -> tuple[str, list[AssessedTrial], str]:
    graded = [(t, judge(ctx, t)) for t in ctx.trials]
    sure = [t for t, j in graded if j == "yes" or (j == "maybe" and ctx.optimistic)]
    could = [t for t, j in graded if j != "no"]

    def enough(trials: list[AssessedTrial]) -> bool:
        return len(trials) >= 2 and any(t.trial.kind == "psychotherapy" for t in trials)

    minimum = ctx.settings.guidi_fava_psychotherapy_min_days
    summary = f"failed adequate trials: {describe(sure)}" if sure else "no failed adequate trial"
    if not any(t.trial.kind == "psychotherapy" for t in sure):
        summary += f"; none is evidence-based psychotherapy of >= {minimum} days"
    if enough(sure):
        return "met", sure, summary
    if enough(could):
        return (
            "not-assessable",
            could,
            summary + "; trials of unknown dose or modality could meet it",
        )
    return "not-met", sure, summary


def stage(ctx: StagingContext) -> StageResult:
    a, a_trials, a_text = criterion_a(ctx)
    comorbid = [c for c in COMORBIDITIES if ctx.has_diagnosis(c)]
    c_ev = ctx.markers_in_episode("clinimetric")
    e_ev = ctx.markers_in_episode("shared-decision")
    if ctx.loss_of_effect or ctx.rechallenge_failures:
        d, d_text = "not-met", "loss of effect or failure on rechallenge on record"
    elif not ctx.counted_failures():
        d, d_text = "not-assessable", "no counted failure"
    else:
        d, d_text = "met", "no loss of effect or rechallenge failure on record"
    value: dict[str, object] = {
        "A": a,
        "B": "not-assessable",
        "C": "met" if c_ev else "not-met",
        "D": d,
        "E": "met" if e_ev else "not-met",
        "comorbidities": comorbid,
    }
    text = (
        f"A {a} ({a_text}); B needs a clinician (comorbidities: {', '.join(comorbid) or 'none'}); "
        f"C {value['C']} ({', '.join(c_ev) or 'no clinimetric assessment in the episode'}); "
        f"D {d} ({d_text}); E {value['E']} ({', '.join(e_ev) or 'no shared decision on record'})"
    )
    return StageResult(
        model=NAME,
        value=value,
        headline=None,
        explanation=text,
        source=SOURCE,
        counted=tuple(t.trial.id for t in a_trials),
    )
