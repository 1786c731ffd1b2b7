"""What an answer from the Gateway's integrations API means, and what an operator should do about it.

Pure: takes a status code and a decoded body, returns a :class:`GatewayAnswer`. The messages and
status codes are those of HDRUK/gateway-api (see README "Troubleshooting").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hdr_ingest.core.answers import AnswerKind
from hdr_ingest.core.outcome import ErrorDetail

__all__ = ["OPERATOR_ACTIONS", "AnswerKind", "GatewayAnswer", "classify", "found_dataset", "transient", "traser_errors"]


@dataclass(frozen=True)
class GatewayAnswer:
    kind: AnswerKind
    http_status: int | None
    message: str
    dataset_id: int | None = None
    dataset_version: int | None = None
    errors: tuple[ErrorDetail, ...] = ()
    deprecation: str | None = None
    sunset: str | None = None
    found: bool = field(default=False)


# Documented permanent errors -> what the operator must do.
OPERATOR_ACTIONS: dict[str, str] = {
    "Unauthorized": (
        "The Gateway saw no app credentials. Check that the secret holds both app_id and client_id and that "
        "GATEWAY_HEADER_STYLE matches the Gateway (x-headers for the current Gateway, legacy for pre-2024 "
        "deployments)."
    ),
    "Please provide a x-application-id and x-client-id in your headers": (
        "The Gateway wants x-application-id and x-client-id headers: set GATEWAY_HEADER_STYLE=x-headers and "
        "check that the secret holds both app_id and client_id."
    ),
    "No known integration matches the credentials provided": (
        "The app_id in the secret is unknown to this Gateway. Copy the Application ID from the team's "
        "Integrations > Applications page of this Gateway (dev and production differ) into the secret."
    ),
    "The credentials provided are invalid": (
        "The client_id in the secret does not belong to the app_id. Copy both values again from the team's "
        "Integrations > Applications page into the secret."
    ),
    "Application has not been enabled!": (
        "The Gateway app is disabled. A team admin must enable it on the team's Integrations > Applications page."
    ),
    "Application permissions do not allow this request": (
        "The Gateway app lacks a permission. Grant it datasets.create, datasets.read and datasets.update "
        "(and datasets.delete for archiving) on the team's Integrations > Applications page."
    ),
    "This Application is not allowed to interact with datasets from another team!": (
        "The dataset belongs to another Gateway team than this app. Use the app of the team that owns it, "
        "or remove the dataset id from the ledger so the document is published as a new dataset."
    ),
}

_TRANSIENT_500_MESSAGES = ("Too Many Attempts.", "Translation Service error")
_NOT_FOUND_MARKERS = ("No query results for model", "cannot be found")


def _message_of(body: Any) -> str:
    if isinstance(body, dict):
        message = body.get("message")
        if isinstance(message, str):
            return message
    return ""


def traser_errors(traser_message: Any) -> tuple[ErrorDetail, ...]:
    """The Gateway's validator reports Ajv errors (``instancePath`` like ``/summary/title``)."""
    items: list[Any] = []
    if isinstance(traser_message, dict):
        details = traser_message.get("details")
        if isinstance(details, dict):  # translate: {"details": {"validationErrors": [...], "data": ...}}
            details = details.get("validationErrors") or details.get("errors")
        items = details if isinstance(details, list) else []
        if not items:
            text = traser_message.get("error") or traser_message.get("message")
            return (ErrorDetail("$", str(text)),) if text else ()
    elif isinstance(traser_message, list):
        items = traser_message
    elif traser_message:
        return (ErrorDetail("$", str(traser_message)),)
    out: list[ErrorDetail] = []
    for item in items:
        if not isinstance(item, dict):
            out.append(ErrorDetail("$", str(item)))
            continue
        pointer = str(item.get("instancePath") or item.get("path") or "")
        path = "$" + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in pointer.strip("/").split("/") if p)
        message = str(item.get("message", "is invalid"))
        params = item.get("params")
        if isinstance(params, dict) and params:
            message += f" ({', '.join(f'{k}: {v}' for k, v in params.items())})"
        out.append(ErrorDetail(path, message))
    return tuple(out)


