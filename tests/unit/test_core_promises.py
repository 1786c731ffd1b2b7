"""The pipeline's promises for every catalogue (issue 26 items 5, 10, 11): stored text fits DynamoDB's byte
limits whatever its characters, and the settings refuse values the function cannot honour."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from hdr_ingest.adapters.aws.dynamodb_ledger import to_item
from hdr_ingest.core.bounds import bounded
from hdr_ingest.core.outcome import ErrorDetail, Outcome, Status
from hdr_ingest.core.ports import NullObserver
from hdr_ingest.core.source_object import SourceObject
from hdr_ingest.entry.settings import ConfigError, Settings, url_problem
from hdr_ingest.usecases.context import Budget, Delivery, Work
from hdr_ingest.usecases.recording import Recorder

pytestmark = pytest.mark.unit

DYNAMODB_ITEM_LIMIT = 400 * 1024
EMOJI = "\U0001f600"  # one character, four UTF-8 bytes


def dynamodb_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it, rounded up: attribute names plus UTF-8 values (JSON's quotes and
    separators only add to it)."""
    return len(json.dumps(item, ensure_ascii=False, default=str).encode("utf-8"))


def stored_item(outcome: Outcome) -> dict[str, Any]:
    recorder = Recorder(None, None, NullObserver(), lambda: datetime(2026, 12, 5, tzinfo=UTC))  # type: ignore[arg-type]
    work = Work(SourceObject("bucket", "incoming/ds.json"), None, Delivery(), Budget(), "owner", None)
    return to_item(recorder.entry(work, outcome))


def test_bounded_cuts_to_utf8_bytes_not_characters() -> None:
    text = EMOJI * 1_000  # 1,000 characters, 4,000 bytes
    cut = bounded(text, 1_000)
    assert len(cut.encode("utf-8")) <= 1_000 + 40
    assert cut.startswith(EMOJI * 250) and not cut.startswith(EMOJI * 251)
    assert "3,000 more bytes" in cut


@pytest.mark.parametrize("count", [300, 200])
def test_a_ledger_item_of_hundreds_of_emoji_errors_stays_under_400_kb(count: int) -> None:
    """A Gateway 400 listing 300 errors of 1,000 emoji (or a destination failing with 200 of them): measured in
    characters these passed the old limits and made a 600-800 KB item that DynamoDB refuses."""
    errors = tuple(ErrorDetail(f"$.{EMOJI * 1_000}", EMOJI * 1_000) for _ in range(count))
    item = stored_item(Outcome(Status.INVALID, EMOJI * 100_000, errors))
    assert dynamodb_size(item) < DYNAMODB_ITEM_LIMIT
    assert item["errors_total"] == count and item["errors"]


SETTINGS_ENV = {"LEDGER_TABLE": "ledger", "DLQ_URL": "https://sqs.test/dlq", "GATEWAY_SECRET_ID": "gw"}


def refusal(**env: str) -> str:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**SETTINGS_ENV, **env})
    return str(caught.value)


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "127.1", "017700000001"])
def test_a_numeric_ip_host_counts_as_local(host: str) -> None:
    """``http://2130706433/`` is 127.0.0.1 to the resolver: refused unless local destinations are allowed."""
    assert "ALLOW_LOCAL_DESTINATIONS" in (url_problem(f"https://{host}/api", allow_local=False) or "")
    assert url_problem(f"https://{host}/api", allow_local=True) is None
    assert url_problem("https://api.dev.hdruk.cloud/api/v1", allow_local=False) is None


def test_every_route_url_goes_through_the_url_check() -> None:
    routes = [
        {"prefix": "unis/", "kind": "unis", "url": "https://2130706433/", "secret": None},
        {"prefix": "qrvey/", "kind": "qrvey", "url": "https://qrvey.example.org", "secret": "q"},
    ]
    assert "DESTINATIONS[0].url='https://2130706433/'" in refusal(DESTINATIONS=json.dumps(routes))


def test_timeouts_are_bounded_by_what_an_invocation_can_wait() -> None:
    message = refusal(GATEWAY_CONNECT_TIMEOUT="1e9", GATEWAY_READ_TIMEOUT="901")
    assert "GATEWAY_CONNECT_TIMEOUT='1e9' must be at most 900" in message
    assert "GATEWAY_READ_TIMEOUT='901' must be at most 900" in message
    assert Settings.from_env({**SETTINGS_ENV, "GATEWAY_READ_TIMEOUT": "900"}).read_timeout_s == 900


def test_max_object_bytes_is_bounded_by_the_function_memory() -> None:
    message = refusal(MAX_OBJECT_BYTES=str(10 * 1024**3))
    assert "MAX_OBJECT_BYTES=10737418240 must be at most" in message
    assert "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512 MB" in message
    big = {**SETTINGS_ENV, "MAX_OBJECT_BYTES": str(50 * 1024**2), "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "3008"}
    assert Settings.from_env(big).max_object_bytes == 50 * 1024**2


def test_a_route_prefix_may_not_start_with_a_slash() -> None:
    routes = [{"prefix": "/incoming/", "kind": "hdruk", "url": "https://gw.example.org", "secret": "gw"}]
    assert "DESTINATIONS[0].prefix must be a key prefix" in refusal(DESTINATIONS=json.dumps(routes))
