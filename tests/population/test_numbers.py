"""The report's numbers (--json) equal a direct computation from summaries.ndjson.

Everything here is worked out again from the raw JSON, with the TRD definitions of docs/rules.md
written out by hand, Wilson intervals and kappa from their textbook formulas, never by calling
trdfhir.population."""

from __future__ import annotations

import math
from collections import Counter
from itertools import combinations
from typing import Any

import pytest

from .support import PATIENTS, Report

Z = 1.959963984540054  # the 97.5 % normal quantile

# docs/rules.md: "A TRD model is met when: regulatory met, ESM TRD1+ or CRD, Thase-Rush >= II,
# Maudsley moderate or severe, Conway >= 1, or Markowitz met."
TRD = {
    "regulatory": lambda s: s["regulatory"]["met"] is True,
    "thase_rush": lambda s: s["thase_rush"]["stage"] >= 2,
    "esm": lambda s: s["esm"]["category"] in {"TRD1", "TRD2", "TRD3", "TRD4", "TRD5", "CRD"},
    "maudsley": lambda s: (
        None
        if s["maudsley"]["category"] is None
        else s["maudsley"]["category"] in {"moderate", "severe"}
    ),
    "conway": lambda s: s["conway"]["stage"] >= 1,
    "markowitz": lambda s: s["markowitz"]["met"] is True,
}


def ordinal(model: str, s: dict[str, Any]) -> int | None:
    """docs/population.md's common scale: 0 no counted failure, 1 short of TRD, 2 TRD,
    3 advanced."""
    if model == "thase_rush":
        return min(s["thase_rush"]["stage"], 3)
    if model == "esm":
        c = s["esm"]["category"]
        return {"none": 0, "non-responder": 1, "TRD1": 2, "TRD2": 2}.get(c, 3)
    if model == "maudsley":
        c = s["maudsley"]["category"]
        return None if c is None else ["not-applicable", "mild", "moderate", "severe"].index(c)
    stage = s["conway"]["stage"]
    return {1: 2, 2: 3}.get(stage, 1 if s["conway"]["failed_trials"] > 0 else 0)


def wilson(k: int, n: int) -> tuple[float, float]:
    p = k / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return centre - half, centre + half


def cohen(pairs: list[tuple[int, int]], k: int, weighted: bool) -> float | None:
    n = len(pairs)
    observed = [[0.0] * k for _ in range(k)]
    for a, b in pairs:
        observed[a][b] += 1 / n
    rows = [sum(observed[i]) for i in range(k)]
    cols = [sum(observed[i][j] for i in range(k)) for j in range(k)]

    def weight(i: int, j: int) -> float:
        return float((i - j) ** 2) if weighted else float(i != j)

    disagree_o = sum(weight(i, j) * observed[i][j] for i in range(k) for j in range(k))
    disagree_e = sum(weight(i, j) * rows[i] * cols[j] for i in range(k) for j in range(k))
    return None if disagree_e == 0 else 1 - disagree_o / disagree_e


def close(a: float | None, b: float | None, tol: float = 1e-4) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) <= tol)


def stages(report: Report) -> list[dict[str, Any]]:
    return [s["stages"] for s in report.summaries]


def test_the_population_is_every_summary(report: Report) -> None:
    assert len(report.summaries) == PATIENTS
    assert report.numbers["patients"] == PATIENTS


@pytest.mark.parametrize("model", list(TRD))
def test_prevalence_and_its_wilson_interval(report: Report, model: str) -> None:
    labels = [TRD[model](s) for s in stages(report)]
    rated = [x for x in labels if x is not None]
    row = next(r for r in report.numbers["prevalence"] if r["model"] == model)
    assert (row["count"], row["n"], row["not_rated"]) == (
        sum(rated),
        len(rated),
        len(labels) - len(rated),
    )
    low, high = wilson(sum(rated), len(rated))
    assert close(row["share"], sum(rated) / len(rated))
    assert close(row["ci95"][0], max(low, 0.0)) and close(row["ci95"][1], min(high, 1.0))


