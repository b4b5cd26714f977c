"""The concepts of the project's CodeSystem (http://trd-fhir.org/fhir/CodeSystem/trd).

This table is the one source: emit takes codes and displays from it, and
tools/profiles/gen_terminology.py writes the CodeSystem and ValueSets of profiles/ from it. The
staging models' own concepts (code and display) come from their declarations
(`staging/<model>.py`, `SPEC.code_display` and `SPEC.concepts`); the dimension and category rows of
the ten built-in models stay in the tables below, in the CodeSystem's order.
Finding and suggestion codes are the contract's codes unchanged; values of other enumerations
carry a prefix (`esm-TRD1`, `outcome-remission`) because their bare words collide.
"""

from __future__ import annotations

from typing import Any

from ..staging import DEFAULT, Registry, registry, spectrum
from .ids import CODE_SYSTEM

# group code -> (display, definition)
GROUPS: dict[str, tuple[str, str]] = {
    "model": ("Staging model", "A published staging model or definition of TRD"),
    "dimension": ("Model dimension", "A dimension, item or criterion of a staging model"),
    "category": ("Model category", "A category or stage label of a staging model"),
    "trial": (
        "Treatment trial",
        "Trial summary concepts: kind, class, adequacy, outcome, evidence",
    ),
    "finding": ("Finding", "A finding of the assessment (assessment contract findings[].code)"),
    "severity": ("Finding severity", "How urgently a finding needs attention"),
    "suggestion": ("Suggestion", "A consideration for the clinician (suggestions[].code)"),
    "plan": ("Care plan category", "Categories of the CarePlans the plugin writes"),
}

