"""Limits: body size, resources per request, nesting depth and time per evaluation, enforced
with a clear 413/422 by the service and with a LimitError (an InputError: exit code 2) by the
library and the CLI. docs/service.md lists them with their defaults."""

from __future__ import annotations

import contextlib
import io
import json
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from tests.api.conftest import cds_request, client_for, example, open_settings
from trdfhir import InputError, LimitError, Limits, evaluate
from trdfhir.cli import main
from trdfhir.errors import EXIT_INPUT, SettingsError
from trdfhir.limits import checkpoint, count_resources, deadline, json_depth_exceeds
from trdfhir.service import ServiceSettings
from trdfhir.service.settings import build_settings, load_service_settings

EX = example("01")
OP = "/fhir/$trd-evaluate"
VIEW = "/cds-services/trd-patient-view"
FHIR = {"Content-Type": "application/fhir+json"}


def outcome(response: Any, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text[:300]
    issue = response.json()["issue"][0]
    assert issue["code"] == "too-costly"
    assert fragment in issue["diagnostics"] and "\n" not in issue["diagnostics"]


def parameters(bundle: Any) -> dict[str, Any]:
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "bundle", "resource": bundle},
            {"name": "asOf", "valueDate": EX.as_of.isoformat()},
        ],
    }


def nested(levels: int) -> Any:
    """An extension nested `levels` objects/arrays deep inside the Patient of example 01."""
    bundle = json.loads(json.dumps(EX.bundle))
    value: Any = {"url": "http://example.org/x", "valueString": "deep"}
    for _ in range(levels // 2):
        value = {"url": "http://example.org/x", "extension": [value]}
    bundle["entry"][0]["resource"]["extension"] = [value]
    return bundle


def depth_of(data: Any) -> int:
    low = 1
    while json_depth_exceeds(data, low):
        low += 1
    return low


# -- the mechanisms ------------------------------------------------------------------------------
def test_depth_and_count_are_measured_without_recursion() -> None:
    assert not json_depth_exceeds({"a": [1, {"b": []}]}, 4)  # object, list, object, list
    assert json_depth_exceeds({"a": [1, {"b": []}]}, 3)
    very_deep: Any = []
    for _ in range(100_000):  # far beyond the interpreter's recursion limit
        very_deep = [very_deep]
    assert json_depth_exceeds(very_deep, 100)
    bundle = {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "X"}}] * 50}
    assert count_resources(bundle, 10) == 11  # stops counting past the limit
    assert count_resources({"resourceType": "Bundle", "entry": [{"resource": bundle}]}, 99) == 50
    contained = {"resourceType": "Medication", "contained": [{"resourceType": "Substance"}] * 3}
    assert count_resources(contained, 99) == 4


def test_a_deadline_is_checked_at_checkpoints_and_only_in_its_own_context() -> None:
    now = [0.0]
    with deadline(5.0, clock=lambda: now[0]):
        checkpoint("a")
        now[0] = 5.5
        with pytest.raises(LimitError, match=r"longer than the limit of 5 s \(stopped in b\)"):
            checkpoint("b")
        seen: list[BaseException] = []
        worker = threading.Thread(target=lambda: _no_deadline_here(seen))
        worker.start()
        worker.join()
        assert seen == []  # another thread is not bound by this deadline
    checkpoint("after")  # no deadline outside the block
    with deadline(None):
        checkpoint("none")


def _no_deadline_here(seen: list[BaseException]) -> None:
    try:
        checkpoint("thread")
    except BaseException as exc:  # pragma: no cover - the assertion reports it
        seen.append(exc)


def test_an_inner_deadline_cannot_extend_an_outer_one() -> None:
    now = [0.0]
    with deadline(1.0, clock=lambda: now[0]), deadline(60.0, clock=lambda: now[0]) as inner:
        assert inner is not None and inner.seconds == 1.0


