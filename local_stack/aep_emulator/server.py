"""The AEP emulator's HTTP server (see the package docstring)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from local_stack.http_server import EmulatorHandler, ServedEmulator, ServerThread

from .state import LOADED, AepClient, Batch, Quirks, State

PLATFORM = "/data/foundation"
TOKEN_PATH = "/ims/token/v3"  # noqa: S105 (a path)
DEFAULT_SCHEMA_ID = "https://ns.adobe.com/hgi/schemas/datasets"
DEFAULT_SCHEMA: dict[str, Any] = {
    "$id": DEFAULT_SCHEMA_ID,
    "$schema": "http://json-schema.org/draft-06/schema#",
    "title": "HGI dataset records",
    "type": "object",
    "meta:class": "https://ns.adobe.com/xdm/data/record",
    "meta:extensible": False,
    "properties": {
        "_id": {"type": "string", "meta:xdmType": "string"},
        "title": {"type": "string", "minLength": 1, "meta:xdmType": "string"},
        "created": {"type": "string", "format": "date-time", "meta:xdmType": "date-time"},
        "rows": {"type": "integer", "minimum": 0, "meta:xdmType": "int"},
    },
    "required": ["_id", "title"],
}
Reply = tuple[int, Any, dict[str, str]]


@dataclass
class Fault:
    """Answer ``status`` (or wait ``delay_s`` first) to the next ``times`` requests whose path contains
    ``path_contains`` (and whose method is ``method``, when given)."""

    status: int | None = None
    path_contains: str = ""
    method: str | None = None
    times: int = 1
    retry_after: str | None = None
    delay_s: float = 0.0
    body: Any = None


@dataclass(frozen=True)
class Exchange:
    """One request and the emulator's answer (for the contract test)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status: int
    response_headers: dict[str, str]
    response_body: bytes


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    client_id: str = ""
    json: Any = field(default=None)


def _error(status: int, code: str, message: str) -> Reply:
    """Platform's gateway header errors, ``{"error_code", "message"}`` (AdobeDocs/experience-platform.en
    ``help/landing/troubleshooting.md``; ``shared/notes/destinations.md`` §3 "Auth")."""
    return status, {"error_code": code, "message": message}, {}


def _problem(status: int, title: str, detail: str) -> Reply:
    """Every other refusal: a problem-details body (``type``, ``status``, ``title``, ``detail``) of the emulator's
    own. Which statuses Catalog and Batch Ingestion use is in their specs (``shared/destinations/aep/``); their
    bodies' words are not, so the type URI, titles and details here are the emulator's."""
    return (
        status,
        {"type": "http://ns.adobe.com/aep/errors/INGEST-0000", "status": status, "title": title, "detail": detail},
        {},
    )


class _Handler(EmulatorHandler["AepEmulator"]):
    server_version = "AepEmulator/1.0"

    def dispatch(self) -> None:
        status, payload, extra = self.emulator.handle(self.command, self.path, self.lower_headers(), self.read_body())
        if payload is None:
            self.send_reply(status, [("Content-Length", "0"), *extra.items()], b"")
        else:
            self.send_json(status, payload, extra.items())


