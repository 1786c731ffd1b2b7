"""The Gateway emulator's shared pieces: constants, the registered apps, request records, replies and the
Laravel helpers (pagination, column checks) every controller uses."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

# The permissions the dataset routes' check.access entries name (config/routes.php; notes §(a) table).
ALL_DATASET_PERMISSIONS: frozenset[str] = frozenset(
    {"datasets.create", "datasets.read", "datasets.update", "datasets.delete"}
)
API_PREFIX = "/api/v1"
INTEGRATIONS_PATH = "/api/v1/integrations/datasets"
# app/Http/Middleware/SunsetHeader.php (383c7a1cb, 2025-07-23; notes §(a)), the weekday spelt "Thurs" as there.
DEPRECATION_HEADERS: Mapping[str, str] = {
    "Deprecation": "true",
    "Sunset": "Thurs, 22 Jan 2026 23:59:59 GMT",
}
GWDM_VERSION = "2.0"  # config/metadata.php GWDM_CURRENT_VERSION, env default "2.0" (notes §(c))
DEFAULT_PER_PAGE = 25  # config/constants.php (notes §(a) "List query parameters")
REQUEST_LOG_LIMIT = 10_000

DATASETS_PATH = "/api/v1/datasets"

_DATASET_MODEL = "App\\Models\\Dataset"  # findOrFail's ModelNotFoundException names the model (notes §(a), inferred)
# DatasetIntegrationDeprecatedTest:412,426 and DatasetIntegrationTest:417 (notes §(a) error table)
_OTHER_TEAM = "This Application is not allowed to interact with datasets from another team!"
_SERVER_ERROR = "Server Error"  # the emulator's text for an injected fault (Laravel's generic 500 wording)
_TOO_MANY = "Too Many Attempts."  # ThrottleRequestsException's message, rendered as a 500 (notes §(f), inferred)
_SENSITIVE_QUERY = re.compile(r"(app[-_]?id|client[-_]?id|application[-_]?id|secret|token|password|auth|key)", re.I)
# What index() accepts in ``sort=field:dir`` besides ``metadata.*``: the ``datasets`` columns (the controller checks
# the field against a dataset's attributes; read from the code, not run; notes §(a) gives the 400 message).
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
    name: str  # the controller method: index | show | store | update | destroy | test | v1_index | v1_show | ...
    permission: str | None  # check.access:permissions,<this>
    sanitize: bool  # sanitize.input runs (HTML-encoding)
    public: bool = False  # no jwt.verify: app headers are not required
    dataset_id: int = 0


def _error(status: int, message: str) -> _Reply:
    """The body app/Exceptions/Handler.php::render gives with APP_DEBUG off (notes §(a) "Error responses")."""
    return _Reply(status, {"code": status, "message": message})


def _no_model(dataset_id: int) -> _Reply:
    """``findOrFail`` on a missing or archived id: 500 with Eloquent's message (notes §(a) error table and §(b),
    inferred from the code; the 2024 docs show "Dataset with id=N cannot be found" instead)."""
    return _error(500, f"No query results for model [{_DATASET_MODEL}] {dataset_id}")


def _form_error(field_name: str, reason: str, message: str) -> _Reply:
    """A failed form request: ``app/Http/Requests/BaseFormRequest.php`` (notes §(a) error table; test:479)."""
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


def _reason(status: int) -> str:
    """The HTTP reason phrase: the emulator's message for an injected status (no Gateway source)."""
    phrase = BaseHTTPRequestHandler.responses.get(status)
    return phrase[0] if phrase else "Error"


def _column_text(value: Any) -> str | _Reply | None:
    """A body value as MySQL stores it in a string column: booleans as 1/0; an array is PHP's "Array to string
    conversion" error, rendered 500 (inferred from PHP's behaviour, not run against the Gateway)."""
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
        return 15  # paginate(0) falls back to the model's default of 15 (Eloquent Model::$perPage)
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
