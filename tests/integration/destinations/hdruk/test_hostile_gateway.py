"""The Gateway client against servers on 127.0.0.1 that misbehave the way a broken Gateway or proxy would.

Every call ends in a classified answer (never an exception), within its deadline, with a body read only up to the
cap, and a success only with evidence. Each server speaks raw HTTP over a socket so it can lie about lengths,
reset, drip, or never accept."""

from __future__ import annotations

import contextlib
import gzip
import json
import shutil
import socket
import ssl
import struct
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.destinations.hdruk.client import MAX_ANSWER_BYTES, GatewayClient
from hdr_ingest.destinations.hdruk.credentials import AppCredentials
from hdr_ingest.destinations.hdruk.schema_pack import SchemaRef
from hdr_ingest.destinations.http import json_value

pytestmark = pytest.mark.integration

CREDENTIALS = AppCredentials("hgi-app-7c1d2e", "hgi-client-90ab3f")
SCHEMA = SchemaRef("HDRUK", "4.0.0")
DATASETID = "hgi-0001"
DOC = {"summary": {"title": "A dataset"}}
STOP_S = 30.0  # a dripping server gives up by itself after this long, whatever the client does

Handler = Callable[[socket.socket, bytes], None]


@dataclass
class Server:
    """One misbehaving HTTP server: ``handler(conn, request)`` writes whatever it likes."""

    handler: Handler
    sock: socket.socket = field(default_factory=lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    requests: list[bytes] = field(default_factory=list)
    cut_short: list[bool] = field(default_factory=list)  # per connection: the client went away mid-answer
    stopped: threading.Event = field(default_factory=threading.Event)
    greeting: bytes = b""  # sent as soon as a connection is accepted, before any request
    connections: list[int] = field(default_factory=list)  # one entry per connection accepted
    tls: ssl.SSLContext | None = None  # serve HTTPS with this context

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.sock.getsockname()[1]}/api/v1"

    def serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append(1)
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        if self.tls is not None:
            try:
                conn.settimeout(STOP_S)
                conn = self.tls.wrap_socket(conn, server_side=True)
            except OSError:
                conn.close()
                return
        with conn:
            conn.settimeout(STOP_S)
            if self.greeting:
                conn.sendall(self.greeting)
            while True:
                request = _read_request(conn)
                if request is None:
                    return
                self.requests.append(request)
                try:
                    self.handler(conn, request)
                except OSError:
                    self.cut_short.append(True)
                    return
                self.cut_short.append(False)


def _read_request(conn: socket.socket) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = conn.recv(65536)
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
        0,
    )
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head + b"\r\n\r\n" + body


@contextlib.contextmanager
def serving(handler: Handler, greeting: bytes = b"", tls: ssl.SSLContext | None = None) -> Iterator[Server]:
    server = Server(handler, greeting=greeting, tls=tls)
    server.sock.bind(("127.0.0.1", 0))
    server.sock.listen(8)
    server.sock.settimeout(0.2)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopped.set()
        server.sock.close()
        thread.join(STOP_S)


def answer(status: int, body: bytes, headers: dict[str, str] | None = None, length: int | None = None) -> Handler:
    """A handler sending one answer; ``length`` overrides the Content-Length it announces."""

    def handle(conn: socket.socket, _: bytes) -> None:
        lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body) if length is None else length}"]
        lines += [f"{k}: {v}" for k, v in (headers or {"Content-Type": "application/json"}).items()]
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        if length is not None and length > len(body):
            conn.shutdown(socket.SHUT_WR)  # the body ends here, before the length announced

    return handle


def json_answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Handler:
    return answer(status, json.dumps(body).encode(), headers)


def client(server: Server, **kwargs: Any) -> GatewayClient:
    return GatewayClient(server.url, connect_timeout_s=kwargs.pop("connect_timeout_s", 2.0), **kwargs)


def create(server: Server, **kwargs: Any) -> Answer:
    return client(server).create(DOC, SCHEMA, DATASETID, CREDENTIALS, 5.0, **kwargs)


def find(server: Server, **kwargs: Any) -> Answer:
    return client(server).find(DATASETID, CREDENTIALS, 5.0, **kwargs)


# --- 1. every failure of a call is classified ----------------------------------------------------------------


