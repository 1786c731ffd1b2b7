"""The one HTTP transport every destination's client uses (the only module under ``destinations/`` that imports
``requests``).

* **One session per client and container**: connection reuse, a pool sized for the records processed at once,
  no redirects ever followed (they would carry credentials to another host), one user agent, optional TLS client
  certificate per call.
* **One retry policy**: urllib3 retries nothing; a connection that could not be made (the request never left) is
  tried again here, within the call's deadline. Everything else is the pipeline's to retry, because only it knows
  whether a retry could duplicate; a Retry-After is handed to it (:func:`retry_after_s`), never slept on here.
* **A total deadline per call**, enforced by a watchdog that shuts the call's sockets down when it passes: a server
  that drips one byte a second cannot hold a call past it. One long-lived daemon thread per process watches every
  call's deadline (a heap of them), so a call starts no thread of its own.
* **The environment is read once per transport**, not on every request (the session has ``trust_env`` off): the
  CA bundle (``REQUESTS_CA_BUNDLE``, else ``CURL_CA_BUNDLE``) when the transport is made, and a host's proxy
  (``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``, honouring ``NO_PROXY``) at its first call. ``~/.netrc`` is never
  read: a call's credentials come from its route's secret only, never from a file on the machine.
* **Answers read up to a cap** (``complete`` False beyond it).
* **Every failure is an** :class:`~hdr_ingest.core.answers.Answer` (TRANSIENT or PERMANENT), never an exception,
  and its message never quotes a header value; :func:`redact` removes secrets from an echoed body.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import json
import os
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

import orjson
import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_environ_proxies
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, HTTPError, ReadTimeoutError
from urllib3.poolmanager import PoolManager
from urllib3.util.retry import Retry

from hdr_ingest.core import defaults
from hdr_ingest.core.answers import Answer, AnswerKind

__all__ = [
    "CONNECT_TIMEOUT_S",
    "MAX_ANSWER_BYTES",
    "ClientTls",
    "Reply",
    "Session",
    "Transport",
    "header_problem",
    "redact",
    "retry_after_s",
]

Session = requests.Session  # what a test may pass in place of the real session (a fake with ``request``)

USER_AGENT = "hdr-gateway-ingest/0.1"
CONNECT_TIMEOUT_S = defaults.CONNECT_TIMEOUT_S
MAX_ANSWER_BYTES = 2 * 1024 * 1024  # an answer is read up to this unless the client says otherwise
CONNECT_ATTEMPTS = 3  # a connection that could not be made is tried again (the request never left), in the deadline
CONNECT_BACKOFF_S = 0.2
MAX_RETRY_AFTER_DIGITS = 9  # more than 9 digits (31 years) is as good as "not in this invocation"
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Reply:
    """A complete or capped HTTP answer: ``complete`` is False when the body was longer than the cap (``raw`` then
    holds its first bytes)."""

    status: int
    raw: bytes
    headers: CaseInsensitiveDict[str]
    complete: bool = True

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8", "replace")

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def json(self) -> Any:
        """The body as JSON (:func:`json_value`); ValueError when it is not JSON."""
        return json_value(self.raw)


def json_value(body: bytes | str) -> Any:
    """A destination's answer as JSON, fast: orjson first; Python's ``json`` only for what orjson refuses (NaN,
    Infinity, lone surrogate escapes, a UTF-8 BOM), read as Python reads them. Integers past 64 bits are doubles,
    as orjson reads them (and as documents are read: ``core.document``). ValueError when the body is not JSON
    (or nests deeper than either parser goes)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body)  # bytes: UTF-8 (a BOM allowed), or the UTF-16/32 that JSON's RFC 4627 allowed
    except RecursionError as exc:
        raise ValueError("the answer nests too deeply to read") from exc


