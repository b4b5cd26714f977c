"""The numbers of the population report, from the assessment summaries (pure functions).

Every number is described in docs/population.md. A model's TRD label is its test in
mappings/population.json (docs/rules.md's definitions); a patient whose stage value has no
value for the tested field is "not rated" by that model and left out of its denominator.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import combinations
from statistics import median
from typing import Any

from ..staging import spectrum
from .definitions import Definitions, ModelDefinition
from .stats import kappa, wilson

Summary = dict[str, Any]

FAILURES = ("non-response", "worsening")  # plus partial when partial_counts_as_failure
ROMAN = ("0", "I", "II", "III", "IV", "V")
# Display orders: the contract's enumerations (docs/assessment-contract.md).
ESM_ORDER = ("none", "non-responder", "TRD1", "TRD2", "TRD3", "TRD4", "TRD5", "CRD")
MAUDSLEY_ORDER = ("not-applicable", "mild", "moderate", "severe")
SPECTRUM_ORDER = spectrum.CLASSES
GF_ORDER = ("met", "not-met", "not-assessable")
NOT_RATED = "not rated"
NO_SCORE = "no score"  # not applicable, or a dimension could not be rated


def stage_value(summary: Summary, model: str) -> dict[str, Any]:
    value = summary.get("stages", {}).get(model)
    return value if isinstance(value, dict) else {}


def field_value(summary: Summary, model: str, field: str | None) -> object:
    return stage_value(summary, model).get(field) if field else None


def trd_label(summary: Summary, m: ModelDefinition) -> bool | None:
    return m.test.holds(field_value(summary, m.model, m.test.field))


def ordinal_level(summary: Summary, m: ModelDefinition) -> int | None:
    """The model's stage on the common 0-3 scale (mappings/population.json), None if unrated.
    A stage-0 Conway patient with a counted failure is level 1 (failure short of TRD)."""
    if m.ordinal_field is None:
        return None
    value = field_value(summary, m.model, m.ordinal_field)
    level = next((lv for v, lv in m.ordinal_levels if v == value and value is not None), None)
    if level == 0 and m.model == "conway":
        failed = stage_value(summary, "conway").get("failed_trials")
        if isinstance(failed, int) and failed > 0:
            return 1
    return level


# -- 1. prevalence and distributions ---------------------------------------------------------


def prevalence(rows: Sequence[Summary], m: ModelDefinition) -> dict[str, Any]:
    labels = [trd_label(s, m) for s in rows]
    rated = [x for x in labels if x is not None]
    return {
        "model": m.model,
        "label": m.label,
        "definition": m.definition,
        "source": m.source,
        "psychotherapy": m.psychotherapy,
        "not_rated": len(labels) - len(rated),
        **wilson(sum(rated), len(rated)).json(),
    }


def _counts(values: Iterable[object], order: Sequence[str]) -> dict[str, int]:
    found = Counter(NOT_RATED if v is None else str(v) for v in values)
    ordered = {k: found.pop(k) for k in order if k in found}
    extra = {k: found[k] for k in sorted(found, key=lambda k: (k == NOT_RATED, k))}
    return {**{k: ordered.get(k, 0) for k in order}, **extra}


def _numbers(values: Sequence[object]) -> dict[str, int]:
    found = Counter(v for v in values if isinstance(v, int | float) and not isinstance(v, bool))
    missing = sum(1 for v in values if v is None)
    out = {_label(k): found[k] for k in sorted(found)}
    if missing:
        out[NO_SCORE] = missing
    return out


def _label(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def distributions(rows: Sequence[Summary]) -> dict[str, dict[str, int]]:
    def values(model: str, field: str) -> list[object]:
        return [stage_value(s, model).get(field) for s in rows]

    thase = [
        ROMAN[v] if isinstance(v, int) and 0 <= v < len(ROMAN) else v
        for v in values("thase_rush", "stage")
    ]
    markowitz = [
        None
        if not isinstance(v.get("met"), bool)
        else "strict met"
        if v.get("strict_met")
        else "met"
        if v.get("met")
        else "not met"
        for v in (stage_value(s, "markowitz") for s in rows)
    ]
    return {
        "thase_rush_stage": _counts(thase, ROMAN),
        "esm_category": _counts(values("esm", "category"), ESM_ORDER),
        "maudsley_category": _counts(values("maudsley", "category"), MAUDSLEY_ORDER),
        "maudsley_score": _numbers(values("maudsley", "score")),
        "mgh_score": _numbers(values("mgh", "score")),
        "dm_trd_score": _numbers(values("dm_trd", "score")),
        "conway_stage": _counts(values("conway", "stage"), ("0", "1", "2")),
        "markowitz": _counts(markowitz, ("not met", "met", "strict met")),
        "guidi_fava_A": _counts(values("guidi_fava", "A"), GF_ORDER),
        "spectrum": _counts([s.get("stages", {}).get("spectrum") for s in rows], SPECTRUM_ORDER),
    }


# -- 2. agreement ------------------------------------------------------------------------------


def agreement(rows: Sequence[Summary], models: Sequence[ModelDefinition]) -> dict[str, Any]:
    binary, ordinal = [], []
    for a, b in combinations(models, 2):
        pairs = [(trd_label(s, a), trd_label(s, b)) for s in rows]
        both = [(int(x), int(y)) for x, y in pairs if x is not None and y is not None]
        binary.append({"a": a.model, "b": b.model, **kappa(both, 2, weighted=False).json()})
        if a.ordinal_field and b.ordinal_field:
            levels = [(ordinal_level(s, a), ordinal_level(s, b)) for s in rows]
            rated = [(x, y) for x, y in levels if x is not None and y is not None]
            ordinal.append({"a": a.model, "b": b.model, **kappa(rated, 4, weighted=True).json()})
    return {"binary": binary, "ordinal": ordinal}


def not_trd_reason(summary: Summary, m: ModelDefinition) -> str:
    """Why this model does not call the patient TRD, in a few words from its stage value."""
    v = stage_value(summary, m.model)
    if m.model == "regulatory":
        if v.get("excluded_by"):
            return "bipolar disorder on record"
        n = v.get("failed_adequate_trials")
        return f"{n} counted antidepressant failure{'s' if n != 1 else ''}"
    if m.model == "thase_rush":
        stage = v.get("stage")
        return f"stage {ROMAN[stage]}" if isinstance(stage, int) and stage < len(ROMAN) else "?"
    if m.model == "conway":
        failed = v.get("failed_trials")
        if isinstance(failed, int) and failed >= 2:
            return "stage 0: failures all of one class"
        return "stage 0: fewer than 2 counted failures"
    if m.model == "markowitz":
        missing = v.get("missing") or []
        return "missing " + " and ".join(str(x) for x in missing) if missing else "not met"
    return f"{m.test.field} {v.get(m.test.field or '')}"


def discordance(rows: Sequence[Summary], models: Sequence[ModelDefinition]) -> list[dict[str, Any]]:
    """For each ordered pair (A, B): the patients A calls TRD and B does not (both rated),
    grouped by why B does not."""
    out = []
    for a in models:
        for b in models:
            if a is b:
                continue
            reasons: Counter[str] = Counter(
                not_trd_reason(s, b)
                for s in rows
                if trd_label(s, a) is True and trd_label(s, b) is False
            )
            out.append(
                {
                    "trd": a.model,
                    "not_trd": b.model,
                    "count": sum(reasons.values()),
                    "reasons": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
                }
            )
    return out


# -- 3. psychotherapy and pseudo-resistance -------------------------------------------------


def psychotherapy_counted(summary: Summary, model: str) -> bool:
    """The model counted a psychotherapy trial (one of its explanation's trials)."""
    counted = set(summary.get("explanations", {}).get(model, {}).get("trials") or ())
    return any(
        t.get("kind") == "psychotherapy" and t.get("id") in counted for t in _trials(summary)
    )


def _trials(summary: Summary) -> list[dict[str, Any]]:
    return [t for t in summary.get("trials", []) if isinstance(t, dict)]


def psychotherapy(rows: Sequence[Summary], defs: Definitions) -> dict[str, Any]:
    by_model = []
    for m in defs.models:
        labels = [(trd_label(s, m), psychotherapy_counted(s, m.model)) for s in rows]
        by_model.append(
            {
                "model": m.model,
                "label": m.label,
                "psychotherapy": m.psychotherapy,
                "trd": sum(1 for trd, _ in labels if trd),
                "trd_with_psychotherapy_counted": sum(1 for trd, p in labels if trd and p),
                "stratum_counted": sum(1 for _, p in labels if p),
            }
        )
    regulatory = [s for s in rows if stage_value(s, "regulatory").get("met") is True]
    missing = [set(stage_value(s, "markowitz").get("missing") or ()) for s in regulatory]
    return {
        "models": by_model,
        "regulatory_met": len(regulatory),
        "regulatory_met_markowitz_met": sum(
            1 for s in regulatory if stage_value(s, "markowitz").get("met") is True
        ),
        "regulatory_met_no_failed_psychotherapy": sum(
            1 for m in missing if "adequate-psychotherapy-trial" in m
        ),
        "regulatory_met_psychotherapy_not_combined": sum(
            1 for m in missing if "combined-trial" in m
        ),
        "patients_with_psychotherapy_trial": sum(
            1
            for s in rows
            if any(
                t.get("kind") == "psychotherapy" and t.get("episode") == "current"
                for t in _trials(s)
            )
        ),
    }


def _with_reason(trials: Sequence[dict[str, Any]], reason: str) -> int:
    return sum(1 for t in trials if reason in (t.get("reasons") or ()))


def failed_trials(
    rows: Sequence[Summary], defs: Definitions, failures: Sequence[str]
) -> dict[str, Any]:
    """Current-episode antidepressant trials whose outcome is a failure, by adequacy."""
    failed = [
        t
        for s in rows
        for t in _trials(s)
        if t.get("kind") == "antidepressant"
        and t.get("episode") == "current"
        and t.get("outcome") in failures
    ]
    adequacy = Counter(str(t.get("adequacy")) for t in failed)
    inadequate = [t for t in failed if t.get("adequacy") == "inadequate"]
    indeterminate = [t for t in failed if t.get("adequacy") == "indeterminate"]
    reasons = [
        {
            "reason": r.reason,
            "label": r.label,
            "group": r.group,
            **wilson(_with_reason(inadequate, r.reason), len(failed)).json(),
        }
        for r in defs.failed_trial_reasons
    ]
    missing = Counter(x for t in indeterminate for x in (t.get("reasons") or ()))
    return {
        "failures": list(failures),
        "failed": len(failed),
        "by_adequacy": {k: adequacy.get(k, 0) for k in ("adequate", "inadequate", "indeterminate")},
        "inadequate": wilson(len(inadequate), len(failed)).json(),
        "indeterminate": wilson(len(indeterminate), len(failed)).json(),
        "inadequate_by_reason": reasons,
        "indeterminate_by_missing": dict(sorted(missing.items())),
    }


def pseudo_resistance(rows: Sequence[Summary], defs: Definitions) -> list[dict[str, Any]]:
    codes = [{f.get("code") for f in s.get("findings", []) if isinstance(f, dict)} for s in rows]
    return [
        {
            "code": f.code,
            "group": f.group,
            "source": f.source,
            **wilson(sum(1 for c in codes if f.code in c), len(rows)).json(),
        }
        for f in defs.pseudo_resistance
    ]


# -- 4. the upper bound -------------------------------------------------------------------------


def upper_bound(rows: Sequence[Summary], defs: Definitions) -> dict[str, Any]:
    models = []
    for m in defs.models:
        if m.upper_bound is None:
            continue
        now_upper = [
            (trd_label(s, m), m.upper_bound.holds(s.get("upper_bound", {}).get(m.model)))
            for s in rows
        ]
        rated = [(now, up) for now, up in now_upper if up is not None]
        models.append(
            {
                "model": m.model,
                "label": m.label,
                "n": len(rated),
                "now": sum(1 for now, _ in rated if now),
                "upper": sum(1 for _, up in rated if up),
                "could_be": sum(1 for now, up in rated if up and not now),
            }
        )
    mgh = [(stage_value(s, "mgh").get("score"), s.get("upper_bound", {}).get("mgh")) for s in rows]
    scored = [(a, b) for a, b in mgh if isinstance(a, int | float) and isinstance(b, int | float)]
    return {
        "models": models,
        "mgh": {
            "n": len(scored),
            "median_now": median(a for a, _ in scored) if scored else None,
            "median_upper": median(b for _, b in scored) if scored else None,
            "higher": sum(1 for a, b in scored if b > a),
        },
    }


# -- 5. coverage --------------------------------------------------------------------------------


def coverage(rows: Sequence[Summary]) -> dict[str, Any]:
    warnings = Counter(
        str(w.get("code")) for s in rows for w in s.get("warnings", []) or [] if isinstance(w, dict)
    )
    trials = [t for s in rows for t in _trials(s) if t.get("episode") == "current"]
    evidence = Counter(str(t.get("evidence")) for t in trials)
    return {
        "patients_with_warnings": sum(1 for s in rows if s.get("warnings")),
        "warnings_by_code": dict(sorted(warnings.items(), key=lambda kv: (-kv[1], kv[0]))),
        "episode_unknown": sum(1 for s in rows if (s.get("episode") or {}).get("start") is None),
        "current_trials": len(trials),
        "trial_evidence": {
            k: evidence.get(k, 0) for k in ("measured", "documented", "inferred", "none")
        },
    }


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _tally(value: object) -> dict[str, int] | None:
    if not isinstance(value, dict) or not all(_int(v) is not None for v in value.values()):
        return None
    return {str(k): int(v) for k, v in value.items()}


def reading_coverage(reading: object) -> dict[str, Any] | None:
    """reading.json of version 1 (bulk's reading report, docs/real-world.md) with the shares of
    medication records with a dose and a duration and of questionnaires read; None for another
    version or shape (the page then lists the file's values as they are)."""
    if not isinstance(reading, dict) or reading.get("reading") != "1":
        return None
    meds, forms = reading.get("medications"), reading.get("questionnaires")
    if not isinstance(meds, dict) or not isinstance(forms, dict):
        return None
    found = {k: _int(meds.get(k)) for k in ("records", "with_dose", "with_duration")}
    found |= {k: _int(forms.get(k)) for k in ("read", "not_read")}
    tallies = {k: _tally(meds.get(k)) for k in ("unknown_dose", "unknown_duration", "assumed_end")}
    codes = reading.get("unmapped_codes")
    if None in found.values() or None in tallies.values() or not isinstance(codes, list):
        return None
    if not all(isinstance(c, dict) for c in codes):
        return None
    n = {k: v for k, v in found.items() if v is not None}
    return {
        "patients": _int(reading.get("patients")),
        "medication_records": n["records"],
        "with_dose": wilson(n["with_dose"], n["records"]).json(),
        "with_duration": wilson(n["with_duration"], n["records"]).json(),
        **tallies,
        "questionnaires": wilson(n["read"], n["read"] + n["not_read"]).json(),
        "unmapped_codes": [
            {"code": str(c.get("code")), "display": c.get("display"), "count": _int(c.get("count"))}
            for c in codes
        ],
        "unmapped_codes_left_off": _int(reading.get("unmapped_codes_left_off")),
        "warnings": _tally(reading.get("warnings")) or {},
    }


def compute(
    rows: Sequence[Summary], defs: Definitions, *, partial_is_failure: bool = False
) -> dict[str, Any]:
    failures = (*FAILURES, "partial") if partial_is_failure else FAILURES
    return {
        "patients": len(rows),
        "prevalence": [prevalence(rows, m) for m in defs.models],
        "distributions": distributions(rows),
        "agreement": agreement(rows, defs.models),
        "discordance": discordance(rows, defs.models),
        "psychotherapy": psychotherapy(rows, defs),
        "failed_trials": failed_trials(rows, defs, failures),
        "pseudo_resistance": pseudo_resistance(rows, defs),
        "upper_bound": upper_bound(rows, defs),
        "coverage": coverage(rows),
        "ordinal_scale": {
            "notes": defs.ordinal_notes,
            "source": defs.ordinal_source,
            "confidence": defs.ordinal_confidence,
        },
    }
