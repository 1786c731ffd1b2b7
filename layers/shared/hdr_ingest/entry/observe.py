"""Observability: Powertools' logger, tracer and metrics, and the observer that turns outcomes and answers into
log lines and metrics."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.core.outcome import Outcome
from hdr_ingest.core.source_object import SourceObject

SERVICE = "hdr-gateway-ingest"
# botocore logs every AWS response body at DEBUG, the destinations' credentials (GetSecretValue) included: keep
# that logger at INFO, whatever level the function's logs or Lambda's application logs are set to.
logging.getLogger("botocore.parsers").setLevel(logging.INFO)
logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE))
# Only the calls a trace should show: the destinations (requests, patched here) and AWS (botocore, patched by
# AwsClients before it makes the first client: patching botocore imports its client machinery, about 40 ms of
# a cold start that the first AWS call pays anyway). Patching everything X-Ray supports would import modules the
# function never uses (sqlite3, ...) and trace each call twice (requests, then http.client beneath it).
tracer = Tracer(service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE), patch_modules=("requests",))
metrics = Metrics(
    service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE),
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "HdrGatewayIngest"),
)
# Powertools' metric set is a plain dict that add_metric reads, updates and (at 100 metrics) flushes: records
# processed in threads add their metrics one at a time, or counts would be lost.
_metrics_lock = threading.Lock()
# A record read back after publishing that holds something else, or is gone: the template's drift alarm watches it.
DRIFT_METRIC = "Drift"
VERIFIED_METRIC = "Verified"  # every read-back that told something (matches, differs or missing)


def add_metric(name: str, unit: MetricUnit, value: float) -> None:
    with _metrics_lock:
        metrics.add_metric(name=name, unit=unit, value=value)


class PowertoolsObserver:
    """Every outcome becomes a log line and a metric named after its status; every answer from a destination a
    latency metric (``GatewayLatency``, ``GatewayError``: the names the template's alarm and dashboard use)."""

    def __init__(self) -> None:
        self._warned = False
        self._lock = threading.Lock()

    def outcome(self, obj: SourceObject, outcome: Outcome) -> None:
        add_metric(name=outcome.status.value.title(), unit=MetricUnit.Count, value=1)
        fields: dict[str, Any] = {
            "status": outcome.status.value,
            "reason": outcome.reason,
            "dataset_id": outcome.record_id,
            "schema": outcome.schema,
            "errors": [e.as_dict() for e in outcome.errors[:20]],
            "errors_total": len(outcome.errors),
        }
        found = outcome.verification
        if found is not None:
            add_metric(name=VERIFIED_METRIC, unit=MetricUnit.Count, value=1)
            if found.result.is_drift:
                add_metric(name=DRIFT_METRIC, unit=MetricUnit.Count, value=1)
            fields["verified"] = found.result.value
            fields["differences"] = [d.as_dict() for d in found.differences[:5]]
        if outcome.status.is_failure:
            logger.warning("source object not published", extra=fields)
        else:
            logger.info("source object processed", extra=fields)

    def answer(self, destination: str, operation: str, answer: Answer, elapsed_ms: float) -> None:
        add_metric(name="GatewayLatency", unit=MetricUnit.Milliseconds, value=round(elapsed_ms, 1))
        if answer.kind is not AnswerKind.SUCCESS:
            add_metric(name="GatewayError", unit=MetricUnit.Count, value=1)
            logger.info(
                "destination answer",
                extra={
                    "destination": destination,
                    "operation": operation,
                    "kind": answer.kind.value,
                    "http_status": answer.http_status,
                },
            )
        if not (answer.deprecation or answer.sunset):
            return
        with self._lock:
            first, self._warned = not self._warned, True
        if first:
            add_metric(name="GatewayDeprecationNotice", unit=MetricUnit.Count, value=1)
            logger.warning(
                "the destination marks its API as deprecated",
                extra={"destination": destination, "deprecation": answer.deprecation, "sunset": answer.sunset},
            )
