"""UNIS's ``/metadata`` collection: its paths and bodies, ``application/perfsonar+json`` both ways, over the shared
transport (:mod:`hdr_ingest.destinations.http`: a total deadline per call, capped answers, no redirects).

Every call ends in an :class:`Answer`, never an exception."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote, urlsplit

from hdr_ingest.core.answers import Answer, AnswerKind, transient
from hdr_ingest.core.document import compact_json
from hdr_ingest.core.ports import Call
from hdr_ingest.destinations.http import CONNECT_TIMEOUT_S, ClientTls, Reply, Session, Transport
from hdr_ingest.destinations.unis.answers import classify
from hdr_ingest.destinations.unis.credentials import ClientCertificate

MEDIA_TYPE = "application/perfsonar+json"
MAX_ANSWER_BYTES = 2 * 1024 * 1024  # an error text or a lookup; an answer echoing what was sent may be larger
TLS_REFUSED = (
    "if the server requires a client certificate, put cert_pem and key_pem in the route's secret; if its "
    "certificate is signed by a private CA, add ca_pem."
)


class UnisClient:
    def __init__(
        self,
        base_url: str,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        session: Session | None = None,
        pool_size: int = 4,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.collection = f"{self.base_url}/metadata"
        self.max_answer_bytes = max_answer_bytes
        self.transport = Transport(
            "UNIS",
            connect_timeout_s=connect_timeout_s,
            pool_size=pool_size,
            accept=MEDIA_TYPE,
            tls_refused=TLS_REFUSED,
            session=session,
        )

    def url_of(self, record_id: Any) -> str:
        return f"{self.collection}/{quote(str(record_id), safe='')}"

    def _send(self, method: str, url: str, call: Call, body: Any = None, expect: int = 0) -> Reply | Answer:
        headers = {"Content-Type": MEDIA_TYPE, "Accept": MEDIA_TYPE}
        data = None if body is None else compact_json(body)
        tls = None
        if isinstance(call.credentials, ClientCertificate):
            cert, key, ca = call.credentials.files()
            tls = ClientTls(cert, key, ca or None)
        # UNIS answers a create with the stored object, and a lookup of our record with it: the cap allows for it,
        # whatever its size (``expect``: the size of the record a GET should find).
        cap = self.max_answer_bytes + 2 * max(len(data or b""), expect)
        reply = self.transport.call(
            method,
            url,
            timeout_s=call.timeout_s,
            deadline_s=call.deadline_s,
            headers=headers,
            body=data,
            cap=cap,
            tls=tls,
        )
        if isinstance(reply, Reply) and not reply.complete and not (method == "GET" and reply.status == 200):
            return transient(f"UNIS's answer to {method} is larger than {cap} bytes")
        return reply

    def get(self, record_id: Any, call: Call, expect: int = 0) -> Answer:
        """``GET /metadata/{id}``: the newest version, or ``200 []`` when UNIS knows no such (live) id. A 404 here
        is not "unknown": the handler answers it when its database find fails, so it is retried. ``expect``: the
        size of the record we look for, so that its answer is read whole."""
        return self.lookup(record_id, call, expect)[0]

    def lookup(self, record_id: Any, call: Call, expect: int = 0) -> tuple[Answer, dict[str, Any] | None]:
        """:meth:`get`, and the record found, when its answer was read whole."""
        response = self._send("GET", self.url_of(record_id), call, expect=expect)
        if isinstance(response, Answer):
            return response, None
        if response.status == 404:
            message = f"UNIS's database lookup of {record_id!r} failed (404; an unknown id is 200 []); will retry."
            return Answer(AnswerKind.TRANSIENT, 404, message, record_id), None
        if response.status != 200:
            return classify("find", response.status, response.text, dict(response.headers), record_id), None
        if not response.complete:
            # An unknown id is ``200 []``: an answer over the cap holds a record (one larger than we expected).
            message = "found (its answer is larger than the read cap, so its ts was not read)"
            return Answer(AnswerKind.SUCCESS, 200, message, record_id=str(record_id), found=True), None
        try:
            body = response.json()
        except ValueError:
            return transient(f"UNIS answered GET with a body that is not JSON: {response.text[:200]!r}", 200), None
        found = body[0] if isinstance(body, list) and body else body
        if isinstance(found, dict) and found.get("id") is not None:
            if str(found["id"]) != str(record_id):
                return transient(f"UNIS answered GET {record_id!r} with record {str(found['id'])[:80]!r}", 200), None
            version = found.get("ts") if isinstance(found.get("ts"), int) else None
            return Answer(AnswerKind.SUCCESS, 200, "found", str(found["id"]), version, found=True), found
        return Answer(AnswerKind.SUCCESS, 200, "not found"), None

    def post(self, document: dict[str, Any], call: Call) -> Answer:
        """``POST /metadata``: 201, the stored object and its ``Location``. A success needs evidence: the stored
        object with the id sent, and no ``Location`` naming another record (which a later deletion would delete)."""
        sent = str(document.get("id"))
        response = self._send("POST", self.collection, call, document)
        if isinstance(response, Answer):
            return response
        if response.status not in (200, 201):
            return classify("create", response.status, response.text, dict(response.headers), sent)
        stored = _json_or_none(response)
        if not isinstance(stored, dict) or stored.get("id") is None:
            return transient(
                f"UNIS answered POST with HTTP {response.status} but not the stored object "
                f"({response.text[:100]!r}); whether it took effect is unknown"
            )
        location = response.headers.get("Location")
        named = unquote(urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1]) if location else sent
        if str(stored["id"]) != sent or named != sent:
            other = str(stored["id"]) if str(stored["id"]) != sent else named
            message = (
                f"UNIS answered the creation of metadata {sent!r} with record {other[:80]!r}: nothing is recorded "
                "as published, and that record is not ours to update or delete. Check the route's url."
            )
            return Answer(AnswerKind.PERMANENT, response.status, message, sent)
        version = stored.get("ts") if isinstance(stored.get("ts"), int) else None
        where = f" at {location}" if location else ""
        return Answer(AnswerKind.SUCCESS, response.status, f"created{where}", sent, version, created=True)

    def put(self, record_id: Any, document: dict[str, Any], call: Call) -> Answer:
        """``PUT /metadata/{id}``: 204 without a body (the documentation's 201 is not what the code does)."""
        response = self._send("PUT", self.url_of(record_id), call, document)
        if isinstance(response, Answer):
            return response
        if response.status in (200, 201, 204):
            stored = _json_or_none(response)
            version = stored.get("ts") if isinstance(stored, dict) and isinstance(stored.get("ts"), int) else None
            return Answer(AnswerKind.SUCCESS, response.status, "updated", record_id, version)
        return classify("update", response.status, response.text, dict(response.headers), record_id)

    def delete(self, record_id: Any, call: Call) -> Answer:
        """``DELETE /metadata/{id}``: 204; UNIS marks every version deleted and hides them from GET."""
        response = self._send("DELETE", self.url_of(record_id), call)
        if isinstance(response, Answer):
            return response
        if response.status in (200, 202, 204):
            return Answer(AnswerKind.SUCCESS, response.status, "deleted", record_id)
        return classify("archive", response.status, response.text, dict(response.headers), record_id)


def _json_or_none(response: Reply) -> Any:
    try:
        return response.json() if response.raw else None
    except ValueError:
        return None
