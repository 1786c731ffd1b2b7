"""The pipeline over in-memory ports: every branch of create/update/retry/record, no network."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.core.ledger import LedgerEntry
from hdr_ingest.core.outcome import Status
from hdr_ingest.core.ports import CredentialsError, ObjectReadError
from hdr_ingest.core.source_object import SourceObject
from hdr_ingest.destinations.hdruk.answers import transient
from hdr_ingest.destinations.hdruk.credentials import AppCredentials
from hdr_ingest.destinations.hdruk.schema_pack import SchemaPack, SchemaRef
from hdr_ingest.usecases.context import Budget, Delivery, RetryLater
from hdr_ingest.usecases.pipeline import IngestPipeline
from tests.fakes import VALID, Credentials, DeadLetters, Gateway, Ledger, Store, created, gateway_pipeline, updated

pytestmark = pytest.mark.unit

OBJ = SourceObject("bucket", "incoming/ds.json", etag="e1")


@dataclass
class World:
    pack: SchemaPack
    store: Store = field(default_factory=Store)
    ledger: Ledger = field(default_factory=Ledger)
    dlq: DeadLetters = field(default_factory=DeadLetters)
    credentials: Credentials = field(default_factory=lambda: Credentials([AppCredentials("app", "client")]))
    gateway: Gateway = field(default_factory=Gateway)
    sleeps: list[float] = field(default_factory=list)

    def pipeline(self, **settings: Any) -> IngestPipeline:
        return gateway_pipeline(
            self.pack,
            self.store,
            self.ledger,
            self.dlq,
            self.credentials,
            self.gateway,
            clock=lambda: datetime(2026, 11, 22, 6, 0, tzinfo=UTC),
            **settings,
        )

    def budget(self, remaining_ms: int = 60_000) -> Budget:
        return Budget(remaining_ms=lambda: remaining_ms, sleep=self.sleeps.append)


@pytest.fixture
def world(pack: SchemaPack) -> World:
    return World(pack)


def test_two_ledger_requests_per_object_lease_with_the_entry_then_outcome_ending_the_lease(world: World) -> None:
    """The lease is taken with the entry read in the same request, and the outcome write ends the lease: no
    separate read, no separate release."""
    world.gateway.creates = [created(7, 1)]
    world.pipeline().process(OBJ, Delivery(), world.budget())
    assert world.ledger.calls == ["acquire", "record"] and world.ledger.leases == {}
    world.ledger.calls.clear()
    assert world.pipeline().process(OBJ, Delivery(), world.budget()).status is Status.UNCHANGED
    assert world.ledger.calls == ["acquire", "record"] and world.ledger.leases == {}


def test_lease_released_when_no_outcome_was_recorded(world: World) -> None:
    """A stale event records nothing: the lease is given back with its own request."""
    world.gateway.creates = [created(7, 1)]
    newer = SourceObject("bucket", "incoming/ds.json", etag="e1", sequencer="00B")
    world.pipeline().process(newer, Delivery(), world.budget())
    world.ledger.calls.clear()
    older = SourceObject("bucket", "incoming/ds.json", etag="e0", sequencer="00A")
    world.pipeline().process(older, Delivery(), world.budget())
    assert world.ledger.calls == ["acquire", "release"] and world.ledger.leases == {}


def test_valid_document_is_created_and_recorded(world: World) -> None:
    world.gateway.creates = [created(7, 1)]
    outcome = world.pipeline().process(OBJ, Delivery(), world.budget())
    assert outcome.status is Status.CREATED and outcome.record_id == 7
    entry = world.ledger.items[OBJ.source]
    assert (entry.status, entry.record_id, entry.record_version) == (Status.CREATED, 7, 1)
    assert entry.schema == "HDRUK 4.0.0"
    assert entry.object_sha256 and entry.etag == "e1" and entry.updated_at == "2026-11-22T06:00:00.000Z"
    # never leased before, so nothing can exist to look up: created with the stable datasetid and the schema
    assert world.gateway.calls == [("create", (SchemaRef("HDRUK", "4.0.0"), OBJ.record_key, "app"))]
    assert world.dlq.messages == []


def test_same_bytes_again_is_unchanged_without_a_gateway_call(world: World) -> None:
    world.gateway.creates = [created(7, 1)]
    pipeline = world.pipeline()
    pipeline.process(OBJ, Delivery(), world.budget())
    calls = len(world.gateway.calls)
    outcome = pipeline.process(OBJ, Delivery(), world.budget())
    assert outcome.status is Status.UNCHANGED and outcome.record_id == 7
    assert len(world.gateway.calls) == calls


def test_a_same_bytes_unchanged_keeps_the_digests_so_a_reserialised_export_stays_unchanged(world: World) -> None:
    """Issue 13.4: the UNCHANGED item used to lose document_sha256, so the next re-serialised export was UPDATED."""
    world.gateway.creates = [created(7, 1)]
    pipeline = world.pipeline()
    pipeline.process(OBJ, Delivery(), world.budget())
    first = world.ledger.items[OBJ.source]
    assert pipeline.process(OBJ, Delivery(), world.budget()).status is Status.UNCHANGED  # the same bytes
    kept = world.ledger.items[OBJ.source]
    assert (kept.document_sha256, kept.object_sha256) == (first.document_sha256, first.object_sha256)
    world.store.data = json.dumps(json.loads(VALID), indent=2).encode()  # the same document, re-serialised
    outcome = pipeline.process(OBJ, Delivery(), world.budget())
    assert outcome.status is Status.UNCHANGED and [c[0] for c in world.gateway.calls] == ["create"]


def test_changed_document_updates_the_recorded_dataset(world: World) -> None:
    world.gateway.creates = [created(7, 1)]
    world.gateway.updates = [updated(7, 2)]
    pipeline = world.pipeline()
    pipeline.process(OBJ, Delivery(), world.budget())
    document = json.loads(VALID)
    document["summary"]["title"] = "A new title"
    world.store.data = json.dumps(document).encode()
    outcome = pipeline.process(OBJ, Delivery(), world.budget())
    assert (outcome.status, outcome.record_id, outcome.record_version) == (Status.UPDATED, 7, 2)
    assert world.gateway.calls[-1] == ("update", 7)


def test_lookup_new_sources_looks_up_before_a_first_create(world: World) -> None:
    """For a ledger newer than the Gateway's datasets (the local stack against a real Gateway): found, updated."""
    world.gateway.found = Answer(AnswerKind.SUCCESS, 200, "found", record_id=11, found=True)
    world.gateway.updates = [updated(11, 4)]
    outcome = world.pipeline(lookup_new_sources=True).process(OBJ, Delivery(), world.budget())
    assert (outcome.status, outcome.record_id) == (Status.UPDATED, 11)
    assert [c[0] for c in world.gateway.calls] == ["find", "update"]


