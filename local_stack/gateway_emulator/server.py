"""An HTTP emulator of the HDR UK Gateway's ``/api/v1/integrations/datasets`` API (see package docstring)."""

from __future__ import annotations

import json
import math
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from local_stack.http_server import EmulatorHandler, ServedEmulator, ServerThread

from .faults import FaultDecision, FaultPlan
from .sanitize import Preprocessing, laravel_trim, php_arrays, preprocess
from .store import DatasetRow, DatasetStore
from .validation import TargetFactory, Validator, as_traser, default_target_factory, run_traser

__all__ = [
    "ALL_DATASET_PERMISSIONS",
    "API_PREFIX",
    "DEPRECATION_HEADERS",
    "App",
    "GatewayEmulator",
    "RequestRecord",
]

ALL_DATASET_PERMISSIONS: frozenset[str] = frozenset(
    {"datasets.create", "datasets.read", "datasets.update", "datasets.delete"}
)
API_PREFIX = "/api/v1"
INTEGRATIONS_PATH = "/api/v1/integrations/datasets"
DEPRECATION_HEADERS: Mapping[str, str] = {
    "Deprecation": "true",
    "Sunset": "Thurs, 22 Jan 2026 23:59:59 GMT",
}
GWDM_VERSION = "2.0"
DEFAULT_PER_PAGE = 25
REQUEST_LOG_LIMIT = 10_000

_DATASET_MODEL = "App\\Models\\Dataset"
_OTHER_TEAM = "This Application is not allowed to interact with datasets from another team!"
_SERVER_ERROR = "Server Error"
_TOO_MANY = "Too Many Attempts."
_ID_ROUTE = re.compile(r"^/api/v1/integrations/datasets/([0-9]+)$")
_V1_ID_ROUTE = re.compile(r"^/api/v1/datasets/([0-9]+)$")
_SENSITIVE_QUERY = re.compile(r"(app[-_]?id|client[-_]?id|application[-_]?id|secret|token|password|auth|key)", re.I)
_SORTABLE_FIELDS = (
    "id",
    "mongo_object_id",
    "mongo_id",
    "mongo_pid",
    "datasetid",
    "created",
    "updated",
    "submitted",
    "pid",
    "user_id",
    "team_id",
    "status",
    "create_origin",
    "is_cohort_discovery",
    "created_at",
    "updated_at",
    "deleted_at",
)


@dataclass
class App:
    """An integration ("application") registered on the Gateway: the two IDs are the whole credential."""

    app_id: str
    client_id: str
    team_id: int = 1
    enabled: bool = True
    permissions: frozenset[str] = ALL_DATASET_PERMISSIONS
    user_id: int = 1

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> App:
        app_id, client_id = data.get("app_id"), data.get("client_id")
        if not isinstance(app_id, str) or not isinstance(client_id, str) or not app_id or not client_id:
            raise ValueError("app_id and client_id must be non-empty strings")
        permissions = data.get("permissions")
        if permissions is None:
            perms = ALL_DATASET_PERMISSIONS
        elif isinstance(permissions, list) and all(isinstance(item, str) for item in permissions):
            perms = frozenset(permissions)
        else:
            raise ValueError("permissions must be a list of strings")
        team_id, user_id, enabled = data.get("team_id", 1), data.get("user_id", 1), data.get("enabled", True)
        if not isinstance(team_id, int) or not isinstance(user_id, int) or not isinstance(enabled, bool):
            raise ValueError("team_id and user_id must be integers and enabled a boolean")
        return cls(app_id, client_id, team_id=team_id, enabled=enabled, permissions=perms, user_id=user_id)


@dataclass(frozen=True)
class RequestRecord:
    """One API request as the emulator saw it.  Header values are never recorded, only whether credentials
    were present; query parameters whose names look like credentials are redacted."""

    seq: int
    timestamp: float
    method: str
    path: str
    query: dict[str, list[str]]
    status: int | None  # None: connection closed without an answer ("drop" fault)
    credentials_present: bool
    fault: str | None = None  # e.g. "script:500", "random:timeout", "throttle"
    duration_ms: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "timestamp": self.timestamp,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "credentials_present": self.credentials_present,
            "fault": self.fault,
            "duration_ms": self.duration_ms,
        }


@dataclass
class _Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    fault: str | None = None


