"""In-memory fakes of the ports (``core.ports``) for the use-case tests: an object store, a ledger, dead letters,
credentials, the Gateway's client, and a destination at the port itself; plus the pipeline with one HDR UK route
built from them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hdr_ingest.core.answers import Answer, AnswerKind, RecordId
from hdr_ingest.core.document import parse_export
from hdr_ingest.core.ledger import Lease, LedgerEntry
from hdr_ingest.core.ports import Call, StoredObject, Verdict
from hdr_ingest.core.routing import Route, Routes
from hdr_ingest.core.source_object import SourceObject
from hdr_ingest.core.verification import Held, ReadBack
from hdr_ingest.destinations.hdruk.credentials import AppCredentials
from hdr_ingest.destinations.hdruk.destination import HdrukDestination
from hdr_ingest.destinations.hdruk.schema_pack import SchemaPack, SchemaRef
from hdr_ingest.usecases.context import PipelineSettings
from hdr_ingest.usecases.pipeline import IngestPipeline
from tests.conftest import example

VALID = json.dumps(example("schemata/HDRUK/4.0.0/docs.example.json")).encode()  # an HDRUK 4.0.0 document


class Store:
    def __init__(self, data: bytes | Exception = VALID) -> None:
        self.data = data

    def read(self, obj: SourceObject, max_bytes: int) -> StoredObject:
        if isinstance(self.data, Exception):
            raise self.data
        return StoredObject(self.data, etag="e1")


class Ledger:
    """In-memory ledger with the same lease rules as the DynamoDB one, and the same answer to a lease: the entry,
    and whether the table had any item for the source (an outcome in ``items``, or a lease's item: ``keys``)."""

    def __init__(self) -> None:
        self.items: dict[str, LedgerEntry] = {}
        self.leases: dict[str, tuple[str, float]] = {}
        self.keys: set[str] = set()  # sources with an item, outcome or not (a lease writes one; nothing deletes it)
        self.calls: list[str] = []  # one per DynamoDB request the real ledger would make

    def get(self, source: str) -> LedgerEntry | None:
        self.calls.append("get")
        return self.items.get(source)

    def acquire(self, source: str, owner: str, until_epoch: float, now_epoch: float) -> Lease | None:
        self.calls.append("acquire")
        held = self.leases.get(source)
        if held and held[1] >= now_epoch and held[0] != owner:
            return None
        first = source not in self.keys and source not in self.items
        self.keys.add(source)
        self.leases[source] = (owner, until_epoch)
        return Lease(owner, self.items.get(source), first=first)

    def release(self, source: str, owner: str) -> None:
        """Like DynamoDB's REMOVE of the lease fields: the item itself stays."""
        self.calls.append("release")
        if self.leases.get(source, ("", 0))[0] == owner:
            del self.leases[source]

    def record(self, entry: LedgerEntry, owner: str | None = None) -> None:
        self.calls.append("record")
        held = self.leases.get(entry.source)
        assert owner is None or held is None or held[0] == owner, "lease lost"
        self.leases.pop(entry.source, None)
        self.items[entry.source] = entry


class DeadLetters:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)


class Credentials:
    def __init__(self, values: list[AppCredentials | Exception]) -> None:
        self.values = values
        self.refreshes = 0

    def get(self, refresh: bool = False) -> AppCredentials:
        if refresh:
            self.refreshes += 1
            self.values.pop(0)
        value = self.values[0]
        if isinstance(value, Exception):
            raise value
        return value


@dataclass
class Gateway:
    """Scripted answers for create/update; records every call."""

    creates: list[Answer] = field(default_factory=list)
    updates: list[Answer] = field(default_factory=list)
    found: Answer = field(default_factory=lambda: Answer(AnswerKind.SUCCESS, 200, "not found"))
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def create(
        self,
        document: dict[str, Any],
        schema: SchemaRef | None,
        datasetid: str,
        credentials: AppCredentials,
        read_timeout_s: float,
        **_: Any,
    ) -> Answer:
        self.calls.append(("create", (schema, datasetid, credentials.app_id)))
        return self.creates.pop(0)

    def update(
        self,
        dataset_id: int,
        document: dict[str, Any],
        schema: SchemaRef | None,
        credentials: AppCredentials,
        read_timeout_s: float,
        **_: Any,
    ) -> Answer:
        self.calls.append(("update", dataset_id))
        return self.updates.pop(0)

    def find(self, datasetid: str, credentials: AppCredentials, read_timeout_s: float, **_: Any) -> Answer:
        self.calls.append(("find", datasetid))
        return self.found

    def archive(self, dataset_id: int, credentials: AppCredentials, read_timeout_s: float, **_: Any) -> Answer:
        self.calls.append(("archive", dataset_id))
        return Answer(AnswerKind.SUCCESS, 200, "success")

    def unarchive(self, dataset_id: int, credentials: AppCredentials, read_timeout_s: float, **_: Any) -> Answer:
        self.calls.append(("unarchive", dataset_id))
        return Answer(AnswerKind.SUCCESS, 200, "success")


def created(dataset_id: int = 7, version: int = 1) -> Answer:
    return Answer(AnswerKind.SUCCESS, 201, "created", record_id=dataset_id, record_version=version)


def updated(dataset_id: int = 7, version: int = 2) -> Answer:
    return Answer(AnswerKind.SUCCESS, 200, "success", record_id=dataset_id, record_version=version)


