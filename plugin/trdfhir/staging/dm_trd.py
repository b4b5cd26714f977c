"""Dutch Measure for Treatment Resistance in Depression (DM-TRD; Peeters FPML et al. J Affect Disord
2016;205:365-371).

Only the item list was confirmed (abstract, research §1.5): the Maudsley items (duration, severity,
failed antidepressants, augmentation, ECT) plus functional impairment, comorbid anxiety,
personality disorder, psychosocial stressors, extended augmentation, failed psychotherapy and
intensified treatment. The published item points were NOT retrieved: weights come from
`mappings/dm_trd_weights.json` and the score is `provisional` while any weight is unverified.

Rule (docs/rules.md), item keys as in the weights file: the MSM items duration, severity and
failed_treatments (the MSM failure level, 0 when none; MSM's augmentation and ECT items are replaced
by the DM-TRD's extended augmentation and intensified treatment); functional_impairment is null
because the record model holds no functional rating (a functional Marker has no value);
comorbid_anxiety / personality_disorder (incl. borderline) / psychosocial_stressors (Z55-Z65) 0/1
from diagnoses on record; extended_augmentation = number of distinct augmenting agents attached in
the episode; failed_psychotherapy = number of counted psychotherapy failures; intensified_treatment
0/1 = any ECT, rTMS or esketamine course in the episode. Score = sum of weight x item; null if an
item is null or has no weight.
"""

from __future__ import annotations

from ..model import StageResult
from .base import StagingContext, ids
from .maudsley import duration_level, failure_level, severity_level

NAME = "dm_trd"
SOURCE = "Peeters et al. 2016 (DM-TRD); item weights unverified (mappings/dm_trd_weights.json)"


def items(ctx: StagingContext) -> dict[str, int | None]:
    agents = {
        t.trial.agent for t in ctx.trials if t.trial.kind == "augmentation" and t.trial.attached_to
    }
    intensified = any(t.trial.kind in ("ect", "rtms", "esketamine") for t in ctx.trials)
    return {
        "duration": duration_level(ctx),
        "severity": severity_level(ctx)[0],
        "failed_treatments": failure_level(len(ctx.counted_failures("antidepressant"))),
        "functional_impairment": None,
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
    if provisional:
        text += "; weights unverified, score provisional"
    failures = ctx.counted_failures("antidepressant", "psychotherapy")
    return StageResult(
        model=NAME,
        value={"score": score, "provisional": provisional, "items": rated},
        headline=None,
        explanation=text,
        source=SOURCE,
        counted=ids(failures),
    )