@dataclass(frozen=True)
class _Route:
    name: str  # index | show | store | update | destroy | test | v1_patch
    permission: str | None
    sanitize: bool
    integrations: bool
    dataset_id: int = 0


def _error(status: int, message: str) -> _Reply:
    return _Reply(status, {"code": status, "message": message})


def _no_model(dataset_id: int) -> _Reply:
    return _error(500, f"No query results for model [{_DATASET_MODEL}] {dataset_id}")


def _form_error(field_name: str, reason: str, message: str) -> _Reply:
    return _Reply(
        400,
        {
            "status": "INVALID_ARGUMENT",
            "message": "Invalid argument(s)",
            "errors": [{"reason": reason, "message": message, "field": field_name}],
        },
    )


def _php_truthy(value: str | None) -> bool:
    return value is not None and value not in ("", "0")


def _blank(value: Any) -> bool:
    """Laravel's ``required`` rule fails for null, empty strings and empty arrays."""
    return value is None or (isinstance(value, str) and value.strip() == "") or value in ({}, [])


class _Handler(EmulatorHandler["GatewayEmulator"]):
    server_version = "GatewayEmulator/1.0"

    def dispatch(self) -> None:
        emulator = self.emulator
        if emulator._http.stopping.is_set():  # a kept-alive connection outliving stop()
            self.close_connection = True
            return
        emulator._enter()
        try:
            body = self.read_body()
            reply = emulator._handle(self.command, self.path, self.lower_headers(), body, self.client_address[0])
            if reply is None:
                self.drop_connection()
                return
            self.send_json(reply.status, reply.body, reply.headers.items(), write_body=self.command != "HEAD")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            emulator._leave()

    def read_body(self) -> bytes:
        if "chunked" not in self.headers.get("Transfer-Encoding", "").lower():
            return super().read_body()
        chunks: list[bytes] = []
        while True:
            size_line = self.rfile.readline()
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    do_HEAD = do_OPTIONS = EmulatorHandler.do_GET


