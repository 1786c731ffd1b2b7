"""The handler's work: events → objects → the pipeline, with SQS partial batch failures.

The records of an SQS batch are processed concurrently (``RECORD_CONCURRENCY`` threads), because each spends
most of its time waiting for a destination; the records announcing the same S3 object are processed one after
another, in the batch's order. Event shapes are read in ``entry.events``, the pipeline is built in
``entry.composition``.

Cold start: what is not needed to build the runtime is imported where it is used (Powertools batch processing,
the judges, the adapters), and the AWS clients are made on first use (``adapters.aws.clients``).
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict, deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from hdr_ingest.adapters.aws.clients import AwsClients
from hdr_ingest.core.dead_letter import DLQ_MESSAGE_KIND, envelope, replayed_event
from hdr_ingest.core.outcome import Outcome
from hdr_ingest.core.source_object import SourceObject
from hdr_ingest.entry.events import UnsupportedEvent, announced, is_s3_test_event, objects_in_message
from hdr_ingest.entry.observe import add_metric, logger, metrics, tracer
from hdr_ingest.entry.settings import Settings
from hdr_ingest.entry.threads import trace_entity, traced
from hdr_ingest.usecases.context import Budget, Delivery
from hdr_ingest.usecases.pipeline import IngestPipeline

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

__all__ = ["Runtime", "get_runtime", "logger", "metrics", "record_groups", "reset_runtime", "tracer"]


@dataclass
class Runtime:
    """The container's function: its settings, the pipeline built from them, and the AWS clients under it.

    ``clients`` is the one way to name those clients from outside the pipeline: ``clients.client("s3")`` (or
    ``"dynamodb"``, ``"sqs"``, ``"secretsmanager"``) is the very client the object store (the ledger, the dead
    letters, the secrets) calls, made on first use like theirs; ``clients.created()`` names those made so far.
    ``None`` when the pipeline runs over adapters that are not AWS's (a runtime built around a fake pipeline)."""

    settings: Settings
    pipeline: IngestPipeline
    clients: AwsClients | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        from hdr_ingest.entry.composition import build_pipeline

        pipeline, clients = build_pipeline(settings)
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
        objects = [objects_in_message(record.body) for record in records]
        memory = DocumentBudget(self.settings.documents_in_flight_bytes)

        def run(group: list[int]) -> None:
            for index in group:
                try:
                    with memory.hold(sum(obj.size or 0 for obj in objects[index])):
                        self._sqs_record(records[index], budget)
                except Exception as exc:  # noqa: BLE001 - reported for this record by the batch processor
                    errors[index] = exc

        groups = record_groups([[obj.source for obj in announced_objects] for announced_objects in objects])
        workers = min(self.settings.record_concurrency, len(groups))
        if workers <= 1:
            for group in groups:
                run(group)
            return errors
        from concurrent.futures import ThreadPoolExecutor

        parent = trace_entity()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hdr-ingest-record") as pool:
            for future in [pool.submit(traced, parent, partial(run, group)) for group in groups]:
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
            body = replayed_event(body)
            if not isinstance(body, dict):
                self._unprocessable(record.body, "the message body is not a JSON object")
                return
            try:
                self._announced(body, Delivery(receive_count=receive_count, final=final), budget)
            except UnsupportedEvent as exc:
                self._unprocessable(body, str(exc))
                if exc.obj is not None:
                    self._note_malformed(exc.obj, str(exc), Delivery(receive_count=receive_count, final=final), budget)
        finally:
            logger.thread_safe_remove_keys(["message_id"])

    def _announced(
        self, event: Mapping[str, Any], delivery: Delivery, budget: Budget
    ) -> list[tuple[SourceObject, Outcome]]:
        """Process every object an event announces; the first error is raised after all were tried."""
        pairs = announced(event)
        if not pairs and is_s3_test_event(event):
            logger.info("skipping s3:TestEvent (sent by S3 when notifications are configured)")
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

    def _note_malformed(self, obj: SourceObject, why: str, delivery: Delivery, budget: Budget) -> None:
        """The ledger row of an object a malformed record names; the dead letter already holds the record, so a
        failure here is only logged."""
        try:
            self.pipeline.note_malformed(obj, why, delivery, budget)
        except Exception as exc:  # noqa: BLE001 - best effort: the dead letter is the record of it
            logger.warning("could not note the malformed record in the ledger", extra={"reason": type(exc).__name__})

    def _unprocessable(self, body: Any, why: str) -> None:
        """A message that announces no object we can process: kept in the DLQ, never silently dropped."""
        logger.error("unprocessable message sent to the dead-letter queue", extra={"why": why})
        add_metric(name="UnprocessableMessage", unit=MetricUnit.Count, value=1)
        self.pipeline.send_dead_letter(
            envelope(source=None, status="INVALID", reason=f"Unprocessable message: {why}.", event=body)
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
    for index, record_sources in enumerate(sources):
        for source in record_sources:
            if source in first:
                a, b = find(first[source]), find(index)
                root[max(a, b)] = min(a, b)
            else:
                first[source] = index
    groups: dict[int, list[int]] = {}
    for index in range(len(sources)):
        groups.setdefault(find(index), []).append(index)
    return list(groups.values())


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
