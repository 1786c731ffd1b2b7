"""What the use cases share about one object in flight: its delivery, the time left, its lease and its route."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hdr_ingest.core import defaults
from hdr_ingest.core.ledger import LedgerEntry
from hdr_ingest.core.outcome import Outcome
from hdr_ingest.core.ports import StoredObject
from hdr_ingest.core.routing import Route
from hdr_ingest.core.source_object import SourceObject

if TYPE_CHECKING:
    from concurrent.futures import Future


@dataclass
class Budget:
    """How much of the invocation is left. Work stops ``margin_ms`` before the end so outcomes get recorded."""

    remaining_ms: Callable[[], int] = lambda: 900_000
    sleep: Callable[[float], None] = time.sleep
    margin_ms: int = 5_000

    def left_s(self) -> float:
        return max(0.0, (self.remaining_ms() - self.margin_ms) / 1000)


@dataclass(frozen=True)
class Delivery:
    """How the object reached us: the SQS receive count, whether this is the last delivery SQS will
    make, and the original event (kept in dead letters so a replay can reprocess it)."""

    receive_count: int = 1
    final: bool = True
    original: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class PipelineSettings:
    max_object_bytes: int
    max_attempts: int = defaults.MAX_ATTEMPTS  # calls to the destination per delivery, for transient failures
    read_timeout_s: float = defaults.READ_TIMEOUT_S
    backoff_base_s: float = 0.5
    archive_on_delete: bool = False
    catalogue_id_pointer: str | None = None
    # Look a record up before every create, a source the ledger never held included (``LOOKUP_NEW_SOURCES``): for a
    # ledger that is newer than the records on the destination and cannot be rebuilt first.
    lookup_new_sources: bool = False
    # A catalogue element is started only while at least this much of the invocation is left; the rest waits for
    # the next delivery (one element: a lease, the calls to the destination, the outcome's write).
    element_time_ms: int = 10_000


class RetryLater(Exception):
    """A transient failure on a delivery that is not the last: SQS should deliver the record again."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


@dataclass
class Work:
    """One source in flight, under its lease: ``previous`` is its ledger entry when the lease was taken."""

    obj: SourceObject
    route: Route | None  # None: the object is under no route
    delivery: Delivery
    budget: Budget
    owner: str
    previous: LedgerEntry | None
    first: bool = False  # the ledger had no item for the source before this lease (``core.ledger.Lease.first``)
    recorded: bool = False  # the outcome is written (which ended the lease)
    record_refused: bool = False  # the ledger refused to write an outcome
    stored: StoredObject | None = None
    read_ahead: Future[StoredObject] | None = None  # the object's read, started beside the lease write
    object_sha256: str | None = None
    members: tuple[str, ...] = ()

    @property
    def routed(self) -> Route:
        assert self.route is not None, "work on an unrouted object"
        return self.route
