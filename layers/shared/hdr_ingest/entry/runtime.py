"""Wiring: settings → adapters → pipeline, built once per container, and the event shapes we accept.

Accepted events: SQS batches whose bodies are S3 notifications (the main path, partial batch failures
through Powertools batch processing), dead-letter messages replayed onto the queue, plain S3 events
(``sam local invoke -e events/s3-put.json`` and direct S3 → Lambda wiring), and EventBridge
"Object Created" events (directly or through SQS).

The records of an SQS batch are processed concurrently (``RECORD_CONCURRENCY`` threads), because each spends
most of its time waiting for the Gateway; the records announcing the same S3 object are processed one after
another, in the batch's order.

Cold start: what is not needed to build the runtime is imported where it is used (Powertools batch processing,
the Gateway-faithful judgement, the adapters), and the AWS clients are made on first use (``aws_clients``).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from hdr_ingest.adapters.aws.clients import AwsClients
from hdr_ingest.core.outcome import Outcome
from hdr_ingest.core.source_object import (
    SourceObject,
    UnsupportedEvent,
    is_eventbridge_object_event,
    is_s3_notification,
    is_s3_test_event,
    object_in_eventbridge_event,
    objects_in_s3_notification,
)
from hdr_ingest.destinations.hdruk.answers import AnswerKind, GatewayAnswer
from hdr_ingest.entry.settings import Settings
from hdr_ingest.usecases.pipeline import DLQ_MESSAGE_KIND, Budget, Delivery, IngestPipeline, PipelineSettings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

SERVICE = "hdr-gateway-ingest"
# botocore logs every AWS response body at DEBUG, the Gateway credentials (GetSecretValue) included: keep that
# logger at INFO, whatever level the function's logs or Lambda's application logs are set to.
logging.getLogger("botocore.parsers").setLevel(logging.INFO)
logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE))
# Only the calls a trace should show: the Gateway (requests, patched here) and AWS (botocore, patched by
# AwsClients before it makes the first client: patching botocore imports its client machinery, about 40 ms of
# a cold start that the first AWS call pays anyway). Patching everything X-Ray supports would import modules the
# function never uses (sqlite3, ...) and trace each Gateway call twice (requests, then http.client beneath it).
tracer = Tracer(service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE), patch_modules=("requests",))
metrics = Metrics(
    service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE),
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "HdrGatewayIngest"),
)
# Powertools' metric set is a plain dict that add_metric reads, updates and (at 100 metrics) flushes: records
# processed in threads add their metrics one at a time, or counts would be lost.
_metrics_lock = threading.Lock()

T = TypeVar("T")


def add_metric(name: str, unit: MetricUnit, value: float) -> None:
    with _metrics_lock:
        metrics.add_metric(name=name, unit=unit, value=value)


class PowertoolsObserver:
    """Every outcome becomes a log line and a metric named after its status."""

    def __init__(self) -> None:
        self._warned = False
        self._lock = threading.Lock()

    def outcome(self, obj: SourceObject, outcome: Outcome) -> None:
        add_metric(name=outcome.status.value.title(), unit=MetricUnit.Count, value=1)
        fields = {
            "status": outcome.status.value,
            "reason": outcome.reason,
            "dataset_id": outcome.dataset_id,
            "schema": outcome.schema,
            "errors": [e.as_dict() for e in outcome.errors[:20]],
            "errors_total": len(outcome.errors),
        }
        if outcome.status.is_failure:
            logger.warning("source object not published", extra=fields)
        else:
            logger.info("source object processed", extra=fields)

    def gateway_answer(self, operation: str, answer: GatewayAnswer, elapsed_ms: float) -> None:
        add_metric(name="GatewayLatency", unit=MetricUnit.Milliseconds, value=round(elapsed_ms, 1))
        if answer.kind is not AnswerKind.SUCCESS:
            add_metric(name="GatewayError", unit=MetricUnit.Count, value=1)
            logger.info(
                "gateway answer",
                extra={"operation": operation, "kind": answer.kind.value, "http_status": answer.http_status},
            )
        if not (answer.deprecation or answer.sunset):
            return
        with self._lock:
            first, self._warned = not self._warned, True
        if first:
            add_metric(name="GatewayDeprecationNotice", unit=MetricUnit.Count, value=1)
            logger.warning(
                "the Gateway marks the integrations API as deprecated",
                extra={"deprecation": answer.deprecation, "sunset": answer.sunset},
            )


@dataclass
class Runtime:
    settings: Settings
    pipeline: IngestPipeline
    clients: AwsClients | None = None  # the AWS clients made so far (each on first use)

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        from hdr_ingest.adapters.aws.dynamodb_ledger import DynamoDbLedger
        from hdr_ingest.adapters.aws.s3 import S3ObjectStore
        from hdr_ingest.adapters.aws.secrets import SecretsManagerCredentials
        from hdr_ingest.adapters.aws.sqs_dead_letters import SqsDeadLetters
        from hdr_ingest.destinations.hdruk.client import GatewayClient
        from hdr_ingest.destinations.hdruk.schema_pack import SchemaPack

        clients = AwsClients(
            max_pool_connections=settings.record_concurrency, before_first_client=lambda: tracer.patch(["botocore"])
        )
        pipeline = IngestPipeline(
            PipelineSettings(
                max_object_bytes=settings.max_object_bytes,
                target_schema=settings.target_schema,
                validation_mode=settings.validation_mode,
                max_gateway_attempts=settings.max_gateway_attempts,
                read_timeout_s=settings.read_timeout_s,
                archive_on_delete=settings.archive_on_delete,
                catalogue_id_pointer=settings.catalogue_id_pointer,
            ),
            pack=once(lambda: SchemaPack.load(settings.schema_pack_dir)),
            store=S3ObjectStore(clients.source("s3")),
            ledger=DynamoDbLedger(settings.ledger_table, clients.source("dynamodb")),
            dead_letters=SqsDeadLetters(clients.source("sqs"), settings.dlq_url),
            credentials=SecretsManagerCredentials(
                settings.gateway_secret_id, settings.secret_max_age_s, clients.source("secretsmanager")
            ),
            gateway=GatewayClient(
                settings.gateway_url,
                settings.header_style,
                settings.connect_timeout_s,
                pool_size=settings.record_concurrency,
            ),
            observer=PowertoolsObserver(),
        )
        return cls(settings, pipeline, clients)

    # --- events -----------------------------------------------------------------------------------------
    def handle(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        budget = _budget(context)
        records = event.get("Records")
        if isinstance(records, list) and records and records[0].get("eventSource") == "aws:sqs":
            return self._sqs_batch(event, context, budget)
        # Direct invocations: no redelivery to count on, so this delivery is the final one; a failure
        # is recorded and sent to the dead-letter queue, from where it can be replayed.
        outcomes = self._announced(event, Delivery(receive_count=1, final=True), budget)
        return {"processed": [{"source": o.source, "status": out.status.value} for o, out in outcomes]}

    def _sqs_batch(self, event: Mapping[str, Any], context: Any, budget: Budget) -> dict[str, Any]:
        """Process the batch's records concurrently, then let Powertools' BatchProcessor build the partial batch
        response from their results, record by record, in order.

        BatchProcessor (not AsyncBatchProcessor): the work is blocking I/O through boto3 and requests, which have
        no asyncio API, so an async handler would only hand each record to a thread anyway; and records for the
        same object must run one after another, which gather() over records cannot express. Here the records
        are grouped by object and the groups run in a bounded thread pool; BatchProcessor then keeps what it is
        for (which records failed, ``batchItemFailures``, the whole-batch failure rules) unchanged."""
        from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
        from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

        records = [SQSRecord(raw) for raw in event["Records"]]
        errors = self._process_records(records, budget)
        by_message: defaultdict[str, deque[Exception | None]] = defaultdict(deque)
        for record, error in zip(records, errors, strict=True):
            by_message[record.message_id].append(error)

        def record_handler(record: SQSRecord) -> None:
            error = by_message[record.message_id].popleft()  # the processor goes through the records in order
            if error is not None:
                raise error

        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        return dict(
            process_partial_response(
                event=dict(event), record_handler=record_handler, processor=processor, context=context
            )
        )

    def _process_records(self, records: list[SQSRecord], budget: Budget) -> list[Exception | None]:
        """Each record's error (``None``: processed). Records announcing the same object form one group,
        processed in order by one thread; up to ``record_concurrency`` groups at a time."""
        errors: list[Exception | None] = [None] * len(records)
        announced = [_announced_objects(record.body) for record in records]
        memory = DocumentBudget(self.settings.documents_in_flight_bytes)

        def run(group: list[int]) -> None:
            for index in group:
                try:
                    with memory.hold(sum(obj.size or 0 for obj in announced[index])):
                        self._sqs_record(records[index], budget)
                except Exception as exc:  # noqa: BLE001 - reported for this record by the batch processor
                    errors[index] = exc

        groups = record_groups([[obj.source for obj in objects] for objects in announced])
        workers = min(self.settings.record_concurrency, len(groups))
        if workers <= 1:
            for group in groups:
                run(group)
            return errors
        from concurrent.futures import ThreadPoolExecutor

        parent = _trace_entity()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hdr-ingest-record") as pool:
            for future in [pool.submit(_traced, parent, run, group) for group in groups]:
                future.result()  # run() keeps every record's error; this only re-raises a bug in run() itself
        return errors

    def _sqs_record(self, record: SQSRecord, budget: Budget) -> None:
        receive_count = int(record.attributes.approximate_receive_count or 1)
        final = receive_count >= self.settings.max_receive_count
        # Thread-local keys: records processed at the same time in other threads log their own message id.
        logger.thread_safe_append_keys(message_id=record.message_id)
        try:
            try:
                body = json.loads(record.body)
            except ValueError:
                self._unprocessable(record.body, "the message body is not JSON")
                return
            if isinstance(body, dict) and body.get("kind") == DLQ_MESSAGE_KIND:
                logger.info("replaying a dead-letter message", extra={"source": body.get("source")})
                body = body.get("event") or {}
            if not isinstance(body, dict):
                self._unprocessable(record.body, "the message body is not a JSON object")
                return
            try:
                self._announced(body, Delivery(receive_count=receive_count, final=final), budget)
            except UnsupportedEvent as exc:
                self._unprocessable(body, str(exc))
        finally:
            logger.thread_safe_remove_keys(["message_id"])

    def _announced(
        self, event: Mapping[str, Any], delivery: Delivery, budget: Budget
    ) -> list[tuple[SourceObject, Outcome]]:
        """Process every object an event announces; the first error is raised after all were tried."""
        if is_s3_test_event(event):
            logger.info("skipping s3:TestEvent (sent by S3 when notifications are configured)")
            return []
        if is_s3_notification(event):
            pairs = [(next(objects_in_s3_notification({"Records": [r]})), {"Records": [r]}) for r in event["Records"]]
        elif is_eventbridge_object_event(event):
            pairs = [(object_in_eventbridge_event(event), dict(event))]
        else:
            raise UnsupportedEvent(
                "not an S3 notification, an S3 EventBridge event or an s3:TestEvent "
                f"(top-level keys: {sorted(event)[:8]})"
            )
        done: list[tuple[SourceObject, Outcome]] = []
        first_error: Exception | None = None
        try:
            for obj, original in pairs:
                logger.thread_safe_append_keys(source=obj.source, correlation_id=obj.sequencer or obj.etag)
                if obj.is_folder_marker:
                    logger.info("skipping folder marker")
                    continue
                try:
                    outcome = self.pipeline.process(
                        obj,
                        Delivery(delivery.receive_count, delivery.final, original),
                        budget,
                    )
                    done.append((obj, outcome))
                except Exception as exc:  # noqa: BLE001 - every object is tried before the error is raised
                    logger.warning("source object will be retried", extra={"reason": str(exc)})
                    first_error = first_error or exc
        finally:
            logger.thread_safe_remove_keys(["source", "correlation_id"])
        if first_error is not None:
            raise first_error
        return done

    def _unprocessable(self, body: Any, why: str) -> None:
        """A message that announces no object we can process: kept in the DLQ, never silently dropped."""
        logger.error("unprocessable message sent to the dead-letter queue", extra={"why": why})
        add_metric(name="UnprocessableMessage", unit=MetricUnit.Count, value=1)
        self.pipeline.dead_letters.send(
            {
                "kind": DLQ_MESSAGE_KIND,
                "version": 1,
                "source": None,
                "status": "INVALID",
                "reason": f"Unprocessable message: {why}.",
                "errors": [],
                "event": body,
            }
        )


class DocumentBudget:
    """Bytes of S3 objects that records processed at the same time may hold: a record waits until its objects
    fit beside those in flight (sizes from the event), so a batch of large documents cannot run the instance out
    of memory (``Settings.documents_in_flight_bytes``, from the function's memory size). A record larger than
    the whole budget runs alone."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._used = 0
        self._changed = threading.Condition()

    @contextmanager
    def hold(self, size: int) -> Iterator[None]:
        with self._changed:
            while self._used and self._used + size > self._limit:
                self._changed.wait()
            self._used += size
        try:
            yield
        finally:
            with self._changed:
                self._used -= size
                self._changed.notify_all()


def _announced_objects(body: str) -> list[SourceObject]:
    """The objects an SQS message body announces (its own dead-letter messages included); ``[]`` when it
    announces none that can be read here (processing the record reports why)."""
    try:
        event = json.loads(body)
        if isinstance(event, dict) and event.get("kind") == DLQ_MESSAGE_KIND:
            event = event.get("event") or {}
        if not isinstance(event, dict):
            return []
        if is_s3_notification(event):
            return list(objects_in_s3_notification(event))
        if is_eventbridge_object_event(event):
            return [object_in_eventbridge_event(event)]
    except Exception:  # noqa: BLE001 - unreadable: the record is processed on its own and reports it
        return []
    return []


def record_groups(sources: list[list[str]]) -> list[list[int]]:
    """Indices of records that must be processed one after another: those sharing a source (transitively),
    each group in the batch's order; groups ordered by their first record."""
    root = list(range(len(sources)))

    def find(index: int) -> int:
        while root[index] != index:
            root[index] = root[root[index]]
            index = root[index]
        return index

    first: dict[str, int] = {}
    for index, announced in enumerate(sources):
        for source in announced:
            if source in first:
                a, b = find(first[source]), find(index)
                root[max(a, b)] = min(a, b)
            else:
                first[source] = index
    groups: dict[int, list[int]] = {}
    for index in range(len(sources)):
        groups.setdefault(find(index), []).append(index)
    return list(groups.values())


def _trace_entity() -> Any:
    """The calling thread's X-Ray entity (the handler's subsegment), or ``None`` when tracing is off."""
    if tracer.disabled:
        return None
    get = getattr(tracer.provider, "get_trace_entity", None)
    return get() if callable(get) else None


def _traced(parent: Any, work: Callable[[T], None], argument: T) -> None:
    """Run ``work`` in a worker thread under ``parent``: X-Ray keeps the current entity per thread, so without
    this the AWS and Gateway calls made in the thread would not be part of the invocation's trace (the X-Ray
    SDK's way for threads: set the parent entity in the thread, clear it when done)."""
    if parent is None:
        work(argument)
        return
    recorder: Any = tracer.provider
    recorder.set_trace_entity(parent)
    try:
        work(argument)
    finally:
        recorder.clear_trace_entities()


def once(factory: Callable[[], T]) -> Callable[[], T]:
    """``factory()``, made on the first call only, also when threads ask at the same time."""
    lock = threading.Lock()
    made: list[T] = []

    def get() -> T:
        if not made:
            with lock:
                if not made:
                    made.append(factory())
        return made[0]

    return get


def _budget(context: Any) -> Budget:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return Budget(remaining_ms=remaining) if callable(remaining) else Budget()


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def get_runtime() -> Runtime:
    """The container's runtime, built on first use (configuration errors surface here, with every problem)."""
    global _runtime
    if _runtime is None:
        with _runtime_lock:
            if _runtime is None:
                _runtime = Runtime.from_settings(Settings.from_env())
    return _runtime


def reset_runtime() -> None:
    """Forget the built runtime (tests change the environment between cases)."""
    global _runtime
    _runtime = None
