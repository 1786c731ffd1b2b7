"""Issue: exactly one Gateway dataset per source, always current. The pipeline over a stateful fake Gateway."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.core.outcome import Status
from hdr_ingest.core.ports import StoredObject
from hdr_ingest.core.source_object import SourceObject
from hdr_ingest.destinations.hdruk.credentials import AppCredentials
from hdr_ingest.destinations.hdruk.destination import HdrukDestination
from hdr_ingest.destinations.hdruk.schema_pack import SchemaPack, SchemaRef
from hdr_ingest.usecases.context import Budget, Delivery, RetryLater
from hdr_ingest.usecases.pipeline import IngestPipeline
from tests.conftest import example
from tests.fakes import Credentials, DeadLetters, Ledger, gateway_pipeline

pytestmark = pytest.mark.unit

DOC = example("schemata/HDRUK/4.0.0/docs.example.json")


@dataclass
class FakeGateway:
    """Datasets by id, with the Gateway's rules: PUT overwrites and bumps the version, DELETE archives."""

    datasets: dict[int, dict[str, Any]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def _ok(self, status: int, dataset_id: int) -> Answer:
        d = self.datasets[dataset_id]
        return Answer(AnswerKind.SUCCESS, status, "ok", record_id=dataset_id, record_version=d["version"])

    def create(
        self, document: dict[str, Any], schema: SchemaRef | None, datasetid: str, c: Any, t: float, **_: Any
    ) -> Any:
        self.calls.append("create")
        new_id = len(self.datasets) + 1
        self.datasets[new_id] = {"datasetid": datasetid, "version": 1, "archived": False, "doc": document}
        return self._ok(201, new_id)

    def update(
        self, dataset_id: int, document: dict[str, Any], schema: SchemaRef | None, c: Any, t: float, **_: Any
    ) -> Any:
        self.calls.append("update")
        d = self.datasets.get(dataset_id)
        if d is None or d["archived"]:
            return Answer(AnswerKind.NOT_FOUND, 500, "No query results for model")
        d["version"] += 1
        d["doc"] = document
        return self._ok(200, dataset_id)

    def find(self, datasetid: str, c: Any, t: float, **_: Any) -> Answer:
        self.calls.append("find")
        for dataset_id, d in self.datasets.items():
            if d["datasetid"] == datasetid:
                return Answer(
                    AnswerKind.SUCCESS,
                    200,
                    "x",
                    record_id=dataset_id,
                    found=not d["archived"],
                    record_version=d["version"],
                )
        return Answer(AnswerKind.SUCCESS, 200, "not found")

    def archive(self, dataset_id: int, c: Any, t: float, **_: Any) -> Answer:
        self.calls.append("archive")
        self.datasets[dataset_id]["archived"] = True
        return Answer(AnswerKind.SUCCESS, 200, "success")

    def unarchive(self, dataset_id: int, c: Any, t: float, **_: Any) -> Answer:
        self.calls.append("unarchive")
        self.datasets[dataset_id]["archived"] = False
        return Answer(AnswerKind.SUCCESS, 200, "success")

    def per_datasetid(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for d in self.datasets.values():
            counts[d["datasetid"]] = counts.get(d["datasetid"], 0) + 1
        return counts


class Store:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def read(self, obj: SourceObject, max_bytes: int) -> StoredObject:
        return StoredObject(self.objects[obj.key])


@dataclass
class World:
    pack: SchemaPack
    archive_on_delete: bool = False
    store: Store = field(default_factory=Store)
    ledger: Ledger = field(default_factory=Ledger)
    dlq: DeadLetters = field(default_factory=DeadLetters)
    gateway: FakeGateway = field(default_factory=FakeGateway)

    def pipeline(self) -> IngestPipeline:
        return gateway_pipeline(
            self.pack,
            self.store,
            self.ledger,
            self.dlq,
            Credentials([AppCredentials("a", "c")]),
            self.gateway,
            clock=lambda: datetime(2026, 11, 22, tzinfo=UTC),
            archive_on_delete=self.archive_on_delete,
        )

    def drop(self, key: str, body: Any, sequencer: str | None = None, raw: bytes | None = None) -> Any:
        self.store.objects[key] = raw if raw is not None else json.dumps(body).encode()
        obj = SourceObject("bucket", key, sequencer=sequencer)
        return self.pipeline().process(obj, Delivery(), Budget(sleep=lambda s: None))

    def delete(self, key: str, sequencer: str | None = None) -> Any:
        obj = SourceObject("bucket", key, event_name="ObjectRemoved:Delete", sequencer=sequencer)
        return self.pipeline().process(obj, Delivery(), Budget())


@pytest.fixture
def world(pack: SchemaPack) -> World:
    return World(pack)


def titled(title: str, identifier: str | None = None) -> dict[str, Any]:
    document = copy.deepcopy(DOC)
    document["summary"]["title"] = title
    if identifier is not None:
        document["identifier"] = f"https://example.org/{identifier}"
    return document


def test_same_file_three_times_is_one_dataset(world: World) -> None:
    statuses = [world.drop("incoming/a.json", DOC).status for _ in range(3)]
    assert statuses == [Status.CREATED, Status.UNCHANGED, Status.UNCHANGED]
    assert len(world.gateway.datasets) == 1
    assert world.gateway.calls == ["create"]  # a first publish: no lookup


def test_same_document_serialised_differently_is_unchanged(world: World) -> None:
    world.drop("incoming/a.json", DOC)
    outcome = world.drop("incoming/a.json", None, raw=json.dumps(DOC, indent=4, sort_keys=True).encode())
    assert outcome.status is Status.UNCHANGED
    assert world.gateway.calls == ["create"]


def test_changed_export_updates_with_a_higher_version(world: World) -> None:
    world.drop("incoming/a.json", DOC)
    outcome = world.drop("incoming/a.json", titled("Renamed"))
    assert (outcome.status, outcome.record_id, outcome.record_version) == (Status.UPDATED, 1, 2)
    assert world.gateway.datasets[1]["doc"]["summary"]["title"] == "Renamed"


def test_lost_ledger_write_is_found_by_lookup(world: World) -> None:
    world.drop("incoming/a.json", DOC)
    world.ledger.items.clear()  # the outcome's write after the POST was lost (the lease's item stays)
    outcome = world.drop("incoming/a.json", titled("Again"))
    assert (outcome.status, outcome.record_id) == (Status.UPDATED, 1)
    assert world.gateway.per_datasetid() == {SourceObject("bucket", "incoming/a.json").record_key: 1}


class Crash(BaseException):
    """The invocation dies where it is (a timeout, an out-of-memory kill): no handler of ours catches it."""


@dataclass
class CreatesThenFails(FakeGateway):
    """Its first create takes effect, then answers ``answer`` (None: the invocation dies at that point)."""

    answer: Answer | None = None
    failed: bool = False

    def create(self, *args: Any, **kwargs: Any) -> Any:
        created = super().create(*args, **kwargs)
        if self.failed:
            return created
        self.failed = True
        if self.answer is None:
            raise Crash
        return self.answer


def test_a_first_publish_sends_no_lookup_but_its_retries_do(world: World) -> None:
    """A source never leased before has nothing on the Gateway: it is created at once. A create that answered
    500 after taking effect is looked up before the next try, so the retry updates it."""
    world.gateway = CreatesThenFails(answer=Answer(AnswerKind.TRANSIENT, 500, "Server Error"))
    outcome = world.drop("incoming/a.json", DOC)
    assert world.gateway.calls == ["create", "find", "update"]
    assert (outcome.status, outcome.record_id) == (Status.UPDATED, 1) and len(world.gateway.datasets) == 1


def test_a_create_without_an_answer_is_looked_up_and_never_sent_again(world: World) -> None:
    world.gateway = CreatesThenFails(answer=Answer(AnswerKind.TRANSIENT, None, "read timed out"))
    assert world.drop("incoming/a.json", DOC).status is Status.UPDATED
    assert world.gateway.calls == ["create", "find", "update"] and len(world.gateway.datasets) == 1


@pytest.mark.parametrize("lease_left", [True, False], ids=["lease-expired", "lease-released"])
def test_a_crash_after_the_first_create_is_found_on_redelivery(world: World, lease_left: bool) -> None:
    """The lease's item is written before the create, so the redelivery is not a first publish: it looks the
    dataset up and updates it, whether the crash left the lease to expire or it was released."""
    world.gateway = CreatesThenFails()
    source = SourceObject("bucket", "incoming/a.json").source
    if lease_left:  # a killed invocation runs nothing more: its lease stays until it expires
        world.ledger.release = lambda source, owner: None  # type: ignore[method-assign]
    with pytest.raises(Crash):
        world.drop("incoming/a.json", DOC)
    assert source not in world.ledger.items and len(world.gateway.datasets) == 1
    if lease_left:
        world.ledger.leases[source] = ("crashed-invocation", 0.0)  # expired
    else:
        assert source not in world.ledger.leases
    outcome = world.drop("incoming/a.json", DOC)
    assert (outcome.status, outcome.record_id) == (Status.UPDATED, 1)
    assert world.gateway.calls == ["create", "find", "update"] and len(world.gateway.datasets) == 1


def test_every_later_publish_of_a_source_that_had_an_outcome_looks_up_first(world: World) -> None:
    """An INVALID or RETRYING outcome is an item: the next drop is no first publish, whatever it recorded."""
    bad = titled("Bad")
    del bad["summary"]["title"]
    assert world.drop("incoming/a.json", bad).status is Status.INVALID
    assert world.drop("incoming/a.json", DOC).status is Status.CREATED
    assert world.gateway.calls == ["find", "create"]


def test_concurrent_delivery_of_one_source_is_held_off(world: World) -> None:
    source = SourceObject("bucket", "incoming/a.json").source
    assert world.ledger.acquire(source, "other-invocation", 2e9, 1.7e9)
    with pytest.raises(RetryLater, match="being processed by another invocation"):
        world.drop("incoming/a.json", DOC)
    assert world.gateway.calls == []
    world.ledger.release(source, "other-invocation")
    assert world.drop("incoming/a.json", DOC).status is Status.CREATED


def test_expired_lease_is_taken_over(world: World) -> None:
    source = SourceObject("bucket", "incoming/a.json").source
    world.ledger.acquire(source, "crashed-invocation", 1.0, 0.0)  # expired long ago
    assert world.drop("incoming/a.json", DOC).status is Status.CREATED


def test_older_event_never_overwrites_newer_state(world: World) -> None:
    world.drop("incoming/a.json", titled("Newest"), sequencer="0062E5A1B2C3D4E5F6")
    outcome = world.drop("incoming/a.json", titled("Oldest"), sequencer="0062E5A1B2C3D4E5F0")
    assert "older than the one already processed" in outcome.reason
    assert world.gateway.datasets[1]["doc"]["summary"]["title"] == "Newest"
    entry = world.ledger.items["s3://bucket/incoming/a.json"]
    assert entry.sequencer == "0062E5A1B2C3D4E5F6" and entry.status is Status.CREATED


def test_sequencers_of_different_length_compare_as_padded_hex(world: World) -> None:
    assert SourceObject("b", "k", sequencer="0100").newer_than("FF") is True
    assert SourceObject("b", "k", sequencer="FF").newer_than("0100") is False
    assert SourceObject("b", "k").newer_than("FF") is None


def test_delete_is_ignored_unless_enabled(world: World) -> None:
    world.drop("incoming/a.json", DOC)
    world.delete("incoming/a.json")
    assert world.gateway.datasets[1]["archived"] is False
    assert world.ledger.items["s3://bucket/incoming/a.json"].status is Status.CREATED


def test_delete_archives_and_reupload_restores_the_same_dataset(world: World) -> None:
    world.archive_on_delete = True
    world.drop("incoming/a.json", DOC, sequencer="01")
    assert world.delete("incoming/a.json", sequencer="02").status is Status.ARCHIVED
    assert world.gateway.datasets[1]["archived"] is True
    entry = world.ledger.items["s3://bucket/incoming/a.json"]
    assert (entry.status, entry.record_id) == (Status.ARCHIVED, 1)
    # an older create arriving late does not resurrect it
    world.drop("incoming/a.json", DOC, sequencer="01")
    assert world.gateway.datasets[1]["archived"] is True
    # a re-upload brings back the same Gateway dataset, updated
    outcome = world.drop("incoming/a.json", DOC, sequencer="03")
    assert (outcome.status, outcome.record_id) == (Status.UPDATED, 1)
    assert world.gateway.datasets[1]["archived"] is False and len(world.gateway.datasets) == 1
    assert world.gateway.calls[-2:] == ["unarchive", "update"]


def test_delete_of_a_never_published_object(world: World) -> None:
    world.archive_on_delete = True
    outcome = world.delete("incoming/never.json")
    assert outcome.status is Status.ARCHIVED and "No Gateway dataset to archive" in outcome.reason


def test_catalogue_publishes_one_dataset_per_element(world: World) -> None:
    world.archive_on_delete = True
    first = [titled("Dataset A", "id-a"), titled("Dataset B", "id-b"), titled("Dataset C", "id-c")]
    parent = world.drop("incoming/catalogue.json", first)
    assert parent.status is Status.CREATED and "3 created" in parent.reason
    sources = {s: e.status for s, e in world.ledger.items.items()}
    assert sources == {
        "s3://bucket/incoming/catalogue.json": Status.CREATED,
        "s3://bucket/incoming/catalogue.json#https://example.org/id-a": Status.CREATED,
        "s3://bucket/incoming/catalogue.json#https://example.org/id-b": Status.CREATED,
        "s3://bucket/incoming/catalogue.json#https://example.org/id-c": Status.CREATED,
    }
    assert world.ledger.items["s3://bucket/incoming/catalogue.json"].members == (
        "https://example.org/id-a",
        "https://example.org/id-b",
        "https://example.org/id-c",
    )

    # next export: A unchanged, B changed, C removed, D added (and in a different order)
    second = [titled("Dataset D", "id-d"), titled("Dataset B2", "id-b"), titled("Dataset A", "id-a")]
    parent = world.drop("incoming/catalogue.json", second)
    assert parent.status is Status.UPDATED
    status = {s.split("/")[-1]: e.status for s, e in world.ledger.items.items() if "#" in s}
    assert status == {"id-a": Status.UNCHANGED, "id-b": Status.UPDATED, "id-c": Status.ARCHIVED, "id-d": Status.CREATED}
    said = "3 of 3 elements published (1 created, 1 updated, 1 unchanged); 1 no longer exported archived"
    assert said in parent.reason
    assert all(n == 1 for n in world.gateway.per_datasetid().values())
    assert len(world.gateway.datasets) == 4


def test_catalogue_element_without_identifier_is_invalid_alone(world: World) -> None:
    no_id = titled("No id")
    del no_id["identifier"]
    parent = world.drop("incoming/catalogue.json", [titled("Dataset A", "id-a"), no_id])
    assert world.ledger.items["s3://bucket/incoming/catalogue.json#https://example.org/id-a"].status is Status.CREATED
    invalid = world.ledger.items["s3://bucket/incoming/catalogue.json#[1]"]
    assert invalid.status is Status.INVALID and "has no identifier" in invalid.reason
    assert [m["source"] for m in world.dlq.messages] == ["s3://bucket/incoming/catalogue.json#[1]"]
    assert "1 of 2 elements published (1 created); 1 INVALID" in parent.reason and parent.errors[0].path == "$[1]"


def test_catalogue_deleted_archives_every_member(world: World) -> None:
    world.archive_on_delete = True
    world.drop("incoming/catalogue.json", [titled("Dataset A", "id-a"), titled("Dataset B", "id-b")])
    world.delete("incoming/catalogue.json")
    assert all(d["archived"] for d in world.gateway.datasets.values())
    assert world.ledger.items["s3://bucket/incoming/catalogue.json"].status is Status.ARCHIVED


def test_ledger_is_rebuilt_from_the_gateway(world: World) -> None:
    from hdr_ingest.usecases.rebuild_ledger import rebuild_ledger, sources_of

    world.archive_on_delete = True
    world.drop("incoming/single.json", DOC)
    world.drop("incoming/catalogue.json", [titled("Dataset A", "a"), titled("Dataset B", "b")])
    world.drop("incoming/gone.json", titled("Deleted later"))
    world.delete("incoming/gone.json")
    world.ledger.items.clear()  # the table emptied: not one item left
    world.ledger.keys.clear()
    world.store.objects["incoming/new.json"] = json.dumps(titled("Never published")).encode()
    objects = [
        SourceObject("bucket", k)
        for k in ("incoming/single.json", "incoming/catalogue.json", "incoming/gone.json", "incoming/new.json")
    ]
    destination = HdrukDestination("https://gateway.test/api/v1", world.gateway, lambda: world.pack)
    lines = rebuild_ledger(sources_of(objects, world.store), world.ledger, destination, AppCredentials("a", "c"))
    by_source = {line.source: line.status for line in lines}
    assert by_source == {
        "s3://bucket/incoming/single.json": "CREATED",
        "s3://bucket/incoming/catalogue.json": "NOT_ON_GATEWAY",
        "s3://bucket/incoming/catalogue.json#https://example.org/a": "CREATED",
        "s3://bucket/incoming/catalogue.json#https://example.org/b": "CREATED",
        "s3://bucket/incoming/gone.json": "ARCHIVED",
        "s3://bucket/incoming/new.json": "NOT_ON_GATEWAY",
    }
    calls = len(world.gateway.calls)
    # the next drop of a rebuilt source updates its dataset: no duplicate
    assert world.drop("incoming/single.json", titled("Updated after rebuild")).status is Status.UPDATED
    assert world.gateway.calls[calls:] == ["update"]
    assert len(world.gateway.datasets) == 4