def classify(status: int, body: Any, headers: dict[str, str] | None = None) -> GatewayAnswer:
    """Classify a create/update answer: ``status`` is the HTTP code, ``body`` the decoded JSON (or None)."""
    headers = headers or {}
    dep, sun = headers.get("Deprecation"), headers.get("Sunset")
    message = _message_of(body)

    if status in (200, 201):
        data = body.get("data") if isinstance(body, dict) else None
        dataset_id = data if isinstance(data, int) else (data.get("id") if isinstance(data, dict) else None)
        # A create answers {"data": <id>, "version": <dataset_versions row id>}: the row id is not the version
        # number, and a new dataset is at version 1. An update answers the dataset with its versions.
        version: int | None = 1 if status == 201 else None
        if isinstance(data, dict):
            version = _latest_version(data) or version
        return GatewayAnswer(
            AnswerKind.SUCCESS,
            status,
            message or "ok",
            dataset_id=dataset_id,
            dataset_version=version,
            deprecation=dep,
            sunset=sun,
        )

    if (
        status == 400
        and isinstance(body, dict)
        and isinstance(body.get("details"), dict)
        and ("traser_message" in body["details"])
    ):
        traser = body["details"].get("traser_message")
        errors = traser_errors(traser)
        return GatewayAnswer(
            AnswerKind.METADATA_REJECTED,
            status,
            "The Gateway's validator rejected the metadata: "
            + (message or "unknown format")
            + (f" ({errors[0]})" if errors else "")
            + ". Fix the document and upload it again.",
            errors=errors,
            deprecation=dep,
            sunset=sun,
        )

    if status == 401:
        action = OPERATOR_ACTIONS.get(message, OPERATOR_ACTIONS["Unauthorized"])
        return GatewayAnswer(
            AnswerKind.UNAUTHORISED, status, f"{message or 'Unauthorized'}: {action}", deprecation=dep, sunset=sun
        )

    if message in OPERATOR_ACTIONS:
        return GatewayAnswer(
            AnswerKind.PERMANENT, status, f"{message}: {OPERATOR_ACTIONS[message]}", deprecation=dep, sunset=sun
        )

    if status == 400 and isinstance(body, dict) and body.get("status") == "INVALID_ARGUMENT":
        errors = tuple(
            ErrorDetail(f"$.{e.get('field', '')}".rstrip("."), str(e.get("message", "")))
            for e in body.get("errors", [])
            if isinstance(e, dict)
        )
        return GatewayAnswer(
            AnswerKind.PERMANENT,
            status,
            f"The Gateway refused the request: {message}",
            errors=errors,
            deprecation=dep,
            sunset=sun,
        )

    if any(marker in message for marker in _NOT_FOUND_MARKERS):
        return GatewayAnswer(
            AnswerKind.NOT_FOUND,
            status,
            f"The Gateway no longer has this dataset: {message}",
            deprecation=dep,
            sunset=sun,
        )

    if status == 413:
        return GatewayAnswer(
            AnswerKind.PERMANENT,
            status,
            "The Gateway refused the document as too large (limit about 10 MB).",
            deprecation=dep,
            sunset=sun,
        )

    if status >= 500 or status in (408, 425, 429):
        reason = (
            "throttled by the Gateway's rate limit" if "Too Many Attempts" in message else (message or f"HTTP {status}")
        )
        return GatewayAnswer(
            AnswerKind.TRANSIENT, status, f"The Gateway failed ({reason}); will retry.", deprecation=dep, sunset=sun
        )

    return GatewayAnswer(
        AnswerKind.PERMANENT,
        status,
        f"The Gateway refused the request with HTTP {status}: {message or body!r}",
        deprecation=dep,
        sunset=sun,
    )


def transient(reason: str) -> GatewayAnswer:
    """A failure with no HTTP answer: timeout or connection error."""
    return GatewayAnswer(AnswerKind.TRANSIENT, None, f"The Gateway did not answer ({reason}); will retry.")


def _latest_version(dataset: dict[str, Any]) -> int | None:
    versions = dataset.get("versions")
    if isinstance(versions, list) and versions:
        numbers = [v.get("version") for v in versions if isinstance(v, dict)]
        ints = [n for n in numbers if isinstance(n, int)]
        return max(ints) if ints else None
    return None


def found_dataset(body: Any) -> tuple[int | None, bool, int | None]:
    """From a list answer filtered by ``dataset_id``: the dataset's id, whether it is archived, and its
    latest version. An active dataset is preferred over an archived one."""
    items = body.get("data") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        return None, False, None
    ordered = sorted(
        (i for i in items if isinstance(i, dict) and isinstance(i.get("id"), int)),
        key=lambda i: (i.get("deleted_at") is not None, i.get("status") == "ARCHIVED", -int(i["id"])),
    )
    if not ordered:
        return None, False, None
    first = ordered[0]
    archived = first.get("deleted_at") is not None or first.get("status") == "ARCHIVED"
    return int(first["id"]), archived, _latest_version(first)
