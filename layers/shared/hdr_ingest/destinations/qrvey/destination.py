"""Qrvey behind the ``Destination`` port.

* **Create, then load.** Create Dataset answers a ``datasetId``; a load is then started and finishes later
  (``LOADING`` → ``LOADED`` or ``FAILED``), so a create answers PENDING and :meth:`QrveyDestination.check`, called on
  a later delivery, says how it ended. No invocation ever waits for a load.
* **Identity.** The ``datasetId`` is the record id in the ledger. We choose it: a UUIDv5 of the route's user, app and
  our key (:func:`dataset_id_of`; seed 003 tells callers to pick a free UUID), so :meth:`find` reads that id first and
  a lost ledger write never makes a second dataset. The name we send ends in ``[<our key>:<digest>]``
  (:func:`tagged_name`): it tells a dataset of ours from someone else's, the digest tells whether it holds this very
  definition, and a search over names finds datasets created before we chose ids (the fallback of :meth:`find`).
  A create answered 409 (the id is taken) adopts the dataset when its tag is ours, else is refused naming the id.
* **A changed definition.** Qrvey documents no update of a dataset definition: by default a changed file is refused
  (REJECTED, with what to do); with the route option ``onChange: "recreate"`` the old dataset is deleted and the new
  definition created and loaded in its place (a new ``datasetId``).

This class decides what to do; the calls on the route's datasets, and how a dataset's load stands, are
:class:`~hdr_ingest.destinations.qrvey.datasets.Datasets`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hdr_ingest.core.answers import Answer, AnswerKind, RecordId
from hdr_ingest.core.document import parse_export
from hdr_ingest.core.ports import Call, Verdict
from hdr_ingest.core.verification import ReadBack
from hdr_ingest.destinations.qrvey.client import QrveyClient
from hdr_ingest.destinations.qrvey.credentials import ApiKey
from hdr_ingest.destinations.qrvey.datasets import (
    At,
    Datasets,
    dataset_id_of,
    digest_of,
    tag_of,
    tagged_name,
)
from hdr_ingest.destinations.qrvey.judge import DatasetJudge
from hdr_ingest.destinations.qrvey.readback import expected, held

__all__ = ["ON_CHANGE", "QrveyDestination", "dataset_id_of", "digest_of", "tag_of", "tagged_name"]

ON_CHANGE = ("reject", "recreate")


class QrveyDestination:
    kind = "qrvey"
    title = "Qrvey"
    noun = "Qrvey dataset"

    def __init__(
        self,
        url: str,
        client: QrveyClient,
        user_id: str,
        app_id: str,
        create_path: str | None = None,
        on_change: str = "reject",
        column_types: list[str] | None = None,
    ) -> None:
        self.url = url
        self.client = client
        self.user_id = user_id
        self.app_id = app_id
        self.datasets = Datasets(url, client, user_id, app_id)
        self.create_path = (create_path or self.datasets.path).format(userId=user_id, appId=app_id)
        self.on_change = on_change
        self._judge = DatasetJudge(app_id, user_id, column_types)

    # -- the port ------------------------------------------------------------------------------------------
    parse = staticmethod(parse_export)  # its files are metadata documents, or a catalogue's list of them

    def judge(self, document: Any, text: str) -> Verdict:
        return self._judge.judge(document)

    def credentials(self, secret: Any, secret_id: str) -> ApiKey:
        return ApiKey.from_secret(secret, secret_id)

    def find(self, record_key: str, call: Call) -> Answer:
        return self.datasets.find(record_key, At.of(call))

    def create(self, record_key: str, document: Any, verdict: Verdict, call: Call) -> Answer:
        return self._create(record_key, document, At.of(call))

    def _create(self, record_key: str, document: Any, at: At) -> Answer:
        doing = "create the dataset"
        body = self.datasets.body(record_key, document)
        reply = self.datasets.http(at, "POST", self.create_path, doing, body)
        if isinstance(reply, Answer):
            return reply
        if reply.status == 409:
            return self._taken(body["datasetId"], record_key, document, at)
        if not reply.ok:
            refused = self.datasets.refused(reply, doing, self.create_path, definition=True)
            if reply.status == 404:  # the create endpoint itself is missing: no dataset to look for
                return replace(refused, kind=AnswerKind.PERMANENT, message=f"{refused.message} Check createPath.")
            return refused
        if not isinstance(reply.body, dict):  # cut short or not JSON: the next try looks the dataset up first
            return Answer(AnswerKind.TRANSIENT, reply.status, "Qrvey's answer to the create was not JSON; will retry.")
        dataset_id = reply.body.get("datasetId")
        if not isinstance(dataset_id, str) or not dataset_id:
            return Answer(
                AnswerKind.PERMANENT,
                reply.status,
                f"Qrvey answered the create with HTTP {reply.status} but no datasetId; check the route's createPath "
                f"({self.create_path}) against the instance's Create Dataset endpoint.",
            )
        return self.datasets.load(dataset_id, at)

    def _taken(self, dataset_id: str, record_key: str, document: Any, at: At) -> Answer:
        """A create answered 409 for our chosen id: an earlier create of ours went through (adopt it, as a lookup
        would have) unless the dataset there is not ours."""
        dataset = self.datasets.get(dataset_id, at)
        if isinstance(dataset, Answer) and dataset.kind is not AnswerKind.NOT_FOUND:
            return dataset
        tag = tag_of(dataset.get("name")) if isinstance(dataset, dict) else None
        if tag is None or tag[0] != record_key:
            return Answer(
                AnswerKind.PERMANENT,
                409,
                f"Qrvey says dataset id {dataset_id} (the id this file's dataset gets) is taken, and the dataset there "
                "is not this file's (its name lacks our tag, or it belongs to another user or app). Remove or rename "
                "that dataset in Qrvey, then upload the file again.",
                record_id=dataset_id,
            )
        if isinstance(dataset, dict) and tag[1] != digest_of(document):
            if self.on_change == "recreate":  # never delete and create again inside a create: the next try does
                return Answer(
                    AnswerKind.TRANSIENT,
                    409,
                    f"Qrvey dataset {dataset_id} holds an earlier version of "
                    "this file; it will be recreated on the next try.",
                    record_id=dataset_id,
                )
            return self._changed(dataset_id, record_key, document, at)
        return self.datasets.state(dataset_id, dataset if isinstance(dataset, dict) else {}, at, created=True)

    def update(self, record_id: RecordId, record_key: str, document: Any, verdict: Verdict, call: Call) -> Answer:
        """The ledger (or a lookup) names a dataset of this source: finish it if it holds this definition, else
        refuse the change or recreate it (``onChange``)."""
        at = At.of(call)
        dataset = self.datasets.get(str(record_id), at)
        if isinstance(dataset, Answer) and dataset.kind is AnswerKind.NOT_FOUND:
            # Gone (deleted on Qrvey, or recreated by a try that got no answer): another dataset of this source?
            found = self.datasets.find(record_key, at)
            if found.kind is not AnswerKind.SUCCESS or found.record_id is None or found.record_id == str(record_id):
                return dataset if found.kind is AnswerKind.SUCCESS else found
            record_id = found.record_id
            dataset = self.datasets.get(str(record_id), at)
        if isinstance(dataset, Answer):
            return dataset
        tag = tag_of(dataset.get("name"))
        if tag is None or tag[1] != digest_of(document):
            return self._changed(str(record_id), record_key, document, at)
        return self.datasets.state(str(record_id), dataset, at, created=False)

    def restore(self, record_id: RecordId, call: Call) -> Answer:
        """Deleting a Qrvey dataset cannot be undone: a new one is created."""
        return Answer(AnswerKind.NOT_FOUND, None, f"Qrvey dataset {record_id} was deleted; creating a new one.")

    def archive(self, record_id: RecordId, call: Call) -> Answer:
        return self.datasets.delete(str(record_id), At.of(call))

    def check(self, record_id: RecordId, call: Call) -> Answer:
        at = At.of(call)
        dataset = self.datasets.get(str(record_id), at)
        if isinstance(dataset, Answer):
            if dataset.kind is AnswerKind.NOT_FOUND:
                return replace(
                    dataset,
                    kind=AnswerKind.PERMANENT,
                    message=f"Qrvey dataset {record_id} is gone (deleted while it loaded?); upload the file again "
                    "to create it anew.",
                )
            return dataset
        return self.datasets.state(str(record_id), dataset, at, created=True)

    def expected(self, document: Any, sent_along: Any) -> Any:
        """The definition as sent (name untagged, columns completed, seed 003's fields), and LOADED."""
        return expected(document, self.datasets.columns(document) if _sendable(document) else [])

    def read_back(self, record_id: RecordId, record_key: str, call: Any) -> ReadBack:
        """``GET .../qollect/dataset/{datasetId}``: the dataset Qrvey holds for our key."""
        return held(str(record_id), record_key, self.datasets.get(str(record_id), At.of(call)))

    def natural_key(self, element: Any) -> str | None:
        """An element of a catalogue file is known only by its own identifier here."""
        return None

    def _changed(self, dataset_id: str, record_key: str, document: Any, at: At) -> Answer:
        if self.on_change != "recreate":
            return Answer(
                AnswerKind.PERMANENT,
                None,
                f"Qrvey dataset {dataset_id} was created from an earlier version of this file, and Qrvey offers no way "
                "to change a dataset's definition. To publish the change: remove the dataset in Qrvey (or remove the "
                "file with ArchiveOnDelete on) and upload the file again, or give the route the option "
                'onChange: "recreate".',
                record_id=dataset_id,
            )
        deleted = self.datasets.delete(dataset_id, at)
        if deleted.kind not in (AnswerKind.SUCCESS, AnswerKind.NOT_FOUND):
            return replace(deleted, record_id=dataset_id)
        return self._create(record_key, document, at)


def _sendable(document: Any) -> bool:
    """Whether ``document`` has the shape a create sends (datasources and columns, lists of objects)."""
    sources = document.get("datasources") if isinstance(document, dict) else None
    columns = document.get("columns") if isinstance(document, dict) else None
    return (
        isinstance(sources, list)
        and bool(sources)
        and all(isinstance(s, dict) for s in sources)
        and isinstance(columns, list)
        and all(isinstance(c, dict) for c in columns)
    )
