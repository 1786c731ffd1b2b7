"""perfSONAR UNIS behind the ``Destination`` port: one metadata record per source, kept by a stable ``id``.

Identity: the document's own ``id`` when it has one and no other source holds it, else our key for its source
(``hgi-...``), sent as ``id``. UNIS keeps versions per ``(id, ts)``, so the same id is always the same record: a
changed re-drop is a ``PUT`` of that id. A create that finds the document's id already there adopts that record
only when it holds this very document (a lost ledger write, a timed-out create); a record holding something else
under that id is another source's: it is left alone and ours is published under our key instead, so two files
whose documents carry the same ``id`` never overwrite or delete each other's record. A deleted record cannot be
undeleted: it comes back as a new version of its id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from hdr_ingest.core.answers import Answer, AnswerKind, RecordId
from hdr_ingest.core.document import compact_json, parse_export
from hdr_ingest.core.ports import Call, Verdict
from hdr_ingest.core.verification import ReadBack
from hdr_ingest.destinations.unis.client import UnisClient
from hdr_ingest.destinations.unis.credentials import ClientCertificate
from hdr_ingest.destinations.unis.judge import judge
from hdr_ingest.destinations.unis.readback import FILLED_BY_UNIS, READ_BACK_BYTES, expected, held
from hdr_ingest.destinations.unis.schemas import UnisSchema


def record_id_for(record_key: str, document: Any) -> str:
    """The UNIS ``id`` first tried for ``document``'s record: its own non-empty ``id``, else our key for its source
    (our key too when that id turns out to be another source's record: see :meth:`UnisDestination.create`)."""
    own = document.get("id") if isinstance(document, dict) else None
    return own if isinstance(own, str) and own.strip() else record_key


def holds(held: dict[str, Any], body: dict[str, Any]) -> bool:
    """Whether ``held`` (a record as UNIS returns it) holds ``body``, apart from what UNIS fills in itself."""
    sent = {k: v for k, v in body.items() if k not in FILLED_BY_UNIS or k in ("ts", "$schema")}
    return {k: v for k, v in held.items() if k not in FILLED_BY_UNIS or k in sent} == sent


def size_of(document: Any) -> int:
    """The bytes ``document`` takes as sent (compact JSON): what a lookup of its record should read whole."""
    return len(compact_json(document))


class UnisDestination:
    kind = "unis"
    title = "UNIS"
    noun = "UNIS metadata record"

    def __init__(self, url: str, client: UnisClient, schema: Callable[[], UnisSchema]) -> None:
        self.url = url
        self.client = client
        self._schema = schema

    parse = staticmethod(parse_export)  # its files are metadata documents, or a catalogue's list of them

    def judge(self, document: Any, text: str) -> Verdict:
        return judge(document, self._schema())

    def credentials(self, secret: Any, secret_id: str) -> ClientCertificate:
        return ClientCertificate.from_secret(secret, secret_id)

    def find(self, record_key: str, call: Call) -> Answer:
        return self.client.get(record_key, call)

    def create(self, record_key: str, document: Any, verdict: Verdict, call: Call) -> Answer:
        record_id = record_id_for(record_key, document)
        body = {**document, "id": record_id}
        if record_id == record_key:
            return self.client.post(body, call)
        # The document's own id: our key could not find it, but UNIS may hold it already (ours or another's).
        found, held = self.client.lookup(record_id, call, size_of(body))
        if found.kind is not AnswerKind.SUCCESS:
            return found
        if not found.found:
            return self.client.post(body, call)
        if held is not None and holds(held, body):
            return replace(found, message=f"UNIS already holds this document as {record_id!r}; adopted it")
        answer = self._ours({**document, "id": record_key}, call)
        note = (
            f"; the document's id {record_id!r} is held on UNIS by a record with other content (another source's), "
            f"which is left alone: this source's record is {record_key!r}"
        )
        return replace(answer, message=answer.message + note)

    def update(self, record_id: RecordId, record_key: str, document: Any, verdict: Verdict, call: Call) -> Answer:
        wanted = record_id_for(record_key, document)
        if str(record_id) == wanted:
            return self._put_visible(wanted, {**document, "id": wanted}, call)
        # The document names another id than its record's: changed, or held by another source (create decides).
        answer = self.create(record_key, document, verdict, call)
        if str(answer.record_id) == str(record_id):
            return answer
        note = f"; the document's id changed from {str(record_id)!r} to {wanted!r}, so record {record_id} is left"
        return replace(answer, message=answer.message + note)

    def _ours(self, body: dict[str, Any], call: Call) -> Answer:
        """This source's record under our key: updated when UNIS has it, else created."""
        answer = self._put_visible(body["id"], body, call)
        return self.client.post(body, call) if answer.kind is AnswerKind.NOT_FOUND else answer

    def _put_visible(self, record_id: str, body: dict[str, Any], call: Call) -> Answer:
        """PUT, then make sure the record can be seen: UNIS answers 204 to a PUT on a soft-deleted id and leaves it
        deleted and hidden (periscope-ps/unis 7c9a9d2, ``periscope/db.py``: the update has no status filter). Then
        a new version is POSTed, so the ledger never says UPDATED for a record nobody can see."""
        put = self.client.put(record_id, body, call)
        if put.kind is not AnswerKind.SUCCESS:
            return put
        seen = self.client.get(record_id, call, size_of(body))
        if seen.kind is not AnswerKind.SUCCESS:
            return seen  # a PUT is idempotent: the retry sends it again
        if seen.found:
            return replace(put, record_version=seen.record_version or put.record_version)
        posted = self.client.post(body, call)
        note = "; the record had been deleted on UNIS (a PUT leaves it hidden), so a new version was posted"
        return replace(posted, message=posted.message + note)

    def natural_key(self, element: Any) -> str | None:
        """How a metadata element without an ``id`` is known across exports: its ``eventType`` and
        ``subject.href`` (what it measures, and of what), as seed 002's list of metadata without ids has them."""
        if not isinstance(element, dict):
            return None
        subject = element.get("subject")
        href = subject.get("href") if isinstance(subject, dict) else None
        event = element.get("eventType")
        if isinstance(href, str) and href.strip() and isinstance(event, str) and event.strip():
            return f"{event.strip()} {href.strip()}"
        return None

    def restore(self, record_id: RecordId, call: Call) -> Answer:
        """UNIS cannot undelete: NOT_FOUND makes the use case create it again, as a new version of the same id."""
        return Answer(AnswerKind.NOT_FOUND, None, "UNIS has no undelete; publishing a new version", record_id)

    def archive(self, record_id: RecordId, call: Call) -> Answer:
        return self.client.delete(record_id, call)

    def check(self, record_id: RecordId, call: Call) -> Answer:
        """UNIS stores as it answers: nothing is ever pending."""
        return Answer(AnswerKind.SUCCESS, None, "published", record_id=record_id)

    def expected(self, document: Any, sent_along: Any) -> Any:
        """The document as UNIS keeps it, apart from what UNIS fills in (:mod:`.readback`)."""
        return expected(document)

    def read_back(self, record_id: RecordId, record_key: str, call: Any) -> ReadBack:
        """``GET /metadata/{id}``: the newest live version, or none (``200 []``) when deleted."""
        found, record = self.client.lookup(record_id, call, READ_BACK_BYTES)
        return held(record_id, found, record)
