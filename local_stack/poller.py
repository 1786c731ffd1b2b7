"""Run the ingest function against an SQS queue the way Lambda's SQS event source mapping does.

* Long polling (``WaitTimeSeconds``), batches of up to ``batch_size`` (10) messages, optionally gathered
  for up to ``batching_window_s`` (``MaximumBatchingWindowInSeconds``).
* The event is the exact Lambda SQS event: ``Records`` with ``messageId``, ``receiptHandle``, ``body``,
  ``attributes`` (``ApproximateReceiveCount``, ``SentTimestamp``, ...), ``messageAttributes`` (Lambda's
  camelCase shape), ``md5OfBody``, ``eventSource: aws:sqs``, ``eventSourceARN`` and ``awsRegion``.
* ``ReportBatchItemFailures``: the messages listed in ``batchItemFailures`` stay on the queue and the others
  are deleted. If the handler raises, or a failure names no message of the batch, nothing is deleted (Lambda
  treats both as a failed batch). Failed messages come back after the visibility timeout and the queue's
  redrive policy moves them to the DLQ after ``maxReceiveCount`` receives, as in AWS.
* The handler runs in this process with a fake ``LambdaContext`` whose remaining time counts down from
  ``timeout_s``. One batch at a time (Lambda would run up to ``MaximumConcurrency`` batches at once).
"""

from __future__ import annotations

import base64
import importlib
import logging
import os
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

__all__ = [
    "REPO_ROOT",
    "BatchReport",
    "FakeLambdaContext",
    "Handler",
    "SqsPoller",
    "apply_env",
    "build_sqs_event",
    "load_handler",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTION_DIR = REPO_ROOT / "functions" / "ingest"
SHARED_DIR = REPO_ROOT / "layers" / "shared"
# The attributes Lambda copies from ReceiveMessage into each record's "attributes".
LAMBDA_RECORD_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "AWSTraceHeader",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "DeadLetterQueueSourceArn",
)
Handler = Callable[[dict[str, Any], Any], Any]
log = logging.getLogger("local_stack.poller")


# --- the Lambda side --------------------------------------------------------------------------------------


class FakeLambdaContext:
    """The parts of ``LambdaContext`` the function and Powertools use; the clock starts at construction."""

    def __init__(
        self,
        function_name: str = "hgi-local-IngestFunction",
        timeout_s: float = 60.0,
        memory_limit_in_mb: int = 512,
        region: str = "eu-west-2",
        account_id: str = "123456789012",
    ) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_limit_in_mb
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        self.timeout_s = timeout_s
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@contextmanager
def apply_env(env: Mapping[str, str], unset: tuple[str, ...] = ("AWS_PROFILE",)) -> Iterator[None]:
    """Set ``env`` (empty values unset the variable) and remove ``unset`` in ``os.environ``; restore on exit."""
    names = set(env) | set(unset)
    saved = {name: os.environ.get(name) for name in names}
    try:
        for name in unset:
            os.environ.pop(name, None)
        for name, value in env.items():
            if value == "":
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _forget_built_state()
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
        _forget_built_state()


def _forget_built_state() -> None:
    """Drop what was built from the previous environment: the runtime and Powertools' boto3 providers."""
    runtime = sys.modules.get("hdr_ingest.entry.runtime")
    if runtime is not None:
        runtime.reset_runtime()
    parameters = sys.modules.get("aws_lambda_powertools.utilities.parameters")
    if parameters is not None:
        parameters.clear_caches()  # also forgets the Secrets Manager client, which holds its endpoint


def load_handler() -> Handler:
    """``functions/ingest/app.py: lambda_handler``, imported as Lambda does (``app`` on the path).

    Import it after the function's environment is in place: Powertools reads its settings at import."""
    for directory in (SHARED_DIR, FUNCTION_DIR):
        if str(directory) not in sys.path:
            sys.path.insert(0, str(directory))
    module = importlib.import_module("app")
    handler: Handler = module.lambda_handler
    return handler


# --- events -----------------------------------------------------------------------------------------------


def _lambda_message_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """SQS API shape (``StringValue``, bytes ``BinaryValue``) -> Lambda event shape (camelCase, base64)."""
    out: dict[str, Any] = {}
    for name, value in attributes.items():
        binary = value.get("BinaryValue")
        out[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": base64.b64encode(binary).decode("ascii") if isinstance(binary, bytes) else binary,
            "stringListValues": list(value.get("StringListValues", [])),
            "binaryListValues": [
                base64.b64encode(b).decode("ascii") if isinstance(b, bytes) else b
                for b in value.get("BinaryListValues", [])
            ],
            "dataType": value.get("DataType", "String"),
        }
    return out


