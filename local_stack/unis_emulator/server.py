"""A perfSONAR UNIS ``/metadata`` server over real HTTP, behaving as UNIS's code does (``periscope/handlers``;
``shared/notes/destinations.md`` §1), with the Gateway emulator's fault injection.

* ``POST /metadata`` (one object or a list): fills ``id`` (when missing), ``ts``, ``selfRef`` and ``$schema``,
  validates with UNIS's schema files (``?validate=false`` skips it), stores a version per ``(id, ts)``; a repeated
  pair is 409 and fails the whole request; so is any other insert failure (the handler answers 409 for every
  exception of the insert; fault ``failed_inserts``). 201 with the stored object and ``Location`` (a list: no
  ``Location``). A list of objects without ids gets an id made for each (seed 002 posts exactly that).
* ``GET /metadata/{id}``: the newest live version; an unknown (or deleted) id is ``200 []``; a database find that
  fails is **404** (the handler's ``except`` around the find; fault ``failed_lookups``).
  ``GET /metadata[?field=value&limit=N]``: every live version, ``X-Count``.
* ``PUT /metadata/{id}``: 204 without a body; the body is not validated; unknown id 404; a soft-deleted id 204
  while the record stays deleted and hidden (``db.py``'s update has no status filter); a different ``id`` in the
  body 500 (the handler's error path names an undefined variable).
* ``DELETE /metadata/{id}``: 204; soft delete (every version hidden from GET, kept for the ``(id, ts)`` index).
* Error bodies are built by string concatenation, as UNIS's ``write_error`` does: ``{"message": "<text>"}`` with
  the text pasted in, so a message holding ``"`` or a newline makes a body that is not valid JSON.
* A ``Content-Type`` or ``Accept`` UNIS does not take is answered 500 (UNIS raises the HTTP client's ``HTTPError``
  instead of the web one): with the exception text for ``Content-Type``, with no body for ``Accept``.

Faults (``POST /_emulator/faults``, as the Gateway emulator's, see ``gateway_emulator.faults``): ``latency_ms``,
``error_rate``, ``timeout_rate``, ``timeout_after``, ``script`` (``"500"``, ``"timeout"``, ``"drop"``,
``"throttle"``, ``"ok"``), ``throttle_per_minute`` (429 with ``Retry-After``, as a proxy in front would), ``seed``,
and ``late_answers``: the next N writes (POST, PUT, DELETE) are carried out, then answered only after
``timeout_after`` seconds (the client times out although the change was made); ``failed_lookups``: the next N
GETs of one id answer 404 as a failed MongoDB find does; ``failed_inserts``: the next N POSTs answer 409 with a
database error that is not E11000 (MongoDB unreachable). Sources for these: periscope-ps/unis 7c9a9d2,
``periscope/handlers/networkresourcehandler.py`` and ``periscope/db.py`` (``shared/notes/destinations.md`` §5).

Where each answer's words come from (``NetworkResourceHandler`` of ``networkresourcehandler.py``; the wording below
was checked against an earlier stored copy of that file, 0095799, as the notes name only behaviours, not words):
``send_error`` messages "Could not find resource - <exc>" (GET, 404), "Not valid body - <exc>" (POST, 400),
"Could not process the POST request - <exc>" (409), "Could not process the PUT request - <exc>" (404),
``_get_documents``'s "malformatted json request - <exc>." and "No Post method is implemented for this content
type"; ``_add_response_headers``'s ``X-Count`` and ``Content-Type: <accept> ;profile=<schema URI>``; an exception
the handler does not catch reaches ``write_error`` as ``{"exc_info": "<the exc_info tuple>"}``. The text after
each prefix (the validator's or MongoDB's message) is representative, not UNIS's own. The 404 for a path outside
``/metadata`` and the 405 for a method the handler lacks are Tornado's defaults in the emulator's rendering; the
``Server: TornadoServer/6.4`` header names a Tornado release the real deployment may not run. Not emulated: the
``?fields``/``skip``/``sort`` and operator (``lt=``, ``reg=``, ``a|b``) query syntax, and the 403 an unparsable
query gets.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from local_stack.gateway_emulator.faults import FaultDecision, FaultPlan
from local_stack.http_server import EmulatorHandler, ServedEmulator, ServerThread

from .store import Conflict, MetadataStore
from .validation import MetadataSchema

PSJSON = "application/perfsonar+json"
ACCEPTED = ("text/event-stream", PSJSON, "application/perfsonar+bson", "application/perfsonar+xml")
CONTENT_TYPES = (*ACCEPTED, "text/html")
_ID_ROUTE = re.compile(r"^/metadata/([^/]+)$")


@dataclass
class _Reply:
    status: int
    text: str | None = None  # None: no body
    headers: dict[str, str] = field(default_factory=dict)
    fault: str | None = None
    late: bool = False


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    status: int | None
    content_type: str | None
    accept: str | None
    fault: str | None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _message(status: int, text: str) -> _Reply:
    """UNIS's ``write_error``: the JSON is pasted together, never encoded."""
    return _Reply(status, '{"message": "' + text + '"}\n', {"Content-Type": PSJSON})


