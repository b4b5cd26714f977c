"""Markowitz JC et al. 2022, "The Neglected Role of Psychotherapy for Treatment-Resistant
Depression" (Am J Psychiatry 2022;179:90-93): TRD should require the failure of an adequate
evidence-based psychotherapy as well as of antidepressant medication.

Their proposal: an adequate psychotherapy trial is 9-16 completed sessions of an evidence-based
modality delivered by a trained therapist (therapist training is not in FHIR records and is not
checked). Rule (docs/rules.md): `met` = >= 2 counted antidepressant failures and >= 1 failed
psychotherapy with >= `markowitz_psychotherapy_min_sessions` (9) sessions of an evidence-based
modality, re-judged here from the course itself (its outcome must still be a failure; in the
upper-bound pass an unspecified modality counts as evidence-based). `strict_met` also needs such a
psychotherapy overlapping (by at least one day) a counted failed antidepressant trial.
`missing` lists `adequate-antidepressant-trials` and `adequate-psychotherapy-trial` when absent, and
`combined-trial` when a qualifying psychotherapy exists but none overlaps a failed antidepressant
trial (interpretation: with no psychotherapy at all, only the psychotherapy is reported missing).
"""

from __future__ import annotations

from ..model import AssessedTrial, StageResult
from .base import (
    FhirKit,
    ModelSpec,
    Parts,
    StageValue,
    StagingContext,
    as_mapping,
    card_met,
    describe,
    fhir_met,
    ids,
    keyed_cells,
    overlaps,
    page_upper,
    same_value,
    words,
)

NAME = "markowitz"
SOURCE = "Markowitz et al. 2022 (Am J Psychiatry), psychotherapy-inclusive TRD definition"
MIN_MEDICATION_FAILURES = 2


def adequate_psychotherapy(ctx: StagingContext, t: AssessedTrial) -> bool:
    trial = t.trial
    if trial.kind != "psychotherapy" or not ctx.is_failure(t):
        return False
    evidence_based = trial.evidence_based or (ctx.optimistic and trial.evidence_based is None)
    sessions = trial.sessions or 0
    return evidence_based and sessions >= ctx.settings.markowitz_psychotherapy_min_sessions


def stage(ctx: StagingContext) -> StageResult:
    medication = ctx.counted_failures("antidepressant")
    therapy = [t for t in ctx.trials if adequate_psychotherapy(ctx, t)]
    combined = [(p, m) for p in therapy for m in medication if overlaps(p.trial, m.trial)]
    met = len(medication) >= MIN_MEDICATION_FAILURES and bool(therapy)
    strict = met and bool(combined)
    missing = []
    if len(medication) < MIN_MEDICATION_FAILURES:
        missing.append("adequate-antidepressant-trials")
    if not therapy:
        missing.append("adequate-psychotherapy-trial")
    elif not combined:
        missing.append("combined-trial")
    minimum = ctx.settings.markowitz_psychotherapy_min_sessions
    n = len(medication)
    parts = [f"{n} failed adequate antidepressant trial{'s' if n != 1 else ''}"]
    if medication:
        parts[0] += f" ({describe(medication)})"
    if therapy:
        parts.append(f"failed {describe(therapy)}")
    else:
        parts.append(f"no failed evidence-based psychotherapy of >= {minimum} sessions")
    head = "Strict criteria met" if strict else "Met" if met else "Not met"
    text = f"{head}: {'; '.join(parts)}"
    if met and not strict:
        text += "; strict criteria need psychotherapy combined with a failed antidepressant"
    used = sorted({*ids(medication), *ids(therapy)})
    return StageResult(
        model=NAME,
        value={"met": met, "strict_met": strict, "missing": missing},
        headline=None,
        explanation=text,
        source=SOURCE,
        counted=tuple(t.trial.id for t in ctx.trials if t.trial.id in used),
    )


def _page(value: StageValue) -> str:
    v = as_mapping(value)
    if v.get("strict_met"):
        return "Met (strict)"
    if v.get("met"):
        return "Met"
    missing = [words(str(m)).lower() for m in v.get("missing") or []]
    return "Not met" + (f" — missing {', '.join(missing)}" if missing else "")


def _fhir(value: StageValue, kit: FhirKit) -> Parts:
    v = as_mapping(value)
    parts = [kit.component("strict-met", bool(v.get("strict_met")))]
    for item in v.get("missing") or []:
        code = f"markowitz-{item}"
        fields = {"valueCodeableConcept": kit.concept(code) if kit.known(code) else {"text": item}}
        parts.append(kit.component("missing-criterion", fields=fields))
    return {"valueBoolean": bool(v.get("met"))}, parts, fhir_met(kit, v.get("met"))


SPEC = ModelSpec(
    name=NAME,
    source=SOURCE,
    stage=stage,
    upper_bound=False,
    code_display="Markowitz psychotherapy-inclusive TRD definition met",
    concepts={},
    page_label="Markowitz (psychotherapy-inclusive)",
    report_label="Markowitz et al. 2022",
    page_result=_page,
    page_upper=page_upper,
    report_value=same_value,
    card_result=lambda value: card_met(as_mapping(value)),
    card_headline=None,
    fhir=_fhir,
    csv_keys=("met",),
    csv_cells=keyed_cells("met"),
    trd_met=lambda v: bool(v.get("met")),
)
