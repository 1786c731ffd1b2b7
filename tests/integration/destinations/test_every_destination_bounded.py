"""Issue 26 items 3, 9 and 12, for every destination, against real sockets on 127.0.0.1: each client's calls end
by their deadline when a server drips its answer, a Retry-After reaches the pipeline, and a server that echoes
the request never puts AEP's token or client secret into an answer's words."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import quote_plus

import pytest

from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.core.ports import Call
from hdr_ingest.destinations.aep.client import AepClient, Platform
from hdr_ingest.destinations.aep.credentials import AepCredentials
from hdr_ingest.destinations.aep.token import TokenCache
from hdr_ingest.destinations.qrvey.answers import classify
from hdr_ingest.destinations.qrvey.client import QrveyClient
from hdr_ingest.destinations.qrvey.credentials import ApiKey
from hdr_ingest.destinations.unis.client import UnisClient
from tests.integration.destinations.hdruk.test_hostile_gateway import answer, serving
from tests.integration.destinations.test_http_transport import drip

pytestmark = pytest.mark.integration

DEADLINE_S = 1.5
SECRET = "s3cr3t+/=client&secret"
AEP_CREDENTIALS = AepCredentials("client-1", SECRET, "openid,AdobeID")


def aep(url: str) -> AepClient:
    return AepClient(Platform(url, url, "ORG@AdobeOrg", "prod"), tokens=TokenCache())


def test_a_dripping_unis_is_cut_at_the_call_s_deadline() -> None:
    with serving(drip) as server:
        got = UnisClient(server.url).get("m1", Call(None, timeout_s=5.0, deadline_s=DEADLINE_S))
    assert got.kind is AnswerKind.TRANSIENT and "deadline" in got.message


def test_a_dripping_qrvey_is_cut_at_the_call_s_deadline() -> None:
    with serving(drip) as server:
        got = QrveyClient(server.url).call("GET", "/d", ApiKey("k" * 20), 5.0, time.monotonic() + DEADLINE_S, "read")
    assert isinstance(got, Answer) and got.kind is AnswerKind.TRANSIENT and "deadline" in got.message


def test_a_dripping_ims_is_cut_at_the_call_s_deadline() -> None:
    with serving(drip) as server:
        got = aep(server.url).request("GET", "/batches", AEP_CREDENTIALS, DEADLINE_S, "reading batches")
    assert isinstance(got, Answer) and got.kind is AnswerKind.TRANSIENT and "deadline" in got.message


def test_unis_and_qrvey_hand_retry_after_to_the_pipeline() -> None:
    busy = answer(503, b"busy", {"Retry-After": "7", "Content-Type": "text/plain"})
    with serving(busy) as server:
        unis = UnisClient(server.url).get("m1", Call(None, timeout_s=5.0, deadline_s=10.0))
        qrvey = QrveyClient(server.url).call("GET", "/d", ApiKey("k" * 20), 5.0, time.monotonic() + 10, "read")
    assert (unis.kind, unis.retry_after_s) == (AnswerKind.TRANSIENT, 7.0)
    # Qrvey's client hands the reply to its destination, which classifies it
    assert not isinstance(qrvey, Answer)
    assert classify(qrvey.status, qrvey.body, qrvey.headers, "read").retry_after_s == 7.0


def echo(conn: socket.socket, request: bytes) -> None:
    """IMS issues a token; the Platform fails with a page quoting the whole request, headers included."""
    head = request.split(b"\r\n", 1)[0]
    if b"/ims/token/v3" in head:
        if b"client_secret=" in request and b"scope=bad" in request:
            body = json.dumps({"error": "invalid_client", "error_description": request.decode()}).encode()
            status = 400
        else:
            body = json.dumps({"access_token": "tok-VERYSECRET-123", "expires_in": 3600}).encode()
            status = 200
    else:
        body, status = json.dumps({"title": "Internal error", "detail": request.decode()}).encode(), 500
    conn.sendall(
        f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    )


def test_an_echoed_request_never_puts_the_token_or_the_secret_in_an_answer() -> None:
    with serving(echo) as server:
        platform = aep(server.url).request("GET", "/batches", AEP_CREDENTIALS, 10.0, "reading batches")
        refused = aep(server.url).token(AepCredentials("client-1", SECRET, "bad"), 10.0)
    assert isinstance(platform, Answer) and platform.kind is AnswerKind.TRANSIENT
    assert "tok-VERYSECRET-123" not in platform.message and "[redacted]" in platform.message
    assert isinstance(refused, Answer)
    assert SECRET not in refused.message and quote_plus(SECRET) not in refused.message


def test_a_client_id_with_a_line_break_is_a_credentials_problem_not_a_connection_error() -> None:
    with serving(echo) as server:
        got = aep(server.url).request("GET", "/batches", AepCredentials("client\r\n1", SECRET, "x"), 10.0, "reading")
    assert isinstance(got, Answer) and got.kind is AnswerKind.PERMANENT
    assert "client_id" in got.message and "connection" not in got.message
