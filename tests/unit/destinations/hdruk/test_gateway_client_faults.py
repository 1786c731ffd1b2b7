"""Every exception a Gateway call can raise becomes a classified answer whose message never quotes a header value."""

from __future__ import annotations

import socket
from http.client import RemoteDisconnected
from typing import Any

import pytest
import requests
from requests import exceptions as rex
from urllib3.exceptions import (
    ConnectTimeoutError,
    DecodeError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    ResponseError,
)

from hdr_ingest.core.answers import AnswerKind
from hdr_ingest.destinations.hdruk.client import GatewayClient
from hdr_ingest.destinations.hdruk.credentials import AppCredentials
from hdr_ingest.destinations.http import _never_sent

pytestmark = pytest.mark.unit

SECRET = "hgi-app-5e1f\r\nX-Evil: 1"
URL = "https://gateway.example/api/v1/integrations/datasets"


NO_POOL: Any = None  # urllib3's errors name the pool or connection; these tests have none
NO_CONNECTION: Any = None


def _max_retry(reason: Exception) -> MaxRetryError:
    return MaxRetryError(NO_POOL, URL, reason)


CASES: list[tuple[BaseException, AnswerKind, str]] = [
    (
        rex.InvalidHeader(f"Invalid leading whitespace or return character(s) in header value: {SECRET!r}"),
        AnswerKind.PERMANENT,
        "cannot be sent as HTTP headers",
    ),
    (UnicodeEncodeError("latin-1", SECRET, 3, 4, "ordinal not in range(256)"), AnswerKind.PERMANENT, "secret"),
    (ValueError(f"Invalid header value {SECRET!r}"), AnswerKind.PERMANENT, "secret"),
    (rex.InvalidURL("bad"), AnswerKind.PERMANENT, "GATEWAY_URL"),
    (rex.MissingSchema("bad"), AnswerKind.PERMANENT, "GATEWAY_URL"),
    (rex.TooManyRedirects("Exceeded 30 redirects."), AnswerKind.PERMANENT, "redirected"),
    (rex.SSLError(_max_retry(Exception("certificate verify failed"))), AnswerKind.TRANSIENT, "TLS failed"),
    (
        rex.ConnectTimeout(_max_retry(ConnectTimeoutError("timed out"))),
        AnswerKind.TRANSIENT,
        "timed out connecting",
    ),
    (rex.ReadTimeout(_max_retry(ReadTimeoutError(NO_POOL, URL, "read timed out"))), AnswerKind.TRANSIENT, "timed out"),
    (rex.ConnectionError(ReadTimeoutError(NO_POOL, URL, "read timed out")), AnswerKind.TRANSIENT, "timed out"),
    (
        rex.ChunkedEncodingError(ProtocolError("Connection broken: IncompleteRead(3 bytes read, 97 more expected)")),
        AnswerKind.TRANSIENT,
        "broke off",
    ),
    (rex.ContentDecodingError(DecodeError("incorrect header check")), AnswerKind.TRANSIENT, "compressed"),
    (rex.RetryError(_max_retry(ResponseError("too many 429 error responses"))), AnswerKind.TRANSIENT, "RetryError"),
    (rex.ProxyError(_max_retry(OSError("proxy refused"))), AnswerKind.TRANSIENT, "proxy"),
    (
        rex.ConnectionError(_max_retry(NewConnectionError(NO_CONNECTION, "refused"))),
        AnswerKind.TRANSIENT,
        "could not connect (NewConnectionError)",
    ),
    (
        rex.ConnectionError(
            _max_retry(NameResolutionError("gateway.example", NO_CONNECTION, socket.gaierror("no such host")))
        ),
        AnswerKind.TRANSIENT,
        "could not connect (NameResolutionError)",
    ),
    (
        rex.ConnectionError(ProtocolError("Connection aborted.", RemoteDisconnected("closed"))),
        AnswerKind.TRANSIENT,
        "connection error: RemoteDisconnected",
    ),
    (ConnectionResetError(104, "Connection reset by peer"), AnswerKind.TRANSIENT, "ConnectionResetError"),
    (TimeoutError("timed out"), AnswerKind.TRANSIENT, "timed out"),
    (rex.RequestException("odd"), AnswerKind.TRANSIENT, "RequestException"),
    (RuntimeError(SECRET), AnswerKind.TRANSIENT, "unexpected RuntimeError"),
]


@pytest.mark.parametrize(("exc", "kind", "says"), CASES, ids=[type(c[0]).__name__ for c in CASES])
def test_every_failure_is_classified_without_its_text(exc: BaseException, kind: AnswerKind, says: str) -> None:
    answer = GatewayClient("https://gateway.example/api/v1").transport.failure_answer(exc)
    assert answer.kind is kind and answer.http_status is None
    assert says in answer.message
    assert "hgi-app" not in answer.message and "Evil" not in answer.message


def test_only_a_connection_never_made_is_retried_by_the_client() -> None:
    assert _never_sent(rex.ConnectTimeout(_max_retry(ConnectTimeoutError("t"))))
    assert _never_sent(rex.ConnectionError(_max_retry(NewConnectionError(NO_CONNECTION, "refused"))))
    assert not _never_sent(rex.ReadTimeout("read"))
    assert not _never_sent(rex.SSLError(_max_retry(ConnectTimeoutError("t"))))
    assert not _never_sent(rex.ConnectionError(ProtocolError("Connection aborted.", RemoteDisconnected("x"))))


def test_an_exception_from_the_session_never_escapes(monkeypatch: pytest.MonkeyPatch) -> None:
    client = GatewayClient("https://gateway.example/api/v1")
    calls: list[str] = []

    def explode(*_: object, **__: object) -> requests.Response:
        calls.append("call")
        raise rex.InvalidHeader(f"header value {SECRET!r}")

    monkeypatch.setattr(client.transport.session, "request", explode)
    credentials = AppCredentials("hgi-app-5e1f", "hgi-client-77")
    answers = [
        client.create({}, None, "id-1", credentials, 1.0),
        client.update(4, {}, None, credentials, 1.0),
        client.find("id-1", credentials, 1.0),
        client.archive(4, credentials, 1.0),
        client.unarchive(4, credentials, 1.0),
    ]
    assert all(a.kind is AnswerKind.PERMANENT and "Evil" not in a.message for a in answers)
    assert len(calls) == 5  # not retried: the request may have left


def test_a_call_with_no_time_left_is_not_made(monkeypatch: pytest.MonkeyPatch) -> None:
    client = GatewayClient("https://gateway.example/api/v1")
    monkeypatch.setattr(client.transport.session, "request", lambda *a, **k: pytest.fail("called with no time left"))
    answer = client.find("id-1", AppCredentials("hgi-app-5e1f", "hgi-client-77"), 5.0, deadline_s=0.0)
    assert answer.kind is AnswerKind.TRANSIENT and "deadline" in answer.message
