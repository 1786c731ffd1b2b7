"""A catalogue is one package and one route: a tiny destination defined here, routed a prefix through
DESTINATIONS, publishes end to end through the real handler (SQS batch → moto → ledger), beside the HDR UK route."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from hdr_ingest import destinations
from hdr_ingest.core.answers import Answer
from hdr_ingest.core.outcome import ErrorDetail
from hdr_ingest.core.ports import Call, Verdict
from hdr_ingest.core.routing import RouteSpec
from hdr_ingest.entry.runtime import reset_runtime
from tests.conftest import example
from tests.fakes import FakeDestination
from tests.integration.conftest import APP, BUCKET, SECRET, RouteBeside, Stack

pytestmark = pytest.mark.integration


@dataclass
class TinyCatalogue(FakeDestination):
    """A catalogue that keeps records in memory (``tests.fakes.FakeDestination``): it insists on a title, and is
    called with the route's own secret."""

    kind: str = "tiny"
    url: str = "https://tiny.example"
    title: str = "Tiny"
    noun: str = "tiny record"

    def judge(self, document: Any, text: str) -> Verdict:
        if isinstance(document.get("title"), str) and document["title"].strip():
            return Verdict(True, "is valid", target="tiny/1")
        error = ErrorDetail("$.title", "is missing: add a non-empty title")
        return Verdict(False, "has 1 error against tiny/1", (error,), "tiny/1")

    def create(self, key: str, document: Any, verdict: Verdict, call: Call) -> Answer:
        assert call.credentials == {"app_id": APP.app_id, "client_id": APP.client_id}  # the route's own secret
        return super().create(key, document, verdict, call)


@pytest.fixture
def tiny(route_beside_gateway: RouteBeside) -> Iterator[TinyCatalogue]:
    """A new kind of destination: registered (how its routes are checked, how it is built), routed a prefix in
    DESTINATIONS beside the Gateway's, and unregistered after the test."""
    catalogue = TinyCatalogue()

    def problems(spec: RouteSpec) -> list[str]:
        return [] if spec.url == catalogue.url else [f"route {spec.prefix!r} (tiny): url must be {catalogue.url}"]

    destinations.register("tiny", problems, lambda spec, common: catalogue)
    route_beside_gateway({"prefix": "incoming/tiny/", "kind": "tiny", "url": catalogue.url, "secret": SECRET})
    yield catalogue
    destinations.unregister("tiny")


def test_a_prefix_routed_to_a_new_destination_publishes_there_once(stack: Stack, tiny: TinyCatalogue) -> None:
    assert stack.drop_and_invoke("incoming/tiny/a.json", {"title": "A"}) == {"batchItemFailures": []}
    item = stack.ledger("incoming/tiny/a.json")
    assert (item["status"], item["dataset_id"], item["dataset_version"]) == ("CREATED", 1, 1)
    assert item["destination"] == {"kind": "tiny", "url": "https://tiny.example"}
    assert item["reason"] == "Created tiny record 1 (version 1)." and item["schema"] == "tiny/1"
    assert stack.gateway_datasets() == []  # the longest prefix wins: nothing reached the Gateway

    stack.drop_and_invoke("incoming/tiny/a.json", {"title": "A"})
    assert stack.ledger("incoming/tiny/a.json")["status"] == "UNCHANGED"
    stack.drop_and_invoke("incoming/tiny/a.json", {"title": "A, revised"})
    item = stack.ledger("incoming/tiny/a.json")
    assert (item["status"], item["dataset_id"], item["dataset_version"]) == ("UPDATED", 1, 2)
    assert [c[0] for c in tiny.calls] == ["create", "update"] and len(tiny.held) == 1  # a first publish: no lookup


def test_the_destination_s_own_verdict_makes_the_object_invalid(stack: Stack, tiny: TinyCatalogue) -> None:
    stack.drop_and_invoke("incoming/tiny/untitled.json", {"name": "no title"})
    item = stack.ledger("incoming/tiny/untitled.json")
    assert item["status"] == "INVALID" and item["errors"] == [
        {"path": "$.title", "message": "is missing: add a non-empty title"}
    ]
    (letter,) = stack.dead_letters()
    assert letter["destination"] == {"kind": "tiny", "url": "https://tiny.example"}
    assert tiny.calls == []


def test_the_other_prefix_still_publishes_to_the_gateway(stack: Stack, tiny: TinyCatalogue) -> None:
    stack.drop_and_invoke("incoming/hdr.json", example("schemata/HDRUK/4.0.0/docs.example.json"))
    item = stack.ledger("incoming/hdr.json")
    assert item["status"] == "CREATED"
    assert item["destination"] == {"kind": "hdruk", "url": stack.emulator.base_url}
    assert [d["id"] for d in stack.gateway_datasets()] == [item["dataset_id"]] and tiny.calls == []


def test_an_object_under_no_route_is_recorded_invalid_naming_the_prefixes(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    routes = [{"prefix": "incoming/hdruk/", "kind": "hdruk", "url": stack.emulator.base_url, "secret": SECRET}]
    monkeypatch.setenv("DESTINATIONS", json.dumps(routes))
    reset_runtime()
    assert stack.drop_and_invoke("incoming/elsewhere.json", {"title": "x"}) == {"batchItemFailures": []}
    item = stack.ledger("incoming/elsewhere.json")
    assert item["status"] == "INVALID" and "'incoming/hdruk/'" in item["reason"]
    assert "under no configured route" in item["reason"] and "destination" not in item
    (letter,) = stack.dead_letters()
    assert letter["source"] == f"s3://{BUCKET}/incoming/elsewhere.json" and letter["status"] == "INVALID"
    assert stack.gateway_datasets() == []
