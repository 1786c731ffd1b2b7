"""HTTP adapter for Adobe Experience Platform: IMS tokens, then Platform calls with Adobe's headers. A 401 drops
the cached token and the call is sent once more with a new one."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from hdr_ingest.core.answers import Answer, AnswerKind, transient
from hdr_ingest.destinations.aep.answers import classify, ims_answer
from hdr_ingest.destinations.aep.credentials import AepCredentials
from hdr_ingest.destinations.aep.token import TOKENS, TokenCache

USER_AGENT = "hdr-gateway-ingest/0.1"
PLATFORM_PATH = "/data/foundation"
TOKEN_PATH = "/ims/token/v3"  # noqa: S105 (a path)
MIN_TIMEOUT_S = 0.5


def _session(pool_size: int) -> requests.Session:
    session = requests.Session()
    # Only connection failures (the request never left) are retried here; the rest is decided by the pipeline.
    # respect_retry_after_header=False: otherwise urllib3 retries a 429/503 carrying Retry-After by itself and,
    # with status=0, raises RetryError instead of handing the answer (and its Retry-After) to the pipeline.
    retry = Retry(
        total=2,
        connect=2,
        read=0,
        status=0,
        other=0,
        backoff_factor=0.2,
        allowed_methods=None,
        respect_retry_after_header=False,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=2, pool_maxsize=max(4, pool_size))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers.update({"User-Agent": USER_AGENT})
    return session


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


@dataclass(frozen=True)
class Body:
    """What a call sends: bytes and their media type (``Body.json`` for a JSON document)."""

    data: bytes
    content_type: str

    @classmethod
    def json(cls, document: Any) -> Body:
        return cls(json.dumps(document, separators=(",", ":")).encode(), "application/json")


@dataclass(frozen=True)
class Platform:
    """Where and as whom: the route's url and options."""

    base_url: str  # https://platform.adobe.io
    ims_url: str  # https://ims-na1.adobelogin.com
    org_id: str
    sandbox: str


class AepClient:
    def __init__(
        self,
        platform: Platform,
        connect_timeout_s: float = 3.05,
        session: requests.Session | None = None,
        pool_size: int = 4,
        tokens: TokenCache = TOKENS,
    ) -> None:
        self.platform = platform
        self.api = platform.base_url.rstrip("/") + PLATFORM_PATH
        self.token_url = platform.ims_url.rstrip("/") + TOKEN_PATH
        self.connect_timeout_s = connect_timeout_s
        self.session = session or _session(pool_size)
        self.tokens = tokens

    # -- tokens ---------------------------------------------------------------------------------------------
    def _key(self, credentials: AepCredentials) -> tuple[str, str, str]:
        return (self.token_url, credentials.client_id, credentials.scope)

    def token(self, credentials: AepCredentials, timeout_s: float) -> str | Answer:
        cached = self.tokens.get(self._key(credentials))
        if cached:
            return cached
        form = {
            "grant_type": "client_credentials",
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret,
            "scope": credentials.scope,
        }
        try:
            response = self.session.post(
                self.token_url, data=form, timeout=self._timeout(timeout_s), allow_redirects=False
            )
        except requests.Timeout:
            return transient("IMS timed out issuing a token")
        except requests.RequestException as exc:
            return transient(f"IMS connection error: {type(exc).__name__}")
        body = _decode(response)
        if response.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
            status = response.status_code if response.status_code != 200 else 502
            return ims_answer(status, body if isinstance(body, dict) else {"message": "no access_token"})
        expires_in = body.get("expires_in")
        seconds = float(expires_in) if isinstance(expires_in, (int, float)) and expires_in > 0 else 3600.0
        self.tokens.put(self._key(credentials), str(body["access_token"]), seconds)
        return str(body["access_token"])

    # -- Platform -------------------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        credentials: AepCredentials,
        timeout_s: float,
        what: str,
        params: dict[str, Any] | None = None,
        body: Body | None = None,
        accept: str = "application/json",
    ) -> Reply | Answer:
        """The reply (2xx) or what a refusal means. A 401 is retried once with a new token."""
        if timeout_s < MIN_TIMEOUT_S:
            return transient(f"Too little time left in this invocation for {what}; will retry.")
        started = time.monotonic()
        for attempt in (1, 2):
            token = self.token(credentials, timeout_s - (time.monotonic() - started))
            if isinstance(token, Answer):
                return token
            headers = {
                "Authorization": f"Bearer {token}",
                "x-api-key": credentials.client_id,
                "x-gw-ims-org-id": self.platform.org_id,
                "x-sandbox-name": self.platform.sandbox,
                "Accept": accept,
            }
            if body is not None:
                headers["Content-Type"] = body.content_type
            try:
                response = self.session.request(
                    method,
                    self.api + path,
                    params=params,
                    data=body.data if body else None,
                    headers=headers,
                    timeout=self._timeout(timeout_s - (time.monotonic() - started)),
                    allow_redirects=False,  # never send the token to another host
                )
            except requests.Timeout:
                return transient(f"AEP timed out {what}")
            except requests.RequestException as exc:
                return transient(f"connection error {what}: {type(exc).__name__}")
            decoded = _decode(response)
            if 200 <= response.status_code < 300:
                return Reply(response.status_code, decoded, dict(response.headers))
            answer = classify(response.status_code, decoded, dict(response.headers), what)
            if answer.kind is AnswerKind.UNAUTHORISED and response.status_code == 401 and attempt == 1:
                self.tokens.forget(self._key(credentials), token)  # expired or revoked: ask IMS again, once
                continue
            return answer
        raise AssertionError("unreachable")

    def _timeout(self, left_s: float) -> tuple[float, float]:
        return (self.connect_timeout_s, max(MIN_TIMEOUT_S, left_s))


def _decode(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return {"message": response.text[:300]}
