"""The Qrvey emulator's HTTP server and state (see the package docstring)."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from local_stack.gateway_emulator.faults import FaultDecision, FaultPlan
from local_stack.http_server import EmulatorHandler, ServedEmulator, ServerThread

API_PREFIX = "/devapi/v4"
REQUEST_LOG_LIMIT = 2000
_DATASETS = re.compile(r"^/user/(?P<user>[^/]+)/app/(?P<app>[^/]+)/qollect/dataset(?P<rest>/.*)?$")


@dataclass
class _Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    fault: str | None = None


@dataclass
class _LoadPlan:
    """How the next loads end: each scripted entry is a failure reason (or ``None``: success), taken by one load;
    ``tables`` fail every load of a dataset reading that table."""

    steps: int = 1
    script: list[str | None] = field(default_factory=list)
    tables: dict[str, str] = field(default_factory=dict)


def _error(status: int, *messages: str) -> _Reply:
    """An error in the envelope ``{"status": "error", "errors": [{"message": ...}]}``: seen in a third-party
    client's fixtures, unconfirmed for Qrvey itself (``shared/notes/destinations.md`` §2). Qrvey's own status codes
    and words for its errors are not public: every message passed here is the emulator's."""
    return _Reply(status, {"status": "error", "errors": [{"message": m} for m in messages]})


def _gateway(message: str) -> _Reply:
    """An answer AWS API Gateway (in front of Qrvey's API) gives itself, before Qrvey sees the request: a 403 with a
    bare ``{"message": ...}``. Source: AWS API Gateway developer guide, "Gateway response types"
    (MISSING_AUTHENTICATION_TOKEN and INVALID_API_KEY both answer 403), as cited in notes/destinations.md §5
    (inferred for Qrvey: qrvey/backend_sample ``lib/helpers/axios.js`` sends only ``x-api-key``)."""
    return _Reply(403, {"message": message})


def _throttled() -> _Reply:
    """API Gateway's THROTTLED gateway response: 429 ``{"message": "Too Many Requests"}`` (AWS API Gateway developer
    guide, "Gateway response types"; a usage plan's or stage's throttle, inferred for Qrvey as for the 403s above).
    ``Retry-After`` is the emulator's addition: API Gateway sends none by default."""
    return _Reply(429, {"message": "Too Many Requests"}, {"Retry-After": "1"})


