from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hdr_ingest.core.routing import RouteSpec
from hdr_ingest.entry.settings import DEFAULT_GATEWAY_URL, ConfigError, Settings

pytestmark = pytest.mark.unit

BASE = {"GATEWAY_SECRET_ID": "s", "LEDGER_TABLE": "t", "DLQ_URL": "https://sqs.example/q"}


def test_defaults() -> None:
    settings = Settings.from_env(BASE)
    assert settings.routes == (RouteSpec("incoming/", "hdruk", DEFAULT_GATEWAY_URL, "s", {}),)
    assert settings.max_object_bytes == 10 * 1024 * 1024
    assert settings.max_receive_count == 5
    assert settings.record_concurrency == 8


def test_values_are_parsed() -> None:
    env = {
        "GATEWAY_URL": "http://127.0.0.1:9/api/v1/",
        "ALLOW_LOCAL_DESTINATIONS": "true",
        "TARGET_SCHEMA": "HDRUK 4.0.0",
        "GATEWAY_HEADER_STYLE": "legacy",
        "MAX_OBJECT_BYTES": "100",
        "MAX_RECEIVE_COUNT": "3",
        "RECORD_CONCURRENCY": "4",
    }
    settings = Settings.from_env({**BASE, **env})
    options = {"targetSchema": "HDRUK 4.0.0", "headerStyle": "legacy"}
    assert settings.routes == (RouteSpec("incoming/", "hdruk", "http://127.0.0.1:9/api/v1", "s", options),)
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


ROUTES_BASE = {"LEDGER_TABLE": "t", "DLQ_URL": "https://sqs.example/q"}


def test_destinations_define_the_routes() -> None:
    routes = [
        {"prefix": "hdruk/", "kind": "hdruk", "url": "https://gw.example/api/v1/", "secret": "gw"},
        {
            "prefix": "hdruk/legacy/",
            "kind": "hdruk",
            "url": "https://old.example/api/v1",
            "secret": "old",
            "options": {"headerStyle": "legacy", "targetSchema": "HDRUK 2.2.1", "validationMode": "strict"},
        },
    ]
    settings = Settings.from_env({**ROUTES_BASE, "DESTINATIONS": json.dumps(routes)})
    assert settings.routes == (
        RouteSpec("hdruk/", "hdruk", "https://gw.example/api/v1", "gw", {}),
        RouteSpec("hdruk/legacy/", "hdruk", "https://old.example/api/v1", "old", routes[1]["options"]),
    )


