"""Every fault ends in an explained record (issue 12, the shared core): whatever a destination does, each record's
last delivery ends with a ledger item that has a status and a reason, and the function's own dead letter; nothing
stored outgrows DynamoDB's item (400 KB) or partition key (2,048 bytes) limits. The real handler is driven with SQS
batches as Lambda's event source does, against moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

import pytest

from hdr_ingest import destinations
from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.core.outcome import ErrorDetail
from hdr_ingest.core.ports import Verdict
from tests.conftest import example
from tests.fakes import FakeDestination
from tests.integration.conftest import BUCKET, MAX_RECEIVE, RouteBeside, Stack

pytestmark = pytest.mark.integration

ITEM_LIMIT = 400 * 1024


@dataclass
class Hostile(FakeDestination):
    """A catalogue whose every answer is scripted by the test (``tests.fakes.FakeDestination``): by default it takes
    any document."""

    kind: str = "hostile"
    url: str = "https://hostile.example"
    title: str = "Hostile"
    noun: str = "hostile record"
    verdict: Verdict | None = field(default_factory=lambda: Verdict(True, "is valid"))


@pytest.fixture
def hostile(route_beside_gateway: RouteBeside) -> Iterator[Hostile]:
    catalogue = Hostile()
    destinations.register("hostile", lambda spec: [], lambda spec, common: catalogue)
    route_beside_gateway({"prefix": "incoming/hostile/", "kind": "hostile", "url": catalogue.url, "secret": None})
    yield catalogue
    destinations.unregister("hostile")


def deliver_until_final(stack: Stack, key: str, body: Any) -> list[dict[str, Any]]:
    """Drop ``key`` and deliver its notification as SQS would, up to the last delivery; the batch responses."""
    stack.put(key, json.dumps(body).encode())
    (message,) = stack.receive()
    return [stack.invoke(stack.sqs_event([message], receive_count=n)) for n in range(1, MAX_RECEIVE + 1)]


def item_size(item: dict[str, Any]) -> int:
    return len(json.dumps(item, default=str).encode())


def test_an_unexpected_error_is_recorded_then_failed_and_dead_lettered(stack: Stack, hostile: Hostile) -> None:
    hostile.answers["create"] = [ValueError("the client library broke") for _ in range(MAX_RECEIVE)]
    responses = deliver_until_final(stack, "incoming/hostile/a.json", {"title": "a"})
    assert [len(r["batchItemFailures"]) for r in responses] == [1] * (MAX_RECEIVE - 1) + [0]
    item = stack.ledger("incoming/hostile/a.json")
    assert item["status"] == "FAILED"
    assert "Unexpected failure (ValueError: the client library broke)" in item["reason"]
    assert f"Gave up after {MAX_RECEIVE} deliveries" in item["reason"]
    (letter,) = stack.dead_letters()
    assert letter["source"] == f"s3://{BUCKET}/incoming/hostile/a.json" and letter["status"] == "FAILED"
    assert unquote_plus(letter["event"]["Records"][0]["s3"]["object"]["key"]) == "incoming/hostile/a.json"


def test_a_megabyte_answer_is_recorded_cut_with_its_length(stack: Stack, hostile: Hostile) -> None:
    hostile.answers["create"] = [Answer(AnswerKind.PERMANENT, 400, "refused: " + "x" * 1_000_000)]
    assert stack.drop_and_invoke("incoming/hostile/big.json", {"title": "b"}) == {"batchItemFailures": []}
    item = stack.ledger("incoming/hostile/big.json")
    assert item["status"] == "REJECTED" and item["reason"].endswith("more bytes)")
    assert item_size(item) < ITEM_LIMIT and "996,009 more bytes" in item["reason"]
    (letter,) = stack.dead_letters()
    assert len(json.dumps(letter)) < 256 * 1024


def test_two_hundred_five_kilobyte_errors_fit_one_item_with_the_total_kept(stack: Stack, hostile: Hostile) -> None:
    errors = tuple(ErrorDetail(f"$.field{i}", "e" * 5_000) for i in range(300))
    hostile.verdict = Verdict(False, "has 300 errors against hostile/1", errors, "hostile/1")
    stack.drop_and_invoke("incoming/hostile/many.json", {"title": "m"})
    item = stack.ledger("incoming/hostile/many.json")
    assert item["status"] == "INVALID" and item["errors_total"] == 300
    assert 0 < len(item["errors"]) <= 200 and item_size(item) < ITEM_LIMIT
    assert all(e["message"].endswith("more bytes)") for e in item["errors"])


def test_an_invalid_document_with_a_megabyte_key_is_explained_within_the_limits(stack: Stack) -> None:
    document = example("schemata/HDRUK/4.0.0/docs.example.json")
    document["k" * 1_000_000] = "an unexpected property"
    del document["summary"]
    assert stack.drop_and_invoke("incoming/hugekey.json", document) == {"batchItemFailures": []}
    item = stack.ledger("incoming/hugekey.json")
    assert item["status"] == "INVALID" and item["errors_total"] >= 1 and item_size(item) < ITEM_LIMIT
    assert any("summary" in e["path"] or "summary" in e["message"] for e in item["errors"])


def test_a_catalogue_element_with_a_long_identifier_is_published_under_a_hashed_key(stack: Stack) -> None:
    base = example("schemata/HDRUK/4.0.0/docs.example.json")
    long_id, short_id = "https://example.org/" + "l" * 3_000, "https://example.org/short"
    elements = []
    for identifier, title in ((long_id, "Long identifier"), (short_id, "Short identifier")):
        element = json.loads(json.dumps(base))
        element["identifier"], element["summary"]["title"] = identifier, title
        elements.append(element)
    assert stack.drop_and_invoke("incoming/catalogue.json", elements) == {"batchItemFailures": []}
    items = {i["source"]: i for i in stack.table.scan(ConsistentRead=True)["Items"]}
    hashed = [s for s in items if "#sha256:" in s]
    assert len(hashed) == 1 and len(hashed[0].encode()) < 2048
    assert items[hashed[0]]["status"] == "CREATED" and items[hashed[0]]["element_id"].startswith(long_id[:900])
    assert items[f"s3://{BUCKET}/incoming/catalogue.json#{short_id}"]["status"] == "CREATED"
    reason = items[f"s3://{BUCKET}/incoming/catalogue.json"]["reason"]
    assert reason == "Catalogue of 2 datasets: 2 of 2 elements published (2 created)."
