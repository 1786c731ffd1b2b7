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
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from hdr_ingest.core.answers import Answer, AnswerKind, RecordId
from hdr_ingest.core.document import canonical_json, parse_export
from hdr_ingest.core.ports import Call, Verdict
from hdr_ingest.destinations.qrvey.answers import ACCESS_ACTION, classify, messages_of
from hdr_ingest.destinations.qrvey.client import QrveyClient, Reply
from hdr_ingest.destinations.qrvey.credentials import ApiKey
from hdr_ingest.destinations.qrvey.judge import DatasetJudge

ON_CHANGE = ("reject", "recreate")
FIND_LIMIT = 10
MAX_UNLOADED = 256  # datasets remembered as "load refused" (memory stays bounded in a long-lived container)
_TAG = re.compile(r"\s*\[(?P<key>[^\[\]:]+):(?P<digest>[0-9a-f]{12})\]\s*$")
_FAILURE_FIELDS = ("loadError", "errorMessage", "statusMessage", "error", "message", "errors")


def digest_of(document: Any) -> str:
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()[:12]


def tagged_name(name: str, key: str, digest: str) -> str:
    """The name sent to Qrvey: the file's name, then our key and the definition's digest."""
    return f"{name.strip()} [{key}:{digest}]"


def dataset_id_of(user_id: str, app_id: str, key: str) -> str:
    """The ``datasetId`` we send for ``key``: the same on every try, different per route (user, app) and key."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"qrvey-dataset:{user_id}:{app_id}:{key}"))


def tag_of(name: Any) -> tuple[str, str] | None:
    """``(key, digest)`` from a name made by :func:`tagged_name`, else ``None``."""
    match = _TAG.search(name) if isinstance(name, str) else None
    return (match["key"], match["digest"]) if match else None


@dataclass(frozen=True)
class _At:
    """One port call's credentials, read timeout and deadline: the HTTP calls it makes (a create and its load,
    a lookup then a load, ...) share the deadline, never each take the whole of it."""

    key: ApiKey
    timeout_s: float
    until: float

    @classmethod
    def of(cls, call: Call) -> _At:
        return cls(call.credentials, call.timeout_s, time.monotonic() + call.deadline_s)


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
        self.datasets = f"/user/{quote(user_id, safe='')}/app/{quote(app_id, safe='')}/qollect/dataset"
        self.create_path = (create_path or self.datasets).format(userId=user_id, appId=app_id)
        self.on_change = on_change
        self._judge = DatasetJudge(app_id, user_id, column_types)
        # Datasets this process created whose load Qrvey answered with a refusal: DRAFT there means "never loaded"
        # for sure, so the next try may load them (any other DRAFT may be a load just started: never a second one).
        self._unloaded: dict[str, None] = {}

    # -- the port ------------------------------------------------------------------------------------------
    parse = staticmethod(parse_export)  # its files are metadata documents, or a catalogue's list of them

    def judge(self, document: Any, text: str) -> Verdict:
        return self._judge.judge(document)

    def credentials(self, secret: Any, secret_id: str) -> ApiKey:
        return ApiKey.from_secret(secret, secret_id)

    def find(self, key: str, call: Call) -> Answer:
        return self._find(key, _At.of(call))

    def _find(self, key: str, at: _At) -> Answer:
        """The dataset at our chosen id when it is ours; else (a dataset created before we chose ids) a name search."""
        dataset_id = dataset_id_of(self.user_id, self.app_id, key)
        dataset = self._get(dataset_id, at)
        if isinstance(dataset, dict) and (tag_of(dataset.get("name")) or ("",))[0] == key:
            return Answer(AnswerKind.SUCCESS, 200, "found by its id", record_id=dataset_id, found=True)
        if isinstance(dataset, Answer) and dataset.kind is not AnswerKind.NOT_FOUND:
            return dataset
        return self._search(key, at)

    def _search(self, key: str, at: _At) -> Answer:
        doing = "list the datasets of this application"
        query = {"limit": FIND_LIMIT, "filters": [{"filterType": "CONTAINS", "column": "search", "value": f"[{key}:"}]}
        reply = self._http(at, "POST", f"{self.datasets}/all", doing, query)
        if isinstance(reply, Answer):
            return reply
        if reply.status == 404:
            return Answer(AnswerKind.PERMANENT, 404, f"Qrvey knows no such user or application. {ACCESS_ACTION}")
        if not reply.ok:
            return self._refused(reply, doing, f"{self.datasets}/all")
        items = reply.body.get("Items") if isinstance(reply.body, dict) else None
        if not isinstance(items, list):
            return Answer(
                AnswerKind.PERMANENT,
                reply.status,
                f"Qrvey's answer to the dataset search (HTTP {reply.status}) holds no Items list, so whether this "
                "source already has a dataset is unknown; check that the route's url is <instance>/devapi/v4.",
            )
        ours = [i for i in items if isinstance(i, dict) and (tag_of(i.get("name")) or ("",))[0] == key]
        if not ours:
            return Answer(AnswerKind.SUCCESS, reply.status, "no dataset of this source")
        return Answer(AnswerKind.SUCCESS, reply.status, "found", record_id=str(ours[0].get("datasetId")), found=True)

    def create(self, key: str, document: Any, verdict: Verdict, call: Call) -> Answer:
        return self._create(key, document, _At.of(call))

    def _create(self, key: str, document: Any, at: _At) -> Answer:
        doing = "create the dataset"
        body = self._body(key, document)
        reply = self._http(at, "POST", self.create_path, doing, body)
        if isinstance(reply, Answer):
            return reply
        if reply.status == 409:
            return self._taken(body["datasetId"], key, document, at)
        if not reply.ok:
            refused = self._refused(reply, doing, self.create_path, definition=True)
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
        return self._load(dataset_id, at)

    def _taken(self, dataset_id: str, key: str, document: Any, at: _At) -> Answer:
        """A create answered 409 for our chosen id: an earlier create of ours went through (adopt it, as a lookup
        would have) unless the dataset there is not ours."""
        dataset = self._get(dataset_id, at)
        if isinstance(dataset, Answer) and dataset.kind is not AnswerKind.NOT_FOUND:
            return dataset
        tag = tag_of(dataset.get("name")) if isinstance(dataset, dict) else None
        if tag is None or tag[0] != key:
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
            return self._changed(dataset_id, key, document, at)
        return self._state(dataset_id, dataset if isinstance(dataset, dict) else {}, at, created=True)

    def update(self, record_id: RecordId, key: str, document: Any, verdict: Verdict, call: Call) -> Answer:
        """The ledger (or a lookup) names a dataset of this source: finish it if it holds this definition, else
        refuse the change or recreate it (``onChange``)."""
        at = _At.of(call)
        dataset = self._get(str(record_id), at)
        if isinstance(dataset, Answer) and dataset.kind is AnswerKind.NOT_FOUND:
            # Gone (deleted on Qrvey, or recreated by a try that got no answer): another dataset of this source?
            found = self._find(key, at)
            if found.kind is not AnswerKind.SUCCESS or found.record_id is None or found.record_id == str(record_id):
                return dataset if found.kind is AnswerKind.SUCCESS else found
            record_id = found.record_id
            dataset = self._get(str(record_id), at)
        if isinstance(dataset, Answer):
            return dataset
        tag = tag_of(dataset.get("name"))
        if tag is None or tag[1] != digest_of(document):
            return self._changed(str(record_id), key, document, at)
        return self._state(str(record_id), dataset, at, created=False)

    def restore(self, record_id: RecordId, call: Call) -> Answer:
        """Deleting a Qrvey dataset cannot be undone: a new one is created."""
        return Answer(AnswerKind.NOT_FOUND, None, f"Qrvey dataset {record_id} was deleted; creating a new one.")

    def archive(self, record_id: RecordId, call: Call) -> Answer:
        return self._archive(record_id, _At.of(call))

    def _archive(self, record_id: RecordId, at: _At) -> Answer:
        doing = f"delete dataset {record_id}"
        path = f"{self.datasets}/{quote(str(record_id), safe='')}"
        reply = self._http(at, "DELETE", path, doing)
        if isinstance(reply, Answer):
            return reply
        if not reply.ok:
            return self._refused(reply, doing, path)
        return Answer(AnswerKind.SUCCESS, reply.status, "deleted", record_id=record_id)

    def check(self, record_id: RecordId, call: Call) -> Answer:
        at = _At.of(call)
        dataset = self._get(str(record_id), at)
        if isinstance(dataset, Answer):
            if dataset.kind is AnswerKind.NOT_FOUND:
                return replace(
                    dataset,
                    kind=AnswerKind.PERMANENT,
                    message=f"Qrvey dataset {record_id} is gone (deleted while it loaded?); upload the file again "
                    "to create it anew.",
                )
            return dataset
        return self._state(str(record_id), dataset, at, created=True)

    def natural_key(self, element: Any) -> str | None:
        """An element of a catalogue file is known only by its own identifier here."""
        return None

    # -- steps ---------------------------------------------------------------------------------------------

    def _http(self, at: _At, method: str, path: str, doing: str, body: Any = None) -> Reply | Answer:
        return self.client.call(method, path, at.key, at.timeout_s, at.until, doing, body)

    def _refused(self, reply: Reply, doing: str, path: str, definition: bool = False) -> Answer:
        """A non-2xx reply to ``METHOD path``, naming the URL tried when the path is at fault."""
        return classify(
            reply.status, reply.body, reply.headers, doing, definition, tried=f"{self.url.rstrip('/')}{path}"
        )

    def _body(self, key: str, document: dict[str, Any]) -> dict[str, Any]:
        """The Create Dataset body: the file's definition, named with our tag, each column completed with what the
        route knows (appId, userId), its datasource's connection when there is one, and its original type."""
        sources = [dict(s) for s in document["datasources"]]
        for index, source in enumerate(sources):
            source.setdefault("datasourceId", str(uuid.uuid5(uuid.NAMESPACE_URL, f"qrvey:{key}:{index}")))
        only = sources[0].get("connectionId") if len(sources) == 1 else None
        columns = []
        for column in document["columns"]:
            filled = {"appId": self.app_id, "userId": self.user_id, **column}
            if only and "connectionId" not in filled:
                filled["connectionId"] = only
            filled.setdefault("origColumnType", filled.get("columnType"))
            columns.append(filled)
        name = tagged_name(document["name"], key, digest_of(document))
        return {
            **document,
            "datasetId": dataset_id_of(self.user_id, self.app_id, key),
            "name": name,
            "datasources": sources,
            "columns": columns,
        }

    def _get(self, dataset_id: str, at: _At) -> dict[str, Any] | Answer:
        doing = f"look up dataset {dataset_id}"
        path = f"{self.datasets}/{quote(dataset_id, safe='')}"
        reply = self._http(at, "GET", path, doing)
        if isinstance(reply, Answer):
            return reply
        if not reply.ok:
            return self._refused(reply, doing, path)
        if not isinstance(reply.body, dict):
            return Answer(AnswerKind.TRANSIENT, reply.status, f"Qrvey answered {doing} with no dataset; will retry.")
        return reply.body

    def _load(self, dataset_id: str, at: _At) -> Answer:
        doing = f"load dataset {dataset_id}"
        path = f"{self.datasets}/{quote(dataset_id, safe='')}/load"
        reply = self._http(at, "POST", path, doing)
        if isinstance(reply, Answer):  # no answer: the load may have started
            self._unloaded.pop(dataset_id, None)
            return replace(reply, record_id=dataset_id)
        if reply.status == 409:  # a load is already under way (what Qrvey answers then is undocumented)
            self._unloaded.pop(dataset_id, None)
            return Answer(AnswerKind.PENDING, 409, "Qrvey is already loading it", record_id=dataset_id)
        if not reply.ok:
            self._unloaded[dataset_id] = None
            while len(self._unloaded) > MAX_UNLOADED:
                self._unloaded.pop(next(iter(self._unloaded)))
            return replace(self._refused(reply, doing, path), record_id=dataset_id)
        self._unloaded.pop(dataset_id, None)
        return Answer(AnswerKind.PENDING, reply.status, "Qrvey is loading it", record_id=dataset_id)

    def _state(self, dataset_id: str, dataset: dict[str, Any], at: _At, created: bool) -> Answer:
        """A dataset holding this definition: published once LOADED; pending while a load may be under way (LOADING,
        DRAFT, which Qrvey shows just after a load starts, or any status we do not know); when FAILED, refused with
        Qrvey's reason on a check (``created``), loaded again on a new drop of the file. One load per publish: only
        FAILED starts another one."""
        status = str(dataset.get("status") or "").upper()
        if status == "LOADED":
            return Answer(AnswerKind.SUCCESS, 200, "loaded", record_id=dataset_id, created=created)
        if status == "DRAFT" and dataset_id in self._unloaded:
            return self._load(dataset_id, at)  # our load of it was refused: none is running
        if status != "FAILED":
            stuck = (
                " (a dataset that stays DRAFT was never loaded: start its load in Qrvey)" if status == "DRAFT" else ""
            )
            said = f"Qrvey is still loading it (status {status or 'none'}){stuck}"
            return Answer(AnswerKind.PENDING, 200, said, record_id=dataset_id)
        if created:
            return Answer(
                AnswerKind.PERMANENT,
                200,
                f"Qrvey could not load dataset {dataset_id}: {failure_reason(dataset)}. Fix the cause on Qrvey's side "
                "(the connection, table or columns) or in the file, then upload the file again to load it again.",
                record_id=dataset_id,
            )
        return self._load(dataset_id, at)  # FAILED, and the file dropped again

    def _changed(self, dataset_id: str, key: str, document: Any, at: _At) -> Answer:
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
        deleted = self._archive(dataset_id, at)
        if deleted.kind not in (AnswerKind.SUCCESS, AnswerKind.NOT_FOUND):
            return replace(deleted, record_id=dataset_id)
        return self._create(key, document, at)


def failure_reason(dataset: dict[str, Any]) -> str:
    """Qrvey's words on a FAILED load (the field is not documented: the usual names are tried)."""
    for name in _FAILURE_FIELDS:
        value = dataset.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, (list, dict)):
            words = messages_of({"errors": value} if isinstance(value, list) else value)
            if words:
                return "; ".join(words)
    return "Qrvey gave no reason"
