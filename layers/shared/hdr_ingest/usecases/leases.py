"""Holding a source for one invocation, so duplicate or concurrent deliveries never publish twice."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from hdr_ingest.core.ledger import Ledger
from hdr_ingest.core.outcome import Outcome, Status
from hdr_ingest.core.routing import Route
from hdr_ingest.core.source_object import SourceObject
from hdr_ingest.usecases.context import Budget, Delivery, RetryLater, Work

MAX_LEASE_S = 900  # Lambda's longest invocation


class Leases:
    def __init__(self, ledger: Ledger, clock: Callable[[], datetime]) -> None:
        self.ledger = ledger
        self.clock = clock

    @contextmanager
    def hold(self, obj: SourceObject, route: Route | None, delivery: Delivery, budget: Budget) -> Iterator[Work]:
        """Take the source's lease (a conditional write, which also reads its ledger entry). The lease ends when
        the invocation must have ended, or when the outcome is recorded (that write replaces the item without
        the lease); it is released here only if no outcome was recorded."""
        owner = uuid.uuid4().hex
        now = self.clock().timestamp()
        until = now + min(budget.remaining_ms() / 1000 + 5, MAX_LEASE_S)
        lease = self.ledger.acquire(obj.source, owner, until, now)
        if lease is None:
            raise RetryLater(
                Outcome(Status.RETRYING, f"{obj.source} is being processed by another invocation; will retry.")
            )
        work = Work(obj, route, delivery, budget, owner, lease.previous, first=lease.first)
        try:
            yield work
        finally:
            if not work.recorded:
                self.ledger.release(obj.source, owner)
