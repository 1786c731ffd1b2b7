"""UNIS read-back: what UNIS holds for our metadata record, and what it should hold for the document we sent.

``GET /metadata/{id}`` answers the newest live version of the record; an unknown id, and a soft-deleted record,
answer ``200 []`` (periscope-ps/unis 7c9a9d2, ``periscope/handlers/networkresourcehandler.py``: every version is
marked deleted and the find filters them out). A 404 there is a database find that failed, not "unknown": it is
read as UNKNOWN, like a 5xx or a timeout (``client.lookup`` makes it TRANSIENT).

UNIS keeps the document as it was sent plus what it fills in itself: ``ts``, ``selfRef`` and ``$schema``, which
are left out on both sides, and ``id``, which is left out too: the lookup is by that very id and refuses an answer
naming another (``client.lookup``), and the document's own ``id`` is not the record's when another source holds it
(see :mod:`.destination`).
"""

from __future__ import annotations

from typing import Any

from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.core.verification import Held, ReadBack

FILLED_BY_UNIS = ("id", "ts", "selfRef", "$schema")  # what UNIS adds to a record it stores: not compared (above)
# The size of record a read-back reads whole (``client.lookup``'s ``expect``): a record is (part of) one source
# object, at most 10 MiB by default (``MAX_OBJECT_BYTES``); a larger answer is UNKNOWN, never a wrong HELD.
READ_BACK_BYTES = 10 * 1024 * 1024


def expected(document: Any) -> Any:
    """What UNIS should hold for ``document``, apart from what it fills in itself."""
    return kept(document) if isinstance(document, dict) else document


def kept(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` without what is not compared."""
    return {k: v for k, v in record.items() if k not in FILLED_BY_UNIS}


def held(record_id: Any, found: Answer, record: dict[str, Any] | None) -> ReadBack:
    """The lookup of ``record_id`` (``client.lookup``) as a read-back."""
    if found.kind is not AnswerKind.SUCCESS:
        return ReadBack(Held.UNKNOWN, message=f"reading UNIS record {record_id!r} back failed for now: {found.message}")
    if not found.found:
        return ReadBack(Held.MISSING, message=f"UNIS shows no record {record_id!r} (deleted, or never stored)")
    if record is None:  # found, but its answer was over the read cap
        return ReadBack(Held.UNKNOWN, message=f"UNIS's answer for record {record_id!r} is over the read cap")
    version = record.get("ts")
    return ReadBack(Held.HELD, kept(record), f"UNIS record {record_id!r}, ts {version}")
