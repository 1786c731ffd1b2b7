"""One route's datasets on Qrvey (a user and an application): how ours are named and identified, and the calls on
them: look up, search, the Create Dataset body, load, how a load stands, delete. :mod:`.destination` decides what
to call when; every call ends in a dataset, a :class:`Reply` or an :class:`Answer`, never an exception.

Identity (see :mod:`.destination`): the ``datasetId`` is a UUIDv5 of the route's user, app and our key
(:func:`dataset_id_of`), and the name ends in ``[<our key>:<digest>]`` (:func:`tagged_name`)."""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.core.document import canonical_bytes
from hdr_ingest.core.ports import Call
from hdr_ingest.destinations.qrvey.answers import ACCESS_ACTION, classify, messages_of
from hdr_ingest.destinations.qrvey.client import QrveyClient, Reply
from hdr_ingest.destinations.qrvey.credentials import ApiKey

FIND_LIMIT = 10
MAX_UNLOADED = 256  # datasets remembered as "load refused" (memory stays bounded in a long-lived container)
_TAG = re.compile(r"\s*\[(?P<key>[^\[\]:]+):(?P<digest>[0-9a-f]{12})\]\s*$")
_FAILURE_FIELDS = ("loadError", "errorMessage", "statusMessage", "error", "message", "errors")


def digest_of(document: Any) -> str:
    return hashlib.sha256(canonical_bytes(document)).hexdigest()[:12]


def tagged_name(name: str, key: str, digest: str) -> str:
    """The name sent to Qrvey: the file's name, then our key and the definition's digest."""
    return f"{name.strip()} [{key}:{digest}]"


def dataset_id_of(user_id: str, app_id: str, key: str) -> str:
    """The ``datasetId`` we send for ``key``: the same on every try, different per route (user, app) and key."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"qrvey-dataset:{user_id}:{app_id}:{key}"))


def datasource_id_of(key: str, index: int) -> str:
    """The ``datasourceId`` a datasource that has none gets: the same on every try."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"qrvey:{key}:{index}"))


def tag_of(name: Any) -> tuple[str, str] | None:
    """``(key, digest)`` from a name made by :func:`tagged_name`, else ``None``."""
    match = _TAG.search(name) if isinstance(name, str) else None
    return (match["key"], match["digest"]) if match else None


def untagged(name: str) -> str:
    """``name`` without the tag :func:`tagged_name` added."""
    return _TAG.sub("", name)


@dataclass(frozen=True)
class At:
    """One port call's credentials, read timeout and deadline: the HTTP calls it makes (a create and its load,
    a lookup then a load, ...) share the deadline, never each take the whole of it."""

    key: ApiKey
    timeout_s: float
    until: float

    @classmethod
    def of(cls, call: Call) -> At:
        return cls(call.credentials, call.timeout_s, time.monotonic() + call.deadline_s)


