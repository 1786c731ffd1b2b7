"""What a destination answered, in the pipeline's words: every destination package translates its own answers
(HTTP statuses, bodies, batch states) into an :class:`Answer`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hdr_ingest.core.outcome import ErrorDetail

RecordId = int | str  # the destination's own id of a record (a Gateway dataset id, a UNIS id, ...)


class AnswerKind(StrEnum):
    SUCCESS = "SUCCESS"  # created / updated / archived / lookup done
    PENDING = "PENDING"  # accepted; the destination finishes later (check again)
    METADATA_REJECTED = "METADATA_REJECTED"  # the destination's validator refused the document
    UNAUTHORISED = "UNAUTHORISED"  # fetch the credentials again once (they may have rotated)
    PERMANENT = "PERMANENT"  # credentials, permissions or a request the destination will never accept
    NOT_FOUND = "NOT_FOUND"  # the record is no longer there (deleted or archived)
    TRANSIENT = "TRANSIENT"  # 5xx, throttling, timeouts, connection errors: try again later


@dataclass(frozen=True)
class Answer:
    """One answer. For a lookup, ``record_id`` is the record found (``None``: none), ``found`` says it is live
    and ``archived`` that it is archived. For a successful create, ``created`` is set."""

    kind: AnswerKind
    http_status: int | None
    message: str
    record_id: RecordId | None = None
    record_version: int | None = None
    errors: tuple[ErrorDetail, ...] = ()
    found: bool = False
    archived: bool = False
    created: bool = False
    deprecation: str | None = None  # RFC 9745 Deprecation and RFC 8594 Sunset headers, when the API sends them
    sunset: str | None = None
    retry_after_s: float | None = None


def transient(message: str, http_status: int | None = None) -> Answer:
    return Answer(AnswerKind.TRANSIENT, http_status, message)
