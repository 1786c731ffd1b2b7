"""The local stack's fixes to moto's server overhead keep moto's behaviour."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.utils import unix_time
from moto.sqs.models import SQSBackend, sqs_backends

from local_stack.aws import _cache_moto_module_list, _cheap_sqs_retention_check

pytestmark = pytest.mark.integration


def test_sqs_retention_check_gives_moto_s_answer() -> None:
    _cheap_sqs_retention_check()  # (another test may have started the local moto server, which makes it too)
    assert getattr(SQSBackend.is_message_valid_based_on_retention_period, "hgi_cheap", False)

    def original(backend: SQSBackend, queue_name: str, message: Any) -> bool:
        """moto's own check: the retention period read through get_queue_attributes."""
        period = backend.get_queue_attributes(queue_name, ["MessageRetentionPeriod"])["MessageRetentionPeriod"]
        return bool(period + message.sent_timestamp / 1000 > unix_time())

    with mock_aws():
        sqs = boto3.client("sqs", region_name="eu-west-2")
        url = sqs.create_queue(QueueName="retention", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="fresh")
        backend = sqs_backends[DEFAULT_ACCOUNT_ID]["eu-west-2"]
        (message,) = backend.get_queue("retention")._messages
        checked = backend.is_message_valid_based_on_retention_period("retention", message)
        assert checked is original(backend, "retention", message) is True
        message.sent_timestamp -= 61_000  # older than the retention period
        checked = backend.is_message_valid_based_on_retention_period("retention", message)
        assert checked is original(backend, "retention", message) is False
        assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []  # an expired message is not received


def test_module_list_is_computed_once_with_the_same_modules() -> None:
    from moto import backends

    listed = list(backends.list_of_moto_modules())
    _cache_moto_module_list()
    assert list(backends.list_of_moto_modules()) == listed and "sqs" in listed
