"""Recording an outcome: the ledger entry, the dead letter for a failure, and the observer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from hdr_ingest.core.bounds import (
    MAX_MESSAGE_BYTES,
    MAX_REASON_BYTES,
    bounded,
    bounded_differences,
    bounded_errors,
    bounded_warnings,
)
from hdr_ingest.core.dead_letter import envelope
from hdr_ingest.core.ledger import PUBLISHED, LeaseLost, Ledger, LedgerEntry
from hdr_ingest.core.outcome import Outcome, Status
from hdr_ingest.core.ports import DeadLetters, Observer
from hdr_ingest.usecases.context import RetryLater, Work


def unchanged(work: Work, *, object_sha256: str | None = None, document_sha256: str | None = None) -> Outcome | None:
    """The one rule for "nothing to send": the ledger shows this source published from the same object bytes, or
    from the same document (its canonical JSON, so a re-export that only reorders keys or spacing is the same)."""
    previous = work.previous
    if previous is None or previous.status not in PUBLISHED:
        return None
    if object_sha256 is not None and previous.object_sha256 == object_sha256:
        return nothing_sent(previous, work.routed.destination.noun, "Same bytes as the export already published")
    if document_sha256 is not None and previous.document_sha256 == document_sha256:
        outcome = nothing_sent(previous, work.routed.destination.noun, "Same document as the one already published")
        return replace(outcome, document_sha256=document_sha256)
    return None


def nothing_sent(previous: LedgerEntry, noun: str, why: str) -> Outcome:
    """UNCHANGED, naming the record the ledger holds. A destination without versions (UNIS before its ``ts`` is
    known, Qrvey, AEP) has none to name."""
    version = f", version {previous.record_version}" if previous.record_version is not None else ""
    return Outcome(
        Status.UNCHANGED,
        f"{why} ({noun} {previous.record_id}{version}); nothing sent to the destination.",
        schema=previous.schema,
        record_id=previous.record_id,
        record_version=previous.record_version,
    )


def is_stale(work: Work) -> bool:
    """Whether the object's event is strictly older than the one that produced the ledger's state. The same
    event again (SQS redelivering it after RETRYING, a duplicate, a dead letter replayed) is not: it is processed
    again, or a retry would be acknowledged without being retried."""
    previous = work.previous
    if previous is None or not work.obj.sequencer or not previous.sequencer:
        return False
    return replace(work.obj, sequencer=previous.sequencer).newer_than(work.obj.sequencer) is True


def _verified(outcome: Outcome, kept: LedgerEntry | None, now: str) -> dict[str, Any]:
    """The entry's read-back fields: this outcome's read-back; else, for a record left as it was (UNCHANGED, a
    failed re-export), the last one; none for a new version not read back, or an archived record."""
    if outcome.verification is not None:
        found = outcome.verification
        return {"verified": found.result, "verified_at": now, "differences": bounded_differences(found.differences)}
    if kept is None or outcome.status is Status.ARCHIVED:
        return {}
    return {"verified": kept.verified, "verified_at": kept.verified_at, "differences": kept.differences}


class Recorder:
    def __init__(
        self, ledger: Ledger, dead_letters: DeadLetters, observer: Observer, clock: Callable[[], datetime]
    ) -> None:
        self.ledger = ledger
        self.dead_letters = dead_letters
        self.observer = observer
        self.clock = clock

    def finish(self, work: Work, outcome: Outcome, minimal: bool = False) -> Outcome:
        """Record the outcome (ledger, then the dead letter for a failure), then tell the observer. Raises
        RetryLater for a transient failure that SQS will deliver again. Recording also ends the lease."""
        delivery = work.delivery
        outcome = replace(outcome, attempts=delivery.receive_count)
        if outcome.status.again and delivery.final:
            unfinished = " It had not finished." if outcome.status is Status.PENDING else ""
            outcome = replace(
                outcome,
                status=Status.FAILED,
                reason=f"{outcome.reason}{unfinished} Gave up after {delivery.receive_count} deliveries; "
                "the message is in the dead-letter queue: replay it with `redrive` once the cause is fixed.",
            )
        try:
            self.ledger.record(self._minimal(work, outcome) if minimal else self.entry(work, outcome), work.owner)
        except Exception:
            work.record_refused = True
            raise
        work.recorded = True
        if outcome.status.is_failure:
            self.dead_letters.send(self.dead_letter(work, outcome))
        self.observer.outcome(work.obj, outcome)
        if outcome.status.again:
            raise RetryLater(outcome)
        return outcome

    def guarded(self, work: Work, step: Callable[[], Outcome]) -> Outcome:
        """``step()``; whatever else it raises ends in a recorded outcome (the last line of defence)."""
        try:
            return step()
        except (RetryLater, LeaseLost):
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is recorded, none escapes as a bare item
            return self.unexpected(work, exc)

    def unexpected(self, work: Work, exc: Exception) -> Outcome:
        """An error nothing classified: recorded with its type and a bounded message (RETRYING, so FAILED and
        dead-lettered on the last delivery). If even that write is refused, a minimal item says so."""
        if work.recorded or (work.record_refused and not work.delivery.final):
            # The outcome is written and a later step failed, or the ledger refused the write: SQS delivers the
            # record again (on the last delivery, a refused write is tried once more, then a minimal one).
            raise exc
        what = f"{type(exc).__name__}: {bounded(str(exc), MAX_MESSAGE_BYTES)}".rstrip(": ")
        outcome = Outcome(Status.RETRYING, f"Unexpected failure ({what}); will retry.")
        try:
            return self.finish(work, outcome)
        except (RetryLater, LeaseLost):
            raise
        except Exception:
            if work.recorded:
                raise
            return self.finish(work, outcome, minimal=True)

    def _minimal(self, work: Work, outcome: Outcome) -> LedgerEntry:
        obj = work.obj
        return LedgerEntry(
            source=obj.source,
            status=outcome.status,
            reason=bounded(outcome.reason, MAX_MESSAGE_BYTES),
            bucket=obj.bucket,
            key=obj.key,
            record_key=obj.record_key,
            updated_at=self._now(),
            attempts=outcome.attempts,
            destination=work.route.ref if work.route else None,
        )

    def _now(self) -> str:
        return self.clock().isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def stale(self, work: Work) -> Outcome:
        """An event older than the one that produced the ledger's state never overwrites newer state."""
        previous = work.previous
        assert previous is not None
        outcome = Outcome(
            previous.status,
            f"Ignored an S3 event older than the one already processed for {work.obj.source} "
            f"(sequencer {work.obj.sequencer} < {previous.sequencer}).",
            schema=previous.schema,
            record_id=previous.record_id,
            record_version=previous.record_version,
        )
        self.observer.outcome(work.obj, outcome)
        return outcome

    def entry(self, work: Work, outcome: Outcome) -> LedgerEntry:
        obj, previous, stored = work.obj, work.previous, work.stored
        # A failed re-export keeps pointing at the record already on the destination, and an unchanged one keeps
        # the digests it was judged unchanged by (else the next re-serialised export would look changed).
        kept = previous if outcome.status not in (Status.CREATED, Status.UPDATED) else None
        now = self._now()
        return LedgerEntry(
            source=obj.source,
            status=outcome.status,
            reason=bounded(outcome.reason, MAX_REASON_BYTES),
            bucket=obj.bucket,
            key=obj.key,
            record_key=obj.record_key,
            updated_at=now,
            attempts=outcome.attempts,
            record_id=outcome.record_id or (kept.record_id if kept else None),
            record_version=outcome.record_version or (kept.record_version if kept else None),
            schema=outcome.schema,
            errors=bounded_errors(outcome.errors),
            errors_total=len(outcome.errors),
            warnings=bounded_warnings(outcome.warnings),
            object_sha256=work.object_sha256 or (kept.object_sha256 if kept else None),
            etag=(stored.etag if stored and stored.etag else obj.etag),
            version_id=(stored.version_id if stored and stored.version_id else obj.version_id),
            sequencer=obj.sequencer or (previous.sequencer if previous else None),
            http_status=outcome.http_status,
            document_sha256=outcome.document_sha256 or (kept.document_sha256 if kept else None),
            members=work.members or (previous.members if previous and outcome.status is Status.ARCHIVED else ()),
            destination=work.route.ref if work.route else None,
            element_id=bounded(obj.element_id, MAX_MESSAGE_BYTES) if obj.element_id is not None else None,
            **_verified(outcome, kept, now),
        )

    @staticmethod
    def dead_letter(work: Work, outcome: Outcome) -> dict[str, object]:
        return envelope(
            source=work.obj.source,
            status=outcome.status.value,
            reason=outcome.reason,
            errors=outcome.errors,
            event=dict(work.delivery.original),
            schema=outcome.schema,
            gateway_status=outcome.http_status,
            destination=work.route.ref if work.route else None,
            object=work.obj.describe(),
            attempts=work.delivery.receive_count,
        )
