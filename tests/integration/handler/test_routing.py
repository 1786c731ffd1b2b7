"""A catalogue is one package and one route: a tiny destination defined here, routed a prefix through
DESTINATIONS, publishes end to end through the real handler (SQS batch → moto → ledger), beside the HDR UK route."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from hdr_ingest import destinations
from hdr_ingest.core.answers import Answer, AnswerKind, RecordId
from hdr_ingest.core.document import parse_export
from hdr_ingest.core.outcome import ErrorDetail
from hdr_ingest.core.ports import Call, Verdict
from hdr_ingest.core.routing import RouteSpec
from hdr_ingest.entry.runtime import reset_runtime
from tests.conftest import example
from tests.integration.conftest import APP, BUCKET, SECRET, Stack

pytestmark = pytest.mark.integration


@dataclass
class TinyCatalogue:
    """A catalogue that keeps records in memory: titles only, and it insists on having one."""

    kind = "tiny"
    title = "Tiny"
    noun = "tiny record"

    parse = staticmethod(parse_export)

    def natural_key(self, element: Any) -> None:
        return None

    url: str = "https://tiny.example"
    records: dict[int, dict[str, Any]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def judge(self, document: Any, text: str) -> Verdict:
        if isinstance(document.get("title"), str) and document["title"].strip():
            return Verdict(True, "is valid", target="tiny/1")
        error = ErrorDetail("$.title", "is missing: add a non-empty title")
        return Verdict(False, "has 1 error against tiny/1", (error,), "tiny/1")

    def credentials(self, secret: Any, secret_id: str) -> Any:
        return secret

    def find(self, key: str, call: Call) -> Answer:
        self.calls.append("find")
        hit = next((i for i, r in self.records.items() if r["key"] == key), None)
        return Answer(AnswerKind.SUCCESS, 200, "looked up", record_id=hit, found=hit is not None)

    def create(self, key: str, document: Any, verdict: Verdict, call: Call) -> Answer:
        assert call.credentials == {"app_id": APP.app_id, "client_id": APP.client_id}  # the route's own secret
        self.calls.append("create")
        record_id = len(self.records) + 1
        self.records[record_id] = {"key": key, "document": document, "version": 1}
        return Answer(AnswerKind.SUCCESS, 201, "created", record_id=record_id, record_version=1, created=True)

    def update(self, record_id: RecordId, key: str, document: Any, verdict: Verdict, call: Call) -> Answer:
        self.calls.append("update")
        record = self.records[int(record_id)]
        record.update(document=document, version=record["version"] + 1)
        return Answer(AnswerKind.SUCCESS, 200, "updated", record_id=record_id, record_version=record["version"])

    def restore(self, record_id: RecordId, call: Call) -> Answer:
        return Answer(AnswerKind.SUCCESS, 200, "restored", record_id=record_id)

    def archive(self, record_id: RecordId, call: Call) -> Answer:
        return Answer(AnswerKind.SUCCESS, 200, "archived", record_id=record_id)

    def check(self, record_id: RecordId, call: Call) -> Answer:
        return Answer(AnswerKind.SUCCESS, 200, "published", record_id=record_id)


@pytest.fixture
def tiny(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[TinyCatalogue]:
    catalogue = TinyCatalogue()

    def problems(spec: RouteSpec) -> list[str]:
        return [] if spec.url == catalogue.url else [f"route {spec.prefix!r} (tiny): url must be {catalogue.url}"]

    destinations.register("tiny", problems, lambda spec, common: catalogue)
    routes = [
        {"prefix": "incoming/", "kind": "hdruk", "url": stack.emulator.base_url, "secret": SECRET},
        {"prefix": "incoming/tiny/", "kind": "tiny", "url": catalogue.url, "secret": SECRET},
    ]
    monkeypatch.setenv("DESTINATIONS", json.dumps(routes))
    reset_runtime()
    yield catalogue
    destinations.unregister("tiny")
    reset_runtime()


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
    assert tiny.calls == ["create", "update"] and len(tiny.records) == 1  # a first publish looks nothing up


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