class GatewayEmulator(ServedEmulator):
    """A real HTTP server on ``host:port`` that behaves like the Gateway's integrations dataset API.

    ``start()`` returns the base URL ``http://127.0.0.1:<port>/api/v1``.  State lives in SQLite (``db_path``,
    or in memory).  ``faults`` is a thread-safe :class:`FaultPlan`.  Admin endpoints: ``/_emulator/``.
    """

    def __init__(  # noqa: PLR0913 - the emulator's knobs, each with a default
        self,
        apps: Sequence[App],
        validator: Validator | Path | None = None,
        db_path: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        sanitize: bool | Preprocessing = True,
        legacy_headers: bool = False,
        seed: int = 0,
        target_factory: TargetFactory | None = None,
    ) -> None:
        self._apps_lock = threading.Lock()
        self._apps: dict[str, App] = {app.app_id: app for app in apps}
        # A schema pack (its directory) is judged by TRASER's own validator, Ajv through Node (.traser_node);
        # other validators (tests' fakes) as given.
        self.validator = as_traser(validator)
        self.db_path = db_path
        self.host = host
        self.port = port
        self.preprocessing = Preprocessing.from_flag(sanitize)
        self.legacy_headers = legacy_headers
        self.faults = FaultPlan(seed=seed)
        self._target_factory = target_factory or default_target_factory(self.validator)
        self._store: DatasetStore | None = None
        self._http = ServerThread(_Handler, "gateway-emulator")
        self._log_lock = threading.Lock()
        self._log: deque[RequestRecord] = deque(maxlen=REQUEST_LOG_LIMIT)
        self._seq = 0
        self._inflight = 0
        self._inflight_cond = threading.Condition()

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> str:
        if self._http.running:
            return self.base_url
        _lifecycle(self.validator, "start")  # TraserUnavailable (one line naming `make setup`) without Node
        if self._store is None:
            self._store = DatasetStore(self.db_path)
        self._serve()
        return self.base_url

    def stop(self) -> None:
        """Stop serving, wake requests held by latency/timeout faults, and close the database."""
        self._http.stop()
        with self._inflight_cond:
            self._inflight_cond.wait_for(lambda: self._inflight == 0, timeout=5)
        if self._store is not None:
            self._store.close()
            self._store = None
        _lifecycle(self.validator, "stop")

    @property
    def base_url(self) -> str:
        return self._running_url(API_PREFIX)

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:<port>`` (admin endpoints are under ``root_url + "/_emulator/"``)."""
        return self.base_url[: -len(API_PREFIX)]

    # -- Python API for tests and the local stack ----------------------------------------------------------
    def requests(self) -> list[RequestRecord]:
        """Every API request (admin requests excluded), in arrival order."""
        with self._log_lock:
            return sorted(self._log, key=lambda record: record.seq)

    def datasets(self, include_archived: bool = True) -> list[dict[str, Any]]:
        """Every dataset (all teams): ``datasetid``, ``status``, latest ``version``, the stored document."""
        store = self._require_store()
        result: list[dict[str, Any]] = []
        for row in store.all(include_archived=include_archived):
            latest = store.latest_version(row.id)
            result.append(
                {
                    "id": row.id,
                    "datasetid": row.datasetid,
                    "pid": row.pid,
                    "team_id": row.team_id,
                    "status": row.status,
                    "create_origin": row.create_origin,
                    "created_at": row.created_at,
                    "updated_at": row.updated_at,
                    "deleted_at": row.deleted_at,
                    "version": latest.version if latest else None,
                    "version_id": latest.id if latest else None,
                    "metadata": latest.metadata.get("original_metadata") if latest else None,
                }
            )
        return result

    def reset(self) -> None:
        """Clear datasets, faults (incl. throttle state) and the request log; apps are kept."""
        self._require_store().clear()
        self.faults.reset()
        with self._log_lock:
            self._log.clear()
            self._seq = 0

    def set_apps(self, apps: Iterable[App], replace: bool = False) -> None:
        with self._apps_lock:
            if replace:
                self._apps = {}
            for app in apps:
                self._apps[app.app_id] = app

    def app_ids(self) -> list[str]:
        with self._apps_lock:
            return sorted(self._apps)

    # -- plumbing ------------------------------------------------------------------------------------------
    def _require_store(self) -> DatasetStore:
        if self._store is None:
            self._store = DatasetStore(self.db_path)
        return self._store

    def _enter(self) -> None:
        with self._inflight_cond:
            self._inflight += 1

    def _leave(self) -> None:
        with self._inflight_cond:
            self._inflight -= 1
            self._inflight_cond.notify_all()

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._http.stopping.wait(seconds)

    def _next_seq(self) -> int:
        with self._log_lock:
            self._seq += 1
            return self._seq

    def _record(
        self,
        seq: int,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        status: int | None,
        credentials_present: bool,
        fault: str | None,
        started: float,
    ) -> None:
        redacted = {
            key: (["[redacted]"] * len(values) if _SENSITIVE_QUERY.search(key) else list(values))
            for key, values in query.items()
        }
        with self._log_lock:
            self._log.append(
                RequestRecord(
                    seq=seq,
                    timestamp=time.time(),
                    method=method,
                    path=path,
                    query=redacted,
                    status=status,
                    credentials_present=credentials_present,
                    fault=fault,
                    duration_ms=round((time.monotonic() - started) * 1000, 3),
                )
            )

    def _handle(
        self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes, client_ip: str
    ) -> _Reply | None:
        parts = urlsplit(raw_path)
        path = parts.path.rstrip("/") or "/"
        raw_query = parse_qs(parts.query, keep_blank_values=True)
        if path.startswith("/_emulator"):
            return self._admin(method, path, raw_query, body)
        if path == "/api" or path.startswith("/api/"):
            return self._api(method, path, raw_query, headers, body, client_ip)
        return _Reply(404, {"message": "Not Found"})

    # -- the API -------------------------------------------------------------------------------------------
    def _credential_names(self) -> tuple[str, str]:
        return ("app_id", "client_id") if self.legacy_headers else ("x-application-id", "x-client-id")

    def _api(
        self,
        method: str,
        path: str,
        raw_query: dict[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
        client_ip: str,
    ) -> _Reply | None:
        started = time.monotonic()
        seq = self._next_seq()
        names = ("x-application-id", "x-client-id", "app_id", "client_id", "authorization")
        credentials_present = any(headers.get(name) for name in names)
        is_integrations = path == INTEGRATIONS_PATH or path.startswith(INTEGRATIONS_PATH + "/")
        reply: _Reply | None
        try:
            reply = self._api_inner(method, path, raw_query, headers, body, client_ip, is_integrations)
        except Exception as exc:  # noqa: BLE001 - the Gateway's handler turns anything into a JSON 500
            reply = _error(500, f"{type(exc).__name__}: {exc}")
            if is_integrations:
                reply.headers.update(DEPRECATION_HEADERS)
        self._record(
            seq,
            method,
            path,
            raw_query,
            reply.status if reply is not None else None,
            credentials_present,
            reply.fault if reply is not None else "script:drop",
            started,
        )
        return reply

    def _api_inner(
        self,
        method: str,
        path: str,
        raw_query: dict[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
        client_ip: str,
        is_integrations: bool,
    ) -> _Reply | None:
        self._sleep(self.faults.latency_ms / 1000.0)
        decision = self.faults.next_decision()
        if decision.kind != "ok":
            return self._fault_reply(decision, is_integrations)

        route = self._route(method, path)
        if isinstance(route, _Reply):
            return route

        throttled, limit, remaining = self.faults.throttle_hit(client_ip)
        if throttled:
            reply = _error(500, _TOO_MANY)
            reply.fault = "throttle"
            return reply

        reply = self._route_reply(route, method, raw_query, headers, body)
        if route.integrations:
            reply.headers.update(DEPRECATION_HEADERS)
        if limit is not None and remaining is not None:
            reply.headers["X-RateLimit-Limit"] = str(limit)
            reply.headers["X-RateLimit-Remaining"] = str(remaining)
        return reply

    def _fault_reply(self, decision: FaultDecision, is_integrations: bool) -> _Reply | None:
        if decision.kind == "drop":
            return None
        if decision.kind == "throttle":
            reply = _error(500, _TOO_MANY)
        elif decision.kind == "timeout":
            self._sleep(self.faults.timeout_after)
            reply = _error(500, _SERVER_ERROR)
        else:
            status = decision.status
            reply = _error(status, _SERVER_ERROR if status == 500 else _reason(status))
            if is_integrations:
                reply.headers.update(DEPRECATION_HEADERS)
        reply.fault = decision.label
        return reply

    def _route(self, method: str, path: str) -> _Route | _Reply:
        """Laravel route matching; unknown routes and wrong methods become 500s via the Gateway's handler."""
        allowed: tuple[str, ...]
        if path == INTEGRATIONS_PATH:
            allowed = ("GET", "HEAD", "POST")
            if method in ("GET", "HEAD"):
                return _Route("index", "datasets.read", sanitize=False, integrations=True)
            if method == "POST":
                return _Route("store", "datasets.create", sanitize=True, integrations=True)
        elif path == INTEGRATIONS_PATH + "/test":
            allowed = ("POST",)
            if method == "POST":
                return _Route("test", None, sanitize=True, integrations=True)
        elif match := _ID_ROUTE.match(path):
            allowed = ("GET", "HEAD", "PUT", "DELETE")
            dataset_id = int(match.group(1))
            if method in ("GET", "HEAD"):
                return _Route("show", "datasets.read", sanitize=False, integrations=True, dataset_id=dataset_id)
            if method == "PUT":
                return _Route("update", "datasets.update", sanitize=True, integrations=True, dataset_id=dataset_id)
            if method == "DELETE":
                return _Route("destroy", "datasets.delete", sanitize=False, integrations=True, dataset_id=dataset_id)
        elif match := _V1_ID_ROUTE.match(path):
            if method == "PATCH":
                return _Route(
                    "v1_patch",
                    "datasets.update",
                    sanitize=False,
                    integrations=False,
                    dataset_id=int(match.group(1)),
                )
            return _error(501, f"{method} {path} is not implemented by the gateway emulator")
        else:
            return _error(500, f"The route {path.lstrip('/')} could not be found.")
        return _error(
            500,
            f"The {method} method is not supported for route {path.lstrip('/')}. "
            f"Supported methods: {', '.join(allowed)}.",
        )

    def _authenticate(self, headers: Mapping[str, str]) -> App | _Reply:
        app_header, client_header = self._credential_names()
        app_id, client_id = headers.get(app_header), headers.get(client_header)
        if not app_id or not client_id:
            return _error(401, "Unauthorized")
        with self._apps_lock:
            app = self._apps.get(app_id)
        if app is None:
            return _error(401, "No known integration matches the credentials provided")
        if app.client_id != client_id:
            return _error(401, "The credentials provided are invalid")
        return app

    def _route_reply(
        self,
        route: _Route,
        method: str,
        raw_query: dict[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> _Reply:
        auth = self._authenticate(headers)
        if isinstance(auth, _Reply):
            return auth
        app = auth
        if route.permission is not None:
            if not app.enabled:
                return _error(400, "Application has not been enabled!")
            if route.permission not in app.permissions:
                return _error(400, "Application permissions do not allow this request")

        query = self._clean_query(raw_query)
        data = self._decode_body(body, route.sanitize)
        host = headers.get("host") or f"{self.host}:{self.port}"
        if route.name == "index":
            return self._index(app, query, f"http://{host}{INTEGRATIONS_PATH}")
        if route.name == "show":
            return self._show(app, route.dataset_id, query)
        if route.name == "store":
            return self._store_dataset(app, data, query)
        if route.name == "update":
            return self._update(app, route.dataset_id, data, query)
        if route.name == "destroy":
            return self._destroy(app, route.dataset_id)
        if route.name == "test":
            return self._test(data)
        return self._v1_patch(app, route.dataset_id, data, query)

    def _clean_query(self, raw_query: Mapping[str, list[str]]) -> dict[str, str | None]:
        """Last value wins (PHP); TrimStrings/ConvertEmptyStringsToNull apply to the query too."""
        cleaned: dict[str, str | None] = {}
        for key, values in raw_query.items():
            value: str | None = values[-1] if values else ""
            if value is not None and self.preprocessing.trim_strings:
                value = laravel_trim(value)
            if value == "" and self.preprocessing.empty_strings_to_null:
                value = None
            cleaned[key] = value
        return cleaned

    def _decode_body(self, body: bytes, sanitize_route: bool) -> dict[str, Any]:
        if not body:
            return {}
        try:
            decoded = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return {}
        if not isinstance(decoded, dict):
            return {}
        result = preprocess(decoded, self.preprocessing, sanitize_route=sanitize_route)
        return cast(dict[str, Any], result)

    # -- controllers ---------------------------------------------------------------------------------------
    def _index(self, app: App, query: Mapping[str, str | None], path_url: str) -> _Reply:
        store = self._require_store()
        sort = query.get("sort") or "created:desc"
        sort_parts = sort.split(":")
        sort_field = sort_parts[0]
        direction = sort_parts[1] if len(sort_parts) > 1 else "asc"
        on_metadata = sort_field.startswith("metadata.")
        if not on_metadata and sort_field not in _SORTABLE_FIELDS:
            if store.any_live():
                # PHP single-quoted '\"' keeps the backslash, so the message really contains \" (sic).
                return _Reply(400, {"message": f'\\"{sort_field}\\" is not a valid field to sort on'})
            return _error(
                500,
                f"SQLSTATE[42S22]: Column not found: 1054 Unknown column '{sort_field}' in 'order clause'",
            )
        if direction not in ("desc", "asc"):
            return _Reply(400, {"message": f'Sort direction must be either: desc OR asc. Not "{direction}"'})

        status = query.get("status")
        with_trashed = "withTrashed" in query or status == "ARCHIVED"
        dataset_id, mongo_pid, title = query.get("dataset_id"), query.get("mongo_pid"), query.get("title")
        # ?dataset_id= is filtered in SQL (an indexed column), not by listing every dataset of the team.
        rows = store.all(
            include_archived=with_trashed,
            team_id=app.team_id,
            datasetid=dataset_id if _php_truthy(dataset_id) else None,
        )
        if _php_truthy(mongo_pid):
            rows = [row for row in rows if row.mongo_pid == mongo_pid]
        if _php_truthy(status):
            rows = [row for row in rows if row.status == status]
        if title:
            needle = title.lower()
            rows = [row for row in rows if needle in self._latest_title(row.id).lower()]

        rows.sort(key=lambda row: row.id, reverse=True)
        if on_metadata:
            metadata_path = sort_field.split(".")
            rows.sort(
                key=lambda row: _sort_key(self._latest_value(row.id, metadata_path)),
                reverse=direction == "desc",
            )
        else:
            rows.sort(key=lambda row: _sort_key(row.to_json()[sort_field]), reverse=direction == "desc")

        per_page = _per_page(query.get("per_page"))
        page = _positive_int(query.get("page")) or 1
        total = len(rows)
        last_page = max(math.ceil(total / per_page), 1)
        chunk = rows[(page - 1) * per_page : page * per_page]
        items = []
        for row in chunk:
            item = row.to_json()
            item["versions"] = [version.to_json() for version in store.versions(row.id, with_trashed=True)]
            items.append(item)
        first = (page - 1) * per_page + 1 if chunk else None
        return _Reply(200, _paginator(items, page, per_page, total, last_page, path_url, first))

    def _latest_title(self, dataset_id: int) -> str:
        value = self._latest_value(dataset_id, ["metadata", "summary", "title"])
        return value if isinstance(value, str) else ""

    def _latest_value(self, dataset_id: int, path: Sequence[str]) -> Any:
        latest = self._require_store().latest_version(dataset_id)
        value: Any = latest.metadata if latest else None
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    def _check_team(self, app: App, row: DatasetRow, status: int = 500) -> _Reply | None:
        return _error(status, _OTHER_TEAM) if row.team_id != app.team_id else None

    def _show(self, app: App, dataset_id: int, query: Mapping[str, str | None]) -> _Reply:
        store = self._require_store()
        if store.get(dataset_id, with_trashed=True) is None:
            return _form_error("id", "EXISTS", "The selected id is invalid.")
        row = store.get(dataset_id)
        if row is None:
            return _no_model(dataset_id)
        denied = self._check_team(app, row)
        if denied is not None:
            return denied
        model, version = query.get("schema_model"), query.get("schema_version")
        if model and version:
            return _Reply(
                400,
                {
                    "message": "failed to translate",
                    "details": {
                        "traser_message": {"message": "output translation is not emulated"},
                        "wasTranslated": False,
                        "metadata": None,
                        "statusCode": 501,
                    },
                },
            )
        if model:
            return _error(500, "You have given a schema_model but not a schema_version")
        if version:
            return _error(500, "You have given a schema_version but not schema_model")
        data = row.to_json()
        # show() does not eager-load versions; it injects these three accessors instead.
        data.update({"publications": [], "named_entities": [], "collections": []})
        return _Reply(200, {"message": "success", "data": data})

    def _extract(self, data: Mapping[str, Any]) -> Any:
        """``extractMetadata()``: accept ``{"metadata": doc}`` and ``{"metadata": {"metadata": doc}}``."""
        outer = data.get("metadata")
        wrapper: Mapping[str, Any] = data
        if isinstance(outer, dict) and outer.get("metadata") is not None:
            wrapper = outer
        document = wrapper.get("metadata")
        if isinstance(document, str):
            try:
                decoded = json.loads(document)
            except json.JSONDecodeError:
                return document
            if isinstance(decoded, (dict, list)):
                return decoded
        return document

    def _translate(self, document: Any, query: Mapping[str, str | None]) -> _Reply | None:
        if self.preprocessing.php_arrays:
            document = php_arrays(document)  # MMC json_encodes the PHP array it decoded: {} arrives as []
        outcome = run_traser(
            self.validator,
            document,
            query.get("input_schema"),
            query.get("input_version"),
            self._target_factory,
        )
        if outcome.ok:
            return None
        if outcome.server_error is not None:
            return _error(500, outcome.server_error)
        return _Reply(
            400,
            {
                "message": "metadata is in an unknown format and cannot be processed",
                "details": outcome.details,
            },
        )

    def _store_dataset(self, app: App, data: Mapping[str, Any], query: Mapping[str, str | None]) -> _Reply:
        if _blank(data.get("metadata")):
            return _form_error("metadata", "REQUIRED", "The metadata field is required.")
        document = self._extract(data)
        rejected = self._translate(document, query)
        if rejected is not None:
            return rejected
        columns: dict[str, str | None] = {}
        for name, limit in (
            ("datasetid", 255),
            ("pid", 36),
            ("mongo_pid", 255),
            ("mongo_id", 255),
            ("mongo_object_id", 255),
        ):
            value = data.get(name)
            if name == "pid" and name not in data:
                value = str(uuid.uuid4())
            text = _column_text(value)
            if isinstance(text, _Reply):
                return text
            if text is not None and len(text) > limit:
                return _error(
                    500,
                    f"SQLSTATE[22001]: String data, right truncated: 1406 Data too long for column '{name}' at row 1",
                )
            columns[name] = text
        dataset_id, version_id = self._require_store().create(
            team_id=app.team_id,
            user_id=app.user_id,
            datasetid=columns["datasetid"],
            pid=columns["pid"] or "",
            mongo_object_id=columns["mongo_object_id"],
            mongo_id=columns["mongo_id"],
            mongo_pid=columns["mongo_pid"],
            is_cohort_discovery=bool(data.get("is_cohort_discovery")),
            metadata=_version_metadata(document),
        )
        return _Reply(201, {"message": "created", "data": dataset_id, "version": version_id})

    def _update(self, app: App, dataset_id: int, data: Mapping[str, Any], query: Mapping[str, str | None]) -> _Reply:
        if _blank(data.get("metadata")):
            return _form_error("metadata", "REQUIRED", "The metadata field is required.")
        store = self._require_store()
        row = store.get(dataset_id)
        if row is None:
            return _no_model(dataset_id)
        denied = self._check_team(app, row)
        if denied is not None:
            return denied
        document = self._extract(data)
        rejected = self._translate(document, query)
        if rejected is not None:
            return rejected
        store.overwrite_latest_version(
            dataset_id,
            _version_metadata(document),
            user_id=app.user_id,
            is_cohort_discovery=bool(data.get("is_cohort_discovery")),
        )
        updated = store.get(dataset_id)
        assert updated is not None
        payload = updated.to_json()
        payload["versions"] = [version.to_json() for version in store.versions(dataset_id, with_trashed=False)]
        return _Reply(200, {"message": "success", "data": payload})

    def _destroy(self, app: App, dataset_id: int) -> _Reply:
        store = self._require_store()
        row = store.get(dataset_id)
        if row is None:
            return _no_model(dataset_id)
        denied = self._check_team(app, row)
        if denied is not None:
            return denied
        store.archive(dataset_id)
        return _Reply(200, {"message": "success"})

    def _test(self, data: Mapping[str, Any]) -> _Reply:
        if _blank(data.get("metadata")):
            return _form_error("metadata", "REQUIRED", "The metadata field is required.")
        outer = data.get("metadata")
        document = outer.get("metadata") if isinstance(outer, dict) else None
        rejected = self._translate(document, {})
        if rejected is not None:
            if rejected.status == 400:
                rejected.body["payload_received"] = dict(data)
            return rejected
        return _Reply(200, {"message": "success", "payload_received": dict(data)})

    def _v1_patch(self, app: App, dataset_id: int, data: Mapping[str, Any], query: Mapping[str, str | None]) -> _Reply:
        """``PATCH /api/v1/datasets/{id}`` (``DatasetController::edit``): status change or ``?unarchive``."""
        store = self._require_store()
        status = data.get("status")
        if "unarchive" in query:
            row = store.get(dataset_id, with_trashed=True)
            if row is None:
                return _error(500, 'Attempt to read property "team_id" on null')
            denied = self._check_team(app, row, status=401)
            if denied is not None:
                return denied
            if status != "ARCHIVED":
                if status not in ("ACTIVE", "DRAFT"):
                    return _error(500, "unknown status type")
                store.restore(dataset_id, cast(str, status))
            return _Reply(200, {"message": "success"})
        row = store.get(dataset_id)
        if row is None:
            return _error(500, 'Attempt to read property "team_id" on null')
        denied = self._check_team(app, row, status=401)
        if denied is not None:
            return denied
        if row.status == "ARCHIVED":
            return _Reply(400, {"message": "status of an archived Dataset cannot be modified"})
        if status not in ("ACTIVE", "DRAFT"):
            return _error(500, "unknown status type")
        store.set_status(dataset_id, cast(str, status))
        return _Reply(200, {"message": "success"})

    # -- admin ---------------------------------------------------------------------------------------------
    def _admin(self, method: str, path: str, raw_query: Mapping[str, list[str]], body: bytes) -> _Reply:  # noqa: C901 - one branch per admin endpoint
        try:
            data: Any = json.loads(body.decode("utf-8")) if body else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            return _Reply(400, {"message": "request body is not valid JSON"})
        route = (method, path)
        try:
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
                return _Reply(200, {"requests": [record.to_json() for record in self.requests()]})
            if route == ("GET", "/_emulator/datasets"):
                flag = (raw_query.get("include_archived") or ["1"])[-1].lower()
                include = flag not in ("0", "false", "no")
                return _Reply(200, {"datasets": self.datasets(include_archived=include)})
            if route == ("POST", "/_emulator/apps"):
                if not isinstance(data, dict) or not isinstance(data.get("apps"), list):
                    raise ValueError('expected {"apps": [{"app_id": ..., "client_id": ...}], "replace": false}')
                apps = [App.from_json(item) for item in data["apps"] if isinstance(item, dict)]
                if len(apps) != len(data["apps"]):
                    raise ValueError("every app must be a JSON object")
                self.set_apps(apps, replace=bool(data.get("replace", False)))
                return _Reply(200, {"apps": self.app_ids()})
            if route == ("GET", "/_emulator/health"):
                return _Reply(200, {"status": "ok", "base_url": self.base_url})
        except ValueError as exc:
            return _Reply(400, {"message": str(exc)})
        return _Reply(404, {"message": f"no emulator admin endpoint {method} {path}"})


def _reason(status: int) -> str:
    phrase = BaseHTTPRequestHandler.responses.get(status)
    return phrase[0] if phrase else "Error"


def _column_text(value: Any) -> str | _Reply | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (str, int, float)):
        return str(value)
    return _error(500, "Array to string conversion")


def _version_metadata(document: Any) -> dict[str, Any]:
    """What the emulator keeps in ``dataset_versions.metadata``.

    The Gateway stores ``{"metadata": <TRASER's GWDM translation>, "original_metadata": <input>,
    "gwdmVersion": "2.0"}``.  The emulator does not translate, so ``metadata`` holds the (pre-processed) input
    document as well.
    """
    return {"metadata": document, "original_metadata": document, "gwdmVersion": GWDM_VERSION}


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, (int, float)):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3, json.dumps(value, sort_keys=True))


