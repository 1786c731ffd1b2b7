"""Qrvey's API (``<instance>/devapi/v4``): its paths and bodies, the API key as ``x-api-key``, over the shared
transport (:mod:`hdr_ingest.destinations.http`: a total deadline per call, capped answers, no redirects)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.core.document import compact_json
from hdr_ingest.destinations.http import CONNECT_TIMEOUT_S, Transport, json_value
from hdr_ingest.destinations.http import Reply as HttpReply
from hdr_ingest.destinations.qrvey.answers import no_answer
from hdr_ingest.destinations.qrvey.credentials import MAX_KEY_CHARS, UNSENDABLE, ApiKey

MAX_ANSWER_BYTES = 4 * 1024 * 1024  # a dataset (with its columns) or a page of them is far smaller


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: its status, its body decoded (JSON, else the text) and its headers."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class QrveyClient:
    """Every call ends in a :class:`Reply` or an :class:`Answer`, never an exception. ``until`` (a
    ``time.monotonic()`` instant) bounds the whole call, connection included; each read waits at most
    ``read_timeout_s``; an answer is read up to ``max_answer_bytes`` (beyond it, it counts as no answer)."""

    def __init__(
        self,
        base_url: str,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        pool_size: int = 4,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        transport: Transport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_answer_bytes = max_answer_bytes
        self.transport = transport or Transport(
            "Qrvey", connect_timeout_s=connect_timeout_s, pool_size=pool_size, unsendable=UNSENDABLE
        )

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
            data = compact_json(body)
        reply = self.transport.call(
            method,
            f"{self.base_url}{path}",
            timeout_s=read_timeout_s,
            deadline_s=left,
            headers=headers,
            body=data,
            cap=self.max_answer_bytes,
        )
        if isinstance(reply, Answer):
            return reply
        if not reply.complete:
            return no_answer(doing, f"an answer over the size limit of {self.max_answer_bytes} bytes")
        return _decoded(reply)


def header_problem(value: str) -> str | None:
    """What makes an API key unfit for a header, in words that never quote it; ``None`` when it is fit."""
    if len(value) > MAX_KEY_CHARS:
        return f"is {len(value)} characters long"
    if not value.isascii() or not value.isprintable():
        return "holds a line break, a control character or a non-ASCII character"
    return None


def _decoded(reply: HttpReply) -> Reply:
    return Reply(reply.status, _decode(reply.raw), dict(reply.headers))


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json_value(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")[:300]