def test_dataset_found_by_lookup_is_updated_not_duplicated(world: World) -> None:
    world.ledger.keys.add(OBJ.source)  # an earlier lease's item, with no outcome: it crashed after creating
    world.gateway.found = Answer(AnswerKind.SUCCESS, 200, "found", record_id=11, found=True)
    world.gateway.updates = [updated(11, 4)]
    outcome = world.pipeline().process(OBJ, Delivery(), world.budget())
    assert (outcome.status, outcome.record_id) == (Status.UPDATED, 11)
    assert [c[0] for c in world.gateway.calls] == ["find", "update"]


def test_invalid_document_is_recorded_with_every_error_and_dead_lettered(world: World) -> None:
    document = json.loads(VALID)
    del document["summary"]["title"]
    del document["identifier"]
    world.store.data = json.dumps(document).encode()
    original = {"Records": [{"eventSource": "aws:s3"}]}
    outcome = world.pipeline(target_schema=SchemaRef("HDRUK", "4.0.0")).process(
        OBJ, Delivery(receive_count=1, final=False, original=original), world.budget()
    )
    assert outcome.status is Status.INVALID
    assert {e.path for e in outcome.errors} == {"$.summary.title", "$.identifier"}
    entry = world.ledger.items[OBJ.source]
    assert entry.status is Status.INVALID and entry.errors_total == 2
    (message,) = world.dlq.messages
    assert message["status"] == "INVALID" and message["source"] == OBJ.source
    assert {e["path"] for e in message["errors"]} == {"$.summary.title", "$.identifier"}
    assert message["event"] == original
    assert "HDRUK 4.0.0" in message["reason"]
    assert world.gateway.calls == []


def test_unparseable_object_is_invalid(world: World) -> None:
    world.store.data = b"not json"
    outcome = world.pipeline().process(OBJ, Delivery(), world.budget())
    assert outcome.status is Status.INVALID and "not valid JSON" in outcome.reason
    assert len(world.dlq.messages) == 1


def test_oversized_object_is_invalid(world: World) -> None:
    world.store.data = ObjectReadError("s3://bucket/incoming/ds.json is 11000000 bytes, over the limit", False)
    outcome = world.pipeline().process(OBJ, Delivery(), world.budget())
    assert outcome.status is Status.INVALID and "over the limit" in outcome.reason


def test_non_json_key_is_invalid(world: World) -> None:
    outcome = world.pipeline().process(SourceObject("bucket", "incoming/notes.txt"), Delivery(), world.budget())
    assert outcome.status is Status.INVALID and "not a .json object" in outcome.reason


def test_500_then_201_is_created_after_a_backoff(world: World) -> None:
    world.gateway.creates = [Answer(AnswerKind.TRANSIENT, 500, "boom"), created()]
    outcome = world.pipeline().process(OBJ, Delivery(), world.budget())
    assert outcome.status is Status.CREATED
    assert len(world.sleeps) == 1 and 0.25 <= world.sleeps[0] <= 0.75


