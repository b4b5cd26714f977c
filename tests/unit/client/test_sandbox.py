"""The sandbox's pure parts: example Bundles to transactions, settings, as-of dates."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from trdfhir.errors import InputError
from trdfhir.sandbox import (
    bundle_patient_id,
    read_examples,
    settings_document,
    to_transaction,
)

ROOT = Path(__file__).resolve().parents[3]


def test_collection_to_idempotent_transaction() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": "urn:uuid:11111111-1111-1111-1111-111111111111",
                "resource": {"resourceType": "Patient"},
            },
            {
                "fullUrl": "urn:uuid:22222222-2222-2222-2222-222222222222",
                "resource": {
                    "resourceType": "Observation",
                    "id": "o1",
                    "subject": {"reference": "urn:uuid:11111111-1111-1111-1111-111111111111"},
                },
            },
        ],
    }
    tx = to_transaction(bundle)
    assert tx["type"] == "transaction"
    assert [e["request"] for e in tx["entry"]] == [
        {"method": "PUT", "url": "Patient/11111111-1111-1111-1111-111111111111"},
        {"method": "PUT", "url": "Observation/o1"},
    ]
    assert tx["entry"][1]["resource"]["subject"] == {
        "reference": "Patient/11111111-1111-1111-1111-111111111111"
    }
    assert to_transaction(bundle) == tx  # deterministic
    assert bundle_patient_id(bundle) == "11111111-1111-1111-1111-111111111111"
    with pytest.raises(InputError):
        to_transaction({"resourceType": "Patient"})


def test_settings_bind_loopback_and_disable_the_simulator_and_traffic_log() -> None:
    doc = settings_document(8123, ":memory:", Path("/tmp/x"))  # noqa: S108 - not written
    assert doc["host"] == "127.0.0.1"
    assert doc["base_url"] == "http://127.0.0.1:8123/fhir"
    assert doc["simulator"] == {"enabled": False}
    assert doc["log_inbound"] is False
    assert doc["db_path"] == ":memory:"


def test_examples_carry_their_as_of_dates(tmp_path: Path) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": "2026-03-04T00:00:00Z",
        "entry": [{"resource": {"resourceType": "Patient", "id": "a"}}],
    }
    (tmp_path / "01-a.json").write_text(json.dumps(bundle))
    (tmp_path / "02-b.json").write_text(json.dumps({**bundle, "timestamp": None}))
    (tmp_path / "index.json").write_text(
        json.dumps({"examples": [{"file": "02-b.json", "as_of": "2025-01-02"}]})
    )
    examples = read_examples(tmp_path)
    assert [(e.path.name, e.patient_id, e.as_of) for e in examples] == [
        ("01-a.json", "a", date(2026, 3, 4)),
        ("02-b.json", "a", date(2025, 1, 2)),
    ]


def test_the_real_examples_all_load() -> None:
    examples = read_examples(ROOT / "examples")
    assert examples, "examples/ holds no Bundles"
    assert len({e.patient_id for e in examples}) == len(examples)
    for example in examples:
        tx = to_transaction(example.bundle, example.path.name)
        assert all(e["request"]["method"] == "PUT" for e in tx["entry"])