# -- library -------------------------------------------------------------------------------------
def test_library_nesting_depth_limit() -> None:
    assert evaluate(nested(60), as_of=EX.as_of).patient == "Patient/vignette-01"
    with pytest.raises(LimitError, match="more than 100 levels deep") as err:
        evaluate(nested(120), as_of=EX.as_of)
    assert isinstance(err.value, InputError) and err.value.issue_code == "too-costly"
    assert depth_of(nested(10)) == 16
    with pytest.raises(LimitError, match="more than 15 levels"):
        evaluate(nested(10), as_of=EX.as_of, limits=Limits(max_depth=15))


def test_library_resource_count_limit() -> None:
    count = len(EX.bundle["entry"])
    evaluate(EX.bundle, as_of=EX.as_of, limits=Limits(max_resources=count))
    with pytest.raises(LimitError, match=f"more than {count - 1} resources"):
        evaluate(EX.bundle, as_of=EX.as_of, limits=Limits(max_resources=count - 1))


def many_exposures(n: int) -> dict[str, Any]:
    """One patient, `n` overlapping sertraline statements: one trial with n dose steps, the
    costliest shape for trial building (its dose timeline is quadratic in the steps)."""
    entries: list[dict[str, Any]] = [
        {"resource": {"resourceType": "Patient", "id": "p"}},
        {
            "resource": {
                "resourceType": "Condition",
                "id": "c",
                "subject": {"reference": "Patient/p"},
                "code": {
                    "coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F33.1"}]
                },
                "onsetDateTime": "2015-01-01",
            }
        },
    ]
    start = date(2015, 1, 1)
    for i in range(n):
        entries.append(
            {
                "resource": {
                    "resourceType": "MedicationStatement",
                    "id": f"m{i}",
                    "status": "completed",
                    "subject": {"reference": "Patient/p"},
                    "medicationCodeableConcept": {
                        "coding": [
                            {
                                "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                "code": "36437",
                            }
                        ]
                    },
                    "effectivePeriod": {
                        "start": (start + timedelta(days=i)).isoformat(),
                        "end": (start + timedelta(days=i + 30)).isoformat(),
                    },
                    "dosage": [{"doseAndRate": [{"doseQuantity": {"value": 25 + i % 7 * 25}}]}],
                }
            }
        )
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def test_the_time_limit_stops_a_costly_evaluation_midway(monkeypatch: pytest.MonkeyPatch) -> None:
    """6 000 overlapping statements: about 1.8 s to evaluate in full (measured), most of it in
    one stage (the trial's dose timeline, ~12 000 segments). With a clock that advances 1 ms at
    each checkpoint, a 0.3 s deadline stops it inside that stage, deterministically."""
    import trdfhir.assessment

    ticks = [0.0]

    def clock() -> float:
        ticks[0] += 0.001
        return ticks[0]

    monkeypatch.setattr(
        trdfhir.assessment, "deadline", lambda seconds: deadline(seconds, clock=clock)
    )
    with pytest.raises(LimitError, match=r"0\.3 s \(stopped in building trials\)"):
        evaluate(many_exposures(6000), as_of="2040-01-01", limits=Limits(max_seconds=0.3))
    assert 300 < ticks[0] * 1000 < 310  # it stopped at the first checkpoint past the deadline


# -- CLI -----------------------------------------------------------------------------------------
def run_cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, err.getvalue()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (json.dumps(nested(150)), "more than 100 levels deep"),
        ("[" * 100_000 + "]" * 100_000, "nests JSON objects/arrays too deeply"),
        ('{"resourceType": "Patient", "id": "p"}\n' + "[" * 100_000, "nests JSON too deeply"),
    ],
)
def test_cli_limits_are_one_line_and_exit_code_2(text: str, fragment: str, tmp_path: Any) -> None:
    path = tmp_path / "deep.json"
    path.write_text(text)
    code, err = run_cli(["evaluate", str(path), "--as-of", "2026-09-01"])
    assert code == EXIT_INPUT
    assert err.count("\n") == 1 and fragment in err and "Traceback" not in err


