"""HTTP adapter for the Gateway's integrations API (``/integrations/datasets``).

Every call ends in a :class:`GatewayAnswer`, never an exception: whatever ``requests``, ``urllib3`` or the socket
raise is classified. Each call has a total deadline (connect, send, and the whole answer): a watchdog shuts the
call's socket down when it passes, so a server dripping bytes cannot keep a call alive. Answers are read up to a
cap, and a success counts only with evidence (see :func:`answers.classify`)."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, HTTPError, ReadTimeoutError
from urllib3.poolmanager import PoolManager
from urllib3.util.retry import Retry

from hdr_ingest.core.verification import Held, ReadBack
from hdr_ingest.destinations.hdruk.answers import AnswerKind, GatewayAnswer, answer_for, lookup_answer, transient
from hdr_ingest.destinations.hdruk.credentials import AppCredentials, value_problem
from hdr_ingest.destinations.hdruk.datasets_route import as_versions, not_there
from hdr_ingest.destinations.hdruk.options import HeaderStyle
from hdr_ingest.destinations.hdruk.readback import held, shown_version
from hdr_ingest.destinations.hdruk.schema_pack import SchemaRef

USER_AGENT = "hdr-gateway-ingest/0.1"
MAX_ANSWER_BYTES = 2 * 1024 * 1024  # an answer to a create, archive or unarchive, and a lookup, is read up to this
CONNECT_ATTEMPTS = 3  # a connection that could not be made is tried again (the request never left), in the deadline
CONNECT_BACKOFF_S = 0.2
_CHUNK = 64 * 1024


class _Watch:
    """The sockets of one call, shut down when the call's deadline passes (a blocked read or send then ends)."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = False
        self._done = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Watch:
        _current.watch = self
        self._timer.start()
        return self

    def __exit__(self, *_: object) -> None:
        # After this, the watchdog never touches the sockets: the connection may go back to the pool.
        with self._lock:
            self._done = True
        self._timer.cancel()
        _current.watch = None

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            if sock not in self._sockets:
                self._sockets.append(sock)
            if self.expired and not self._done:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


_current = threading.local()  # .watch: the _Watch of the call this thread is making


