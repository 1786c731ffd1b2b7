"""Secret values that cannot travel as HTTP headers (a line break, a control or non-ASCII character, an absurd
length) are refused when the secret is read: the record is retried, then dead-lettered, with a message naming the
problem and the key, never the value, and nothing reaches the Gateway or the logs."""

from __future__ import annotations

import json
import logging

import pytest

from tests.integration.conftest import APP, Stack
from tests.integration.handler.test_secrets import assert_retried_then_dead_lettered, fix_and_replay

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"app_id": f"{APP.app_id}\r\nX-Injected: yes", "client_id": APP.client_id}, "app_id that holds a line break"),
        ({"app_id": APP.app_id, "client_id": f"{APP.client_id}\u2603"}, "client_id that holds a non-ASCII"),
        ({"app_id": f"{APP.app_id}\x00", "client_id": APP.client_id}, "app_id that holds a control character"),
        ({"app_id": APP.app_id, "client_id": APP.client_id * 100}, "client_id that is 1100 characters long"),
    ],
    ids=["crlf", "non-ascii", "nul", "too-long"],
)
def test_a_secret_value_unfit_for_a_header_is_refused_without_echo(
    stack: Stack, caplog: pytest.LogCaptureFixture, value: dict[str, str], fragment: str
) -> None:
    stack.set_secret(value)
    caplog.set_level(logging.DEBUG)  # every log line from here on (the secret was stored just before)
    caplog.clear()
    final = assert_retried_then_dead_lettered(stack, "incoming/unfit-secret.json", fragment, "printable ASCII")
    seen = json.dumps(final, default=str) + json.dumps(stack.dead_letters(), default=str) + caplog.text
    for secret_value in (APP.app_id, APP.client_id, "X-Injected"):
        assert secret_value not in seen
    assert "InvalidHeader" not in seen and "UnicodeEncodeError" not in seen
    fix_and_replay(stack, "incoming/unfit-secret.json", final["reason"])
