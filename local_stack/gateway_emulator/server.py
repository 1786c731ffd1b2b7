"""An HTTP emulator of the HDR UK Gateway's dataset APIs (see package docstring): the server, its routing,
authentication and admin endpoints; the controllers are in :mod:`.integrations` and :mod:`.datasets`."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from local_stack.http_server import EmulatorHandler, ServedEmulator, ServerThread

from .datasets import DatasetRoutes
from .faults import FaultDecision, FaultPlan
from .integrations import IntegrationRoutes
from .replies import (
    _SENSITIVE_QUERY,
    _SERVER_ERROR,
    _TOO_MANY,
    ALL_DATASET_PERMISSIONS,
    API_PREFIX,
    DATASETS_PATH,
    DEPRECATION_HEADERS,
    INTEGRATIONS_PATH,
    REQUEST_LOG_LIMIT,
    App,
    RequestRecord,
    _error,
    _reason,
    _Reply,
    _Route,
    _version_metadata,
)
from .routing import carries_sunset, is_integrations, match_route
from .sanitize import Preprocessing, laravel_trim, preprocess
from .store import DatasetStore
from .validation import TargetFactory, Validator, as_traser, default_target_factory

__all__ = [
    "ALL_DATASET_PERMISSIONS",
    "API_PREFIX",
    "DEPRECATION_HEADERS",
    "App",
    "GatewayEmulator",
    "RequestRecord",
]


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


class GatewayEmulator(IntegrationRoutes, DatasetRoutes, ServedEmulator):
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

    def edit_held(self, dataset_id: int, document: Any) -> None:
        """Change what the Gateway holds for ``dataset_id`` (its latest version's metadata) without any request,
        as a custodian editing it on the Gateway's website would."""
        self._require_store().replace_latest_metadata(dataset_id, _version_metadata(document))

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
        # Outside /api the real host serves other things (the Gateway's web front end is a separate service); what
        # it answers there is unknown and no client of ours calls it: a plain 404 is the emulator's own choice.
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
        reply: _Reply | None
        try:
            reply = self._api_inner(method, path, raw_query, headers, body, client_ip)
        except Exception as exc:  # noqa: BLE001 - the Gateway's handler turns anything into a JSON 500
            # app/Exceptions/Handler.php::render: {"code": 500, "message": <the exception's message>} (notes §(a)
            # "Error responses"); the class name in front is the emulator's, so that its own bugs are recognisable.
            reply = _error(500, f"{type(exc).__name__}: {exc}")
            if carries_sunset(path):
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
    ) -> _Reply | None:
        self._sleep(self.faults.latency_ms / 1000.0)
        removed = self.faults.integrations_removed
        if removed is not None and is_integrations(path):
            # The "removed" switch: how the real Gateway will answer once the route is gone is unknown (at
            # gateway-api 57e1406 it is still registered; today Laravel's handler renders an unknown route as a
            # 500). The switch models a removal answered 404 or 410 by the Gateway or the proxy in front of it.
            reply = _error(removed, _reason(removed))
            reply.fault = f"removed:{removed}"
            return reply
        decision = self.faults.next_decision()
        if decision.kind != "ok":
            return self._fault_reply(decision, carries_sunset(path))

        route = match_route(method, path)
        if isinstance(route, _Reply):
            return route

        # ``throttle:api`` is route middleware (the ``api`` group), so it runs only once a route matched, keyed per
        # client IP for app-header callers (``Limit::perMinute(config('gateway.rate_limit'))``, default 2000 a
        # minute; notes §(f)); it is off unless a test sets ``throttle_per_minute``. The answer, 500 "Too Many
        # Attempts." without Retry-After or Deprecation headers, is inferred from Handler::render (notes §(f)), not
        # measured. X-RateLimit-Limit/-Remaining on the requests let through are what Laravel's ThrottleRequests adds.
        throttled, limit, remaining = self.faults.throttle_hit(client_ip)
        if throttled:
            reply = _error(500, _TOO_MANY)
            reply.fault = "throttle"
            return reply

        reply = self._route_reply(route, raw_query, headers, body)
        reply.headers.update(DEPRECATION_HEADERS)  # every emulated route carries the sunset middleware
        if limit is not None and remaining is not None:
            reply.headers["X-RateLimit-Limit"] = str(limit)
            reply.headers["X-RateLimit-Remaining"] = str(remaining)
        return reply

    def _fault_reply(self, decision: FaultDecision, sunset: bool) -> _Reply | None:
        """A fault's answer, before routing (see :mod:`.faults`; the faults are the emulator's test aids, not
        behaviours read from the Gateway). The shapes follow the Gateway's handler where it is known: ``{"code",
        "message"}`` (notes §(a)); "Server Error" is Laravel's generic text for a 500, and the real Gateway's words
        for a timed-out request (Octane's ``max_execution_time`` 30 s, notes §(f)) are unknown. A scripted status
        carries the Deprecation/Sunset headers, as a controller error would; throttle and timeout do not."""
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
            if sunset:
                reply.headers.update(DEPRECATION_HEADERS)
        reply.fault = decision.label
        return reply

    def _authenticate(self, headers: Mapping[str, str]) -> App | _Reply:
        """``JwtMiddleware`` with the app headers (gateway-api 57e1406 ``app/Http/Middleware/JwtMiddleware.php``;
        notes §(a) "Headers the current code accepts" and its error table): both ``x-application-id`` and
        ``x-client-id`` needed (else 401 "Unauthorized"), an unknown app id 401 "No known integration matches the
        credentials provided", a client id that does not match 401 "The credentials provided are invalid"
        (``tests/Feature/DatasetIntegrationDeprecatedTest.php`` :468 and :455). Header names are case-insensitive
        (Symfony). ``legacy_headers`` reads ``app_id``/``client_id`` headers instead, the names of 2023-10 to
        2024-02 (notes §(a), history; back then they were input fields, so this switch is a test aid, not a model
        of any one release). The ``token`` cookie and ``Authorization: Bearer`` paths are not emulated."""
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
        self, route: _Route, raw_query: dict[str, list[str]], headers: Mapping[str, str], body: bytes
    ) -> _Reply:
        auth = self._authenticate(headers)
        if isinstance(auth, _Reply) and not route.public:
            return auth
        # A public route (no jwt.verify) answers whatever the headers: with valid app headers the app's team is
        # known to getAccessorUserAndTeam; how it treats invalid ones was not read, so they count as none.
        app = auth if isinstance(auth, App) else None
        # CheckAccessMiddleware (notes §(a) error table): a disabled app 400 "Application has not been enabled!"
        # (DatasetIntegrationDeprecatedTest:499), a missing permission 400 "Application permissions do not allow
        # this request". The test route has no check.access, so neither applies there.
        if route.permission is not None and app is not None:
            if not app.enabled:
                return _error(400, "Application has not been enabled!")
            if route.permission not in app.permissions:
                return _error(400, "Application permissions do not allow this request")
        query = self._clean_query(raw_query)
        data = self._decode_body(body, route.sanitize)
        host = headers.get("host") or f"{self.host}:{self.port}"
        if route.name == "v1_show":
            return self._v1_show(route.dataset_id, query)
        if route.name == "v1_index":
            return self._v1_index(app, query, f"http://{host}{DATASETS_PATH}")
        assert app is not None  # every other route needs the app headers
        controllers: dict[str, Callable[[], _Reply]] = {
            "index": lambda: self._index(app.team_id, query, f"http://{host}{INTEGRATIONS_PATH}"),
            "show": lambda: self._show(app, route.dataset_id, query),
            "store": lambda: self._store_dataset(app, data, query),
            "update": lambda: self._update(app, route.dataset_id, data, query),
            "destroy": lambda: self._destroy(app, route.dataset_id),
            "test": lambda: self._test(data),
            "v1_store": lambda: self._v1_store(app, data, query),
            "v1_update": lambda: self._v1_update(app, route.dataset_id, data, query),
            "v1_patch": lambda: self._v1_patch(app, route.dataset_id, data, query),
            "v1_destroy": lambda: self._v1_destroy(app, route.dataset_id),
        }
        return controllers[route.name]()

    def _clean_query(self, raw_query: Mapping[str, list[str]]) -> dict[str, str | None]:
        """Last value wins (PHP's query-string parsing of a repeated plain key); TrimStrings/ConvertEmptyStringsToNull
        apply to the query too (Laravel's ``TransformsRequest::clean`` cleans ``$request->query`` as well as the
        input; the two middlewares are global in ``app/Http/Kernel.php``, notes §(c))."""
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
        """The JSON input as Laravel reads it: a body that is not a JSON object gives no input (``Request::json()``
        decodes to an empty bag), so the form request then answers "The metadata field is required."; then the
        global middlewares and, on a ``sanitize.input`` route, the HTML encoding (:mod:`.sanitize`)."""
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


def _lifecycle(validator: object, step: str) -> None:
    """Start or stop a validator that has a process of its own (:class:`.traser_node.NodeTraser`)."""
    method = getattr(validator, step, None)
    if callable(method):
        method()
