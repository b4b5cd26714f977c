"""Every example: load -> sync -> read the written resources back -> they equal the emitted ones;
then a second sync writes nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from trdfhir import evaluate
from trdfhir.client import FhirClient
from trdfhir.commands.sync import sync_patient
from trdfhir.mappings import Mappings
from trdfhir.sandbox import Example, example_files, read_examples

from .conftest import NOW, ROOT, load_clone

pytestmark = pytest.mark.integration

EXAMPLE_FILES = [p.name for p in example_files(ROOT / "examples")]


def _example(examples: list[Example], name: str) -> Example:
    return next(e for e in examples if e.path.name == name)


def _search_of(entry: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
    request = entry["request"]
    rtype, _, query = request["url"].partition("?")
    if request["method"] == "POST":
        query = request["ifNoneExist"]
    return rtype, parse_qsl(query)


def _rewrite(value: Any, mapping: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {
            k: mapping.get(v, v)
            if k == "reference" and isinstance(v, str)
            else _rewrite(v, mapping)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_rewrite(v, mapping) for v in value]
    return value


def _stored(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource as read back, minus what the server adds (id, version, lastUpdated)."""
    out = {k: v for k, v in resource.items() if k != "id"}
    meta = {
        k: v
        for k, v in (out.pop("meta", None) or {}).items()
        if k not in ("versionId", "lastUpdated")
    }
    if meta:
        out["meta"] = meta
    return out


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_round_trip(loaded: str, examples: list[Example], maps: Mappings, name: str) -> None:
    # A patient of its own: other tests on this shared server write back the examples too.
    example = load_clone(loaded, _example(examples, name), f"rt-{name[:2]}")
    with FhirClient(loaded) as client:
        first = sync_patient(
            client,
            example.patient_id,
            as_of=example.as_of,
            settings=maps.settings,
            mappings=maps,
            write=True,
            now=NOW,
        )
        # reading from the server gives the same assessment as reading the file
        assert (
            first.assessment is not None and first.bundle is not None and first.outcome is not None
        )
        local = evaluate(example.bundle, as_of=example.as_of, mappings=maps)
        assert first.assessment.summary() == local.summary()
        assert first.outcome.mode == "transaction"
        entries = first.bundle["entry"]
        shared = {"Device"}  # one Device for every patient: written by whichever ran first
        assert len(first.outcome.created) >= len(
            [e for e in entries if e["resource"]["resourceType"] not in shared]
        )

        # read every written resource back by its business identifier / conditional search
        found: dict[str, dict[str, Any]] = {}
        for entry in entries:
            rtype, query = _search_of(entry)
            matches = [r for r in client.search(rtype, query) if r["resourceType"] == rtype]
            assert len(matches) == 1, f"{rtype} {query}: {len(matches)} matches"
            found[entry["fullUrl"]] = matches[0]
        mapping = {url: f"{r['resourceType']}/{r['id']}" for url, r in found.items()}
        kinds = {r["resourceType"] for r in found.values()}
        assert {"Observation", "CarePlan", "Provenance"} <= kinds
        for entry in entries:
            assert _stored(found[entry["fullUrl"]]) == _rewrite(entry["resource"], mapping), entry[
                "request"
            ]

        before = len(client.search("Observation", {"patient": example.patient_id}))
        # a second sync (later, same as-of) writes nothing new
        second = sync_patient(
            client,
            example.patient_id,
            as_of=example.as_of,
            settings=maps.settings,
            mappings=maps,
            write=True,
            now=NOW + timedelta(hours=1),
        )
        assert second.outcome is not None
        assert second.outcome.mode == "skipped" and second.outcome.written == 0
        assert second.assessment is not None
        assert second.assessment.summary() == first.assessment.summary()
        assert len(client.search("Observation", {"patient": example.patient_id})) == before
        careplan = mapping[
            next(e["fullUrl"] for e in entries if e["resource"]["resourceType"] == "CarePlan")
        ]
        assert len(client.search("CarePlan", {"patient": example.patient_id})) == 1
        assert len(client.search("Provenance", {"target": careplan})) == 1


def test_every_example_is_covered() -> None:
    assert len(read_examples(Path(ROOT / "examples"))) == len(EXAMPLE_FILES) >= 1