DM_TRD_ITEMS = (
    "duration",
    "severity",
    "failed_treatments",
    "functional_impairment",
    "comorbid_anxiety",
    "personality_disorder",
    "psychosocial_stressors",
    "extended_augmentation",
    "failed_psychotherapy",
    "intensified_treatment",
)
_DIMENSIONS = {
    "upper-bound": "Upper bound: indeterminate trials counted as adequate",
    "failed-adequate-trials": "Failed adequate trials counted by the model",
    "different-classes": "Failed trials of different antidepressant classes",
    "ema-older-met": "Older EMA wording (different classes) met",
    "excluded-by": "Excluded by a diagnosis on record",
    "treatment-weeks": "Weeks of treatment in the failed trials",
    "failure-span-days": "Days from the first to the end of the last failed trial",
    "failed-classes": "Classes of the failed trials",
    "strict-met": "Strict wording (psychotherapy combined with a failed antidepressant) met",
    "missing-criterion": "Criterion not yet fulfilled",
    "comorbidities": "Comorbidities on record",
    "provisional": "Score provisional (item weights unverified)",
    "maudsley-duration": "Maudsley: episode duration (1-3)",
    "maudsley-severity": "Maudsley: symptom severity (1-5)",
    "maudsley-failures": "Maudsley: failed antidepressants (1-5)",
    "maudsley-augmentation": "Maudsley: augmentation used (0-1)",
    "maudsley-ect": "Maudsley: ECT used (0-1)",
    "guidi-fava-A": "Guidi & Fava A: two adequate failed trials, one of psychotherapy",
    "guidi-fava-B": "Guidi & Fava B: treatments fitted to the patient's complexity",
    "guidi-fava-C": "Guidi & Fava C: clinimetric assessment documented",
    "guidi-fava-D": "Guidi & Fava D: no loss of effect or rechallenge failure",
    "guidi-fava-E": "Guidi & Fava E: shared decision documented",
    **{
        f"dm-trd-{k.replace('_', '-')}": f"DM-TRD item: {k.replace('_', ' ')}" for k in DM_TRD_ITEMS
    },
}
_CATEGORIES = {
    "criterion-met": "Met",
    "criterion-not-met": "Not met",
    "criterion-not-assessable": "Not assessable from the record",
    "esm-none": "ESM: no failed adequate trial",
    "esm-non-responder": "ESM: non-responder",
    **{f"esm-TRD{n}": f"ESM: TRD{n}" for n in range(1, 6)},
    "esm-CRD": "ESM: chronic resistant depression",
    "maudsley-mild": "Maudsley: mild (3-6)",
    "maudsley-moderate": "Maudsley: moderate (7-10)",
    "maudsley-severe": "Maudsley: severe (11-15)",
    "maudsley-not-applicable": "Maudsley: not applicable (no failed adequate antidepressant)",
    "markowitz-adequate-antidepressant-trials": "Two failed adequate antidepressant trials",
    "markowitz-adequate-psychotherapy-trial": "A failed adequate evidence-based psychotherapy",
    "markowitz-combined-trial": "Psychotherapy combined with a failed antidepressant",
    **{f"spectrum-{k}": f"Spectrum: {k.replace('-', ' ')}" for k in spectrum.CLASSES},
}
_TRIAL = {
    "trial-summary": "Treatment trial summary",
    "trial-kind": "Kind of treatment trial",
    "trial-agent": "Drug or treatment of the trial",
    "drug-class": "Antidepressant class",
    "weeks-at-adequate-dose": "Weeks at an adequate dose",
    "max-daily-dose": "Maximum daily dose",
    "adequate-daily-dose": "Minimum adequate daily dose",
    "sessions": "Sessions attended",
    "dose-optimised": "Dose raised above the minimum adequate dose",
    "current-episode": "Trial in the current episode",
    "adequacy": "Adequacy of the trial",
    "outcome": "Outcome of the trial",
    "evidence": "Evidence for the outcome",
    **{
        f"kind-{k}": f"Trial kind: {k}"
        for k in (
            "antidepressant",
            "augmentation",
            "psychotherapy",
            "ect",
            "rtms",
            "esketamine",
            "ketamine",
        )
    },
    **{f"class-{k}": f"Class: {k}" for k in ("SSRI", "SNRI", "TCA", "MAOI", "other")},
    **{f"adequacy-{k}": k.capitalize() for k in ("adequate", "inadequate", "indeterminate")},
    **{
        f"outcome-{k}": k.capitalize().replace("-", " ")
        for k in (
            "remission",
            "response",
            "partial",
            "non-response",
            "worsening",
            "intolerance",
            "ongoing",
            "unknown",
        )
    },
    **{f"evidence-{k}": f"Evidence: {k}" for k in ("measured", "documented", "inferred", "none")},
}
_FINDINGS = {
    "safety-item9": "Positive PHQ-9 item 9 (thoughts of self-harm)",
    "inadequate-dose": "Trial below the minimum adequate dose",
    "inadequate-duration": "Trial too short at an adequate dose",
    "unknown-dose": "Dose or duration of a trial not recorded",
    "non-adherence": "Non-adherence documented",
    "intolerance": "Drug stopped for adverse effects",
    "possible-bipolar": "Possible bipolar disorder",
    "possible-adhd": "Possible ADHD",
    "possible-ptsd": "Possible PTSD",
    "hypothyroidism": "Hypothyroidism",
    "tsh-not-checked": "TSH not checked recently",
    "sleep-apnea": "Sleep apnoea",
    "vitamin-d-deficiency": "Vitamin D deficiency",
    "vitamin-d-not-checked": "Vitamin D not checked recently",
    "comorbid-anxiety": "Comorbid anxiety disorder",
    "substance-use": "Substance use disorder",
    "borderline-personality": "Borderline personality disorder",
    "metabolic-inducer": "Co-medication that induces antidepressant metabolism",
    "loss-of-effect": "Loss of effect during continued treatment",
    "rechallenge-failure": "Failure on rechallenge",
    "behavioural-toxicity": "Behavioural toxicity of antidepressants",
    "double-depression": "Double depression (dysthymia with a major depressive episode)",
    "residual-symptoms": "Residual symptoms after response",
    "no-psychotherapy-trial": "No adequate psychotherapy trial on record",
    "no-outcome-measure": "No outcome measure for a trial",
    "chronic-episode": "Chronic episode (over two years)",
    "unmapped-code": "Unmapped code in the record",
}
_SEVERITIES = {f"severity-{k}": k.capitalize() for k in ("urgent", "warning", "info")}
_SUGGESTIONS = {
    "safety-plan": "Safety assessment and plan",
    "optimise-trial": "Optimise the current trial",
    "assess-adherence": "Assess adherence",
    "psychotherapy-trial": "Evidence-based psychotherapy trial",
    "screen-misdiagnosis": "Screen for bipolarity, ADHD and PTSD",
    "medical-workup": "Medical work-up",
    "bipolar-depression-review": "Review as bipolar depression with a specialist",
    "augment-or-switch": "Discuss augmentation or a switch",
    "neuromodulation-referral": "Referral for ECT, rTMS or esketamine",
    "sequential-psychotherapy": "Sequential psychotherapy after response",
    "loss-of-effect-psychotherapy": "Psychotherapy for loss of effect",
    "measurement-based-care": "Measurement-based care",
    "functional-outcomes": "Track functioning",
    "clinimetric-assessment": "Clinimetric assessment",
    "shared-decision": "Shared decision",
    # The steps of the sequential plan (Guidi & Fava 2024 Table 4), activities of the same plan.
    "assess-residual-symptoms": "Sequential plan 1: assessment for residual symptoms",
    "cbt-residual-symptoms": "Sequential plan 2: CBT for residual symptoms",
    "slow-taper": "Sequential plan 3: slowest possible antidepressant taper",
    "well-being-lifestyle": "Sequential plan 4: well-being therapy and lifestyle modification",
    "discontinue-antidepressant": "Sequential plan 5: antidepressant discontinuation",
    "assess-after-discontinuation": "Sequential plan 6: assessment 1 month after discontinuation",
}


