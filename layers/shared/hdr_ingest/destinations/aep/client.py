"""Adobe Experience Platform's API: IMS tokens, then Platform calls with Adobe's headers, over the shared transport
(:mod:`hdr_ingest.destinations.http`: a total deadline per call, capped answers, no redirects). A 401 drops the
cached token and the call is sent once more with a new one. Error bodies are redacted of the token and the client
secret before anything reads them (a server may echo a request's headers or form)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from hdr_ingest.core.answers import Answer, AnswerKind, transient
from hdr_ingest.core.ports import Call
from hdr_ingest.destinations.aep.answers import batch_of, classify, ims_answer
from hdr_ingest.destinations.aep.credentials import AepCredentials
from hdr_ingest.destinations.aep.token import TOKENS, TokenCache
from hdr_ingest.destinations.http import CONNECT_TIMEOUT_S, Session, Transport, json_value, redact
from hdr_ingest.destinations.http import Reply as HttpReply

PLATFORM_PATH = "/data/foundation"
TOKEN_PATH = "/ims/token/v3"  # noqa: S105 (a path)
MIN_TIMEOUT_S = 0.5
XED_FULL = "application/vnd.adobe.xed-full+json; version=1"
MAX_ANSWER_BYTES = 4 * 1024 * 1024  # a batch, a dataset, a page of them, a schema or a failed-record report
UNSENDABLE = (
    "the client_id in the route's secret holds a line break, a control or a non-ASCII character (or the route's "
    "orgId or sandbox does). Copy the values again from the Adobe Developer Console project."
)


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
class Bounded:
    """A port call's credentials and time: each HTTP call of a chain (up to seven for a drop) waits at most
    ``read_timeout_s`` and never beyond the call's deadline."""

    credentials: AepCredentials
    read_timeout_s: float
    deadline: float  # time.monotonic()

    @classmethod
    def of(cls, call: Call) -> Bounded:
        return cls(call.credentials, call.timeout_s, time.monotonic() + call.deadline_s)

    @property
    def timeout_s(self) -> float:
        return max(0.0, min(self.read_timeout_s, self.deadline - time.monotonic()))


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
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        session: Session | None = None,
        pool_size: int = 4,
        tokens: TokenCache = TOKENS,
    ) -> None:
        self.platform = platform
        self.api = platform.base_url.rstrip("/") + PLATFORM_PATH
        self.token_url = platform.ims_url.rstrip("/") + TOKEN_PATH
        self.transport = Transport(
            "AEP",
            connect_timeout_s=connect_timeout_s,
            pool_size=pool_size,
            url_hint="check the route's url and imsUrl",
            unsendable=UNSENDABLE,
            session=session,
        )
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
        reply = self.transport.call(
            "POST",
            self.token_url,
            timeout_s=max(MIN_TIMEOUT_S, timeout_s),
            deadline_s=max(MIN_TIMEOUT_S, timeout_s),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=urlencode(form).encode("ascii"),
            cap=MAX_ANSWER_BYTES,
        )
        if isinstance(reply, Answer):
            return reply
        body = _decode(reply, (credentials.client_secret, credentials.client_id))
        if reply.status != 200 or not isinstance(body, dict) or not body.get("access_token"):
            status = reply.status if reply.status != 200 else 502
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
            left = timeout_s - (time.monotonic() - started)
            reply = self.transport.call(
                method,
                self.api + path,
                timeout_s=max(MIN_TIMEOUT_S, left),
                deadline_s=max(MIN_TIMEOUT_S, left),
                headers=headers,
                params=params,
                body=body.data if body else None,
                cap=MAX_ANSWER_BYTES,
            )
            if isinstance(reply, Answer):
                return reply
            decoded = _decode(reply, (token, credentials.client_secret))
            if 200 <= reply.status < 300:
                return Reply(reply.status, decoded, dict(reply.headers))
            answer = classify(reply.status, decoded, dict(reply.headers), what)
            if answer.kind is AnswerKind.UNAUTHORISED and reply.status == 401 and attempt == 1:
                self.tokens.forget(self._key(credentials), token)  # expired or revoked: ask IMS again, once
                continue
            return answer
        raise AssertionError("unreachable")

    # -- the Platform calls (Schema Registry, Catalog, Batch Ingestion) -----------------------------------------
    def xdm_schema(self, schema_id: str, run: Bounded) -> Any:
        """The XDM schema as Schema Registry answers it (``Accept: xed-full``), or an :class:`Answer`."""
        path = f"/schemaregistry/tenant/schemas/{quote(schema_id, safe='')}"
        reply = self._call(run, "GET", path, f"reading XDM schema {schema_id}", accept=XED_FULL)
        return reply if isinstance(reply, Answer) else reply.body

    def datasets(self, params: dict[str, str], run: Bounded) -> dict[str, dict[str, Any]] | Answer:
        """``GET /catalog/dataSets``: the datasets keyed by id. Catalog's list endpoints declare a 404 "not found"
        (``catalog.yaml``): that is an empty list, not a failure."""
        return _listed(self._call(run, "GET", "/catalog/dataSets", "looking up the dataset", params=params))

    def create_dataset(self, body: dict[str, Any], run: Bounded) -> str | Answer:
        """``POST /catalog/dataSets`` answers ``["@/dataSets/{id}"]``: the new id."""
        name = body.get("name")
        reply = self._call(run, "POST", "/catalog/dataSets", f"creating dataset {name!r}", body=Body.json(body))
        if isinstance(reply, Answer):
            return reply
        refs = reply.body if isinstance(reply.body, list) else []
        ref = next((r for r in refs if isinstance(r, str) and r.startswith("@/dataSets/")), None)
        if ref is None:
            return Answer(AnswerKind.TRANSIENT, reply.status, f"AEP created dataset {name!r} but gave no id")
        return ref.removeprefix("@/dataSets/")

    def batch(self, batch_id: str, run: Bounded) -> dict[str, Any] | Answer:
        """``GET /catalog/batches/{id}``: Catalog answers an object keyed by the batch id."""
        reply = self._call(run, "GET", f"/catalog/batches/{quote(batch_id)}", f"reading batch {batch_id}")
        if isinstance(reply, Answer):
            return reply
        batch = batch_of(reply.body, batch_id)
        if batch is None:
            return Answer(AnswerKind.NOT_FOUND, reply.status, f"AEP has no batch {batch_id}")
        return dict(batch)

    def batches(self, params: dict[str, str], run: Bounded) -> dict[str, dict[str, Any]] | Answer:
        """``GET /catalog/batches``: the batches keyed by id (a 404 is none, as for datasets)."""
        return _listed(self._call(run, "GET", "/catalog/batches", "listing this object's batches", params=params))

    def create_batch(self, body: dict[str, Any], run: Bounded) -> str | Answer:
        reply = self._call(run, "POST", "/import/batches", "creating the batch", body=Body.json(body))
        if isinstance(reply, Answer):
            return reply
        batch_id = str(reply.body.get("id", "")) if isinstance(reply.body, dict) else ""
        if not batch_id:
            return Answer(AnswerKind.TRANSIENT, reply.status, "AEP created a batch but gave no id; will retry.")
        return batch_id

    def upload(self, batch_id: str, dataset_id: str, name: str, data: bytes, run: Bounded) -> Answer | None:
        """``PUT`` one file into an open batch (the same PUT again replaces it): ``None`` when stored."""
        path = f"/import/batches/{quote(batch_id)}/datasets/{quote(dataset_id)}/files/{quote(name)}"
        body = Body(data, "application/octet-stream")
        reply = self._call(run, "PUT", path, f"uploading the file to batch {batch_id}", body=body)
        return reply if isinstance(reply, Answer) else None

    def act(self, batch_id: str, action: str, run: Bounded, timeout_s: float | None = None) -> Answer | None:
        """``POST /import/batches/{id}?action=COMPLETE|ABORT|REVERT``: ``None`` when accepted."""
        what = f"{_DOING.get(action, action)} batch {batch_id}"
        reply = self._call(
            run, "POST", f"/import/batches/{quote(batch_id)}", what, params={"action": action}, timeout_s=timeout_s
        )
        return reply if isinstance(reply, Answer) else None

    def _call(
        self,
        run: Bounded,
        method: str,
        path: str,
        what: str,
        params: dict[str, Any] | None = None,
        body: Body | None = None,
        accept: str = "application/json",
        timeout_s: float | None = None,
    ) -> Reply | Answer:
        timeout = run.timeout_s if timeout_s is None else timeout_s
        return self.request(method, path, run.credentials, timeout, what, params=params, body=body, accept=accept)


_DOING = {"COMPLETE": "completing", "ABORT": "aborting", "REVERT": "reverting"}


def _listed(reply: Reply | Answer) -> dict[str, dict[str, Any]] | Answer:
    if isinstance(reply, Answer):
        return {} if reply.kind is AnswerKind.NOT_FOUND else reply
    body = reply.body if isinstance(reply.body, dict) else {}
    return {str(i): dict(item) for i, item in body.items() if isinstance(item, dict)}


def _decode(reply: HttpReply, secrets: tuple[str, ...]) -> Any:
    """The body as JSON (``{"message": ...}`` when it is not JSON), with every secret value removed when the
    answer is an error or incomplete (a success holds no echo of them to remove, and may be large)."""
    if not reply.raw:
        return None
    if not reply.complete:
        return {"message": f"an answer over {MAX_ANSWER_BYTES} bytes: " + redact(reply.text[:300], secrets)}
    text = reply.text if 200 <= reply.status < 300 else redact(reply.text, secrets)
    try:
        return json_value(text)
    except ValueError:
        return {"message": text[:300]}