def test_transient_failure_before_the_last_delivery_is_retried_by_sqs(world: World) -> None:
    world.gateway.creates = [transient("timed out")] * 3
    with pytest.raises(RetryLater) as caught:
        world.pipeline().process(OBJ, Delivery(receive_count=2, final=False), world.budget())
    assert caught.value.outcome.status is Status.RETRYING
    entry = world.ledger.items[OBJ.source]
    assert (entry.status, entry.attempts) == (Status.RETRYING, 2)
    assert world.dlq.messages == []
    assert len(world.sleeps) == 2  # three attempts, two backoffs


def test_transient_failure_on_the_last_delivery_is_failed_and_dead_lettered(world: World) -> None:
    world.gateway.creates = [Answer(AnswerKind.TRANSIENT, 500, "The Gateway failed (HTTP 500)")] * 3
    outcome = world.pipeline().process(OBJ, Delivery(receive_count=5, final=True), world.budget())
    assert outcome.status is Status.FAILED and "Gave up after 5 deliveries" in outcome.reason
    assert world.ledger.items[OBJ.source].http_status == 500
    assert world.dlq.messages[0]["status"] == "FAILED"


def test_no_retry_when_the_invocation_is_nearly_over(world: World) -> None:
    world.gateway.creates = [transient("timed out")]
    with pytest.raises(RetryLater):
        world.pipeline().process(OBJ, Delivery(final=False), world.budget(remaining_ms=9_000))
    assert world.sleeps == []
    assert [c[0] for c in world.gateway.calls] == ["create"]


def test_401_fetches_the_credentials_again_once(world: World) -> None:
    world.credentials = Credentials([AppCredentials("old", "c"), AppCredentials("new", "c")])
    world.gateway.creates = [
        Answer(AnswerKind.UNAUTHORISED, 401, "The credentials provided are invalid"),
        created(),
    ]
    outcome = world.pipeline().process(OBJ, Delivery(), world.budget())
    assert outcome.status is Status.CREATED
    assert world.credentials.refreshes == 1
    assert [c[1][2] for c in world.gateway.calls if c[0] == "create"] == ["old", "new"]


def test_401_twice_is_rejected_with_the_operator_message(world: World) -> None:
    world.credentials = Credentials([AppCredentials("a", "c"), AppCredentials("a", "c")])
    message = "The credentials provided are invalid: The client_id in the secret does not belong to the app_id."
    world.gateway.creates = [Answer(AnswerKind.UNAUTHORISED, 401, message)] * 2
    outcome = world.pipeline().process(OBJ, Delivery(final=False), world.budget())
    assert outcome.status is Status.REJECTED and outcome.http_status == 401
    assert "client_id" in outcome.reason
    assert world.dlq.messages[0]["status"] == "REJECTED"


def test_metadata_rejected_by_the_gateway(world: World) -> None:
    world.gateway.creates = [Answer(AnswerKind.METADATA_REJECTED, 400, "The Gateway's validator rejected it")]
    outcome = world.pipeline().process(OBJ, Delivery(final=False), world.budget())
    assert outcome.status is Status.REJECTED and world.dlq.messages


def test_unreadable_secret_is_retried_then_failed(world: World) -> None:
    world.credentials = Credentials([CredentialsError("secret 'x' lacks client_id")])
    with pytest.raises(RetryLater) as caught:
        world.pipeline().process(OBJ, Delivery(final=False), world.budget())
    assert "lacks client_id" in caught.value.outcome.reason
    outcome = world.pipeline().process(OBJ, Delivery(receive_count=5, final=True), world.budget())
    assert outcome.status is Status.FAILED


def test_update_of_a_dataset_deleted_on_the_gateway_creates_a_new_one(world: World) -> None:
    world.ledger.record(
        LedgerEntry(
            OBJ.source, Status.CREATED, "", "bucket", OBJ.key, OBJ.record_key, "t", record_id=3, object_sha256="old"
        )
    )
    world.gateway.updates = [Answer(AnswerKind.NOT_FOUND, 500, "gone")]
    world.gateway.creates = [created(9, 1)]
    outcome = world.pipeline().process(OBJ, Delivery(), world.budget())
    assert (outcome.status, outcome.record_id) == (Status.CREATED, 9)


def test_failed_re_export_keeps_the_published_dataset_id(world: World) -> None:
    world.ledger.record(
        LedgerEntry(
            OBJ.source,
            Status.CREATED,
            "",
            "bucket",
            OBJ.key,
            OBJ.record_key,
            "t",
            record_id=3,
            record_version=1,
            object_sha256="old",
        )
    )
    world.store.data = b"{broken"
    world.pipeline().process(OBJ, Delivery(), world.budget())
    entry = world.ledger.items[OBJ.source]
    assert (entry.status, entry.record_id) == (Status.INVALID, 3)


def test_transient_object_read_error_is_retried(world: World) -> None:
    world.store.data = ObjectReadError("could not read (SlowDown); will retry.", True)
    with pytest.raises(RetryLater):
        world.pipeline().process(OBJ, Delivery(final=False), world.budget())
