"""What an answer from the Gateway's integrations API means, and what an operator should do about it.

Pure: takes a status code and a decoded body, returns the core :class:`~hdr_ingest.core.answers.Answer`. The
messages and status codes are those of HDRUK/gateway-api (see README "Troubleshooting").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.core.outcome import ErrorDetail
from hdr_ingest.destinations.http import json_value, retry_after_s

__all__ = [
    "OPERATOR_ACTIONS",
    "answer_for",
    "classify",
    "found_dataset",
    "lookup_answer",
    "transient",
    "traser_errors",
]


# Evidence of a success: a dataset id is a positive integer that fits the ledger (DynamoDB numbers; the Gateway's
# ids are MySQL unsigned bigints in practice far below this).
MAX_DATASET_ID = 2**63 - 1
MESSAGE_CHARS = 500  # text quoted from the Gateway in a message, at most
QUOTE_BYTES = 200  # bytes of a body quoted when it is not what was expected


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

LIMIT = "limit about 10 MB"
_NOT_FOUND_MARKERS = ("No query results for model", "cannot be found")


def _clip(text: str, limit: int = MESSAGE_CHARS) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def _message_of(body: Any) -> str:
    if isinstance(body, dict):
        message = body.get("message")
        if isinstance(message, str):
            return _clip(message)
    return ""


def valid_id(value: Any) -> int | None:
    """``value`` if it is a dataset id: a positive integer (not a bool) within the ledger's number range."""
    return value if type(value) is int and 0 < value <= MAX_DATASET_ID else None


def quote(raw: bytes | str, limit: int = QUOTE_BYTES) -> str:
    """The first bytes of a body, printable and quoted, with its size when it is longer."""
    data = raw.encode("utf-8", "replace") if isinstance(raw, str) else raw
    shown = repr(data[:limit].decode("utf-8", "replace"))
    return shown if len(data) <= limit else f"{shown}… ({len(data)} bytes)"


