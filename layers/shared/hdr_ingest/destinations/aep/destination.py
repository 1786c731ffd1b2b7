"""Adobe Experience Platform behind the ``Destination`` port: each file is one batch into the route's dataset,
pending until Catalog reports it loaded or failed; a changed file is a replay batch replacing the last one.

Ownership: a batch is ours only when its ``hgiKey`` tag carries this object's key (a Catalog that ignores the
``tags`` filter, or a tag collision, must never hand us another file's batch to replay or revert); a dataset is
the route's only when its name (or our tag) matches exactly and its ``schemaRef`` is the route's ``schemaId``."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from hdr_ingest.core.answers import Answer, AnswerKind, RecordId
from hdr_ingest.core.outcome import ErrorDetail
from hdr_ingest.core.ports import Call, Verdict
from hdr_ingest.core.verification import ReadBack
from hdr_ingest.destinations.aep.answers import GONE, LOADED, MAX_RETRY_AFTER_S, TERMINAL_FAILURE, batch_answer
from hdr_ingest.destinations.aep.client import AepClient, Bounded
from hdr_ingest.destinations.aep.credentials import AepCredentials
from hdr_ingest.destinations.aep.judge import (
    MAX_SMALL_FILE_BYTES,
    XdmCheck,
    converted_note,
    file_bytes,
    parse_records,
    records_of,
    structure_errors,
)

XED_REF = "application/vnd.adobe.xed+json;version=1"
KEY_TAG = "hgiKey"  # on our batches: the object's record key (as a filter value: see ``filter_value``)
REPLACES_TAG = "hgiReplaces"  # on a replay batch: the batch it replaces
VERSION_TAG = "hgiVersion"  # on our batches: 1 for the object's first content, +1 for each replay
DATASET_TAG = "hgiDataset"  # on the dataset we create: the route's datasetName
FILE_NAME = "records.json"
ABORT_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class AepOptions:
    org_id: str
    sandbox: str
    schema_id: str
    dataset_name: str


class AepDestination:
    kind = "aep"
    title = "AEP"
    noun = "AEP batch"

    def __init__(self, url: str, client: AepClient, options: AepOptions, clock: Any = time.monotonic) -> None:
        self.url = url
        self.client = client
        self.options = options
        self.datasets = Datasets(client, options)
        self.batches = Batches(client)
        self.xdm = XdmCheck(options.schema_id, clock)

    # -- before publishing ----------------------------------------------------------------------------------
    @staticmethod
    def parse(data: bytes) -> dict[str, Any]:
        """An AEP file is JSON records, not one metadata document."""
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
    def find(self, record_key: str, call: Call) -> Answer:
        """Our latest batch for this object that did not fail (a lost ledger write, a crash after creating)."""
        run = Bounded.of(call)
        dataset = self.datasets.get(run, create=False)
        if isinstance(dataset, Answer) or dataset is None:
            return dataset or Answer(AnswerKind.SUCCESS, 200, "no dataset yet, so no batch")
        batch = self.batches.latest(record_key, dataset, run)
        if isinstance(batch, Answer) or batch is None:
            return batch or Answer(AnswerKind.SUCCESS, 200, "no batch for this object")
        batch_id, status = batch[0], status_of(batch[1])
        return Answer(
            AnswerKind.SUCCESS,
            200,
            f"batch {batch_id} is {status}",
            record_id=batch_id,
            record_version=_version(batch[1]),
            found=status not in GONE,
        )

    def create(self, record_key: str, document: Any, verdict: Verdict, call: Call) -> Answer:
        return self._publish(record_key, document, Bounded.of(call), predecessor=None)

    def update(self, record_id: RecordId, record_key: str, document: Any, verdict: Verdict, call: Call) -> Answer:
        """A replay batch replacing ``record_id`` (the last published batch); the same content already sent is
        not sent again (an open batch of it is filled and completed)."""
        run = Bounded.of(call)
        batch_id = str(record_id)
        got = self.batches.ours(batch_id, record_key, run)
        if isinstance(got, Answer):
            return got
        status = status_of(got)
        if str(got.get("externalId", "")).startswith(external_id(record_key, document)) and status not in ENDED:
            return self.batches.standing(batch_id, got, run, records_of(document))  # this content's batch
        if status in LOADED:
            return self._publish(record_key, document, run, predecessor=batch_id, version=_version(got) + 1)
        if status in ENDED:
            dataset = self.datasets.get(run, create=True)
            if isinstance(dataset, Answer):
                return dataset
            last = self.batches.latest(record_key, str(dataset), run, loaded=True)
            if isinstance(last, Answer):
                return last
            if last is None:
                return self._publish(record_key, document, run, predecessor=None)
            return self._publish(record_key, document, run, predecessor=last[0], version=_version(last[1]) + 1)
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
        got = self.batches.ours(batch_id, None, run)
        if isinstance(got, Answer):
            return got
        status = status_of(got)
        if status in LOADED:
            return self.batches.revert(batch_id, run)
        if status in GONE:
            return Answer(AnswerKind.SUCCESS, 200, f"batch {batch_id} is already {status}", record_id=batch_id)
        if status not in TERMINAL_FAILURE:
            return Answer(
                AnswerKind.TRANSIENT,
                None,
                f"AEP batch {batch_id} is still {status}; it is reverted once it has settled.",
                retry_after_s=MAX_RETRY_AFTER_S,
            )
        dataset, record_key = self.datasets.get(run, create=False), _key_of(got)
        if isinstance(dataset, Answer):
            return dataset
        last = self.batches.latest(record_key, dataset, run, loaded=True) if dataset and record_key else None
        if isinstance(last, Answer):
            return last
        if last is None:
            return Answer(AnswerKind.NOT_FOUND, 200, f"batch {batch_id} {status} and nothing of this file is loaded")
        return self.batches.revert(last[0], run)

    def check(self, record_id: RecordId, call: Call) -> Answer:
        run = Bounded.of(call)
        batch_id = str(record_id)
        got = self.client.batch(batch_id, run)
        if isinstance(got, Answer):
            return got
        return self.batches.standing(batch_id, got, run, records=None)

    def natural_key(self, element: Any) -> str | None:
        """An element of a catalogue file is known only by its own identifier here."""
        return None

    # -- read-back (:mod:`.readback`, imported when used: it imports this module) ---------------------------
    def expected(self, document: Any, sent_along: Any) -> Any:
        """One live batch of the file's records, its predecessor (a replay's) no longer live."""
        from hdr_ingest.destinations.aep.readback import expected

        return expected(document)

    def read_back(self, record_id: RecordId, record_key: str, call: Any) -> ReadBack:
        """``GET /catalog/batches/{id}`` for our batch, and for the batch it replaces when it is a replay."""
        from hdr_ingest.destinations.aep.readback import read_back

        return read_back(self.batches, str(record_id), record_key, Bounded.of(call))

    # -- steps ----------------------------------------------------------------------------------------------

    def _publish(
        self, record_key: str, document: Any, run: Bounded, predecessor: str | None, version: int = 1
    ) -> Answer:
        records = records_of(document)
        judged = self.xdm.judge(records, lambda: self.client.xdm_schema(self.options.schema_id, run))
        if isinstance(judged, Answer):
            return judged
        dataset = self.datasets.get(run, create=True)
        if isinstance(dataset, Answer):
            return dataset
        assert dataset is not None
        sent = self.batches.sent_already(record_key, external_id(record_key, document), dataset, records, run)
        if isinstance(sent, Answer):
            return sent
        tags = {KEY_TAG: [filter_value(record_key)], VERSION_TAG: [str(version)]}
        body: dict[str, Any] = {"datasetId": dataset, "inputFormat": {"format": "json"}, "externalId": sent}
        if predecessor:
            body["replay"] = {"predecessors": [predecessor], "reason": "replace"}
            tags[REPLACES_TAG] = [predecessor]
        batch_id = self.client.create_batch({**body, "tags": tags}, run)
        if isinstance(batch_id, Answer):
            return batch_id
        failed = self.batches.fill(batch_id, dataset, records, run, fresh=True)
        if failed is not None:
            return failed
        replay = f", replacing batch {predecessor}" if predecessor else ""
        return Answer(
            AnswerKind.PENDING,
            201,
            f"batch {batch_id} of {len(records)} records is loading into dataset {dataset}{replay}"
            + converted_note(judged.converted),
            record_id=batch_id,
            record_version=version,
        )


ENDED = TERMINAL_FAILURE | GONE  # a batch that will never load (again)
Found = tuple[str, dict[str, Any]]  # a batch's id and what Catalog says of it


class Datasets:
    """The route's dataset: found by our tag, else by its exact name, else created on the route's schema; one
    lock per container, so its threads never create two."""

    def __init__(self, client: AepClient, options: AepOptions) -> None:
        self.client = client
        self.options = options
        self._id: str | None = None
        self._lock = threading.Lock()

    def get(self, run: Bounded, create: bool) -> str | Answer | None:
        with self._lock:
            if self._id:
                return self._id
            name = self.options.dataset_name
            tag = filter_value(name)
            for params, mine in (
                ({"tags": f"{DATASET_TAG}:{tag}"}, lambda d: tag in tags_of(d, DATASET_TAG)),
                ({"name": name}, lambda d: d.get("name") == name),  # a `,` or `*` in it is an operator: check
            ):
                found = self.client.datasets({**params, "limit": "100"}, run)
                if isinstance(found, Answer):
                    return found
                hits = sorted((d.get("created") or 0, i, d) for i, d in found.items() if mine(d))
                if hits:
                    return self._adopt(hits[0][1], hits[0][2])
            if not create:
                return None
            created = self.client.create_dataset(self._body(), run)
            if isinstance(created, str):
                self._id = created
            return created

    def _adopt(self, dataset_id: str, dataset: dict[str, Any]) -> str | Answer:
        ref = dataset.get("schemaRef")
        schema = ref.get("id") if isinstance(ref, dict) else None
        if schema != self.options.schema_id:
            return Answer(
                AnswerKind.PERMANENT,
                None,
                f"AEP dataset {dataset_id} named {self.options.dataset_name!r} is on XDM schema {schema!r}, not the "
                f"route's options.schemaId {self.options.schema_id!r}: set the route's schemaId to the dataset's "
                "schema, or choose another datasetName.",
            )
        self._id = dataset_id
        return dataset_id

    def _body(self) -> dict[str, Any]:
        name = self.options.dataset_name
        return {
            "name": name,
            "schemaRef": {"id": self.options.schema_id, "contentType": XED_REF},
            "tags": {DATASET_TAG: [filter_value(name)]},
            "fileDescription": {"persisted": True, "containerFormat": "parquet", "format": "parquet"},
        }


class Batches:
    """Our batches: found by our key tag and checked to carry it, filled and completed, settled."""

    def __init__(self, client: AepClient) -> None:
        self.client = client

    def ours(self, batch_id: str, record_key: str | None, run: Bounded) -> dict[str, Any] | Answer:
        """The batch, when it carries our key tag (``key``, or any: a batch the ledger holds for a deletion)."""
        got = self.client.batch(batch_id, run)
        if isinstance(got, Answer):
            return got
        if _key_of(got) is None or (record_key is not None and filter_value(record_key) not in tags_of(got, KEY_TAG)):
            return Answer(AnswerKind.NOT_FOUND, 200, f"AEP batch {batch_id} does not carry this file's key tag")
        return got

    def listed(self, record_key: str, dataset: str, run: Bounded, loaded: bool = False) -> list[Found] | Answer:
        """This object's batches in the dataset, newest first (the latest 50): only those carrying our key tag,
        whatever the filter returned."""
        tag = filter_value(record_key)
        params = {"dataSet": dataset, "tags": f"{KEY_TAG}:{tag}", "orderBy": "desc:created", "limit": "50"}
        if loaded:
            params["status"] = ",".join(sorted(LOADED))  # a comma lists several values (Catalog filtering guide)
        found = self.client.batches(params, run)
        if isinstance(found, Answer):
            return found
        mine = [
            (i, b) for i, b in found.items() if tag in tags_of(b, KEY_TAG) and (not loaded or status_of(b) in LOADED)
        ]
        mine.sort(key=lambda item: item[1].get("created") or 0, reverse=True)
        return mine

    def latest(self, record_key: str, dataset: str, run: Bounded, loaded: bool = False) -> Found | Answer | None:
        batches = self.listed(record_key, dataset, run, loaded)
        if isinstance(batches, Answer):
            return batches
        return next(((i, b) for i, b in batches if status_of(b) not in TERMINAL_FAILURE), None)

    def sent_already(self, record_key: str, base: str, dataset: str, records: list[Any], run: Bounded) -> Answer | str:
        """A batch of this very content that still counts (not failed, reverted or replaced): how it stands, so a
        retried create never loads the data twice. Otherwise the externalId to use: ``base``, or ``base`` with a
        suffix when a batch of this content failed before (an externalId is meant to be unique in the org)."""
        batches = self.listed(record_key, dataset, run)
        if isinstance(batches, Answer):
            return batches
        counted = [(i, b) for i, b in batches if status_of(b) not in ENDED]
        replaced = {p for _, b in counted for p in tags_of(b, REPLACES_TAG)}
        same = [(i, b) for i, b in batches if str(b.get("externalId", "")).startswith(base)]
        live = next(((i, b) for i, b in same if (i, b) in counted and i not in replaced), None)
        if live is not None:
            return self.standing(live[0], live[1], run, records)
        return f"{base}:{int(time.time() * 1000)}" if same else base

    def standing(self, batch_id: str, batch: dict[str, Any], run: Bounded, records: list[Any] | None) -> Answer:
        """How our batch stands. Still open (``loading``) and ``records`` known: a batch whose "create" answer was
        lost, filled and completed now rather than left PENDING for ever. Loaded: its predecessor retired."""
        status = status_of(batch)
        if status == "loading" and records is not None:
            dataset = _dataset_of(batch)
            failed = self.fill(batch_id, dataset, records, run, fresh=False) if dataset else None
            if failed is not None:
                return failed
        # a loaded first batch is a created record, a loaded replay an updated one
        answer = batch_answer(batch_id, batch, created=_tag(batch, REPLACES_TAG) is None)
        answer = replace(answer, record_version=_version(batch))
        if answer.kind is AnswerKind.SUCCESS:
            retired = self.retire_predecessors(batch, run)
            if retired is not None:
                return retired
        return answer

    def fill(self, batch_id: str, dataset: str, records: list[Any], run: Bounded, fresh: bool) -> Answer | None:
        """Upload the file and signal completion. A failed upload aborts a batch we just made (``fresh``); a
        batch found open may have been completed already, so its upload's refusal is not a failure: COMPLETE is
        safe to send again (troubleshooting guide)."""
        upload = self.client.upload(batch_id, dataset, FILE_NAME, file_bytes(records), run)
        if upload is not None and (fresh or upload.kind is AnswerKind.TRANSIENT):
            if fresh:
                self.client.act(batch_id, "ABORT", run, ABORT_TIMEOUT_S)  # best effort: never left open
            return upload
        return self.complete(batch_id, run)

    def complete(self, batch_id: str, run: Bounded) -> Answer | None:
        """COMPLETE; when it answers an error it may still have taken effect (AdobeDocs/experience-platform.en
        help/ingestion/batch-ingestion/troubleshooting.md): read the batch, and send COMPLETE once more if it is
        still open. A batch that may be loading is never aborted."""
        refused = self.client.act(batch_id, "COMPLETE", run)
        if refused is None:
            return None
        got = self.client.batch(batch_id, run)
        if not isinstance(got, Answer) and status_of(got) in ENDED:
            return batch_answer(batch_id, got, created=True)
        if not isinstance(got, Answer) and status_of(got) != "loading":
            return None  # it took effect: staging, or loaded already
        again = self.client.act(batch_id, "COMPLETE", run)
        if again is None:
            return None
        return Answer(
            AnswerKind.TRANSIENT,
            None,  # no answer to rely on: the next delivery finds the batch and completes it
            f"AEP did not confirm completing batch {batch_id} ({again.message}); it is left open and completed on "
            "the next delivery.",
        )

    def retire_predecessors(self, batch: dict[str, Any], run: Bounded) -> Answer | None:
        """After a replay has loaded, the batch it replaces must not stay live: Adobe's material is ambiguous on
        how predecessors are named (bare ids in the examples, ``$``-prefixed in the spec text), so one file never
        has two live batches only if we look, and REVERT a predecessor still loaded."""
        for old in tags_of(batch, REPLACES_TAG):
            got = self.ours(old, _key_of(batch), run)
            if isinstance(got, Answer) and got.kind is AnswerKind.NOT_FOUND:
                continue
            if isinstance(got, Answer):
                return got
            if status_of(got) in LOADED:
                reverted = self.revert(old, run)
                if reverted.kind is not AnswerKind.SUCCESS:
                    return reverted
        return None

    def revert(self, batch_id: str, run: Bounded) -> Answer:
        refused = self.client.act(batch_id, "REVERT", run)
        if refused is not None:
            return refused
        return Answer(AnswerKind.SUCCESS, 200, f"batch {batch_id} reverted", record_id=batch_id)


def external_id(record_key: str, document: Any) -> str:
    """Our stable key for the object and a version of its content: the same content is the same batch."""
    version = hashlib.sha256(file_bytes(records_of(document))).hexdigest()[:20]
    return f"{record_key}:{version}"


def filter_value(value: str) -> str:
    """A value as we store it in a tag and search for it: Catalog reads ``,`` (several values) and ``*`` (a
    wildcard) in a filter as operators (AdobeDocs/experience-platform.en help/catalog/api/filter-data.md) and
    documents no escape, so our own tag values never hold them (``%`` first, so the encoding is one-to-one)."""
    return value.replace("%", "%25").replace(",", "%2C").replace("*", "%2A")


def tags_of(batch: dict[str, Any], name: str) -> list[str]:
    tags = batch.get("tags")
    values = tags.get(name) if isinstance(tags, dict) else None
    return [str(v) for v in values] if isinstance(values, list) else []


def _tag(batch: dict[str, Any], name: str) -> str | None:
    return next(iter(tags_of(batch, name)), None)


def _key_of(batch: dict[str, Any]) -> str | None:
    """The key our tag carries, decoded (``filter_value`` reversed)."""
    value = _tag(batch, KEY_TAG)
    return None if value is None else value.replace("%2A", "*").replace("%2C", ",").replace("%25", "%")


def _dataset_of(batch: dict[str, Any]) -> str | None:
    related = batch.get("relatedObjects")
    for item in related if isinstance(related, list) else []:
        if isinstance(item, dict) and item.get("type") == "dataSet" and item.get("id"):
            return str(item["id"])
    return None


def status_of(batch: dict[str, Any]) -> str:
    return str(batch.get("status", "")).lower()


def _version(batch: dict[str, Any]) -> int:
    text = _tag(batch, VERSION_TAG)
    return int(text) if text and text.isdigit() else 1
