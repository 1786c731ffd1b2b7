"""Fixtures for the integration tests: moto (in-process) for AWS and the Gateway emulator over real HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import boto3
import pytest
from moto import mock_aws

from hdr_ingest.destinations.hdruk.schema_pack import SchemaPack
from hdr_ingest.entry.runtime import reset_runtime
from local_stack.aep_emulator import AepEmulator
from local_stack.aws import patch_moto
from local_stack.gateway_emulator import App, GatewayEmulator
from local_stack.qrvey_emulator import QrveyEmulator
from local_stack.unis_emulator import UnisEmulator

# moto as the local stack runs it: DynamoDB requests atomic, as in AWS (the ledger's lease relies on it), before
# any test's moto handles a request.
patch_moto()

BUCKET = "hgi-test-metadata"
SECRET = "hgi-test/gateway-app"
MAX_RECEIVE = 3
APP = App("app-1234", "client-5678")

RouteBeside = Callable[[dict[str, Any]], None]


@dataclass
class Stack:
    emulator: GatewayEmulator
    s3: Any
    sqs: Any
    secrets: Any
    table: Any
    queue_url: str
    dlq_url: str
    env: dict[str, str] = field(default_factory=dict)

    # -- driving -----------------------------------------------------------------------------------------
    def put(self, key: str, body: bytes | dict[str, Any] | list[Any]) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=data)

    def receive(self, expected: int = 1) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + 5
        while len(messages) < expected and time.monotonic() < deadline:
            got = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=0
            ).get("Messages", [])
            messages.extend(m for m in got if "s3:TestEvent" not in m["Body"])
            for m in got:
                if "s3:TestEvent" in m["Body"]:
                    self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
        assert len(messages) == expected, f"expected {expected} notifications, got {len(messages)}"
        return messages

    def sqs_event(self, messages: list[dict[str, Any]], receive_count: int | None = None) -> dict[str, Any]:
        records = []
        for m in messages:
            attributes = dict(m["Attributes"])
            if receive_count is not None:
                attributes["ApproximateReceiveCount"] = str(receive_count)
            records.append(
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": attributes,
                    "messageAttributes": {},
                    "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:eu-west-2:123456789012:hgi-test-ingest",
                    "awsRegion": "eu-west-2",
                }
            )
        return {"Records": records}

    def invoke(self, event_: dict[str, Any]) -> dict[str, Any]:
        from app import lambda_handler

        return dict(lambda_handler(event_, Context()))

    def deliver(self, messages: list[dict[str, Any]], receive_count: int | None = None) -> dict[str, Any]:
        """Invoke with an SQS batch, then delete what succeeded, as Lambda's event source mapping does."""
        response = self.invoke(self.sqs_event(messages, receive_count))
        failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        for m in messages:
            if m["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
        return response

    def drop_and_invoke(
        self, key: str, body: bytes | dict[str, Any] | list[Any], receive_count: int | None = None
    ) -> Any:
        self.put(key, body)
        return self.deliver(self.receive(), receive_count)

    def delete_and_invoke(self, key: str) -> Any:
        """Delete the object and deliver its notification (an ``ObjectRemoved`` event)."""
        self.s3.delete_object(Bucket=BUCKET, Key=key)
        return self.deliver(self.receive())

    def lose_outcome(self, key: str) -> None:
        """The ledger as a crash between a create and the outcome's write leaves it: the item the lease wrote, with
        no outcome and its lease long expired. (Deleting the item would be an emptied ledger instead, which takes
        ``hdr-ingest rebuild-ledger`` before the next drop: README "Crash safety".)"""
        self.table.put_item(Item={"source": f"s3://{BUCKET}/{key}", "lease_owner": "crashed", "lease_until": 0})

    # -- reading -----------------------------------------------------------------------------------------
    def ledger(self, key: str) -> dict[str, Any]:
        item = self.table.get_item(Key={"source": f"s3://{BUCKET}/{key}"}).get("Item")
        assert item, f"no ledger item for {key}"
        return dict(item)

    def dead_letters(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.dlq_url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return out
            for m in got:
                out.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=self.dlq_url, ReceiptHandle=m["ReceiptHandle"])

    def gateway_datasets(self) -> list[dict[str, Any]]:
        return self.emulator.datasets()

    def set_secret(self, value: Any) -> None:
        self.secrets.put_secret_value(SecretId=SECRET, SecretString=json.dumps(value))


class Context:
    function_name = "hgi-test-IngestFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-2:123456789012:function:hgi-test-IngestFunction"
    aws_request_id = "req-1"
    log_group_name = "/aws/lambda/hgi-test"
    log_stream_name = "stream"

    def __init__(self, seconds: float = 60) -> None:
        self._deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.monotonic()) * 1000)


