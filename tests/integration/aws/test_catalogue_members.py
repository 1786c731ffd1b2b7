"""Issue 26.10: a catalogue file's ``members`` (its element identifiers) made its ledger item unbounded: 2,700 ids
of 160 characters failed the file's item on every export. Against a moto-backed DynamoDB ledger: the item keeps
only their count when they do not fit, and an element no longer exported is still archived (found from the
element rows), as it is for a small catalogue whose list is kept."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from hdr_ingest.adapters.aws.dynamodb_ledger import DynamoDbLedger
from hdr_ingest.core.bounds import MAX_MEMBERS_BYTES
from hdr_ingest.core.ports import NoCredentials, StoredObject, Verdict
from hdr_ingest.core.routing import Route, Routes
from hdr_ingest.core.source_object import SourceObject
from hdr_ingest.usecases.context import Budget, Delivery, PipelineSettings
from hdr_ingest.usecases.pipeline import IngestPipeline
from tests.fakes import FakeDestination

pytestmark = pytest.mark.integration

FILE = SourceObject("bucket", "cat/all.json", sequencer="00A")
MAX_ITEM_BYTES = 400 * 1024


@dataclass
class Memory(FakeDestination):
    """A catalogue (``tests.fakes.FakeDestination``) that takes every element as it is."""

    kind: str = "memory"
    url: str = "https://memory.example"
    title: str = "Memory"
    verdict: Verdict | None = field(default_factory=lambda: Verdict(True, "is valid", target="memory/1"))


class Store:
    def __init__(self) -> None:
        self.data = b"[]"

    def read(self, obj: SourceObject, max_bytes: int) -> StoredObject:
        return StoredObject(self.data, etag="e")


@pytest.fixture
def ledger() -> Iterator[DynamoDbLedger]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-2")
        client.create_table(
            TableName="ledger",
            KeySchema=[{"AttributeName": "source", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "source", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield DynamoDbLedger("ledger", client)


def export(
    ledger: DynamoDbLedger,
    destination: Memory,
    store: Store,
    ids: list[str],
    sequencer: str,
    event: str = "ObjectCreated:Put",
) -> None:
    store.data = json.dumps([{"identifier": i} for i in ids]).encode()
    settings = PipelineSettings(max_object_bytes=10_000_000, max_attempts=1, archive_on_delete=True)
    sink = type("Sink", (), {"send": lambda self, message: None})()
    routes = Routes([Route("cat/", destination, NoCredentials())])
    pipeline = IngestPipeline.wired(
        settings, routes, store, ledger, sink, clock=lambda: datetime(2026, 12, 5, tzinfo=UTC)
    )
    obj = SourceObject(FILE.bucket, FILE.key, event_name=event, sequencer=sequencer)
    pipeline.process(obj, Delivery(receive_count=1, final=False), Budget(lambda: 600_000, lambda s: None))


def item_bytes(ledger: DynamoDbLedger, source: str) -> int:
    raw = ledger.client.get_item(TableName="ledger", Key={"source": {"S": source}})["Item"]
    return len(json.dumps(raw).encode())  # an over-estimate of DynamoDB's own count (names, type tags, quotes)


# 820 ids of 500 characters (410 KB) overflow DynamoDB's 400 KB item as the 2,700 of 160 (432 KB) of issue 26.10 did,
# in a third of the elements (ids stay below the 512 bytes past which an element's key is hashed).
@pytest.mark.parametrize(("count", "chars"), [(820, 500), (5, 160)])
def test_a_catalogue_s_item_stays_bounded_and_a_removed_element_is_archived(
    ledger: DynamoDbLedger, count: int, chars: int
) -> None:
    ids = [f"{n:06d}".rjust(chars, "x") for n in range(count)]
    destination, store = Memory(), Store()
    export(ledger, destination, store, ids, "00A")
    first = next(record for record, document in destination.held.items() if document["identifier"] == ids[0])
    row = ledger.get(FILE.source)
    assert row is not None and row.status.value == "CREATED" and item_bytes(ledger, FILE.source) < MAX_ITEM_BYTES
    large = count * chars > MAX_MEMBERS_BYTES
    assert not large or count * chars > MAX_ITEM_BYTES  # the large case would not fit without the bound
    assert (row.members, row.members_total) == (((), count) if large else (tuple(ids), 0))

    export(ledger, destination, store, ids[1:], "00B")  # the first element is no longer exported
    assert destination.called("archive") == [first]
    gone = ledger.get(f"{FILE.source}#{ids[0]}")
    assert gone is not None and gone.status.value == "ARCHIVED"
    row = ledger.get(FILE.source)
    assert row is not None and row.member_count == count - 1 and "1 no longer exported archived" in row.reason
    assert item_bytes(ledger, FILE.source) < MAX_ITEM_BYTES

    export(ledger, destination, store, [*ids[1:], "new"], "00C")  # nothing else leaves: nothing else archived
    assert len(destination.called("archive")) == 1

    export(ledger, destination, store, [], "00D", event="ObjectRemoved:Delete")  # the file deleted: all archived
    assert len(destination.called("archive")) == count + 1  # the count - 1 left, and "new"
    assert destination.held == {} and destination.called("check") == []  # nothing was ever pending
    row = ledger.get(FILE.source)
    assert row is not None and row.status.value == "ARCHIVED" and f"its {count} datasets archived" in row.reason
