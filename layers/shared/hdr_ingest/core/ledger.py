"""The ledger model: one entry per source (an S3 object, or one element of a catalogue file), holding its latest
outcome; and the port the use cases reach it through. The DynamoDB adapter keeps the README's attribute names
(``datasetid``, ``dataset_id``, ``dataset_version``, ``gateway_status``) for what these fields hold."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from hdr_ingest.core.answers import RecordId
from hdr_ingest.core.outcome import ErrorDetail, Status
from hdr_ingest.core.verification import Difference, Verified

PUBLISHED = (Status.CREATED, Status.UPDATED, Status.UNCHANGED)


@dataclass(frozen=True)
class LedgerEntry:
    """One ledger item (README "Ledger"). ``source`` is the partition key."""

    source: str
    status: Status
    reason: str
    bucket: str
    key: str
    record_key: str  # our stable key for the source on its destination (attribute ``datasetid``)
    updated_at: str
    attempts: int = 1
    record_id: RecordId | None = None  # the destination's own id of the record (attribute ``dataset_id``)
    record_version: int | None = None  # (attribute ``dataset_version``)
    schema: str | None = None  # what the document was judged against and sent with
    errors: tuple[ErrorDetail, ...] = ()
    errors_total: int = 0
    warnings: tuple[str, ...] = ()
    object_sha256: str | None = None  # of the S3 object's bytes (attribute ``sha256``)
    etag: str | None = None
    version_id: str | None = None
    sequencer: str | None = None
    http_status: int | None = None  # of the destination's last answer (attribute ``gateway_status``)
    document_sha256: str | None = None  # of the canonical JSON: re-serialised exports are still UNCHANGED
    members: tuple[str, ...] = ()  # for a catalogue file: the identifiers of its elements
    # For a catalogue file whose identifiers were too many to keep (``bounds.members_fit``): how many there were;
    # ``members`` is then empty and the element rows of the ledger (``Ledger.elements``) name them.
    members_total: int = 0
    destination: Mapping[str, str] | None = field(default=None)  # {"kind", "url"} of the route that published it
    element_id: str | None = None  # a catalogue element's identifier (the partition key may hold its hash)
    # The last read-back of the record (``core.verification``): unset when none has been made or it failed.
    verified: Verified | None = None
    verified_at: str | None = None
    differences: tuple[Difference, ...] = ()  # for ``differs``: the paths (bounded, ``bounds.bounded_differences``)

    @property
    def member_count(self) -> int:
        return max(self.members_total, len(self.members))

    @property
    def members_elsewhere(self) -> bool:
        """The identifiers were too many for this item: read them from the element rows."""
        return self.members_total > len(self.members)


class LeaseLost(Exception):
    """Another invocation took over this source while we worked: our outcome must not be written."""


@dataclass(frozen=True)
class Lease:
    """A source held by ``owner``, and its ledger entry as it stood when the lease was taken (``None``: no
    outcome recorded yet). Taking the lease and reading the entry is one conditional write.

    ``first``: the ledger had no item at all for the source before this lease, not even an earlier lease's (the
    lease is written before anything is sent, items are never deleted, and releasing a lease keeps its item), so no
    invocation has ever sent anything for it. ``False`` whenever that is not certain."""

    owner: str
    previous: LedgerEntry | None
    first: bool = False


class Ledger(Protocol):
    def get(self, source: str) -> LedgerEntry | None: ...
    def acquire(self, source: str, owner: str, until_epoch: float, now_epoch: float) -> Lease | None: ...
    def release(self, source: str, owner: str) -> None: ...
    def record(self, entry: LedgerEntry, owner: str | None = None) -> None: ...
    def elements(self, source: str) -> list[LedgerEntry]:
        """The rows of a catalogue file's elements (sources ``<source>#...``), read only when the file's own item
        could not keep their identifiers (``LedgerEntry.members_elsewhere``)."""
        ...
