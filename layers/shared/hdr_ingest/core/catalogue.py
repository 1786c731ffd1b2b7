"""Catalogue files: one S3 object holding a JSON array of metadata documents, one record each on the destination.

Each element is identified by its own identifier, so it keeps its record across exports whatever
its position in the array: HDRUK 3.x/4.x ``identifier``, GWDM ``required.gatewayPid``, HDRUK 2.x
``identifier``/``id``, or the JSON pointer configured in ``CATALOGUE_ID_POINTER``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from hdr_ingest.core.bounds import key_part
from hdr_ingest.core.ledger import LedgerEntry
from hdr_ingest.core.outcome import Status

AUTO_POINTERS = ("/identifier", "/required/gatewayPid", "/id")
_POSITION = re.compile(r"^\[\d+\]$")  # the row of an element without an identifier, known by its position


def resolve_pointer(document: Any, pointer: str) -> Any:
    """RFC 6901 JSON pointer lookup; ``None`` when the path does not exist."""
    if pointer == "":
        return document
    if not pointer.startswith("/"):
        raise ValueError(f"a JSON pointer starts with '/': {pointer!r}")
    node = document
    for raw in pointer[1:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict):
            if part not in node:
                return None
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def element_identifier(element: dict[str, Any], pointer: str | None = None) -> str | None:
    """The element's identifier as text, or ``None`` when it has none (the element is then INVALID)."""
    for candidate in (pointer,) if pointer else AUTO_POINTERS:
        value = resolve_pointer(element, candidate)
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, (str, int)) and str(value).strip():
            return str(value).strip()
    return None


def missing_identifier_message(pointer: str | None) -> str:
    where = f"at {pointer}" if pointer else "(identifier, required.gatewayPid or id)"
    return (
        f"has no identifier {where}; each element of a catalogue needs one so that it keeps its record "
        "across exports. Add it and upload the file again."
    )


PUBLISHED_ELEMENT = ("CREATED", "UPDATED", "UNCHANGED")
UNFINISHED_ELEMENT = ("RETRYING", "PENDING")


def catalogue_status(counts: Mapping[str, int], published_before: bool) -> tuple[str, str]:
    """The catalogue file's own status from its elements' outcomes (the one place for this rule), and what to
    say about them. ``counts``: outcomes by status (plus ``LEFT`` and ``ARCHIVED`` for elements no longer exported).

    - any element (or archive) RETRYING or PENDING: the file is RETRYING, so SQS delivers it again and the
      redelivery is never "same bytes" (on the last delivery it ends FAILED with a dead letter);
    - elements and none published: INVALID if any was invalid, else REJECTED if any was refused, else FAILED;
    - otherwise UPDATED when it was published before, else CREATED, the reason naming every count."""
    published = sum(counts.get(s, 0) for s in PUBLISHED_ELEMENT)
    others = {s: n for s, n in counts.items() if n and s not in PUBLISHED_ELEMENT and s not in ("LEFT", "ARCHIVED")}
    total = published + sum(others.values())
    breakdown = ", ".join(f"{counts[s]} {s.lower()}" for s in PUBLISHED_ELEMENT if counts.get(s))
    said = f"{published} of {total} elements published" + (f" ({breakdown})" if breakdown else "")
    if others:
        said += "; " + ", ".join(f"{n} {s}" for s, n in sorted(others.items()))
    if counts.get("ARCHIVED"):
        said += f"; {counts['ARCHIVED']} no longer exported archived"
    if any(counts.get(s) for s in UNFINISHED_ELEMENT):
        return "RETRYING", said
    if total and not published:
        failed = next((s for s in ("INVALID", "REJECTED") if counts.get(s)), "FAILED")
        return failed, said
    return ("UPDATED" if published_before else "CREATED"), said


def member_of_row(row: LedgerEntry, file: LedgerEntry) -> str | None:
    """The identifier a catalogue file's element row is archived by (its ``SourceObject.element()`` gives back the
    row's source: the identifier itself, or its ``sha256:`` form when it was too long for a key); ``None`` for a
    row already ARCHIVED, of an element without an identifier, or of another file (an S3 key may hold ``#``)."""
    prefix = f"{file.source}#"
    if not row.source.startswith(prefix) or row.key != file.key or row.status is Status.ARCHIVED:
        return None
    part = row.source[len(prefix) :]
    if _POSITION.match(part):
        return None
    return row.element_id if row.element_id is not None and key_part(row.element_id) == part else part
