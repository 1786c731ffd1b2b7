"""Adobe Experience Platform behind the ``Destination`` port: each file is one batch into the route's dataset,
pending until Catalog reports it loaded or failed; a changed file is a replay batch replacing the last one."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from hdr_ingest.core.answers import Answer, AnswerKind, RecordId
from hdr_ingest.core.outcome import ErrorDetail
from hdr_ingest.core.ports import Call, Verdict
from hdr_ingest.destinations.aep.answers import (
    GONE,
    MAX_RETRY_AFTER_S,
    TERMINAL_FAILURE,
    TERMINAL_SUCCESS,
    batch_answer,
    batch_of,
)
from hdr_ingest.destinations.aep.client import AepClient, Body, Reply
from hdr_ingest.destinations.aep.credentials import AepCredentials
from hdr_ingest.destinations.aep.judge import (
    MAX_SMALL_FILE_BYTES,
    XdmValidator,
    file_bytes,
    parse_records,
    records_of,
    structure_errors,
)

XED_FULL = "application/vnd.adobe.xed-full+json; version=1"
XED_REF = "application/vnd.adobe.xed+json;version=1"
KEY_TAG = "hgiKey"  # on our batches: the object's record key
REPLACES_TAG = "hgiReplaces"  # on a replay batch: the batch it replaces
VERSION_TAG = "hgiVersion"  # on our batches: 1 for the object's first content, +1 for each replay
DATASET_TAG = "hgiDataset"  # on the dataset we create: the route's datasetName
SCHEMA_TTL_S = 900.0  # a schema change is seen within this long
FILE_NAME = "records.json"
ABORT_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class AepOptions:
    org_id: str
    sandbox: str
    schema_id: str
    dataset_name: str


@dataclass(frozen=True)
class Bounded:
    """A port call's credentials and time: each HTTP call of a chain (up to seven for a drop) waits at most
    ``read_timeout_s`` and never beyond the call's deadline."""

    credentials: AepCredentials
    read_timeout_s: float
    deadline: float  # time.monotonic()

    @classmethod
    def of(cls, call: Call) -> Bounded:
        return cls(call.credentials, call.timeout_s, time.monotonic() + call.deadline_s)

    @property
    def timeout_s(self) -> float:
        return max(0.0, min(self.read_timeout_s, self.deadline - time.monotonic()))