def gateway_pipeline(
    pack: SchemaPack,
    store: Any,
    ledger: Any,
    dlq: Any,
    credentials: Any,
    gateway: Any,
    clock: Any,
    target_schema: SchemaRef | None = None,
    validation_mode: str = "gateway",
    background: Any = None,
    **settings: Any,
) -> IngestPipeline:
    """The pipeline with one HDR UK route on ``incoming/`` to ``gateway`` (a fake of the Gateway's client)."""
    destination = HdrukDestination("https://gateway.test/api/v1", gateway, lambda: pack, target_schema, validation_mode)
    routes = Routes([Route("incoming/", destination, credentials)])
    return IngestPipeline.wired(
        PipelineSettings(max_object_bytes=10_000_000, **settings),
        routes,
        store,
        ledger,
        dlq,
        clock=clock,
        background=background,
    )


@dataclass
class FakeDestination:
    """A catalogue at the port: it records every call in ``calls`` (the operation, and the record key or record id
    it was about) and answers from ``answers``, scripts by operation (``"create"``) or by operation and what it is
    about (``f"create {record_key}"``, ``f"update {record_id}"``; taken first), each answer in order; an exception
    in a script is raised, as a client library that broke would; SUCCESS when none is left. ``verdict``, when set,
    is the judge's answer to every document (by default one needs a ``title``). Records are numbered from 1, a
    number never used twice; ``held`` is what it holds by record id."""

    kind: str = "fake"
    url: str = "https://catalogue.test"
    title: str = "Catalogue"
    noun: str = "record"
    answers: dict[str, list[Answer | Exception]] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    held: dict[RecordId, Any] = field(default_factory=dict)
    verdict: Verdict | None = None
    numbered: int = 0  # the last record number given

    def called(self, operation: str) -> list[Any]:
        """What each call of ``operation`` was about (its record key or record id), in order."""
        return [about for done, about in self.calls if done == operation]

    def judge(self, document: Any, text: str) -> Verdict:
        if self.verdict is not None:
            return self.verdict
        valid = isinstance(document, dict) and "title" in document
        return Verdict(valid, "is valid" if valid else "has no title")

    def credentials(self, secret: Any, secret_id: str) -> Any:
        return secret

    def _answer(self, operation: str, about: Any, default: Answer) -> Answer:
        self.calls.append((operation, about))
        queued = self.answers.get(f"{operation} {about}") or self.answers.get(operation)
        answer = queued.pop(0) if queued else default
        if isinstance(answer, Exception):
            raise answer
        return answer

    def find(self, key: str, call: Call) -> Answer:
        return self._answer("find", key, Answer(AnswerKind.SUCCESS, 200, "not found"))

    def create(self, key: str, document: Any, verdict: Verdict, call: Call) -> Answer:
        number = max(self.numbered, len(self.held)) + 1
        answer = self._answer("create", key, Answer(AnswerKind.SUCCESS, 201, "created", number, 1, created=True))
        record_id = answer.record_id or number
        if answer.kind is AnswerKind.SUCCESS:
            self.held[record_id] = document
            if record_id == number:
                self.numbered = number
        return answer

    def update(self, record_id: RecordId, key: str, document: Any, verdict: Verdict, call: Call) -> Answer:
        answer = self._answer("update", record_id, Answer(AnswerKind.SUCCESS, 200, "updated", record_id, 2))
        if answer.kind is AnswerKind.SUCCESS:
            self.held[record_id] = document
        return answer

    def restore(self, record_id: RecordId, call: Call) -> Answer:
        return self._answer("restore", record_id, Answer(AnswerKind.SUCCESS, 200, "restored", record_id))

    def archive(self, record_id: RecordId, call: Call) -> Answer:
        self.held.pop(record_id, None)
        return self._answer("archive", record_id, Answer(AnswerKind.SUCCESS, 200, "archived", record_id))

    def check(self, record_id: RecordId, call: Call) -> Answer:
        return self._answer("check", record_id, Answer(AnswerKind.SUCCESS, 200, "published", record_id))

    parse = staticmethod(parse_export)

    def natural_key(self, element: Any) -> str | None:
        return None


@dataclass
class ReadingDestination(FakeDestination):
    """A :class:`FakeDestination` that reads its records back (``core.verification.ReadsBack``): it should hold
    the document with ``title`` trimmed (its own clean-up), and holds what ``held`` says; ``reads`` scripts the
    read-backs (a ``ReadBack`` or an exception to raise, in order) before ``held`` answers."""

    reads: list[ReadBack | Exception] = field(default_factory=list)
    sent_along_seen: list[Any] = field(default_factory=list)

    def expected(self, document: Any, sent_along: Any) -> Any:
        self.sent_along_seen.append(sent_along)
        return {**document, "title": str(document.get("title", "")).strip()}

    def read_back(self, record_id: RecordId, record_key: str, call: Any) -> ReadBack:
        self.calls.append(("read_back", record_id))
        if self.reads:
            scripted = self.reads.pop(0)
            if isinstance(scripted, Exception):
                raise scripted
            return scripted
        if record_id not in self.held:
            return ReadBack(Held.MISSING, message=f"no record {record_id}")
        held = self.held[record_id]
        return ReadBack(Held.HELD, {**held, "title": str(held.get("title", "")).strip()}, f"record {record_id}")
