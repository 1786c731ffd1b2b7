"""Rebuild the ledger from the Gateway: for every source in the bucket, find its dataset by ``datasetid``.

Used after the ledger table was lost or emptied. Each source with a Gateway dataset gets a ledger item
pointing at it (status CREATED, or ARCHIVED for an archived one) with no ``sha256``, so the next drop of
that file sends a PUT (UPDATED) rather than a POST: no duplicate is ever created.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from hdr_ingest.adapters.aws.secrets import AppCredentials
from hdr_ingest.core.catalogue import element_identifier
from hdr_ingest.core.document import DocumentError, parse_export
from hdr_ingest.core.outcome import Status
from hdr_ingest.core.source_object import SourceObject
from hdr_ingest.destinations.hdruk.answers import AnswerKind
from hdr_ingest.usecases.pipeline import Gateway, Ledger, LedgerEntry, ObjectReadError, ObjectStore


@dataclass(frozen=True)
class RebuildLine:
    source: str
    status: str  # CREATED / ARCHIVED written, or NOT_ON_GATEWAY / ERROR (nothing written)
    dataset_id: int | None = None
    detail: str = ""


def sources_of(objects: Iterable[SourceObject], store: ObjectStore, pointer: str | None = None) -> list[SourceObject]:
    """Every ledger source of these objects: the object itself, plus one per element of a catalogue file."""
    out: list[SourceObject] = []
    for obj in objects:
        out.append(obj)
        try:
            export = parse_export(store.read(obj, 50 * 1024 * 1024).data)
        except (DocumentError, ObjectReadError):
            continue
        if isinstance(export, list):
            ids = [element_identifier(e, pointer) for e in export]
            out.extend(obj.element(i) for i in ids if i is not None)
    return out


def rebuild_ledger(
    sources: Iterable[SourceObject],
    ledger: Ledger,
    gateway: Gateway,
    credentials: AppCredentials,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    read_timeout_s: float = 30.0,
) -> list[RebuildLine]:
    lines: list[RebuildLine] = []
    for obj in sources:
        found = gateway.find(obj.datasetid, credentials, read_timeout_s)
        if found.kind is not AnswerKind.SUCCESS:
            lines.append(RebuildLine(obj.source, "ERROR", detail=found.message))
            continue
        if found.dataset_id is None:
            lines.append(RebuildLine(obj.source, "NOT_ON_GATEWAY"))
            continue
        status = Status.CREATED if found.found else Status.ARCHIVED
        ledger.record(
            LedgerEntry(
                source=obj.source,
                status=status,
                reason=f"Rebuilt from the Gateway: dataset {found.dataset_id} exists for this source.",
                bucket=obj.bucket,
                key=obj.key,
                datasetid=obj.datasetid,
                updated_at=clock().isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                dataset_id=found.dataset_id,
                dataset_version=found.dataset_version,
            )
        )
        lines.append(RebuildLine(obj.source, status.value, found.dataset_id))
    return lines
