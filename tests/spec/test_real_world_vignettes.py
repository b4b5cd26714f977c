"""Clinical vignettes written in the shapes real systems send (docs/real-world.md), expected values
worked out by hand (conventions: tests/spec/test_vignettes.py and docs/rules.md).

The patient: MDD (SNOMED-only, as Synthea writes it) since 2025-01-10; sertraline 100 mg once
daily from 2025-02-01 to 2025-05-31; PHQ-9 only as NLM LHC-Forms QuestionnaireResponses; all of it
in a transaction Bundle whose resources have no id and refer to each other by urn:uuid.
"""

from __future__ import annotations

from typing import Any

from tests import real_shapes as rs

import trdfhir

AS_OF = "2026-06-01"
# PHQ-9 answers: 2+2+2+2+2+2+2+3+3 = 20 (item 9 = 3); 2+2+2+2+2+2+2+2+2 = 18 (item 9 = 2)
BASELINE = (2, 2, 2, 2, 2, 2, 2, 3, 3)
LATER = (2, 2, 2, 2, 2, 2, 2, 2, 2)


def vignette(*, deceased: str | None = None, extra: tuple[dict[str, Any], ...] = ()) -> dict:
    data = rs.transaction(
        rs.mdd_condition("2025-01-10"),
        rs.sertraline_statement("2025-02-01", "2025-05-31"),
        rs.lhc_phq9("2025-01-25", BASELINE, rid="a"),
        rs.lhc_phq9("2025-05-25", LATER, rid="b"),
        *extra,
    )
    if deceased:
        data["entry"][0]["resource"] = rs.synthea_patient(deceased)
    return data


def sertraline(summary: dict) -> dict:
    (trial,) = [t for t in summary["trials"] if t["agent"] == "sertraline"]
    return trial


def test_lhc_forms_scores_judge_the_sertraline_trial():
    summary = trdfhir.evaluate(vignette(), as_of=AS_OF).summary()
    t = sertraline(summary)
    # 2025-02-01..2025-05-31 = 120 days = 17.1 weeks at 100 mg >= 50 mg minimum: adequate
    assert (t["start"], t["end"], t["max_daily_dose_mg"]) == ("2025-02-01", "2025-05-31", 100)
    assert t["weeks_at_adequate_dose"] == 17.1
    assert t["adequacy"] == "adequate"
    # baseline: last score in [2025-01-02, 2025-02-08] = 20 on 01-25;
    # end: last score in [2025-05-17, 2025-06-14] = 18 on 05-25; (20 - 18) / 20 = 0.10 < 0.25
    assert t["baseline_score"] == {"scale": "PHQ-9", "value": 20, "date": "2025-01-25"}
    assert t["end_score"] == {"scale": "PHQ-9", "value": 18, "date": "2025-05-25"}
    assert t["outcome"] == "non-response"
    # item 9 = 2 on the latest PHQ-9 (2025-05-25): the urgent safety finding
    assert [f["code"] for f in summary["findings"] if f["severity"] == "urgent"] == ["safety-item9"]
    assert summary["suggestions"] != []


def test_the_same_patient_dead_on_2025_04_15():
    summary = trdfhir.evaluate(vignette(deceased="2025-04-15"), as_of=AS_OF).summary()
    assert summary["deceased"] == "2025-04-15"
    t = sertraline(summary)
    # cut at death: 2025-02-01..2025-04-15 = 74 days = 10.6 weeks at 100 mg
    assert (t["start"], t["end"], t["weeks_at_adequate_dose"]) == ("2025-02-01", "2025-04-15", 10.6)
    assert t["ongoing"] is False
    # the episode: 2025-01-10 to the death is 3 whole months (not 16 to the as-of date)
    assert summary["episode"]["months"] == 3
    assert summary["suggestions"] == []
    assert [f for f in summary["findings"] if f["severity"] == "urgent"] == []


def test_cbt_recorded_only_in_a_careplan_is_indeterminate():
    plan = rs.cbt_careplan("2025-06-10", "2025-09-30")
    summary = trdfhir.evaluate(vignette(extra=(plan,)), as_of=AS_OF).summary()
    (cbt,) = [t for t in summary["trials"] if t["kind"] == "psychotherapy"]
    # 2025-06-10..2025-09-30, sessions not recorded: neither adequate nor inadequate
    assert (cbt["start"], cbt["end"], cbt["sessions"]) == ("2025-06-10", "2025-09-30", None)
    assert cbt["modality"] == "cbt"
    assert (cbt["adequacy"], cbt["reasons"]) == ("indeterminate", ["sessions"])
    # Conway counts psychotherapy of >= 8 sessions: unknown sessions are not counted
    assert cbt["id"] not in summary["explanations"]["conway"]["trials"]
