"""Publishing one source object: read → parse → validate → create or update on the Gateway → record.

Plain Python over narrow ports (object store, ledger, dead letters, credentials, gateway); the AWS and
HTTP adapters live in their own modules and the wiring in ``runtime``.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from hdr_ingest.credentials import AppCredentials, CredentialsError
from hdr_ingest.document import DocumentError, parse_document
from hdr_ingest.gateway_response import AnswerKind, GatewayAnswer
from hdr_ingest.outcome import ErrorDetail, Outcome, Status
from hdr_ingest.schema_pack import SchemaPack, SchemaRef
from hdr_ingest.source_object import SourceObject

MAX_RECORDED_ERRORS = 200
DLQ_MESSAGE_KIND = "hdr-gateway-ingest.failure"
PUBLISHED = (Status.CREATED, Status.UPDATED, Status.UNCHANGED)


# --- ports -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredObject:
    data: bytes
    etag: str | None = None
    version_id: str | None = None


class ObjectReadError(Exception):
    """The object could not be read. ``transient`` errors are retried; the others are final."""

    def __init__(self, message: str, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class ObjectStore(Protocol):
    def read(self, obj: SourceObject, max_bytes: int) -> StoredObject: ...


@dataclass(frozen=True)
class LedgerEntry:
    """One ledger item (see README "Ledger"). ``source`` is the partition key."""

    source: str
    status: Status
    reason: str
    bucket: str
    key: str
    datasetid: str
    updated_at: str
    attempts: int = 1
    dataset_id: int | None = None
    dataset_version: int | None = None
    schema: str | None = None
    errors: tuple[ErrorDetail, ...] = ()
    errors_total: int = 0
    warnings: tuple[str, ...] = ()
    sha256: str | None = None
    etag: str | None = None
    version_id: str | None = None
    sequencer: str | None = None
    gateway_status: int | None = None


class Ledger(Protocol):
    def get(self, source: str) -> LedgerEntry | None: ...
    def record(self, entry: LedgerEntry) -> None: ...


class DeadLetters(Protocol):
    def send(self, message: dict[str, Any]) -> None: ...


class CredentialSource(Protocol):
    def get(self, refresh: bool = False) -> AppCredentials: ...


class Gateway(Protocol):
    def create(
        self,
        document: dict[str, Any],
        schema: SchemaRef | None,
        datasetid: str,
        credentials: AppCredentials,
        read_timeout_s: float,
    ) -> GatewayAnswer: ...
    def update(
        self,
        dataset_id: int,
        document: dict[str, Any],
        schema: SchemaRef | None,
        credentials: AppCredentials,
        read_timeout_s: float,
    ) -> GatewayAnswer: ...
    def find(self, datasetid: str, credentials: AppCredentials, read_timeout_s: float) -> GatewayAnswer: ...


class Observer(Protocol):
    def outcome(self, obj: SourceObject, outcome: Outcome) -> None: ...
    def gateway_answer(self, operation: str, answer: GatewayAnswer, elapsed_ms: float) -> None: ...


class NullObserver:
    def outcome(self, obj: SourceObject, outcome: Outcome) -> None:
        return None

    def gateway_answer(self, operation: str, answer: GatewayAnswer, elapsed_ms: float) -> None:
        return None


# --- time ------------------------------------------------------------------------------------------------


@dataclass
class Budget:
    """How much of the invocation is left. Work stops ``margin_ms`` before the end so outcomes get recorded."""

    remaining_ms: Callable[[], int] = lambda: 900_000
    sleep: Callable[[float], None] = time.sleep
    margin_ms: int = 5_000

    def left_s(self) -> float:
        return max(0.0, (self.remaining_ms() - self.margin_ms) / 1000)


@dataclass(frozen=True)
class Delivery:
    """How the object reached us: the SQS receive count, whether this is the last delivery SQS will
    make, and the original event (kept in DLQ messages so a replay can reprocess it)."""

    receive_count: int = 1
    final: bool = True
    original: Mapping[str, Any] = field(default_factory=dict)


class RetryLater(Exception):
    """A transient failure on a delivery that is not the last: SQS should deliver the record again."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


@dataclass(frozen=True)
class PipelineSettings:
    max_object_bytes: int
    target_schema: SchemaRef | None = None
    max_gateway_attempts: int = 3
    read_timeout_s: float = 30.0
    backoff_base_s: float = 0.5


# --- the pipeline ----------------------------------------------------------------------------------------