def _quote_json(body: Any) -> str:
    try:
        text = json.dumps(body, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(body)
    return quote(text)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


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


def classify(
    status: int,
    body: Any,
    headers: Mapping[str, str] | None = None,
    *,
    expected_id: int | None = None,
    needs_id: bool = True,
) -> Answer:
    """Classify a create/update/archive answer: ``status`` is the HTTP code, ``body`` the decoded JSON (or None).

    A 200/201 is a success only with evidence (see :func:`_success`); any other answer is the first of
    :data:`_RULES` that applies. Every answer carries the API's Deprecation and Sunset headers."""
    headers = headers or {}
    if status in (200, 201):
        answer = _success(status, body, expected_id, needs_id)
    else:
        seen = _Seen(status, body, _message_of(body), headers)
        answer = next(then(seen) for when, then in _RULES if when(seen))
    return replace(answer, deprecation=_header(headers, "Deprecation"), sunset=_header(headers, "Sunset"))


@dataclass(frozen=True)
class _Seen:
    """A refusal as the rules see it."""

    status: int
    body: Any
    message: str  # the body's "message", clipped ("" when none)
    headers: Mapping[str, str]

    def detail(self, key: str) -> Any:
        details = self.body.get("details") if isinstance(self.body, dict) else None
        return details.get(key) if isinstance(details, dict) else None

    def has_detail(self, key: str) -> bool:
        details = self.body.get("details") if isinstance(self.body, dict) else None
        return isinstance(details, dict) and key in details


def _rejected_metadata(seen: _Seen) -> Answer:
    errors = traser_errors(seen.detail("traser_message"))
    first = f" ({_clip(str(errors[0]))})" if errors else ""
    return Answer(
        AnswerKind.METADATA_REJECTED,
        seen.status,
        f"The Gateway's validator rejected the metadata: {seen.message or 'unknown format'}{first}. "
        "Fix the document and upload it again.",
        errors=errors,
    )


def _unauthorised(seen: _Seen) -> Answer:
    action = OPERATOR_ACTIONS.get(seen.message, OPERATOR_ACTIONS["Unauthorized"])
    return Answer(AnswerKind.UNAUTHORISED, seen.status, f"{seen.message or 'Unauthorized'}: {action}")


def _invalid_argument(seen: _Seen) -> Answer:
    listed = seen.body.get("errors")
    errors = tuple(
        ErrorDetail(f"$.{e.get('field', '')}".rstrip("."), str(e.get("message", "")))
        for e in (listed if isinstance(listed, list) else [])
        if isinstance(e, dict)
    )
    return Answer(AnswerKind.PERMANENT, seen.status, f"The Gateway refused the request: {seen.message}", errors=errors)


def _failed(seen: _Seen) -> Answer:
    throttled = "Too Many Attempts" in seen.message or seen.status == 429
    reason = "throttled by the Gateway's rate limit" if throttled else (seen.message or f"HTTP {seen.status}")
    wait = retry_after_s(seen.headers)
    return Answer(
        AnswerKind.TRANSIENT,
        seen.status,
        f"The Gateway failed ({reason}"
        + (f", HTTP {seen.status}" if seen.message else "")
        + (f", Retry-After {wait:g} s" if wait is not None else "")
        + "); will retry.",
        retry_after_s=wait,
    )


# What a refusal means, first match wins (the messages and statuses are HDRUK/gateway-api's: README "Troubleshooting").
_RULES: tuple[tuple[Callable[[_Seen], bool], Callable[[_Seen], Answer]], ...] = (
    (lambda s: s.status == 400 and s.has_detail("traser_message"), _rejected_metadata),
    (lambda s: s.status == 401, _unauthorised),
    (
        lambda s: s.message in OPERATOR_ACTIONS,
        lambda s: Answer(AnswerKind.PERMANENT, s.status, f"{s.message}: {OPERATOR_ACTIONS[s.message]}"),
    ),
    (
        lambda s: s.status == 400 and isinstance(s.body, dict) and s.body.get("status") == "INVALID_ARGUMENT",
        _invalid_argument,
    ),
    (
        lambda s: any(marker in s.message for marker in _NOT_FOUND_MARKERS),
        lambda s: Answer(AnswerKind.NOT_FOUND, s.status, f"The Gateway no longer has this dataset: {s.message}"),
    ),
    (
        lambda s: s.status == 413,
        lambda s: Answer(AnswerKind.PERMANENT, s.status, f"The Gateway refused the document as too large ({LIMIT})."),
    ),
    (lambda s: s.status >= 500 or s.status in (408, 425, 429), _failed),
    (
        lambda s: True,
        lambda s: Answer(
            AnswerKind.PERMANENT,
            s.status,
            f"The Gateway refused the request with HTTP {s.status}: {s.message or _quote_json(s.body)}",
        ),
    ),
)


def _success(status: int, body: Any, expected_id: int | None, needs_id: bool) -> Answer:
    def refused(what: str) -> Answer:
        return Answer(
            AnswerKind.PERMANENT,
            status,
            f"The Gateway answered HTTP {status} {what}: {_quote_json(body)}. Nothing is recorded as published: "
            "this is not the documented answer, check the GATEWAY_URL and the Gateway's API version.",
        )

    if not isinstance(body, dict):
        return refused("without a JSON object")
    message = _message_of(body) or "ok"
    if not needs_id:
        return Answer(AnswerKind.SUCCESS, status, message)
    # A create answers {"data": <id>, "version": <dataset_versions row id>}: the row id is not the version
    # number, and a new dataset is at version 1. An update answers the dataset with its versions.
    data = body.get("data")
    dataset_id = valid_id(data.get("id") if isinstance(data, dict) else data)
    if dataset_id is None:
        return refused(f"without a dataset id (a positive integer below 2**63 in data{'.id' if data else ''})")
    if expected_id is not None and dataset_id != expected_id:
        return refused(f"for dataset {dataset_id}, not dataset {expected_id} that was sent")
    version: int | None = 1 if status == 201 else None
    if isinstance(data, dict) and "versions" in data:
        version = _latest_version(data)
        if version is None:
            return refused("with a dataset whose versions carry no version number")
    return Answer(AnswerKind.SUCCESS, status, message, record_id=dataset_id, record_version=version)


TITLE = "The Gateway"


def transient(reason: str, http_status: int | None = None) -> Answer:
    """A failure with no usable HTTP answer (timeout, connection error, a body that could not be read).
    ``http_status`` stays ``None`` unless given: the request may still have taken effect."""
    return Answer(AnswerKind.TRANSIENT, http_status, f"{TITLE} did not answer ({reason}); will retry.")


def _latest_version(dataset: dict[str, Any]) -> int | None:
    versions = dataset.get("versions")
    if isinstance(versions, list) and versions:
        numbers = [valid_id(v.get("version")) for v in versions if isinstance(v, dict)]
        ints = [n for n in numbers if n is not None]
        return max(ints) if ints else None
    return None


def decode(raw: bytes) -> tuple[bool, Any]:
    """(True, the JSON value) or (False, None) for a body that is not UTF-8 JSON."""
    try:
        return True, json_value(raw)
    except ValueError:
        return False, None


def answer_for(
    status: int,
    raw: bytes,
    headers: Mapping[str, str],
    *,
    complete: bool = True,
    expected_id: int | None = None,
    needs_id: bool = True,
) -> Answer:
    """The answer to a create, update, archive or unarchive from its raw body. ``complete`` is False when only
    the first bytes were read (the body was over the cap). A 2xx body that is unreadable, truncated or not JSON is
    TRANSIENT with no HTTP status: whether the request took effect is unknown."""
    parsed, body = decode(raw) if complete else (False, None)
    if parsed:
        return classify(status, body, headers, expected_id=expected_id, needs_id=needs_id)
    what = "an answer over the size cap" if not complete else "a body that is not JSON"
    if 200 <= status < 300:
        return transient(f"HTTP {status} with {what}: {quote(raw)}; whether it took effect is unknown")
    text = raw[:300].decode("utf-8", "replace")
    return classify(status, {"message": "".join(c if c.isprintable() else " " for c in text)}, headers)


def lookup_answer(
    status: int, raw: bytes, headers: Mapping[str, str], *, complete: bool = True, datasetid: str
) -> Answer:
    """The answer to a lookup by ``datasetid``: only a listed dataset with that ``datasetid`` counts; a body
    that cannot be read (HTML, truncated, over the cap) is TRANSIENT, never "not found"."""
    if not 200 <= status < 300:
        return answer_for(status, raw, headers, complete=complete)
    if not complete:
        return transient(f"a lookup answer over the size cap: {quote(raw)}")
    parsed, body = decode(raw)
    if not parsed:
        return transient(f"HTTP {status} to a lookup with a body that is not JSON: {quote(raw)}")
    items = body.get("data") if isinstance(body, dict) else None
    if status != 200 or not isinstance(items, list):
        return Answer(
            AnswerKind.PERMANENT,
            status,
            f"The Gateway answered a lookup with HTTP {status} but not a list of datasets: {_quote_json(body)}. "
            "Check the GATEWAY_URL and the Gateway's API version.",
        )
    mine = [i for i in items if isinstance(i, dict) and i.get("datasetid") == datasetid]
    unusable = [i for i in mine if valid_id(i.get("id")) is None]
    if unusable:
        return Answer(
            AnswerKind.PERMANENT,
            status,
            f"The Gateway listed a dataset for datasetid {datasetid!r} without a usable id: "
            f"{_quote_json(unusable[0].get('id'))}. Check the Gateway's API version.",
        )
    dataset_id, archived, version = found_dataset({"data": mine})
    others = len(items) - len(mine)
    return Answer(
        AnswerKind.SUCCESS,
        200,
        ("archived" if archived else "found" if dataset_id else "not found")
        + (f" ({others} listed dataset(s) with another datasetid ignored)" if others else ""),
        record_id=dataset_id,
        record_version=version,
        found=dataset_id is not None and not archived,
        archived=dataset_id is not None and archived,
        deprecation=_header(headers, "Deprecation"),
        sunset=_header(headers, "Sunset"),
    )


def found_dataset(body: Any, datasetid: str | None = None) -> tuple[int | None, bool, int | None]:
    """From a list answer filtered by ``dataset_id``: the dataset's id, whether it is archived, and its
    latest version. An active dataset is preferred over an archived one. With ``datasetid``, only datasets
    carrying that ``datasetid`` count (the Gateway's filter is a case-insensitive SQL match)."""
    items = body.get("data") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        return None, False, None
    ordered = sorted(
        (
            i
            for i in items
            if isinstance(i, dict)
            and valid_id(i.get("id")) is not None
            and (datasetid is None or i.get("datasetid") == datasetid)
        ),
        key=lambda i: (i.get("deleted_at") is not None, i.get("status") == "ARCHIVED", -int(i["id"])),
    )
    if not ordered:
        return None, False, None
    first = ordered[0]
    archived = first.get("deleted_at") is not None or first.get("status") == "ARCHIVED"
    return int(first["id"]), archived, _latest_version(first)
