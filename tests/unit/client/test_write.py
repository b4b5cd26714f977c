"""Write-back: transaction, the conditional fallback, plans and per-patient serialisation."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from trdfhir.client import (
    PartialWriteError,
    describe_plan,
    patient_lock,
    plan_write,
    post_transaction,
    write_bundle,
    write_conditionally,
    write_if_changed,
)
from trdfhir.errors import FhirServerError, InputError

from .fakes import BASE, Seen, capability, client_for, outcome, searchset

OBS_URN = "urn:uuid:00000000-0000-0000-0000-000000000001"
PLAN_URN = "urn:uuid:00000000-0000-0000-0000-000000000002"
PROV_URN = "urn:uuid:00000000-0000-0000-0000-000000000003"


def write_back_bundle() -> dict[str, Any]:
    """The shape emit produces: conditional creates, a conditional update, a Provenance last."""
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": PROV_URN,  # listed first on purpose: it depends on the others
                "resource": {
                    "resourceType": "Provenance",
                    "target": [{"reference": OBS_URN}, {"reference": PLAN_URN}],
                },
                "request": {"method": "POST", "url": "Provenance", "ifNoneExist": "_tag=s|w1"},
            },
            {
                "fullUrl": OBS_URN,
                "resource": {"resourceType": "Observation", "subject": {"reference": "Patient/p1"}},
                "request": {
                    "method": "POST",
                    "url": "Observation",
                    "ifNoneExist": "identifier=s|o1",
                },
            },
            {
                "fullUrl": PLAN_URN,
                "resource": {
                    "resourceType": "CarePlan",
                    "subject": {"reference": "Patient/p1"},
                    "supportingInfo": [{"reference": OBS_URN}],
                },
                "request": {"method": "PUT", "url": "CarePlan?identifier=s|p1&status=draft"},
            },
        ],
    }


def test_describe_plan_is_phi_free() -> None:
    assert describe_plan(write_back_bundle()) == [
        "POST Provenance (if none exists)",
        "POST Observation (if none exists)",
        "PUT CarePlan (conditional)",
    ]


def test_only_transactions_are_written() -> None:
    client, _, _ = client_for(lambda seen: (200, capability(), {}))
    with pytest.raises(InputError, match="transaction Bundle"):
        write_bundle(client, {"resourceType": "Bundle", "type": "collection"})
    with pytest.raises(InputError, match=r"request\.method"):
        write_bundle(
            client, {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": {}}]}
        )


def transaction_reply(statuses: list[str]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [
            {"response": {"status": s, "location": f"{BASE}/X/{i}/_history/1"}}
            for i, s in enumerate(statuses)
        ],
    }


def test_post_transaction_classifies_every_entry() -> None:
    reply = transaction_reply(["201 Created", "200 OK", "200 OK"])
    client, fake, _ = client_for(lambda seen: (200, reply, {}))
    outcome_ = post_transaction(client, write_back_bundle())
    assert outcome_.created == ("X/0",)
    assert outcome_.unchanged == ("X/1",)
    assert outcome_.updated == ("X/2",)
    assert outcome_.written == 2
    assert fake.seen[0].method == "POST" and fake.seen[0].path == ""
    assert fake.seen[0].headers["Content-Type"].startswith("application/fhir+json")


def test_transaction_answers_that_do_not_add_up_are_errors() -> None:
    client, _, _ = client_for(lambda seen: (200, transaction_reply(["201 Created"]), {}))
    with pytest.raises(FhirServerError, match="does not account for every entry"):
        post_transaction(client, write_back_bundle())
    client, _, _ = client_for(
        lambda seen: (200, transaction_reply(["201 Created", "400 Bad", "200 OK"]), {})
    )
    with pytest.raises(FhirServerError, match="an entry failed"):
        post_transaction(client, write_back_bundle())


def test_an_idempotent_transaction_is_retried_after_a_gateway_timeout() -> None:
    replies = iter(
        [(504, None, {}), (200, transaction_reply(["200 OK", "201 Created", "200 OK"]), {})]
    )
    client, fake, _ = client_for(lambda seen: next(replies))
    post_transaction(client, write_back_bundle())
    assert len(fake.seen) == 2


class ConditionalServer:
    """Answers conditional creates and updates one by one, assigning ids."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.writes: list[Seen] = []

    def __call__(self, seen: Seen) -> tuple[int, Any, dict[str, str]]:
        if seen.path == "metadata":
            return 200, capability(interactions=()), {}
        if seen.method in ("POST", "PUT"):
            self.writes.append(seen)
            if self.fail_at is not None and len(self.writes) == self.fail_at:
                return 500, outcome("exception", "disk full"), {}
            rtype = seen.path.split("?")[0]
            rid = f"{rtype.lower()}-{len(self.writes)}"
            return 201, {**seen.body, "id": rid}, {"Location": f"{BASE}/{rtype}/{rid}/_history/1"}
        return 404, None, {}


def test_conditional_fallback_orders_and_rewrites_references() -> None:
    server = ConditionalServer()
    client, _, _ = client_for(server)
    result = write_bundle(client, write_back_bundle())
    assert result.mode == "conditional"
    order = [(s.method, s.path) for s in server.writes]
    assert order == [("POST", "Observation"), ("PUT", "CarePlan"), ("POST", "Provenance")]
    observation, careplan, provenance = server.writes
    assert observation.headers["If-None-Exist"] == "identifier=s|o1"
    assert careplan.body["supportingInfo"] == [{"reference": "Observation/observation-1"}]
    assert provenance.body["target"] == [
        {"reference": "Observation/observation-1"},
        {"reference": "CarePlan/careplan-2"},
    ]
    assert result.created == (
        "Observation/observation-1",
        "CarePlan/careplan-2",
        "Provenance/provenance-3",
    )


