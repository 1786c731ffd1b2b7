"""AWS failing under the function: DynamoDB throttling and conditional-check failures, the DLQ refusing a message,
S3 answering 5xx. The rule: no record is acknowledged unless its outcome is recorded (ledger, then the DLQ for a
failure). Otherwise it is reported in ``batchItemFailures`` and SQS delivers it again.

Faults are injected on the runtime's own clients (``get_runtime().clients.client("s3")``, ``"dynamodb"``,
``"sqs"``: the ones its adapters call), above botocore's retries: they stand for an error that outlasted them.
The S3 events carry a ``sequencer``, as real S3 sends it (moto leaves it out): a redelivery is then the same event
again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from hdr_ingest.entry.runtime import get_runtime
from tests.conftest import example
from tests.integration.conftest import BUCKET, MAX_RECEIVE, Stack

pytestmark = pytest.mark.integration

DOC = example("schemata/HDRUK/4.0.0/docs.example.json")
INVALID = {**DOC, "summary": {k: v for k, v in DOC["summary"].items() if k != "title"}}


def client_error(code: str, operation: str, status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
    )


class Fault:
    """Make ``target.method`` raise ``error`` on the calls that ``when`` selects (all by default), ``times`` times."""

    def __init__(
        self,
        monkeypatch: pytest.MonkeyPatch,
        target: Any,
        method: str,
        error: Exception,
        when: Callable[[dict[str, Any]], bool] = lambda kwargs: True,
        times: int = 1_000,
    ) -> None:
        self.real = getattr(target, method)
        self.error, self.when, self.left, self.hits = error, when, times, 0
        monkeypatch.setattr(target, method, self)

    def __call__(self, **kwargs: Any) -> Any:
        if self.left > 0 and self.when(kwargs):
            self.left -= 1
            self.hits += 1
            raise self.error
        return self.real(**kwargs)

    def heal(self) -> None:
        self.left = 0


def about(key: str) -> Callable[[dict[str, Any]], bool]:
    """Selects the calls about ``key``: S3 (Key), DynamoDB (Key/Item source) and SQS (the message body)."""
    source = f"s3://{BUCKET}/{key}"

    def matches(kwargs: dict[str, Any]) -> bool:
        named = kwargs.get("Key")
        typed = {"S": source}  # the ledger uses DynamoDB's low-level client: attribute values are typed
        return (
            named == key
            or (isinstance(named, dict) and named.get("source") in (source, typed))
            or kwargs.get("Item", {}).get("source") in (source, typed)
            or f'"source": "{source}"' in str(kwargs.get("MessageBody", ""))
        )

    return matches


def sequenced(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give each S3 record the sequencer real S3 sends."""
    for number, message in enumerate(messages, start=1):
        body = json.loads(message["Body"])
        for record in body.get("Records", []):
            record["s3"]["object"]["sequencer"] = f"0062E5A1B2C3D4{number:04X}"
        message["Body"] = json.dumps(body)
    return messages


