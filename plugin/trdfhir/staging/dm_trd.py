"""Dutch Measure for Treatment Resistance in Depression (DM-TRD; Peeters FPML et al. J Affect Disord
2016;205:365-371).

Only the item list was confirmed (abstract, research §1.5): the Maudsley items (duration, severity,
failed antidepressants, augmentation, ECT) plus functional impairment, comorbid anxiety,
personality disorder, psychosocial stressors, extended augmentation, failed psychotherapy and
intensified treatment. The published item points were NOT retrieved: weights come from
`mappings/dm_trd_weights.json` and the score is `provisional` while any weight is unverified.

Rule (docs/rules.md), item keys as in the weights file: the MSM items duration, severity and
failed_treatments (the MSM failure level, 0 when none; MSM's augmentation and ECT items are replaced
by the DM-TRD's extended augmentation and intensified treatment); functional_impairment from the
latest WSAS total dated in the episode, by the bands of Mundt et al. 2002 (settings
`wsas_significant_min`, `wsas_severe_above`): below 10 subclinical 0, 10-20 significant 1, above
20 moderately severe or worse 2 (the level numbers are the project's; the DM-TRD's own item levels
were not retrieved); null without a WSAS (Q-LES-Q-SF, WPAI, SOFAS and GAF have no sourced band and
are reported as values only);
comorbid_anxiety / personality_disorder (incl. borderline) / psychosocial_stressors (Z55-Z65) 0/1
from diagnoses on record; extended_augmentation = number of distinct augmenting agents attached in
the episode; failed_psychotherapy = number of counted psychotherapy failures; intensified_treatment
0/1 = any ECT, rTMS or esketamine course in the episode. Score = sum of weight x item; null if an
item is null or has no weight. `assumed_zero` lists the items that are 0 only because nothing is on
record (no diagnosis, augmentation, psychotherapy failure or intensified treatment): taken as 0
for want of data, and labelled so.
"""

from __future__ import annotations

from ..fhir.values import json_number
from ..model import Rating, StageResult
from ..settings import Settings
from .base import (
    FhirKit,
    ModelSpec,
    Parts,
    StageValue,
    StagingContext,
    as_mapping,
    card_score,
    fhir_score,
    ids,
    keyed_cells,
    num,
    page_upper,
    same_value,
)
from .maudsley import duration_level, failure_level, severity_level

NAME = "dm_trd"
SOURCE = "Peeters et al. 2016 (DM-TRD); item weights unverified (mappings/dm_trd_weights.json)"


WSAS_BANDS = ("subclinical", "significant impairment", "moderately severe or worse")
ZERO_FOR_WANT_OF_DATA = (
    "comorbid_anxiety",
    "personality_disorder",
    "psychosocial_stressors",
    "extended_augmentation",
    "failed_psychotherapy",
    "intensified_treatment",
)


def wsas_level(value: float, settings: Settings) -> int:
    """0 subclinical (< 10), 1 significant (10-20), 2 moderately severe or worse (> 20)."""
    if value > settings.wsas_severe_above:
        return 2
    return 1 if value >= settings.wsas_significant_min else 0


def functional_rating(ctx: StagingContext) -> Rating | None:
    """The latest WSAS dated in the episode (see StagingContext.in_episode)."""
    wsas = [r for r in ctx.record.functional if r.scale == "WSAS" and ctx.in_episode(r.day)]
    return max(wsas, key=lambda r: (r.day, r.resource)) if wsas else None


