"""The HTTP scaffolding the local emulators share: a threaded server holding its emulator, a request handler base
and a background serving thread.

An emulator subclasses :class:`EmulatorHandler` (setting ``server_version`` and writing
:meth:`~EmulatorHandler.dispatch`, which the HTTP methods call), keeps a :class:`ServerThread` for its
``start()``/``stop()`` and inherits :class:`ServedEmulator` (``with`` and the running-URL check).  What an emulator
answers, and the order of its headers, stays in the emulator: this module only reads requests and writes what it is
given.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Generic, Self, TypeVar, cast

__all__ = ["EmulatorHandler", "EmulatorServer", "ServedEmulator", "ServerThread"]

E = TypeVar("E")

POLL_INTERVAL_S = 0.05
JOIN_TIMEOUT_S = 5.0


class EmulatorServer(ThreadingHTTPServer, Generic[E]):
    """A ``ThreadingHTTPServer`` (daemon request threads, address reuse) that carries the emulator it serves."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[EmulatorHandler[E]], emulator: E) -> None:
        self.emulator = emulator
        super().__init__(address, handler)


class EmulatorHandler(BaseHTTPRequestHandler, Generic[E]):
    """HTTP/1.1 keep-alive, silent, Nagle off; GET, POST, PUT, PATCH and DELETE call :meth:`dispatch`.

    Other methods keep ``BaseHTTPRequestHandler``'s answer (501 Unsupported method) unless a subclass routes them
    too (``do_HEAD = EmulatorHandler.do_GET``).
    """

    protocol_version = "HTTP/1.1"
    sys_version = ""
    # Headers and body are written separately: with Nagle's algorithm on, the client's delayed ACK holds every
    # answer for about 40 ms on loopback, which no real server does.
    disable_nagle_algorithm = True
    timeout = 60  # idle keep-alive connections are closed after a minute

    def dispatch(self) -> None:
        """Answer the request in ``self.command``/``self.path`` (subclasses write this)."""
        raise NotImplementedError(f"{type(self).__name__} must define dispatch()")

    def do_GET(self) -> None:
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    @property
    def emulator(self) -> E:
        """The emulator this handler's server was built with."""
        return cast("EmulatorServer[E]", self.server).emulator

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def read_body(self) -> bytes:
        """The request body as ``Content-Length`` says (no header, or 0: empty)."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def lower_headers(self) -> dict[str, str]:
        """The request headers with lower-case names (a repeated header: the last value)."""
        return {name.lower(): value for name, value in self.headers.items()}

    def drop_connection(self) -> None:
        """Close the connection without an answer (the ``drop`` fault)."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def send_reply(
        self, status: int, headers: Iterable[tuple[str, str]], payload: bytes, write_body: bool = True
    ) -> None:
        """Write the status line, ``headers`` in the order given, and ``payload`` (unless ``write_body`` is false)."""
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if write_body:
            self.wfile.write(payload)

    def send_json(
        self, status: int, body: Any, headers: Iterable[tuple[str, str]] = (), write_body: bool = True
    ) -> None:
        """``body`` as JSON: ``Content-Type: application/json``, ``Content-Length``, then ``headers``."""
        payload = json.dumps(body).encode("utf-8")
        head = [("Content-Type", "application/json"), ("Content-Length", str(len(payload))), *headers]
        self.send_reply(status, head, payload, write_body)


class ServerThread(Generic[E]):
    """Serves one emulator on a daemon thread: ``start()`` binds and returns the port, ``stop()`` shuts down.

    ``stopping`` is set from the start of ``stop()`` until the next ``start()``: requests still running (a kept-alive
    connection, a fault's sleep) wait on it to end early.
    """

    def __init__(self, handler: type[EmulatorHandler[E]], name: str) -> None:
        self._handler = handler
        self._name = name
        self._server: EmulatorServer[E] | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self, emulator: E, host: str, port: int) -> int:
        """Bind ``host:port`` (0: any free port) and serve ``emulator``; returns the bound port."""
        if self._server is not None:
            raise RuntimeError(f"{self._name} is already serving; call stop() first")
        self.stopping.clear()
        server = EmulatorServer((host, port), self._handler, emulator)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": POLL_INTERVAL_S}, name=self._name, daemon=True
        )
        self._thread.start()
        return int(server.server_address[1])

    def stop(self) -> None:
        """Set ``stopping``, stop accepting, close the socket, wait (up to 5 s) for the serving thread; idempotent."""
        self.stopping.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=JOIN_TIMEOUT_S)
            self._thread = None


class ServedEmulator:
    """The context-manager protocol and URL of an emulator served by a :class:`ServerThread` in ``self._http``.

    ``with Emulator() as emulator:`` calls ``start()`` and, on the way out, ``stop()``; subclasses write both.
    """

    host: str
    port: int
    _http: ServerThread[Any]

    def start(self) -> object:
        raise NotImplementedError(f"{type(self).__name__} must define start()")

    def stop(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define stop()")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _serve(self) -> None:
        """Start serving on ``host:port`` unless already serving; ``port`` becomes the bound port (for port 0)."""
        if not self._http.running:
            self.port = self._http.start(self, self.host, self.port)

    def _running_url(self, path: str = "") -> str:
        """``http://host:port`` + ``path``; raises ``RuntimeError`` when the emulator is not serving."""
        if not self._http.running:
            raise RuntimeError("the emulator is not running; call start() first")
        return f"http://{self.host}:{self.port}{path}"
