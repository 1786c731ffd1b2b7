"""The last line of defence: an error nothing classified still ends in a ledger item with a status and a reason,
and when the ledger refuses the full item, a minimal one that says why."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from hdr_ingest.core.ledger import LedgerEntry
from hdr_ingest.core.outcome import Status
from hdr_ingest.core.source_object import SourceObject
from hdr_ingest.usecases.context import Budget, Delivery, RetryLater
from tests.fakes import Credentials, DeadLetters, Gateway, Ledger, Store, gateway_pipeline

pytestmark = pytest.mark.unit

OBJ = SourceObject("bucket", "incoming/ds.json")


class PickyLedger(Ledger):
    """Refuses the full record of an unexpected failure (as DynamoDB refuses an item it cannot store); takes the
    minimal one, which carries no digest."""

    def record(self, entry: LedgerEntry, owner: str | None = None) -> None:
        if "Unexpected" in entry.reason and entry.object_sha256 is not None:
            raise RuntimeError("ValidationException: Item size has exceeded the maximum allowed size")
        super().record(entry, owner)


class ExplodingGateway(Gateway):
    """Its client breaks on the first call it gets: a create on a first publish, a lookup after that."""

    def find(self, datasetid: str, credentials: Any, read_timeout_s: float, **_: Any) -> Any:
        raise KeyError("data")

    def create(self, *args: Any, **_: Any) -> Any:
        raise KeyError("data")


def pipeline(pack: Any, ledger: Ledger, dlq: DeadLetters, gateway: Gateway) -> Any:
    from hdr_ingest.destinations.hdruk.credentials import AppCredentials

    return gateway_pipeline(
        pack,
        Store(json.dumps({"title": "not even HDR UK"}).encode()),
        ledger,
        dlq,
        Credentials([AppCredentials("app", "client")]),
        gateway,
        clock=lambda: datetime(2026, 11, 30, tzinfo=UTC),
        validation_mode="strict",
    )


def test_an_unclassified_error_is_retried_with_its_type_then_failed(pack: Any) -> None:
    from tests.conftest import example

    ledger, dlq = Ledger(), DeadLetters()
    store_doc = json.dumps(example("schemata/HDRUK/4.0.0/docs.example.json")).encode()
    run = pipeline(pack, ledger, dlq, ExplodingGateway())
    run.store = Store(store_doc)
    with pytest.raises(RetryLater):
        run.process(OBJ, Delivery(receive_count=1, final=False), Budget(lambda: 60_000))
    assert ledger.items[OBJ.source].status is Status.RETRYING
    assert ledger.items[OBJ.source].reason == "Unexpected failure (KeyError: 'data'); will retry."
    outcome = run.process(OBJ, Delivery(receive_count=2, final=True), Budget(lambda: 60_000))
    assert outcome.status is Status.FAILED and [m["status"] for m in dlq.messages] == ["FAILED"]
    assert ledger.leases == {}


def test_a_refused_item_is_replaced_by_a_minimal_one(pack: Any) -> None:
    from tests.conftest import example

    ledger, dlq = PickyLedger(), DeadLetters()
    gateway = ExplodingGateway()
    run = pipeline(pack, ledger, dlq, gateway)
    run.store = Store(json.dumps(example("schemata/HDRUK/4.0.0/docs.example.json")).encode())
    outcome = run.process(OBJ, Delivery(receive_count=3, final=True), Budget(lambda: 60_000))
    entry = ledger.items[OBJ.source]
    assert outcome.status is Status.FAILED and entry.status is Status.FAILED and "KeyError" in entry.reason
    assert entry.object_sha256 is None and entry.destination == {"kind": "hdruk", "url": "https://gateway.test/api/v1"}
    assert [m["status"] for m in dlq.messages] == ["FAILED"]