def test_a_body_shorter_than_its_content_length_is_transient_with_no_status() -> None:
    with serving(answer(201, b'{"message": "created", "da', length=200)) as server:
        got = create(server)
    assert got.kind is AnswerKind.TRANSIENT and got.http_status is None  # the POST may have created it
    assert "broke off" in got.message


def test_a_reset_mid_body_is_transient() -> None:
    def reset(conn: socket.socket, _: bytes) -> None:
        conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 5000\r\nContent-Type: application/json\r\n\r\n{"data"')
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends RST
        conn.close()

    with serving(reset) as server:
        got = find(server)
    assert got.kind is AnswerKind.TRANSIENT and got.http_status is None
    assert "did not answer" in got.message


def test_chunks_that_break_off_are_transient() -> None:
    def chunked(conn: socket.socket, _: bytes) -> None:
        conn.sendall(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{"data": []}')
        conn.shutdown(socket.SHUT_WR)

    with serving(chunked) as server:
        got = find(server)
    assert got.kind is AnswerKind.TRANSIENT and "broke off" in got.message


def test_a_body_that_is_not_the_gzip_it_claims_is_transient() -> None:
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    with serving(answer(201, b"\x1f\x8bnot gzip at all", headers)) as server:
        got = create(server)
    assert got.kind is AnswerKind.TRANSIENT and "compressed" in got.message


def test_a_gzipped_answer_is_read() -> None:
    body = gzip.compress(json.dumps({"message": "created", "data": 42, "version": 9}).encode())
    with serving(answer(201, body, {"Content-Type": "application/json", "Content-Encoding": "gzip"})) as server:
        got = create(server)
    assert (got.kind, got.record_id, got.record_version) == (AnswerKind.SUCCESS, 42, 1)


def test_tls_to_a_server_that_does_not_speak_it_is_a_transient_tls_failure() -> None:
    with serving(json_answer(200, {"data": []}), greeting=b"HTTP/1.1 400 Bad Request\r\n\r\n") as server:
        secure = GatewayClient(server.url.replace("http://", "https://"), connect_timeout_s=2.0)
        got = secure.find(DATASETID, CREDENTIALS, 5.0)
    assert got.kind is AnswerKind.TRANSIENT and "TLS failed" in got.message


def test_a_closed_port_is_tried_three_times_then_transient() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: refused, and no other process can take the port
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/api/v1"
        got = GatewayClient(url, connect_timeout_s=2.0).find(DATASETID, CREDENTIALS, 5.0)
    assert got.kind is AnswerKind.TRANSIENT and "could not connect" in got.message


def _forged(app_id: str) -> AppCredentials:
    """Credentials AppCredentials itself would refuse: to show the client never lets their error text out."""
    forged = object.__new__(AppCredentials)
    object.__setattr__(forged, "app_id", app_id)
    object.__setattr__(forged, "client_id", "hgi-client-90ab3f")
    return forged


@pytest.mark.parametrize("app_id", ["hgi-app\r\nX-Injected: 1", "hgi-app-\u2603-snow", "hgi-app\x00nul"])
def test_credentials_that_cannot_be_headers_are_permanent_and_never_quoted(app_id: str) -> None:
    with serving(json_answer(200, {"data": []})) as server:
        got = client(server).find(DATASETID, _forged(app_id), 5.0)
        assert server.requests == []  # nothing was sent
    assert got.kind is AnswerKind.PERMANENT and "secret" in got.message
    assert "hgi-app" not in got.message and "Injected" not in got.message


# --- 2. Retry-After reaches the caller --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_returned_not_slept_on(status: int) -> None:
    with serving(json_answer(status, {"message": "Too Many Attempts."}, {"Retry-After": "7"})) as server:
        got = create(server)
        assert len(server.requests) == 1  # urllib3 neither slept on it nor retried
    assert (got.kind, got.http_status, got.retry_after_s) == (AnswerKind.TRANSIENT, status, 7.0)
    assert "Retry-After 7 s" in got.message


def test_retry_after_as_a_date_is_seconds_from_now() -> None:
    headers = {"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT", "Content-Type": "application/json"}
    with serving(json_answer(503, {"message": "Service Unavailable"}, headers)) as server:
        got = find(server)
    assert got.kind is AnswerKind.TRANSIENT and got.retry_after_s is not None and got.retry_after_s > 0


# --- 3. a total deadline per call ---------------------------------------------------------------------------------


def drip(head: bytes, byte: bytes = b" ", every_s: float = 0.25, count: int = int(STOP_S / 0.25)) -> Handler:
    """Sends ``head``, then one byte every ``every_s``: never slower than a read timeout, never done."""

    def handle(conn: socket.socket, _request: bytes) -> None:
        conn.sendall(head)
        stopped = threading.Event()
        for _ in range(count):
            if stopped.wait(every_s):
                break
            conn.sendall(byte)

    return handle


def test_a_body_dripped_byte_by_byte_ends_at_the_deadline() -> None:
    head = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    with serving(drip(head)) as server:
        got = create(server, deadline_s=1.0)
        server.stopped.set()
    assert got.kind is AnswerKind.TRANSIENT and got.http_status is None
    assert "deadline" in got.message


def test_headers_dripped_byte_by_byte_end_at_the_deadline() -> None:
    with serving(drip(b"HTTP/1.1 200 OK\r\nX-Slow: ", byte=b"a")) as server:
        got = find(server, deadline_s=1.0)
    assert got.kind is AnswerKind.TRANSIENT and "deadline" in got.message


def test_without_a_deadline_the_call_ends_after_connect_and_read_timeouts() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    with serving(drip(head)) as server:  # a byte every 0.25 s: the 2 s read timeout fires only if it is 1.75 s late
        got = GatewayClient(server.url, connect_timeout_s=0.5).find(DATASETID, CREDENTIALS, 2.0)
    assert got.kind is AnswerKind.TRANSIENT and "deadline" in got.message  # the call's default: 0.5 + 2.0 s


def test_the_connection_after_an_expired_call_is_not_reused() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    calls: list[int] = []

    def first_drips(conn: socket.socket, request: bytes) -> None:
        calls.append(1)
        if len(calls) == 1:
            drip(head, count=8)(conn, request)
            return
        json_answer(200, {"data": [{"id": 3, "datasetid": DATASETID}]})(conn, request)

    with serving(first_drips) as server:
        gateway = client(server)
        expired = gateway.find(DATASETID, CREDENTIALS, 5.0, deadline_s=0.8)
        again = gateway.find(DATASETID, CREDENTIALS, 5.0, deadline_s=10.0)
    assert expired.kind is AnswerKind.TRANSIENT
    assert (again.kind, again.record_id, again.found) == (AnswerKind.SUCCESS, 3, True)
    assert len(server.connections) == 2  # the shut-down connection was not handed to the next call


def test_answers_read_to_their_end_keep_the_connection_for_the_next_call() -> None:
    with serving(json_answer(200, {"data": [{"id": 3, "datasetid": DATASETID}]})) as server:
        gateway = client(server)
        answers = [gateway.find(DATASETID, CREDENTIALS, 5.0, deadline_s=10.0) for _ in range(3)]
    assert all(a.found for a in answers)
    assert len(server.connections) == 1


def test_threads_sharing_a_client_only_lose_their_own_slow_calls() -> None:
    """Records are processed in threads over one pool: a watchdog shuts down its own call's socket only."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"

    def by_datasetid(conn: socket.socket, request: bytes) -> None:
        if b"dataset_id=slow" in request:
            drip(head, count=12)(conn, request)
            return
        json_answer(200, {"data": [{"id": 5, "datasetid": "fast"}]})(conn, request)

    results: list[tuple[str, Answer]] = []

    def work(gateway: GatewayClient, index: int) -> None:
        for call in range(4):
            name = "slow" if (index + call) % 3 == 0 else "fast"
            results.append((name, gateway.find(name, CREDENTIALS, 5.0, deadline_s=0.6 if name == "slow" else 20.0)))

    with serving(by_datasetid) as server:
        gateway = GatewayClient(server.url, connect_timeout_s=2.0, pool_size=4)
        threads = [threading.Thread(target=work, args=(gateway, i)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(STOP_S)
    assert len(results) == 16
    for name, got in results:
        if name == "fast":
            assert (got.kind, got.record_id) == (AnswerKind.SUCCESS, 5), got.message
        else:
            assert got.kind is AnswerKind.TRANSIENT and "deadline" in got.message


@pytest.fixture
def unaccepting() -> Iterator[str]:
    """A port whose accept queue is full: a new connection is never completed."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    try:
        yield f"http://127.0.0.1:{port}/api/v1"
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def test_a_connect_that_never_completes_is_capped_by_the_deadline(
    unaccepting: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = GatewayClient(unaccepting, connect_timeout_s=20.0)
    timeouts: list[tuple[float, float]] = []
    real = gateway.transport.session.request

    def spy(*args: Any, **kwargs: Any) -> requests.Response:
        timeouts.append(kwargs["timeout"])
        return real(*args, **kwargs)

    monkeypatch.setattr(gateway.transport.session, "request", spy)
    got = gateway.find(DATASETID, CREDENTIALS, 20.0, deadline_s=1.0)
    assert got.kind is AnswerKind.TRANSIENT and "connect" in got.message
    assert timeouts and all(connect <= 1.0 for connect, _ in timeouts)  # never the 20 s connect timeout
    # no attempt starts once the deadline is used up: the connect timeouts add up to at most the deadline
    assert sum(connect for connect, _ in timeouts) <= 1.0 + 0.05 * len(timeouts)


# --- 4. answers read up to a cap -------------------------------------------------------------------------------------


def big(announce: bool) -> Handler:
    """A 50 MB lookup answer, with or without a Content-Length."""
    total, piece = 50 * 1024 * 1024, b"x" * 65536

    def handle(conn: socket.socket, _request: bytes) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        head += f"Content-Length: {total}\r\n".encode() if announce else b"Connection: close\r\n"
        conn.sendall(head + b'\r\n{"data": ["')
        for _ in range(total // len(piece)):
            conn.sendall(piece)

    return handle


@pytest.mark.parametrize("announce", [True, False], ids=["content-length", "until-close"])
def test_a_50_mb_lookup_answer_is_not_read_whole(announce: bool) -> None:
    with serving(big(announce)) as server:
        got = find(server)
        server.stopped.set()
    assert got.kind is AnswerKind.TRANSIENT and got.http_status is None
    assert "size cap" in got.message and '{"data": [' in got.message.replace("'", '"')
    assert server.cut_short in ([], [True])  # the server could not send it all: the client went away


def test_an_error_over_the_cap_is_classified_by_its_status_with_its_first_bytes() -> None:
    body = b"<html>" + b"e" * (MAX_ANSWER_BYTES + 10)
    with serving(answer(400, body, {"Content-Type": "text/html"})) as server:
        got = create(server)
    assert got.kind is AnswerKind.PERMANENT and got.http_status == 400 and "<html>eee" in got.message
    assert len(got.message) < 1000


# --- 5. success needs evidence ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"<html><body>Welcome</body></html>", b'{"message": "created", "data": 4', b"\xff\xfe"],
    ids=["html", "truncated-json", "not-utf8"],
)
def test_an_unreadable_201_is_transient_and_unanswered(body: bytes) -> None:
    with serving(answer(201, body, {"Content-Type": "text/html"})) as server:
        got = create(server)
    assert got.kind is AnswerKind.TRANSIENT and got.http_status is None and "HTTP 201" in got.message


@pytest.mark.parametrize(
    "body",
    [{}, {"data": "abc"}, {"data": -5}, {"data": True}, {"data": 10**40}, {"data": 0}, [42], {"data": 4.0}],
    ids=["empty", "string", "negative", "bool", "huge", "zero", "list", "float"],
)
def test_a_201_without_a_dataset_id_is_permanent_with_the_body_quoted(body: Any) -> None:
    with serving(json_answer(201, body)) as server:
        got = create(server)
    assert got.kind is AnswerKind.PERMANENT and got.http_status == 201 and got.record_id is None
    # Quoted as read: an integer past 64 bits is a double (http.json_value), so 10**40 is quoted as 1e+40.
    assert json.dumps(json_value(json.dumps(body)))[:20] in got.message


def test_an_update_answered_for_another_dataset_is_permanent() -> None:
    with serving(json_answer(200, {"message": "success", "data": {"id": 999, "versions": [{"version": 2}]}})) as s:
        got = client(s).update(42, DOC, SCHEMA, CREDENTIALS, 5.0)
    assert got.kind is AnswerKind.PERMANENT and "999" in got.message and "42" in got.message


def test_an_update_with_versions_but_no_version_number_is_permanent() -> None:
    with serving(json_answer(200, {"message": "success", "data": {"id": 42, "versions": [{"version": True}]}})) as s:
        got = client(s).update(42, DOC, SCHEMA, CREDENTIALS, 5.0)
    assert got.kind is AnswerKind.PERMANENT and "version" in got.message


def test_an_update_with_evidence_succeeds() -> None:
    with serving(json_answer(200, {"message": "success", "data": {"id": 42, "versions": [{"version": 5}]}})) as s:
        got = client(s).update(42, DOC, SCHEMA, CREDENTIALS, 5.0, deadline_s=10.0)
    assert (got.kind, got.record_id, got.record_version) == (AnswerKind.SUCCESS, 42, 5)


def test_an_archive_answered_with_html_is_transient() -> None:
    with serving(answer(200, b"<html>ok</html>", {"Content-Type": "text/html"})) as server:
        got = client(server).archive(42, CREDENTIALS, 5.0)
    assert got.kind is AnswerKind.TRANSIENT


# --- 6. a lookup is trusted only for our datasetid ------------------------------------------------------------------


def test_a_lookup_listing_another_datasetid_is_not_ours() -> None:
    listed = {"data": [{"id": 999, "datasetid": "someone-else", "deleted_at": None, "status": "ACTIVE"}]}
    with serving(json_answer(200, listed)) as server:
        got = find(server)
    assert (got.kind, got.record_id, got.found) == (AnswerKind.SUCCESS, None, False)
    assert "another datasetid ignored" in got.message


def test_a_lookup_picks_ours_among_others() -> None:
    listed = {
        "data": [
            {"id": 999, "datasetid": "someone-else"},
            {"id": 7, "datasetid": DATASETID, "versions": [{"version": 4}]},
        ]
    }
    with serving(json_answer(200, listed)) as server:
        got = find(server)
    assert (got.kind, got.record_id, got.record_version, got.found) == (AnswerKind.SUCCESS, 7, 4, True)


@pytest.mark.parametrize("body", [b"<html>Sign in</html>", b'{"data": [{"id": 7, "data', b""])
def test_an_unreadable_lookup_is_transient_not_not_found(body: bytes) -> None:
    with serving(answer(200, body, {"Content-Type": "text/html"})) as server:
        got = find(server)
    assert got.kind is AnswerKind.TRANSIENT and got.record_id is None


def test_a_lookup_of_our_dataset_without_a_usable_id_is_permanent() -> None:
    with serving(json_answer(200, {"data": [{"id": "7", "datasetid": DATASETID}]})) as server:
        got = find(server)
    assert got.kind is AnswerKind.PERMANENT


# --- the same over TLS (the Gateway is HTTPS): the watchdog shuts a TLS socket down too -------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
    command += ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        command,
        check=True,
        capture_output=True,
    )
    return cert, key


def tls_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def tls_client(server: Server, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> GatewayClient:
    """A client that trusts the test certificate, and only it (requests prefers REQUESTS_CA_BUNDLE, when set, to
    the session's own ``verify``)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    gateway = client(server)
    gateway.transport.session.verify = str(certificate[0])
    return gateway


def test_a_tls_answer_dripped_byte_by_byte_ends_at_the_deadline(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    head = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    with serving(drip(head), tls=tls_context(certificate)) as server:
        gateway = tls_client(server, certificate, monkeypatch)
        got = gateway.create(DOC, SCHEMA, DATASETID, CREDENTIALS, 5.0, deadline_s=1.0)
        ok = json_answer(201, {"message": "created", "data": 8, "version": 1})
        server.handler = ok
        after = gateway.create(DOC, SCHEMA, DATASETID, CREDENTIALS, 5.0, deadline_s=10.0)
    assert got.kind is AnswerKind.TRANSIENT and "deadline" in got.message
    assert (after.kind, after.record_id) == (AnswerKind.SUCCESS, 8)  # the next call works, on a new connection


def test_a_certificate_that_is_not_trusted_is_a_tls_failure(certificate: tuple[Path, Path]) -> None:
    with serving(json_answer(200, {"data": []}), tls=tls_context(certificate)) as server:
        got = client(server).find(DATASETID, CREDENTIALS, 5.0)  # the system's trust store: self-signed refused
        assert server.requests == []
    assert got.kind is AnswerKind.TRANSIENT and "certificate verify failed" in got.message
