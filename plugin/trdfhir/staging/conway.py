"""Conway, George & Sackeim 2017 (JAMA Psychiatry 2017;74(1):9-10), "Toward an evidence-based,
operational definition of treatment-resistant depression: when enough is enough".

UNCERTAIN: the rule was NOT seen verbatim (only the abstract was retrieved). It is encoded as quoted
by Markowitz et al. 2022 and the clinical spec: stage 1 = failure of two adequate dose-duration
antidepressant trials or psychotherapy (>= 8 attended sessions of an evidence-based psychotherapy)
from different classes, in combination or succession, in the current episode; stage 2 = a third
such failure. The 8-session threshold is the unverified setting `conway_psychotherapy_min_sessions`.

Rule (docs/rules.md): counted failures of antidepressants and of adequate psychotherapy
(psychotherapy is its own class; its adequacy is the trial's ordinary one, and the session count is
checked again against the setting). Stage 1: >= 2 failures in >= 2 classes; stage 2: stage 1 and
>= 3 failures.
"""

from __future__ import annotations

from typing import Any

from ..model import AssessedTrial, StageResult
from .base import (
    ModelSpec,
    StageValue,
    StagingContext,
    as_int,
    as_mapping,
    card_stage,
    describe,
    fhir_stage,
    ids,
    keyed_cells,
    num,
    page_upper,
    same_value,
)

NAME = "conway"
SOURCE = "Conway, George & Sackeim 2017 (as quoted by Markowitz et al. 2022; not seen verbatim)"


def _class(t: AssessedTrial) -> str:
    return "psychotherapy" if t.trial.kind == "psychotherapy" else t.trial.drug_class or "other"


def counted(ctx: StagingContext) -> list[AssessedTrial]:
    minimum = ctx.settings.conway_psychotherapy_min_sessions
    return [
        t
        for t in ctx.counted_failures("antidepressant", "psychotherapy")
        if t.trial.kind != "psychotherapy" or (t.trial.sessions or 0) >= minimum
    ]


def stage(ctx: StagingContext) -> StageResult:
    failures = counted(ctx)
    found = {_class(t) for t in failures}
    level = 0
    if len(failures) >= 2 and len(found) >= 2:
        level = 2 if len(failures) >= 3 else 1
    n = len(failures)
    what = f"{n} failed adequate trial{'s' if n != 1 else ''}"
    if failures:
        what += f" of {describe(failures)}"
    if level == 0 and n >= 2:
        text = f"Stage 0: {what}, all one class; stage 1 needs two classes"
    elif level == 0:
        text = f"Stage 0: {what}; stage 1 needs two failures of different classes"
    else:
        text = f"Stage {level}: {what} ({len(found)} classes, psychotherapy its own class)"
    return StageResult(
        model=NAME,
        value={"stage": level, "failed_trials": n, "classes": sorted(found)},
        headline=level,
        explanation=text,
        source=SOURCE,
        counted=ids(failures),
    )


def _page(value: StageValue) -> str:
    v = as_mapping(value)
    return f"Stage {v['stage']}" if v.get("stage") is not None else "Not staged"


def _page_upper(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"Stage {num(value)}"
    return page_upper(value)


SPEC = ModelSpec(
    name=NAME,
    source=SOURCE,
    stage=stage,
    upper_bound=True,
    code_display="Conway, George & Sackeim stage",
    concepts={},
    page_label="Conway",
    report_label="Conway et al. 2017",
    page_result=_page,
    page_upper=_page_upper,
    report_value=same_value,
    card_result=lambda value: card_stage(as_mapping(value)),
    card_headline=None,
    fhir=lambda value, kit: fhir_stage(as_mapping(value), kit),
    csv_keys=("stage",),
    csv_cells=keyed_cells("stage"),
    trd_met=lambda v: as_int(v.get("stage")) >= 1,
)
