"""Maudsley Staging Method (Fekadu A et al. J Clin Psychiatry 2009;70:177-184; standardised rating:
Fekadu et al. BMC Psychiatry 2018;18:100).

Dimensions (research §1.4): episode duration 1-3 (<= 12, 13-24, > 24 months); severity 1-5
(subsyndromal ... severe with psychosis); failed antidepressants 1-2 -> 1, 3-4 -> 2, 5-6 -> 3,
7-10 -> 4, > 10 -> 5; augmentation used 0/1; ECT used 0/1 ("used", not "failed"). Total 3-15:
mild 3-6, moderate 7-10, severe 11-15.

Rule (docs/rules.md): not applicable without a counted antidepressant failure (the failure dimension
has no level 0). Severity is 5 when a psychotic MDD diagnosis is on record; else the
`maudsley_severity` of the band of the latest severity-scale score dated in the episode (the
scale-to-severity mapping is a local convention, not Fekadu's); else, when there is no such score,
the most severe MDD diagnosis severity. Interpretation: a latest score whose band carries no
Maudsley severity is treated like no score. Augmentation "used" = an augmentation trial attached to
an antidepressant trial of the episode; ECT "used" = any ECT course in the episode. A dimension that
cannot be rated makes the score null.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from ..model import StageResult
from .base import (
    FhirKit,
    ModelSpec,
    Parts,
    StageValue,
    StagingContext,
    as_mapping,
    card_score,
    describe,
    fhir_score,
    ids,
    keyed_cells,
    num,
    page_upper,
    same_value,
    words,
)

NAME = "maudsley"
SOURCE = "Fekadu et al. 2009; standardised rating Fekadu et al. 2018"
FAILURE_LEVELS = ((10, 5), (6, 4), (4, 3), (2, 2), (0, 1))  # more than N failures -> level
CATEGORIES = ((11, "severe"), (7, "moderate"), (3, "mild"))


def failure_level(n: int) -> int:
    """0 for no failure, else the MSM level 1-5."""
    return 0 if n <= 0 else next(level for above, level in FAILURE_LEVELS if n > above)


def duration_level(ctx: StagingContext) -> int | None:
    months = ctx.episode.months
    if months is None:
        return None
    if months <= ctx.settings.acute_months:
        return 1
    return 2 if months <= ctx.settings.chronic_months else 3


def _dated_in_episode(ctx: StagingContext, day: date | None) -> bool:
    return day is not None and ctx.in_episode(day)


def severity_level(ctx: StagingContext) -> tuple[int | None, str]:
    """The severity level and where it came from."""
    # Only diagnoses describing this episode: active ones, or ones dated within it.
    mdd = [
        d
        for d in ctx.record.diagnoses
        if d.category == "mdd" and (d.active or _dated_in_episode(ctx, d.onset or d.recorded))
    ]
    psychotic = [d for d in mdd if d.psychotic]
    if psychotic:
        return 5, f"psychotic features ({psychotic[0].code})"
    scored = []
    for s in ctx.record.scores:
        scale = ctx.mappings.scales.get(s.scale)
        if scale is not None and scale.kind == "severity" and ctx.in_episode(s.day):
            scored.append((s.day, -scale.priority, s, scale))
    if scored:
        _, _, latest, scale = max(scored, key=lambda row: (row[0], row[1]))
        band = scale.band(latest.value)
        if band is not None and band.maudsley_severity is not None:
            when = latest.day.isoformat()
            return (
                band.maudsley_severity,
                f"{latest.scale} {latest.value:g} on {when} ({band.label})",
            )
    graded = [d for d in mdd if d.severity is not None]
    if graded:
        worst = max(graded, key=lambda d: d.severity or 0)
        return worst.severity, f"diagnosis {worst.code}"
    return None, "no severity score or graded MDD diagnosis"


def dimensions(ctx: StagingContext) -> tuple[dict[str, int | None], str]:
    """The five MSM dimensions (failures 0 when none) and the severity source."""
    severity, source = severity_level(ctx)
    # An augmenting agent on a current antidepressant trial, even one started before the episode.
    augmented = any(t.trial.augmented_by or t.trial.attached_to for t in ctx.trials)
    dims: dict[str, int | None] = {
        "duration": duration_level(ctx),
        "severity": severity,
        "failures": failure_level(len(ctx.counted_failures("antidepressant"))),
        "augmentation": int(augmented),
        "ect": int(any(t.trial.kind == "ect" for t in ctx.trials)),
    }
    return dims, source


def stage(ctx: StagingContext) -> StageResult:
    failures = ctx.counted_failures("antidepressant")
    dims, source = dimensions(ctx)
    score: int | None = None
    category: str | None = None
    if not failures:
        category = "not-applicable"
        text = "Not applicable: no failed adequate antidepressant trial in the current episode"
    else:
        missing = [name for name, v in dims.items() if v is None]
        parts = ", ".join(f"{k} {v if v is not None else '?'}" for k, v in dims.items())
        if missing:
            text = f"Not rated: {' and '.join(missing)} cannot be rated ({parts})"
        else:
            score = sum(v for v in dims.values() if v is not None)
            category = next(label for low, label in CATEGORIES if score >= low)
            text = f"MSM {score} ({category}): {parts}"
        text += f"; {len(failures)} failed: {describe(failures)}; severity from {source}"
    return StageResult(
        model=NAME,
        value={
            "score": score,
            "category": category,
            "dimensions": dims,
            "months": ctx.episode.months,
            "severity_source": source,
        },
        headline=score,
        explanation=text,
        source=SOURCE,
        counted=ids(failures),
    )


DIMENSIONS = ("duration", "severity", "failures", "augmentation", "ect")


def _page(value: StageValue) -> str:
    v = as_mapping(value)
    score, band = v.get("score"), v.get("category")
    if score is None:
        return words(str(band or "not applicable"))
    return f"{num(score)} ({band})" if band else num(score)


def _fhir(value: StageValue, kit: FhirKit) -> Parts:
    v = as_mapping(value)
    dims = as_mapping(v.get("dimensions"))
    parts = [kit.component(f"maudsley-{d}", dims.get(d)) for d in DIMENSIONS]
    score = v.get("score")
    fields = {"valueInteger": score} if isinstance(score, int) else fhir_score(v, kit)
    code = f"maudsley-{v.get('category')}"
    return fields, parts, [kit.concept(code)] if kit.known(code) else []


def _card_headline(v: Mapping[str, Any]) -> str:
    if v.get("score") is not None:
        return f"Maudsley {v['score']} ({v.get('category')})"
    if v.get("category") == "not-applicable":
        return "Maudsley n/a"
    return "Maudsley not scorable"


SPEC = ModelSpec(
    name=NAME,
    source=SOURCE,
    stage=stage,
    upper_bound=True,
    code_display="Maudsley Staging Method score",
    concepts={},
    page_label="Maudsley Staging Method",
    report_label="Maudsley (Fekadu 2009)",
    page_result=_page,
    page_upper=page_upper,
    report_value=same_value,
    card_result=lambda value: card_score(as_mapping(value)),
    card_headline=_card_headline,
    fhir=_fhir,
    csv_keys=("score", "category"),
    csv_cells=keyed_cells("score", "category"),
    trd_met=lambda v: v.get("category") in ("moderate", "severe"),
)