class Transport:
    """One ``requests`` session shared by the threads that process records at once (``pool_size``).

    ``title`` names the destination in failure messages ("The Gateway", "UNIS", ...); ``url_hint`` says which
    setting to check when a request cannot even be made; ``unsendable`` what to fix when a header value (from a
    secret) cannot be sent; ``tls_refused``, when given, makes a TLS failure UNAUTHORISED with that text (for a
    server that wants a client certificate from the secret) instead of TRANSIENT."""

    def __init__(
        self,
        title: str,
        *,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        pool_size: int = 4,
        accept: str = "application/json",
        url_hint: str = "check the route's url",
        unsendable: str = "a credential in the route's secret holds a line break, a control or a non-ASCII character.",
        tls_refused: str | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.title = title  # at the start of a sentence
        self.named = title[0].lower() + title[1:] if title.startswith("The ") else title  # within one
        self.connect_timeout_s = connect_timeout_s
        self.url_hint = url_hint
        self.unsendable = unsendable
        self.tls_refused = tls_refused
        self.session = session or _session(pool_size, accept)
        self.verify = _ca_bundle()  # what a call without a CA file of its own trusts, read once
        self._proxies: dict[str, dict[str, str]] = {}  # scheme://host:port -> the environment's proxies for it

    def call(  # noqa: PLR0913 - the keyword-only parts of one request
        self,
        method: str,
        url: str,
        *,
        timeout_s: float,
        deadline_s: float | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        body: bytes | None = None,
        cap: int = MAX_ANSWER_BYTES,
        tls: ClientTls | None = None,
    ) -> Reply | Answer:
        """``method url``: the :class:`Reply`, or the failure (TRANSIENT or PERMANENT) when there is no answer in
        time. ``timeout_s`` bounds each wait for a read; ``deadline_s`` (seconds from now; default the connect
        timeout plus ``timeout_s``) bounds the whole call, connection retries and the whole answer included."""
        sent = dict(headers or {})
        if any(header_problem(value) for value in sent.values()):
            return Answer(AnswerKind.PERMANENT, None, f"Nothing was sent to {self.named}: {self.unsendable}")
        total = deadline_s if deadline_s is not None else self.connect_timeout_s + timeout_s
        deadline = time.monotonic() + max(0.0, total)
        request = _Request(method, url, params, body, sent, tls)
        failure = self.no_answer(f"no time left before the call's deadline of {total:g} s")
        for attempt in range(CONNECT_ATTEMPTS):
            if attempt and time.monotonic() + CONNECT_BACKOFF_S * attempt < deadline:
                time.sleep(CONNECT_BACKOFF_S * attempt)
            left = deadline - time.monotonic()
            if left <= 0.01:
                return failure
            try:
                return self._attempt(request, timeout_s, left, deadline, cap)
            except _NotSent as not_sent:
                failure = not_sent.answer
        return failure

    def no_answer(self, reason: str, http_status: int | None = None) -> Answer:
        """A failure with no usable answer (timeout, connection error, an unreadable body): TRANSIENT, and
        ``http_status`` stays ``None`` unless given, since the request may still have taken effect."""
        return Answer(AnswerKind.TRANSIENT, http_status, f"{self.title} did not answer ({reason}); will retry.")

    def _attempt(self, request: _Request, timeout_s: float, left: float, deadline: float, cap: int) -> Reply | Answer:
        response: requests.Response | None = None
        reply: Reply | None = None
        watch = _Watch(deadline)
        try:
            with watch:
                try:
                    response = self.session.request(
                        request.method,
                        request.url,
                        params=request.params,
                        data=request.body,
                        headers=request.headers,
                        timeout=(min(self.connect_timeout_s, left), max(0.01, min(timeout_s, left))),
                        allow_redirects=False,  # custom headers (keys, tokens) would follow to another host
                        stream=True,
                        cert=request.tls.cert if request.tls else None,
                        verify=request.tls.ca_file if request.tls and request.tls.ca_file else self.verify,
                        proxies=self.proxies_for(request.url),
                    )
                    raw, complete = _read(response, cap)
                    reply = Reply(response.status_code, raw, CaseInsensitiveDict(response.headers), complete)
                except Exception as exc:  # noqa: BLE001 - every failure of a call becomes an answer
                    failure = self.failure_answer(exc)
                    if _never_sent(exc):
                        raise _NotSent(failure) from None
                    if watch.passed():
                        return self.no_answer(f"no complete answer within the call's deadline ({type(exc).__name__})")
                    return failure
            # The watchdog is done: from here the connection can go back to the pool.
            if watch.expired:  # the socket was shut down: what was read may be cut short without an error
                return self.no_answer("no complete answer within the call's deadline")
            return reply
        finally:
            _close(response, reuse=reply is not None and reply.complete and not watch.expired)

    def proxies_for(self, url: str) -> dict[str, str]:
        """The environment's proxies for ``url``'s scheme and host (none when ``NO_PROXY`` names it), read at the
        host's first call and kept: requests with ``trust_env`` would read the whole environment on every call."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return {}  # requests names what is wrong with the URL
        origin = f"{parts.scheme}://{parts.netloc}"
        proxies = self._proxies.get(origin)
        if proxies is None:
            proxies = self._proxies[origin] = get_environ_proxies(origin)
        return proxies

    def failure_answer(self, exc: BaseException) -> Answer:
        """What a call that raised means. The exception's own text is never used where it could quote a header
        value (``InvalidHeader`` does, with the credentials in it); only its type, and a TLS failure's reason."""
        return self._unsendable(exc) or self._no_answer_for(exc)

    def _unsendable(self, exc: BaseException) -> Answer | None:
        """A request that could not be made as asked: PERMANENT (sending it again would fail the same way)."""
        name, rex = type(exc).__name__, requests.exceptions
        if isinstance(exc, rex.InvalidHeader | UnicodeEncodeError) or (
            isinstance(exc, ValueError) and "header" in str(exc).lower()
        ):
            return Answer(AnswerKind.PERMANENT, None, f"Nothing was sent to {self.named} ({name}): {self.unsendable}")
        if isinstance(exc, rex.InvalidURL | rex.MissingSchema | rex.InvalidSchema | rex.URLRequired):
            message = f"The request to {self.named} could not be made ({name}): {self.url_hint}."
            return Answer(AnswerKind.PERMANENT, None, message)
        if isinstance(exc, rex.TooManyRedirects):  # never followed; kept for a session that a test swaps in
            return Answer(AnswerKind.PERMANENT, None, f"{self.title} redirected the request ({name}).")
        return None

    def _no_answer_for(self, exc: BaseException) -> Answer:
        name, root, rex = type(exc).__name__, _root(exc), requests.exceptions
        if isinstance(exc, rex.SSLError) and self.tls_refused:
            return Answer(AnswerKind.UNAUTHORISED, None, f"TLS with {self.named} failed ({name}): {self.tls_refused}")
        if isinstance(exc, rex.SSLError):
            return self.no_answer(f"TLS failed: {_clip(str(root))}")
        if isinstance(exc, rex.ConnectTimeout):
            return self.no_answer("timed out connecting")
        if isinstance(exc, rex.Timeout) or isinstance(root, ReadTimeoutError | TimeoutError):
            return self.no_answer("timed out")
        if isinstance(exc, rex.ChunkedEncodingError):
            return self.no_answer(
                f"the answer broke off before its end, shorter than announced or reset mid-body ({name}: "
                f"{type(root).__name__})"
            )
        if isinstance(exc, rex.ContentDecodingError):
            return self.no_answer(f"the answer's compressed body could not be decoded ({name})")
        if isinstance(exc, rex.ProxyError):
            return self.no_answer(f"the proxy to {self.named} failed ({type(root).__name__})")
        if isinstance(exc, rex.ConnectionError):
            if _never_sent(exc):
                return self.no_answer(f"could not connect ({type(root).__name__})")
            return self.no_answer(f"connection error: {type(root).__name__}")
        if isinstance(exc, rex.RequestException | HTTPError | OSError):
            return self.no_answer(f"{name}: {type(root).__name__}")
        return self.no_answer(f"unexpected {name}")


@dataclass(frozen=True)
class _Request:
    method: str
    url: str
    params: Mapping[str, Any] | None
    body: bytes | None
    headers: dict[str, str]
    tls: ClientTls | None


@dataclass(frozen=True)
class ClientTls:
    """A TLS client certificate (PEM files) and, optionally, the CA bundle that signs the server's certificate
    (without one, the call trusts what any other does: the environment's CA bundle, else the system's)."""

    cert_file: str
    key_file: str
    ca_file: str | None = None

    @property
    def cert(self) -> tuple[str, str]:
        return (self.cert_file, self.key_file)


class _NotSent(Exception):
    """The connection could not be made: the request never reached the server (safe to try again)."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.message)
        self.answer = answer


# -- Retry-After, header values, redaction -------------------------------------------------------------------


def retry_after_s(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delay-seconds or an HTTP date (RFC 9110 §10.2.3); ``None`` when absent
    or unreadable. A date in the past is 0. The header name is matched without regard to case."""
    value = next((v for k, v in (headers or {}).items() if k.lower() == "retry-after"), None)
    text = (value or "").strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        return float(int(text[:MAX_RETRY_AFTER_DIGITS]))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def header_problem(value: str) -> str | None:
    """What makes a header value unsendable, in words that never quote it; ``None`` when it is fit."""
    if not value.isascii() or not value.isprintable():
        return "holds a line break, a control character or a non-ASCII character"
    return None


def redact(text: str, secrets: Iterable[str], placeholder: str = "[redacted]") -> str:
    """``text`` with every secret value removed: raw, URL-encoded (both forms) and base64, as a server that echoes
    a request (its headers, its form body, a Basic header) would quote it. Values shorter than 4 are ignored."""
    forms: set[str] = set()
    for secret in secrets:
        if not secret or len(secret) < 4:
            continue
        forms.update({secret, quote(secret, safe=""), quote_plus(secret, safe="")})
        forms.add(base64.b64encode(secret.encode("utf-8")).decode("ascii").rstrip("="))
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, placeholder)
    return text


