"""The shared transport (``destinations/http.py``) against real sockets on 127.0.0.1: a total deadline per call,
answers capped, connection attempts that never left retried, unsendable headers refused before anything is sent."""

from __future__ import annotations

import base64
import socket
import time
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import requests
from requests import exceptions as rex
from urllib3.exceptions import MaxRetryError, NewConnectionError

from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.destinations.http import CONNECT_ATTEMPTS, Reply, Transport, redact, retry_after_s
from tests.integration.destinations.hdruk.test_hostile_gateway import answer, serving

pytestmark = pytest.mark.integration


def drip(conn: socket.socket, _: bytes) -> None:
    """Announces 10,000 bytes and sends one every 0.2 s: a read never times out, the body never ends in time."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10000\r\nContent-Type: application/json\r\n\r\n")
    for _ in range(10000):
        conn.sendall(b" ")
        time.sleep(0.2)


def test_a_dripping_server_is_cut_at_the_call_s_deadline() -> None:
    with serving(drip) as server:
        got = Transport("UNIS").call("GET", server.url, timeout_s=5.0, deadline_s=1.5)
    # Without the watchdog the call would end only when the server gives up (30 s), as "broke off".
    assert isinstance(got, Answer) and got.kind is AnswerKind.TRANSIENT and got.http_status is None
    assert got.message.startswith("UNIS did not answer") and "deadline" in got.message


def test_an_answer_is_read_up_to_the_cap() -> None:
    with serving(answer(200, b"x" * 5000)) as server:
        got = Transport("Qrvey").call("GET", server.url, timeout_s=5.0, cap=1000)
        small = Transport("Qrvey").call("GET", server.url, timeout_s=5.0, cap=8000)
    assert isinstance(got, Reply) and not got.complete and len(got.raw) <= 1000
    assert isinstance(small, Reply) and small.complete and small.raw == b"x" * 5000


def test_a_reply_keeps_its_headers_whatever_their_case() -> None:
    with serving(answer(429, b"{}", {"retry-after": "12", "Content-Type": "application/json"})) as server:
        got = Transport("AEP").call("POST", server.url, timeout_s=5.0, body=b"{}")
    assert isinstance(got, Reply) and got.status == 429
    assert got.header("Retry-After") == "12" and retry_after_s(got.headers) == 12.0


def test_a_connection_never_made_is_tried_again_within_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    transport = Transport("UNIS")
    calls: list[str] = []

    def refuse(*_: Any, **__: Any) -> requests.Response:
        calls.append("call")
        reason: Any = NewConnectionError(None, "refused")  # type: ignore[arg-type]
        raise rex.ConnectionError(MaxRetryError(None, "http://unis.example/", reason))  # type: ignore[arg-type]

    monkeypatch.setattr(transport.session, "request", refuse)
    got = transport.call("POST", "http://unis.example/metadata", timeout_s=5.0, deadline_s=10.0, body=b"{}")
    assert isinstance(got, Answer) and got.kind is AnswerKind.TRANSIENT and "could not connect" in got.message
    assert len(calls) == CONNECT_ATTEMPTS


def test_a_request_that_may_have_left_is_never_tried_again(monkeypatch: pytest.MonkeyPatch) -> None:
    transport = Transport("UNIS")
    calls: list[str] = []

    def time_out(*_: Any, **__: Any) -> requests.Response:
        calls.append("call")
        raise rex.ReadTimeout("read timed out")

    monkeypatch.setattr(transport.session, "request", time_out)
    got = transport.call("POST", "http://unis.example/metadata", timeout_s=1.0, body=b"{}")
    assert isinstance(got, Answer) and got.kind is AnswerKind.TRANSIENT and len(calls) == 1


def test_an_unsendable_header_is_refused_before_anything_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    transport = Transport("Qrvey", unsendable="the API key holds a line break.")
    monkeypatch.setattr(transport.session, "request", lambda *a, **k: pytest.fail("sent"))
    got = transport.call("GET", "http://qrvey.example/", timeout_s=1.0, headers={"x-api-key": "k3y\r\nX-Evil: 1"})
    assert isinstance(got, Answer) and got.kind is AnswerKind.PERMANENT
    assert "line break" in got.message and "k3y" not in got.message and "Evil" not in got.message


def test_no_redirect_is_followed() -> None:
    with serving(answer(302, b"", {"Location": "http://elsewhere.example/steal"})) as server:
        got = Transport("AEP").call("GET", server.url, timeout_s=5.0, headers={"Authorization": "Bearer t0ken"})
    assert isinstance(got, Reply) and got.status == 302 and len(server.requests) == 1


def test_redact_removes_every_form_a_server_echoes_a_secret_in() -> None:
    secret = "s3cr3t/+=&value"
    echoed = (
        f"raw {secret}; form client_secret={quote_plus(secret)}; path {quote(secret, safe='')}; "
        f"basic {base64.b64encode(secret.encode()).decode()}"
    )
    cleaned = redact(echoed, [secret, "", "ab"])
    assert secret not in cleaned and quote_plus(secret) not in cleaned and quote(secret, safe="") not in cleaned
    assert base64.b64encode(secret.encode()).decode().rstrip("=") not in cleaned
    assert cleaned.count("[redacted]") == 4 and cleaned.startswith("raw [redacted]")


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": " 0 "}, 0.0),
        ({"RETRY-AFTER": "Thu, 01 Jan 1970 00:01:40 GMT"}, 60.0),
        ({"Retry-After": "-3"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_retry_after_is_parsed_once_for_every_destination(headers: Any, seconds: float | None) -> None:
    assert retry_after_s(headers, now=40.0) == seconds