def _positive_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    return number if number > 0 else None


def _per_page(value: str | None) -> int:
    if value is None:
        return DEFAULT_PER_PAGE
    if value.strip() == "0":
        return 15  # paginate(0) falls back to the model's default of 15
    return _positive_int(value) or DEFAULT_PER_PAGE


def _paginator(
    items: list[dict[str, Any]],
    page: int,
    per_page: int,
    total: int,
    last_page: int,
    path_url: str,
    first: int | None,
) -> dict[str, Any]:
    """Laravel ``LengthAwarePaginator::toArray()``.

    Page URLs carry only ``?page=N``: the controller does not call ``appends()``."""

    def url(number: int) -> str:
        return f"{path_url}?page={number}"

    links: list[dict[str, Any]] = [
        {"url": url(page - 1) if page > 1 else None, "label": "&laquo; Previous", "active": False}
    ]
    for number in _window(page, last_page):
        if number is None:
            links.append({"url": None, "label": "...", "active": False})
        else:
            links.append({"url": url(number), "label": str(number), "active": number == page})
    links.append({"url": url(page + 1) if page < last_page else None, "label": "Next &raquo;", "active": False})
    return {
        "current_page": page,
        "data": items,
        "first_page_url": url(1),
        "from": first,
        "last_page": last_page,
        "last_page_url": url(last_page),
        "links": links,
        "next_page_url": url(page + 1) if page < last_page else None,
        "path": path_url,
        "per_page": per_page,
        "prev_page_url": url(page - 1) if page > 1 else None,
        "to": (first + len(items) - 1) if first is not None else None,
        "total": total,
    }


def _window(page: int, last_page: int, on_each_side: int = 3) -> list[int | None]:
    """Laravel's ``UrlWindow`` (``None`` = the "..." separator)."""
    window = on_each_side * 2
    if last_page < window + 8:
        return list(range(1, last_page + 1))
    if page <= window:
        return [*range(1, window + on_each_side + 1), None, last_page - 1, last_page]
    if page > last_page - window:
        return [1, 2, None, *range(last_page - (window + (on_each_side - 1)), last_page + 1)]
    return [1, 2, None, *range(page - on_each_side, page + on_each_side + 1), None, last_page - 1, last_page]


def _lifecycle(validator: object, step: str) -> None:
    """Start or stop a validator that has a process of its own (:class:`.traser_node.NodeTraser`)."""
    method = getattr(validator, step, None)
    if callable(method):
        method()
