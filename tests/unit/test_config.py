from __future__ import annotations

import pytest

from hdr_ingest.destinations.hdruk.schema_pack import SchemaRef
from hdr_ingest.entry.settings import DEFAULT_GATEWAY_URL, ConfigError, HeaderStyle, Settings

pytestmark = pytest.mark.unit

BASE = {"GATEWAY_SECRET_ID": "s", "LEDGER_TABLE": "t", "DLQ_URL": "https://sqs.example/q"}


def test_defaults() -> None:
    settings = Settings.from_env(BASE)
    assert settings.gateway_url == DEFAULT_GATEWAY_URL
    assert settings.header_style is HeaderStyle.X_HEADERS
    assert settings.max_object_bytes == 10 * 1024 * 1024
    assert settings.target_schema is None
    assert settings.max_receive_count == 5
    assert settings.record_concurrency == 8


def test_values_are_parsed() -> None:
    env = {
        "GATEWAY_URL": "http://127.0.0.1:9/api/v1/",
        "TARGET_SCHEMA": "HDRUK 4.0.0",
        "GATEWAY_HEADER_STYLE": "legacy",
        "MAX_OBJECT_BYTES": "100",
        "MAX_RECEIVE_COUNT": "3",
        "RECORD_CONCURRENCY": "4",
    }
    settings = Settings.from_env({**BASE, **env})
    assert settings.gateway_url == "http://127.0.0.1:9/api/v1"
    assert settings.target_schema == SchemaRef("HDRUK", "4.0.0")
    assert settings.header_style is HeaderStyle.LEGACY
    assert (settings.max_object_bytes, settings.max_receive_count) == (100, 3)
    assert settings.record_concurrency == 4


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("0", "RECORD_CONCURRENCY='0' must be at least 1"),
        ("11", "RECORD_CONCURRENCY='11' must be at most 10 (the SQS batch size)"),
        ("two", "RECORD_CONCURRENCY='two' is not a whole number"),
        ("2.5", "RECORD_CONCURRENCY='2.5' is not a whole number"),
    ],
)
def test_record_concurrency_is_validated(raw: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_env({**BASE, "RECORD_CONCURRENCY": raw})


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(
            {
                "GATEWAY_URL": "ftp://x",
                "GATEWAY_HEADER_STYLE": "bearer",
                "MAX_OBJECT_BYTES": "ten",
                "TARGET_SCHEMA": "HDRUK",
            }
        )
    message = str(caught.value)
    for fragment in (
        "GATEWAY_SECRET_ID is required",
        "LEDGER_TABLE is required",
        "DLQ_URL is required",
        "GATEWAY_URL='ftp://x'",
        "GATEWAY_HEADER_STYLE='bearer'",
        "MAX_OBJECT_BYTES='ten'",
        "TARGET_SCHEMA",
    ):
        assert fragment in message
