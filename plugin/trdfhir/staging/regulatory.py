"""Regulatory TRD (FDA / EMA): at least two failed adequate antidepressant trials in the episode.

Sources: FDA esketamine indication ("inadequate response to at least two oral antidepressants of
adequate dose and duration in the current episode"; secondary sources); EMA guideline
EMA/CHMP/185423/2010 Rev. 2 (commonly quoted as "same or a different class": that sentence was not
retrieved verbatim); the older EMA wording required two products of *different* pharmacological
classes (quoted by Jaffe 2019), reported as `ema_older_met`. Bipolar disorder on record excludes the
label (EU-PEARL, Sforzini 2022).

Rule (docs/rules.md): `met` = >= 2 counted antidepressant failures and no bipolar diagnosis on
record (active or not; `excluded_by` lists those Conditions). `different_classes` reports whether
the failures span >= 2 classes.
"""

from __future__ import annotations

from ..model import StageResult
from .base import StagingContext, classes, describe, ids

NAME = "regulatory"
SOURCE = (
    "FDA esketamine indication; EMA/CHMP/185423/2010 Rev. 2 (older wording: different classes); "
    "bipolar exclusion per EU-PEARL (Sforzini 2022)"
)
MIN_FAILURES = 2  # the definition itself, not a tunable threshold


def stage(ctx: StagingContext) -> StageResult:
    failures = ctx.counted_failures("antidepressant")
    excluded_by = sorted({d.resource for d in ctx.record.diagnoses if d.category == "bipolar"})
    enough = len(failures) >= MIN_FAILURES
    different = len(classes(failures)) >= MIN_FAILURES
    met = enough and not excluded_by
    n = len(failures)
    trials = f"{n} failed adequate antidepressant trial{'s' if n != 1 else ''} in the episode"
    if failures:
        trials += f" ({describe(failures)})"
    if excluded_by:
        text = f"Not met: bipolar disorder on record ({', '.join(excluded_by)}); {trials}"
    elif met:
        older = "met" if different else "not met (all one class)"
        text = f"Met: {trials}; older EMA wording (different classes) {older}"
    else:
        text = f"Not met: {trials}; at least {MIN_FAILURES} needed"
    return StageResult(
        model=NAME,
        value={
            "met": met,
            "failed_adequate_trials": n,
            "different_classes": different,
            "ema_older_met": met and different,
            "excluded_by": excluded_by,
        },
        headline=met,
        explanation=text,
        source=SOURCE,
        counted=ids(failures),
    )