# -- The session and the watchdog --------------------------------------------------------------------------------


def _ca_bundle() -> str | bool:
    """The CA bundle the environment names, as requests would read it (REQUESTS_CA_BUNDLE, else CURL_CA_BUNDLE);
    True (the system's trust store, through certifi) when it names none."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


def _session(pool_size: int, accept: str) -> requests.Session:
    session = requests.Session()
    # The environment (proxies, CA bundle) is read once by the Transport; with trust_env requests would read it on
    # every request, and would add the credentials of a ~/.netrc to our calls.
    session.trust_env = False
    # No retries inside urllib3 (see the module's docstring); respect_retry_after_header=False, or urllib3 would
    # sleep on a 429/503 itself and then raise RetryError instead of handing the answer to the pipeline.
    retry = Retry(total=0, connect=0, read=0, redirect=0, status=0, other=0, respect_retry_after_header=False)
    # pool_maxsize: connections kept per host, at least one per record processed at once (RECORD_CONCURRENCY);
    # with fewer, the threads beyond it would open a new connection (TLS handshake) for every call.
    adapter = _Adapter(max_retries=retry, pool_connections=2, pool_maxsize=max(4, pool_size))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers.update({"User-Agent": USER_AGENT, "Accept": accept})
    return session


class _Watch:
    """The sockets of one call, shut down when the call's deadline passes (a blocked read or send then ends)."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = False
        self.done = False  # the call has left its watch: its sockets are never touched again
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def __enter__(self) -> _Watch:
        _current.watch = self
        _WATCHDOG.watch(self)
        return self

    def __exit__(self, *_: object) -> None:
        # After this, the watchdog never touches the sockets: the connection may go back to the pool. The watch stays
        # in the watchdog's heap until its deadline or the next clean-up, holding no socket.
        with self._lock:
            self.done = True
            self._sockets.clear()
        _current.watch = None

    def passed(self) -> bool:
        """The deadline has passed: the watchdog fired, or the clock says it is due (a read timeout is capped by the
        time left, so on a busy machine it can end the call at the deadline before the watchdog's thread has run)."""
        return self.expired or time.monotonic() >= self.deadline

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            if sock not in self._sockets:
                self._sockets.append(sock)
            if self.expired and not self.done:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            if self.done:
                return
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


