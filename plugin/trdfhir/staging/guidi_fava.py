"""Guidi J, Fava GA 2024, "The clinical inadequacy of the concept of treatment-resistant
depression", Table 3: criteria for refractoriness, each met / not-met / not-assessable.

- A: >= 2 adequate failed trials, >= 1 involving psychotherapy (medication 4-8 weeks at an adequate
  dose; psychotherapy 20-52 weeks). Re-judged here: a medication failure counts with
  `days_at_adequate_dose` >= `guidi_fava_medication_min_days` (28) and no documented non-adherence;
  a psychotherapy failure with a course >= `guidi_fava_psychotherapy_min_days` (140) long of an
  evidence-based modality. Trials that could reach this (days at unknown dose, unknown duration
  or dose threshold, unspecified modality) count in the upper-bound pass; if only they could make
  A met, A is `not-assessable`.
- B: treatments evidence-based and fitted to the patient's complexity (their examples: extensive
  comorbidities, double depression): a clinician's judgement, so `not-assessable`, except that
  double depression on record (patterns.double_depression) settles it: with no psychotherapy
  course on record in any episode B is `not-met` ("wishful thinking ... that a single course of an
  antidepressant may entail solution to ... double depression", Guidi & Fava 2024 §5); with a
  failed adequate CBASP course (the psychotherapy developed for chronic depression) B is `met`;
  `comorbidities` lists what is on record, `double-depression` included.
- C: clinimetric assessment documented: a `clinimetric` marker dated in the episode (within
  `lab_lookback_days` of the as-of date when the episode start is unknown).
- D: not loss of clinical effect during maintenance nor failure on rechallenge: `not-met` with
  either, `not-assessable` without any counted failure (of any kind), else `met`.
- E: shared decision documented: a `shared-decision` marker, dated as for C.

`label` (Table 3: "A through E are necessary"): "refractoriness" only when all five are met;
"criteria met except B (not assessable)" (naming each such criterion) when none is not-met and
some cannot be assessed; otherwise null.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from ..model import AssessedTrial, StageResult
from ..patterns import double_depression
from .base import (
    FhirKit,
    Json,
    ModelSpec,
    Parts,
    StageValue,
    StagingContext,
    as_mapping,
    card_score,
    describe,
    fhir_category,
    page_upper,
    same_value,
    words,
)

NAME = "guidi_fava"
SOURCE = "Guidi & Fava 2024, Table 3 (criteria for refractoriness)"
COMORBIDITIES = (
    "anxiety", "substance-use", "borderline", "personality-disorder", "adhd", "ptsd", "bipolar",
    "hypothyroidism", "sleep-apnea", "vitamin-d-deficiency",
)  # fmt: skip
Judgement = Literal["yes", "maybe", "no"]
# The psychotherapy developed for chronic depression (Guidi & Fava 2024 §5: CBASP "specifically
# developed for patients with chronic depression"): a failed adequate course addressed it.
CHRONIC_MODALITY = "cbasp"
CRITERIA = ("A", "B", "C", "D", "E")


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


def criterion_b(ctx: StagingContext) -> tuple[str, str]:
    if double_depression(ctx.record) is not None:
        therapy = [t for t in (*ctx.trials, *ctx.earlier_trials) if t.trial.kind == "psychotherapy"]
        if not therapy:
            return "not-met", "double depression on record and no psychotherapy course on record"
        chronic = [
            t for t in therapy if t.trial.modality == CHRONIC_MODALITY and judge(ctx, t) == "yes"
        ]
        if chronic:
            return "met", f"double depression addressed by {describe(chronic)}"
        return (
            "not-assessable",
            "double depression on record; whether the treatments addressed it needs a clinician",
        )
    return "not-assessable", "needs a clinician"


def label(value: dict[str, object]) -> str | None:
    """The refractoriness label: only with A through E all met (Table 3)."""
    marks = [str(value[k]) for k in "ABCDE"]
    if all(m == "met" for m in marks):
        return "refractoriness"
    if "not-met" in marks:
        return None
    open_ = [k for k in "ABCDE" if value[k] == "not-assessable"]
    return f"criteria met except {' and '.join(open_)} (not assessable)"


def stage(ctx: StagingContext) -> StageResult:
    a, a_trials, a_text = criterion_a(ctx)
    b, b_text = criterion_b(ctx)
    comorbid = [c for c in COMORBIDITIES if ctx.has_diagnosis(c)]
    if double_depression(ctx.record) is not None:
        comorbid.append("double-depression")
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
        "B": b,
        "C": "met" if c_ev else "not-met",
        "D": d,
        "E": "met" if e_ev else "not-met",
        "comorbidities": comorbid,
    }
    value["label"] = label(value)
    text = (
        f"A {a} ({a_text}); B {b} ({b_text}; comorbidities: {', '.join(comorbid) or 'none'}); "
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


_STATUS_ORDER = ("met", "not-met", "not-assessable")


def _page(value: StageValue) -> str:
    v = as_mapping(value)
    groups: dict[str, list[str]] = {}
    for key in CRITERIA:
        if key in v:
            groups.setdefault(str(v[key]), []).append(key)
    marks = "; ".join(
        f"{words(status).lower()}: {', '.join(groups[status])}"
        for status in _STATUS_ORDER
        if status in groups
    )
    label = v.get("label")  # "refractoriness" only when A-E are all met
    return marks + (f" — {label}" if label else "")


def _card(value: StageValue) -> str:
    v = as_mapping(value)
    if "A" in v and "E" in v:
        marks = " ".join(f"{k}: {v.get(k)}" for k in CRITERIA)
        return marks + (f" ({v['label']})" if v.get("label") else "")
    return card_score(v)


def _criterion(value: Any, kit: FhirKit) -> Json:
    return fhir_category(kit, f"criterion-{value}")


def _fhir(value: StageValue, kit: FhirKit) -> Parts:
    v = as_mapping(value)
    parts = [kit.component(f"guidi-fava-{c}", fields=_criterion(v.get(c), kit)) for c in CRITERIA]
    if v.get("comorbidities"):
        parts.append(kit.component("comorbidities", ", ".join(map(str, v["comorbidities"]))))
    return {}, parts, []


def _csv(value: StageValue | None) -> Sequence[object]:
    """One column: the criteria met ('A;C'), empty when none is."""
    if isinstance(value, Mapping) and any(v == "met" for v in value.values()):
        return [";".join(k for k, v in value.items() if v == "met")]
    if isinstance(value, Mapping) and any(isinstance(v, str) for v in value.values()):
        return [""]
    return [value]


SPEC = ModelSpec(
    name=NAME,
    source=SOURCE,
    stage=stage,
    upper_bound=False,
    code_display="Guidi & Fava criteria for refractoriness",
    concepts={},
    page_label="Guidi & Fava criteria",
    report_label="Guidi & Fava 2024 (A-E)",
    page_result=_page,
    page_upper=page_upper,
    report_value=same_value,
    card_result=_card,
    card_headline=None,
    fhir=_fhir,
    csv_keys=("",),
    csv_cells=_csv,
    trd_met=None,  # refractoriness, reported beside the TRD definitions
)
