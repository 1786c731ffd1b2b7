"""AEP read-back: whether our batch is live with the file's records, and its predecessor (a replay's) is not.

The ledger's record id is the batch id. ``GET /catalog/batches/{id}`` (Catalog; an object keyed by the batch id)
tells its ``status`` and ``recordCount``. "Active and Success are used interchangeably", and ``archived`` and
``retained`` follow success (AdobeDocs/experience-platform.en help/ingestion/batch-ingestion/troubleshooting.md):
any of the four is **live**. A reverted, deleted or replaced (``inactive``) batch is MISSING; a failed one is HELD
with its status, so the comparison shows ``$.status``; one still loading is UNKNOWN (read it again later).

A replay batch carries the batch it replaces in our ``hgiReplaces`` tag (:mod:`.destination`), so the predecessor
is known from the batch itself, and read back only when it carries this file's key tag (``Batches.ours``): a batch
that does not is never taken for ours, and counts as not live. Both sides have the one shape
``{"status": "live", "records": <count>, "predecessor_live": false}``.
"""

from __future__ import annotations

from typing import Any

from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.core.verification import Held, ReadBack
from hdr_ingest.destinations.aep.answers import GONE, LOADED, TERMINAL_FAILURE
from hdr_ingest.destinations.aep.client import Bounded
from hdr_ingest.destinations.aep.destination import REPLACES_TAG, Batches, status_of, tags_of
from hdr_ingest.destinations.aep.judge import records_of

LIVE = "live"


def expected(document: Any) -> dict[str, Any]:
    """What AEP should hold for the records file ``document``: one live batch of its records, replacing any."""
    return {"status": LIVE, "records": len(records_of(document)), "predecessor_live": False}


def read_back(batches: Batches, batch_id: str, key: str, run: Bounded) -> ReadBack:
    """How our batch ``batch_id`` (of ``key``'s file) stands on AEP, in the shape of :func:`expected`."""
    got = batches.ours(batch_id, key, run)
    if isinstance(got, Answer):
        return _failed(got, f"batch {batch_id}")
    status = status_of(got)
    if status in GONE:
        return ReadBack(Held.MISSING, message=f"AEP batch {batch_id} is {status}: its records are no longer live")
    if status not in LOADED and status not in TERMINAL_FAILURE:
        return ReadBack(Held.UNKNOWN, message=f"AEP batch {batch_id} is {status or 'not yet reported'}, not settled")
    live: list[str] = []
    for old in tags_of(got, REPLACES_TAG):
        predecessor = batches.ours(old, key, run)
        if isinstance(predecessor, Answer) and predecessor.kind is not AnswerKind.NOT_FOUND:
            return _failed(predecessor, f"predecessor batch {old}")
        if isinstance(predecessor, dict) and status_of(predecessor) in LOADED:
            live.append(old)
    count = got.get("recordCount")
    content = {
        "status": LIVE if status in LOADED else status,
        "records": count if isinstance(count, int) else None,
        "predecessor_live": bool(live),
    }
    still = f"; its predecessor {', '.join(live)} is still live" if live else ""
    return ReadBack(Held.HELD, content, f"AEP batch {batch_id} is {status}{still}")


def _failed(answer: Answer, what: str) -> ReadBack:
    if answer.kind is AnswerKind.NOT_FOUND:
        return ReadBack(Held.MISSING, message=f"AEP has no {what} of this file ({answer.message})")
    return ReadBack(Held.UNKNOWN, message=f"reading AEP {what} back failed for now: {answer.message}")
