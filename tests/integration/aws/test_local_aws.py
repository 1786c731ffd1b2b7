"""The local stack's fixes to moto: its server overhead goes without changing moto's behaviour, and DynamoDB's
conditional writes are atomic, as AWS makes them."""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.utils import unix_time
from moto.sqs.models import SQSBackend, sqs_backends

from hdr_ingest.adapters.aws.dynamodb_ledger import DynamoDbLedger
from local_stack.aws import (
    NOTIFIED_EVENTS,
    AwsOptions,
    LocalAws,
    MotoServer,
    _cache_moto_module_list,
    _cheap_sqs_retention_check,
    provision,
)

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


# --- DynamoDB conditional writes are atomic, as in AWS ------------------------------------------------------

RACERS = 12  # concurrent writers per round
ROUNDS = 8  # items raced for, one after another


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


def fresh(server: MotoServer) -> str:
    """The server's URL, once moto has forgotten every resource (another test's included)."""
    reset = urllib.request.Request(f"{server.url}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset, timeout=10).close()
    return server.url


@pytest.fixture(params=["moto server", "mock_aws"])
def dynamodb_clients(request: pytest.FixtureRequest) -> Iterator[list[Any]]:
    """Tables ``race`` (key ``k``) and ``ledger`` (key ``source``, as the ledger's) and one DynamoDB client per
    racer, on the local stack's moto server or on moto in this process (as the integration tests use it)."""
    with contextlib.ExitStack() as stack:
        endpoint: dict[str, str] = {}
        if request.param == "moto server":
            endpoint["endpoint_url"] = fresh(request.getfixturevalue("moto_server"))
        else:
            stack.enter_context(mock_aws())
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
        clients = [session.client("dynamodb", region_name="eu-west-2", **endpoint) for _ in range(RACERS)]
        for table, key in (("race", "k"), ("ledger", "source")):
            clients[0].create_table(
                TableName=table,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            )
        # Threads switch every microsecond instead of every 5 ms: without the lock, two writers then pass their
        # condition together in most runs, not only on a loaded machine.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)
        stack.callback(sys.setswitchinterval, interval)
        yield clients


def race(attempt: Callable[[int], bool]) -> list[int]:
    """Run ``attempt(i)`` in RACERS threads released together; the racers for which it returned True."""
    start = threading.Barrier(RACERS)
    winners: list[int] = []
    errors: list[BaseException] = []

    def run(i: int) -> None:
        start.wait()
        try:
            if attempt(i):
                winners.append(i)
        except BaseException as exc:  # reported below, with the racer's number
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return winners


def conditional(write: Callable[[], Any]) -> bool:
    try:
        write()
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "ConditionalCheckFailedException", exc
        return False
    return True


def test_concurrent_conditional_updates_have_one_winner(dynamodb_clients: list[Any]) -> None:
    for n in range(ROUNDS):
        key = {"k": {"S": f"update-{n}"}}

        def take(i: int, key: dict[str, Any] = key) -> bool:
            return conditional(
                lambda: dynamodb_clients[i].update_item(
                    TableName="race",
                    Key=key,
                    UpdateExpression="SET owner_id = :me",
                    ConditionExpression="attribute_not_exists(owner_id)",
                    ExpressionAttributeValues={":me": {"S": str(i)}},
                )
            )

        (winner,) = race(take)
        item = dynamodb_clients[0].get_item(TableName="race", Key=key, ConsistentRead=True)["Item"]
        assert item["owner_id"] == {"S": str(winner)}


def test_concurrent_conditional_puts_have_one_winner(dynamodb_clients: list[Any]) -> None:
    for n in range(ROUNDS):
        key = f"put-{n}"

        def put(i: int, key: str = key) -> bool:
            return conditional(
                lambda: dynamodb_clients[i].put_item(
                    TableName="race",
                    Item={"k": {"S": key}, "owner_id": {"S": str(i)}},
                    ConditionExpression="attribute_not_exists(owner_id)",
                )
            )

        (winner,) = race(put)
        item = dynamodb_clients[0].get_item(TableName="race", Key={"k": {"S": key}}, ConsistentRead=True)["Item"]
        assert item["owner_id"] == {"S": str(winner)}


def test_concurrent_ledger_leases_have_one_holder(dynamodb_clients: list[Any]) -> None:
    ledgers = [DynamoDbLedger("ledger", client) for client in dynamodb_clients]
    now = time.time()
    for n in range(ROUNDS):
        source = f"s3://bucket/incoming/{n}.json"

        def acquire(i: int, source: str = source) -> bool:
            return ledgers[i].acquire(source, f"owner-{i}", now + 60, now) is not None

        (holder,) = race(acquire)
        entry = dynamodb_clients[0].get_item(TableName="ledger", Key={"source": {"S": source}}, ConsistentRead=True)
        assert entry["Item"]["lease_owner"] == {"S": f"owner-{holder}"}


# --- the bucket notifies the queue of every key -------------------------------------------------------------


def notified(aws: LocalAws, expected: int) -> list[tuple[str, str]]:
    """(event name, key) of the S3 notifications on the ingest queue, once ``expected`` of them are there."""
    sqs = aws.client("sqs")
    events: list[tuple[str, str]] = []
    deadline = time.monotonic() + 30
    while len(events) < expected and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=aws.queue_url, MaxNumberOfMessages=10).get("Messages", []):
            sqs.delete_message(QueueUrl=aws.queue_url, ReceiptHandle=message["ReceiptHandle"])
            for record in json.loads(message["Body"]).get("Records", []):  # (not the s3:TestEvent)
                events.append((record["eventName"], unquote_plus(record["s3"]["object"]["key"])))
    return sorted(events)


def test_every_object_created_or_removed_reaches_the_queue(moto_server: MotoServer) -> None:
    aws = provision(fresh(moto_server), AwsOptions(), app_id="app", client_id="client")
    s3 = aws.client("s3")
    (config,) = s3.get_bucket_notification_configuration(Bucket=aws.bucket)["QueueConfigurations"]
    assert config["QueueArn"] == aws.queue_arn and "Filter" not in config
    assert sorted(config["Events"]) == sorted(NOTIFIED_EVENTS)

    keys = ["incoming/UPPER.JSON", "uploads/elsewhere.json", "incoming/notes.txt", "top level.json"]
    for key in keys:
        s3.put_object(Bucket=aws.bucket, Key=key, Body=b"{}")
    s3.delete_object(Bucket=aws.bucket, Key="incoming/notes.txt")
    events = notified(aws, len(keys) + 1)
    assert events == sorted(
        [("ObjectCreated:Put", key) for key in keys] + [("ObjectRemoved:DeleteMarkerCreated", "incoming/notes.txt")]
    )


def test_only_the_bucket_may_send_to_the_ingest_queue(moto_server: MotoServer) -> None:
    aws = provision(fresh(moto_server), AwsOptions(), app_id="app", client_id="client")
    attributes = aws.client("sqs").get_queue_attributes(QueueUrl=aws.queue_url, AttributeNames=["Policy"])
    (statement,) = json.loads(attributes["Attributes"]["Policy"])["Statement"]
    assert statement["Effect"] == "Allow" and statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage" and statement["Resource"] == aws.queue_arn
    assert statement["Condition"] == {
        "ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{aws.bucket}"},
        "StringEquals": {"aws:SourceAccount": aws.account_id},
    }