# code -> (display, group): the staging models (each declared in staging/<model>.py: its code and
# display, and any concept of its own not in the tables above), then the tables above.
def _concepts(models: Registry) -> dict[str, tuple[str, str]]:
    table: dict[str, tuple[str, str]] = {
        **{s.code: (s.code_display, "model") for s in models},
        **{c: (d, "dimension") for c, d in _DIMENSIONS.items()},
        **{c: (d, "category") for c, d in _CATEGORIES.items()},
        **{c: (d, "trial") for c, d in _TRIAL.items()},
        **{c: (d, "finding") for c, d in _FINDINGS.items()},
        **{c: (d, "severity") for c, d in _SEVERITIES.items()},
        **{c: (d, "suggestion") for c, d in _SUGGESTIONS.items()},
        "suggestion-plan": ("TRD decision-support suggestions", "plan"),
    }
    for spec in models:
        for code, (display, group) in spec.concepts.items():
            if group not in GROUPS:
                raise ValueError(f"staging model '{spec.name}': concept {code} has unknown group")
            table.setdefault(code, (display, group))
    return table


CONCEPTS: dict[str, tuple[str, str]] = _concepts(DEFAULT)
_BY_REGISTRY: dict[int, tuple[Registry, dict[str, tuple[str, str]]]] = {}


def concepts() -> dict[str, tuple[str, str]]:
    """The concepts for the staging registry in force (`CONCEPTS` for the default one)."""
    models = registry()
    if models is DEFAULT:
        return CONCEPTS
    cached = _BY_REGISTRY.get(id(models))
    if cached is None or cached[0] is not models:
        cached = (models, _concepts(models))
        _BY_REGISTRY[id(models)] = cached
    return cached[1]


def coding(code: str) -> dict[str, str]:
    """A Coding of the project's CodeSystem. A code missing from the table (a finding or
    suggestion code added to mappings/ but not here) gets no display; validation reports it."""
    known = concepts().get(code)
    if known is None:
        return {"system": CODE_SYSTEM, "code": code}
    return {"system": CODE_SYSTEM, "code": code, "display": known[0]}


def concept(code: str, text: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"coding": [coding(code)]}
    if text:
        out["text"] = text
    return out


def model_code(name: str) -> str:
    """Contract model name -> code: `thase_rush` -> `thase-rush`."""
    return name.replace("_", "-")