def _watched(connection: HTTPConnection) -> None:
    watch: _Watch | None = getattr(_current, "watch", None)
    sock = connection.sock
    if watch is not None and sock is not None:
        watch.add(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _watched(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watched(self)  # a pooled connection, already open
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _watched(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watched(self)
        super().request(*args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _Adapter(HTTPAdapter):
    """Connections whose sockets a call's watchdog can shut down."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _watch_pools(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        _watch_pools(manager)
        return manager


def _watch_pools(manager: PoolManager) -> None:
    manager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


def _session(pool_size: int = 4) -> requests.Session:
    session = requests.Session()
    # No retries inside urllib3: a connection that could not be made is tried again by the client, within the
    # call's deadline. Nothing else is retried here (the pipeline knows whether a retry could duplicate), and a
    # Retry-After is the pipeline's to honour (urllib3 would sleep, then raise RetryError).
    retry = Retry(total=0, connect=0, read=0, redirect=0, status=0, other=0, respect_retry_after_header=False)
    # pool_maxsize: connections kept per host, at least one per record processed at once (RECORD_CONCURRENCY);
    # with fewer, the threads beyond it would open a new connection (TLS handshake) for every call.
    adapter = _Adapter(max_retries=retry, pool_connections=2, pool_maxsize=max(4, pool_size))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
    return session


class _NotSent(Exception):
    """The connection could not be made: the request never reached the Gateway (safe to try again)."""

    def __init__(self, answer: GatewayAnswer) -> None:
        super().__init__(answer.message)
        self.answer = answer


class _Reply:
    def __init__(self, status: int, raw: bytes, headers: dict[str, str], complete: bool) -> None:
        self.status, self.raw, self.headers, self.complete = status, raw, headers, complete


class GatewayClient:
    """One ``requests`` session (connection reuse) per container, shared by the threads that process records at
    once (``pool_size`` of them).

    Every public call takes ``read_timeout_s`` (the longest wait for one read) and an optional ``deadline_s``
    (seconds from now that the whole call, connection retries included, never outlives; without it, the connect
    timeout plus ``read_timeout_s``)."""

    collection = "/integrations/datasets"  # the route's datasets, under the base URL (DatasetsClient: /datasets)

    def __init__(
        self,
        base_url: str,
        header_style: HeaderStyle = HeaderStyle.X_HEADERS,
        connect_timeout_s: float = 3.05,
        session: requests.Session | None = None,
        pool_size: int = 4,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.host = urlsplit(self.base_url).netloc
        self.header_style = header_style
        self.connect_timeout_s = connect_timeout_s
        self.max_answer_bytes = max_answer_bytes
        self.session = session or _session(pool_size)

    def _headers(self, credentials: AppCredentials) -> dict[str, str]:
        if self.header_style is HeaderStyle.LEGACY:
            return {"app_id": credentials.app_id, "client_id": credentials.client_id}
        return {"x-application-id": credentials.app_id, "x-client-id": credentials.client_id}

    @staticmethod
    def _schema_params(schema: SchemaRef | None) -> dict[str, str]:
        # An explicit schema gives real validation errors and spares the Gateway its first-match detection
        # (which can hang on HDRUK 3.0.0 revision URLs).
        return {"input_schema": schema.name, "input_version": schema.version} if schema else {}

    def _call(
        self,
        method: str,
        path: str,
        credentials: AppCredentials,
        read_timeout_s: float,
        deadline_s: float | None,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        echoed: bool = False,
    ) -> _Reply | GatewayAnswer:
        """The raw answer, or the failure (TRANSIENT or PERMANENT) when there is no complete one in time.
        ``echoed``: the answer carries the document back (an update), so the cap allows for twice its size."""
        if any(value_problem(value) for value in credentials.secret_values()):
            return GatewayAnswer(AnswerKind.PERMANENT, None, _CREDENTIALS_UNSENDABLE.format("refused before sending"))
        started = time.monotonic()
        total = deadline_s if deadline_s is not None else self.connect_timeout_s + read_timeout_s
        deadline = started + max(0.0, total)
        headers = self._headers(credentials)
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        request = (method, f"{self.base_url}{path}", params, data, headers)
        cap = self.max_answer_bytes + (2 * len(data) if echoed and data else 0)
        failure = transient(f"no time left before the call's deadline of {total:g} s")
        for attempt in range(CONNECT_ATTEMPTS):
            if attempt and time.monotonic() + CONNECT_BACKOFF_S * attempt < deadline:
                time.sleep(CONNECT_BACKOFF_S * attempt)
            left = deadline - time.monotonic()
            if left <= 0.01:
                return failure
            try:
                return self._attempt(request, read_timeout_s, left, deadline, cap)
            except _NotSent as not_sent:
                failure = not_sent.answer
        return failure

    def _attempt(
        self,
        request: tuple[str, str, dict[str, Any] | None, bytes | None, dict[str, str]],
        read_timeout_s: float,
        left: float,
        deadline: float,
        cap: int,
    ) -> _Reply | GatewayAnswer:
        method, url, params, data, headers = request
        response: requests.Response | None = None
        reply: _Reply | None = None
        watch = _Watch(deadline)
        try:
            with watch:
                try:
                    response = self.session.request(
                        method,
                        url,
                        params=params,
                        data=data,
                        headers=headers,
                        timeout=(min(self.connect_timeout_s, left), max(0.01, min(read_timeout_s, left))),
                        # requests keeps custom headers (x-client-id, ...) on a redirect to another host: never
                        # follow one.
                        allow_redirects=False,
                        stream=True,
                    )
                    raw, complete = _read(response, cap)
                    reply = _Reply(response.status_code, raw, dict(response.headers), complete)
                except Exception as exc:  # noqa: BLE001 - every failure of a call becomes an answer
                    failure = failure_answer(exc)
                    if _never_sent(exc):
                        raise _NotSent(failure) from None
                    if watch.expired:
                        return transient(f"no complete answer within the call's deadline ({type(exc).__name__})")
                    return failure
            # The watchdog is done: from here the connection can go back to the pool.
            if watch.expired:  # the socket was shut down: what was read may be cut short without an error
                return transient("no complete answer within the call's deadline")
            return reply
        finally:
            _close(response, reuse=reply is not None and reply.complete and not watch.expired)

    def create(
        self,
        document: dict[str, Any],
        schema: SchemaRef | None,
        datasetid: str,
        credentials: AppCredentials,
        read_timeout_s: float,
        *,
        deadline_s: float | None = None,
    ) -> GatewayAnswer:
        body = {"metadata": {"metadata": document}, "datasetid": datasetid, "status": "ACTIVE"}
        reply = self._call(
            "POST",
            self.collection,
            credentials,
            read_timeout_s,
            deadline_s,
            self._schema_params(schema),
            body,
        )
        if isinstance(reply, GatewayAnswer):
            return reply
        return answer_for(reply.status, reply.raw, reply.headers, complete=reply.complete)

    def update(
        self,
        dataset_id: int,
        document: dict[str, Any],
        schema: SchemaRef | None,
        credentials: AppCredentials,
        read_timeout_s: float,
        *,
        deadline_s: float | None = None,
    ) -> GatewayAnswer:
        body = {"metadata": {"metadata": document}, "status": "ACTIVE"}
        reply = self._call(
            "PUT",
            f"{self.collection}/{dataset_id}",
            credentials,
            read_timeout_s,
            deadline_s,
            self._schema_params(schema),
            body,
            echoed=True,  # an update answers the dataset with its metadata (as the Gateway translated it)
        )
        if isinstance(reply, GatewayAnswer):
            return reply
        return answer_for(reply.status, reply.raw, reply.headers, complete=reply.complete, expected_id=dataset_id)

    def find(
        self,
        datasetid: str,
        credentials: AppCredentials,
        read_timeout_s: float,
        *,
        deadline_s: float | None = None,
    ) -> GatewayAnswer:
        """Look a dataset up by the custodian id it was created with (archived ones included)."""
        reply = self._call(
            "GET",
            self.collection,
            credentials,
            read_timeout_s,
            deadline_s,
            {"dataset_id": datasetid, "withTrashed": 1, "per_page": 5},
        )
        if isinstance(reply, GatewayAnswer):
            return reply
        return lookup_answer(reply.status, reply.raw, reply.headers, complete=reply.complete, datasetid=datasetid)

    def archive(
        self,
        dataset_id: int,
        credentials: AppCredentials,
        read_timeout_s: float,
        *,
        deadline_s: float | None = None,
    ) -> GatewayAnswer:
        """DELETE: the Gateway archives (soft-deletes) the dataset."""
        reply = self._call("DELETE", f"{self.collection}/{dataset_id}", credentials, read_timeout_s, deadline_s)
        if isinstance(reply, GatewayAnswer):
            return reply
        return answer_for(reply.status, reply.raw, reply.headers, complete=reply.complete, needs_id=False)

    def unarchive(
        self,
        dataset_id: int,
        credentials: AppCredentials,
        read_timeout_s: float,
        *,
        deadline_s: float | None = None,
    ) -> GatewayAnswer:
        """The integrations routes cannot un-archive; ``PATCH /datasets/{id}?unarchive`` can, with app headers."""
        reply = self._call(
            "PATCH",
            f"/datasets/{dataset_id}",
            credentials,
            read_timeout_s,
            deadline_s,
            {"unarchive": 1},
            {"status": "ACTIVE"},
        )
        if isinstance(reply, GatewayAnswer):
            return reply
        return answer_for(reply.status, reply.raw, reply.headers, complete=reply.complete, needs_id=False)

    def show(
        self, dataset_id: int, credentials: AppCredentials, read_timeout_s: float, *, deadline_s: float | None = None
    ) -> ReadBack:
        """``GET /datasets/{id}`` (public, on either route): what the Gateway holds (``readback.held``)."""
        reply = self._call("GET", f"/datasets/{dataset_id}", credentials, read_timeout_s, deadline_s)
        if isinstance(reply, GatewayAnswer):
            return ReadBack(Held.UNKNOWN, message=reply.message)
        return held(reply.status, reply.raw, reply.complete, dataset_id)


def _read(response: requests.Response, cap: int) -> tuple[bytes, bool]:
    """The body, read in chunks up to ``cap`` bytes (decoded); False when there was more."""
    declared = response.headers.get("Content-Length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > cap:
        first = response.raw.read(1024, decode_content=True) if response.raw is not None else b""
        return bytes(first or b""), False
    if response.raw is None:  # an adapter that answers without a connection (tests)
        content = response.content or b""
        return content[:cap], len(content) <= cap
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(_CHUNK):
        chunks.append(chunk)
        size += len(chunk)
        if size > cap:
            return b"".join(chunks)[:cap], False
    return b"".join(chunks), True


def _close(response: requests.Response | None, reuse: bool) -> None:
    """Give the connection back to the pool (``reuse``: an answer read to its end, in time) or close it."""
    if response is None or response.raw is None:
        return
    try:
        if not reuse:
            response.raw.close()  # closes the connection too: the pool makes a new one next time
        response.close()
    except Exception:  # noqa: BLE001, S110 - closing a broken connection may fail; nothing to do about it
        pass


def _root(exc: BaseException) -> BaseException:
    """The innermost cause that requests and urllib3 wrapped (MaxRetryError.reason, ProtocolError's args, ...)."""
    seen = exc
    for _ in range(6):
        reason = getattr(seen, "reason", None)
        inner = reason if isinstance(reason, BaseException) else None
        if inner is None:
            inner = next((a for a in reversed(seen.args) if isinstance(a, BaseException)), None)
        if inner is None:
            inner = seen.__cause__
        if inner is None or inner is seen:
            return seen
        seen = inner
    return seen


def _never_sent(exc: BaseException) -> bool:
    """The connection was never made, so the request never left: trying again cannot duplicate anything."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError) or isinstance(
        exc, requests.exceptions.SSLError | requests.exceptions.ProxyError
    ):
        return False
    wrapped = exc.args[0] if exc.args else None
    return isinstance(getattr(wrapped, "reason", None), ConnectTimeoutError)


_CREDENTIALS_UNSENDABLE = (
    "The Gateway app's credentials cannot be sent as HTTP headers ({}): the secret's app_id or client_id holds a "
    "line break, a control or a non-ASCII character. Copy both values again from the team's Integrations > "
    "Applications page into the secret."
)


def failure_answer(exc: BaseException) -> GatewayAnswer:  # noqa: C901 - one branch per requests/urllib3 failure
    """What a call that raised means. The exception's own text is never used where it could quote a header value
    (``InvalidHeader`` does, with the credentials in it); only its type, and a TLS failure's reason."""
    name, root = type(exc).__name__, _root(exc)
    rex = requests.exceptions
    if isinstance(exc, rex.InvalidHeader | UnicodeEncodeError) or (
        isinstance(exc, ValueError) and "header" in str(exc).lower()
    ):
        return GatewayAnswer(AnswerKind.PERMANENT, None, _CREDENTIALS_UNSENDABLE.format(name))
    if isinstance(exc, rex.InvalidURL | rex.MissingSchema | rex.InvalidSchema | rex.URLRequired | rex.InvalidJSONError):
        return GatewayAnswer(
            AnswerKind.PERMANENT, None, f"The request to the Gateway could not be made ({name}): check GATEWAY_URL."
        )
    if isinstance(exc, rex.TooManyRedirects):
        return GatewayAnswer(AnswerKind.PERMANENT, None, f"The Gateway redirected the request ({name}).")
    if isinstance(exc, rex.SSLError):
        return transient(f"TLS failed: {_clip(str(root))}")
    if isinstance(exc, rex.ConnectTimeout):
        return transient("timed out connecting")
    if isinstance(exc, rex.Timeout) or isinstance(root, ReadTimeoutError | TimeoutError):
        return transient("timed out")
    if isinstance(exc, rex.ChunkedEncodingError):
        return transient(
            f"the answer broke off before its end, shorter than announced or reset mid-body ({name}: "
            f"{type(root).__name__})"
        )
    if isinstance(exc, rex.ContentDecodingError):
        return transient(f"the answer's compressed body could not be decoded ({name})")
    if isinstance(exc, rex.RetryError):
        return transient(f"{name}: {type(root).__name__}")
    if isinstance(exc, rex.ProxyError):
        return transient(f"the proxy to the Gateway failed ({type(root).__name__})")
    if isinstance(exc, rex.ConnectionError):
        if _never_sent(exc):
            return transient(f"could not connect ({type(root).__name__})")
        return transient(f"connection error: {type(root).__name__}")
    if isinstance(exc, rex.RequestException | HTTPError | OSError):
        return transient(f"{name}: {type(root).__name__}")
    return transient(f"unexpected {name}")


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


class DatasetsClient(GatewayClient):
    """The successor route ``/api/v1/datasets`` (route option ``"api": "datasets"``): the same app headers,
    bodies and create answer; its differences are read by :mod:`.datasets_route`."""

    collection = "/datasets"

    def update(
        self,
        dataset_id: int,
        document: dict[str, Any],
        schema: SchemaRef | None,
        credentials: AppCredentials,
        read_timeout_s: float,
        *,
        deadline_s: float | None = None,
    ) -> GatewayAnswer:
        """PUT answers ``{"message":"success"}`` alone: the new version number is then read from the public GET
        (unknown, and the answer still a success, when that read fails)."""
        body = {"metadata": {"metadata": document}, "status": "ACTIVE"}
        path = f"{self.collection}/{dataset_id}"
        params = self._schema_params(schema)
        started = time.monotonic()
        reply = self._call("PUT", path, credentials, read_timeout_s, deadline_s, params, body)
        if isinstance(reply, GatewayAnswer):
            return reply
        answer = not_there(answer_for(reply.status, reply.raw, reply.headers, complete=reply.complete, needs_id=False))
        if answer.kind is not AnswerKind.SUCCESS:
            return answer
        left = None if deadline_s is None else deadline_s - (time.monotonic() - started)
        shown = self._call("GET", path, credentials, read_timeout_s, left) if left is None or left > 0.05 else None
        version = shown_version(shown.raw) if isinstance(shown, _Reply) and shown.status == 200 else None
        return replace(answer, dataset_id=dataset_id, dataset_version=version)

    def find(
        self, datasetid: str, credentials: AppCredentials, read_timeout_s: float, *, deadline_s: float | None = None
    ) -> GatewayAnswer:
        """``GET /datasets?dataset_id=...&withTrashed=1``: the items carry ``latest_metadata``."""
        params = {"dataset_id": datasetid, "withTrashed": 1, "per_page": 5}
        reply = self._call("GET", self.collection, credentials, read_timeout_s, deadline_s, params)
        if isinstance(reply, GatewayAnswer):
            return reply
        raw = as_versions(reply.raw) if reply.complete else reply.raw
        return lookup_answer(reply.status, raw, reply.headers, complete=reply.complete, datasetid=datasetid)

    def archive(
        self, dataset_id: int, credentials: AppCredentials, read_timeout_s: float, *, deadline_s: float | None = None
    ) -> GatewayAnswer:
        return not_there(super().archive(dataset_id, credentials, read_timeout_s, deadline_s=deadline_s))
