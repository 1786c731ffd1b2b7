"""The object's read beside the lease write (``IngestPipeline(background=...)``): the two waits overlap, and
every outcome stays what it is when the object is read after the lease."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from hdr_ingest.core.ledger import Lease
from hdr_ingest.core.outcome import Status
from hdr_ingest.core.ports import ObjectReadError, StoredObject
from hdr_ingest.core.source_object import SourceObject
from hdr_ingest.destinations.hdruk.credentials import AppCredentials
from hdr_ingest.destinations.hdruk.schema_pack import SchemaPack
from hdr_ingest.usecases.context import Budget, Delivery, RetryLater
from hdr_ingest.usecases.pipeline import IngestPipeline
from tests.fakes import VALID, Credentials, DeadLetters, Gateway, Ledger, Store, created, gateway_pipeline

pytestmark = pytest.mark.unit

OBJ = SourceObject("bucket", "incoming/ds.json", etag="e1")
WAIT_S = 30  # only a broken overlap waits this long (then the test fails, it does not hang)


class CountingStore(Store):
    """The store, counting its reads, and telling ``started`` when one begins."""

    def __init__(self, data: bytes | Exception = VALID) -> None:
        super().__init__(data)
        self.reads = 0
        self.started = threading.Event()

    def read(self, obj: SourceObject, max_bytes: int) -> StoredObject:
        self.reads += 1
        self.started.set()
        return super().read(obj, max_bytes)


class WaitingLedger(Ledger):
    """A ledger whose lease write waits until the object's read has begun (as a slow DynamoDB would let it)."""

    def __init__(self, store: CountingStore) -> None:
        super().__init__()
        self.store = store
        self.read_began_first: bool | None = None

    def acquire(self, source: str, owner: str, until_epoch: float, now_epoch: float) -> Lease | None:
        self.read_began_first = self.store.started.wait(WAIT_S)
        return super().acquire(source, owner, until_epoch, now_epoch)


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=2) as executor:
        yield executor


def pipeline(pack: SchemaPack, store: Any, ledger: Any, gateway: Gateway, background: Any) -> IngestPipeline:
    return gateway_pipeline(
        pack,
        store,
        ledger,
        DeadLetters(),
        Credentials([AppCredentials("app", "client")]),
        gateway,
        clock=lambda: datetime(2026, 12, 5, 6, 0, tzinfo=UTC),
        background=background,
    )


def test_the_read_runs_while_the_lease_is_written(pack: SchemaPack, pool: ThreadPoolExecutor) -> None:
    store = CountingStore()
    ledger = WaitingLedger(store)
    gateway = Gateway(creates=[created(7, 1)])
    outcome = pipeline(pack, store, ledger, gateway, pool).process(OBJ, Delivery(), Budget())
    assert ledger.read_began_first is True  # the lease write was still waiting when the read began
    assert outcome.status is Status.CREATED and store.reads == 1
    assert ledger.items[OBJ.source].object_sha256  # recorded from the bytes read ahead


def test_without_a_background_the_read_follows_the_lease(pack: SchemaPack) -> None:
    store = CountingStore()
    order: list[str] = []

    class Ordered(Ledger):
        def acquire(self, source: str, owner: str, until_epoch: float, now_epoch: float) -> Lease | None:
            order.append(f"lease (read began: {store.started.is_set()})")
            return super().acquire(source, owner, until_epoch, now_epoch)

    outcome = pipeline(pack, store, Ordered(), Gateway(creates=[created(7, 1)]), None).process(
        OBJ, Delivery(), Budget()
    )
    assert outcome.status is Status.CREATED and order == ["lease (read began: False)"] and store.reads == 1


def test_a_lease_held_elsewhere_publishes_nothing_from_the_read(pack: SchemaPack, pool: ThreadPoolExecutor) -> None:
    ledger, gateway = Ledger(), Gateway()
    ledger.leases[OBJ.source] = ("another invocation", datetime(2027, 1, 1, tzinfo=UTC).timestamp())
    with pytest.raises(RetryLater) as caught:
        pipeline(pack, CountingStore(), ledger, gateway, pool).process(OBJ, Delivery(final=False), Budget())
    assert "being processed by another invocation" in caught.value.outcome.reason
    assert gateway.calls == [] and ledger.items == {}


@pytest.mark.parametrize(
    ("failure", "status"),
    [
        (ObjectReadError("s3://bucket/incoming/ds.json no longer exists", transient=False), Status.INVALID),
        (ObjectReadError("could not read s3://bucket/incoming/ds.json; will retry.", transient=True), Status.FAILED),
    ],
)
def test_a_failed_read_ahead_ends_as_a_failed_read_after_the_lease(
    pack: SchemaPack, pool: ThreadPoolExecutor, failure: ObjectReadError, status: Status
) -> None:
    outcomes = []
    for background in (None, pool):
        ledger = Ledger()
        outcome = pipeline(pack, CountingStore(failure), ledger, Gateway(), background).process(
            OBJ, Delivery(final=True), Budget()
        )
        outcomes.append((outcome.status, outcome.reason, ledger.items[OBJ.source].status))
    assert outcomes[0] == outcomes[1] and outcomes[0][0] is status and str(failure) in outcomes[0][1]


def test_an_object_not_named_json_is_never_read(pack: SchemaPack, pool: ThreadPoolExecutor) -> None:
    store = CountingStore()
    notes = SourceObject("bucket", "incoming/notes.txt")
    outcome = pipeline(pack, store, Ledger(), Gateway(), pool).process(notes, Delivery(), Budget())
    assert outcome.status is Status.INVALID and "not a .json object" in outcome.reason and store.reads == 0


def test_a_stale_event_read_ahead_records_nothing(pack: SchemaPack, pool: ThreadPoolExecutor) -> None:
    ledger, gateway = Ledger(), Gateway(creates=[created(7, 1)])
    newer = SourceObject("bucket", "incoming/ds.json", etag="e1", sequencer="00B")
    pipeline(pack, CountingStore(), ledger, gateway, pool).process(newer, Delivery(), Budget())
    kept = ledger.items[OBJ.source]
    older = SourceObject("bucket", "incoming/ds.json", etag="e0", sequencer="00A")
    pipeline(pack, CountingStore(), ledger, gateway, pool).process(older, Delivery(), Budget())
    assert ledger.items[OBJ.source] == kept and [call[0] for call in gateway.calls] == ["create"]
