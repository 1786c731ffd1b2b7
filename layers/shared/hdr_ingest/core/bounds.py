"""What is stored is bounded: a DynamoDB item holds at most 400 KB and its partition key 2,048 bytes, an SQS
message 256 KB. Texts and error lists are cut here, in one place, with the totals kept and the cut said."""

from __future__ import annotations

import hashlib

from hdr_ingest.core.outcome import ErrorDetail

MAX_REASON_CHARS = 4_000
MAX_PATH_CHARS = 512
MAX_MESSAGE_CHARS = 1_000
MAX_ERRORS = 200
MAX_ERRORS_CHARS = 150_000  # all stored errors together, well inside an item's 400 KB
MAX_WARNINGS = 50
MAX_KEY_PART_BYTES = 512  # an element identifier longer than this is hashed into the partition key


def bounded(text: str, limit: int) -> str:
    """``text``, or its first ``limit`` characters and how many more there were."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"


def bounded_errors(errors: tuple[ErrorDetail, ...]) -> tuple[ErrorDetail, ...]:
    """At most ``MAX_ERRORS`` errors, each path and message cut, and all of them within ``MAX_ERRORS_CHARS``."""
    kept: list[ErrorDetail] = []
    used = 0
    for error in errors[:MAX_ERRORS]:
        path, message = bounded(error.path, MAX_PATH_CHARS), bounded(error.message, MAX_MESSAGE_CHARS)
        used += len(path) + len(message)
        if used > MAX_ERRORS_CHARS:
            break
        kept.append(ErrorDetail(path, message, error.gateway_reports))
    return tuple(kept)


def bounded_warnings(warnings: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(bounded(w, MAX_MESSAGE_CHARS) for w in warnings[:MAX_WARNINGS])


def key_part(identifier: str) -> str:
    """An identifier as it may appear in a partition key: itself, or its sha256 when too long."""
    if len(identifier.encode("utf-8")) <= MAX_KEY_PART_BYTES:
        return identifier
    return "sha256:" + hashlib.sha256(identifier.encode("utf-8")).hexdigest()
