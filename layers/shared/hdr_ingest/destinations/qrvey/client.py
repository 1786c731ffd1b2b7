"""HTTP adapter for Qrvey's API (``<instance>/devapi/v4``): one ``requests`` session per container, the API key as
``x-api-key``, every call bounded by a timeout, redirects never followed (they would carry the key elsewhere)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.destinations.qrvey.answers import no_answer
from hdr_ingest.destinations.qrvey.credentials import MAX_KEY_CHARS, UNSENDABLE, ApiKey

USER_AGENT = "hdr-gateway-ingest/0.1"
MAX_ANSWER_BYTES = 4 * 1024 * 1024  # a dataset (with its columns) or a page of them is far smaller
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: its status, its body decoded (JSON, else the text) and its headers."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def _session(pool_size: int) -> requests.Session:
    session = requests.Session()
    # Only failures to connect are retried here (the request never reached Qrvey); the pipeline decides the rest.
    retry = Retry(total=2, connect=2, read=0, status=0, other=0, backoff_factor=0.2, allowed_methods=None)
    adapter = HTTPAdapter(max_retries=retry, pool_connections=2, pool_maxsize=max(4, pool_size))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
    return session


class QrveyClient:
    """Every call ends in a :class:`Reply` or an :class:`Answer`, never an exception. ``until`` (a
    ``time.monotonic()`` instant) bounds the whole call, connection included; each read waits at most
    ``read_timeout_s``; an answer is read up to ``max_answer_bytes`` (beyond it, it counts as no answer)."""

    def __init__(
        self,
        base_url: str,
        connect_timeout_s: float = 3.05,
        session: requests.Session | None = None,
        pool_size: int = 4,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.connect_timeout_s = connect_timeout_s
        self.max_answer_bytes = max_answer_bytes
        self.session = session or _session(pool_size)

    def call(
        self, method: str, path: str, key: ApiKey, read_timeout_s: float, until: float, doing: str, body: Any = None
    ) -> Reply | Answer:
        """``method path`` with ``body`` as JSON: the :class:`Reply`, or a TRANSIENT answer when none came."""
        problem = header_problem(key.api_key)
        if problem:
            return Answer(AnswerKind.PERMANENT, None, f"The API key in the route's secret {problem}. {UNSENDABLE}")
        left = until - time.monotonic()
        if left <= 0.01:
            return no_answer(doing, "no time left before the call's deadline")
        headers = {"x-api-key": key.api_key}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        response: requests.Response | None = None
        try:
            response = self.session.request(
                method,
                f"{self.base_url}{path}",
                data=data,
                headers=headers,
                timeout=(min(self.connect_timeout_s, left), max(0.01, min(read_timeout_s, left))),
                allow_redirects=False,
                stream=True,
            )
            raw = self._read(response, until)
        except requests.Timeout:
            return no_answer(doing, "timed out")
        except Exception as exc:  # noqa: BLE001 - every failure of a call becomes an answer
            return no_answer(doing, f"connection error: {type(exc).__name__}")
        finally:
            if response is not None:
                response.close()
        if raw is None:
            return no_answer(doing, "no complete answer within the call's deadline or size limit")
        return Reply(response.status_code, _decode(raw), dict(response.headers))

    def _read(self, response: requests.Response, until: float) -> bytes | None:
        """The answer's bytes, or ``None`` when it outgrows the cap or the deadline."""
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(_CHUNK):
            size += len(chunk)
            if size > self.max_answer_bytes or time.monotonic() > until:
                return None
            chunks.append(chunk)
        return b"".join(chunks)


def header_problem(value: str) -> str | None:
    """What makes an API key unfit for a header, in words that never quote it; ``None`` when it is fit."""
    if len(value) > MAX_KEY_CHARS:
        return f"is {len(value)} characters long"
    if not value.isascii() or not value.isprintable():
        return "holds a line break, a control character or a non-ASCII character"
    return None


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except ValueError:
        return raw.decode("utf-8", "replace")[:300]
