"""The Gateway app's credentials never leave the request headers: not in a log line (at DEBUG), a ledger item, a
dead letter or a handler response. Every flow that can carry text from the Gateway or the secret into those is run:
success, a Gateway error that quotes the request (an SQL error with its bindings, a message naming the app), 401s
after a rotation, and broken secrets. Then everything captured is searched for the values."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from hdr_ingest.entry.runtime import logger
from local_stack.gateway_emulator import App
from tests.conftest import example
from tests.integration.conftest import MAX_RECEIVE, SECRET, Stack

pytestmark = pytest.mark.integration

APP = App("hgi-app-3f9a1c7e5b2d", "hgi-client-d81e44a2c0f7")
VALUES = (APP.app_id, APP.client_id)
DOC = example("schemata/HDRUK/4.0.0/docs.example.json")


def titled(title: str) -> dict[str, Any]:
    return {**DOC, "summary": {**DOC["summary"], "title": title}}


@pytest.fixture
def captured(stack: Stack, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> Iterator[list[str]]:
    """Everything the function writes, as Lambda would ship it: its JSON log lines at DEBUG (through Powertools'
    own formatter), every other logger (botocore, urllib3, ...) at DEBUG too, stdout and stderr. The test adds
    what else it saw (ledger, DLQ, responses); at the end all of it is searched for the secret's values."""
    stack.emulator.set_apps([APP], replace=True)
    stack.set_secret({"app_id": APP.app_id, "client_id": APP.client_id})
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logger.registered_formatter)
    level = logger.log_level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    found: list[str] = []
    try:
        yield found
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    out, err = capfd.readouterr()
    logged = buffer.getvalue()
    assert '"level":"DEBUG"' in logged or '"level":"INFO"' in logged  # the capture saw the function's log lines
    records = [r for phase in ("setup", "call") for r in caplog.get_records(phase)]  # caplog.records: teardown's
    assert any(r.name.startswith("botocore") for r in records)  # the capture saw botocore's DEBUG lines
    found.extend([logged, out, err, *(f"{r.name} {r.getMessage()} {r.__dict__}" for r in records)])
    assert_no_secret(found)


def write_secret(stack: Stack, text: str) -> None:
    """The test's own write of the secret, kept out of the captured logs (botocore logs its parameters)."""
    logging.disable(logging.CRITICAL)
    try:
        stack.secrets.put_secret_value(SecretId=SECRET, SecretString=text)
    finally:
        logging.disable(logging.NOTSET)


def everything_else(stack: Stack) -> list[str]:
    """The ledger, the DLQ and the emulator's request log."""
    items = stack.table.scan()["Items"]
    return [
        json.dumps(items, default=str),
        json.dumps(stack.dead_letters(), default=str),
        json.dumps([r.to_json() for r in stack.emulator.requests()]),
    ]


def assert_no_secret(texts: list[str]) -> None:
    for text in texts:
        for value in VALUES:
            assert value not in text, (
                f"{value!r} found in: {text[max(0, text.find(value) - 200) : text.find(value) + 100]}"
            )


def quoting_errors(stack: Stack, monkeypatch: pytest.MonkeyPatch, status: int) -> None:
    """The Gateway answers with an error that quotes the credentials it was sent."""

    def authenticate(headers: Any) -> Any:
        app_id, client_id = headers.get("x-application-id"), headers.get("x-client-id")
        if status == 500:
            raise RuntimeError(
                "SQLSTATE[HY000] [2002] Connection refused (SQL: select * from `applications` where "
                f"`app_id` = {app_id} and `client_id` = {client_id} limit 1)"
            )
        from local_stack.gateway_emulator.server import _error

        return _error(status, f"Application {app_id} ({client_id}) is not allowed to do this")

    monkeypatch.setattr(stack.emulator, "_authenticate", authenticate)


def test_published_flows_leak_nothing(stack: Stack, captured: list[str]) -> None:
    key = "incoming/leak/published.json"
    responses = [
        stack.drop_and_invoke(key, titled("Published")),
        stack.drop_and_invoke(key, titled("Published")),  # unchanged
        stack.drop_and_invoke(key, titled("Published, revised")),  # updated
    ]
    assert stack.ledger(key)["status"] == "UPDATED"
    captured.extend(json.dumps(r) for r in responses)
    captured.extend(everything_else(stack))


@pytest.mark.parametrize("status", [500, 400, 403])
def test_gateway_errors_quoting_the_request_leak_nothing(
    stack: Stack, captured: list[str], monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    quoting_errors(stack, monkeypatch, status)
    key = f"incoming/leak/quoted-{status}.json"
    stack.put(key, titled(f"Quoted {status}"))
    messages = stack.receive()
    stack.deliver(messages, receive_count=MAX_RECEIVE)
    item = stack.ledger(key)
    assert item["status"] == ("FAILED" if status == 500 else "REJECTED")
    assert "[redacted]" in item["reason"]  # the Gateway's words are kept, without the credentials
    (letter,) = stack.dead_letters()
    assert letter["reason"] == item["reason"]
    captured.extend([item["reason"], json.dumps(letter)])
    captured.extend(everything_else(stack))


def test_rotation_and_unknown_credentials_leak_nothing(stack: Stack, captured: list[str]) -> None:
    stack.drop_and_invoke("incoming/leak/before.json", titled("Before"))
    stack.emulator.set_apps([App("hgi-app-rotated", "hgi-client-rotated")], replace=True)
    stack.drop_and_invoke("incoming/leak/after.json", titled("After"))  # 401, fetch again, 401: REJECTED
    assert stack.ledger("incoming/leak/after.json")["status"] == "REJECTED"
    captured.extend(everything_else(stack))


@pytest.mark.parametrize(
    "secret",
    [
        f"app_id={APP.app_id}\nclient_id={APP.client_id}",  # not JSON
        f'{{"app_id": "{APP.app_id}", "client_id": "{APP.client_id}"',  # truncated JSON
        json.dumps({"app_id": APP.app_id, "clientid": APP.client_id}),  # a misspelt field
        json.dumps({"app_id": APP.app_id, "client_id": [APP.client_id]}),  # a wrong type
        json.dumps([APP.app_id, APP.client_id]),
    ],
    ids=["not JSON", "truncated", "misspelt field", "wrong type", "a list"],
)
def test_broken_secrets_leak_nothing(stack: Stack, captured: list[str], secret: str) -> None:
    write_secret(stack, secret)
    key = "incoming/leak/broken-secret.json"
    stack.put(key, titled("Broken secret"))
    messages = stack.receive()
    stack.deliver(messages, receive_count=1)
    stack.deliver(messages, receive_count=MAX_RECEIVE)
    item = stack.ledger(key)
    assert item["status"] == "FAILED" and item["reason"].startswith("Gateway credentials unavailable")
    captured.extend(everything_else(stack))


def test_the_scan_finds_a_leak() -> None:
    """The search works: a log line with a value in it is found."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    try:
        logger.warning("oops", extra={"leaked": APP.client_id})
    finally:
        logger.removeHandler(handler)
    with pytest.raises(AssertionError, match="found in"):
        assert_no_secret([buffer.getvalue()])
