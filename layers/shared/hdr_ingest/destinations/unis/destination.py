"""perfSONAR UNIS behind the ``Destination`` port: one metadata record per source, kept by a stable ``id``.

Identity: the document's own ``id`` when it has one, else our key for its source (``hgi-...``), sent as ``id``.
UNIS keeps versions per ``(id, ts)``, so the same id is always the same record: a changed re-drop is a ``PUT`` of
that id, and a create that finds the id already there (a lost ledger write, a timed-out create) updates it
instead of adding a version. A deleted record cannot be undeleted: it comes back as a new version of its id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from hdr_ingest.core.answers import Answer, AnswerKind, RecordId
from hdr_ingest.core.ports import Call, Verdict
from hdr_ingest.destinations.unis.client import UnisClient
from hdr_ingest.destinations.unis.credentials import ClientCertificate
from hdr_ingest.destinations.unis.judge import judge
from hdr_ingest.destinations.unis.schemas import UnisSchema


def record_id_for(key: str, document: Any) -> str:
    """The UNIS ``id`` of ``document``'s record: its own non-empty ``id``, else our key for its source."""
    own = document.get("id") if isinstance(document, dict) else None
    return own if isinstance(own, str) and own.strip() else key


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

    def find(self, key: str, call: Call) -> Answer:
        return self.client.get(key, call)

    def create(self, key: str, document: Any, verdict: Verdict, call: Call) -> Answer:
        record_id = record_id_for(key, document)
        body = {**document, "id": record_id}
        if record_id != key:
            # The document's own id: our key could not find it, but it may be on UNIS already.
            found = self.client.get(record_id, call)
            if found.kind is not AnswerKind.SUCCESS:
                return found
            if found.found:
                return self._put_visible(record_id, body, call)
        return self.client.post(body, call)

    def update(self, record_id: RecordId, key: str, document: Any, verdict: Verdict, call: Call) -> Answer:
        wanted = record_id_for(key, document)
        if str(record_id) != wanted:
            answer = self.create(key, document, verdict, call)
            note = f"; the document's id changed from {str(record_id)!r} to {wanted!r}, so record {record_id} is left"
            return replace(answer, message=answer.message + note)
        return self._put_visible(wanted, {**document, "id": wanted}, call)

    def _put_visible(self, record_id: str, body: dict[str, Any], call: Call) -> Answer:
        """PUT, then make sure the record can be seen: UNIS answers 204 to a PUT on a soft-deleted id and leaves it
        deleted and hidden (periscope-ps/unis 7c9a9d2, ``periscope/db.py``: the update has no status filter). Then
        a new version is POSTed, so the ledger never says UPDATED for a record nobody can see."""
        put = self.client.put(record_id, body, call)
        if put.kind is not AnswerKind.SUCCESS:
            return put
        seen = self.client.get(record_id, call)
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