# -- service -------------------------------------------------------------------------------------
@pytest.fixture
def small() -> Iterator[Any]:
    yield client_for(open_settings(EX, max_body_bytes=200_000, max_resources=40, max_depth=50))


def test_body_size_413_declared_and_streamed(small: Any) -> None:
    big = json.dumps(parameters(EX.bundle)).encode() + b" " * 200_000
    outcome(small.post(OP, content=big, headers=FHIR), 413, "larger than the limit")

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while reading
        for _ in range(50):
            yield b" " * 10_000

    outcome(small.post(OP, content=chunks(), headers=FHIR), 413, "larger than the limit")
    body = cds_request(EX)
    body["padding"] = "x" * 200_000
    outcome(small.post(VIEW, json=body), 413, "larger than the limit")


def test_resources_per_request_413(small: Any) -> None:
    bundle = json.loads(json.dumps(EX.bundle))
    bundle["entry"] = bundle["entry"] * 4  # 52 resources
    outcome(small.post(OP, json=parameters(bundle), headers=FHIR), 413, "more than 40 resources")
    body = cds_request(EX)
    body["prefetch"]["observations"]["entry"] *= 6
    outcome(small.post(VIEW, json=body), 413, "more than 40 resources")


@pytest.mark.parametrize("url", [OP, VIEW])
def test_nesting_depth_422(url: str, small: Any) -> None:
    def body(levels: int) -> Any:
        if url == OP:
            return parameters(nested(levels))
        request = cds_request(EX)
        request["prefetch"]["patient"] = nested(levels)["entry"][0]["resource"]
        return request

    fits = body(36)
    assert depth_of(fits) <= 50
    assert small.post(url, json=fits, headers=FHIR).status_code == 200
    deep = body(60)
    assert depth_of(deep) > 50
    outcome(small.post(url, json=deep, headers=FHIR), 422, "more than 50 levels deep")
    # deeper than the JSON parser goes: the same answer, not a 400 or a 500
    text = "[" * 100_000 + "]" * 100_000
    outcome(small.post(url, content=text, headers=FHIR), 422, "more than 50 levels deep")


def test_time_per_evaluation_422() -> None:
    slow = client_for(open_settings(max_evaluation_seconds=0.3, max_resources=20_000))
    record = many_exposures(6000)
    response = slow.post(f"{OP}?asOf=2040-01-01", json=record, headers=FHIR)
    outcome(response, 422, "longer than the limit of 0.3 s")
    body = cds_request(EX)
    body["prefetch"]["medicationStatements"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"resource": e["resource"]}
            for e in record["entry"]
            if e["resource"]["resourceType"] == "MedicationStatement"
        ],
    }
    for key in ("conditions", "observations"):
        body["prefetch"][key] = None
    body["context"]["patientId"] = "p"
    body["prefetch"]["patient"] = {"resourceType": "Patient", "id": "p"}
    outcome(slow.post(VIEW, json=body), 422, "longer than the limit")


def test_limit_settings_are_checked_and_read_from_the_environment() -> None:
    settings = load_service_settings(
        env={"TRDFHIR_MAX_DEPTH": "64", "TRDFHIR_MAX_EVALUATION_SECONDS": "2.5"}
    )
    assert settings.max_depth == 64 and settings.max_evaluation_seconds == 2.5
    defaults = ServiceSettings()
    assert (defaults.max_body_bytes, defaults.max_resources) == (10_000_000, 20_000)
    assert (defaults.max_depth, defaults.max_evaluation_seconds) == (100, 10.0)
    for bad in (
        {"max_depth": 5},
        {"max_depth": 10_000},
        {"max_evaluation_seconds": 0},
        {"max_evaluation_seconds": "soon"},
        {"max_evaluation_seconds": "nan"},
        {"max_body_bytes": 0},
    ):
        with pytest.raises(SettingsError):
            build_settings(bad)