class _Watchdog:
    """One daemon thread per process that expires each watch at its deadline: a heap of deadlines under a condition.

    Registering a watch wakes the thread only when its deadline is the earliest (otherwise the thread already wakes
    in time for it); a watch whose call has ended stays in the heap until the thread reaches it, or until the heap
    has doubled since its last clean-up. The thread starts with the first watch and again if it is gone (after a
    fork, the child has none: its state is made anew)."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._ready = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, _Watch]] = []
        self._order = itertools.count()  # ties in deadline never compare watches
        self._clean_at = _CLEAN_AT
        self._thread: threading.Thread | None = None

    def watch(self, watch: _Watch) -> None:
        entry = (watch.deadline, next(self._order), watch)
        with self._ready:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="hdr-ingest-watchdog", daemon=True)
                self._thread.start()
            if len(self._heap) >= self._clean_at:
                self._heap = [kept for kept in self._heap if not kept[2].done]
                heapq.heapify(self._heap)
                self._clean_at = max(_CLEAN_AT, 2 * len(self._heap))
            heapq.heappush(self._heap, entry)
            if self._heap[0] is entry:
                self._ready.notify()

    def _run(self) -> None:
        while True:
            due = self._next_due()
            try:
                due._expire()
            except Exception:  # noqa: BLE001, S110 - the one thread that keeps every deadline must outlive any watch
                pass

    def _next_due(self) -> _Watch:
        """The next watch whose deadline has passed, once it has (ended calls are dropped on the way)."""
        with self._ready:
            while True:
                heap = self._heap
                while heap and heap[0][2].done:
                    heapq.heappop(heap)
                if not heap:
                    self._ready.wait()
                    continue
                left = heap[0][0] - time.monotonic()
                if left <= 0:
                    return heapq.heappop(heap)[2]
                self._ready.wait(left)


_CLEAN_AT = 256  # the heap drops ended calls at this size, or at twice the size it kept at its last clean-up
_WATCHDOG = _Watchdog()


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


# -- Reading and closing ------------------------------------------------------------------------------------------


def _read(response: requests.Response, cap: int) -> tuple[bytes, bool]:
    """The body, read in chunks up to ``cap`` bytes (decoded); False when there was more."""
    declared = response.headers.get("Content-Length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > cap:
        first = response.raw.read(min(1024, cap), decode_content=True) if response.raw is not None else b""
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


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