class AepDestination:
    kind = "aep"
    title = "AEP"
    noun = "AEP batch"

    def __init__(self, url: str, client: AepClient, options: AepOptions, clock: Any = time.monotonic) -> None:
        self.url = url
        self.client = client
        self.options = options
        self.clock = clock
        self._dataset_id: str | None = None
        self._dataset_lock = threading.Lock()
        self._xdm: tuple[float, XdmValidator] | None = None
        self._xdm_lock = threading.Lock()

    # -- before publishing ----------------------------------------------------------------------------------
    @staticmethod
    def parse(data: bytes) -> dict[str, Any]:
        """An AEP file is JSON records, not one metadata document (the pipeline's optional ``parse`` hook)."""
        return parse_records(data)

    def judge(self, document: Any, text: str) -> Verdict:
        """Structure only (no credentials here): records are objects, the file fits a small-file upload. Records
        are checked against the XDM schema when published (``create``/``update``), which needs a token."""
        records = records_of(document)
        errors = structure_errors(records)
        size = len(file_bytes(records)) if not errors else 0
        if size > MAX_SMALL_FILE_BYTES:
            errors = [ErrorDetail("$", f"is {size} bytes as JSON lines, above 256 MB: split it into smaller files")]
        target = self.options.schema_id
        if errors:
            return Verdict(False, f"has {len(errors)} errors as AEP records", tuple(errors), target)
        return Verdict(True, f"holds {len(records)} records", (), target)

    def credentials(self, secret: Any, secret_id: str) -> AepCredentials:
        return AepCredentials.from_secret(secret, secret_id)

    # -- the port -------------------------------------------------------------------------------------------
    def find(self, key: str, call: Call) -> Answer:
        """Our latest batch for this object that did not fail (a lost ledger write, a crash after creating)."""
        run = Bounded.of(call)
        dataset = self._dataset(run, create=False)
        if isinstance(dataset, Answer) or dataset is None:
            return dataset or Answer(AnswerKind.SUCCESS, 200, "no dataset yet, so no batch")
        batch = self._latest_batch(key, dataset, run, statuses=None)
        if isinstance(batch, Answer) or batch is None:
            return batch or Answer(AnswerKind.SUCCESS, 200, "no batch for this object")
        batch_id, status = batch[0], str(batch[1].get("status", "")).lower()
        return Answer(
            AnswerKind.SUCCESS,
            200,
            f"batch {batch_id} is {status}",
            record_id=batch_id,
            record_version=_version(batch[1]),
            found=status not in GONE,
        )

    def create(self, key: str, document: Any, verdict: Verdict, call: Call) -> Answer:
        run = Bounded.of(call)
        return self._publish(key, document, run, predecessor=None)

    def update(self, record_id: RecordId, key: str, document: Any, verdict: Verdict, call: Call) -> Answer:
        """A replay batch replacing ``record_id`` (the last published batch); the same content already sent is
        not sent again."""
        run = Bounded.of(call)
        batch_id = str(record_id)
        got = self._batch(batch_id, run)
        if isinstance(got, Answer):
            return got
        status = _status(got)
        if (
            str(got.get("externalId", "")).startswith(external_id(key, document))
            and status not in TERMINAL_FAILURE | GONE
        ):
            return _answer(batch_id, got)  # this content's batch: how it stands
        if status in TERMINAL_SUCCESS:
            return self._publish(key, document, run, predecessor=batch_id, version=_version(got) + 1)
        if status in TERMINAL_FAILURE | GONE:
            dataset = self._dataset(run, create=True)
            if isinstance(dataset, Answer):
                return dataset
            last = self._latest_batch(key, str(dataset), run, statuses="success")
            if isinstance(last, Answer):
                return last
            if last is None:
                return self._publish(key, document, run, predecessor=None)
            return self._publish(key, document, run, predecessor=last[0], version=_version(last[1]) + 1)
        return Answer(
            AnswerKind.TRANSIENT,
            None,
            f"AEP batch {batch_id} (the previous content) is still {status}; the new content is sent as a replay "
            "batch once it has settled.",
            retry_after_s=MAX_RETRY_AFTER_S,  # not within this invocation: on a later delivery
        )

    def restore(self, record_id: RecordId, call: Call) -> Answer:
        return Answer(
            AnswerKind.NOT_FOUND,
            None,
            f"batch {record_id} was reverted and cannot come back; the file is sent as a new batch",
        )

    def archive(self, record_id: RecordId, call: Call) -> Answer:
        """Deletion: revert the object's last loaded batch (its rows leave the dataset). When the last batch
        failed, the one loaded before it is reverted; one still loading is reverted once it has settled."""
        run = Bounded.of(call)
        batch_id = str(record_id)
        got = self._batch(batch_id, run)
        if isinstance(got, Answer):
            return got
        status = _status(got)
        if status in TERMINAL_SUCCESS:
            return self._revert(batch_id, run)
        if status in GONE:
            return Answer(AnswerKind.SUCCESS, 200, f"batch {batch_id} is already {status}", record_id=batch_id)
        if status not in TERMINAL_FAILURE:
            return Answer(
                AnswerKind.TRANSIENT,
                None,
                f"AEP batch {batch_id} is still {status}; it is reverted once it has settled.",
                retry_after_s=MAX_RETRY_AFTER_S,
            )
        dataset, key = self._dataset(run, create=False), _tag(got, KEY_TAG)
        if isinstance(dataset, Answer):
            return dataset
        last = self._latest_batch(key, dataset, run, statuses="success") if dataset and key else None
        if isinstance(last, Answer):
            return last
        if last is None:
            return Answer(AnswerKind.NOT_FOUND, 200, f"batch {batch_id} {status} and nothing of this file is loaded")
        return self._revert(last[0], run)

    def _revert(self, batch_id: str, call: Bounded) -> Answer:
        reply = self.client.request(
            "POST",
            f"/import/batches/{quote(batch_id)}",
            call.credentials,
            call.timeout_s,
            f"reverting batch {batch_id}",
            params={"action": "REVERT"},
        )
        if isinstance(reply, Answer):
            return reply
        return Answer(AnswerKind.SUCCESS, reply.status, f"batch {batch_id} reverted", record_id=batch_id)

    def check(self, record_id: RecordId, call: Call) -> Answer:
        run = Bounded.of(call)
        batch_id = str(record_id)
        got = self._batch(batch_id, run)
        if isinstance(got, Answer):
            return got
        return _answer(batch_id, got)

    def natural_key(self, element: Any) -> str | None:
        """An element of a catalogue file is known only by its own identifier here."""
        return None

    # -- steps ----------------------------------------------------------------------------------------------

    def _publish(self, key: str, document: Any, call: Bounded, predecessor: str | None, version: int = 1) -> Answer:
        records = records_of(document)
        rejected = self._validate(records, call)
        if rejected is not None:
            return rejected
        dataset = self._dataset(call, create=True)
        if isinstance(dataset, Answer):
            return dataset
        assert dataset is not None
        sent = self._sent_already(key, external_id(key, document), dataset, call)
        if isinstance(sent, Answer):
            return sent
        body: dict[str, Any] = {
            "datasetId": dataset,
            "inputFormat": {"format": "json"},
            "externalId": sent,
            "tags": {KEY_TAG: [key], VERSION_TAG: [str(version)]},
        }
        if predecessor:
            body["replay"] = {"predecessors": [predecessor], "reason": "replace"}
            body["tags"][REPLACES_TAG] = [predecessor]
        reply = self.client.request(
            "POST", "/import/batches", call.credentials, call.timeout_s, "creating the batch", body=Body.json(body)
        )
        if isinstance(reply, Answer):
            return reply
        batch_id = str(reply.body.get("id", "")) if isinstance(reply.body, dict) else ""
        if not batch_id:
            return Answer(AnswerKind.TRANSIENT, reply.status, "AEP created a batch but gave no id; will retry.")
        failed = self._fill_and_complete(batch_id, dataset, records, call)
        if failed is not None:
            return failed
        replay = f", replacing batch {predecessor}" if predecessor else ""
        return Answer(
            AnswerKind.PENDING,
            reply.status,
            f"batch {batch_id} of {len(records)} records is loading into dataset {dataset}{replay}",
            record_id=batch_id,
            record_version=version,
        )

    def _fill_and_complete(self, batch_id: str, dataset: str, records: list[Any], call: Bounded) -> Answer | None:
        """Upload the file and signal completion; on a failure, abort the batch and say why."""
        upload = self.client.request(
            "PUT",
            f"/import/batches/{batch_id}/datasets/{dataset}/files/{FILE_NAME}",
            call.credentials,
            call.timeout_s,
            f"uploading the file to batch {batch_id}",
            body=Body(file_bytes(records), "application/octet-stream"),
        )
        if not isinstance(upload, Answer):
            upload = self.client.request(
                "POST",
                f"/import/batches/{batch_id}",
                call.credentials,
                call.timeout_s,
                f"completing batch {batch_id}",
                params={"action": "COMPLETE"},
            )
        if isinstance(upload, Answer):
            self._abort(batch_id, call)
            return upload
        return None

    def _abort(self, batch_id: str, call: Bounded) -> None:
        """Best effort: a batch left open would be found again by ``find`` and never finish."""
        self.client.request(
            "POST",
            f"/import/batches/{batch_id}",
            call.credentials,
            ABORT_TIMEOUT_S,  # even past the deadline: the margin kept for recording covers it
            f"aborting batch {batch_id}",
            params={"action": "ABORT"},
        )

    def _batch(self, batch_id: str, call: Bounded) -> dict[str, Any] | Answer:
        reply = self.client.request(
            "GET", f"/catalog/batches/{quote(batch_id)}", call.credentials, call.timeout_s, f"reading batch {batch_id}"
        )
        if isinstance(reply, Answer):
            return reply
        batch = batch_of(reply.body, batch_id)
        if batch is None:
            return Answer(AnswerKind.NOT_FOUND, reply.status, f"AEP has no batch {batch_id}")
        return dict(batch)

    def _latest_batch(
        self, key: str, dataset: str, call: Bounded, statuses: str | None
    ) -> tuple[str, dict[str, Any]] | Answer | None:
        batches = self._batches(key, dataset, call, statuses)
        if isinstance(batches, Answer):
            return batches
        return next(((i, b) for i, b in batches if _status(b) not in TERMINAL_FAILURE), None)

    def _batches(
        self, key: str, dataset: str, call: Bounded, statuses: str | None = None
    ) -> list[tuple[str, dict[str, Any]]] | Answer:
        """This object's batches in the dataset (our key tag), newest first (the latest 50)."""
        params = {"dataSet": dataset, "tags": f"{KEY_TAG}:{key}", "orderBy": "desc:created", "limit": "50"}
        if statuses:
            params["status"] = statuses
        reply = self.client.request(
            "GET", "/catalog/batches", call.credentials, call.timeout_s, "listing this object's batches", params=params
        )
        if isinstance(reply, Answer):
            return reply
        found = [(str(i), dict(b)) for i, b in (reply.body or {}).items() if isinstance(b, dict)]
        found.sort(key=lambda item: item[1].get("created") or 0, reverse=True)
        return found

    def _sent_already(self, key: str, base: str, dataset: str, call: Bounded) -> Answer | str:
        """A batch of this very content that still counts (not failed, reverted or replaced): its answer, so a
        retried create never loads the data twice. Otherwise the externalId to use: ``base``, or ``base`` with a
        suffix when a batch of this content failed before (an externalId is meant to be unique in the org)."""
        batches = self._batches(key, dataset, call)
        if isinstance(batches, Answer):
            return batches
        counted = [(i, b) for i, b in batches if _status(b) not in TERMINAL_FAILURE | GONE]
        replaced = {p for _, b in counted for p in _tags(b, REPLACES_TAG)}
        same = [(i, b) for i, b in batches if str(b.get("externalId", "")).startswith(base)]
        live = next(((i, b) for i, b in same if (i, b) in counted and i not in replaced), None)
        if live is not None:
            return _answer(*live)
        return f"{base}:{int(time.time() * 1000)}" if same else base

    def _dataset(self, call: Bounded, create: bool) -> str | Answer | None:
        """The route's dataset: found by our tag, else by name, else (``create``) created on the schema. One lock
        per container, so its threads never create two."""
        with self._dataset_lock:
            if self._dataset_id:
                return self._dataset_id
            name = self.options.dataset_name
            for params in ({"tags": f"{DATASET_TAG}:{name}"}, {"name": name}):
                reply = self.client.request(
                    "GET",
                    "/catalog/dataSets",
                    call.credentials,
                    call.timeout_s,
                    f"looking up dataset {name!r}",
                    params={**params, "limit": "20"},
                )
                if isinstance(reply, Answer):
                    return reply
                hits = sorted(
                    (b.get("created") or 0, str(i)) for i, b in (reply.body or {}).items() if isinstance(b, dict)
                )
                if hits:
                    self._dataset_id = hits[0][1]
                    return self._dataset_id
            if not create:
                return None
            created = self._create_dataset(call)
            if isinstance(created, str):
                self._dataset_id = created
            return created

    def _create_dataset(self, call: Bounded) -> str | Answer:
        name = self.options.dataset_name
        body = {
            "name": name,
            "schemaRef": {"id": self.options.schema_id, "contentType": XED_REF},
            "tags": {DATASET_TAG: [name]},
            "fileDescription": {"persisted": True, "containerFormat": "parquet", "format": "parquet"},
        }
        reply = self.client.request(
            "POST",
            "/catalog/dataSets",
            call.credentials,
            call.timeout_s,
            f"creating dataset {name!r}",
            body=Body.json(body),
        )
        if isinstance(reply, Answer):
            return reply
        refs = reply.body if isinstance(reply.body, list) else []
        ref = next((r for r in refs if isinstance(r, str) and r.startswith("@/dataSets/")), None)
        if ref is None:
            return Answer(AnswerKind.TRANSIENT, reply.status, f"AEP created dataset {name!r} but gave no id")
        return ref.removeprefix("@/dataSets/")

    def _validate(self, records: list[Any], call: Bounded) -> Answer | None:
        validator = self._validator(call)
        if isinstance(validator, Answer):
            return validator
        errors = validator.errors(records)
        if not errors:
            return None
        return Answer(
            AnswerKind.METADATA_REJECTED,
            None,
            f"The records have {len(errors)} errors against XDM schema {self.options.schema_id}; nothing was sent. "
            "Fix each error listed and upload the file again.",
            errors=tuple(errors),
        )

    def _validator(self, call: Bounded) -> XdmValidator | Answer:
        with self._xdm_lock:
            if self._xdm and self.clock() - self._xdm[0] < SCHEMA_TTL_S:
                return self._xdm[1]
            schema_id = self.options.schema_id
            reply = self.client.request(
                "GET",
                f"/schemaregistry/tenant/schemas/{quote(schema_id, safe='')}",
                call.credentials,
                call.timeout_s,
                f"reading XDM schema {schema_id}",
                accept=XED_FULL,
            )
            if isinstance(reply, Answer):
                return reply
            assert isinstance(reply, Reply)
            validator = XdmValidator(reply.body)
            self._xdm = (self.clock(), validator)
            return validator


def external_id(key: str, document: Any) -> str:
    """Our stable key for the object and a version of its content: the same content is the same batch."""
    version = hashlib.sha256(file_bytes(records_of(document))).hexdigest()[:20]
    return f"{key}:{version}"


def _tags(batch: dict[str, Any], name: str) -> list[str]:
    tags = batch.get("tags")
    values = tags.get(name) if isinstance(tags, dict) else None
    return [str(v) for v in values] if isinstance(values, list) else []


def _tag(batch: dict[str, Any], name: str) -> str | None:
    return next(iter(_tags(batch, name)), None)


def _status(batch: dict[str, Any]) -> str:
    return str(batch.get("status", "")).lower()


def _version(batch: dict[str, Any]) -> int:
    text = _tag(batch, VERSION_TAG)
    return int(text) if text and text.isdigit() else 1


def _answer(batch_id: str, batch: dict[str, Any]) -> Answer:
    """How our batch stands; a loaded first batch is a created record, a loaded replay an updated one."""
    answer = batch_answer(batch_id, batch, created=_tag(batch, REPLACES_TAG) is None)
    return replace(answer, record_version=_version(batch))