def build_sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS event source passes to the function for ``messages`` (ReceiveMessage output)."""
    records = []
    for message in messages:
        attributes = message.get("Attributes", {})
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {k: attributes[k] for k in LAMBDA_RECORD_ATTRIBUTES if k in attributes},
                "messageAttributes": _lambda_message_attributes(message.get("MessageAttributes", {})),
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


# --- the poller -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchReport:
    """One invocation: which messages it carried, which were reported failed, and whether it raised."""

    message_ids: tuple[str, ...]
    failed_ids: tuple[str, ...]
    deleted: int
    error: str | None = None
    duration_s: float = 0.0
    finished_at: float = field(default_factory=time.time)

    @property
    def size(self) -> int:
        return len(self.message_ids)


class SqsPoller:
    """Polls ``queue_url`` and invokes ``handler`` (default: the real function) one batch at a time."""

    def __init__(  # noqa: PLR0913 - Lambda's event source settings, each with a default
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        region: str,
        handler: Handler | None = None,
        env: Mapping[str, str] | None = None,
        batch_size: int = 10,
        wait_time_s: int = 2,
        batching_window_s: float = 0.0,
        timeout_s: float = 60.0,
        function_name: str = "hgi-local-IngestFunction",
        history: int = 200,
    ) -> None:
        if not 1 <= batch_size <= 10:
            raise ValueError("batch_size must be between 1 and 10 (the SQS receive limit)")
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.region = region
        self.env = dict(env or {})
        self.batch_size = batch_size
        self.wait_time_s = wait_time_s
        self.batching_window_s = batching_window_s
        self.timeout_s = timeout_s
        self.function_name = function_name
        self._handler = handler
        self._stop = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self._active = threading.Lock()
        self._thread: threading.Thread | None = None
        self._env_context: Any = None
        self._lock = threading.Lock()
        self.reports: deque[BatchReport] = deque(maxlen=history)
        self.batches = 0
        self.messages = 0
        self.failures = 0  # messages reported in batchItemFailures (or in a batch whose handler raised)
        self.errors = 0  # invocations that raised
        self.deleted = 0

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> SqsPoller:
        """Put the function's environment in place, import the handler and start polling in a thread."""
        if self._thread is not None:
            return self
        if self.env:
            self._env_context = apply_env(self.env)
            self._env_context.__enter__()
        if self._handler is None:
            self._handler = load_handler()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sqs-poller", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the current batch, then restore the environment that ``start`` replaced."""
        self._stop.set()
        self._resume.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._env_context is not None:
            context, self._env_context = self._env_context, None
            context.__exit__(None, None, None)

    def pause(self) -> None:
        """Stop taking new batches; returns once the batch in progress (if any) is finished."""
        self._resume.clear()
        with self._active:
            pass

    def resume(self) -> None:
        self._resume.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def counters(self) -> dict[str, int]:
        with self._lock:
            return {
                "batches": self.batches,
                "messages": self.messages,
                "failures": self.failures,
                "errors": self.errors,
                "deleted": self.deleted,
            }

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            if not self._resume.wait(0.2):
                continue
            with self._active:
                if self._stop.is_set() or not self._resume.is_set():
                    continue
                try:
                    self.poll_once()
                    backoff = 0.5
                except (BotoCoreError, ClientError) as exc:
                    if self._stop.is_set():
                        break
                    log.warning("polling %s failed (%s); retrying in %.1f s", self.queue_url, exc, backoff)
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, 10.0)

    # -- one batch ---------------------------------------------------------------------------------------
    def receive(self) -> list[dict[str, Any]]:
        """Up to ``batch_size`` messages: one long poll, then more until the batching window closes."""
        messages = self._receive(self.batch_size, self.wait_time_s)
        if messages and self.batching_window_s > 0:
            deadline = time.monotonic() + self.batching_window_s
            while len(messages) < self.batch_size and not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                messages += self._receive(self.batch_size - len(messages), min(int(left + 0.999), 20))
        return messages

    def _receive(self, count: int, wait_s: int) -> list[dict[str, Any]]:
        answer = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=wait_s,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = answer.get("Messages", [])
        return messages

    def poll_once(self) -> BatchReport | None:
        """Receive one batch and invoke the handler on it; ``None`` when the queue had nothing."""
        messages = self.receive()
        if not messages:
            return None
        return self.invoke(messages)

    def invoke(self, messages: list[dict[str, Any]]) -> BatchReport:
        if self._handler is None:
            self._handler = load_handler()
        event = build_sqs_event(messages, self.queue_arn, self.region)
        context = FakeLambdaContext(self.function_name, self.timeout_s, region=self.region)
        ids = tuple(m["MessageId"] for m in messages)
        started = time.monotonic()
        error: str | None = None
        failed: tuple[str, ...]
        try:
            response = self._handler(event, context)
            failed = self._failed_ids(response, ids)
        except Exception as exc:  # Lambda records a failed invocation; the batch is delivered again
            log.exception("the function raised; the whole batch will be delivered again")
            error = f"{type(exc).__name__}: {exc}"
            failed = ids
        keep = set(failed)
        done = [m for m in messages if m["MessageId"] not in keep]
        deleted = self._delete(done)
        report = BatchReport(ids, failed, deleted, error, round(time.monotonic() - started, 3))
        with self._lock:
            self.batches += 1
            self.messages += len(ids)
            self.failures += len(failed)
            self.errors += error is not None
            self.deleted += deleted
            self.reports.append(report)
        return report

    @staticmethod
    def _failed_ids(response: Any, ids: tuple[str, ...]) -> tuple[str, ...]:
        """The ``batchItemFailures`` identifiers; an entry naming no message of the batch fails the batch."""
        if not isinstance(response, dict):
            return ()
        failures = response.get("batchItemFailures") or []
        if not isinstance(failures, list):
            return ids
        failed: list[str] = []
        for item in failures:
            identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
            if not isinstance(identifier, str) or identifier not in ids:
                log.error("batchItemFailures names %r, which is not in the batch: whole batch failed", identifier)
                return ids
            failed.append(identifier)
        return tuple(dict.fromkeys(failed))

    def _delete(self, messages: list[dict[str, Any]]) -> int:
        deleted = 0
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            answer = self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
            deleted += len(answer.get("Successful", []))
            for failure in answer.get("Failed", []):
                log.warning("could not delete a processed message: %s", failure.get("Message"))
        return deleted