def items(ctx: StagingContext) -> dict[str, int | None]:
    agents = {
        t.trial.agent for t in ctx.trials if t.trial.kind == "augmentation" and t.trial.attached_to
    }
    wsas = functional_rating(ctx)
    intensified = any(t.trial.kind in ("ect", "rtms", "esketamine", "ketamine") for t in ctx.trials)
    return {
        "duration": duration_level(ctx),
        "severity": severity_level(ctx)[0],
        "failed_treatments": failure_level(len(ctx.counted_failures("antidepressant"))),
        "functional_impairment": None if wsas is None else wsas_level(wsas.value, ctx.settings),
        "comorbid_anxiety": int(ctx.has_diagnosis("anxiety")),
        "personality_disorder": int(ctx.has_diagnosis("personality-disorder", "borderline")),
        "psychosocial_stressors": int(ctx.has_diagnosis("psychosocial-stressor")),
        "extended_augmentation": len(agents),
        "failed_psychotherapy": len(ctx.counted_failures("psychotherapy")),
        "intensified_treatment": int(intensified),
    }


def stage(ctx: StagingContext) -> StageResult:
    rated = items(ctx)
    weights = ctx.mappings.dm_trd_weights
    provisional = not ctx.mappings.dm_trd_verified
    unrated = [k for k, v in rated.items() if v is None]
    unweighted = [k for k in rated if k not in weights]
    score: float | None = None
    if unrated or unweighted:
        why = [f"not rated: {', '.join(unrated)}"] if unrated else []
        why += [f"no weight for: {', '.join(unweighted)}"] if unweighted else []
        text = f"No DM-TRD score ({'; '.join(why)})"
    else:
        score = sum((weights[k] * (v or 0) for k, v in rated.items()), 0.0)
        text = f"DM-TRD {score:g}"
    shown = ", ".join(f"{k} {v}" for k, v in rated.items() if v is not None)
    text += f"; items: {shown}"
    wsas = functional_rating(ctx)
    if wsas is not None:
        level = rated["functional_impairment"] or 0
        text += (
            f"; functional impairment from WSAS {wsas.value:g} on {wsas.day.isoformat()} "
            f"({WSAS_BANDS[level]}, Mundt et al. 2002)"
        )
    zero = [k for k in ZERO_FOR_WANT_OF_DATA if rated.get(k) == 0]
    if zero:
        text += f"; taken as 0 for want of data: {', '.join(zero)}"
    if provisional:
        text += "; weights unverified, score provisional"
    failures = ctx.counted_failures("antidepressant", "psychotherapy")
    return StageResult(
        model=NAME,
        value={
            "score": score,
            "provisional": provisional,
            "items": rated,
            "assumed_zero": zero,
            "functional_rating": None
            if wsas is None
            else {
                "scale": wsas.scale,
                "value": json_number(wsas.value),
                "date": wsas.day.isoformat(),
                "band": WSAS_BANDS[rated["functional_impairment"] or 0],
                "resource": wsas.resource,
            },
        },
        headline=None,
        explanation=text,
        source=SOURCE,
        counted=ids(failures),
    )


def _page(value: StageValue) -> str:
    v = as_mapping(value)
    score = v.get("score")
    if score is None:
        return "Not scored"
    return f"{num(score)}" + (" (provisional)" if v.get("provisional") else "")


def _fhir(value: StageValue, kit: FhirKit) -> Parts:
    v = as_mapping(value)
    items = as_mapping(v.get("items"))
    parts = [kit.component(f"dm-trd-{k.replace('_', '-')}", items[k]) for k in items]
    parts.append(kit.component("provisional", bool(v.get("provisional"))))
    return fhir_score(v, kit), parts, []


SPEC = ModelSpec(
    name=NAME,
    source=SOURCE,
    stage=stage,
    upper_bound=False,
    code_display="Dutch Measure for Treatment Resistance in Depression score",
    concepts={},
    page_label="Dutch Measure (DM-TRD)",
    report_label="DM-TRD (Peeters 2016)",
    page_result=_page,
    page_upper=page_upper,
    report_value=same_value,
    card_result=lambda value: card_score(as_mapping(value)),
    card_headline=None,
    fhir=_fhir,
    csv_keys=("score",),
    csv_cells=keyed_cells("score"),
    trd_met=None,  # a score without a published TRD threshold
)