class Served(Protocol):
    def start(self) -> object: ...
    def stop(self) -> None: ...
    def reset(self) -> None: ...


E = TypeVar("E", bound=Served)


class Emulators(Generic[E]):
    """The emulators of one kind a test module runs: ``emulators(**options)`` is one built with these options (the
    emulator's own keyword arguments), started on the first call that asks for them and reset on every call;
    all are stopped when the module ends."""

    def __init__(self, build: Callable[..., E]) -> None:
        self.build = build
        self.running: list[tuple[dict[str, Any], E]] = []

    def __call__(self, **options: Any) -> E:
        for given, emulator in self.running:
            if given == options:
                emulator.reset()
                return emulator
        emulator = self.build(**options)
        emulator.start()
        self.running.append((options, emulator))
        return emulator

    def stop(self) -> None:
        for _, emulator in self.running:
            emulator.stop()


@pytest.fixture(scope="module")
def qrvey_emulators() -> Iterator[Emulators[QrveyEmulator]]:
    """Qrvey emulators over real HTTP for one test module: ``qrvey_emulators(api_keys=[KEY])``, reset."""
    emulators = Emulators(QrveyEmulator)
    yield emulators
    emulators.stop()


@pytest.fixture(scope="module")
def aep_emulators() -> Iterator[Emulators[AepEmulator]]:
    """AEP emulators over real HTTP for one test module: ``aep_emulators(clients=[CLIENT], schemas=...)``, reset."""
    emulators = Emulators(AepEmulator)
    yield emulators
    emulators.stop()


@pytest.fixture(scope="module")
def unis_server() -> Iterator[UnisEmulator]:
    """A UNIS emulator over real HTTP for one test module (its tests reset it)."""
    with UnisEmulator() as running:
        yield running


@pytest.fixture(scope="module")
def emulator(pack: SchemaPack) -> Iterator[GatewayEmulator]:
    with GatewayEmulator(apps=[APP], validator=pack) as running:
        yield running


@pytest.fixture
def stack(emulator: GatewayEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    emulator.reset()
    emulator.set_apps([APP], replace=True)
    with mock_aws():
        region = "eu-west-2"
        s3 = boto3.client("s3", region_name=region)
        sqs = boto3.client("sqs", region_name=region)
        secrets = boto3.client("secretsmanager", region_name=region)
        dynamodb = boto3.resource("dynamodb", region_name=region)
        dlq_url = sqs.create_queue(QueueName="hgi-test-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queue_url = sqs.create_queue(
            QueueName="hgi-test-ingest",
            Attributes={
                "VisibilityTimeout": "0",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE)}),
            },
        )["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": region})
        s3.put_bucket_notification_configuration(
            Bucket=BUCKET,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": queue_arn,
                        "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
                        "Filter": {
                            "Key": {
                                "FilterRules": [
                                    {"Name": "prefix", "Value": "incoming/"},
                                    {"Name": "suffix", "Value": ".json"},
                                ]
                            }
                        },
                    }
                ]
            },
        )
        table = dynamodb.create_table(
            TableName="hgi-test-ledger",
            KeySchema=[{"AttributeName": "source", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "source", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        secrets.create_secret(Name=SECRET, SecretString=json.dumps({"app_id": APP.app_id, "client_id": APP.client_id}))
        env = {
            "GATEWAY_URL": emulator.base_url,
            "GATEWAY_SECRET_ID": SECRET,
            "LEDGER_TABLE": "hgi-test-ledger",
            "DLQ_URL": dlq_url,
            "MAX_RECEIVE_COUNT": str(MAX_RECEIVE),
            "DESTINATION_READ_TIMEOUT": "2",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield Stack(emulator, s3, sqs, secrets, table, queue_url, dlq_url, env)


@pytest.fixture
def route_beside_gateway(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[RouteBeside]:
    """``route_beside_gateway(route)``: DESTINATIONS routes ``incoming/`` to the stack's Gateway emulator and
    ``route`` (a longer prefix) to its own destination, and the runtime is reset so that the next invocation builds
    it from these routes; it is reset again after the test."""

    def use(route: dict[str, Any]) -> None:
        gateway = {"prefix": "incoming/", "kind": "hdruk", "url": stack.emulator.base_url, "secret": SECRET}
        monkeypatch.setenv("DESTINATIONS", json.dumps([gateway, route]))
        reset_runtime()

    yield use
    reset_runtime()


@pytest.fixture
def archive_on_delete(monkeypatch: pytest.MonkeyPatch) -> None:
    """ARCHIVE_ON_DELETE on: deleting a file archives what it published. The runtime is reset to read it."""
    monkeypatch.setenv("ARCHIVE_ON_DELETE", "true")
    reset_runtime()
