"""Publishing one source object: read → parse → validate → create or update on the Gateway → record.

Plain Python over narrow ports (object store, ledger, dead letters, credentials, gateway); the AWS and
HTTP adapters live in their own modules and the wiring in ``runtime``.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from hdr_ingest.adapters.aws.secrets import AppCredentials, CredentialsError
from hdr_ingest.core.catalogue import element_identifier, missing_identifier_message
from hdr_ingest.core.document import DocumentError, parse_export
from hdr_ingest.core.outcome import ErrorDetail, Outcome, Status
from hdr_ingest.core.source_object import SourceObject
from hdr_ingest.destinations.hdruk.answers import AnswerKind, GatewayAnswer
from hdr_ingest.destinations.hdruk.schema_pack import SchemaPack, SchemaRef

if TYPE_CHECKING:
    # Imported where a document is judged (_publish): importing it costs a cold start about 35 ms.
    from hdr_ingest.destinations.hdruk.judge import ValidationMode

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
    document_sha256: str | None = None  # of the canonical JSON: re-serialised exports are still UNCHANGED
    members: tuple[str, ...] = ()  # for a catalogue file: the identifiers of its datasets


class LeaseLost(Exception):
    """Another invocation took over this source while we worked: our outcome must not be written."""


@dataclass(frozen=True)
class Lease:
    """A source held by ``owner``, and its ledger entry as it stood when the lease was taken (``None``: no
    outcome recorded yet). Taking the lease and reading the entry is one conditional write."""

    owner: str
    previous: LedgerEntry | None


class Ledger(Protocol):
    def get(self, source: str) -> LedgerEntry | None: ...
    def acquire(self, source: str, owner: str, until_epoch: float, now_epoch: float) -> Lease | None: ...
    def release(self, source: str, owner: str) -> None: ...
    def record(self, entry: LedgerEntry, owner: str | None = None) -> None: ...


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
    def archive(self, dataset_id: int, credentials: AppCredentials, read_timeout_s: float) -> GatewayAnswer: ...
    def unarchive(self, dataset_id: int, credentials: AppCredentials, read_timeout_s: float) -> GatewayAnswer: ...


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
    validation_mode: ValidationMode | str = "gateway"  # a ValidationMode; its value is accepted too
    max_gateway_attempts: int = 3
    read_timeout_s: float = 30.0
    backoff_base_s: float = 0.5
    archive_on_delete: bool = False
    catalogue_id_pointer: str | None = None


# --- the pipeline ----------------------------------------------------------------------------------------


class Failure(Exception):
    """Internal: stops processing with a final or transient outcome."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


