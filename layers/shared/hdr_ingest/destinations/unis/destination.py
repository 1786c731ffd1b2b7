"""perfSONAR UNIS behind the ``Destination`` port: one metadata record per source, kept by a stable ``id``.

Identity: the document's own ``id`` when it has one and no other source holds it, else our key for its source
(``hgi-...``), sent as ``id``. UNIS keeps versions per ``(id, ts)``, so the same id is always the same record: a
changed re-drop is a ``PUT`` of that id. A create whose id UNIS already holds adopts that record only when it holds
this very document (a lost ledger write, a timed-out create); a record holding something else under the document's
id belongs to another source: it is left alone and ours is published under our key instead, so two files whose
documents carry the same ``id`` never overwrite or delete each other's record.

Evidence: a POST counts as created only when UNIS echoes the record with our id, or a lookup finds it; a PUT is
followed by a lookup, because UNIS answers 204 to a PUT on a deleted id and leaves it deleted: a record that cannot
be seen after its update is posted again as a new version, so the ledger never says UPDATED for an invisible one.
The lookup also gives the update's ``ts`` (the ledger's version). A deleted record cannot be undeleted: it comes
back as a new version of its id.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from hdr_ingest.core.answers import Answer, AnswerKind, RecordId
from hdr_ingest.core.outcome import ErrorDetail
from hdr_ingest.core.ports import Call, Verdict
from hdr_ingest.destinations.unis.client import UnisClient
from hdr_ingest.destinations.unis.credentials import ClientCertificate
from hdr_ingest.destinations.unis.identity import identify_elements
from hdr_ingest.destinations.unis.judge import judge
from hdr_ingest.destinations.unis.schemas import UnisSchema

FILLED_BY_UNIS = ("id", "ts", "selfRef", "$schema")  # what UNIS adds to a record it stores


def own_id(document: Any) -> str | None:
    """The document's own non-empty ``id``, if it has one."""
    own = document.get("id") if isinstance(document, dict) else None
    return own if isinstance(own, str) and own.strip() else None


def record_id_for(key: str, document: Any) -> str:
    """The UNIS ``id`` first tried for ``document``'s record: its own non-empty ``id``, else our key."""
    return own_id(document) or key


def same_record(held: dict[str, Any], document: dict[str, Any]) -> bool:
    """Whether ``held`` (a record as UNIS returns it) holds ``document``, apart from what UNIS fills in."""
    mine = {k: v for k, v in document.items() if k not in FILLED_BY_UNIS or k in ("ts", "$schema")}
    theirs = {k: v for k, v in held.items() if k not in FILLED_BY_UNIS or k in mine}
    return theirs == mine


def _size(document: Any) -> int:
    return len(json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode())


class UnisDestination:
    kind = "unis"
    title = "UNIS"
    noun = "UNIS metadata record"

    def __init__(self, url: str, client: UnisClient, schema: Callable[[], UnisSchema]) -> None:
        self.url = url
        self.client = client
        self._schema = schema

    def judge(self, document: Any, text: str) -> Verdict:
        return judge(document, self._schema())

    def credentials(self, secret: Any, secret_id: str) -> ClientCertificate:
        return ClientCertificate.from_secret(secret, secret_id)

    def identify_elements(self, elements: list[Any], pointer: str | None = None) -> list[str | ErrorDetail]:
        """Each element of a UNIS list: its own id, else its natural key (``identity``)."""
        return identify_elements(elements, pointer)

    def find(self, key: str, call: Call) -> Answer:
        return self.client.get(key, call)

    def create(self, key: str, document: Any, verdict: Verdict, call: Call) -> Answer:
        own = own_id(document)
        if own is None or own == key:
            return self._post({**document, "id": key}, call)
        # The document's own id: our key did not find it, but UNIS may hold it already (ours or another source's).
        body = {**document, "id": own}
        found, held = self.client.lookup(own, call, _size(body))
        if found.kind is not AnswerKind.SUCCESS:
            return found
        if not found.found:
            return self._post(body, call)
        if held is not None and same_record(held, body):
            message = f"UNIS already holds this document as {own!r}; adopted it"
            return replace(found, message=message, record_id=own, created=False)
        answer = self._put_or_post({**document, "id": key}, call)
        note = (
            f"; the document's id {own!r} is held on UNIS by a record with other content (not this source's), "
            f"which is left alone: this source's record is {key!r}"
        )
        return replace(answer, message=answer.message + note)

    def update(self, record_id: RecordId, key: str, document: Any, verdict: Verdict, call: Call) -> Answer:
        wanted = own_id(document) or key
        if str(record_id) == wanted:
            return self._put_visible({**document, "id": wanted}, call)
        # The document names another id than its record's (changed, or held by another source): create decides.
        answer = self.create(key, document, verdict, call)
        if str(answer.record_id) == str(record_id):
            return answer
        note = f"; the document's id changed from {str(record_id)!r} to {wanted!r}, so record {record_id} is left"
        return replace(answer, message=answer.message + note)

    def _put_or_post(self, body: dict[str, Any], call: Call) -> Answer:
        """Our own record under our key: updated when UNIS has it, else created."""
        answer = self._put_visible(body, call)
        return self._post(body, call) if answer.kind is AnswerKind.NOT_FOUND else answer

    def _post(self, body: dict[str, Any], call: Call) -> Answer:
        """POST ``body``; a 201 without evidence is believed only when a lookup of its id then finds it."""
        posted = self.client.post(body, call)
        if posted.kind is not AnswerKind.TRANSIENT or posted.http_status not in (200, 201):
            return posted
        found = self.client.get(body["id"], call, _size(body))
        if found.kind is AnswerKind.SUCCESS and found.found:
            message = f"created (a lookup finds it; {posted.message})"
            return replace(found, message=message, record_id=body["id"], http_status=posted.http_status, created=True)
        return posted

    def _put_visible(self, body: dict[str, Any], call: Call) -> Answer:
        """PUT ``body``, then look: UNIS answers 204 on a deleted id and the record stays deleted, so one that
        cannot be seen is posted again (a new version of its id). The lookup gives the new ``ts``."""
        record_id = body["id"]
        put = self.client.put(record_id, body, call)
        if put.kind is not AnswerKind.SUCCESS:
            return put
        seen = self.client.get(record_id, call, _size(body))
        if seen.kind is not AnswerKind.SUCCESS:
            return seen
        if seen.found:
            return replace(put, record_version=seen.record_version, message=f"updated; {seen.message}")
        posted = self._post(body, call)
        note = "; UNIS answered the PUT but the record is deleted there (a PUT cannot undelete): posted a new version"
        return replace(posted, message=posted.message + note)

    def restore(self, record_id: RecordId, call: Call) -> Answer:
        """UNIS cannot undelete: NOT_FOUND makes the use case create it again, as a new version of the same id."""
        return Answer(AnswerKind.NOT_FOUND, None, "UNIS has no undelete; publishing a new version", record_id)

    def archive(self, record_id: RecordId, call: Call) -> Answer:
        return self.client.delete(record_id, call)

    def check(self, record_id: RecordId, call: Call) -> Answer:
        """UNIS stores as it answers: nothing is ever pending."""
        return Answer(AnswerKind.SUCCESS, None, "published", record_id=record_id)
