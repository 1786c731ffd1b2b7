"""HTTP adapter for UNIS's ``/metadata`` collection: one ``requests`` session per container, redirects never
followed, ``application/perfsonar+json`` both ways.

Every call ends in an :class:`Answer`, never an exception. Each wait is bounded by the ``Call``'s timeout and what
is left of its deadline, and an answer is read up to ``MAX_ANSWER_BYTES`` or, when it may echo a record of ours, a
few times that record's size (:meth:`UnisClient.cap_for`); a larger one is not kept, and says so."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.util.retry import Retry

from hdr_ingest.core.answers import Answer, AnswerKind, transient
from hdr_ingest.core.ports import Call
from hdr_ingest.destinations.unis.answers import classify
from hdr_ingest.destinations.unis.credentials import ClientCertificate

MEDIA_TYPE = "application/perfsonar+json"
MAX_ANSWER_BYTES = 2 * 1024 * 1024  # an error text or a record we know nothing of; an echo of ours may be larger
ECHO_FACTOR = 4  # UNIS pretty-prints what it echoes (indent=2): a few times the compact JSON we sent
ECHO_SLACK_BYTES = 64 * 1024
USER_AGENT = "hdr-gateway-ingest/0.1"


def _session(pool_size: int) -> requests.Session:
    session = requests.Session()
    # Only connection failures are retried here (the request never reached UNIS, so it is safe for POST too).
    retry = Retry(total=2, connect=2, read=0, status=0, other=0, backoff_factor=0.2, allowed_methods=None)
    adapter = HTTPAdapter(max_retries=retry, pool_connections=2, pool_maxsize=max(4, pool_size))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers.update({"User-Agent": USER_AGENT, "Accept": MEDIA_TYPE})
    return session


class Reply:
    """A complete answer, read up to the cap."""

    def __init__(self, status: int, raw: bytes, headers: Mapping[str, str], too_large: int = 0) -> None:
        self.status_code, self.content = status, raw
        self.headers: CaseInsensitiveDict[str] = CaseInsensitiveDict(headers)
        self.too_large = too_large  # the cap, when the body was larger (and not kept)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


class UnisClient:
    def __init__(
        self,
        base_url: str,
        connect_timeout_s: float = 3.05,
        session: requests.Session | None = None,
        pool_size: int = 4,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.collection = f"{self.base_url}/metadata"
        self.connect_timeout_s = connect_timeout_s
        self.session = session or _session(pool_size)
        self.max_answer_bytes = max_answer_bytes

    def url_of(self, record_id: Any) -> str:
        return f"{self.collection}/{quote(str(record_id), safe='')}"

    def cap_for(self, size: int) -> int:
        """The read cap for an answer that may echo ``size`` bytes of ours: UNIS echoes a stored record pretty-printed
        (``indent=2``), so a record over the fixed cap is still read, up to a few times its own size."""
        return max(self.max_answer_bytes, ECHO_FACTOR * size + ECHO_SLACK_BYTES) if size else self.max_answer_bytes

    def _send(self, method: str, url: str, call: Call, body: Any = None, expect: int = 0) -> Reply | Answer:
        headers = {"Content-Type": MEDIA_TYPE, "Accept": MEDIA_TYPE}
        data = None if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        cap = self.cap_for(max(expect, len(data or b"")))
        options: dict[str, Any] = {}
        if isinstance(call.credentials, ClientCertificate):
            cert, key, ca = call.credentials.files()
            options["cert"] = (cert, key)
            if ca:
                options["verify"] = ca
        started = time.monotonic()
        wait = max(0.1, min(call.timeout_s, call.deadline_s))
        try:
            with self.session.request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=(min(self.connect_timeout_s, wait), wait),
                allow_redirects=False,
                stream=True,
                **options,
            ) as response:
                raw = _read(response, cap)
                if raw is None:
                    return Reply(response.status_code, b"", response.headers, too_large=cap)
                if time.monotonic() - started > call.deadline_s:
                    return transient(f"UNIS answered {method} after the call's deadline of {call.deadline_s:.1f} s")
                return Reply(response.status_code, raw, response.headers)
        except requests.exceptions.SSLError as exc:
            message = (
                f"TLS with UNIS failed ({type(exc).__name__}): if the server requires a client certificate, put "
                "cert_pem and key_pem in the route's secret; if its certificate is signed by a private CA, add ca_pem."
            )
            return Answer(AnswerKind.UNAUTHORISED, None, message)
        except requests.Timeout:
            return transient(f"UNIS did not answer {method} within {call.timeout_s:.1f} s")
        except requests.ConnectionError as exc:
            return transient(f"connection to UNIS failed: {type(exc).__name__}")
        except Exception as exc:  # noqa: BLE001 - every failure of a call becomes an answer
            return transient(f"the call to UNIS failed: {type(exc).__name__}")

    def get(self, record_id: Any, call: Call, expect: int = 0) -> Answer:
        """``GET /metadata/{id}``: the newest version, or ``200 []`` when UNIS knows no such (live) id. ``expect``:
        the size of the record we expect (the answer is read up to a few times that)."""
        return self.lookup(record_id, call, expect)[0]

    def lookup(self, record_id: Any, call: Call, expect: int = 0) -> tuple[Answer, dict[str, Any] | None]:
        """:meth:`get`, and the record found when it was read."""
        response = self._send("GET", self.url_of(record_id), call, expect=expect)
        if isinstance(response, Answer):
            return response, None
        if response.status_code != 200:
            return classify("find", response.status_code, response.text, dict(response.headers), record_id), None
        if response.too_large:
            # ``[]`` is all UNIS says for an unknown id: an answer this large holds the record (its ts unread).
            message = f"found (its answer is over {response.too_large} bytes, so its ts was not read)"
            return Answer(AnswerKind.SUCCESS, 200, message, record_id=str(record_id), found=True), None
        try:
            body = response.json()
        except ValueError:
            return transient(f"UNIS answered GET with a body that is not JSON: {response.text[:200]!r}", 200), None
        found = body[0] if isinstance(body, list) and body else body
        if isinstance(found, dict) and found.get("id") is not None:
            version = found.get("ts") if isinstance(found.get("ts"), int) else None
            answer = Answer(AnswerKind.SUCCESS, 200, "found", str(found["id"]), version, found=True)
            return answer, found
        if body == []:
            return Answer(AnswerKind.SUCCESS, 200, "not found"), None
        said = response.text[:200]
        return transient(f"UNIS answered GET with JSON that is neither a record nor []: {said!r}", 200), None

    def post(self, document: dict[str, Any], call: Call) -> Answer:
        """``POST /metadata`` of one record with its ``id``: CREATED only with evidence, i.e. the stored object
        echoed with our id. A 201 without it (an empty or HTML body, an echo too large to read, a ``Location``
        naming another record) is TRANSIENT with its status: the caller looks our id up before believing it."""
        response = self._send("POST", self.collection, call, document)
        if isinstance(response, Answer):
            return response
        record_id = document.get("id")
        if response.status_code not in (200, 201):
            return classify("create", response.status_code, response.text, dict(response.headers), record_id)
        location = response.headers.get("Location")
        named = unquote(urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1]) if location else None
        stored = _json_or_none(response)
        stored = next((s for s in stored if isinstance(s, dict)), None) if isinstance(stored, list) else stored
        if named is not None and named != str(record_id):
            why = f"its Location {location!r} names another record than {record_id!r}, the one sent"
        elif not isinstance(stored, dict) or str(stored.get("id")) != str(record_id):
            why = f"its body is not the stored record {record_id!r} ({_describe(response)})"
        else:
            version = stored.get("ts") if isinstance(stored.get("ts"), int) else None
            where = f" at {location}" if location else ""
            return Answer(AnswerKind.SUCCESS, response.status_code, f"created{where}", record_id, version, created=True)
        message = f"UNIS answered {response.status_code} to POST, but {why}: no evidence it stored it"
        return Answer(AnswerKind.TRANSIENT, response.status_code, message, record_id)

    def put(self, record_id: Any, document: dict[str, Any], call: Call) -> Answer:
        """``PUT /metadata/{id}``: 204 without a body (the documentation's 201 is not what the code does). It says
        nothing of whether the record can be seen: a PUT on a deleted id is 204 too (see the destination)."""
        response = self._send("PUT", self.url_of(record_id), call, document)
        if isinstance(response, Answer):
            return response
        if response.status_code in (200, 201, 204):
            return Answer(AnswerKind.SUCCESS, response.status_code, "updated", record_id)
        return classify("update", response.status_code, response.text, dict(response.headers), record_id)

    def delete(self, record_id: Any, call: Call) -> Answer:
        """``DELETE /metadata/{id}``: 204; UNIS marks every version deleted and hides them from GET."""
        response = self._send("DELETE", self.url_of(record_id), call)
        if isinstance(response, Answer):
            return response
        if response.status_code in (200, 202, 204):
            return Answer(AnswerKind.SUCCESS, response.status_code, "deleted", record_id)
        return classify("archive", response.status_code, response.text, dict(response.headers), record_id)


def _read(response: requests.Response, cap: int) -> bytes | None:
    """The body, or None when it is larger than ``cap``."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(64 * 1024):
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _describe(response: Reply) -> str:
    if response.too_large:
        return f"over {response.too_large} bytes, not read"
    kind = response.headers.get("Content-Type") or "no Content-Type"
    return f"{len(response.content)} bytes of {kind}" if response.content else "empty"


def _json_or_none(response: Reply) -> Any:
    try:
        return response.json() if response.content else None
    except ValueError:
        return None
