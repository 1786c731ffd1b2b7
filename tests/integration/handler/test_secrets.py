"""The Gateway app credentials in Secrets Manager: missing, malformed, incomplete, rotated, throttled.

Each problem must leave an operator message in the ledger (and, on the last delivery, the DLQ) that says what to
fix, and never the secret's values. A bad secret is a configuration problem: the record is retried by SQS, so
fixing the secret is enough; after the last delivery it waits in the DLQ for a redrive. The happy rotation path
(401 -> fetch again -> success) is in test_handler.py; here: rotation in the middle of a batch, and rotation
to credentials the Gateway does not know yet.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from local_stack.gateway_emulator import App
from tests.conftest import example
from tests.integration.conftest import APP, BUCKET, MAX_RECEIVE, SECRET, Stack

pytestmark = pytest.mark.integration

DOC = example("schemata/HDRUK/4.0.0/docs.example.json")


def titled(title: str) -> dict[str, Any]:
    return {**DOC, "summary": {**DOC["summary"], "title": title}}


class SecretsManagerCalls:
    """Counts GetSecretValue calls, and can fail them, at the botocore level (below Powertools' cache)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.fail_with: str | None = None
        real = BaseClient._make_api_call

        def call(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            if operation == "GetSecretValue":
                self.calls += 1
                if self.fail_with:
                    error = {"Code": self.fail_with, "Message": "Rate exceeded"}
                    raise ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)
            return real(client, operation, params)

        monkeypatch.setattr(BaseClient, "_make_api_call", call)


@pytest.fixture
def secrets_manager(monkeypatch: pytest.MonkeyPatch) -> Iterator[SecretsManagerCalls]:
    yield SecretsManagerCalls(monkeypatch)


def assert_retried_then_dead_lettered(stack: Stack, key: str, *fragments: str) -> dict[str, Any]:
    """The record is RETRYING (in batchItemFailures) with the operator message, then FAILED in the DLQ on the
    last delivery. Returns the final ledger item."""
    stack.put(key, titled(f"Dataset {key}"))
    messages = stack.receive()
    response = stack.deliver(messages, receive_count=1)
    assert response == {"batchItemFailures": [{"itemIdentifier": messages[0]["MessageId"]}]}
    item = stack.ledger(key)
    assert item["status"] == "RETRYING"
    assert item["reason"].startswith("Gateway credentials unavailable: "), item["reason"]
    for fragment in fragments:
        assert fragment in item["reason"], item["reason"]
    assert stack.dead_letters() == [] and stack.gateway_datasets() == []
    assert stack.emulator.requests() == []  # nothing sent without credentials

    assert stack.deliver(messages, receive_count=MAX_RECEIVE) == {"batchItemFailures": []}
    final = stack.ledger(key)
    assert final["status"] == "FAILED" and final["reason"].startswith(item["reason"])
    assert "redrive" in final["reason"]
    (letter,) = stack.dead_letters()
    assert letter["status"] == "FAILED" and letter["reason"] == final["reason"]
    return final


def fix_and_replay(stack: Stack, key: str, letter_reason: str) -> None:
    """After the fix, the record is published on its next delivery."""
    stack.set_secret({"app_id": APP.app_id, "client_id": APP.client_id})
    stack.put(key, titled(f"Dataset {key} (fixed)"))
    stack.deliver(stack.receive(), receive_count=1)
    assert stack.ledger(key)["status"] == "CREATED", letter_reason


# --- the secret itself ----------------------------------------------------------------------------------


def test_secret_missing(stack: Stack) -> None:
    stack.secrets.delete_secret(SecretId=SECRET, ForceDeleteWithoutRecovery=True)
    final = assert_retried_then_dead_lettered(
        stack, "incoming/no-secret.json", f"secret '{SECRET}' does not exist", "GATEWAY_SECRET_ID"
    )
    stack.secrets.create_secret(Name=SECRET, SecretString="{}")
    fix_and_replay(stack, "incoming/no-secret.json", final["reason"])


def test_secret_not_json(stack: Stack) -> None:
    stack.secrets.put_secret_value(SecretId=SECRET, SecretString="app_id=app-1234, client_id=client-5678")
    final = assert_retried_then_dead_lettered(
        stack, "incoming/not-json-secret.json", f"secret '{SECRET}' is not valid JSON", '{"app_id": "..."'
    )
    assert "client-5678" not in json.dumps(final, default=str)
    fix_and_replay(stack, "incoming/not-json-secret.json", final["reason"])


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"app_id": APP.app_id}, "lacks client_id"),
        ({"client_id": APP.client_id}, "lacks app_id"),
        ({"app_id": " ", "client_id": ""}, "lacks app_id and client_id"),
        ({"appId": APP.app_id, "clientId": APP.client_id}, "lacks app_id and client_id"),
        ({"app_id": 1234, "client_id": APP.client_id}, "lacks app_id"),
        (["app-1234", "client-5678"], "must hold a JSON object"),
    ],
    ids=["no client_id", "no app_id", "blank values", "camelCase names", "a number", "a list"],
)
def test_secret_missing_a_field(stack: Stack, value: Any, fragment: str) -> None:
    stack.set_secret(value)
    final = assert_retried_then_dead_lettered(
        stack, "incoming/bad-secret.json", fragment, "Integrations > Applications"
    )
    for secret_value in (APP.app_id, APP.client_id):
        assert secret_value not in json.dumps(final, default=str)
    fix_and_replay(stack, "incoming/bad-secret.json", final["reason"])