def drop(stack: Stack, *items: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Upload the documents; their notifications in the order given."""
    for key, document in items:
        stack.put(key, document)
    messages = {json.loads(m["Body"])["Records"][0]["s3"]["object"]["key"]: m for m in stack.receive(len(items))}
    return sequenced([messages[key.replace("/", "%2F")] for key, _ in items])


def failed_ids(response: dict[str, Any]) -> list[str]:
    return [f["itemIdentifier"] for f in response["batchItemFailures"]]


def deliver_failing_the_first(stack: Stack, messages: list[dict[str, Any]], receive_count: int = 1) -> None:
    """Deliver the batch: its first message alone is reported in ``batchItemFailures`` (not acknowledged, so SQS
    delivers it again); the others are acknowledged."""
    assert failed_ids(stack.deliver(messages, receive_count=receive_count)) == [messages[0]["MessageId"]]


def status(stack: Stack, key: str) -> str | None:
    item = stack.table.get_item(Key={"source": f"s3://{BUCKET}/{key}"}).get("Item") or {}
    return item.get("status")


def assert_acknowledged_only_if_recorded(
    stack: Stack, messages: list[dict[str, Any]], response: dict[str, Any]
) -> None:
    letters = {m["source"] for m in stack.dead_letters()}
    for message in messages:
        if message["MessageId"] in failed_ids(response):
            continue
        key = json.loads(message["Body"])["Records"][0]["s3"]["object"]["key"].replace("%2F", "/")
        recorded = status(stack, key)
        assert recorded in {"CREATED", "UPDATED", "UNCHANGED", "INVALID", "REJECTED", "FAILED"}, (key, recorded)
        if recorded in {"INVALID", "REJECTED", "FAILED"}:
            assert f"s3://{BUCKET}/{key}" in letters, f"{key} acknowledged as {recorded} without a dead letter"


# --- DynamoDB ------------------------------------------------------------------------------------------------


def test_ledger_throttled_before_anything_is_done(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    table = _table(stack)
    fault = Fault(
        monkeypatch, table, "update_item", client_error("ProvisionedThroughputExceededException", "UpdateItem")
    )
    messages = drop(stack, ("incoming/throttled.json", DOC))
    deliver_failing_the_first(stack, messages)
    assert fault.hits == 1 and status(stack, "incoming/throttled.json") is None
    assert stack.emulator.requests() == [] and stack.dead_letters() == []

    fault.heal()
    assert stack.deliver(messages, receive_count=2) == {"batchItemFailures": []}
    assert status(stack, "incoming/throttled.json") == "CREATED"


@pytest.mark.parametrize(
    "code", ["ProvisionedThroughputExceededException", "ThrottlingException", "InternalServerError"]
)
def test_ledger_write_failing_after_the_gateway_created_the_dataset(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, code: str
) -> None:
    table = _table(stack)
    fault = Fault(monkeypatch, table, "put_item", client_error(code, "PutItem"))
    messages = drop(stack, ("incoming/published.json", DOC))
    deliver_failing_the_first(stack, messages)  # published, but not recorded: not acknowledged
    assert len(stack.gateway_datasets()) == 1 and status(stack, "incoming/published.json") is None

    fault.heal()
    assert stack.deliver(messages, receive_count=2) == {"batchItemFailures": []}
    item = stack.ledger("incoming/published.json")
    (dataset,) = stack.gateway_datasets()  # found by its datasetid and updated: no duplicate
    assert item["status"] == "UPDATED" and int(item["dataset_id"]) == dataset["id"]
    assert "lease_owner" not in item


def test_two_ledger_requests_per_object(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """One conditional UpdateItem takes the lease and returns the entry; one conditional PutItem records the
    outcome and so ends the lease. No separate read, no separate release."""
    client = _table(stack)
    calls: list[str] = []
    for method in ("get_item", "update_item", "put_item", "delete_item"):
        real = getattr(client, method)

        def counted(*args: Any, _real: Any = real, _name: str = method, **kwargs: Any) -> Any:
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(client, method, counted)
    messages = drop(stack, ("incoming/rounds.json", DOC))
    assert stack.deliver(messages, receive_count=1) == {"batchItemFailures": []}
    assert calls == ["update_item", "put_item"]
    item = stack.ledger("incoming/rounds.json")
    assert item["status"] == "CREATED" and "lease_owner" not in item and "lease_until" not in item

    calls.clear()  # the same event again: the entry read with the lease says these bytes are published
    assert stack.deliver(messages, receive_count=2) == {"batchItemFailures": []}
    assert calls == ["update_item", "put_item"] and stack.ledger("incoming/rounds.json")["status"] == "UNCHANGED"


def test_a_lease_is_first_only_when_the_source_had_no_item_at_all(stack: Stack) -> None:
    """The lease's UpdateItem returns the item as it was (ALL_OLD): none at all is a first lease. A retried
    request that had taken effect, a released lease and a recorded outcome all leave an item (moto, as DynamoDB)."""
    from hdr_ingest.adapters.aws.dynamodb_ledger import DynamoDbLedger
    from hdr_ingest.core.ledger import LedgerEntry
    from hdr_ingest.core.outcome import Status

    ledger, source, now = DynamoDbLedger(stack.table), f"s3://{BUCKET}/incoming/first.json", time.time()
    first = ledger.acquire(source, "a", now + 60, now)
    assert first is not None and first.first and first.previous is None
    again = ledger.acquire(source, "a", now + 60, now)  # the SDK's retry of a request that did take effect
    assert again is not None and not again.first and again.previous is None
    ledger.release(source, "a")
    assert stack.table.get_item(Key={"source": source})["Item"] == {"source": source}  # released: the item stays
    after_release = ledger.acquire(source, "b", now + 60, now)
    assert after_release is not None and not after_release.first
    entry = LedgerEntry(source, Status.RETRYING, "will retry", BUCKET, "incoming/first.json", "hgi-x", "t")
    ledger.record(entry, owner="b")
    recorded = ledger.acquire(source, "c", now + 60, now)
    assert recorded is not None and not recorded.first and recorded.previous == entry


def test_source_leased_by_another_invocation_is_held_off(stack: Stack) -> None:
    """A real conditional-check failure (moto): another invocation holds the source."""
    source = f"s3://{BUCKET}/incoming/leased.json"
    stack.table.put_item(Item={"source": source, "lease_owner": "another", "lease_until": int(time.time()) + 60})
    messages = drop(stack, ("incoming/leased.json", DOC), ("incoming/free.json", DOC))
    deliver_failing_the_first(stack, messages)
    assert status(stack, "incoming/leased.json") is None and status(stack, "incoming/free.json") == "CREATED"

    stack.table.update_item(  # the other invocation ended without releasing (it was killed): the lease runs out
        Key={"source": source}, UpdateExpression="SET lease_until = :t", ExpressionAttributeValues={":t": 1}
    )
    assert stack.deliver(messages[:1], receive_count=2) == {"batchItemFailures": []}
    assert status(stack, "incoming/leased.json") == "CREATED"


def test_lease_lost_while_publishing_is_not_recorded_and_not_acknowledged(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another invocation takes the source over during the Gateway call: the conditional write of our outcome fails
    (LeaseLost) and the record goes back to SQS. The next delivery finds the dataset and updates it."""
    source = f"s3://{BUCKET}/incoming/taken-over.json"
    real = stack.emulator._store_dataset

    def store_and_lose_the_lease(*args: Any, **kwargs: Any) -> Any:
        reply = real(*args, **kwargs)
        stack.table.update_item(
            Key={"source": source},
            UpdateExpression="SET lease_owner = :o, lease_until = :t",
            ExpressionAttributeValues={":o": "thief", ":t": int(time.time()) + 60},
        )
        return reply

    monkeypatch.setattr(stack.emulator, "_store_dataset", store_and_lose_the_lease)
    messages = drop(stack, ("incoming/taken-over.json", DOC))
    deliver_failing_the_first(stack, messages)
    assert status(stack, "incoming/taken-over.json") is None and stack.dead_letters() == []
    assert stack.table.get_item(Key={"source": source})["Item"]["lease_owner"] == "thief"  # not released by us

    monkeypatch.undo()
    stack.table.update_item(Key={"source": source}, UpdateExpression="REMOVE lease_owner, lease_until")
    assert stack.deliver(messages, receive_count=2) == {"batchItemFailures": []}
    assert status(stack, "incoming/taken-over.json") == "UPDATED"
    assert len(stack.gateway_datasets()) == 1


# --- the dead-letter queue -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code", ["KMS.KMSInvalidStateException", "AWS.SimpleQueueService.NonExistentQueue", "ServiceUnavailable"]
)
def test_dead_letter_send_failing_leaves_the_record_unacknowledged(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, code: str
) -> None:
    sqs = _dlq(stack)
    fault = Fault(monkeypatch, sqs, "send_message", client_error(code, "SendMessage", 503))
    messages = drop(stack, ("incoming/invalid.json", INVALID), ("incoming/fine.json", DOC))
    deliver_failing_the_first(stack, messages)  # recorded INVALID, but not dead-lettered: not acked
    assert status(stack, "incoming/invalid.json") == "INVALID" and stack.dead_letters() == []
    assert status(stack, "incoming/fine.json") == "CREATED"

    fault.heal()  # the same event again (same sequencer): processed again, not skipped as already seen
    assert stack.deliver(messages[:1], receive_count=2) == {"batchItemFailures": []}
    (letter,) = stack.dead_letters()
    assert letter["source"] == f"s3://{BUCKET}/incoming/invalid.json" and letter["status"] == "INVALID"


