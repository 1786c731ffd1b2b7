"""HTTP adapter for Qrvey's API (``<instance>/devapi/v4``): one ``requests`` session per container, the API key as
``x-api-key``, every call bounded by a timeout, redirects never followed (they would carry the key elsewhere)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from hdr_ingest.core.answers import Answer
from hdr_ingest.destinations.qrvey.answers import no_answer
from hdr_ingest.destinations.qrvey.credentials import ApiKey

USER_AGENT = "hdr-gateway-ingest/0.1"


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
    def __init__(
        self,
        base_url: str,
        connect_timeout_s: float = 3.05,
        session: requests.Session | None = None,
        pool_size: int = 4,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.connect_timeout_s = connect_timeout_s
        self.session = session or _session(pool_size)

    def call(
        self, method: str, path: str, key: ApiKey, read_timeout_s: float, doing: str, body: Any = None
    ) -> Reply | Answer:
        """``method path`` with ``body`` as JSON: the :class:`Reply`, or a TRANSIENT answer when none came."""
        headers = {"x-api-key": key.api_key}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        try:
            response = self.session.request(
                method,
                f"{self.base_url}{path}",
                data=data,
                headers=headers,
                timeout=(self.connect_timeout_s, max(0.1, read_timeout_s)),
                allow_redirects=False,
            )
        except requests.Timeout:
            return no_answer(doing, "timed out")
        except requests.ConnectionError as exc:
            return no_answer(doing, f"connection error: {type(exc).__name__}")
        return Reply(response.status_code, _decode(response), dict(response.headers))


def _decode(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text[:300]