def test_destinations_name_every_problem_at_once() -> None:
    routes = [
        {"prefix": "a/", "kind": "carrier-pigeon", "url": "https://x.example", "secret": None},
        {"prefix": 7, "kind": "hdruk", "url": "ftp://x", "secret": ""},
        {"prefix": "b/", "kind": "hdruk", "url": "https://gw.example", "secret": None, "options": {"colour": 1}},
        {"prefix": "c/", "kind": "hdruk", "url": "https://gw.example", "secret": "s", "options": {"headerStyle": "x"}},
        {"prefix": "c/", "kind": "hdruk", "url": "https://gw.example", "secret": "s", "extra": True},
        "not a route",
    ]
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**ROUTES_BASE, "DESTINATIONS": json.dumps(routes)})
    message = str(caught.value)
    for fragment in (
        "kind 'carrier-pigeon' is not one of",
        "DESTINATIONS[1].prefix must be a key prefix",
        "DESTINATIONS[1].url='ftp://x' must be an https URL with a host",
        "DESTINATIONS[1].secret must be a secret name or ARN, or null",
        "route 'b/' (hdruk): unknown options ['colour']",
        "route 'b/' (hdruk): needs a secret",
        "route 'c/' (hdruk): headerStyle='x' must be 'x-headers' or 'legacy'",
        "DESTINATIONS[4]: unknown fields ['extra']",
        "DESTINATIONS[5] must be an object",
    ):
        assert fragment in message, fragment


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [("{", "DESTINATIONS is not JSON"), ("[]", "non-empty JSON list"), ('{"prefix": "a/"}', "non-empty JSON list")],
)
def test_destinations_must_be_a_list_of_routes(raw: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        Settings.from_env({**ROUTES_BASE, "DESTINATIONS": raw})


def test_duplicate_prefixes_are_refused() -> None:
    route = {"prefix": "a/", "kind": "hdruk", "url": "https://gw.example", "secret": "s"}
    with pytest.raises(ConfigError, match="prefix 'a/' has more than one route"):
        Settings.from_env({**ROUTES_BASE, "DESTINATIONS": json.dumps([route, route])})


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("https://gw.example:99999/api", "has no valid port"),
        ("https://gw.example/api?x=1", "must not have a query or a fragment"),
        ("https://gw.example/api#top", "must not have a query or a fragment"),
        ("https://gw.example/a pi", "must not contain white space"),
        ("https://user:pass@gw.example/api", "must not carry user-info"),
        ("http://gw.example/api", "uses plain http"),
        ("https://127.0.0.1/api", "uses a loopback, link-local or private host"),
        ("https://169.254.169.254/latest", "uses a loopback, link-local or private host"),
        ("https://localhost:8443/api", "uses a loopback, link-local or private host"),
        ("ftp://gw.example/api", "must be an https URL"),
    ],
)
def test_destination_urls_are_parsed_strictly(url: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        Settings.from_env({**BASE, "GATEWAY_URL": url})
    route = {"prefix": "a/", "kind": "hdruk", "url": url, "secret": "s"}
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        Settings.from_env({**ROUTES_BASE, "DESTINATIONS": json.dumps([route])})


def test_local_destinations_only_for_the_local_stack() -> None:
    local = {**BASE, "GATEWAY_URL": "http://127.0.0.1:8080/api/v1", "ALLOW_LOCAL_DESTINATIONS": "true"}
    assert Settings.from_env(local).routes[0].url == "http://127.0.0.1:8080/api/v1"
    with pytest.raises(ConfigError, match="must not carry user-info"):  # never, even locally
        Settings.from_env({**local, "GATEWAY_URL": "http://u:p@127.0.0.1:8080/api/v1"})


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf"])
def test_timeouts_must_be_finite(raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**BASE, "GATEWAY_CONNECT_TIMEOUT": raw, "GATEWAY_READ_TIMEOUT": raw})
    assert f"GATEWAY_CONNECT_TIMEOUT={raw!r} must be a finite number" in str(caught.value)
    assert f"GATEWAY_READ_TIMEOUT={raw!r} must be a finite number" in str(caught.value)


def test_destination_timeouts_and_attempts_have_destination_names_and_the_old_gateway_names_still_work() -> None:
    """DESTINATION_* govern every destination; GATEWAY_* (their names when the Gateway was the only one) still read."""
    new = {"DESTINATION_CONNECT_TIMEOUT": "1.5", "DESTINATION_READ_TIMEOUT": "12", "DESTINATION_MAX_ATTEMPTS": "4"}
    old = {k.replace("DESTINATION_", "GATEWAY_"): v for k, v in new.items()}
    for env in (new, old, {**new, **old}):
        settings = Settings.from_env({**BASE, **env})
        assert (settings.connect_timeout_s, settings.read_timeout_s, settings.max_attempts) == (1.5, 12.0, 4)
    defaults = Settings.from_env(BASE)
    assert (defaults.connect_timeout_s, defaults.read_timeout_s, defaults.max_attempts) == (3.05, 30.0, 3)


def test_a_destination_setting_and_its_old_name_that_disagree_are_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**BASE, "DESTINATION_READ_TIMEOUT": "12", "GATEWAY_READ_TIMEOUT": "20"})
    assert "DESTINATION_READ_TIMEOUT='12' and its old name GATEWAY_READ_TIMEOUT='20' disagree" in str(caught.value)
    with pytest.raises(ConfigError, match="DESTINATION_MAX_ATTEMPTS='0' must be at least 1"):
        Settings.from_env({**BASE, "DESTINATION_MAX_ATTEMPTS": "0"})


def test_a_missing_schema_pack_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"holds no available\.json"):
        Settings.from_env({**BASE, "SCHEMA_PACK_DIR": str(tmp_path / "nowhere")})


def test_a_target_schema_the_pack_lacks_stops_the_function_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from hdr_ingest.entry.runtime import Runtime

    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    settings = Settings.from_env({**BASE, "TARGET_SCHEMA": "HDRUK 9.9.9"})
    with pytest.raises(ConfigError, match=r"targetSchema HDRUK 9\.9\.9 is not in the schema pack \(HDRUK 2\.0\.2, "):
        Runtime.from_settings(settings)
    assert Runtime.from_settings(Settings.from_env({**BASE, "TARGET_SCHEMA": "HDRUK 4.0.0"})).pipeline is not None
