"""What AEP's answers mean, in the pipeline's words, and what an operator should do about them.

Pure: status codes and decoded bodies in, :class:`Answer` out. Sources: Adobe's troubleshooting pages (request
header errors), the Batch Ingestion and Catalog specs, and the batch statuses of ``notes/destinations.md`` §3.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.core.outcome import ErrorDetail
from hdr_ingest.destinations.http import retry_after_s

MAX_RETRY_AFTER_S = 120.0

# Adobe's gateway header errors (``{"error_code": ..., "message": ...}``) -> (kind, what the operator must do)
HEADER_ERRORS: dict[str, tuple[AnswerKind, str]] = {
    "401013": (
        AnswerKind.UNAUTHORISED,
        "The IMS access token was refused (expired or for another client). A new token is fetched automatically; "
        "if this persists, check that the secret's client_id/client_secret belong to the project added to this "
        "organisation.",
    ),
    "403010": (
        AnswerKind.PERMANENT,
        "No access token reached Platform (Authorization header missing). Check the route's imsUrl and that the "
        "IMS token answer holds access_token.",
    ),
    "403000": (
        AnswerKind.PERMANENT,
        "Platform wants an API key: the secret's client_id is sent as x-api-key; check it is not empty.",
    ),
    "403003": (
        AnswerKind.UNAUTHORISED,
        "The API key (the secret's client_id) is not valid: copy the Client ID of the Developer Console project "
        "that has the Experience Platform API added into the secret.",
    ),
    "400003": (
        AnswerKind.PERMANENT,
        "A required header is missing: check the route's options orgId (x-gw-ims-org-id, '...@AdobeOrg') and "
        "sandbox (x-sandbox-name, lower case).",
    ),
    "403025": (
        AnswerKind.PERMANENT,
        "The IMS profile is not valid for this organisation: check options.orgId and that the project's product "
        "profile grants the sandbox and the dataset permissions (Manage Datasets, Manage Schemas, Data Ingestion).",
    ),
}

# Loaded: "Active and Success are used interchangeably", and "archived" and "retained" come after success
# (AdobeDocs/experience-platform.en help/ingestion/batch-ingestion/troubleshooting.md). Every check that means
# "loaded" takes all four.
LOADED = frozenset({"success", "active", "archived", "retained"})
TERMINAL_FAILURE = frozenset({"failed", "failure", "aborted", "abandoned", "stalled"})
GONE = frozenset({"reverted", "deleted", "inactive"})


def words(body: Any) -> str:
    """Adobe's own words from an error body (RFC 7807 problem, header error, or IMS OAuth error)."""
    if isinstance(body, Mapping):
        parts = [
            str(body[k])
            for k in ("title", "detail", "message", "error", "error_description", "report")
            if isinstance(body.get(k), (str, int)) and str(body[k]).strip()
        ]
        code = body.get("error_code") or body.get("code")
        text = "; ".join(dict.fromkeys(parts))
        return f"{code}: {text}" if code and text else text or str(code or "")
    if isinstance(body, list):
        return "; ".join(words(item) for item in body[:5])
    return str(body or "")[:300]


def classify(status: int, body: Any, headers: Mapping[str, str], what: str) -> Answer:
    """A non-2xx answer from Platform to ``what`` (e.g. "creating the batch")."""
    text = words(body)
    code = str(body.get("error_code", "")) if isinstance(body, Mapping) else ""
    if code in HEADER_ERRORS:
        kind, action = HEADER_ERRORS[code]
        return Answer(kind, status, f"AEP refused {what} ({status} {text}). {action}")
    if status == 401:
        return Answer(AnswerKind.UNAUTHORISED, status, f"AEP refused {what} ({status} {text}). {_TOKEN_ACTION}")
    if status == 429 or status >= 500:
        return Answer(
            AnswerKind.TRANSIENT,
            status,
            f"AEP could not answer {what} now ({status} {text}); will retry.",
            retry_after_s=retry_after_s(headers),
        )
    if status == 404:
        return Answer(AnswerKind.NOT_FOUND, status, f"AEP found nothing when {what} ({text or 'not found'}).")
    if status == 403:
        return Answer(AnswerKind.PERMANENT, status, f"AEP forbade {what} ({text}). {_PERMISSION_ACTION}")
    return Answer(AnswerKind.PERMANENT, status, f"AEP rejected {what} ({status} {text}).")


_TOKEN_ACTION = "Check the secret's client_id and client_secret (Developer Console > OAuth Server-to-Server)."  # noqa: S105 (advice, not a password)
_PERMISSION_ACTION = (
    "Grant the Developer Console project's product profile the sandbox and the permissions Manage Datasets, "
    "View/Manage Schemas and Data Ingestion."
)


def ims_answer(status: int, body: Any) -> Answer:
    """A refused token request: IMS says ``invalid_client``, ``unauthorized_client``, ``invalid_scope`` ..."""
    text = words(body)
    error = str(body.get("error", "")) if isinstance(body, Mapping) else ""
    if status == 429 or status >= 500:
        return Answer(AnswerKind.TRANSIENT, status, f"IMS could not issue a token now ({status} {text}); will retry.")
    if error == "invalid_scope":
        return Answer(
            AnswerKind.PERMANENT,
            status,
            f"IMS refused the scope ({text}). Copy the project's scopes from the Developer Console into the "
            "secret's scope (comma-separated, e.g. openid,AdobeID,read_organizations,...).",
        )
    return Answer(
        AnswerKind.UNAUTHORISED,
        status,
        f"IMS refused the client credentials ({status} {text}). {_TOKEN_ACTION}",
    )


def batch_of(body: Any, batch_id: str) -> Mapping[str, Any] | None:
    """Catalog answers ``GET /batches/{id}`` with an object keyed by the batch id."""
    if isinstance(body, Mapping):
        inner = body.get(batch_id)
        if isinstance(inner, Mapping):
            return inner
        if body.get("id") == batch_id or "status" in body:
            return body
    return None


def batch_errors(batch: Mapping[str, Any]) -> tuple[ErrorDetail, ...]:
    found: list[ErrorDetail] = []
    for error in batch.get("errors") or []:
        if not isinstance(error, Mapping):
            continue
        rows = error.get("rows")
        path = f"rows {', '.join(map(str, rows))}" if isinstance(rows, list) and rows else "$"
        code, description = error.get("code"), error.get("description") or error.get("title") or ""
        found.append(ErrorDetail(path, f"{code}: {description}" if code else str(description)))
    return tuple(found)


def batch_answer(batch_id: str, batch: Mapping[str, Any], created: bool) -> Answer:
    """How a batch stands: loaded (SUCCESS), failed (PERMANENT with Adobe's errors) or still loading (PENDING)."""
    status = str(batch.get("status", "")).lower()
    if status in LOADED:
        count = batch.get("recordCount")
        loaded = f"{count} records" if isinstance(count, int) else "records"
        return Answer(AnswerKind.SUCCESS, 200, f"batch {batch_id} loaded {loaded}", record_id=batch_id, created=created)
    if status in TERMINAL_FAILURE or status in GONE:
        errors = batch_errors(batch)
        listed = "; ".join(e.message for e in errors[:5]) or "Adobe gave no errors"
        return Answer(
            AnswerKind.PERMANENT,
            200,
            f"AEP batch {batch_id} is {status}: {listed}. Fix the records (see Monitoring > Batch end-to-end in "
            "Experience Platform for the rows) and upload the file again.",
            record_id=batch_id,
            errors=errors,
        )
    return Answer(AnswerKind.PENDING, 200, f"batch {batch_id} is {status or 'not yet reported'}", record_id=batch_id)