def test_dead_letter_send_failing_on_the_last_delivery_of_a_transient_failure(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs = _dlq(stack)
    fault = Fault(monkeypatch, sqs, "send_message", client_error("ServiceUnavailable", "SendMessage", 503))
    stack.emulator.faults.set_rates(error_rate=1.0)
    messages = drop(stack, ("incoming/down.json", DOC))
    deliver_failing_the_first(stack, messages, receive_count=MAX_RECEIVE)
    assert status(stack, "incoming/down.json") == "FAILED"
    # Not acknowledged: SQS's redrive policy moves the event itself to the DLQ after maxReceiveCount.
    fault.heal()
    assert stack.deliver(messages, receive_count=MAX_RECEIVE) == {"batchItemFailures": []}
    (letter,) = stack.dead_letters()
    assert letter["status"] == "FAILED"


def test_unprocessable_message_is_not_acknowledged_when_the_dlq_refuses_it(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs = _dlq(stack)
    fault = Fault(monkeypatch, sqs, "send_message", client_error("ServiceUnavailable", "SendMessage", 503))
    stack.sqs.send_message(QueueUrl=stack.queue_url, MessageBody="this is not an S3 event")
    messages = stack.receive()
    deliver_failing_the_first(stack, messages)
    fault.heal()
    assert stack.deliver(messages, receive_count=2) == {"batchItemFailures": []}
    (letter,) = stack.dead_letters()
    assert letter["status"] == "INVALID" and letter["event"] == "this is not an S3 event"


# --- S3 ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "fragment"),
    [
        (client_error("InternalError", "GetObject", 500), "(InternalError); will retry"),
        (client_error("SlowDown", "GetObject", 503), "(SlowDown); will retry"),
        (client_error("ServiceUnavailable", "GetObject", 503), "(ServiceUnavailable); will retry"),
        (ReadTimeoutError(endpoint_url="https://s3.eu-west-2.amazonaws.com"), "(ReadTimeoutError); will retry"),
        (EndpointConnectionError(endpoint_url="https://s3.eu-west-2.amazonaws.com"), "(EndpointConnectionError)"),
    ],
    ids=["500 InternalError", "503 SlowDown", "503 ServiceUnavailable", "read timeout", "no connection"],
)
def test_get_object_5xx_is_retried_then_failed_and_dead_lettered(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, error: Exception, fragment: str
) -> None:
    s3 = _s3(stack)
    fault = Fault(monkeypatch, s3, "get_object", error, when=about("incoming/s3-down.json"))
    messages = drop(stack, ("incoming/s3-down.json", DOC), ("incoming/s3-fine.json", DOC))
    deliver_failing_the_first(stack, messages)
    item = stack.ledger("incoming/s3-down.json")
    assert item["status"] == "RETRYING" and fragment in item["reason"] and "could not read" in item["reason"]
    assert status(stack, "incoming/s3-fine.json") == "CREATED"
    assert stack.dead_letters() == []

    assert stack.deliver(messages[:1], receive_count=MAX_RECEIVE) == {"batchItemFailures": []}
    item = stack.ledger("incoming/s3-down.json")
    assert item["status"] == "FAILED" and "Gave up after 3 deliveries" in item["reason"]
    (letter,) = stack.dead_letters()
    assert letter["status"] == "FAILED" and letter["reason"] == item["reason"]

    fault.heal()  # redrive: the dead letter goes back to the queue and is published
    replay = {**messages[0], "Body": json.dumps(letter)}
    assert stack.deliver([replay], receive_count=1) == {"batchItemFailures": []}
    assert status(stack, "incoming/s3-down.json") == "CREATED"
    assert fault.hits == 2


# --- the rule, at every point ----------------------------------------------------------------------------------


def _client(service: str) -> Any:
    """The runtime's client for ``service``: the one its adapters call."""
    clients = get_runtime().clients
    assert clients is not None
    return clients.client(service)


def _table(stack: Stack) -> Any:
    return _client("dynamodb")


def _dlq(stack: Stack) -> Any:
    return _client("sqs")


def _s3(stack: Stack) -> Any:
    return _client("s3")


POINTS: dict[str, tuple[Callable[[Stack], Any], str, str]] = {
    "lease and ledger read": (_table, "update_item", "UpdateItem"),
    "outcome write": (_table, "put_item", "PutItem"),
    "dead letter": (_dlq, "send_message", "SendMessage"),
    "object read": (_s3, "get_object", "GetObject"),
}


@pytest.mark.parametrize(
    ("point", "victim"),
    [(point, DOC) for point in POINTS if point != "dead letter"] + [(point, INVALID) for point in POINTS],
    ids=[f"valid, {point}" for point in POINTS if point != "dead letter"] + [f"invalid, {point}" for point in POINTS],
)
def test_no_outcome_is_acknowledged_unless_recorded(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, point: str, victim: dict[str, Any]
) -> None:
    """A fault on the first record of a batch of three, at each point where the function touches AWS."""
    target, method, operation = POINTS[point]
    fault = Fault(
        monkeypatch, target(stack), method, client_error("InternalError", operation, 500), about("incoming/v.json")
    )
    messages = drop(stack, ("incoming/v.json", victim), ("incoming/n.json", INVALID), ("incoming/m.json", DOC))
    victim_id = messages[0]["MessageId"]
    for attempt in range(1, MAX_RECEIVE + 1):
        response = stack.deliver(messages, receive_count=attempt)
        assert_acknowledged_only_if_recorded(stack, messages, response)
        if attempt == 1:
            assert fault.hits == 1 and failed_ids(response) == [victim_id]  # the neighbours went through
            fault.heal()
        messages = [m for m in messages if m["MessageId"] in failed_ids(response)]
        if not messages:
            break
    assert messages == []
    assert status(stack, "incoming/v.json") in ({"CREATED", "UPDATED"} if victim is DOC else {"INVALID"})
    assert len(stack.gateway_datasets()) == 2 if victim is DOC else 1
