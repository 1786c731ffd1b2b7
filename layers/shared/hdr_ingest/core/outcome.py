"""What happened to one source object: the statuses and records every other module speaks in."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    """Ledger status of a source object. See README "Ledger" for the meaning of each."""

    CREATED = "CREATED"  # the Gateway created a new dataset (POST 201)
    UPDATED = "UPDATED"  # an existing Gateway dataset was overwritten with this document (PUT 200)
    UNCHANGED = "UNCHANGED"  # same document as the one already published: no Gateway call
    INVALID = "INVALID"  # the object is not a publishable metadata document (read, parse or schema error)
    REJECTED = "REJECTED"  # the Gateway refused it permanently (metadata, credentials or permissions)
    FAILED = "FAILED"  # transient failures outlasted every retry; the DLQ holds it for replay
    RETRYING = "RETRYING"  # a transient failure; SQS will deliver it again
    ARCHIVED = "ARCHIVED"  # the object was deleted and its Gateway dataset archived

    @property
    def is_failure(self) -> bool:
        return self in (Status.INVALID, Status.REJECTED, Status.FAILED)


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
    dataset_id: int | None = None
    dataset_version: int | None = None
    gateway_status: int | None = None
    attempts: int = 0
    warnings: tuple[str, ...] = field(default=())
    digest: str | None = None  # sha256 of the document's canonical JSON, once parsed
