"""What happened to one source object: the statuses and records every other module speaks in."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hdr_ingest.core.verification import Verification


class Status(StrEnum):
    """Ledger status of a source object. See README "Ledger" for the meaning of each."""

    CREATED = "CREATED"  # the destination created a new record (HDR UK: POST 201)
    UPDATED = "UPDATED"  # an existing record was overwritten with this document (HDR UK: PUT 200)
    UNCHANGED = "UNCHANGED"  # same document as the one already published: no call to the destination
    INVALID = "INVALID"  # not a publishable metadata document (read, parse, schema error, or under no route)
    REJECTED = "REJECTED"  # the destination refused it permanently (metadata, credentials or permissions)
    FAILED = "FAILED"  # transient failures outlasted every retry; the DLQ holds it for replay
    RETRYING = "RETRYING"  # a transient failure; SQS will deliver it again
    PENDING = "PENDING"  # accepted by a destination that finishes later; the next delivery checks again
    ARCHIVED = "ARCHIVED"  # the object was deleted and its record archived

    @property
    def is_failure(self) -> bool:
        return self in (Status.INVALID, Status.REJECTED, Status.FAILED)

    @property
    def again(self) -> bool:
        """Whether SQS should deliver the record again: a transient failure, or work still finishing."""
        return self in (Status.RETRYING, Status.PENDING)


@dataclass(frozen=True)
class ErrorDetail:
    """One problem, located by a JSON path into the document (``$`` is the whole object).

    ``gateway_reports``: this is the error the HDR UK Gateway itself would report (its validator stops at the
    first error); it is listed first.
    """

    path: str
    message: str
    gateway_reports: bool = False

    def as_dict(self) -> dict[str, str | bool]:
        out: dict[str, str | bool] = {"path": self.path, "message": self.message}
        if self.gateway_reports:
            out["gateway_reports"] = True
        return out

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class Outcome:
    """The result of processing one source object, as written to the ledger."""

    status: Status
    reason: str
    errors: tuple[ErrorDetail, ...] = ()
    schema: str | None = None
    record_id: int | str | None = None  # the destination's id of the record
    record_version: int | None = None
    http_status: int | None = None  # of the destination's last answer
    attempts: int = 0
    warnings: tuple[str, ...] = field(default=())
    document_sha256: str | None = None  # of the document's canonical JSON, once parsed
    verification: Verification | None = None  # the read-back after a CREATED or UPDATED (``usecases.verify``)