def _uncaught(exc_class: str, exc: str) -> _Reply:
    """An exception the handler does not catch: Tornado calls UNIS's ``write_error``, which pastes the exc_info
    tuple, as Python prints it, into its JSON (never encoded): ``{"exc_info": "(<class '…'>, …, <traceback …>)"}``."""
    text = f"(<class '{exc_class}'>, {exc}, <traceback object at 0x7f3a2c1e4b80>)"
    return _Reply(500, '{"exc_info": "' + text + '"}\n', {"Content-Type": PSJSON})


class _Handler(EmulatorHandler["UnisEmulator"]):
    server_version = "TornadoServer/6.4"

    def dispatch(self) -> None:
        emulator = self.emulator
        try:
            body = self.read_body()
            reply = emulator.handle(self.command, self.path, self.lower_headers(), body, self.client_address[0])
            if reply is None:
                self.drop_connection()
                return
            if reply.late:
                emulator.sleep(emulator.faults.timeout_after)
            payload = (reply.text or "").encode("utf-8")
            self.send_reply(reply.status, [*reply.headers.items(), ("Content-Length", str(len(payload)))], payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class UnisEmulator(ServedEmulator):
    """``with UnisEmulator() as unis: unis.base_url`` (``http://127.0.0.1:<port>``; the collection is
    ``base_url + "/metadata"``). ``schema`` is the version the server validates with ("2015" or "2012")."""

    def __init__(self, schema: str = "2015", host: str = "127.0.0.1", port: int = 0, seed: int = 0) -> None:
        self.schema = MetadataSchema(schema)
        self.host, self.port = host, port
        self.store = MetadataStore()
        self.faults = FaultPlan(seed=seed)
        self._late = 0
        self._counters = {"failed_lookups": 0, "failed_inserts": 0}
        self._lock = threading.Lock()
        self._log: list[RequestRecord] = []
        self._http = ServerThread(_Handler, "unis-emulator")

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> str:
        self._serve()
        return self.base_url

    def stop(self) -> None:
        self._http.stop()

    @property
    def base_url(self) -> str:
        return self._running_url()

    # -- Python API for tests and the local stack ----------------------------------------------------------
    def records(self, include_deleted: bool = True) -> list[dict[str, Any]]:
        """Every stored version: ``id``, ``ts``, ``deleted``, ``document``."""
        return [v.to_json() for v in self.store.all() if include_deleted or not v.deleted]

    def ids(self) -> list[str]:
        """The ids with a live version (one record each, however many versions)."""
        return sorted({v.id for v in self.store.live()})

    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._log)

    def configure_faults(self, config: Mapping[str, Any]) -> None:
        settings = dict(config)
        counts = {name: settings.pop(name) for name in ("late_answers", *self._counters) if name in settings}
        for name, value in counts.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer")
        self.faults.configure(settings)
        with self._lock:
            self._late = counts.pop("late_answers", self._late)
            self._counters.update(counts)

    def reset(self) -> None:
        self.store.clear()
        self.faults.reset()
        with self._lock:
            self._late = 0
            self._counters = dict.fromkeys(self._counters, 0)
            self._log.clear()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._http.stopping.wait(seconds)

    # -- requests --------------------------------------------------------------------------------------------
    def handle(self, method: str, raw: str, headers: Mapping[str, str], body: bytes, client: str) -> _Reply | None:
        parts = urlsplit(raw)
        path = parts.path.rstrip("/") or "/"
        if path.startswith("/_emulator"):
            return self._admin(method, path, body)
        reply = self._faulted(client)
        if reply is None:
            reply = self._api(method, path, parse_qs(parts.query), headers, body)
            reply.late = method in ("POST", "PUT", "DELETE") and self._take_late()
        answered = None if reply is _DROP else reply
        record = RequestRecord(
            method,
            path,
            answered.status if answered else None,
            headers.get("content-type"),
            headers.get("accept"),
            reply.fault,
        )
        with self._lock:
            self._log.append(record)
        return answered

    def _faulted(self, client: str) -> _Reply | None:
        """A fault's reply (``_DROP``: close the connection), or None to handle the request."""
        self.sleep(self.faults.latency_ms / 1000.0)
        decision: FaultDecision = self.faults.next_decision()
        if decision.kind == "drop":
            return _DROP
        if decision.kind in ("timeout", "status"):
            if decision.kind == "timeout":
                self.sleep(self.faults.timeout_after)
            return _Reply(decision.status, _SERVER_ERROR, {"Content-Type": PSJSON}, decision.label)
        throttled, _, _ = self.faults.throttle_hit(client)
        if decision.kind == "throttle" or throttled:
            headers = {"Content-Type": PSJSON, "Retry-After": "1"}
            return _Reply(429, '{"message": "Too Many Requests"}\n', headers, decision.label or "throttle")
        return None

    def _take_late(self) -> bool:
        with self._lock:
            if self._late > 0:
                self._late -= 1
                return True
            return False

    def _api(
        self, method: str, path: str, query: dict[str, list[str]], headers: Mapping[str, str], body: bytes
    ) -> _Reply:
        match = _ID_ROUTE.match(path)
        if path != "/metadata" and not match:
            return _Reply(404, "<html><title>404: Not Found</title><body>404: Not Found</body></html>")
        record_id = unquote(match.group(1)) if match else None
        if not _accepts(headers.get("accept")):
            return _Reply(500)  # UNIS's write_error fails on the same Accept: an empty 500
        handlers = {"GET": self._get, "POST": self._post, "PUT": self._put, "DELETE": self._delete}
        handler = handlers.get(method)
        if handler is None or (method == "POST" and record_id) or (method in ("PUT", "DELETE") and not record_id):
            return _Reply(405, "<html><title>405: Method Not Allowed</title></html>")
        return handler(record_id, query, headers, body)

    def _profile(self) -> dict[str, str]:
        return {"Content-Type": f"{PSJSON} ;profile={self.schema.uri}"}

    def _documents(self, headers: Mapping[str, str], body: bytes) -> Any:
        """The body's JSON, or the reply UNIS gives instead."""
        raw = headers.get("content-type", PSJSON)
        types = [m.group(0) for m in re.finditer(r"\w+/\w+(\+\w+)?", raw)]
        kind = next((t for t in CONTENT_TYPES if t in types), None)
        if kind is None:
            error = f"HTTPClientError(\"HTTP 415: Unsupported content type '{raw}'\")"
            return _uncaught("tornado.httpclient.HTTPClientError", error)
        if kind != PSJSON:
            return _message(400, "No Post method is implemented for this content type")
        try:
            return json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            return _message(400, f"malformatted json request - {exc}.")

    def _fill(self, document: dict[str, Any], record_id: str | None = None) -> dict[str, Any]:
        """What UNIS adds before it validates (notes §1 "Body"): ``id`` when missing (UNIS's model makes one; its
        format was not read: 24 hex characters here), ``ts`` in microseconds since the epoch, ``selfRef``
        ``{base}/metadata/{id}`` (``_add_post_metadata``) and ``$schema`` when absent."""
        filled = dict(document)
        filled["id"] = str(filled.get("id") or record_id or uuid.uuid4().hex[:24])
        filled["ts"] = filled["ts"] if "ts" in filled else self.store.now_ts()
        filled["selfRef"] = f"{self.base_url}/metadata/{quote(filled['id'], safe='')}"
        filled.setdefault("$schema", self.schema.uri)
        return filled

    def _get(
        self, record_id: str | None, query: dict[str, list[str]], headers: Mapping[str, str], body: bytes
    ) -> _Reply:
        if record_id is not None:
            # One id: the newest live version (limit 1, sorted by ts descending; ``\$status`` != DELETED), or 200
            # ``[]`` for an unknown or deleted id (notes §1 answers table).
            if self._take("failed_lookups"):
                # The handler answers 404 when the database find raises (not for an unknown id: that is 200 []).
                return _message(404, "Could not find resource - ServerSelectionTimeoutError: localhost:27017")
            newest = self.store.newest(record_id)
            text = json.dumps(newest.document, indent=2) if newest else "[]"
            return _Reply(200, text, {**self._profile(), "X-Count": "1" if newest else "0"})
        limit = int((query.pop("limit", ["0"]) or ["0"])[-1] or 0)
        found = [
            v.document for v in self.store.live() if all(_matches(v.document, k, vs[-1]) for k, vs in query.items())
        ]
        found = found[:limit] if limit > 0 else found
        return _Reply(200, json.dumps(found, indent=2), {**self._profile(), "X-Count": str(len(found))})

    def _post(
        self, record_id: str | None, query: dict[str, list[str]], headers: Mapping[str, str], body: bytes
    ) -> _Reply:
        decoded = self._documents(headers, body)
        if isinstance(decoded, _Reply):
            return decoded
        single = not isinstance(decoded, list)
        items = [decoded] if single else decoded
        validate = (query.get("validate") or [""])[-1] != "false"
        filled: list[dict[str, Any]] = []
        for item in items:
            if not isinstance(item, dict):
                # UNIS fails such an item in its model; these words after "Not valid body - " are the emulator's.
                return _message(400, f"Not valid body - {type(item).__name__} is not a resource")
            document = self._fill(item)
            problem = self.schema.first_error(document) if validate else None
            if problem is not None:
                return _message(400, f"Not valid body - Validation error from json - {problem}")
            filled.append(document)
        if self._take("failed_inserts"):
            # Any exception of the insert is a 409 in the handler, not only MongoDB's E11000 duplicate key.
            return _message(409, "Could not process the POST request - AutoReconnect: connection closed")
        try:
            self.store.insert(filled)
        except Conflict as exc:
            return _message(409, f"Could not process the POST request - {exc}")
        if not single:
            return _Reply(201, json.dumps(filled, indent=2), self._profile())
        location = filled[0]["selfRef"]
        return _Reply(201, json.dumps(filled[0], indent=2), {**self._profile(), "Location": location})

    def _put(
        self, record_id: str | None, query: dict[str, list[str]], headers: Mapping[str, str], body: bytes
    ) -> _Reply:
        assert record_id is not None
        decoded = self._documents(headers, body)
        if isinstance(decoded, _Reply):
            return decoded
        if not isinstance(decoded, dict):
            # What UNIS's model makes of a list in a PUT was not read: a 400 in the emulator's words.
            return _message(400, "Not valid body - a PUT takes one resource")
        if str(decoded.get("id", record_id)) != record_id:
            # The handler means to answer 400 "Different ids in the URL … and in the body …", but builds the message
            # from ``body[self.Id]`` and ``body`` is not defined in ``put()``: the NameError reaches Tornado, which
            # answers 500 through UNIS's write_error with the exc_info pasted in (notes §5 "a body id different from
            # the URL id → 500 (undefined variable)").
            return _uncaught("NameError", "NameError(\"name 'body' is not defined\")")
        document = self._fill(decoded, record_id)  # no validation: the PUT handler never calls the schema
        try:
            replaced = self.store.replace(record_id, document)
        except Conflict as exc:
            # put() answers 404 for any exception of the update, a duplicate (id, ts) included (the same handler)
            return _message(404, f"Could not process the PUT request - {exc}")
        if not replaced:
            return _message(404, f"Could not process the PUT request - no resource with id {record_id}")
        return _Reply(204, None, self._profile())

    def _take(self, counter: str) -> bool:
        """Whether this request takes one of the faults counted by ``counter``."""
        with self._lock:
            if self._counters[counter] <= 0:
                return False
            self._counters[counter] -= 1
            return True

    def _delete(
        self, record_id: str | None, query: dict[str, list[str]], headers: Mapping[str, str], body: bytes
    ) -> _Reply:
        assert record_id is not None
        self.store.delete(record_id)
        return _Reply(204)

    # -- admin ---------------------------------------------------------------------------------------------
    def _admin(self, method: str, path: str, body: bytes) -> _Reply:
        try:
            data: Any = json.loads(body.decode("utf-8")) if body else {}
            route = (method, path)
            if route == ("POST", "/_emulator/faults"):
                if not isinstance(data, dict):
                    raise ValueError("fault configuration must be a JSON object")
                self.configure_faults(data)
                return _json(200, self._faults())
            if route == ("GET", "/_emulator/faults"):
                return _json(200, self._faults())
            if route == ("POST", "/_emulator/reset"):
                self.reset()
                return _json(200, {"message": "reset"})
            if route == ("GET", "/_emulator/requests"):
                return _json(200, {"requests": [r.to_json() for r in self.requests()]})
            if route == ("GET", "/_emulator/records"):
                return _json(200, {"records": self.records()})
            if route == ("GET", "/_emulator/health"):
                return _json(200, {"status": "ok", "base_url": self.base_url, "schema": self.schema.uri})
        except ValueError as exc:
            return _json(400, {"message": str(exc)})
        return _json(404, {"message": f"no emulator admin endpoint {method} {path}"})

    def _faults(self) -> dict[str, Any]:
        with self._lock:
            return {**self.faults.snapshot(), "late_answers": self._late, **self._counters}


_SERVER_ERROR = '{"message": "Internal Server Error"}\n'  # an injected fault's body: the emulator's words
_DROP = _Reply(0, fault="script:drop")


def _json(status: int, body: Any) -> _Reply:
    return _Reply(status, json.dumps(body), {"Content-Type": "application/json"})


def _accepts(raw: str | None) -> bool:
    """UNIS's ``accept_content_type``: one of its media types, or ``*/*``; no header means perfSONAR JSON."""
    if raw is None:
        return True
    types = [m.group(1) for m in re.finditer(r"((\w+|\*)/(\w+|\*)(\+\w+)?)", raw)]
    return "*/*" in types or any(t in types for t in ACCEPTED)


def _matches(document: Any, dotted: str, wanted: str) -> bool:
    node = document
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return str(node) == wanted