class _Handler(EmulatorHandler["QrveyEmulator"]):
    server_version = "QrveyEmulator/1.0"

    def dispatch(self) -> None:
        body = self.read_body()
        try:
            reply = self.emulator.handle(self.command, self.path, self.lower_headers(), body, self.client_address[0])
        except Exception as exc:  # noqa: BLE001 - the emulator's own failure as a 500 in Qrvey's envelope (see _error)
            reply = _error(500, f"Internal server error: {type(exc).__name__}")
        if reply is None:
            self.drop_connection()
            return
        try:
            self.send_json(reply.status, reply.body, reply.headers.items())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class QrveyEmulator(ServedEmulator):
    """A real HTTP server on ``host:port`` behaving like Qrvey's dataset API; ``base_url`` ends in ``/devapi/v4``.

    ``api_keys``: the keys accepted in ``x-api-key``. State is in memory; every method is thread-safe."""

    def __init__(
        self, api_keys: Iterable[str] = ("qrvey-local-api-key",), host: str = "127.0.0.1", port: int = 0, seed: int = 0
    ) -> None:
        self.host = host
        self.port = port
        self.faults = FaultPlan(seed=seed)
        self._lock = threading.RLock()
        self._keys = set(api_keys)
        self._datasets: dict[str, dict[str, Any]] = {}
        self._reads_left: dict[str, int] = {}
        self._drafts_left: dict[str, int] = {}
        self._draft_reads = 1
        self._loads = _LoadPlan()
        self._log: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_LIMIT)
        self._http = ServerThread(_Handler, "qrvey-emulator")

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> str:
        self._serve()
        return self.base_url

    def stop(self) -> None:
        self._http.stop()

    @property
    def base_url(self) -> str:
        return self._running_url(API_PREFIX)

    @property
    def root_url(self) -> str:
        return self.base_url[: -len(API_PREFIX)]

    # -- Python API for tests and the local stack ----------------------------------------------------------
    def datasets(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(json.dumps(d)) for d in self._datasets.values()]

    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._log)

    def change_dataset(self, dataset_id: str, changes: Mapping[str, Any]) -> None:
        """Set fields of a stored dataset, as someone editing it in Qrvey's own tools would: a test's hook, not
        an API of the real service (which documents no update of a dataset definition, notes/destinations.md §2)."""
        with self._lock:
            self._datasets[dataset_id].update(json.loads(json.dumps(dict(changes))))

    def reset(self) -> None:
        """Clear datasets, load plans, faults and the request log; keys are kept."""
        with self._lock:
            self._datasets.clear()
            self._reads_left.clear()
            self._drafts_left.clear()
            self._draft_reads = 1
            self._loads = _LoadPlan()
            self._log.clear()
        self.faults.reset()

    def set_keys(self, keys: Iterable[str]) -> None:
        with self._lock:
            self._keys = set(keys)

    def set_load_steps(self, reads: int) -> None:
        """How many reads of a loading dataset still show LOADING (0: the first read shows how it ended)."""
        if reads < 0:
            raise ValueError("load steps must be >= 0")
        with self._lock:
            self._loads.steps = reads

    def set_draft_reads(self, reads: int) -> None:
        """How many reads just after a load starts still show DRAFT (before LOADING); 0 turns the quirk off."""
        if reads < 0:
            raise ValueError("draft reads must be >= 0")
        with self._lock:
            self._draft_reads = reads

    def fail_loads(self, reason: str, table: str | None = None, count: int = 1) -> None:
        """Make the next ``count`` loads fail with ``reason``, or (``table``) every load of a dataset reading it."""
        with self._lock:
            if table is not None:
                self._loads.tables[table] = reason
            else:
                self._loads.script.extend([reason] * count)

    # -- requests ------------------------------------------------------------------------------------------
    def handle(
        self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes, client_ip: str
    ) -> _Reply | None:
        path = urlsplit(raw_path).path.rstrip("/") or "/"
        if path.startswith("/_emulator"):
            return self._admin(method, path, body)
        started = time.monotonic()
        reply = self._api(method, path, headers, body, client_ip) if path.startswith(API_PREFIX) else None
        if not path.startswith(API_PREFIX):
            reply = _gateway("Missing Authentication Token")
        with self._lock:
            self._log.append(
                {
                    "method": method,
                    "path": path,
                    "status": reply.status if reply else None,
                    "fault": reply.fault if reply else "drop",
                    "api_key_present": bool(headers.get("x-api-key")),
                    "duration_ms": round((time.monotonic() - started) * 1000, 3),
                }
            )
        return reply

    def _api(self, method: str, path: str, headers: Mapping[str, str], body: bytes, client_ip: str) -> _Reply | None:
        if self.faults.latency_ms:
            self._http.stopping.wait(self.faults.latency_ms / 1000)
        decision = self.faults.next_decision()
        if decision.kind != "ok":
            return self._fault(decision)
        match = _DATASETS.match(path[len(API_PREFIX) :])
        if not match:
            # API Gateway answers a path it has no resource for this way, whatever the key (see _gateway).
            return _gateway("Missing Authentication Token")
        if headers.get("x-api-key") not in self._keys:
            # API Gateway's answer to a missing, wrong or rotated-away key (INVALID_API_KEY → 403, see _gateway).
            return _gateway("Forbidden")
        throttled, _, _ = self.faults.throttle_hit(client_ip)
        if throttled:
            reply = _throttled()
            reply.fault = "throttle"
            return reply
        try:
            data = json.loads(body.decode("utf-8")) if body else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            return _error(400, "The request body is not valid JSON")  # what Qrvey answers is unknown
        user, app, rest = unquote(match["user"]), unquote(match["app"]), match["rest"] or ""
        return self._route(method, user, app, rest, data)

    def _fault(self, decision: FaultDecision) -> _Reply | None:
        if decision.kind == "drop":
            return None
        if decision.kind == "throttle":
            reply = _throttled()
        elif decision.kind == "timeout":
            self._http.stopping.wait(self.faults.timeout_after)
            # API Gateway's INTEGRATION_TIMEOUT gateway response (29 s by default): 504 with its bare message
            # (AWS API Gateway developer guide, "Gateway response types"; inferred for Qrvey, see _gateway).
            reply = _Reply(504, {"message": "Endpoint request timed out"})
        else:
            # A scripted status in Qrvey's envelope, with the emulator's words (see _error).
            reply = _error(decision.status, "Internal server error" if decision.status >= 500 else "Request refused")
        reply.fault = decision.label
        return reply

    def _route(self, method: str, user: str, app: str, rest: str, data: Any) -> _Reply:
        if (method, rest) == ("POST", ""):
            return self._create(user, app, data)
        if (method, rest) == ("POST", "/datasource"):
            return self._create_from_connection(user, app, data)
        if (method, rest) == ("POST", "/all"):
            return self._all(user, app, data)
        parts = rest.strip("/").split("/")
        dataset_id = unquote(parts[0]) if parts and parts[0] else ""
        if len(parts) == 1 and method in ("GET", "DELETE"):
            return self._get(user, app, dataset_id) if method == "GET" else self._delete(user, app, dataset_id)
        if len(parts) == 2 and parts[1] == "load" and method == "POST":
            return self._load(user, app, dataset_id)
        return _gateway("Missing Authentication Token")  # no such method/resource on API Gateway (see _gateway)

    # -- datasets ------------------------------------------------------------------------------------------
    def _create(self, user: str, app: str, data: Any) -> _Reply:
        problems = _definition_problems(data)
        if problems:
            return _error(400, *problems)
        chosen = data.get("datasetId")
        if chosen is not None:
            # Seed 003 (qrvey/partner-portal docs/guides/api-tutorials/create-a-dataset-via-api.md) tells callers to
            # check that a datasetId is free and to "use the UUID function" for it: Qrvey takes a caller-chosen id.
            # What Qrvey answers for an id already taken is not public: this 409 is the emulator's guess.
            if not isinstance(chosen, str) or not chosen.strip():
                return _error(400, "datasetId must be a non-empty string")
            with self._lock:
                if chosen in self._datasets:
                    return _error(409, f"Dataset {chosen} already exists")
        return self._store(user, app, data)

    def _create_from_connection(self, user: str, app: str, data: Any) -> _Reply:
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("connectionId", "name")):
            return _error(400, "connectionId and name are required")
        if not isinstance(data.get("tableName"), str) and not isinstance(data.get("query"), str):
            return _error(400, "tableName or query is required")
        source = {k: data[k] for k in ("connectionId", "database", "tableName", "query") if k in data}
        source["name"] = data["name"]
        return self._store(user, app, {"name": data["name"], "datasources": [source], "columns": []})

    def _store(self, user: str, app: str, data: dict[str, Any]) -> _Reply:
        """The dataset object ``{datasetId, appId, userId, status: "DRAFT", datasources[], columns[]}`` that the
        sample's create returns (qrvey/backend_sample ``lib/dataset.js``, ``test/unit/020_dataset_crud.js``; notes
        §2). Unknown, so the emulator's own: the success status (200 here; the sample accepts any 2xx), the format
        of a server-made ``datasetId`` (12 hex characters) and the ``createDate`` field."""
        chosen = data.get("datasetId")
        dataset_id = chosen if isinstance(chosen, str) and chosen.strip() else uuid.uuid4().hex[:12]
        dataset = {
            **data,
            "datasetId": dataset_id,
            "appId": app,
            "userId": user,
            "status": "DRAFT",
            "createDate": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        with self._lock:
            self._datasets[dataset_id] = dataset
            return _Reply(200, json.loads(json.dumps(dataset)))

    def _owned(self, user: str, app: str, dataset_id: str) -> dict[str, Any] | _Reply:
        """The dataset, if this user's app holds it; else 404, the emulator's guess (Qrvey's answer to an unknown
        or another app's ``datasetId`` is not public)."""
        dataset = self._datasets.get(dataset_id)
        if dataset is None or dataset["appId"] != app or dataset["userId"] != user:
            return _error(404, f"Dataset {dataset_id} not found")
        return dataset

    def _get(self, user: str, app: str, dataset_id: str) -> _Reply:
        with self._lock:
            dataset = self._owned(user, app, dataset_id)
            if isinstance(dataset, _Reply):
                return dataset
            if self._drafts_left.get(dataset_id, 0) > 0:
                # A dataset is DRAFT at create (qrvey/backend_sample test/unit/020_dataset_crud.js); what a read shows
                # just after a load starts is undocumented (notes/destinations.md §5). Unknown on the real service:
                # the emulator keeps showing DRAFT for the first reads, the case a client must not take for "never
                # loaded" (a second load would be refused with 409 while the first runs).
                self._drafts_left[dataset_id] -= 1
                return _Reply(200, json.loads(json.dumps({**dataset, "status": "DRAFT"})))
            if dataset["status"] == "LOADING":
                self._advance(dataset)
            return _Reply(200, json.loads(json.dumps(dataset)))

    def _advance(self, dataset: dict[str, Any]) -> None:
        """One read of a loading dataset: ``LOADING`` until its reads run out, then ``LOADED`` or ``FAILED`` (the
        statuses the sample polls for, notes §2). Reads stand for time (the sample polls every second for 30 s);
        the ``errorMessage`` field of a failed load is the emulator's name: where Qrvey says why is unknown."""
        left = self._reads_left.get(dataset["datasetId"], 0)
        if left > 0:
            self._reads_left[dataset["datasetId"]] = left - 1
            return
        reason = dataset.pop("_fails", None)
        dataset["status"] = "FAILED" if reason else "LOADED"
        if reason:
            dataset["errorMessage"] = reason
        else:
            dataset.pop("errorMessage", None)

    def _load(self, user: str, app: str, dataset_id: str) -> _Reply:
        """``POST …/{datasetId}/load`` (notes §2): asynchronous, the status becomes ``LOADING``. The answer's body
        and the 409 for a load already running are the emulator's guesses."""
        with self._lock:
            dataset = self._owned(user, app, dataset_id)
            if isinstance(dataset, _Reply):
                return dataset
            if dataset["status"] == "LOADING":
                return _error(409, f"Dataset {dataset_id} is already loading")
            tables = {s.get("tableName") for s in dataset.get("datasources", []) if isinstance(s, dict)}
            reason = next((r for t, r in self._loads.tables.items() if t in tables), None)
            if reason is None and self._loads.script:
                reason = self._loads.script.pop(0)
            dataset["status"] = "LOADING"
            dataset.pop("errorMessage", None)
            if reason:
                dataset["_fails"] = reason
            self._reads_left[dataset_id] = self._loads.steps
            self._drafts_left[dataset_id] = self._draft_reads
            return _Reply(200, {"datasetId": dataset_id, "status": "LOADING"})

    def _delete(self, user: str, app: str, dataset_id: str) -> _Reply:
        """``DELETE …/{datasetId}`` answers ``{datasetId, ...}`` (notes §2); 200 is the emulator's choice of 2xx."""
        with self._lock:
            dataset = self._owned(user, app, dataset_id)
            if isinstance(dataset, _Reply):
                return dataset
            del self._datasets[dataset_id]
            self._reads_left.pop(dataset_id, None)
            self._drafts_left.pop(dataset_id, None)
            return _Reply(200, {"datasetId": dataset_id, "appId": app, "userId": user})

    def _all(self, user: str, app: str, data: Any) -> _Reply:
        """Find by name (notes §2): ``{"limit", "filters": [{"filterType": "CONTAINS", "column": "search", "value"}]}``
        answers ``{"Count", "Items"}``. Taken from the sample's one query: the ``search`` column matched against the
        name, case-insensitively, is inferred; other filters are refused (400, the emulator's) rather than guessed;
        the default ``limit`` of 100 is the emulator's."""
        query = data if isinstance(data, dict) else {}
        raw_limit = query.get("limit")
        limit = raw_limit if isinstance(raw_limit, int) else 100
        filters = [f for f in query.get("filters") or [] if isinstance(f, dict)]
        with self._lock:
            items = [d for d in self._datasets.values() if d["appId"] == app and d["userId"] == user]
            for item in filters:
                if item.get("filterType") != "CONTAINS" or item.get("column") != "search":
                    return _error(400, f"Unsupported filter {json.dumps(item)}")
                needle = str(item.get("value", "")).lower()
                items = [d for d in items if needle in str(d.get("name", "")).lower()]
            chosen = [json.loads(json.dumps(d)) for d in items[: max(0, limit)]]
        return _Reply(200, {"Count": len(chosen), "Items": chosen})

    # -- admin ---------------------------------------------------------------------------------------------
    def _admin(self, method: str, path: str, body: bytes) -> _Reply:
        try:
            data: Any = json.loads(body.decode("utf-8")) if body else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            return _Reply(400, {"message": "request body is not valid JSON"})
        try:
            return self._admin_route(method, path, data)
        except (ValueError, TypeError) as exc:
            return _Reply(400, {"message": str(exc)})

    def _plan_loads(self, data: Any) -> _Reply:
        if "steps" in data:
            self.set_load_steps(int(data["steps"]))
        if "draftReads" in data:
            self.set_draft_reads(int(data["draftReads"]))
        for item in data.get("fail", []):
            self.fail_loads(str(item["reason"]), item.get("table"), int(item.get("count", 1)))
        return _Reply(200, {"message": "ok"})

    def _admin_route(self, method: str, path: str, data: Any) -> _Reply:
        route = (method, path)
        if route == ("POST", "/_emulator/faults"):
            if not isinstance(data, dict):
                raise ValueError("fault configuration must be a JSON object")
            self.faults.configure(data)
            return _Reply(200, self.faults.snapshot())
        if route == ("GET", "/_emulator/faults"):
            return _Reply(200, self.faults.snapshot())
        if route == ("POST", "/_emulator/reset"):
            self.reset()
            return _Reply(200, {"message": "reset"})
        if route == ("GET", "/_emulator/requests"):
            return _Reply(200, {"requests": self.requests()})
        if route == ("GET", "/_emulator/datasets"):
            return _Reply(200, {"datasets": self.datasets()})
        if route == ("POST", "/_emulator/loads"):
            # {"steps": 2, "draftReads": 1, "fail": [{"reason": "...", "table"?: "...", "count"?: 1}]}
            return self._plan_loads(data)
        if route == ("POST", "/_emulator/keys"):
            self.set_keys([str(k) for k in data["keys"]])
            return _Reply(200, {"keys": len(self._keys)})
        if route == ("GET", "/_emulator/health"):
            return _Reply(200, {"status": "ok", "base_url": self.base_url})
        return _Reply(404, {"message": f"no emulator admin endpoint {method} {path}"})


def _definition_problems(data: Any) -> list[str]:
    """What Create Dataset refuses outright (seed 003's minimum): the emulator's messages, not Qrvey's."""
    if not isinstance(data, dict):
        return ["The body must be a dataset object"]
    problems = []
    if not isinstance(data.get("name"), str) or not data["name"].strip():
        problems.append("name is required")
    sources = data.get("datasources")
    if not isinstance(sources, list) or not sources:
        problems.append("datasources must be a non-empty array")
    else:
        for index, source in enumerate(sources):
            for key in ("name", "connectionId", "connectorType"):
                if not isinstance(source, dict) or not isinstance(source.get(key), str):
                    problems.append(f"datasources[{index}].{key} is required")
    if not isinstance(data.get("columns"), list):
        problems.append("columns must be an array")
    return problems