def test_the_synthetic_population_has_trd_and_non_trd_patients(report: Report) -> None:
    # otherwise the agreement and prevalence checks would prove little
    counts = {r["model"]: r["count"] for r in report.numbers["prevalence"]}
    assert 0 < counts["regulatory"] < PATIENTS and 0 < counts["conway"] < PATIENTS


def test_stage_distributions(report: Report) -> None:
    d = report.numbers["distributions"]
    roman = ["0", "I", "II", "III", "IV", "V"]
    thase = Counter(roman[s["thase_rush"]["stage"]] for s in stages(report))
    assert d["thase_rush_stage"] == {r: thase.get(r, 0) for r in roman}
    esm = Counter(s["esm"]["category"] for s in stages(report))
    assert {k: v for k, v in d["esm_category"].items() if v} == dict(esm)
    mgh = Counter(s["mgh"]["score"] for s in stages(report))
    assert sum(d["mgh_score"].values()) == PATIENTS
    assert {float(k): v for k, v in d["mgh_score"].items()} == {float(k): v for k, v in mgh.items()}
    conway = Counter(str(s["conway"]["stage"]) for s in stages(report))
    assert {k: v for k, v in d["conway_stage"].items() if v} == dict(conway)


def test_binary_kappa_between_every_pair(report: Report) -> None:
    rows = {(p["a"], p["b"]): p for p in report.numbers["agreement"]["binary"]}
    assert len(rows) == len(list(combinations(TRD, 2)))
    for a, b in combinations(TRD, 2):
        pairs = [(TRD[a](s), TRD[b](s)) for s in stages(report)]
        both = [(int(x), int(y)) for x, y in pairs if x is not None and y is not None]
        row = rows[(a, b)]
        assert row["n"] == len(both), (a, b)
        assert close(row["agreement"], sum(x == y for x, y in both) / len(both)), (a, b)
        assert close(row["kappa"], cohen(both, 2, weighted=False)), (a, b)


def test_quadratic_weighted_kappa_between_stages(report: Report) -> None:
    rows = {(p["a"], p["b"]): p for p in report.numbers["agreement"]["ordinal"]}
    models = ["thase_rush", "esm", "maudsley", "conway"]
    assert set(rows) == set(combinations(models, 2))
    for a, b in combinations(models, 2):
        pairs = [(ordinal(a, s), ordinal(b, s)) for s in stages(report)]
        both = [(x, y) for x, y in pairs if x is not None and y is not None]
        assert rows[(a, b)]["n"] == len(both)
        assert close(rows[(a, b)]["kappa"], cohen(both, 4, weighted=True)), (a, b)


def test_patients_trd_under_one_model_and_not_another(report: Report) -> None:
    rows = {(d["trd"], d["not_trd"]): d for d in report.numbers["discordance"]}
    for a in TRD:
        for b in TRD:
            if a == b:
                continue
            expected = sum(1 for s in stages(report) if TRD[a](s) is True and TRD[b](s) is False)
            assert rows[(a, b)]["count"] == expected == sum(rows[(a, b)]["reasons"].values())
    # the reasons Markowitz gives for the regulatory TRD patients it does not call TRD
    missing = Counter(
        "missing " + " and ".join(s["markowitz"]["missing"])
        for s in stages(report)
        if s["regulatory"]["met"] and not s["markowitz"]["met"]
    )
    assert rows[("regulatory", "markowitz")]["reasons"] == dict(missing)