class AepEmulator(ServedEmulator):
    """A context manager: ``with AepEmulator() as aep: aep.base_url, aep.ims_url``."""

    def __init__(
        self,
        clients: list[AepClient] | None = None,
        org_id: str = "EMULATED0123456789@AdobeOrg",
        sandbox: str = "prod",
        schemas: dict[str, Any] | None = None,
        token_ttl_s: int = 86399,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.host, self.port = host, port
        self.state = State(org_id, sandbox, token_ttl_s)
        for client in clients or [AepClient("emulated-client", "emulated-secret-0123456789")]:
            self.state.clients[client.client_id] = client
        self.state.schemas.update(schemas or {DEFAULT_SCHEMA_ID: DEFAULT_SCHEMA})
        self.faults: list[Fault] = []
        self.exchanges: list[Exchange] = []
        self.lock = threading.RLock()
        self._http = ServerThread(_Handler, "aep-emulator")

    # -- lifecycle --------------------------------------------------------------------------------------------
    def start(self) -> AepEmulator:
        self._serve()
        return self

    def stop(self) -> None:
        self._http.stop()

    @property
    def base_url(self) -> str:
        """The Platform base (a route's ``url``): ``/data/foundation/...`` is appended."""
        return f"http://{self.host}:{self.port}"

    @property
    def ims_url(self) -> str:
        """The IMS base (a route's ``options.imsUrl``): ``/ims/token/v3`` is appended."""
        return f"http://{self.host}:{self.port}"

    @property
    def org_id(self) -> str:
        return self.state.org_id

    # -- scripting (tests and the local stack) ---------------------------------------------------------------
    def add_fault(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def fail_next_batch(self, errors: list[dict[str, Any]] | None = None, status: str = "failed") -> None:
        with self.lock:
            self.state.scripted.append((status, errors or [{"code": "INGEST-1212-400", "description": "rejected"}]))

    def never_settle(self, on: bool = True) -> None:
        with self.lock:
            self.state.never_settle = on

    @property
    def quirks(self) -> Quirks:
        """The real service's behaviours to switch on (see :class:`Quirks`); ``reset`` switches them off."""
        return self.state.quirks

    def age_loaded(self, status: str = "archived") -> None:
        """Move every loaded batch on to ``archived`` or ``retained``, as Catalog does after success
        (troubleshooting guide: both follow success)."""
        with self.lock:
            for batch in self.state.batches.values():
                if batch.status in LOADED:
                    batch.status = status

    def expire_tokens(self) -> None:
        with self.lock:
            self.state.tokens = {t: (c, 0.0) for t, (c, _) in self.state.tokens.items()}

    def datasets(self) -> dict[str, dict[str, Any]]:
        with self.lock:
            return {k: dict(v) for k, v in self.state.datasets.items()}

    def batches(self) -> list[Batch]:
        with self.lock:
            return sorted(self.state.batches.values(), key=lambda b: b.created)

    def rows(self, dataset_id: str) -> list[Any]:
        with self.lock:
            return self.state.rows(dataset_id)

    def requests(self, path_contains: str = "") -> list[Exchange]:
        with self.lock:
            return [e for e in self.exchanges if path_contains in e.path]

    def reset(self) -> None:
        with self.lock:
            clients, schemas = self.state.clients, self.state.schemas
            self.state = State(self.state.org_id, self.state.sandbox, self.state.token_ttl_s)
            self.state.clients, self.state.schemas = clients, schemas
            self.faults.clear()
            self.exchanges.clear()

    # -- serving ----------------------------------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        request = _Request(method, unquote(parts.path), query, headers, body)
        delay, reply = self._fault(request)
        if delay:
            time.sleep(delay)
        if reply is None:
            with self.lock:
                reply = self._route(request)
        status, payload, extra = reply
        with self.lock:
            data = b"" if payload is None else json.dumps(payload).encode()
            shown = {**extra, **({"content-type": "application/json"} if payload is not None else {})}
            self.exchanges.append(Exchange(method, parts.path, query, headers, body, status, shown, data))
        return reply

    def _fault(self, request: _Request) -> tuple[float, Reply | None]:
        with self.lock:
            for fault in self.faults:
                if fault.path_contains in request.path and fault.method in (None, request.method):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    if fault.status is None:
                        return fault.delay_s, None
                    extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                    body = fault.body or {  # an injected fault's body: the emulator's
                        "title": "Too Many Requests" if fault.status == 429 else "Server error",
                        "status": fault.status,
                    }
                    return fault.delay_s, (fault.status, body, extra)
        return 0.0, None

    def _route(self, request: _Request) -> Reply:
        """IMS's token path, then Platform's paths under ``/data/foundation`` (notes §3 "The chain"); an unknown
        path 404 and a known path with another method 405 (the emulator's bodies)."""
        if request.path == TOKEN_PATH and request.method == "POST":
            return self._token(request)
        if not request.path.startswith(PLATFORM + "/"):
            return _problem(404, "Not Found", f"no route {request.path}")
        refused = self._gateway(request)
        if refused is not None:
            return refused
        path = request.path[len(PLATFORM) :]
        for method, pattern, handler in self._routes():
            match = re.fullmatch(pattern, path)
            if match and method == request.method:
                return handler(request, *match.groups())
        return _problem(
            405 if any(re.fullmatch(p, path) for _, p, _ in self._routes()) else 404,
            "Not Found",
            f"no {request.method} {path}",
        )

    def _routes(self) -> list[tuple[str, str, Callable[..., Reply]]]:
        return [
            ("GET", r"/schemaregistry/tenant/schemas/(.+)", self._schema),
            ("GET", r"/catalog/dataSets", self._list_datasets),
            ("POST", r"/catalog/dataSets", self._create_dataset),
            ("GET", r"/catalog/dataSets/([^/]+)", self._get_dataset),
            ("GET", r"/catalog/batches", self._list_batches),
            ("GET", r"/catalog/batches/([^/]+)", self._get_batch),
            ("POST", r"/import/batches", self._create_batch),
            ("PUT", r"/import/batches/([^/]+)/datasets/([^/]+)/files/(.+)", self._put_file),
            ("POST", r"/import/batches/([^/]+)", self._batch_action),
        ]

    # -- IMS and the gateway -----------------------------------------------------------------------------------
    def _token(self, request: _Request) -> Reply:
        """IMS ``POST /ims/token/v3`` (notes §3 "Auth", from the IMS token reference on developer.adobe.com):
        form-encoded ``grant_type=client_credentials``, ``client_id``, ``client_secret``, ``scope``; answer
        ``{"access_token", "token_type": "bearer", "expires_in": 86399}`` (seconds), no refresh token. The error codes
        are OAuth 2.0's (RFC 6749 §5.2: ``unsupported_grant_type``, ``invalid_client``, ``invalid_scope``); the
        statuses and descriptions IMS gives with them are not in the notes: the emulator's. The token's format is
        the emulator's too (a real one is a JWT)."""
        form = {k: v[-1] for k, v in parse_qs(request.body.decode(errors="replace")).items()}
        if form.get("grant_type") != "client_credentials":
            return (
                400,
                {"error": "unsupported_grant_type", "error_description": "grant_type must be client_credentials"},
                {},
            )
        client = self.state.clients.get(form.get("client_id", ""))
        if client is None:
            return 400, {"error": "invalid_client", "error_description": "invalid client_id parameter"}, {}
        if form.get("client_secret") != client.client_secret:
            return 401, {"error": "invalid_client", "error_description": "invalid client_secret parameter"}, {}
        asked = {s.strip() for s in form.get("scope", "").split(",") if s.strip()}
        if not asked or not asked <= client.scopes:
            return (
                400,
                {"error": "invalid_scope", "error_description": f"invalid scope {sorted(asked - client.scopes)}"},
                {},
            )
        token = self.state.issue(client.client_id)
        return 200, {"access_token": token, "token_type": "bearer", "expires_in": self.state.token_ttl_s}, {}

    def _gateway(self, request: _Request) -> Reply | None:
        """Adobe's request header errors (troubleshooting page, notes §3): 403 403010 "Oauth token is missing.",
        401 401013 "Oauth token is not valid" (an expired token too: notes §3 says to get a new token once on a
        401),
        403 403000 "Api Key is required", 403 403003 "Api Key is invalid", 400 400003 "Missing header" (the header's
        name after it is the emulator's), 403 403025 "Profile is not valid" (here: an org id not the token's; when
        Adobe gives it is inferred). The page lists the errors, not the order they are checked in: this order is
        the emulator's. An unknown sandbox's 404 is a guess. A POST/PATCH body without a JSON content type is
        400 "A valid content-type must be specified" (the same page)."""
        headers = request.headers
        authorization = headers.get("authorization", "")
        if not authorization.startswith("Bearer "):
            return _error(403, "403010", "Oauth token is missing.")
        client_id = self.state.token_client(authorization.removeprefix("Bearer ").strip())
        if client_id is None:
            return _error(401, "401013", "Oauth token is not valid")
        if not headers.get("x-api-key"):
            return _error(403, "403000", "Api Key is required")
        if headers["x-api-key"] != client_id:
            return _error(403, "403003", "Api Key is invalid")
        for name in ("x-gw-ims-org-id", "x-sandbox-name"):
            if not headers.get(name):
                return _error(400, "400003", f"Missing header {name}")
        if headers["x-gw-ims-org-id"] != self.state.org_id:
            return _error(403, "403025", "Profile is not valid")
        if headers["x-sandbox-name"] != self.state.sandbox:
            return _problem(404, "Sandbox not found", f"sandbox {headers['x-sandbox-name']!r} does not exist")
        request.client_id = client_id
        if request.method in ("POST", "PATCH") and request.body:
            if not headers.get("content-type", "").startswith("application/json"):
                return _problem(400, "Bad Request", "A valid content-type must be specified")
            try:
                request.json = json.loads(request.body)
            except ValueError:
                return _problem(400, "Bad Request", "The request body is not valid JSON")
        return None

    # -- Schema Registry and Catalog ------------------------------------------------------------------------
    def _schema(self, request: _Request, schema_id: str) -> Reply:
        """Schema Registry (notes §3 step 0): ``GET /schemaregistry/tenant/schemas/{id}`` with an ``xed`` Accept,
        406 for another; an unknown id's 404 body is the emulator's."""
        accept = request.headers.get("accept", "")
        if not accept.startswith("application/vnd.adobe.xed"):
            return _problem(406, "Not Acceptable", "Accept must be application/vnd.adobe.xed-full+json; version=1")
        schema = self.state.schemas.get(schema_id)
        if schema is None:
            return _problem(404, "Schema not found", f"no schema {schema_id}")
        return 200, schema, {}

    def _list_datasets(self, request: _Request) -> Reply:
        """``GET /catalog/dataSets?name=…`` or ``?tags=k:v`` (notes §3 step 1; page of 20 by default, ``limit`` up to
        100 there, not capped here), an object keyed by dataset id as Catalog answers (``catalog.yaml``)."""
        name, tag = request.query.get("name"), request.query.get("tags")
        if self.state.quirks.ignore_tags_filter:
            tag = None
        hits = {
            i: d
            for i, d in self.state.datasets.items()
            if (name is None or _matches(name, d["name"])) and (tag is None or _tagged(d.get("tags"), tag))
        }
        return self._list(dict(list(hits.items())[: int(request.query.get("limit", "20"))]))

    def _list(self, hits: dict[str, Any]) -> Reply:
        if not hits and self.state.quirks.empty_list_404:
            # Catalog's list endpoints declare a 404 "not found" (catalog.yaml); its body here is a guess
            return _problem(404, "Not Found", "No results were found")
        return 200, hits, {}

    def _create_dataset(self, request: _Request) -> Reply:
        """``POST /catalog/dataSets`` (notes §3 step 1): 201, ``Location``, body ``["@/dataSets/{id}"]``. Whether a
        duplicate name is refused is not documented (notes §3): it is not refused here. The 400s for a missing
        name or an unknown schema, the id format and the stored fields beyond ``name``/``schemaRef``/``tags`` are the
        emulator's."""
        body = request.json if isinstance(request.json, dict) else {}
        ref: dict[str, Any] = body["schemaRef"] if isinstance(body.get("schemaRef"), dict) else {}
        if not isinstance(body.get("name"), str) or not body["name"].strip():
            return _problem(400, "Bad Request", "name is required")
        if ref.get("id") not in self.state.schemas:
            return _problem(400, "Bad Request", f"schemaRef.id {ref.get('id')!r} is not a schema in this sandbox")
        dataset_id = self.state.new_id("DS")
        created = self.state.now_ms()
        self.state.datasets[dataset_id] = {
            "name": body["name"],
            "schemaRef": ref,
            "tags": body.get("tags") or {},
            "created": created,
            "updated": created,
            "imsOrg": self.state.org_id,
            "version": "1.0.0",
        }
        return 201, [f"@/dataSets/{dataset_id}"], {"Location": f"{PLATFORM}/catalog/dataSets/{dataset_id}"}

    def _get_dataset(self, request: _Request, dataset_id: str) -> Reply:
        dataset = self.state.datasets.get(dataset_id)
        if dataset is None:
            return _problem(404, "Not Found", f"no dataset {dataset_id}")
        return 200, {dataset_id: dataset}, {}

    def _list_batches(self, request: _Request) -> Reply:
        """``GET /catalog/batches`` filtered by ``dataSet``, ``externalId``, ``status``, ``tags`` with ``orderBy``
        and ``limit`` (Catalog's filtering guide, ``help/catalog/api/filter-data.md``; default page 20, notes §3)."""
        q = dict(request.query)
        if self.state.quirks.ignore_tags_filter:
            q.pop("tags", None)
        hits = [
            b
            for b in self.state.batches.values()
            if (q.get("dataSet") is None or _matches(q["dataSet"], b.dataset_id))
            and (q.get("externalId") is None or _matches(q["externalId"], b.external_id))
            and (q.get("status") is None or _matches(q["status"], b.status))
            and (q.get("tags") is None or _tagged(b.tags, q["tags"]))
        ]
        hits.sort(key=lambda b: b.created, reverse=q.get("orderBy", "").startswith("desc"))
        hits = hits[: int(q.get("limit", "20"))]
        return self._list({b.id: b.view(self.state.org_id) for b in hits})

    def _get_batch(self, request: _Request, batch_id: str) -> Reply:
        """``GET /catalog/batches/{id}`` (notes §3 step 5): an object keyed by the batch id with ``status``,
        ``errors[]`` (``{code, description}``) and ``metrics``. Each read moves a completed batch on (see
        ``State.read``): Adobe suggests polling every two minutes; the emulator counts reads, not minutes."""
        batch = self.state.batches.get(batch_id)
        if batch is None:
            return _problem(404, "Not Found", f"no batch {batch_id}")
        self.state.read(batch)
        return 200, {batch.id: batch.view(self.state.org_id)}, {}

    # -- Batch Ingestion ------------------------------------------------------------------------------------
    def _create_batch(self, request: _Request) -> Reply:
        """``POST /import/batches`` (notes §3 step 2): ``{"datasetId", "inputFormat": {"format"}, "externalId"?,
        "replay"?: {"predecessors", "reason"}}`` → 201, the batch with ``status: "loading"``. Emulator's own: the
        400s (unknown dataset, a format other than json/parquet/csv, a predecessor of another dataset, an
        ``externalId`` already used: whether Adobe refuses that is unknown) and the id format."""
        body = request.json if isinstance(request.json, dict) else {}
        dataset_id = body.get("datasetId")
        fmt = (body.get("inputFormat") or {}).get("format") if isinstance(body.get("inputFormat"), dict) else None
        if dataset_id not in self.state.datasets:
            return _problem(400, "Bad Request", f"datasetId {dataset_id!r} is not a dataset in this sandbox")
        if not isinstance(fmt, str) or fmt.lower() not in ("json", "parquet", "csv"):
            return _problem(400, "Bad Request", "inputFormat.format must be json, parquet or csv")
        replay: dict[str, Any] = body["replay"] if isinstance(body.get("replay"), dict) else {}
        predecessors = [str(p) for p in replay.get("predecessors") or []]
        for old in predecessors:
            known = self.state.batches.get(old.removeprefix("$"))  # a bare id or "$" + id: see Quirks
            if known is None or known.dataset_id != dataset_id:
                return _problem(
                    400, "Bad Request", f"replay predecessor {old!r} is not a batch of dataset {dataset_id}"
                )
        external = str(body.get("externalId") or "")
        if external and any(b.external_id == external for b in self.state.batches.values()):
            return _problem(400, "Bad Request", f"externalId {external!r} is already used by another batch")
        batch = Batch(
            id=self.state.new_id("B"),
            dataset_id=str(dataset_id),
            external_id=str(body.get("externalId") or ""),
            created=self.state.now_ms(),
            tags=body.get("tags") or {},
            predecessors=predecessors,
        )
        batch.external_id = batch.external_id or batch.id
        self.state.batches[batch.id] = batch
        return 201, batch.view(self.state.org_id), {}

    def _put_file(self, request: _Request, batch_id: str, dataset_id: str, name: str) -> Reply:
        """``PUT /import/batches/{b}/datasets/{d}/files/{name}`` (notes §3 step 3): ``application/octet-stream`` (415
        for another type), 200, idempotent (the same PUT replaces the file). Only the small-file upload: the
        large-file upload above 256 MB is not emulated. The 400 for a file added after COMPLETE is a guess."""
        if request.headers.get("content-type") != "application/octet-stream":
            return _problem(415, "Unsupported Media Type", "Content-Type must be application/octet-stream")
        batch = self.state.batches.get(batch_id)
        if batch is None or batch.dataset_id != dataset_id:
            return _problem(404, "Not Found", f"no batch {batch_id} for dataset {dataset_id}")
        if batch.completed or batch.status != "loading":
            return _problem(400, "Bad Request", f"batch {batch_id} is {batch.status}; files can no longer be added")
        batch.files[name] = request.body
        return 200, None, {}

    def _batch_action(self, request: _Request, batch_id: str) -> Reply:
        """``POST /import/batches/{id}?action=COMPLETE|ABORT|FAIL|REVERT`` (notes §3 step 4): COMPLETE's 200 means
        accepted, not done, and COMPLETE again is safe (troubleshooting guide). Which statuses each action is
        refused in, and the ``aborted``/``failed``/``reverted`` statuses it leaves, are the emulator's reading."""
        batch = self.state.batches.get(batch_id)
        if batch is None:
            return _problem(404, "Not Found", f"no batch {batch_id}")
        action = request.query.get("action", "")
        if action == "COMPLETE":
            if batch.status not in ("loading", "staging", "failed", *LOADED):
                return _problem(400, "Bad Request", f"batch {batch_id} is {batch.status}")
            self.state.complete(batch)
            if self.state.quirks.complete_errors > 0:
                self.state.quirks.complete_errors -= 1  # it took effect, and still answers an error (Quirks)
                return _problem(500, "Internal Server Error", "An unexpected error occurred")
        elif action in ("ABORT", "FAIL"):
            if batch.status != "loading" or batch.completed:
                return _problem(400, "Bad Request", f"batch {batch_id} is {batch.status} and cannot be aborted")
            batch.status = "aborted" if action == "ABORT" else "failed"
        elif action == "REVERT":
            if batch.status not in LOADED:
                return _problem(400, "Bad Request", f"batch {batch_id} is {batch.status}; only a loaded batch reverts")
            batch.status = "reverted"
        else:
            return _problem(400, "Bad Request", "action must be COMPLETE, ABORT, FAIL or REVERT")
        return 200, batch.view(self.state.org_id), {}


def _tagged(tags: Any, query: str) -> bool:
    name, _, value = query.partition(":")
    values = tags.get(name) if isinstance(tags, dict) else None
    return isinstance(values, list) and (not value or any(_matches(value, str(v)) for v in values))


def _matches(query: str, actual: str) -> bool:
    """A Catalog filter value: a comma separates several values (any matches) and ``*`` is a wildcard
    (AdobeDocs/experience-platform.en help/catalog/api/filter-data.md). Whether an escape exists is not documented:
    none is modelled."""
    return any(
        re.fullmatch(".*".join(re.escape(part) for part in option.split("*")), actual, re.DOTALL)
        for option in query.split(",")
    )
