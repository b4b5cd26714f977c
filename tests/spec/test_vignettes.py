"""Clinical vignettes (examples/*.json) against expectations worked out by hand.

Every number below was derived by hand from docs/rules.md, ../shared/clinical-spec.md and the data
in mappings/ (minimum doses, PHQ-9 bands, codes). Nothing was copied from the engine's output: this
table is the independent check of it. Each number carries its arithmetic in a comment.

Conventions used in the comments (docs/rules.md):
- "a..b (N d)": a trial from its first day a to its last day b inclusive, N days on the drug.
- Windows: baseline = last score in [start - 30 d, start + 7 d]; end = last score in [end - 14 d,
  end + 14 d]; an ongoing trial's end score is the latest score up to the as-of date.
- change = (baseline - end) / baseline: >= 0.50 response, >= 0.25 partial, <= -0.25 worsening, else
  non-response; end <= 4 is remission (PHQ-9 remission_max 4).
- Maudsley PHQ-9 severity bands (mappings/scales.json): 0-4 -> 1, 5-9 -> 2, 10-14 -> 3, 15-19 -> 3,
  20-27 -> 4; psychotic MDD code -> 5; no score -> the MDD code's severity.
- Minimum adequate daily doses (mappings/antidepressants.json): sertraline 50, escitalopram 10,
  citalopram 20, fluoxetine 20, paroxetine 20, venlafaxine 75, desvenlafaxine 50, duloxetine 60,
  nortriptyline 50, amitriptyline 150, phenelzine 45, mirtazapine 15, vortioxetine 10.
- "Adherence unknown": no dispensing record (PDC) and no adherence Observation covers the trial; a
  counted failure with unknown adherence triggers `assess-adherence` (mappings/suggestions.json).

Readings chosen where the rules leave room are listed in examples/README.md ("Readings") and marked
"READING" in the comments below.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest

import trdfhir

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

FINDING_CODES = {
    "behavioural-toxicity",
    "double-depression",
    "safety-item9",
    "inadequate-dose",
    "inadequate-duration",
    "unknown-dose",
    "non-adherence",
    "intolerance",
    "possible-bipolar",
    "possible-adhd",
    "possible-ptsd",
    "hypothyroidism",
    "tsh-not-checked",
    "sleep-apnea",
    "vitamin-d-deficiency",
    "vitamin-d-not-checked",
    "comorbid-anxiety",
    "substance-use",
    "borderline-personality",
    "metabolic-inducer",
    "loss-of-effect",
    "rechallenge-failure",
    "residual-symptoms",
    "no-psychotherapy-trial",
    "no-outcome-measure",
    "chronic-episode",
    "unmapped-code",
}
SUGGESTION_CODES = {
    "bipolar-depression-review",
    "safety-plan",
    "optimise-trial",
    "assess-adherence",
    "psychotherapy-trial",
    "screen-misdiagnosis",
    "medical-workup",
    "augment-or-switch",
    "neuromodulation-referral",
    "sequential-psychotherapy",
    "loss-of-effect-psychotherapy",
    "measurement-based-care",
    "functional-outcomes",
    "clinimetric-assessment",
    "shared-decision",
}


def T(
    kind: str,
    agent: str | None,
    start: str,
    end: str,
    adequacy: str,
    outcome: str | None,
    evidence: str | None,
    **extra: Any,
) -> dict[str, Any]:
    """One expected trial. `outcome`/`evidence` None: not asserted. Extra keys (all optional):
    cls, days_at_dose, reasons (exact list, any order), reasons_include, sessions, ongoing,
    episode ("current"/"earlier"), dose_optimised, augmented (number of augmenting trials),
    max_mg."""
    return {
        "kind": kind,
        "agent": agent,
        "start": start,
        "end": end,
        "adequacy": adequacy,
        "outcome": outcome,
        "evidence": evidence,
        **extra,
    }


def stages(
    *,
    reg: bool,
    reg_n: int,
    reg_diff: bool,
    tr: int,
    esm: str,
    mgh: float,
    msm: int | None,
    msm_cat: str,
    msm_dims: dict[str, int] | None,
    conway: int,
    mk: bool,
    mk_strict: bool,
    mk_missing: set[str],
    gf: str,
    spectrum: str,
    reg_excluded: bool = False,
    dm_score_null: bool = True,
) -> dict[str, Any]:
    """gf: the five Guidi & Fava letters A-E as m (met), n (not-met), a (not-assessable)."""
    letters = {"m": "met", "n": "not-met", "a": "not-assessable"}
    return {
        "regulatory": {
            "met": reg,
            "failed_adequate_trials": reg_n,
            "different_classes": reg_diff,
            "excluded": reg_excluded,
        },
        "thase_rush": tr,
        "esm": esm,
        "mgh": mgh,
        "maudsley": {"score": msm, "category": msm_cat, "dimensions": msm_dims},
        "conway": conway,
        "markowitz": {"met": mk, "strict_met": mk_strict, "missing": mk_missing},
        "guidi_fava": {k: letters[c] for k, c in zip("ABCDE", gf, strict=True)},
        "spectrum": spectrum,
        "dm_score_null": dm_score_null,
    }


def dims(
    duration: int, severity: int, failures: int, augmentation: int, ect: int
) -> dict[str, int]:
    return {
        "duration": duration,
        "severity": severity,
        "failures": failures,
        "augmentation": augmentation,
        "ect": ect,
    }


def ub(reg: bool, tr: int, mgh: float, msm: int | None, conway: int) -> dict[str, Any]:
    return {"regulatory": reg, "thase_rush": tr, "mgh": mgh, "maudsley": msm, "conway": conway}


# Suggestions that follow from the same three facts in almost every vignette:
#   functional-outcomes: no WSAS/Q-LES-Q/WPAI in the last 183 days;
#   clinimetric-assessment: Guidi & Fava C not met (no clinimetric measure in the episode).
BASE = {"functional-outcomes", "clinimetric-assessment"}
# A counted failure (augment-or-switch), adherence unknown (assess-adherence).
FAILED = {"augment-or-switch", "assess-adherence"}
# Regulatory met or Maudsley moderate/severe (neuromodulation-referral); any TRD model met.
TRD = {"neuromodulation-referral", "shared-decision"}
# An MDQ alone is not the whole screen: the spec asks for bipolarity, ADHD and PTSD screens in
# 12 months, so a record without ADHD and PTSD screens gets screen-misdiagnosis.
SCREEN = {"screen-misdiagnosis"}
# No TSH / 25-OH vitamin D in 12 months.
NO_LABS_F = {"tsh-not-checked", "vitamin-d-not-checked"}

# The expectation table is laid out by hand (one trial per two or three lines), so the formatter is
# kept out of it.
# fmt: off
EXPECTED: dict[str, dict[str, Any]] = {
    # ---------------------------------------------------------------------------------------------
    "01-two-failed-ssris.json": {
        "as_of": "2026-09-01",
        "episode": ("2026-01-01", 8),  # F33.1 onset 2026-01-01 -> 2026-09-01 = 8 whole months
        "trials": [
            # 2026-01-05..2026-03-01 (56 d) at 100 mg >= 50 -> adequate; PHQ-9 18 (01-02) -> 16
            # (02-26): change 2/18 = 0.11 < 0.25 -> non-response, measured.
            T("antidepressant", "sertraline", "2026-01-05", "2026-03-01", "adequate",
              "non-response", "measured", cls="SSRI", days_at_dose=56, dose_optimised=False,
              reasons=[]),
            # 10 mg 2026-03-02..03-29 then 20 mg open (active) -> one trial to as-of 2026-09-01:
            # 184 d at >= 10 mg. Ongoing: 16 (02-26) -> latest 15 (08-25) = 0.06 -> non-response,
            # counts because adequate. Raised 10 -> 20 > 10 -> dose optimised.
            T("antidepressant", "escitalopram", "2026-03-02", "2026-09-01", "adequate",
              "non-response", "measured", cls="SSRI", days_at_dose=184, ongoing=True,
              dose_optimised=True, max_mg=20),
        ],
        "stages": stages(
            reg=True, reg_n=2, reg_diff=False,  # 2 counted failures, both SSRI
            tr=1,  # failures in one class only -> I
            esm="non-responder",  # >= 2 failures all of one class
            mgh=2.5,  # 1 (sertraline) + 1 (escitalopram) + 0.5 (escitalopram dose-optimised)
            # MSM: duration 1 (8 mo <= 12) + severity 3 (latest PHQ-9 15 -> band 15-19 -> 3)
            #      + failures 1 (2 failed) + aug 0 + ECT 0 = 5 mild  (= research case A)
            msm=5, msm_cat="mild", msm_dims=dims(1, 3, 1, 0, 0),
            conway=0,  # 2 failures but one class
            mk=False, mk_strict=False, mk_missing={"adequate-psychotherapy-trial"},
            gf="nanmn",  # A no psychotherapy; B always n/a; C none; D failures, no LoE; E none
            spectrum="non-response",  # latest trial escitalopram 16 -> 15: some improvement
        ),
        "upper_bound": ub(True, 1, 2.5, 5, 0),  # no indeterminate trial: same as confirmed
        # Labs (TSH 2.1, vit D 31) and a negative MDQ on 2026-02-10, within 12 months.
        "findings": {"no-psychotherapy-trial"},
        "suggestions": SCREEN | BASE | FAILED | TRD | {"psychotherapy-trial"},  # regulatory met
    },
    # ---------------------------------------------------------------------------------------------
    "02-ssri-snri-tca-lithium-maoi-ect.json": {
        "as_of": "2026-10-01",
        "episode": ("2024-04-01", 30),  # 2024-04-01 -> 2026-10-01 = 30 months
        "trials": [
            # Via a referenced Medication resource. 2025-06-02..09-21 (112 d) at 150 mg;
            # 23 (05-28) -> 22 (09-18): 0.04 -> non-response.
            T("antidepressant", "sertraline", "2025-06-02", "2025-09-21", "adequate",
              "non-response", "measured", cls="SSRI", days_at_dose=112, max_mg=150),
            # 2025-09-22..2026-01-11 (112 d) at 225 mg; 22 (09-18) -> 22 (01-08): 0 -> non-response.
            T("antidepressant", "venlafaxine", "2025-09-22", "2026-01-11", "adequate",
              "non-response", "measured", cls="SNRI", days_at_dose=112),
            # 2026-01-12..04-05 (84 d) at 100 mg; 22 (01-08) -> 21 (04-02): 0.045 -> non-response.
            # Lithium overlaps it 42 d >= 14 -> augmented.
            T("antidepressant", "nortriptyline", "2026-01-12", "2026-04-05", "adequate",
              "non-response", "measured", cls="TCA", days_at_dose=84, augmented=1),
            # Lithium carbonate (RxNorm 42351 -> lithium) 300 mg x 2/d = 600 mg, 2026-02-23..04-05
            # (42 d), on an adequate nortriptyline trial -> adequate; 21 (02-20) -> 21 (04-02).
            T("augmentation", "lithium", "2026-02-23", "2026-04-05", "adequate",
              "non-response", "measured", max_mg=600),
            # 30 mg x 2/d = 60 mg >= 45, 2026-04-20..07-12 (84 d); 21 (04-02) -> 21 (07-09).
            T("antidepressant", "phenelzine", "2026-04-20", "2026-07-12", "adequate",
              "non-response", "measured", cls="MAOI", days_at_dose=84, max_mg=60),
            # 12 sessions of CPT 90870 (laterality unspecified) 07-20..08-14, >= 7 -> adequate;
            # 21 (07-09) -> 20 (08-20): 0.048 -> non-response.
            T("ect", None, "2026-07-20", "2026-08-14", "adequate",
              "non-response", "measured", sessions=12),
        ],
        "stages": stages(
            reg=True, reg_n=4, reg_diff=True,
            # TCA + (SSRI, SNRI) -> III; + MAOI with III holding without it -> IV;
            # + failed adequate ECT of unspecified laterality -> V.
            tr=5,
            # TRD (4 failures, 4 classes); the nortriptyline failure was augmented; span from the
            # first counted failure's start 2025-06-02 to the last one's end 2026-07-12 = 406 d
            # >= 365 -> CRD.
            esm="CRD",
            mgh=7.5,  # 4 failures x 1 + 0.5 (nortriptyline augmented) + 3 (failed ECT course)
            # MSM 3 (30 mo > 24) + 4 (latest PHQ-9 20 -> band 20-27) + 2 (4 failed -> 3-4)
            #     + 1 (lithium) + 1 (ECT) = 11 severe  (= research case B)
            msm=11, msm_cat="severe", msm_dims=dims(3, 4, 2, 1, 1),
            conway=2,  # 4 failures in >= 2 classes
            mk=False, mk_strict=False, mk_missing={"adequate-psychotherapy-trial"},
            gf="nanmn",
            spectrum="non-response",  # latest trial ECT 21 -> 20
            dm_score_null=False,  # a WSAS is on record: not asserted
        ),
        "upper_bound": ub(True, 5, 7.5, 11, 2),
        "findings": {"chronic-episode", "no-psychotherapy-trial"},  # 30 > 24 months
        # WSAS 2026-09-24 (within 183 d): no functional-outcomes. No current trial (phenelzine
        # ended 2026-07-12, > 30 d before the as-of date): no optimise-trial.
        "suggestions": SCREEN | {"clinimetric-assessment"} | FAILED | TRD | {"psychotherapy-trial"},
    },
    # ---------------------------------------------------------------------------------------------
    "03-subtherapeutic-doses-only.json": {
        "as_of": "2026-05-01",
        "episode": ("2025-12-01", 5),
        "trials": [
            # 25 mg < 50 for 2026-01-05..03-15 (70 d): dose-below-minimum only (70 >= 42, so not
            # too-short). 16 (01-03) -> 21 (03-12): rise 5/16 = 0.31 >= 0.25 -> worsening.
            T("antidepressant", "sertraline", "2026-01-05", "2026-03-15", "inadequate",
              "worsening", "measured", cls="SSRI", days_at_dose=0, reasons=["dose-below-minimum"]),
            # 20 mg (>= 20) 2026-03-16..04-05 = 21 d < 42 -> too-short. 21 -> 20 (04-02): 0.048.
            T("antidepressant", "fluoxetine", "2026-03-16", "2026-04-05", "inadequate",
              "non-response", "measured", cls="SSRI", days_at_dose=21, reasons=["too-short"]),
        ],
        "stages": stages(
            reg=False, reg_n=0, reg_diff=False, tr=0, esm="none", mgh=0,
            msm=None, msm_cat="not-applicable", msm_dims=None,  # no counted failure
            conway=0, mk=False, mk_strict=False,
            mk_missing={"adequate-antidepressant-trials", "adequate-psychotherapy-trial"},
            gf="nanan",  # D not-assessable: no counted failure
            spectrum="non-response",  # latest trial fluoxetine 21 -> 20: some improvement
        ),
        "upper_bound": ub(False, 0, 0, None, 0),
        "findings": {"inadequate-dose", "inadequate-duration", "no-psychotherapy-trial"}
        | NO_LABS_F,
        # Current trial = fluoxetine (ended 04-05, 26 d before the as-of date, <= 30) and
        # inadequate. No MDQ on record -> screen-misdiagnosis.
        "suggestions": BASE | {"optimise-trial", "psychotherapy-trial", "screen-misdiagnosis",
                               "medical-workup"},
    },
    # ---------------------------------------------------------------------------------------------
    "04-adequate-cbt-then-ssri.json": {
        "as_of": "2026-10-01",
        "episode": ("2025-08-01", 14),
        "trials": [
            # 12 weekly CBT sessions (SNOMED 228557008 + CPT 90837) 2025-10-13..12-29: >= 8 of an
            # evidence-based modality -> adequate. 17 (10-09) -> 15 (2026-01-05): 0.12.
            T("psychotherapy", None, "2025-10-13", "2025-12-29", "adequate",
              "non-response", "measured", sessions=12),
            # 100 mg from 2026-01-12, active -> to 2026-10-01 (263 d). 15 (01-05) -> 13 (09-21):
            # 0.13 -> non-response. Aripiprazole overlaps 123 d >= 28 -> augmented.
            T("antidepressant", "sertraline", "2026-01-12", "2026-10-01", "adequate",
              "non-response", "measured", cls="SSRI", days_at_dose=263, ongoing=True,
              augmented=1),
            # Aripiprazole 5 mg from 2026-06-01 (123 d on an adequate trial) -> adequate.
            # 14 (05-28) -> 13 (09-21): 0.07 -> non-response.
            T("augmentation", "aripiprazole", "2026-06-01", "2026-10-01", "adequate",
              "non-response", "measured", ongoing=True),
        ],
        "stages": stages(
            reg=False, reg_n=1, reg_diff=False,  # 1 antidepressant failure
            tr=1, esm="non-responder",
            mgh=1.5,  # 1 (sertraline) + 0.5 (augmented)
            # MSM 2 (14 mo) + 3 (latest 13 -> 10-14) + 1 (1 failed) + 1 (aripiprazole) + 0 = 7
            # moderate  (= research case D)
            msm=7, msm_cat="moderate", msm_dims=dims(2, 3, 1, 1, 0),
            conway=1,  # SSRI failure + failed adequate CBT (psychotherapy is its own class)
            # CBT has 12 >= 9 sessions: only the second antidepressant failure is missing.
            mk=False, mk_strict=False, mk_missing={"adequate-antidepressant-trials"},
            # A: CBT 2025-10-13..12-29 = 78 d < 140 -> not a G&F psychotherapy trial -> not met.
            gf="nanmn",
            spectrum="non-response",  # latest trial aripiprazole 14 -> 13
        ),
        "upper_bound": ub(False, 1, 1.5, 7, 1),
        "findings": {"comorbid-anxiety"} | NO_LABS_F,  # F41.1; adequate CBT on record
        "suggestions": BASE | FAILED | TRD | {"screen-misdiagnosis", "medical-workup"},
    },
    # ---------------------------------------------------------------------------------------------
    "05-dose-in-tablets-of-a-product.json": {
        "as_of": "2026-07-01",
        "episode": ("2026-01-01", 6),
        "trials": [
            # RxNorm 312941 = sertraline 50 MG Oral Tablet: 1 tablet (50 mg) 01-10..02-06, then
            # 2 tablets (100 mg, contained Medication) 02-07..04-03 -> 84 d at >= 50; raised to
            # 100 > 50 -> optimised. 21 (01-08) -> 19 (03-30): 0.095 -> non-response.
            T("antidepressant", "sertraline", "2026-01-10", "2026-04-03", "adequate",
              "non-response", "measured", cls="SSRI", days_at_dose=84, dose_optimised=True,
              max_mg=100),
            # RxNorm 596934 = duloxetine 60 MG DR capsule x 1 = 60 mg (>= 60), 04-06..as-of
            # (87 d). 19 (03-30) -> 9 (06-24): 10/19 = 0.53 >= 0.5 -> response (9 > 4).
            T("antidepressant", "duloxetine", "2026-04-06", "2026-07-01", "adequate",
              "response", "measured", cls="SNRI", days_at_dose=87, ongoing=True, max_mg=60),
        ],
        "stages": stages(
            reg=False, reg_n=1, reg_diff=False, tr=1, esm="non-responder",
            mgh=1.5,  # 1 + 0.5 (sertraline dose-optimised)
            # MSM 1 (6 mo) + 2 (latest PHQ-9 9 -> band 5-9; the score wins over F32.2's 4)
            #     + 1 + 0 + 0 = 4 mild
            msm=4, msm_cat="mild", msm_dims=dims(1, 2, 1, 0, 0),
            conway=0, mk=False, mk_strict=False,
            mk_missing={"adequate-antidepressant-trials", "adequate-psychotherapy-trial"},
            gf="nanmn",
            spectrum="residual-symptoms",  # latest trial: response without remission
        ),
        "upper_bound": ub(False, 1, 1.5, 4, 0),
        "findings": {"residual-symptoms", "no-psychotherapy-trial"},
        # No TRD model met (TR I, ESM non-responder, MSM mild, Conway 0): no shared-decision,
        # no neuromodulation-referral.
        "suggestions": SCREEN | BASE | FAILED | {"sequential-psychotherapy", "psychotherapy-trial"},
    },
    # ---------------------------------------------------------------------------------------------
    "06-medicationrequest-only.json": {
        "as_of": "2026-08-01",
        "episode": ("2025-11-01", 9),
        "trials": [
            # Request 2025-11-10, 30 d x (1 + 2 repeats) = 90 d -> 2025-11-10..2026-02-07.
            # "Take as directed": dose unknown -> indeterminate (dose). 18 (11-06) -> 17 (02-05):
            # 0.056 -> non-response (a failure of an indeterminate trial: upper bound only).
            T("antidepressant", "citalopram", "2025-11-10", "2026-02-07", "indeterminate",
              "non-response", "measured", cls="SSRI", reasons=["dose"]),
            # 2026-02-09 + 90 d -> ..2026-05-09 at 20 mg. 17 (02-05) -> 16 (05-07): 0.059.
            T("antidepressant", "escitalopram", "2026-02-09", "2026-05-09", "adequate",
              "non-response", "measured", cls="SSRI", days_at_dose=90),
            # RxNorm 808744 (venlafaxine 150 MG ER tablet) x 1; 30 d x (1 + 1) = 60 d ->
            # 2026-05-11..07-09 (ended 23 d before the as-of date: the current trial).
            # 16 -> 15 (07-06): 0.0625.
            T("antidepressant", "venlafaxine", "2026-05-11", "2026-07-09", "adequate",
              "non-response", "measured", cls="SNRI", days_at_dose=60, max_mg=150),
        ],
        "stages": stages(
            reg=True, reg_n=2, reg_diff=True,  # escitalopram (SSRI) + venlafaxine (SNRI)
            tr=2, esm="TRD1",  # 2 failures, 2 classes -> TRD1; no augmentation -> not CRD
            mgh=2,
            # MSM 1 (9 mo) + 3 (latest 15 -> band 15-19 -> 3) + 1 + 0 + 0 = 5 mild
            msm=5, msm_cat="mild", msm_dims=dims(1, 3, 1, 0, 0),
            conway=1, mk=False, mk_strict=False, mk_missing={"adequate-psychotherapy-trial"},
            gf="nanmn", spectrum="non-response",
        ),
        # Upper bound counts citalopram too: 3 failures. TR still II (citalopram is an SSRI);
        # MGH 3; MSM 1 + 3 + 2 (3 failed -> 3-4) = 6; Conway 3 failures -> 2.
        "upper_bound": ub(True, 2, 3, 6, 2),
        "findings": {"unknown-dose", "no-psychotherapy-trial"} | NO_LABS_F,
        "suggestions": BASE | FAILED | TRD | {"psychotherapy-trial", "screen-misdiagnosis",
                                              "medical-workup"},
    },
    # ---------------------------------------------------------------------------------------------
    "07-psychotic-features.json": {
        "as_of": "2026-05-01",
        "episode": ("2025-05-01", 12),  # exactly 12 months -> Maudsley acute (<= 12)
        "trials": [
            # 2025-05-12..08-09 (90 d) at 150; 24 (05-08) -> 22 (08-06): 0.083. Olanzapine 76 d.
            T("antidepressant", "sertraline", "2025-05-12", "2025-08-09", "adequate",
              "non-response", "measured", cls="SSRI", days_at_dose=90, augmented=1),
            # Olanzapine 2025-05-26..08-09: overlap 76 d >= 28 on an adequate trial; baseline is
            # still 24 (05-08, in [04-26, 06-02]); 24 -> 22.
            T("augmentation", "olanzapine", "2025-05-26", "2025-08-09", "adequate",
              "non-response", "measured"),
            # 225 mg from 2025-08-10, active -> as-of (265 d). 22 (08-06) -> 21 (2026-04-24).
            T("antidepressant", "venlafaxine", "2025-08-10", "2026-05-01", "adequate",
              "non-response", "measured", cls="SNRI", days_at_dose=265, ongoing=True),
        ],
        "stages": stages(
            reg=True, reg_n=2, reg_diff=True, tr=2,
            # TRD1: span 2025-05-12 -> 2026-05-01 = 355 d < 365 -> not CRD despite augmentation.
            esm="TRD1",
            mgh=2.5,  # 1 + 0.5 (sertraline augmented) + 1
            # MSM 1 (12 mo) + 5 (F33.3 psychotic) + 1 + 1 (olanzapine) + 0 = 8 moderate
            msm=8, msm_cat="moderate", msm_dims=dims(1, 5, 1, 1, 0),
            conway=1, mk=False, mk_strict=False, mk_missing={"adequate-psychotherapy-trial"},
            gf="nanmn", spectrum="non-response",
        ),
        "upper_bound": ub(True, 2, 2.5, 8, 1),
        # TSH 1.7 / vit D 27 on 2025-11-03 (within 12 months); no MDQ.
        "findings": {"no-psychotherapy-trial"},
        "suggestions": BASE | FAILED | TRD | {"psychotherapy-trial", "screen-misdiagnosis"},
    },
    # ---------------------------------------------------------------------------------------------
    "08-bipolar-history.json": {
        "as_of": "2026-06-01",
        "episode": ("2025-02-01", 16),
        "trials": [
            # 40 mg 2025-02-09..05-03 (84 d); 19 (02-05) -> 18 (04-30): 0.053.
            T("antidepressant", "fluoxetine", "2025-02-09", "2025-05-03", "adequate",
              "non-response", "measured", cls="SSRI", days_at_dose=84),
            # 20 mg 2025-05-04..08-01 (90 d); 18 (04-30) -> 17 (07-29): 0.056. Quetiapine 48 d.
            T("antidepressant", "vortioxetine", "2025-05-04", "2025-08-01", "adequate",
              "non-response", "measured", cls="other", days_at_dose=90, augmented=1),
            # Quetiapine 2025-06-15..08-01 (48 d >= 28); 18 (06-12) -> 17 (07-29).
            T("augmentation", "quetiapine", "2025-06-15", "2025-08-01", "adequate",
              "non-response", "measured"),
        ],
        "stages": stages(
            # 2 counted failures (SSRI, other) but bipolar (F31.81) on record excludes the label.
            # READING: excluded means met = false (with excluded_by naming bipolar).
            reg=False, reg_n=2, reg_diff=True, reg_excluded=True,
            tr=2, esm="TRD1",  # span 2025-02-09 -> 08-01 = 174 d -> not CRD
            mgh=2.5,  # 1 + 1 + 0.5 (vortioxetine augmented)
            # MSM 2 (16 mo) + 3 (latest 14) + 1 + 1 (quetiapine) + 0 = 7 moderate
            msm=7, msm_cat="moderate", msm_dims=dims(2, 3, 1, 1, 0),
            conway=1, mk=False, mk_strict=False, mk_missing={"adequate-psychotherapy-trial"},
            gf="nanmn", spectrum="non-response",
        ),
        "upper_bound": ub(False, 2, 2.5, 7, 1),
        "findings": {"possible-bipolar", "no-psychotherapy-trial"} | NO_LABS_F,
        # neuromodulation-referral via Maudsley moderate (regulatory excluded); shared-decision
        # via TR II / ESM TRD1 / MSM moderate / Conway 1. No current trial (last ended 2025-08-01).
        # Bipolar on record (issue 12, seed 003: antidepressants can trigger mania): augment-or-
        # switch gives way to bipolar-depression-review; assess-adherence stays.
        "suggestions": BASE | (FAILED - {"augment-or-switch"}) | TRD
        | {"screen-misdiagnosis", "psychotherapy-trial", "medical-workup",
           "bipolar-depression-review"},
    },
    # ---------------------------------------------------------------------------------------------
    "09-loss-of-effect.json": {
        "as_of": "2026-09-01",
        "episode": ("2025-08-01", 13),  # 13 months -> Maudsley subacute (2)
        "trials": [
            # 20 mg from 2025-08-11, active -> as-of (387 d). PHQ-9 20 -> 12 -> 8 (2025-11-17:
            # 0.60 = response) -> 7 -> 9 -> 14 -> 17 -> 18 (2026-08-24): 0.10 -> non-response.
            T("antidepressant", "escitalopram", "2025-08-11", "2026-09-01", "adequate",
              "non-response", "measured", cls="SSRI", days_at_dose=387, ongoing=True),
        ],
        "stages": stages(
            reg=False, reg_n=1, reg_diff=False, tr=1, esm="non-responder", mgh=1,
            # MSM 2 (13 mo) + 3 (latest 18 -> 15-19) + 1 + 0 + 0 = 6 mild
            msm=6, msm_cat="mild", msm_dims=dims(2, 3, 1, 0, 0),
            conway=0, mk=False, mk_strict=False,
            mk_missing={"adequate-antidepressant-trials", "adequate-psychotherapy-trial"},
            gf="nannn",  # D not met: loss of clinical effect
            spectrum="non-response",
            dm_score_null=False,  # WSAS on record
        ),
        "upper_bound": ub(False, 1, 1, 6, 0),
        "findings": {"loss-of-effect", "no-psychotherapy-trial"},
        # WSAS 2026-08-24: no functional-outcomes. No TRD model met.
        "suggestions": SCREEN | {"clinimetric-assessment"} | FAILED
        | {"loss-of-effect-psychotherapy", "psychotherapy-trial"},
    },
    # ---------------------------------------------------------------------------------------------
    "10-partial-response.json": {
        "as_of": "2026-08-01",
        "episode": ("2026-01-01", 7),
        "trials": [
            # Dispenses 01-12 (30 d), 02-11 (30 d), 03-13 (10 d) -> 2026-01-12..03-22 (70 d),
            # 100 mg; PDC 100 % (adherence known). 20 (01-08) -> 19 (03-19): 0.05.
            T("antidepressant", "sertraline", "2026-01-12", "2026-03-22", "adequate",
              "non-response", "measured", cls="SSRI", days_at_dose=70),
            # Dispenses 03-23 (75 mg), 04-22, 05-22, 06-21 (150 mg), 30 d each -> 03-23..07-20
            # (120 d >= 75 mg); raised 75 -> 150 > 75 -> optimised. 19 (03-19) -> 11 (07-16):
            # 8/19 = 0.42 -> partial.
            T("antidepressant", "venlafaxine", "2026-03-23", "2026-07-20", "adequate",
              "partial", "measured", cls="SNRI", days_at_dose=120, dose_optimised=True,
              max_mg=150),
        ],
        "stages": stages(
            reg=False, reg_n=1, reg_diff=False, tr=1, esm="non-responder",
            mgh=1,  # partial is not a failure (partial_counts_as_failure false)
            # MSM 1 (7 mo) + 3 (latest 11) + 1 + 0 + 0 = 5 mild
            msm=5, msm_cat="mild", msm_dims=dims(1, 3, 1, 0, 0),
            conway=0, mk=False, mk_strict=False,
            mk_missing={"adequate-antidepressant-trials", "adequate-psychotherapy-trial"},
            gf="nanmn", spectrum="partial-response", dm_score_null=False,
        ),
        "upper_bound": ub(False, 1, 1, 5, 0),
        # READING: residual-symptoms covers the latest trial's partial response too (spec §7
        # "Partial response / residual symptoms"; §8 trigger "partial response / residual
        # symptoms").
        "findings": {"residual-symptoms", "no-psychotherapy-trial"},
        # Adherence known from dispensing (PDC 100 %): no assess-adherence. WSAS 07-16.
        "suggestions": SCREEN
        | {"clinimetric-assessment", "augment-or-switch", "sequential-psychotherapy",
                        "psychotherapy-trial"},
    },
    # ---------------------------------------------------------------------------------------------
    "11-phq9-item9-positive.json": {
        "as_of": "2026-04-01",
        "episode": ("2025-10-01", 6),
        "trials": [
            # 20 mg 2025-10-06..12-14 (70 d); 22 (10-02) -> 21 (12-11): 0.045.
            T("antidepressant", "fluoxetine", "2025-10-06", "2025-12-14", "adequate",
              "non-response", "measured", cls="SSRI", days_at_dose=70),
            # 30 mg from 2025-12-15, active -> as-of (108 d); 21 (12-11) -> 20 (03-25): 0.048.
            T("antidepressant", "mirtazapine", "2025-12-15", "2026-04-01", "adequate",
              "non-response", "measured", cls="other", days_at_dose=108, ongoing=True),
        ],
        "stages": stages(
            reg=True, reg_n=2, reg_diff=True, tr=2, esm="TRD1", mgh=2,
            # MSM 1 (6 mo) + 4 (latest 20 -> 20-27) + 1 + 0 + 0 = 6 mild
            msm=6, msm_cat="mild", msm_dims=dims(1, 4, 1, 0, 0),
            conway=1, mk=False, mk_strict=False, mk_missing={"adequate-psychotherapy-trial"},
            gf="nanmn", spectrum="non-response",
        ),
        "upper_bound": ub(True, 2, 2, 6, 1),
        # Item 9 (44260-8) = LA6569-3 "Several days" (1) on 2026-03-25, the latest PHQ-9 date.
        "findings": {"safety-item9", "substance-use", "no-psychotherapy-trial"} | NO_LABS_F,
        "first_finding": "safety-item9",
        "suggestions": BASE | FAILED | TRD | {"safety-plan", "psychotherapy-trial",
                                              "screen-misdiagnosis", "medical-workup"},
    },
    # ---------------------------------------------------------------------------------------------
    "12-no-outcome-scores.json": {
        "as_of": "2026-07-01",
        "episode": ("2025-04-01", 15),
        "trials": [
            # 40 mg 2025-04-07..06-01 (56 d). No scores; statusReason "not effective" -> lack of
            # efficacy -> non-response, documented.
            T("antidepressant", "citalopram", "2025-04-07", "2025-06-01", "adequate",
              "non-response", "documented", cls="SSRI", days_at_dose=56),
            # 100 mg 2025-06-02..08-24 (84 d). No scores, no reason; aripiprazole attached (and a
            # switch to desvenlafaxine) -> non-response, inferred.
            T("antidepressant", "sertraline", "2025-06-02", "2025-08-24", "adequate",
              "non-response", "inferred", cls="SSRI", days_at_dose=84, augmented=1),
            # 2025-07-14..08-24: overlap 42 d >= 28 on an adequate trial. Outcome not asserted.
            T("augmentation", "aripiprazole", "2025-07-14", "2025-08-24", "adequate",
              None, None),
            # 100 mg from 2025-08-25, active -> as-of (311 d): ongoing, no scores.
            T("antidepressant", "desvenlafaxine", "2025-08-25", "2026-07-01", "adequate",
              "ongoing", "none", cls="SNRI", days_at_dose=311, ongoing=True),
        ],
        "stages": stages(
            reg=True, reg_n=2, reg_diff=False,  # citalopram + sertraline, both SSRI
            tr=1, esm="non-responder",
            mgh=2.5,  # 1 + 1 + 0.5 (sertraline augmented)
            # MSM 2 (15 mo) + 3 (no score -> F33.1 moderate -> 3) + 1 + 1 (aripiprazole) + 0 = 7
            msm=7, msm_cat="moderate", msm_dims=dims(2, 3, 1, 1, 0),
            conway=0, mk=False, mk_strict=False, mk_missing={"adequate-psychotherapy-trial"},
            gf="nanmn",
            spectrum="unknown",  # latest trial desvenlafaxine: ongoing, no scores
        ),
        "upper_bound": ub(True, 1, 2.5, 7, 0),
        "findings": {"no-outcome-measure", "no-psychotherapy-trial"},  # labs + MDQ 2026-01-19
        "suggestions": SCREEN
        | BASE
        | FAILED
        | TRD
        | {"measurement-based-care", "psychotherapy-trial"},
    },
    # ---------------------------------------------------------------------------------------------
    "13-intolerance-stop.json": {
        "as_of": "2026-06-01",
        "episode": ("2026-01-01", 5),
        "trials": [
            # 20 mg 2026-01-08..01-27 = 20 d < 28, statusReason "stopped due to nausea" (adverse
            # effect). Baseline 16 (01-06); no score in [01-13, 02-10] -> no end score -> outcome
            # from the statusReason: intolerance, documented.
            # READING: the reason is stopped-for-intolerance, which replaces too-short.
            T("antidepressant", "paroxetine", "2026-01-08", "2026-01-27", "inadequate",
              "intolerance", "documented", cls="SSRI", days_at_dose=20,
              reasons=["stopped-for-intolerance"]),
            # 10 mg 02-16..03-15 then 20 mg active -> as-of (106 d >= 10 mg); 17 (02-13) -> 4
            # (05-26): 4 <= 4 -> remission.
            T("antidepressant", "escitalopram", "2026-02-16", "2026-06-01", "adequate",
              "remission", "measured", cls="SSRI", days_at_dose=106, ongoing=True,
              dose_optimised=True),
        ],
        "stages": stages(
            reg=False, reg_n=0, reg_diff=False, tr=0, esm="none", mgh=0,
            msm=None, msm_cat="not-applicable", msm_dims=None,
            conway=0, mk=False, mk_strict=False,
            mk_missing={"adequate-antidepressant-trials", "adequate-psychotherapy-trial"},
            gf="nanan", spectrum="full-response",
        ),
        "upper_bound": ub(False, 0, 0, None, 0),
        # READING: no inadequate-duration for a trial stopped early for intolerance.
        "findings": {"intolerance", "no-outcome-measure", "no-psychotherapy-trial"} | NO_LABS_F,
        "suggestions": BASE | {"measurement-based-care", "psychotherapy-trial",
                               "screen-misdiagnosis", "medical-workup"},
    },
    # ---------------------------------------------------------------------------------------------
    "14-non-adherence.json": {
        "as_of": "2026-09-01",
        "episode": ("2026-01-01", 8),
        "trials": [
            # 150 mg 2026-01-12..04-05 (84 d at dose) but Observation 71799-1 = SNOMED 702565001
            # (non-compliance) on 03-02, focus this statement -> inadequate (non-adherence).
            # 19 (01-08) -> 18 (04-01): 0.053.
            T("antidepressant", "venlafaxine", "2026-01-12", "2026-04-05", "inadequate",
              "non-response", "measured", cls="SNRI", days_at_dose=84,
              reasons=["non-adherence"]),
            # 30 mg from 04-06, active -> as-of (149 d). 18 (04-01) -> 19 (08-24): rise 0.056 <
            # 0.25 -> non-response (not worsening).
            T("antidepressant", "mirtazapine", "2026-04-06", "2026-09-01", "adequate",
              "non-response", "measured", cls="other", days_at_dose=149, ongoing=True),
        ],
        "stages": stages(
            reg=False, reg_n=1, reg_diff=False, tr=1, esm="non-responder", mgh=1,
            # MSM 1 (8 mo) + 3 (latest 19 -> 15-19) + 1 + 0 + 0 = 5 mild
            msm=5, msm_cat="mild", msm_dims=dims(1, 3, 1, 0, 0),
            conway=0, mk=False, mk_strict=False,
            mk_missing={"adequate-antidepressant-trials", "adequate-psychotherapy-trial"},
            gf="nanmn",
            spectrum="resistance",  # latest trial mirtazapine 18 -> 19: unchanged or worse
        ),
        "upper_bound": ub(False, 1, 1, 5, 0),
        "findings": {"non-adherence", "borderline-personality", "no-psychotherapy-trial"},
        "suggestions": SCREEN | BASE | FAILED | {"psychotherapy-trial"},
    },
    # ---------------------------------------------------------------------------------------------
    "15-medical-mimics.json": {
        "as_of": "2026-10-01",
        "episode": ("2025-12-01", 10),
        "trials": [
            # 20 mg 2025-12-08..2026-02-22 (77 d); 18 (12-04) -> 17 (02-19): 0.056.
            T("antidepressant", "escitalopram", "2025-12-08", "2026-02-22", "adequate",
              "non-response", "measured", cls="SSRI", days_at_dose=77),
            # 60 mg (= minimum 60) from 02-23, active -> as-of (221 d); 17 -> 16 (09-22): 0.059.
            T("antidepressant", "duloxetine", "2026-02-23", "2026-10-01", "adequate",
              "non-response", "measured", cls="SNRI", days_at_dose=221, ongoing=True),
        ],
        "stages": stages(
            reg=True, reg_n=2, reg_diff=True, tr=2, esm="TRD1", mgh=2,
            # MSM 1 (10 mo) + 3 (latest 16) + 1 + 0 + 0 = 5 mild
            msm=5, msm_cat="mild", msm_dims=dims(1, 3, 1, 0, 0),
            conway=1, mk=False, mk_strict=False, mk_missing={"adequate-psychotherapy-trial"},
            gf="nanmn", spectrum="non-response",
        ),
        "upper_bound": ub(True, 2, 2, 5, 1),
        # TSH 7.8 > 4.5; 25-OH vit D 14 < 20 (both 2026-05-04); G47.33. Both labs within 12
        # months -> no *-not-checked. MDQ negative 2026-05-04.
        "findings": {"hypothyroidism", "sleep-apnea", "vitamin-d-deficiency",
                     "no-psychotherapy-trial"},
        "suggestions": SCREEN | BASE | FAILED | TRD | {"medical-workup", "psychotherapy-trial"},
    },
    # ---------------------------------------------------------------------------------------------
    "16-adhd-ptsd-short-ipt.json": {
        "as_of": "2026-03-01",
        "episode": ("2025-03-01", 12),
        "trials": [
            # 200 mg 2025-03-10..06-07 (90 d); 19 (03-06) -> 18 (06-04): 0.053.
            T("antidepressant", "sertraline", "2025-03-10", "2025-06-07", "adequate",
              "non-response", "measured", cls="SSRI", days_at_dose=90),
            # 5 weekly IPT sessions 04-07..05-05 < 8 -> inadequate (too-few-sessions).
            # 19 (04-03) -> 19 (05-01): 0 -> non-response (not counted).
            T("psychotherapy", None, "2025-04-07", "2025-05-05", "inadequate",
              "non-response", "measured", sessions=5, reasons=["too-few-sessions"]),
            # 225 mg from 2025-06-08, active -> as-of (267 d); 18 (06-04) -> 17 (2026-02-23).
            T("antidepressant", "venlafaxine", "2025-06-08", "2026-03-01", "adequate",
              "non-response", "measured", cls="SNRI", days_at_dose=267, ongoing=True),
        ],
        "stages": stages(
            reg=True, reg_n=2, reg_diff=True, tr=2, esm="TRD1", mgh=2,
            # MSM 1 (12 mo) + 3 (latest 17) + 1 + 0 + 0 = 5 mild
            msm=5, msm_cat="mild", msm_dims=dims(1, 3, 1, 0, 0),
            conway=1,  # SSRI + SNRI; the 5-session IPT does not count
            mk=False, mk_strict=False, mk_missing={"adequate-psychotherapy-trial"},
            gf="nanmn", spectrum="non-response",  # latest trial venlafaxine
        ),
        "upper_bound": ub(True, 2, 2, 5, 1),
        "findings": {"possible-adhd", "possible-ptsd", "no-psychotherapy-trial"} | NO_LABS_F,
        "suggestions": BASE | FAILED | TRD | {"screen-misdiagnosis", "psychotherapy-trial",
                                              "medical-workup"},
    },
    # ---------------------------------------------------------------------------------------------
    "17-metabolic-inducer-unmapped-code.json": {
        "as_of": "2026-08-01",
        "episode": ("2025-06-01", 14),
        "trials": [
            # 40 mg 2025-06-09..09-14 (98 d); 17 (06-05) -> 17 (09-11): 0 -> non-response.
            T("antidepressant", "citalopram", "2025-06-09", "2025-09-14", "adequate",
              "non-response", "measured", cls="SSRI", days_at_dose=98),
            # 150 mg from 2025-09-15, active -> as-of (321 d); 17 -> 16 (2026-07-27): 0.059.
            T("antidepressant", "sertraline", "2025-09-15", "2026-08-01", "adequate",
              "non-response", "measured", cls="SSRI", days_at_dose=321, ongoing=True),
            # Carbamazepine (inducer) and metformin (unmapped) are not trials.
        ],
        "stages": stages(
            reg=True, reg_n=2, reg_diff=False, tr=1, esm="non-responder", mgh=2,
            # MSM 2 (14 mo) + 3 (latest 16) + 1 + 0 + 0 = 6 mild
            msm=6, msm_cat="mild", msm_dims=dims(2, 3, 1, 0, 0),
            conway=0, mk=False, mk_strict=False, mk_missing={"adequate-psychotherapy-trial"},
            gf="nanmn", spectrum="non-response",
        ),
        "upper_bound": ub(True, 1, 2, 6, 0),
        # Carbamazepine 200 mg x 2 (RxNorm 2002) active since 2022, overlapping both SSRIs;
        # metformin RxNorm 6809 is in no mapping file.
        "findings": {"metabolic-inducer", "unmapped-code", "no-psychotherapy-trial"},
        "suggestions": SCREEN | BASE | FAILED | TRD | {"psychotherapy-trial"},  # regulatory met
    },
    # ---------------------------------------------------------------------------------------------
    "18-rechallenge-failure.json": {
        "as_of": "2026-12-01",
        # F33.1 onset 2025-11-01 (the 2023 F32.1 is resolved). The remission run 2023-05-08..
        # 2024-09-09 (PHQ-9 <= 4, > 56 d) ends at the score 18 on 2025-11-01 = the onset.
        "episode": ("2025-11-01", 13),
        "trials": [
            # Earlier episode: 100 mg 2023-01-09..12-31 (357 d); 19 (2023-01-05) -> 3
            # (2023-12-28) -> remission.
            T("antidepressant", "sertraline", "2023-01-09", "2023-12-31", "adequate",
              "remission", "measured", cls="SSRI", episode="earlier"),
            # Restarted after 22 drug-free months: 100 mg 2025-11-10..12-21, 150 mg 12-22..
            # 2026-02-15 (98 d >= 50; raised to 150 > 50 -> optimised). 18 (11-01) -> 17 (02-12).
            T("antidepressant", "sertraline", "2025-11-10", "2026-02-15", "adequate",
              "non-response", "measured", cls="SSRI", days_at_dose=98, dose_optimised=True,
              episode="current"),
            # 20 mg from 2026-02-16, active -> as-of (289 d); 17 (02-12) -> 15 (11-23): 0.118.
            T("antidepressant", "vortioxetine", "2026-02-16", "2026-12-01", "adequate",
              "non-response", "measured", cls="other", days_at_dose=289, ongoing=True),
        ],
        "stages": stages(
            reg=True, reg_n=2, reg_diff=True, tr=2, esm="TRD1",
            mgh=2.5,  # 1 + 0.5 (sertraline optimised) + 1
            # MSM 2 (13 mo) + 3 (latest 15) + 1 + 0 + 0 = 6 mild
            msm=6, msm_cat="mild", msm_dims=dims(2, 3, 1, 0, 0),
            conway=1, mk=False, mk_strict=False, mk_missing={"adequate-psychotherapy-trial"},
            gf="nannn",  # D not met: failure on rechallenge
            spectrum="non-response",
        ),
        "upper_bound": ub(True, 2, 2.5, 6, 1),
        "findings": {"rechallenge-failure", "no-psychotherapy-trial"},
        "suggestions": SCREEN | BASE | FAILED | TRD | {"psychotherapy-trial"},
    },
    # ---------------------------------------------------------------------------------------------
    "19-markowitz-chronic-refractory.json": {
        "as_of": "2026-11-01",
        "episode": ("2024-09-01", 26),
        "trials": [
            # 20 mg 2024-09-09..12-29 (112 d); 21 (09-05) -> 20 (12-26): 0.048.
            T("antidepressant", "escitalopram", "2024-09-09", "2024-12-29", "adequate",
              "non-response", "measured", cls="SSRI", days_at_dose=112),
            # 100 mg 2025-01-06..04-27 (112 d); 20 (12-26) -> 19 (04-24): 0.05.
            T("antidepressant", "desvenlafaxine", "2025-01-06", "2025-04-27", "adequate",
              "non-response", "measured", cls="SNRI", days_at_dose=112),
            # 30 mg from 2025-05-01, active -> as-of (550 d); 19 (04-24) -> 18 (2026-10-26).
            T("antidepressant", "mirtazapine", "2025-05-01", "2026-11-01", "adequate",
              "non-response", "measured", cls="other", days_at_dose=550, ongoing=True),
            # 12 CBT sessions every 14 d, 2025-05-05..10-06 (155 d >= 140), >= 9: adequate for
            # Conway, Markowitz and Guidi & Fava. 19 (04-24) -> 18 (10-09): 0.053.
            T("psychotherapy", None, "2025-05-05", "2025-10-06", "adequate",
              "non-response", "measured", sessions=12),
        ],
        "stages": stages(
            reg=True, reg_n=3, reg_diff=True, tr=2,  # SSRI, SNRI, other; no TCA -> II
            esm="TRD2",  # 3 failures of >= 2 classes; no augmented failure -> not CRD
            mgh=3,
            # MSM 3 (26 mo) + 3 (latest 18) + 2 (3 failed) + 0 + 0 = 8 moderate
            msm=8, msm_cat="moderate", msm_dims=dims(3, 3, 2, 0, 0),
            conway=2,  # 3 antidepressants + 1 psychotherapy failure
            mk=True, mk_strict=True, mk_missing=set(),  # CBT overlaps the failed mirtazapine
            # A met (3 medication failures >= 28 d + CBT 155 d >= 140); C met (psychological
            # well-being 2026-09-14); D met; E met (shared decision 2026-10-26).
            gf="mammm",
            # A, C, D and E met but B cannot be assessed: Table 3 needs A through E, so the
            # label is "criteria met except B (not assessable)", not refractoriness; the latest
            # trial (CBT from 2025-05-05, 19 -> 18, 5% better) reads as non-response.
            spectrum="non-response",
            dm_score_null=False,
        ),
        "upper_bound": ub(True, 2, 3, 8, 2),
        "findings": {"chronic-episode"},  # 26 > 24; adequate CBT; labs + MDQ 2026-02-16
        # WSAS 2026-10-26: no functional-outcomes; C met: no clinimetric-assessment.
        "suggestions": SCREEN | FAILED | TRD,
    },
    # ---------------------------------------------------------------------------------------------
    # Vignette 19's history with dysthymia since 2019, CBASP instead of CBT, and an antidepressant
    # withdrawal syndrome (local code) three days after escitalopram ended (issue 12).
    "21-double-depression-cbasp.json": {
        "as_of": "2026-11-01",
        "episode": ("2024-09-01", 26),
        "trials": [
            T("antidepressant", "escitalopram", "2024-09-09", "2024-12-29", "adequate",
              "non-response", "measured", cls="SSRI", days_at_dose=112),
            T("antidepressant", "desvenlafaxine", "2025-01-06", "2025-04-27", "adequate",
              "non-response", "measured", cls="SNRI", days_at_dose=112),
            T("antidepressant", "mirtazapine", "2025-05-01", "2026-11-01", "adequate",
              "non-response", "measured", cls="other", days_at_dose=550, ongoing=True),
            # 12 CBASP sessions every 14 d, 155 d >= 140: adequate; 19 -> 18: non-response.
            T("psychotherapy", None, "2025-05-05", "2025-10-06", "adequate",
              "non-response", "measured", sessions=12),
        ],
        "stages": stages(
            reg=True, reg_n=3, reg_diff=True, tr=2, esm="TRD2", mgh=3,
            msm=8, msm_cat="moderate", msm_dims=dims(3, 3, 2, 0, 0),
            conway=2, mk=True, mk_strict=True, mk_missing=set(),
            # B: double depression (F34.1 active + F33.1 active) addressed by a failed adequate
            # CBASP course (Guidi & Fava §5: developed for chronic depression) -> met. With A, C,
            # D, E as in vignette 19: all five met (Table 3) -> refractoriness.
            gf="mmmmm",
            spectrum="refractoriness",
            # WSAS 27 on 2026-10-26 (> 20: moderately severe or worse, Mundt 2002) -> item 2;
            # 3 + 3 + 2 (3 failed) + 2 + 0 + 0 + 0 + 0 + 1 (CBASP) + 0 = 11, weights 1 each.
            dm_score_null=False,
        ),
        "upper_bound": ub(True, 2, 3, 8, 2),
        # double depression; withdrawal syndrome (resolved, still on record); 26 > 24 months.
        "findings": {"chronic-episode", "double-depression", "behavioural-toxicity"},
        "suggestions": SCREEN | FAILED | TRD,
    },
    # ---------------------------------------------------------------------------------------------
    "20-tca-rtms-esketamine.json": {
        "as_of": "2026-09-01",
        "episode": ("2024-11-01", 22),
        "trials": [
            # 150 mg 2024-11-11..2025-02-02 (84 d); 22 (11-07) -> 21 (01-30): 0.045.
            T("antidepressant", "sertraline", "2024-11-11", "2025-02-02", "adequate",
              "non-response", "measured", cls="SSRI", days_at_dose=84),
            # 200 mg >= 150, 2025-02-03..05-04 (91 d); 21 (01-30) -> 20 (04-30): 0.048.
            T("antidepressant", "amitriptyline", "2025-02-03", "2025-05-04", "adequate",
              "non-response", "measured", cls="TCA", days_at_dose=91),
            # 60 mg from 2025-05-05, active -> as-of (485 d); 20 (04-30) -> 18 (2026-08-27).
            T("antidepressant", "duloxetine", "2025-05-05", "2026-09-01", "adequate",
              "non-response", "measured", cls="SNRI", days_at_dose=485, ongoing=True),
            # 30 weekday sessions (90867 then 90868) 2025-10-06..11-14 >= 20 -> adequate;
            # 20 (10-02) -> 19 (11-17): 0.05.
            T("rtms", None, "2025-10-06", "2025-11-14", "adequate",
              "non-response", "measured", sessions=30),
            # 17 sessions of G2083 2026-06-01..08-27 (gaps <= 7 d) >= 8 -> adequate;
            # 19 (05-28) -> 18 (08-27): 0.053.
            T("esketamine", None, "2026-06-01", "2026-08-27", "adequate",
              "non-response", "measured", sessions=17),
        ],
        "stages": stages(
            reg=True, reg_n=3, reg_diff=True,
            tr=3,  # TCA failure + failures in SSRI and SNRI; no MAOI -> III
            esm="TRD2",  # 3 failures; no augmentation -> not CRD
            mgh=3,  # rTMS and esketamine do not score in MGH-S
            # MSM 2 (22 mo) + 3 (latest 18) + 2 (3 failed) + 0 + 0 (no ECT) = 7 moderate
            msm=7, msm_cat="moderate", msm_dims=dims(2, 3, 2, 0, 0),
            conway=2, mk=False, mk_strict=False, mk_missing={"adequate-psychotherapy-trial"},
            gf="nanmn",
            spectrum="non-response",  # latest trial: the esketamine course 19 -> 18
        ),
        "upper_bound": ub(True, 3, 3, 7, 2),
        "findings": {"no-psychotherapy-trial"},  # labs + MDQ 2026-02-16
        "suggestions": SCREEN | BASE | FAILED | TRD | {"psychotherapy-trial"},
    },
}
# fmt: on


# ----------------------------------------------------------------------------------------------
# The comparison


def _load(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def _summary(name: str) -> dict[str, Any]:
    exp = EXPECTED[name]
    as_of = datetime.date.fromisoformat(exp["as_of"])
    return trdfhir.evaluate(_load(name), as_of=as_of).summary()


def _match_trial(trials: list[dict[str, Any]], want: dict[str, Any]) -> dict[str, Any] | None:
    for t in trials:
        if t.get("kind") != want["kind"] or t.get("start") != want["start"]:
            continue
        if want["agent"] is not None and t.get("agent") != want["agent"]:
            continue
        return t
    return None


def _compare_trials(s: dict[str, Any], exp: dict[str, Any], errors: list[str]) -> None:
    trials = s.get("trials", [])
    listed = [(t.get("kind"), t.get("agent"), t.get("start")) for t in trials]
    if len(trials) != len(exp["trials"]):
        errors.append(f"trials: expected {len(exp['trials'])}, got {len(trials)}: {listed}")
    for want in exp["trials"]:
        label = f"trial {want['kind']} {want['agent'] or ''} from {want['start']}".replace(
            "  ", " "
        )
        got = _match_trial(trials, want)
        if got is None:
            errors.append(f"{label}: not found among {listed}")
            continue
        checks: list[tuple[str, Any, Any]] = [
            ("end", want["end"], got.get("end")),
            ("adequacy", want["adequacy"], got.get("adequacy")),
        ]
        if want["outcome"] is not None:
            checks.append(("outcome", want["outcome"], got.get("outcome")))
        if want["evidence"] is not None:
            checks.append(("evidence", want["evidence"], got.get("evidence")))
        if "cls" in want:
            checks.append(("class", want["cls"], got.get("class")))
        if "sessions" in want:
            checks.append(("sessions", want["sessions"], got.get("sessions")))
        if "ongoing" in want:
            checks.append(("ongoing", want["ongoing"], got.get("ongoing")))
        if "episode" in want:
            checks.append(("episode", want["episode"], got.get("episode")))
        if "dose_optimised" in want:
            checks.append(("dose_optimised", want["dose_optimised"], got.get("dose_optimised")))
        if "max_mg" in want:
            checks.append(("max_daily_dose_mg", want["max_mg"], got.get("max_daily_dose_mg")))
        if "augmented" in want:
            checks.append(
                ("len(augmented_by)", want["augmented"], len(got.get("augmented_by") or []))
            )
        if "reasons" in want:
            checks.append(("reasons", sorted(want["reasons"]), sorted(got.get("reasons") or [])))
        for field, w, g in checks:
            if w != g:
                errors.append(f"{label}: {field} expected {w!r}, got {g!r}")
        if "days_at_dose" in want:
            weeks = got.get("weeks_at_adequate_dose")
            if weeks is None or abs(weeks * 7 - want["days_at_dose"]) >= 0.5:
                errors.append(
                    f"{label}: weeks_at_adequate_dose expected {want['days_at_dose']} d "
                    f"({want['days_at_dose'] / 7:.1f} wk), got {weeks!r}"
                )


def _compare_stages(s: dict[str, Any], exp: dict[str, Any], errors: list[str]) -> None:
    st = s.get("stages", {})
    e = exp["stages"]
    reg = st.get("regulatory", {})
    for key in ("met", "failed_adequate_trials", "different_classes"):
        if reg.get(key) != e["regulatory"][key]:
            errors.append(
                f"regulatory.{key}: expected {e['regulatory'][key]!r}, got {reg.get(key)!r}"
            )
    excluded = bool(reg.get("excluded_by"))
    if excluded != e["regulatory"]["excluded"]:
        errors.append(
            f"regulatory.excluded_by: expected "
            f"{'bipolar' if e['regulatory']['excluded'] else 'none'}, "
            f"got {reg.get('excluded_by')!r}"
        )
    simple = [
        ("thase_rush.stage", e["thase_rush"], st.get("thase_rush", {}).get("stage")),
        ("esm.category", e["esm"], st.get("esm", {}).get("category")),
        ("mgh.score", e["mgh"], st.get("mgh", {}).get("score")),
        ("maudsley.score", e["maudsley"]["score"], st.get("maudsley", {}).get("score")),
        ("maudsley.category", e["maudsley"]["category"], st.get("maudsley", {}).get("category")),
        ("conway.stage", e["conway"], st.get("conway", {}).get("stage")),
        ("markowitz.met", e["markowitz"]["met"], st.get("markowitz", {}).get("met")),
        (
            "markowitz.strict_met",
            e["markowitz"]["strict_met"],
            st.get("markowitz", {}).get("strict_met"),
        ),
        ("spectrum", e["spectrum"], st.get("spectrum")),
        ("dm_trd.provisional", True, st.get("dm_trd", {}).get("provisional")),
    ]
    if e["dm_score_null"]:
        simple.append(
            ("dm_trd.score (no functional measure)", None, st.get("dm_trd", {}).get("score"))
        )
    for field, w, g in simple:
        if w != g:
            errors.append(f"{field}: expected {w!r}, got {g!r}")
    if e["maudsley"]["dimensions"] is not None:
        got_dims = st.get("maudsley", {}).get("dimensions") or {}
        for k, w in e["maudsley"]["dimensions"].items():
            if got_dims.get(k) != w:
                errors.append(f"maudsley.dimensions.{k}: expected {w}, got {got_dims.get(k)!r}")
    missing = set(st.get("markowitz", {}).get("missing") or [])
    for item in ("adequate-antidepressant-trials", "adequate-psychotherapy-trial"):
        if (item in missing) != (item in e["markowitz"]["missing"]):
            errors.append(
                f"markowitz.missing: {item!r} expected "
                f"{'present' if item in e['markowitz']['missing'] else 'absent'}, "
                f"got {sorted(missing)}"
            )
    gf = st.get("guidi_fava", {})
    for letter, w in e["guidi_fava"].items():
        if gf.get(letter) != w:
            errors.append(f"guidi_fava.{letter}: expected {w!r}, got {gf.get(letter)!r}")


def _compare_codes(
    kind: str, want: set[str], got_list: list[dict[str, Any]], errors: list[str]
) -> None:
    got = {x.get("code") for x in got_list}
    if want != got:
        errors.append(f"{kind}: missing {sorted(want - got)}, unexpected {sorted(got - want)}")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_vignette(name: str) -> None:
    exp = EXPECTED[name]
    s = _summary(name)
    errors: list[str] = []
    number = name[:2]
    if s.get("patient") != f"Patient/vignette-{number}":
        errors.append(f"patient: expected Patient/vignette-{number}, got {s.get('patient')!r}")
    if s.get("as_of") != exp["as_of"]:
        errors.append(f"as_of: expected {exp['as_of']}, got {s.get('as_of')!r}")
    start, months = exp["episode"]
    ep = s.get("episode", {})
    if ep.get("start") != start or ep.get("months") != months:
        errors.append(
            f"episode: expected start {start} / {months} months, "
            f"got {ep.get('start')} / {ep.get('months')}"
        )
    _compare_trials(s, exp, errors)
    _compare_stages(s, exp, errors)
    got_ub = s.get("upper_bound", {})
    for k, w in exp["upper_bound"].items():
        if got_ub.get(k) != w:
            errors.append(f"upper_bound.{k}: expected {w!r}, got {got_ub.get(k)!r}")
    _compare_codes("findings", exp["findings"], s.get("findings", []), errors)
    _compare_codes("suggestions", exp["suggestions"], s.get("suggestions", []), errors)
    if "first_finding" in exp:
        first = (s.get("findings") or [{}])[0]
        if first.get("code") != exp["first_finding"] or first.get("severity") != "urgent":
            errors.append(f"first finding: expected {exp['first_finding']} (urgent), got {first}")
    assert not errors, f"{name} (as of {exp['as_of']}):\n  " + "\n  ".join(errors)


def test_every_example_has_an_expectation() -> None:
    files = {p.name for p in EXAMPLES.glob("*.json")} - {"index.json"}
    assert files == set(EXPECTED), (
        f"untested: {sorted(files - set(EXPECTED))}; missing: {sorted(set(EXPECTED) - files)}"
    )


def test_vignettes_cover_every_finding_and_suggestion_code() -> None:
    findings = set().union(*(e["findings"] for e in EXPECTED.values()))
    suggestions = set().union(*(e["suggestions"] for e in EXPECTED.values()))
    assert FINDING_CODES - findings == set(), (
        f"finding codes no vignette triggers: {sorted(FINDING_CODES - findings)}"
    )
    assert SUGGESTION_CODES - suggestions == set(), (
        f"suggestion codes no vignette triggers: {sorted(SUGGESTION_CODES - suggestions)}"
    )
    assert findings <= FINDING_CODES and suggestions <= SUGGESTION_CODES


def test_vignettes_cover_every_staging_outcome() -> None:
    """Every model is exercised, and each categorical output takes several values."""
    st = [e["stages"] for e in EXPECTED.values()]
    assert {s["thase_rush"] for s in st} >= {0, 1, 2, 3, 5}
    assert {s["esm"] for s in st} >= {"none", "non-responder", "TRD1", "TRD2", "CRD"}
    assert {s["maudsley"]["category"] for s in st} == {
        "mild",
        "moderate",
        "severe",
        "not-applicable",
    }
    assert {s["conway"] for s in st} == {0, 1, 2}
    assert {s["markowitz"]["met"] for s in st} == {True, False}
    assert {s["spectrum"] for s in st} == {
        "full-response",
        "residual-symptoms",
        "partial-response",
        "non-response",
        "resistance",
        "refractoriness",
        "unknown",
    }


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_vignette_is_valid_fhir_r4(name: str) -> None:
    bundle_model = pytest.importorskip("fhir.resources.R4B.bundle")
    data = _load(name)
    bundle_model.Bundle.model_validate(data)
    assert data["type"] == "collection"
    patient = f"Patient/vignette-{name[:2]}"
    for entry in data["entry"]:
        assert entry["fullUrl"].startswith("urn:uuid:")
        res = entry["resource"]
        if res["resourceType"] not in ("Patient", "Medication"):
            assert res["subject"]["reference"] == patient, res["id"]