class Datasets:
    """The datasets of one route (``user_id``, ``app_id``) at ``url``, through ``client``."""

    def __init__(self, url: str, client: QrveyClient, user_id: str, app_id: str) -> None:
        self.url = url
        self.client = client
        self.user_id = user_id
        self.app_id = app_id
        self.path = f"/user/{quote(user_id, safe='')}/app/{quote(app_id, safe='')}/qollect/dataset"
        # Datasets this process created whose load Qrvey answered with a refusal: DRAFT there means "never loaded"
        # for sure, so the next try may load them (any other DRAFT may be a load just started: never a second one).
        self._unloaded: dict[str, None] = {}

    def http(self, at: At, method: str, path: str, doing: str, body: Any = None) -> Reply | Answer:
        return self.client.call(method, path, at.key, at.timeout_s, at.until, doing, body)

    def refused(self, reply: Reply, doing: str, path: str, definition: bool = False) -> Answer:
        """A non-2xx reply to ``METHOD path``, naming the URL tried when the path is at fault."""
        return classify(
            reply.status, reply.body, reply.headers, doing, definition, tried=f"{self.url.rstrip('/')}{path}"
        )

    def get(self, dataset_id: str, at: At) -> dict[str, Any] | Answer:
        doing = f"look up dataset {dataset_id}"
        path = f"{self.path}/{quote(dataset_id, safe='')}"
        reply = self.http(at, "GET", path, doing)
        if isinstance(reply, Answer):
            return reply
        if not reply.ok:
            return self.refused(reply, doing, path)
        if not isinstance(reply.body, dict):
            return Answer(AnswerKind.TRANSIENT, reply.status, f"Qrvey answered {doing} with no dataset; will retry.")
        return reply.body

    def find(self, key: str, at: At) -> Answer:
        """The dataset at our chosen id when it is ours; else (a dataset created before we chose ids) a name search."""
        dataset_id = dataset_id_of(self.user_id, self.app_id, key)
        dataset = self.get(dataset_id, at)
        if isinstance(dataset, dict) and (tag_of(dataset.get("name")) or ("",))[0] == key:
            return Answer(AnswerKind.SUCCESS, 200, "found by its id", record_id=dataset_id, found=True)
        if isinstance(dataset, Answer) and dataset.kind is not AnswerKind.NOT_FOUND:
            return dataset
        return self.search(key, at)

    def search(self, key: str, at: At) -> Answer:
        doing = "list the datasets of this application"
        query = {"limit": FIND_LIMIT, "filters": [{"filterType": "CONTAINS", "column": "search", "value": f"[{key}:"}]}
        reply = self.http(at, "POST", f"{self.path}/all", doing, query)
        if isinstance(reply, Answer):
            return reply
        if reply.status == 404:
            return Answer(AnswerKind.PERMANENT, 404, f"Qrvey knows no such user or application. {ACCESS_ACTION}")
        if not reply.ok:
            return self.refused(reply, doing, f"{self.path}/all")
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

    def body(self, key: str, document: dict[str, Any]) -> dict[str, Any]:
        """The Create Dataset body: the file's definition, named with our tag, each column completed with what the
        route knows (appId, userId), its datasource's connection when there is one, and its original type."""
        sources = [dict(s) for s in document["datasources"]]
        for index, source in enumerate(sources):
            source.setdefault("datasourceId", datasource_id_of(key, index))
        name = tagged_name(document["name"], key, digest_of(document))
        return {
            **document,
            "datasetId": dataset_id_of(self.user_id, self.app_id, key),
            "name": name,
            "datasources": sources,
            "columns": self.columns(document),
        }

    def columns(self, document: dict[str, Any]) -> list[dict[str, Any]]:
        """The definition's columns as sent: each completed with the route's appId and userId, its datasource's
        connection when there is only one, and its original type."""
        sources = document["datasources"]
        only = sources[0].get("connectionId") if len(sources) == 1 else None
        columns = []
        for column in document["columns"]:
            filled = {"appId": self.app_id, "userId": self.user_id, **column}
            if only and "connectionId" not in filled:
                filled["connectionId"] = only
            filled.setdefault("origColumnType", filled.get("columnType"))
            columns.append(filled)
        return columns

    def load(self, dataset_id: str, at: At) -> Answer:
        doing = f"load dataset {dataset_id}"
        path = f"{self.path}/{quote(dataset_id, safe='')}/load"
        reply = self.http(at, "POST", path, doing)
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
            return replace(self.refused(reply, doing, path), record_id=dataset_id)
        self._unloaded.pop(dataset_id, None)
        return Answer(AnswerKind.PENDING, reply.status, "Qrvey is loading it", record_id=dataset_id)

    def state(self, dataset_id: str, dataset: dict[str, Any], at: At, created: bool) -> Answer:
        """A dataset holding this definition: published once LOADED; pending while a load may be under way (LOADING,
        DRAFT, which Qrvey shows just after a load starts, or any status we do not know); when FAILED, refused with
        Qrvey's reason on a check (``created``), loaded again on a new drop of the file. One load per publish: only
        FAILED starts another one."""
        status = str(dataset.get("status") or "").upper()
        if status == "LOADED":
            return Answer(AnswerKind.SUCCESS, 200, "loaded", record_id=dataset_id, created=created)
        if status == "DRAFT" and dataset_id in self._unloaded:
            return self.load(dataset_id, at)  # our load of it was refused: none is running
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
        return self.load(dataset_id, at)  # FAILED, and the file dropped again

    def delete(self, dataset_id: str, at: At) -> Answer:
        doing = f"delete dataset {dataset_id}"
        path = f"{self.path}/{quote(dataset_id, safe='')}"
        reply = self.http(at, "DELETE", path, doing)
        if isinstance(reply, Answer):
            return reply
        if not reply.ok:
            return self.refused(reply, doing, path)
        return Answer(AnswerKind.SUCCESS, reply.status, "deleted", record_id=dataset_id)


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
