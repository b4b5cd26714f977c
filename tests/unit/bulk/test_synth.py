"""The synthetic population: deterministic, streaming, realistic enough to exercise the core."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import date
from pathlib import Path

import trdfhir
from trdfhir.bulk.synth import build_catalog, patient_resources, write_population
from trdfhir.cli import main


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    write_population(tmp_path / "a", patients=25, seed=11)
    write_population(tmp_path / "b", patients=25, seed=11)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    write_population(tmp_path / "c", patients=25, seed=12)
    assert (
        _files(tmp_path / "a")["Observation.ndjson"] != _files(tmp_path / "c")["Observation.ndjson"]
    )


def test_workers_and_chunks_do_not_change_the_bytes(tmp_path: Path) -> None:
    write_population(tmp_path / "one", patients=30, seed=5, chunk=7)
    write_population(tmp_path / "two", patients=30, seed=5, workers=2, chunk=7)
    assert _files(tmp_path / "one") == _files(tmp_path / "two")


def test_gzip_output_is_deterministic_and_holds_the_same_lines(tmp_path: Path) -> None:
    write_population(tmp_path / "plain", patients=10, seed=3)
    write_population(tmp_path / "gz", patients=10, seed=3, gz=True, chunk=4)
    write_population(tmp_path / "gz2", patients=10, seed=3, gz=True)
    assert _files(tmp_path / "gz") == _files(tmp_path / "gz2")
    plain = (tmp_path / "plain" / "Observation.ndjson").read_bytes()
    assert gzip.decompress((tmp_path / "gz" / "Observation.ndjson.gz").read_bytes()) == plain


def test_files_per_resource_type_and_a_manifest(tmp_path: Path) -> None:
    result = write_population(tmp_path, patients=40, seed=1, as_of=date(2026, 5, 1))
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["transactionTime"] == "2026-05-01T00:00:00Z"
    for item in manifest["output"]:
        lines = (tmp_path / item["url"]).read_bytes().splitlines()
        assert len(lines) == item["count"] == result.counts[item["type"]]
        assert all(json.loads(line)["resourceType"] == item["type"] for line in lines)
    expected = {"Patient", "Condition", "MedicationStatement", "MedicationRequest"}
    expected |= {"MedicationDispense", "Observation", "Procedure", "Medication", "Encounter"}
    assert expected <= set(result.counts)
    assert result.counts["Patient"] == 40


def test_patients_are_realistic_mixes() -> None:
    catalog = build_catalog()
    sizes, kinds, dose_shapes = [], Counter[str](), Counter[str]()
    for i in range(150):
        resources = patient_resources(i, 9, date(2026, 10, 1), catalog)
        sizes.append(len(resources))
        assert resources[0]["resourceType"] == "Patient"
        assert len({r["id"] for r in resources}) == len(resources)
        for r in resources:
            kinds[r["resourceType"]] += 1
            for dosage in r.get("dosage") or r.get("dosageInstruction") or []:
                qty = (dosage.get("doseAndRate") or [{}])[0].get("doseQuantity")
                dose_shapes["missing" if qty is None else qty.get("unit", "unitless")] += 1
            if "medicationReference" in r:
                dose_shapes["reference"] += 1
    assert 60 <= sum(sizes) / len(sizes) <= 250
    assert max(sizes) <= 500
    assert {"mg", "tablet", "missing", "reference"} <= set(dose_shapes)
    assert kinds["Procedure"] > 0 and kinds["MedicationDispense"] > 0


def test_cli(tmp_path: Path) -> None:
    assert (
        main(["synth", "--patients", "3", "--seed", "2", "--output", str(tmp_path), "--quiet"]) == 0
    )
    assert (tmp_path / "Patient.ndjson").read_bytes().count(b"\n") == 3
    assert main(["synth", "--patients", "0", "--output", str(tmp_path)]) == 2


def test_synthetic_resources_are_valid_r4() -> None:
    from trdfhir.fhir.models import parse

    catalog = build_catalog()
    for m in catalog.medications[:20]:
        parse(m)
    for i in range(4):
        for r in patient_resources(i, 21, date(2026, 10, 1), catalog):
            parse(r)  # raises on anything the R4B models reject


def test_part_of_the_population_has_functional_ratings_that_dm_trd_reads() -> None:
    """About 45% of patients get a WSAS (0-40), fewer a Q-LES-Q-SF or WPAI; their values are in
    the scales' ranges, and an evaluated patient with a WSAS in the episode gets a DM-TRD
    functional impairment level."""
    catalog = build_catalog()
    as_of = date(2026, 10, 1)
    with_wsas, rated = 0, 0
    for i in range(60):
        resources = patient_resources(i, 1, as_of, catalog)
        values = [
            r["valueInteger"]
            for r in resources
            if r["resourceType"] == "Observation" and r["code"]["coding"][0]["code"] == "wsas"
        ]
        assert all(0 <= v <= 40 for v in values)
        if values:
            with_wsas += 1
            summary = trdfhir.evaluate(resources, as_of=as_of).summary()
            rated += summary["stages"]["dm_trd"]["items"]["functional_impairment"] is not None
    assert 10 <= with_wsas <= 45
    assert rated >= with_wsas // 2


def _population(n: int, seed: int = 9) -> list[list[dict]]:
    catalog = build_catalog()
    return [patient_resources(i, seed, date(2026, 10, 1), catalog) for i in range(n)]


def test_part_of_the_population_is_written_in_real_world_dialects() -> None:
    seen: Counter[str] = Counter()
    for resources in _population(300):
        for r in resources:
            rtype = r["resourceType"]
            if rtype == "QuestionnaireResponse":
                assert r["item"][0]["item"][8]["linkId"] == "/44249-1/44260-8"
                seen["lhc-forms"] += 1
            if rtype == "CarePlan":
                seen["careplan"] += 1
            if rtype == "Patient" and "deceasedDateTime" in r:
                seen["deceased"] += 1
            if rtype == "Condition" and r["code"]["coding"][0]["code"] in ("36923009", "66344007"):
                seen["snomed-only"] += 1
            if rtype == "MedicationRequest":
                if r.get("reportedBoolean") is True and r["intent"] == "plan":
                    seen["self-reported"] += 1
                elif "dispenseRequest" not in r and r["status"] == "active":
                    seen["no-supply"] += 1
            for dosage in r.get("dosage") or r.get("dosageInstruction") or []:
                qty = (dosage.get("doseAndRate") or [{}])[0].get("doseQuantity")
                if qty is not None and "unit" not in qty:
                    seen["tablet-count"] += 1
                if qty is None and dosage.get("text", "").startswith("Take "):
                    seen["sig-text-only"] += 1
    expected = {"lhc-forms", "careplan", "deceased", "snomed-only", "self-reported"}
    expected |= {"no-supply", "tablet-count", "sig-text-only"}
    assert expected <= set(seen), seen


def test_lhc_forms_questionnaires_give_the_same_phq9_scores_and_item9(monkeypatch) -> None:
    """The dialects have a random stream of their own: without them the clinical story is the
    same, so the PHQ-9 totals and positive item 9 answers read from the LHC-Forms questionnaires
    must be those read from the tidy Observations."""
    from trdfhir.bulk import synth
    from trdfhir.ingest import read_record
    from trdfhir.mappings import load_mappings

    maps = load_mappings()
    with_dialects = _population(120)
    monkeypatch.setattr(synth, "DIALECT_RATES", dict.fromkeys(synth.DIALECT_RATES, 0.0))
    tidy = _population(120)
    compared = 0
    for real, plain in zip(with_dialects, tidy, strict=True):
        if not any(r["resourceType"] == "QuestionnaireResponse" for r in real):
            continue
        compared += 1
        a = read_record(real, maps, date(2026, 10, 1))
        b = read_record(plain, maps, date(2026, 10, 1))
        assert [(s.day, s.value) for s in a.scores] == [(s.day, s.value) for s in b.scores]
        # a form always has item 9 (0 where the tidy record wrote none); every answer is kept
        assert {(p.day, p.value) for p in b.item9} <= {(p.day, p.value) for p in a.item9}
        assert [(p.day, p.value) for p in a.item9 if p.value] == [
            (p.day, p.value) for p in b.item9 if p.value
        ]
    assert compared >= 5
