"""Wiring: settings → adapters → pipeline, built once per container, and the event shapes we accept.

Accepted events: SQS batches whose bodies are S3 notifications (the main path, partial batch failures
through Powertools batch processing), dead-letter messages replayed onto the queue, plain S3 events
(``sam local invoke -e events/s3-put.json`` and direct S3 → Lambda wiring), and EventBridge
"Object Created" events (directly or through SQS).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from hdr_ingest.config import Settings
from hdr_ingest.gateway_response import AnswerKind, GatewayAnswer
from hdr_ingest.outcome import Outcome
from hdr_ingest.pipeline import DLQ_MESSAGE_KIND, Budget, Delivery, IngestPipeline, PipelineSettings
from hdr_ingest.schema_pack import SchemaPack
from hdr_ingest.source_object import (
    SourceObject,
    UnsupportedEvent,
    is_eventbridge_object_event,
    is_s3_notification,
    is_s3_test_event,
    object_in_eventbridge_event,
    objects_in_s3_notification,
)

SERVICE = "hdr-gateway-ingest"
# botocore logs every AWS response body at DEBUG, the Gateway credentials (GetSecretValue) included: keep that
# logger at INFO, whatever level the function's logs or Lambda's application logs are set to.
logging.getLogger("botocore.parsers").setLevel(logging.INFO)
logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE))
tracer = Tracer(service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE))
metrics = Metrics(
    service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE),
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "HdrGatewayIngest"),
)


class PowertoolsObserver:
    """Every outcome becomes a log line and a metric named after its status."""

    def __init__(self) -> None:
        self._warned = False

    def outcome(self, obj: SourceObject, outcome: Outcome) -> None:
        metrics.add_metric(name=outcome.status.value.title(), unit=MetricUnit.Count, value=1)
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
        metrics.add_metric(name="GatewayLatency", unit=MetricUnit.Milliseconds, value=round(elapsed_ms, 1))
        if answer.kind is not AnswerKind.SUCCESS:
            metrics.add_metric(name="GatewayError", unit=MetricUnit.Count, value=1)
            logger.info(
                "gateway answer",
                extra={"operation": operation, "kind": answer.kind.value, "http_status": answer.http_status},
            )
        if (answer.deprecation or answer.sunset) and not self._warned:
            self._warned = True
            metrics.add_metric(name="GatewayDeprecationNotice", unit=MetricUnit.Count, value=1)
            logger.warning(
                "the Gateway marks the integrations API as deprecated",
                extra={"deprecation": answer.deprecation, "sunset": answer.sunset},
            )


@dataclass
class Runtime:
    settings: Settings
    pipeline: IngestPipeline

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        import boto3

        from hdr_ingest.credentials import SecretsManagerCredentials
        from hdr_ingest.dead_letter import SqsDeadLetters
        from hdr_ingest.gateway_client import GatewayClient
        from hdr_ingest.ledger import DynamoDbLedger
        from hdr_ingest.object_store import S3ObjectStore

        session = boto3.session.Session()
        pack_loader = lru_cache(maxsize=1)(lambda: SchemaPack.load(settings.schema_pack_dir))
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
            pack=pack_loader,
            store=S3ObjectStore(session.client("s3")),
            ledger=DynamoDbLedger(session.resource("dynamodb").Table(settings.ledger_table)),
            dead_letters=SqsDeadLetters(session.client("sqs"), settings.dlq_url),
            credentials=SecretsManagerCredentials(settings.gateway_secret_id, settings.secret_max_age_s),
            gateway=GatewayClient(settings.gateway_url, settings.header_style, settings.connect_timeout_s),
            observer=PowertoolsObserver(),
        )
        return cls(settings, pipeline)

    # --- events -----------------------------------------------------------------------------------------
    def handle(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        budget = _budget(context)
        records = event.get("Records")
        if isinstance(records, list) and records and records[0].get("eventSource") == "aws:sqs":
            processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
            return dict(
                process_partial_response(
                    event=dict(event),
                    record_handler=lambda record: self._sqs_record(record, budget),
                    processor=processor,
                    context=context,
                )
            )
        # Direct invocations: no redelivery to count on, so this delivery is the final one; a failure
        # is recorded and sent to the dead-letter queue, from where it can be replayed.
        outcomes = self._announced(event, Delivery(receive_count=1, final=True), budget)
        return {"processed": [{"source": o.source, "status": out.status.value} for o, out in outcomes]}

    def _sqs_record(self, record: SQSRecord, budget: Budget) -> None:
        receive_count = int(record.attributes.approximate_receive_count or 1)
        final = receive_count >= self.settings.max_receive_count
        logger.append_keys(message_id=record.message_id)
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
        for obj, original in pairs:
            logger.append_keys(source=obj.source, correlation_id=obj.sequencer or obj.etag)
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
        logger.remove_keys(["source", "correlation_id"])
        if first_error is not None:
            raise first_error
        return done

    def _unprocessable(self, body: Any, why: str) -> None:
        """A message that announces no object we can process: kept in the DLQ, never silently dropped."""
        logger.error("unprocessable message sent to the dead-letter queue", extra={"why": why})
        metrics.add_metric(name="UnprocessableMessage", unit=MetricUnit.Count, value=1)
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


def _budget(context: Any) -> Budget:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return Budget(remaining_ms=remaining) if callable(remaining) else Budget()


_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    """The container's runtime, built on first use (configuration errors surface here, with every problem)."""
    global _runtime
    if _runtime is None:
        _runtime = Runtime.from_settings(Settings.from_env())
    return _runtime


def reset_runtime() -> None:
    """Forget the built runtime (tests change the environment between cases)."""
    global _runtime
    _runtime = None
