"""Issue 26.12: a malformed S3 record is the function's own INVALID dead letter; when it still names the object
(only ``size`` is wrong), that object's ledger row says what was wrong too. Real handler, moto."""

from __future__ import annotations

import json
from typing import Any

import pytest
from boto3.dynamodb.conditions import Attr

from tests.integration.conftest import BUCKET, Stack

pytestmark = pytest.mark.integration

KEY = "incoming/sized.json"


def mangled(stack: Stack, change: Any) -> dict[str, Any]:
    (message,) = stack.receive()
    body = json.loads(message["Body"])
    change(body["Records"][0])
    return {**message, "Body": json.dumps(body)}


def test_a_record_with_a_bad_size_writes_the_key_s_ledger_row_and_one_dead_letter(stack: Stack) -> None:
    stack.put(KEY, {"anything": 1})
    response = stack.deliver([mangled(stack, lambda r: r["s3"]["object"].update(size="big"))])
    assert response == {"batchItemFailures": []}
    item = stack.ledger(KEY)
    assert item["status"] == "INVALID" and "s3.object.size 'big' is not a byte count" in item["reason"]
    assert item["errors"] == [{"path": "$", "message": "malformed S3 record: s3.object.size 'big' is not a byte count"}]
    assert "lease_owner" not in item  # the row is written, the lease ended
    (letter,) = stack.dead_letters()
    assert letter["status"] == "INVALID" and letter["source"] is None  # the function's own, with the raw record


def test_a_record_without_a_key_writes_no_ledger_row(stack: Stack) -> None:
    stack.put(KEY, {"anything": 1})
    stack.deliver([mangled(stack, lambda r: r["s3"]["object"].pop("key"))])
    assert stack.table.scan(FilterExpression=Attr("source").begins_with(f"s3://{BUCKET}/"))["Items"] == []
    assert [letter["status"] for letter in stack.dead_letters()] == ["INVALID"]