def test_failed_trials_and_their_adequacy(report: Report) -> None:
    failed = [
        t
        for s in report.summaries
        for t in s["trials"]
        if t["kind"] == "antidepressant"
        and t["episode"] == "current"
        and t["outcome"] in ("non-response", "worsening")
    ]
    f = report.numbers["failed_trials"]
    assert f["failed"] == len(failed) > 0
    assert f["by_adequacy"] == {
        a: sum(1 for t in failed if t["adequacy"] == a)
        for a in ("adequate", "inadequate", "indeterminate")
    }
    inadequate = [t for t in failed if t["adequacy"] == "inadequate"]
    assert f["inadequate"]["count"] == len(inadequate)
    assert close(f["inadequate"]["share"], len(inadequate) / len(failed))
    for row in f["inadequate_by_reason"]:
        assert row["count"] == sum(1 for t in inadequate if row["reason"] in t["reasons"])
        assert row["n"] == len(failed)
    assert {r["reason"] for r in f["inadequate_by_reason"]} == {
        "dose-below-minimum",
        "too-short",
        "non-adherence",
        "stopped-for-intolerance",
    }


def test_pseudo_resistance_findings(report: Report) -> None:
    codes = [{f["code"] for f in s["findings"]} for s in report.summaries]
    rows = {r["code"]: r for r in report.numbers["pseudo_resistance"]}
    for code in ("inadequate-dose", "inadequate-duration", "non-adherence", "possible-bipolar"):
        count = sum(1 for c in codes if code in c)
        assert (rows[code]["count"], rows[code]["n"]) == (count, PATIENTS)
        low, high = wilson(count, PATIENTS)
        assert close(rows[code]["ci95"][0], max(low, 0.0))
        assert close(rows[code]["ci95"][1], min(high, 1.0))
    assert rows["inadequate-dose"]["count"] > 0


def test_psychotherapy_counted_or_not(report: Report) -> None:
    p = report.numbers["psychotherapy"]
    regulatory = [s for s in report.summaries if s["stages"]["regulatory"]["met"]]
    assert p["regulatory_met"] == len(regulatory)
    assert p["regulatory_met_markowitz_met"] == sum(
        1 for s in regulatory if s["stages"]["markowitz"]["met"]
    )
    assert p["regulatory_met_no_failed_psychotherapy"] == sum(
        1
        for s in regulatory
        if "adequate-psychotherapy-trial" in s["stages"]["markowitz"]["missing"]
    )

    def counted(s: dict[str, Any], model: str) -> bool:
        kinds = {t["id"]: t["kind"] for t in s["trials"]}
        return any(kinds.get(i) == "psychotherapy" for i in s["explanations"][model]["trials"])

    conway = next(m for m in p["models"] if m["model"] == "conway")
    assert conway["trd_with_psychotherapy_counted"] == sum(
        1 for s in report.summaries if s["stages"]["conway"]["stage"] >= 1 and counted(s, "conway")
    )
    assert conway["stratum_counted"] == sum(1 for s in report.summaries if counted(s, "conway"))
    # Conway counts psychotherapy as a class: "psychotherapy" is in its classes exactly then
    assert conway["stratum_counted"] == sum(
        1 for s in report.summaries if "psychotherapy" in s["stages"]["conway"]["classes"]
    )


def test_the_upper_bound(report: Report) -> None:
    rows = {m["model"]: m for m in report.numbers["upper_bound"]["models"]}
    upper = {
        "regulatory": lambda u: u is True,
        "thase_rush": lambda u: u >= 2,
        "maudsley": lambda u: u >= 7,  # Maudsley moderate starts at 7 (Fekadu 2009)
        "conway": lambda u: u >= 1,
    }
    assert set(rows) == set(upper)
    for model, test in upper.items():
        rated = [s for s in report.summaries if s["upper_bound"][model] is not None]
        up = [s for s in rated if test(s["upper_bound"][model])]
        could = [s for s in up if not TRD[model](s["stages"])]
        assert (rows[model]["n"], rows[model]["upper"], rows[model]["could_be"]) == (
            len(rated),
            len(up),
            len(could),
        ), model
        assert rows[model]["upper"] >= rows[model]["now"]
    assert any(rows[m]["could_be"] > 0 for m in rows)