def test_conditional_fallback_stops_at_the_first_error_and_says_what_was_written() -> None:
    server = ConditionalServer(fail_at=2)
    client, _, _ = client_for(server)
    with pytest.raises(PartialWriteError) as err:
        write_conditionally(client, write_back_bundle())
    assert err.value.written == ("Observation/observation-1",)
    assert err.value.status == 500
    assert "stopped at entry 2 of 3" in err.value.message
    assert "already written: Observation x1" in err.value.message
    assert len(server.writes) == 2  # nothing after the failure


def test_conditional_fallback_failing_first_is_a_plain_error() -> None:
    client, _, _ = client_for(ConditionalServer(fail_at=1))
    with pytest.raises(FhirServerError) as err:
        write_conditionally(client, write_back_bundle())
    assert not isinstance(err.value, PartialWriteError)


def test_reference_cycles_are_refused() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:a",
                "resource": {"resourceType": "Basic", "subject": {"reference": "urn:uuid:b"}},
                "request": {"method": "POST", "url": "Basic"},
            },
            {
                "fullUrl": "urn:uuid:b",
                "resource": {"resourceType": "Basic", "subject": {"reference": "urn:uuid:a"}},
                "request": {"method": "POST", "url": "Basic"},
            },
        ],
    }
    client, _, _ = client_for(ConditionalServer())
    with pytest.raises(InputError, match="cycle"):
        write_conditionally(client, bundle)


def existing_server(existing: set[str], batch: bool = True) -> Any:
    """A server holding resources matched by the given searches ('Observation?identifier=s|o1')."""

    def handler(seen: Seen) -> tuple[int, Any, dict[str, str]]:
        if seen.path == "metadata":
            return (
                200,
                capability(interactions=("transaction", "batch") if batch else ("transaction",)),
                {},
            )
        if seen.path == "" and seen.body.get("type") == "batch":
            entries = []
            for e in seen.body["entry"]:
                url = e["request"]["url"].split("&_count")[0]
                found = [{"resourceType": url.split("?")[0], "id": "1"}] if url in existing else []
                entries.append({"response": {"status": "200 OK"}, "resource": searchset(found)})
            return 200, {"resourceType": "Bundle", "type": "batch-response", "entry": entries}, {}
        if seen.path == "":
            return 200, transaction_reply(["201 Created"] * len(seen.body["entry"])), {}
        query = "&".join(f"{k}={v}" for k, v in seen.query if k != "_count")
        url = f"{seen.path}?{query}"
        return (
            200,
            searchset([{"resourceType": seen.path, "id": "1"}] if url in existing else []),
            {},
        )

    return handler


@pytest.mark.parametrize("batch", [True, False])
def test_plan_write_asks_the_server(batch: bool) -> None:
    client, fake, _ = client_for(existing_server({"Observation?identifier=s|o1"}, batch))
    plan = plan_write(client, write_back_bundle())
    assert plan.new == ("POST Provenance (if none exists)", "PUT CarePlan (conditional)")
    assert plan.present == ("POST Observation (if none exists)",)
    assert not plan.redundant
    requests_sent = len([s for s in fake.seen if s.path != "metadata"])
    assert requests_sent == (1 if batch else 3)


def test_write_if_changed_skips_a_write_that_would_only_add_a_provenance() -> None:
    everything = {"Observation?identifier=s|o1", "CarePlan?identifier=s|p1&status=draft"}
    client, fake, _ = client_for(existing_server(everything))
    plan, result = write_if_changed(client, write_back_bundle())
    assert plan.redundant
    assert result.mode == "skipped" and result.written == 0
    assert not [s for s in fake.seen if s.path == "" and s.body.get("type") == "transaction"]


def test_write_if_changed_writes_when_something_is_new() -> None:
    client, _fake, _ = client_for(existing_server(set()))
    plan, result = write_if_changed(client, write_back_bundle(), patient="p1")
    assert not plan.redundant
    assert result.mode == "transaction" and result.written == 3


def test_patient_lock_serialises_one_patient_only() -> None:
    events: list[str] = []

    def writer(patient: str, name: str) -> None:
        with patient_lock(BASE, patient):
            events.append(f"{name}+")
            time.sleep(0.05)
            events.append(f"{name}-")

    threads = [
        threading.Thread(target=writer, args=("Patient/p1", "a")),
        threading.Thread(target=writer, args=("Patient/p1", "b")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert events in (["a+", "a-", "b+", "b-"], ["b+", "b-", "a+", "a-"])
    from trdfhir.client import write as write_module

    assert write_module._locks == {}  # released locks are forgotten


def test_conditional_urls_holding_urls_stay_on_the_server() -> None:
    server = ConditionalServer()
    client, fake, _ = client_for(server)
    bundle = write_back_bundle()
    bundle["entry"][2]["request"]["url"] = "CarePlan?identifier=http://x.org/sid|p1&status=draft"
    write_conditionally(client, bundle)
    put = next(s for s in fake.seen if s.method == "PUT")
    assert put.path == "CarePlan"
    assert put.params == {"identifier": "http://x.org/sid|p1", "status": "draft"}
