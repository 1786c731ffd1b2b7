"""Reading a record back after publishing it (the hook ``Publisher`` calls), and again later (``hdr-ingest
verify``): what the catalogue holds compared with what we sent (``core.verification``).

After a CREATED or UPDATED (a PENDING record that settled included), a destination that implements ``ReadsBack``
on a route whose ``verify`` option is on is read back once, with no retry: a read that fails, for whatever reason,
leaves ``verified`` unset and never changes the publish's outcome."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from hdr_ingest.core.answers import Answer, AnswerKind, RecordId
from hdr_ingest.core.bounds import bounded_differences
from hdr_ingest.core.catalogue import element_identifier
from hdr_ingest.core.document import DocumentError, canonical_json, parse_export
from hdr_ingest.core.ledger import PUBLISHED, LedgerEntry
from hdr_ingest.core.outcome import Outcome, Status
from hdr_ingest.core.ports import Call, Destination, NullObserver, Observer
from hdr_ingest.core.verification import Difference, Held, ReadBack, ReadsBack, Verification, verification_of
from hdr_ingest.usecases.calls import MIN_CALL_S, Caller, scrubbed
from hdr_ingest.usecases.context import Work

OPERATION = "read back"  # how the observer names the read (latency metric, log line)
READ_BACK_AFTER = (Status.CREATED, Status.UPDATED)


class AfterPublish:
    """The hook ``Publisher`` calls with each outcome: the outcome, with its read-back when one was made."""

    def __init__(self, caller: Caller) -> None:
        self.caller = caller

    def after(self, work: Work, outcome: Outcome, document: Any, sent_along: Callable[[], Any]) -> Outcome:
        """``outcome`` with ``verification`` set from one read-back; ``outcome`` itself when the record is not to
        be read back (not published now, ``verify`` off, a destination that cannot) or the read told nothing."""
        route, record_id = work.routed, outcome.record_id
        destination = route.destination
        if outcome.status not in READ_BACK_AFTER or record_id is None or not route.verify:
            return outcome
        if not isinstance(destination, ReadsBack) or work.budget.left_s() < MIN_CALL_S:
            return outcome
        try:
            credentials = self.caller.credentials(work)
            if isinstance(credentials, Answer):  # the secret cannot be read now: verified stays unset
                return outcome
            call = self.caller.call_for(work, credentials)
            found = read_back(destination, record_id, work.obj.record_key, call, self.caller.observer, credentials)
            verification = found.of(destination.expected(document, sent_along()))
        except Exception:  # noqa: BLE001 - a read-back never fails the publish: verified stays unset
            return outcome
        return replace(outcome, verification=verification) if verification else outcome


@dataclass(frozen=True)
class Found:
    """One read-back, and the credentials it was made with (scrubbed from everything it reports)."""

    read: ReadBack
    credentials: Any = None

    def of(self, expected: Any) -> Verification | None:
        """What the read means against ``expected`` (None: it told nothing), with no credential in its words."""
        verification = verification_of(self.read, expected)
        if verification is None:
            return None
        clean = self.credentials
        return replace(
            verification,
            message=scrubbed(verification.message, clean),
            differences=tuple(
                Difference(d.path, scrubbed(d.sent, clean), scrubbed(d.held, clean)) for d in verification.differences
            ),
        )


def read_back(
    destination: ReadsBack, record_id: RecordId, key: str, call: Call, observer: Observer, credentials: Any
) -> Found:
    """One read, timed and observed like any other call (``GatewayLatency``; a failed read is a log line)."""
    started = time.perf_counter()
    try:
        read = destination.read_back(record_id, key, call)
    except Exception as exc:  # noqa: BLE001 - a read that raised tells nothing: UNKNOWN
        read = ReadBack(Held.UNKNOWN, message=f"{type(exc).__name__} while reading the record back")
    elapsed_ms = (time.perf_counter() - started) * 1000
    # The read itself succeeded when it found the record gone (that is drift, counted apart): only a read that
    # told nothing is an error of the destination (``GatewayError``).
    kind = AnswerKind.TRANSIENT if read.state is Held.UNKNOWN else AnswerKind.SUCCESS
    answer = Answer(kind, None, scrubbed(read.message, credentials), record_id=record_id)
    observer.answer(str(getattr(destination, "kind", "?")), OPERATION, answer, elapsed_ms)
    return Found(read, credentials)


# -- `hdr-ingest verify`: every published record read back again -------------------------------------------------


@dataclass(frozen=True)
class Drift:
    """One ledger entry read back again: ``verification`` None when that told nothing (``message`` says why)."""

    entry: LedgerEntry
    verification: Verification | None
    message: str = ""

    @property
    def drifted(self) -> bool:
        return self.verification is not None and self.verification.result.is_drift


def verifiable(entry: LedgerEntry) -> bool:
    """A ledger entry for a record we published and that should still be there (a catalogue file's own item,
    which has no record, is not)."""
    return entry.status in PUBLISHED and entry.record_id is not None


def sent_document(entry: LedgerEntry, data: bytes, destination: Destination, pointer: str | None) -> Any:
    """The document ``entry``'s record was published from, out of its S3 object's ``data``: the object itself,
    or its element ``entry.element_id`` for a catalogue file. Raises ``LookupError`` saying why when it is not
    there (the file no longer parses, or lost that element)."""
    parse = getattr(destination, "parse", None) or parse_export
    try:
        export = parse(data)
    except DocumentError as exc:
        raise LookupError(f"its S3 object no longer parses ({exc})") from exc
    if entry.element_id is None:
        return export
    elements = export if isinstance(export, list) else []
    for element in elements:
        if (element_identifier(element, pointer) or destination.natural_key(element)) == entry.element_id:
            return element
    raise LookupError(f"its catalogue file no longer holds element {entry.element_id!r}")


def reverify(entry: LedgerEntry, destination: Destination, document: Any, call: Call) -> Drift:
    """Read ``entry``'s record back and compare it with ``document``, as judged now (for what is sent along)."""
    if not isinstance(destination, ReadsBack) or entry.record_id is None:
        return Drift(entry, None, f"{destination.kind} records cannot be read back")
    try:
        verdict = destination.judge(document, canonical_json(document))
        expected = destination.expected(document, verdict.sent_along)
    except Exception as exc:  # noqa: BLE001 - one record's failure is reported, the others are still read
        return Drift(entry, None, f"{type(exc).__name__} while judging the document")
    found = read_back(destination, entry.record_id, entry.record_key, call, NullObserver(), call.credentials)
    verification = found.of(expected)
    if verification is None:
        return Drift(entry, None, scrubbed(found.read.message, call.credentials) or "the read failed for now")
    return Drift(entry, verification, verification.message)


def with_verification(entry: LedgerEntry, verification: Verification, at: str) -> LedgerEntry:
    """``entry`` with a new read-back: ``verified``, ``verified_at`` and ``differences`` (bounded)."""
    return replace(
        entry, verified=verification.result, verified_at=at, differences=bounded_differences(verification.differences)
    )