class Failure(Exception):
    """Internal: stops processing with a final or transient outcome."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


class IngestPipeline:
    def __init__(
        self,
        settings: PipelineSettings,
        pack: Callable[[], SchemaPack],
        store: ObjectStore,
        ledger: Ledger,
        dead_letters: DeadLetters,
        credentials: CredentialSource,
        gateway: Gateway,
        observer: Observer | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self._pack = pack
        self.store = store
        self.ledger = ledger
        self.dead_letters = dead_letters
        self.credentials = credentials
        self.gateway = gateway
        self.observer = observer or NullObserver()
        self.clock = clock
        self.rng = rng or random.Random()

    # The one entry point -------------------------------------------------------------------------------
    def process(self, obj: SourceObject, delivery: Delivery, budget: Budget | None = None) -> Outcome:
        """Publish ``obj`` and record the outcome. Raises :class:`RetryLater` for a transient failure
        that SQS will deliver again; any other exception means nothing was recorded."""
        budget = budget or Budget()
        previous = self.ledger.get(obj.source)
        digest: str | None = None
        stored: StoredObject | None = None
        try:
            stored, digest = self._read(obj)
            outcome = self._publish(obj, stored, digest, previous, budget)
        except Failure as failure:
            outcome = failure.outcome
        outcome = replace(outcome, attempts=delivery.receive_count)

        if outcome.status is Status.RETRYING and delivery.final:
            outcome = replace(
                outcome,
                status=Status.FAILED,
                reason=f"{outcome.reason} Gave up after {delivery.receive_count} deliveries; "
                "the message is in the dead-letter queue: replay it with `redrive` once the cause is fixed.",
            )
        entry = self._entry(obj, outcome, previous, digest, stored)
        self.ledger.record(entry)
        if outcome.status.is_failure:
            self.dead_letters.send(self._dead_letter(obj, outcome, delivery))
        self.observer.outcome(obj, outcome)
        if outcome.status is Status.RETRYING:
            raise RetryLater(outcome)
        return outcome

    # Steps ---------------------------------------------------------------------------------------------
    def _read(self, obj: SourceObject) -> tuple[StoredObject, str]:
        if not obj.key.lower().endswith(".json"):
            raise Failure(
                Outcome(
                    Status.INVALID,
                    f"{obj.key!r} is not a .json object; only .json objects "
                    "under incoming/ are published. Rename it to end in .json.",
                )
            )
        try:
            stored = self.store.read(obj, self.settings.max_object_bytes)
        except ObjectReadError as exc:
            status = Status.RETRYING if exc.transient else Status.INVALID
            raise Failure(Outcome(status, str(exc), (ErrorDetail("$", str(exc)),))) from exc
        return stored, hashlib.sha256(stored.data).hexdigest()

    def _publish(
        self, obj: SourceObject, stored: StoredObject, digest: str, previous: LedgerEntry | None, budget: Budget
    ) -> Outcome:
        if previous and previous.status in PUBLISHED and previous.sha256 == digest and previous.dataset_id:
            return Outcome(
                Status.UNCHANGED,
                "Same document as the one already published; nothing sent to the Gateway.",
                schema=previous.schema,
                dataset_id=previous.dataset_id,
                dataset_version=previous.dataset_version,
            )
        try:
            document = parse_document(stored.data)
        except DocumentError as exc:
            raise Failure(Outcome(Status.INVALID, f"The object {exc}", (exc.detail,))) from exc

        report = self._pack().validate(document, self.settings.target_schema)
        if not report.valid:
            raise Failure(
                Outcome(
                    Status.INVALID,
                    f"The document {report.summary}. Fix each error listed and upload it again.",
                    report.errors,
                    schema=str(report.schema) if report.schema else None,
                )
            )
        schema = report.schema
        known_id = previous.dataset_id if previous else None
        answer = self._send(obj, document, schema, known_id, budget)
        return self._outcome_of(answer, schema)

    def _send(
        self,
        obj: SourceObject,
        document: dict[str, Any],
        schema: SchemaRef | None,
        dataset_id: int | None,
        budget: Budget,
    ) -> GatewayAnswer:
        """Create or update, retrying transient failures with backoff while the invocation has time."""
        refresh = refreshed = False
        last: GatewayAnswer | None = None
        for attempt in range(1, self.settings.max_gateway_attempts + 2):  # +1: the re-try after a 401
            credentials = self._credentials(refresh=refresh)
            refresh = False
            answer, dataset_id = self._create_or_update(obj, document, schema, dataset_id, credentials, budget)
            last = answer
            if answer.kind is AnswerKind.UNAUTHORISED and not refreshed:
                refresh = refreshed = True  # the secret may have rotated: fetch it again, once
                continue
            if answer.kind is not AnswerKind.TRANSIENT or attempt >= self.settings.max_gateway_attempts:
                return answer
            delay = self.settings.backoff_base_s * (2 ** (attempt - 1)) * (0.5 + self.rng.random())
            if budget.left_s() < delay + min(self.settings.read_timeout_s, 10):
                return answer
            budget.sleep(delay)
        assert last is not None
        return last

    def _create_or_update(
        self,
        obj: SourceObject,
        document: dict[str, Any],
        schema: SchemaRef | None,
        dataset_id: int | None,
        credentials: AppCredentials,
        budget: Budget,
    ) -> tuple[GatewayAnswer, int | None]:
        def timeout() -> float:
            return min(self.settings.read_timeout_s, budget.left_s())

        if timeout() < 1:
            return GatewayAnswer(
                AnswerKind.TRANSIENT, None, "Too little time left in this invocation to call the Gateway; will retry."
            ), dataset_id
        if dataset_id is None:
            # No id recorded: look for a dataset created earlier for this source (a lost ledger write, a
            # crash after POST, a timed-out POST that did succeed) before creating one.
            found = self._call("find", lambda: self.gateway.find(obj.datasetid, credentials, timeout()))
            if found.kind is not AnswerKind.SUCCESS:
                return found, None
            dataset_id = found.dataset_id if found.found else None

        def create() -> GatewayAnswer:
            return self.gateway.create(document, schema, obj.datasetid, credentials, timeout())

        if dataset_id is None:
            return self._call("create", create), None
        answer = self._call("update", lambda: self.gateway.update(dataset_id, document, schema, credentials, timeout()))
        if answer.kind is AnswerKind.NOT_FOUND:
            # Deleted or archived on the Gateway since: publish it as a new dataset.
            return self._call("create", create), None
        return answer, dataset_id

    def _call(self, operation: str, call: Callable[[], GatewayAnswer]) -> GatewayAnswer:
        started = time.perf_counter()
        answer = call()
        self.observer.gateway_answer(operation, answer, (time.perf_counter() - started) * 1000)
        return answer

    def _credentials(self, refresh: bool) -> AppCredentials:
        try:
            return self.credentials.get(refresh=refresh)
        except CredentialsError as exc:
            # A configuration problem: retried (SQS) so that fixing the secret and waiting is enough.
            raise Failure(Outcome(Status.RETRYING, f"Gateway credentials unavailable: {exc}.")) from exc
        except Exception as exc:
            raise Failure(
                Outcome(Status.RETRYING, f"Could not read the Gateway credentials ({type(exc).__name__}); will retry.")
            ) from exc

    @staticmethod
    def _outcome_of(answer: GatewayAnswer, schema: SchemaRef | None) -> Outcome:
        schema_name = str(schema) if schema else None
        if answer.kind is AnswerKind.SUCCESS:
            status = Status.CREATED if answer.http_status == 201 else Status.UPDATED
            verb = "Updated" if status is Status.UPDATED else "Created"
            return Outcome(
                status,
                f"{verb} Gateway dataset {answer.dataset_id} (version {answer.dataset_version}).",
                schema=schema_name,
                dataset_id=answer.dataset_id,
                dataset_version=answer.dataset_version,
                gateway_status=answer.http_status,
            )
        status = Status.RETRYING if answer.kind is AnswerKind.TRANSIENT else Status.REJECTED
        return Outcome(
            status,
            answer.message,
            answer.errors,
            schema=schema_name,
            dataset_id=answer.dataset_id,
            gateway_status=answer.http_status,
        )

    # Records -------------------------------------------------------------------------------------------
    def _entry(
        self,
        obj: SourceObject,
        outcome: Outcome,
        previous: LedgerEntry | None,
        digest: str | None,
        stored: StoredObject | None,
    ) -> LedgerEntry:
        keep_previous = outcome.status not in PUBLISHED and previous is not None
        return LedgerEntry(
            source=obj.source,
            status=outcome.status,
            reason=outcome.reason,
            bucket=obj.bucket,
            key=obj.key,
            datasetid=obj.datasetid,
            updated_at=self.clock().isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            attempts=outcome.attempts,
            # A failed re-export keeps pointing at the dataset already on the Gateway.
            dataset_id=outcome.dataset_id or (previous.dataset_id if keep_previous and previous else None),
            dataset_version=outcome.dataset_version
            or (previous.dataset_version if keep_previous and previous else None),
            schema=outcome.schema,
            errors=outcome.errors[:MAX_RECORDED_ERRORS],
            errors_total=len(outcome.errors),
            warnings=outcome.warnings,
            sha256=digest,
            etag=(stored.etag if stored and stored.etag else obj.etag),
            version_id=(stored.version_id if stored and stored.version_id else obj.version_id),
            sequencer=obj.sequencer,
            gateway_status=outcome.gateway_status,
        )

    @staticmethod
    def _dead_letter(obj: SourceObject, outcome: Outcome, delivery: Delivery) -> dict[str, Any]:
        return {
            "kind": DLQ_MESSAGE_KIND,
            "version": 1,
            "source": obj.source,
            "status": outcome.status.value,
            "reason": outcome.reason,
            "errors": [e.as_dict() for e in outcome.errors[:MAX_RECORDED_ERRORS]],
            "errors_total": len(outcome.errors),
            "schema": outcome.schema,
            "gateway_status": outcome.gateway_status,
            "object": obj.describe(),
            "attempts": delivery.receive_count,
            "event": dict(delivery.original),
        }
