"""`hdr-ingest redrive`: move dead letters back to the ingest queue."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import Any

from hdr_ingest_cli.common import Print, UsageError
from hdr_ingest_cli.stack import Aws, aws_for, find_state, required
from local_stack.terminal import shorten

__all__ = ["RedriveResult", "cmd_redrive", "redrive"]

MOVE_TASK_WAIT_S = 900


@dataclass(frozen=True)
class RedriveResult:
    moved: int
    failed: int
    method: str  # "move-task" or "copy"


def _queue_arn(sqs: Any, url: str) -> str:
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return arn


def _visible_count(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"].get("ApproximateNumberOfMessages", 0))


def _move_task(aws: Aws, dlq_url: str, queue_url: str, wait: bool, say: Print) -> RedriveResult | None:
    """SQS's own DLQ redrive (``StartMessageMoveTask``); ``None`` when the endpoint does not offer it."""
    from botocore.exceptions import BotoCoreError, ClientError

    sqs = aws.client("sqs", attempts=1)
    try:
        source, destination = _queue_arn(sqs, dlq_url), _queue_arn(sqs, queue_url)
        handle = sqs.start_message_move_task(SourceArn=source, DestinationArn=destination)["TaskHandle"]
    except (ClientError, BotoCoreError, NotImplementedError, AttributeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        say(
            "Moving the messages one by one (receive, send, then delete): this endpoint does not offer SQS's "
            f"own redrive, StartMessageMoveTask ({shorten(reason, 80)})."
        )
        return None
    say(f"started message move task {handle}")
    if not wait:
        return RedriveResult(0, 0, "move-task")
    deadline = time.monotonic() + MOVE_TASK_WAIT_S
    while time.monotonic() < deadline:
        tasks = sqs.list_message_move_tasks(SourceArn=source, MaxResults=1).get("Results", [])
        task = tasks[0] if tasks else {}
        status = task.get("Status", "RUNNING")
        if status in ("COMPLETED", "FAILED", "CANCELLED"):
            moved = int(task.get("ApproximateNumberOfMessagesMoved", 0))
            if status != "COMPLETED":
                say(f"the move task ended {status}: {task.get('FailureReason', 'no reason given')}")
                left = int(task.get("ApproximateNumberOfMessagesToMove", moved)) - moved
                return RedriveResult(moved, max(left, 1), "move-task")
            return RedriveResult(moved, 0, "move-task")
        time.sleep(2)
    say(f"the move task is still running after {MOVE_TASK_WAIT_S} s; see `aws sqs list-message-move-tasks`")
    return RedriveResult(0, 0, "move-task")


def _attributes_to_send(attributes: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in attributes.items():
        kept = {"DataType": value["DataType"]}
        for kind in ("StringValue", "BinaryValue"):
            if value.get(kind) is not None:
                kept[kind] = value[kind]
        out[name] = kept
    return out


def _copy(sqs: Any, dlq_url: str, queue_url: str, limit: int) -> RedriveResult:
    """Receive -> send -> delete, 10 at a time; a message is deleted only once its copy was sent.

    At most ``limit`` messages (those visible when the redrive started), so messages that fail again and
    come back to the DLQ while it runs are not moved round in circles."""
    from botocore.exceptions import BotoCoreError, ClientError

    fifo = queue_url.endswith(".fifo")
    moved = failed = 0
    while moved + failed < limit:
        messages = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=min(10, limit - moved - failed),
            WaitTimeSeconds=1,
            VisibilityTimeout=60,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            break
        entries = []
        for index, message in enumerate(messages):
            entry: dict[str, Any] = {"Id": str(index), "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                entry["MessageAttributes"] = _attributes_to_send(message["MessageAttributes"])
            if fifo:
                entry["MessageGroupId"] = message.get("Attributes", {}).get("MessageGroupId", "redrive")
                entry["MessageDeduplicationId"] = message["MessageId"]
            entries.append(entry)
        try:
            answer = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        except (ClientError, BotoCoreError):
            _release(sqs, dlq_url, messages)
            raise
        sent_ids = {item["Id"] for item in answer.get("Successful", [])}
        sent = [m for i, m in enumerate(messages) if str(i) in sent_ids]
        unsent = [m for i, m in enumerate(messages) if str(i) not in sent_ids]
        if sent:
            sqs.delete_message_batch(
                QueueUrl=dlq_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(sent)],
            )
        moved += len(sent)
        if unsent:
            failed += len(unsent)
            _release(sqs, dlq_url, unsent)
            break
    return RedriveResult(moved, failed, "copy")


def _release(sqs: Any, url: str, messages: list[dict[str, Any]]) -> None:
    """Make messages that were not moved visible again at once (they stay in the DLQ)."""
    if messages:
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(messages)
            ],
        )


def redrive(
    aws: Aws,
    dlq_url: str,
    queue_url: str,
    wait: bool = True,
    limit: int | None = None,
    say: Print = print,
    move_task: bool = True,
) -> RedriveResult:
    """Move the dead-letter queue's messages back to the ingest queue (move task, else receive/send/delete;
    ``move_task=False`` goes straight to the latter, for an endpoint known to lack the move task)."""
    if dlq_url.rstrip("/") == queue_url.rstrip("/"):
        raise UsageError("--dlq-url and --queue-url name the same queue")
    if limit is None and move_task:
        result = _move_task(aws, dlq_url, queue_url, wait, say)
        if result is not None:
            return result
    sqs = aws.client("sqs")
    available = _visible_count(sqs, dlq_url)
    return _copy(sqs, dlq_url, queue_url, available if limit is None else min(limit, available))


def cmd_redrive(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    state = find_state(args)
    dlq_url = required(args.dlq_url, state, "dlq_url", "--dlq-url")
    queue_url = required(args.queue_url, state, "queue_url", "--queue-url")
    aws = aws_for(args, state)
    # The local stack's moto has no StartMessageMoveTask: asking would only log a 500 in the stack's terminal.
    local = state is not None and aws.endpoint_url == state.get("endpoint_url")
    try:
        result = redrive(aws, dlq_url, queue_url, wait=not args.no_wait, limit=args.max_messages, move_task=not local)
    except (ClientError, BotoCoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if result.method == "move-task" and args.no_wait:
        print("the move task runs in the background; see it with `aws sqs list-message-move-tasks`")
        return 0
    print(f"moved {result.moved} message(s) from {dlq_url} to {queue_url}")
    if result.failed:
        print(f"{result.failed} message(s) could not be moved and are still in the dead-letter queue", file=sys.stderr)
        return 1
    return 0
