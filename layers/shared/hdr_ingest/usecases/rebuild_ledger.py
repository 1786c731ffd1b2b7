"""Rebuild the ledger from a destination: for every source in the bucket, find its record by our key.

Used after the ledger table was lost or emptied. Each source with a record gets a ledger item pointing at it
(status CREATED, or ARCHIVED for an archived one) with no ``sha256``, so the next drop of that file updates the
record rather than creating one: no duplicate is ever created.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hdr_ingest.core import defaults
from hdr_ingest.core.answers import AnswerKind, RecordId
from hdr_ingest.core.catalogue import element_identifier
from hdr_ingest.core.document import DocumentError, parse_export
from hdr_ingest.core.ledger import Ledger, LedgerEntry
from hdr_ingest.core.outcome import Status
from hdr_ingest.core.ports import Call, Destination, ObjectReadError, ObjectStore
from hdr_ingest.core.source_object import SourceObject


@dataclass(frozen=True)
class RebuildLine:
    source: str
    status: str  # CREATED / ARCHIVED written, or NOT_ON_GATEWAY / ERROR (nothing written)
    record_id: RecordId | None = None
    detail: str = ""


def sources_of(
    objects: Iterable[SourceObject],
    store: ObjectStore,
    pointer: str | None = None,
    parse: Callable[[bytes], Any] = parse_export,
) -> list[SourceObject]:
    """Every ledger source of these objects: the object itself, plus one per element of a catalogue file (``parse``
    is the route's destination's, which knows its files)."""
    out: list[SourceObject] = []
    for obj in objects:
        out.append(obj)
        try:
            export = parse(store.read(obj, 50 * 1024 * 1024).data)
        except (DocumentError, ObjectReadError):
            continue
        if isinstance(export, list):
            ids = [element_identifier(e, pointer) for e in export]
            out.extend(obj.element(i) for i in ids if i is not None)
    return out


def rebuild_ledger(
    sources: Iterable[SourceObject],
    ledger: Ledger,
    destination: Destination,
    credentials: Any,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    read_timeout_s: float = defaults.READ_TIMEOUT_S,
) -> list[RebuildLine]:
    lines: list[RebuildLine] = []
    call = Call(credentials, read_timeout_s, read_timeout_s)
    for obj in sources:
        found = destination.find(obj.record_key, call)
        if found.kind is not AnswerKind.SUCCESS:
            lines.append(RebuildLine(obj.source, "ERROR", detail=found.message))
            continue
        if found.record_id is None:
            lines.append(RebuildLine(obj.source, "NOT_ON_GATEWAY"))
            continue
        status = Status.CREATED if found.found else Status.ARCHIVED
        ledger.record(
            LedgerEntry(
                source=obj.source,
                status=status,
                reason=f"Rebuilt from the {destination.title}: {destination.noun} {found.record_id} exists for this "
                "source.",
                bucket=obj.bucket,
                key=obj.key,
                record_key=obj.record_key,
                updated_at=clock().isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                record_id=found.record_id,
                record_version=found.record_version,
                destination={"kind": destination.kind, "url": destination.url},
            )
        )
        lines.append(RebuildLine(obj.source, status.value, found.record_id))
    return lines
