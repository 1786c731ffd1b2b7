"""The emulators' shared HTTP scaffolding (local_stack/http_server.py) over real HTTP."""

from __future__ import annotations

import http.client
from collections.abc import Iterator

import pytest

from local_stack.http_server import EmulatorHandler, ServedEmulator, ServerThread

pytestmark = pytest.mark.integration


class _Echo(ServedEmulator):
    def __init__(self) -> None:
        self.host, self.port = "127.0.0.1", 0
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []
        self._http = ServerThread(_EchoHandler, "echo-emulator")

    def start(self) -> str:
        self._serve()
        return self._running_url("/base")

    def stop(self) -> None:
        self._http.stop()


class _EchoHandler(EmulatorHandler[_Echo]):
    server_version = "Echo/1.0"

    def dispatch(self) -> None:
        body = self.read_body()
        self.emulator.seen.append((self.command, self.path, self.lower_headers(), body))
        if self.path == "/drop":
            self.drop_connection()
            return
        self.send_json(201, {"got": body.decode()}, [("X-Extra", "1")])


@pytest.fixture
def echo() -> Iterator[_Echo]:
    with _Echo() as running:
        yield running


def _connect(echo: _Echo) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(echo.host, echo.port, timeout=30)


def test_every_usual_method_reaches_dispatch_with_body_and_lower_case_headers(echo: _Echo) -> None:
    conn = _connect(echo)
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        conn.request(method, "/x?q=1", body=b"hi", headers={"X-Mixed-Case": "v"})
        response = conn.getresponse()
        assert response.status == 201
        assert response.read() == b'{"got": "hi"}'
        assert response.getheader("Content-Type") == "application/json"
        assert response.getheader("Content-Length") == "13"
        assert response.getheader("X-Extra") == "1"
        assert response.getheader("Server") == "Echo/1.0 "  # http.server joins an empty sys_version with a space
    conn.close()
    assert [(m, p, h["x-mixed-case"], b) for m, p, h, b in echo.seen] == [
        (method, "/x?q=1", "v", b"hi") for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
    ]


def test_methods_not_routed_keep_the_standard_501(echo: _Echo) -> None:
    conn = _connect(echo)
    conn.request("OPTIONS", "/x")
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == 501
    assert echo.seen == []


def test_drop_closes_the_connection_without_an_answer(echo: _Echo) -> None:
    conn = _connect(echo)
    conn.request("GET", "/drop")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        conn.getresponse()
    conn.close()


def test_lifecycle_binds_a_free_port_and_stop_is_idempotent() -> None:
    echo = _Echo()
    with pytest.raises(RuntimeError, match="call start"):
        echo._running_url()
    url = echo.start()
    assert echo.port != 0
    assert url == f"http://127.0.0.1:{echo.port}/base"
    assert echo.start() == url  # a second start keeps serving where it is
    assert not echo._http.stopping.is_set()
    echo.stop()
    assert echo._http.stopping.is_set()
    echo.stop()
    with pytest.raises(RuntimeError, match="call start"):
        echo._running_url()


def test_a_server_thread_refuses_a_second_start_while_serving() -> None:
    thread = ServerThread(_EchoHandler, "echo-emulator")
    echo = _Echo()
    thread.start(echo, "127.0.0.1", 0)
    try:
        with pytest.raises(RuntimeError, match="already serving"):
            thread.start(echo, "127.0.0.1", 0)
    finally:
        thread.stop()
