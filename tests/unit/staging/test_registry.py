"""All ten models through the registry: contract keys, value shapes, upper bounds."""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path

from trdfhir import staging
from trdfhir.population.definitions import load_definitions
from trdfhir.service.cards import models_met
from trdfhir.staging import DEFAULT, MODELS, UPPER_BOUND_MODELS, ModelSpec, run_all, upper_bounds

from .builders import ad, aug, augmented, context, course, diagnosis, pt, value

SUMMARIES = Path(__file__).resolve().parents[2] / "golden" / "summaries"
CONTRACT_KEYS = (
    "regulatory", "thase_rush", "esm", "mgh", "maudsley", "dm_trd", "conway", "markowitz",
    "guidi_fava", "spectrum",
)  # fmt: skip


def test_every_model_is_registered_under_its_contract_key() -> None:
    """The registry holds exactly the contract's `stages` keys, in order, each with a source."""
    assert tuple(MODELS) == CONTRACT_KEYS
    for name, spec in MODELS.items():
        assert spec.name == name
        assert isinstance(spec.source, str) and spec.source


def test_contract_shapes_for_a_stage_ii_patient() -> None:
    """33 months, moderate MDD; sertraline 150 mg (raised from 50) failed; venlafaxine failed with
    lithium attached; no psychotherapy -> the contract example: regulatory met, Thase-Rush II,
    ESM TRD1, MGH 1.5 + 1.5 = 3.0, Maudsley 3 + 3 + 1 + 1 + 0 = 8 moderate, Conway 1, Markowitz
    missing psychotherapy, spectrum non-response."""
    trials = (
        ad("t1", doses=(50, 150)),
        augmented(ad("t2", "venlafaxine", "SNRI", at=60), "li"),
        aug("li", "t2", at=70),
    )
    results = run_all(
        context(*trials, months=33, diagnoses=(diagnosis("mdd", "F33.1", severity=3),))
    )
    assert tuple(results) == CONTRACT_KEYS
    assert value(results["regulatory"])["met"] is True
    assert value(results["thase_rush"]) == {"stage": 2, "roman": "II"}
    assert value(results["esm"])["category"] == "TRD1"
    assert value(results["mgh"])["score"] == 3.0
    maudsley = value(results["maudsley"])
    assert (maudsley["score"], maudsley["category"]) == (8, "moderate")
    assert maudsley["dimensions"] == {
        "duration": 3, "severity": 3, "failures": 1, "augmentation": 1, "ect": 0,
    }  # fmt: skip
    assert value(results["conway"])["stage"] == 1
    assert value(results["markowitz"])["missing"] == ["adequate-psychotherapy-trial"]
    assert set(value(results["guidi_fava"])) >= {"A", "B", "C", "D", "E"}
    assert results["spectrum"].value == "non-response"
    for name, result in results.items():
        assert result.model == name
        assert result.explanation


def test_upper_bounds_count_indeterminate_trials() -> None:
    """Sertraline failed (adequate); venlafaxine failed with its dose unrecorded (indeterminate); a
    10-session psychotherapy coded by CPT only failed (modality unknown); 12 months, moderate.
    Confirmed: regulatory no, Thase-Rush I, MGH 1, Maudsley 1 + 3 + 1 = 5, Conway 0. Upper bound:
    regulatory yes, Thase-Rush II, MGH 2, Maudsley 5 (2 failures still level 1), Conway 2 (three
    failures in three classes)."""
    trials = (
        ad("t1"),
        ad("t2", "venlafaxine", "SNRI", at=60, days_at_dose=0, unknown_dose_days=56),
        pt("p", 10, modality=None, at=120),
    )
    ctx = context(*trials, diagnoses=(diagnosis("mdd", "F33.1", severity=3),))
    confirmed = {name: MODELS[name].stage(ctx).headline for name in UPPER_BOUND_MODELS}
    assert confirmed == {
        "regulatory": False,
        "thase_rush": 1,
        "mgh": 1.0,
        "maudsley": 5,
        "conway": 0,
    }
    assert upper_bounds(ctx) == {
        "regulatory": True, "thase_rush": 2, "mgh": 2.0, "maudsley": 5, "conway": 2,
    }  # fmt: skip


def test_ect_course_is_used_even_if_not_failed() -> None:
    """Registry run with a successful ECT course: Maudsley ECT used 1, MGH adds nothing."""
    results = run_all(context(ad("t1"), course("ect", outcome="response", at=90),
                              diagnoses=(diagnosis("mdd", "F33.1", severity=3),)))  # fmt: skip
    assert value(results["maudsley"])["dimensions"]["ect"] == 1
    assert value(results["mgh"])["score"] == 1.0


def test_every_module_of_the_package_declares_a_registered_model() -> None:
    """A staging module that is not listed (or lacks its SPEC) fails here, not silently."""
    for info in pkgutil.iter_modules(staging.__path__):
        if info.name == "base":
            continue
        module = importlib.import_module(f"trdfhir.staging.{info.name}")
        spec = getattr(module, "SPEC", None)
        assert isinstance(spec, ModelSpec), f"staging/{info.name}.py declares no SPEC"
        assert spec.name == info.name
        assert DEFAULT.get(spec.name) is spec, f"staging/{info.name}.py is not in the registry"


def test_the_card_thresholds_agree_with_the_population_definitions() -> None:
    """The TRD threshold each model declares (the card's `models_met`) and its definition in
    mappings/population.json (the population report) say the same of every stage value of the
    golden examples and of every level of the population's ordinal scale."""
    definitions = load_definitions()
    assert {m.model for m in definitions.models} == {
        s.name for s in DEFAULT if s.trd_met is not None
    }
    golden = [
        json.loads(p.read_text(encoding="utf-8"))["stages"]
        for p in sorted(SUMMARIES.glob("*.json"))
    ]
    for m in definitions.models:
        spec = DEFAULT.get(m.model)
        assert spec.code == m.code
        values = [stages[m.model] for stages in golden]
        field = m.test.field or ""
        values += [{field: level} for level, _ in m.ordinal_levels]
        values += [{field: True}, {field: False}] if m.test.equals is not None else []
        for stage_value in values:
            expected = m.test.holds(stage_value.get(field))
            if expected is not None:
                assert spec.trd_met is not None
                assert spec.trd_met(stage_value) is expected, (m.model, stage_value)


def test_the_shared_decision_counts_the_models_the_card_counts() -> None:
    """suggestions.trd_models_met words the TRD models in its own order; in every golden example
    it names as many models as the declared thresholds (`models_met`) find met."""
    for path in sorted(SUMMARIES.glob("*.json")):
        summary = json.loads(path.read_text(encoding="utf-8"))
        reasons = [s["reason"] for s in summary["suggestions"] if s["code"] == "shared-decision"]
        named = reasons[0].removeprefix("met: ").split(", ") if reasons else []
        assert len(named) == len(models_met(summary["stages"])), path.name
