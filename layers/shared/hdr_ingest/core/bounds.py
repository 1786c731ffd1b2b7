"""What is stored is bounded: a DynamoDB item holds at most 400 KB and its partition key 2,048 bytes, an SQS
message 256 KB. Texts and error lists are cut here, in one place, with the totals kept and the cut said."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from hdr_ingest.core.outcome import ErrorDetail
from hdr_ingest.core.verification import Difference

# Budgets are UTF-8 bytes, as DynamoDB and SQS count them: an emoji is one character but four bytes.
MAX_REASON_BYTES = 4_000
MAX_PATH_BYTES = 512
MAX_MESSAGE_BYTES = 1_000
MAX_ERRORS = 200
MAX_ERRORS_BYTES = 150_000  # all stored errors together, well inside an item's 400 KB
MAX_WARNINGS = 50
MAX_KEY_PART_BYTES = 512  # an element identifier longer than this is hashed into the partition key
# A catalogue file's element identifiers kept in its item; beyond, only their count (the element rows name them).
MAX_MEMBERS_BYTES = 100_000
# A read-back's differences kept in the item (at most ``verification.MAX_DIFFERENCES``, values already shortened).
MAX_DIFFERENCES_BYTES = 20_000


def bounded(text: str, limit: int) -> str:
    """``text``, or its first ``limit`` UTF-8 bytes (never half a character) and how many more bytes there were.
    The note added after the cut is at most 40 bytes."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    kept = data[:limit].decode("utf-8", "ignore")
    return f"{kept}… ({len(data) - len(kept.encode('utf-8', 'surrogatepass')):,} more bytes)"


def bounded_errors(errors: tuple[ErrorDetail, ...]) -> tuple[ErrorDetail, ...]:
    """At most ``MAX_ERRORS`` errors, each path and message cut, and all of them within ``MAX_ERRORS_BYTES``."""
    kept: list[ErrorDetail] = []
    used = 0
    for error in errors[:MAX_ERRORS]:
        path, message = bounded(error.path, MAX_PATH_BYTES), bounded(error.message, MAX_MESSAGE_BYTES)
        used += len(path.encode("utf-8", "surrogatepass")) + len(message.encode("utf-8", "surrogatepass"))
        if used > MAX_ERRORS_BYTES:
            break
        kept.append(ErrorDetail(path, message, error.gateway_reports))
    return tuple(kept)


def members_fit(members: Sequence[str]) -> bool:
    """Whether a catalogue file's element identifiers fit its ledger item: ``MAX_MEMBERS_BYTES`` of UTF-8, counting
    the bytes DynamoDB adds per list element (at most 3)."""
    total = 0
    for member in members:
        total += len(member.encode("utf-8", "surrogatepass")) + 3
        if total > MAX_MEMBERS_BYTES:
            return False
    return True


def bounded_warnings(warnings: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(bounded(w, MAX_MESSAGE_BYTES) for w in warnings[:MAX_WARNINGS])


def key_part(identifier: str) -> str:
    """An identifier as it may appear in a partition key: itself, or its sha256 when too long."""
    if len(identifier.encode("utf-8")) <= MAX_KEY_PART_BYTES:
        return identifier
    return "sha256:" + hashlib.sha256(identifier.encode("utf-8")).hexdigest()


def bounded_differences(differences: Sequence[Difference]) -> tuple[Difference, ...]:
    """A read-back's differences as the ledger keeps them: each part cut, all within ``MAX_DIFFERENCES_BYTES``."""
    kept: list[Difference] = []
    used = 0
    for difference in differences:
        path = bounded(difference.path, MAX_PATH_BYTES)
        sent, held = bounded(difference.sent, MAX_MESSAGE_BYTES), bounded(difference.held, MAX_MESSAGE_BYTES)
        used += sum(len(part.encode("utf-8", "surrogatepass")) for part in (path, sent, held))
        if used > MAX_DIFFERENCES_BYTES:
            break
        kept.append(Difference(path, sent, held))
    return tuple(kept)
