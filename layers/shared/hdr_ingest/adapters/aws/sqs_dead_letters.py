"""SQS adapter for the dead-letter queue: failures as messages a person or a tool can act on."""

from __future__ import annotations

import json
from typing import Any

from hdr_ingest.adapters.aws.clients import client_source

MAX_BODY_BYTES = 250_000  # SQS accepts 256 KiB; keep headroom for attributes


class SqsDeadLetters:
    def __init__(self, sqs_client: Any, queue_url: str) -> None:
        """``sqs_client``: a boto3 SQS client, or a function returning one, called when the first message is sent
        (most invocations send none)."""
        self._sqs = client_source(sqs_client)
        self.queue_url = queue_url

    @property
    def sqs(self) -> Any:
        return self._sqs()

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message, ensure_ascii=False, default=str)
        if len(body.encode("utf-8")) > MAX_BODY_BYTES:
            # Keep the replayable part (the event) and the reason; shed the error list.
            message = {**message, "errors": message.get("errors", [])[:20], "errors_truncated": True}
            body = json.dumps(message, ensure_ascii=False, default=str)
        self.sqs.send_message(
            QueueUrl=self.queue_url,
            MessageBody=body,
            MessageAttributes={
                "status": {"DataType": "String", "StringValue": str(message.get("status"))},
                "source": {"DataType": "String", "StringValue": str(message.get("source"))[:256]},
            },
        )