def test_secrets_manager_throttled(stack: Stack, secrets_manager: SecretsManagerCalls) -> None:
    secrets_manager.fail_with = "ThrottlingException"
    final = assert_retried_then_dead_lettered(
        stack, "incoming/throttled.json", "Secrets Manager throttled", "ThrottlingException"
    )
    assert "does not exist" not in final["reason"]  # not mistaken for a missing secret
    secrets_manager.fail_with = None
    fix_and_replay(stack, "incoming/throttled.json", final["reason"])


def test_secret_access_denied(stack: Stack, secrets_manager: SecretsManagerCalls) -> None:
    secrets_manager.fail_with = "AccessDeniedException"
    assert_retried_then_dead_lettered(stack, "incoming/denied.json", "secretsmanager:GetSecretValue")


# --- rotation ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", ["1", "8"])
def test_rotation_in_the_middle_of_a_batch_costs_one_401_and_one_fetch(
    stack: Stack, secrets_manager: SecretsManagerCalls, monkeypatch: pytest.MonkeyPatch, concurrency: str
) -> None:
    """One record at a time: exactly one 401. Records in threads: each request already made with the old
    credentials gets its 401 (at most one per record), and the secret is still read only once more."""
    monkeypatch.setenv("RECORD_CONCURRENCY", concurrency)
    keys = [f"incoming/rotation/{n}.json" for n in range(6)]
    for n, key in enumerate(keys):
        stack.put(key, titled(f"Rotation {n}"))
    messages = sorted(
        stack.receive(len(keys)), key=lambda m: json.loads(m["Body"])["Records"][0]["s3"]["object"]["key"]
    )
    rotated = App("app-rotated-2f6c", "client-rotated-9a1d")
    gateway = stack.emulator

    # Rotate (secret and Gateway app together) right after the Gateway created the second dataset.
    real = gateway._store_dataset

    rotation = threading.Lock()

    def store_then_rotate(*args: Any, **kwargs: Any) -> Any:
        reply = real(*args, **kwargs)
        with rotation:  # records in threads may store two datasets at once: rotate once
            if len(gateway.datasets()) >= 2 and gateway.app_ids() != [rotated.app_id]:
                # The secret first, as a rotation does: a record refused by the Gateway from now on must find the
                # new value when it reads the secret again (the other order let one re-read the old value).
                stack.set_secret({"app_id": rotated.app_id, "client_id": rotated.client_id})
                gateway.set_apps([rotated], replace=True)
        return reply

    monkeypatch.setattr(gateway, "_store_dataset", store_then_rotate)
    assert stack.deliver(messages, receive_count=1) == {"batchItemFailures": []}

    assert [stack.ledger(key)["status"] for key in keys] == ["CREATED"] * len(keys)
    assert len(stack.gateway_datasets()) == len(keys)
    statuses = [r.status for r in gateway.requests()]
    if concurrency == "1":
        assert statuses.count(401) == 1  # the first call with the old credentials; the rest use the new ones
        assert secrets_manager.calls == 2  # the first fetch, one more after the 401: the cache holds the new value
    else:
        # Requests already on their way with the old credentials each get a 401 (at most one per record not yet
        # created at the rotation; none if all were), and however many there are, the secret is read once more.
        assert statuses.count(401) <= len(keys) - 2
        assert secrets_manager.calls == (2 if 401 in statuses else 1)
    assert stack.dead_letters() == []


def test_rotation_to_credentials_the_gateway_does_not_know_yet_is_rejected_with_the_fix(stack: Stack) -> None:
    stack.drop_and_invoke("incoming/before.json", titled("Before the rotation"))
    stack.set_secret({"app_id": "app-not-yet-registered", "client_id": "client-not-yet-registered"})
    stack.emulator.set_apps([App("app-not-yet-registered-elsewhere", "x")], replace=True)
    assert stack.drop_and_invoke("incoming/after.json", titled("After the rotation")) == {"batchItemFailures": []}
    item = stack.ledger("incoming/after.json")
    assert item["status"] == "REJECTED" and int(item["gateway_status"]) == 401
    assert item["reason"].startswith("No known integration matches the credentials provided")
    assert "Application ID" in item["reason"]
    assert [r.status for r in stack.emulator.requests()][-2:] == [401, 401]  # tried once more, with a fresh fetch
    (letter,) = stack.dead_letters()
    assert letter["reason"] == item["reason"] and "not-yet-registered" not in json.dumps(letter)
    assert stack.ledger("incoming/before.json")["status"] == "CREATED"
    assert f"s3://{BUCKET}/incoming/after.json" == item["source"]