@dataclass
class _Held:
    """A lease this pipeline holds: ``recorded`` once the outcome is written (which ended the lease)."""

    owner: str
    previous: LedgerEntry | None
    recorded: bool = False


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
        """Publish (or, for a removal, archive) ``obj`` and record the outcome.

        Raises :class:`RetryLater` for a transient failure that SQS will deliver again (including "another
        invocation is working on this source right now"); any other exception means nothing was recorded."""
        budget = budget or Budget()
        if obj.is_removal:
            return self._remove(obj, delivery, budget)
        with self._lease(obj, budget) as held:
            previous = held.previous
            if previous is not None and self._older(obj, previous):
                return self._stale(obj, previous)
            stored: StoredObject | None = None
            digest: str | None = None
            catalogue: list[dict[str, Any]] | None = None
            try:
                stored, digest = self._read(obj)
                if previous and previous.status in PUBLISHED and previous.sha256 == digest:
                    outcome = self._unchanged(previous, "Same bytes as the export already published")
                else:
                    export = self._parse(stored)
                    if isinstance(export, list):
                        catalogue = export
                        outcome = Outcome(Status.CREATED, "")  # replaced below
                    else:
                        outcome = self._publish(obj, export, previous, budget)
            except Failure as failure:
                outcome = failure.outcome
            if catalogue is not None:
                return self._catalogue(obj, catalogue, previous, stored, digest, held, delivery, budget)
            return self._finish(obj, outcome, previous, delivery, held, stored=stored, digest=digest)

    # Steps ---------------------------------------------------------------------------------------------
    @contextmanager
    def _lease(self, obj: SourceObject, budget: Budget) -> Iterator[_Held]:
        """Hold the source for this invocation (a conditional write, which also reads the source's ledger
        entry), so that duplicate or concurrent deliveries for one source never publish twice. The lease ends
        when the invocation must have ended, or when the outcome is recorded (that write replaces the item
        without the lease); it is released here only if no outcome was recorded."""
        owner = uuid.uuid4().hex
        now = self.clock().timestamp()
        until = now + min(budget.remaining_ms() / 1000 + 5, 900)
        lease = self.ledger.acquire(obj.source, owner, until, now)
        if lease is None:
            raise RetryLater(
                Outcome(Status.RETRYING, f"{obj.source} is being processed by another invocation; will retry.")
            )
        held = _Held(owner, lease.previous)
        try:
            yield held
        finally:
            if not held.recorded:
                self.ledger.release(obj.source, owner)

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

    @staticmethod
    def _parse(stored: StoredObject) -> dict[str, Any] | list[dict[str, Any]]:
        try:
            return parse_export(stored.data)
        except DocumentError as exc:
            raise Failure(Outcome(Status.INVALID, f"The object {exc}", (exc.detail,))) from exc

    @staticmethod
    def _unchanged(previous: LedgerEntry, why: str) -> Outcome:
        return Outcome(
            Status.UNCHANGED,
            f"{why} (Gateway dataset {previous.dataset_id}, version {previous.dataset_version}); "
            "nothing sent to the Gateway.",
            schema=previous.schema,
            dataset_id=previous.dataset_id,
            dataset_version=previous.dataset_version,
        )

    @staticmethod
    def _older(obj: SourceObject, previous: LedgerEntry) -> bool:
        """Whether ``obj``'s event is strictly older than the one that produced ``previous``. The same event
        again (SQS redelivering it after RETRYING, a duplicate, a dead letter replayed) is not: it is processed
        again, or a retry would be acknowledged without being retried."""
        if not obj.sequencer or not previous.sequencer:
            return False
        return replace(obj, sequencer=previous.sequencer).newer_than(obj.sequencer) is True

    def _stale(self, obj: SourceObject, previous: LedgerEntry) -> Outcome:
        """An event older than the one that produced the ledger's state: it never overwrites newer state."""
        outcome = Outcome(
            previous.status,
            f"Ignored an S3 event older than the one already processed for {obj.source} "
            f"(sequencer {obj.sequencer} < {previous.sequencer}).",
            schema=previous.schema,
            dataset_id=previous.dataset_id,
            dataset_version=previous.dataset_version,
        )
        self.observer.outcome(obj, outcome)
        return outcome

    def _publish(
        self, obj: SourceObject, document: dict[str, Any], previous: LedgerEntry | None, budget: Budget
    ) -> Outcome:
        text = canonical_json(document)
        canonical = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if previous and previous.status in PUBLISHED and previous.document_sha256 == canonical:
            return replace(self._unchanged(previous, "Same document as the one already published"), digest=canonical)
        from hdr_ingest.destinations.hdruk.judge import judge_for  # lazily: see the import at the top

        judge = judge_for(self._pack())
        judgement = judge.judge(document, self.settings.target_schema, self.settings.validation_mode, text=text)
        report = judgement.report
        if not report.valid:
            raise Failure(
                Outcome(
                    Status.INVALID,
                    f"The document {report.summary}. Fix each error listed and upload it again.",
                    report.errors,
                    schema=str(report.schema) if report.schema else None,
                    digest=canonical,
                    warnings=judgement.warnings,
                )
            )
        schema = judgement.schema_to_send
        known_id = previous.dataset_id if previous else None
        archived = previous is not None and previous.status is Status.ARCHIVED
        answer = self._send(obj, document, schema, known_id, archived, budget)
        return replace(self._outcome_of(answer, schema), digest=canonical, warnings=judgement.warnings)

    def _send(
        self,
        obj: SourceObject,
        document: dict[str, Any],
        schema: SchemaRef | None,
        dataset_id: int | None,
        archived: bool,
        budget: Budget,
    ) -> GatewayAnswer:
        """Create or update, retrying transient failures with backoff while the invocation has time."""
        unanswered: list[GatewayAnswer] = []  # a POST of this delivery that got no answer

        def attempt(credentials: AppCredentials) -> GatewayAnswer:
            nonlocal dataset_id, archived
            answer, dataset_id, archived = self._create_or_update(
                obj, document, schema, dataset_id, archived, credentials, budget, unanswered
            )
            return answer

        return self._with_retries(attempt, budget)

    def _with_retries(self, attempt: Callable[[AppCredentials], GatewayAnswer], budget: Budget) -> GatewayAnswer:
        refresh = refreshed = False
        last: GatewayAnswer | None = None
        for number in range(1, self.settings.max_gateway_attempts + 2):  # +1: the re-try after a 401
            credentials = self._credentials(refresh=refresh)
            refresh = False
            if budget.left_s() < min(1.0, self.settings.read_timeout_s):
                return last or GatewayAnswer(
                    AnswerKind.TRANSIENT,
                    None,
                    "Too little time left in this invocation to call the Gateway; will retry.",
                )
            answer = last = _redacted(attempt(credentials), credentials)
            if answer.kind is AnswerKind.UNAUTHORISED and not refreshed:
                refresh = refreshed = True  # the secret may have rotated: fetch it again, once
                continue
            if answer.kind is not AnswerKind.TRANSIENT or number >= self.settings.max_gateway_attempts:
                return answer
            delay = self.settings.backoff_base_s * (2 ** (number - 1)) * (0.5 + self.rng.random())
            if budget.left_s() < delay + min(self.settings.read_timeout_s, 10):
                return answer
            budget.sleep(delay)
        assert last is not None
        return last

    def _timeout(self, budget: Budget) -> float:
        return min(self.settings.read_timeout_s, budget.left_s())

    def _create_or_update(
        self,
        obj: SourceObject,
        document: dict[str, Any],
        schema: SchemaRef | None,
        dataset_id: int | None,
        archived: bool,
        credentials: AppCredentials,
        budget: Budget,
        unanswered: list[GatewayAnswer],
    ) -> tuple[GatewayAnswer, int | None, bool]:
        """One try. Returns the answer and what is now known of the dataset (its id, whether archived)."""
        if dataset_id is None:
            # No id recorded: look for a dataset created earlier for this source (a lost ledger write, a
            # crash after POST, a timed-out POST that did succeed), archived ones included.
            found = self._call("find", lambda: self.gateway.find(obj.datasetid, credentials, self._timeout(budget)))
            if found.kind is not AnswerKind.SUCCESS:
                return found, None, False
            dataset_id, archived = found.dataset_id, found.dataset_id is not None and not found.found

        def post() -> GatewayAnswer:
            return self.gateway.create(document, schema, obj.datasetid, credentials, self._timeout(budget))

        def create() -> GatewayAnswer:
            # A POST that got no answer may still be creating the dataset, and a lookup cannot see it until it is
            # done: POSTing again now could make a second one. Only look it up until the next delivery (after
            # the visibility timeout), when a lookup finds it if it was created.
            if unanswered:
                return unanswered[0]
            answer = self._call("create", post)
            if answer.kind is AnswerKind.TRANSIENT and answer.http_status is None:
                unanswered.append(answer)
            return answer

        if dataset_id is None:
            return create(), None, False
        if archived:
            # Re-upload after a deletion: bring the same Gateway dataset back, then update it.
            restored = self._call(
                "unarchive", lambda: self.gateway.unarchive(dataset_id, credentials, self._timeout(budget))
            )
            if restored.kind is AnswerKind.NOT_FOUND:
                return create(), None, False
            if restored.kind is not AnswerKind.SUCCESS:
                return restored, dataset_id, True
        answer = self._call(
            "update", lambda: self.gateway.update(dataset_id, document, schema, credentials, self._timeout(budget))
        )
        if answer.kind is AnswerKind.NOT_FOUND:
            # Deleted on the Gateway since: publish it as a new dataset.
            return create(), None, False
        return answer, dataset_id, False

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
            verb = "Created" if status is Status.CREATED else "Updated"
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

    # Catalogues ----------------------------------------------------------------------------------------
    def _catalogue(
        self,
        obj: SourceObject,
        elements: list[dict[str, Any]],
        previous: LedgerEntry | None,
        stored: StoredObject | None,
        digest: str | None,
        held: _Held,
        delivery: Delivery,
        budget: Budget,
    ) -> Outcome:
        """Publish each element as its own dataset (its own ledger item, ``<source>#<id>``); then archive the
        elements that left the catalogue, when deletion is enabled."""
        counts: dict[str, int] = {}
        members: list[str] = []
        problems: list[ErrorDetail] = []
        retry: RetryLater | None = None
        for index, element in enumerate(elements):
            identifier = element_identifier(element, self.settings.catalogue_id_pointer)
            if identifier is None:
                detail = ErrorDetail(f"$[{index}]", missing_identifier_message(self.settings.catalogue_id_pointer))
                problems.append(detail)
                member = obj.element(f"[{index}]")
                outcome = Outcome(Status.INVALID, f"Catalogue element {index} {detail.message}", (detail,))
                with self._lease(member, budget) as element_lease:
                    self._finish(member, outcome, element_lease.previous, delivery, element_lease)
                counts["INVALID"] = counts.get("INVALID", 0) + 1
                continue
            if identifier in members:
                problems.append(ErrorDetail(f"$[{index}]", f"repeats identifier {identifier!r}; the first one is used"))
                continue
            members.append(identifier)
            member = obj.element(identifier)
            try:
                with self._lease(member, budget) as element_lease:
                    before = element_lease.previous
                    try:
                        outcome = self._publish(member, element, before, budget)
                    except Failure as failure:
                        outcome = failure.outcome
                    outcome = self._finish(member, outcome, before, delivery, element_lease)
            except RetryLater as exc:
                retry = retry or exc
                outcome = exc.outcome
            if outcome.status.is_failure:
                problems.append(ErrorDetail(f"$[{index}]", f"{identifier}: {outcome.status.value}: {outcome.reason}"))
            counts[outcome.status.value] = counts.get(outcome.status.value, 0) + 1

        gone = [m for m in (previous.members if previous else ()) if m not in members]
        for identifier in gone:
            if self.settings.archive_on_delete:
                member = obj.element(identifier)
                try:
                    outcome = self._archive_source(member, delivery, budget)
                except RetryLater as exc:
                    retry = retry or exc
                    outcome = exc.outcome
                counts[outcome.status.value] = counts.get(outcome.status.value, 0) + 1
            else:
                counts["LEFT"] = counts.get("LEFT", 0) + 1

        summary = ", ".join(f"{n} {status.lower()}" for status, n in sorted(counts.items()))
        left = (
            " (elements no longer exported are left on the Gateway: deletion is not enabled)"
            if ("LEFT" in counts)
            else ""
        )
        parent = Outcome(
            Status.UPDATED if previous else Status.CREATED,
            f"Catalogue of {len(elements)} datasets: {summary}{left}.",
            tuple(problems),
        )
        self._finish(obj, parent, previous, delivery, held, stored=stored, digest=digest, members=tuple(members))
        if retry is not None:
            raise retry
        return parent

    # Removals ------------------------------------------------------------------------------------------
    def _remove(self, obj: SourceObject, delivery: Delivery, budget: Budget) -> Outcome:
        """``s3:ObjectRemoved:*``: archive the source's Gateway dataset (and a catalogue's members)."""
        if not self.settings.archive_on_delete:
            outcome = Outcome(Status.UNCHANGED, "Object deleted; archiving on delete is not enabled.")
            self.observer.outcome(obj, outcome)
            return outcome
        previous = self.ledger.get(obj.source)
        retry: RetryLater | None = None
        for identifier in previous.members if previous else ():
            try:
                self._archive_source(obj.element(identifier), delivery, budget)
            except RetryLater as exc:
                retry = retry or exc
        outcome = self._archive_source(obj, delivery, budget)
        if retry is not None:
            raise retry
        return outcome

    def _archive_source(self, obj: SourceObject, delivery: Delivery, budget: Budget) -> Outcome:
        with self._lease(obj, budget) as held:
            previous = held.previous
            if previous is not None and self._older(obj, previous):
                return self._stale(obj, previous)
            if previous is not None and previous.status is Status.ARCHIVED:
                outcome = replace(self._unchanged(previous, "Already archived"), status=Status.ARCHIVED)
                return self._finish(obj, outcome, previous, delivery, held)
            if previous is not None and previous.members and previous.dataset_id is None:
                # a catalogue file: its members were archived one by one
                outcome = Outcome(Status.ARCHIVED, f"Catalogue deleted; its {len(previous.members)} datasets archived.")
                return self._finish(obj, outcome, previous, delivery, held)
            known = previous.dataset_id if previous else None

            def attempt(credentials: AppCredentials) -> GatewayAnswer:
                nonlocal known
                if known is None:
                    found = self._call(
                        "find", lambda: self.gateway.find(obj.datasetid, credentials, self._timeout(budget))
                    )
                    if found.kind is not AnswerKind.SUCCESS or not found.found:
                        return found
                    known = found.dataset_id
                dataset_id = known
                assert dataset_id is not None
                return self._call(
                    "archive", lambda: self.gateway.archive(dataset_id, credentials, self._timeout(budget))
                )

            try:
                answer = self._with_retries(attempt, budget)
            except Failure as failure:
                return self._finish(obj, failure.outcome, previous, delivery, held)
            if answer.kind is AnswerKind.SUCCESS or answer.kind is AnswerKind.NOT_FOUND:
                what = f"Archived Gateway dataset {known}" if known is not None else "No Gateway dataset to archive"
                outcome = Outcome(
                    Status.ARCHIVED,
                    f"{what}: the object was deleted. Uploading it again restores and updates the dataset.",
                    dataset_id=known,
                    dataset_version=previous.dataset_version if previous else None,
                    gateway_status=answer.http_status,
                )
            else:
                outcome = self._outcome_of(answer, None)
            return self._finish(obj, outcome, previous, delivery, held)

    # Records -------------------------------------------------------------------------------------------
    def _finish(
        self,
        obj: SourceObject,
        outcome: Outcome,
        previous: LedgerEntry | None,
        delivery: Delivery,
        held: _Held,
        stored: StoredObject | None = None,
        digest: str | None = None,
        members: tuple[str, ...] = (),
    ) -> Outcome:
        """Record the outcome (ledger, then DLQ for a failure), then tell the observer. Raises RetryLater
        for a transient failure that SQS will deliver again. Recording the outcome also ends the lease."""
        outcome = replace(outcome, attempts=delivery.receive_count)
        if outcome.status is Status.RETRYING and delivery.final:
            outcome = replace(
                outcome,
                status=Status.FAILED,
                reason=f"{outcome.reason} Gave up after {delivery.receive_count} deliveries; "
                "the message is in the dead-letter queue: replay it with `redrive` once the cause is fixed.",
            )
        self.ledger.record(self._entry(obj, outcome, previous, digest, stored, members), held.owner)
        held.recorded = True
        if outcome.status.is_failure:
            self.dead_letters.send(self._dead_letter(obj, outcome, delivery))
        self.observer.outcome(obj, outcome)
        if outcome.status is Status.RETRYING:
            raise RetryLater(outcome)
        return outcome

    def _entry(
        self,
        obj: SourceObject,
        outcome: Outcome,
        previous: LedgerEntry | None,
        digest: str | None,
        stored: StoredObject | None,
        members: tuple[str, ...],
    ) -> LedgerEntry:
        keep = outcome.status not in PUBLISHED and previous is not None
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
            dataset_id=outcome.dataset_id or (previous.dataset_id if keep and previous else None),
            dataset_version=outcome.dataset_version or (previous.dataset_version if keep and previous else None),
            schema=outcome.schema,
            errors=outcome.errors[:MAX_RECORDED_ERRORS],
            errors_total=len(outcome.errors),
            warnings=outcome.warnings,
            sha256=digest or (previous.sha256 if keep and previous else None),
            etag=(stored.etag if stored and stored.etag else obj.etag),
            version_id=(stored.version_id if stored and stored.version_id else obj.version_id),
            sequencer=obj.sequencer or (previous.sequencer if previous else None),
            gateway_status=outcome.gateway_status,
            document_sha256=outcome.digest or (previous.document_sha256 if keep and previous else None),
            members=members or (previous.members if previous and outcome.status is Status.ARCHIVED else ()),
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


REDACTED = "[redacted]"
_REDACT_MIN_CHARS = 8  # the Gateway's ids are long random strings; a shorter value would blank common words


def _redacted(answer: GatewayAnswer, credentials: AppCredentials) -> GatewayAnswer:
    """The Gateway's own words go to the ledger, the DLQ and the logs: never with the credentials in them (an
    error page can quote the request, e.g. a failed SQL query with its bindings)."""
    values = [value for value in credentials.secret_values() if len(value) >= _REDACT_MIN_CHARS]
    texts = [answer.message, *(f"{e.path} {e.message}" for e in answer.errors)]
    if not any(value in text for value in values for text in texts):
        return answer

    def clean(text: str) -> str:
        for value in values:
            text = text.replace(value, REDACTED)
        return text

    return replace(
        answer,
        message=clean(answer.message),
        errors=tuple(ErrorDetail(clean(e.path), clean(e.message)) for e in answer.errors),
    )


def canonical_json(document: Any) -> str:
    """The document's canonical JSON: sorted keys, no whitespace, non-ASCII as is."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
