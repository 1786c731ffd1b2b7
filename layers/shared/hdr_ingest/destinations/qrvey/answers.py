"""What an answer from Qrvey's API means, and what an operator should do about it.

Pure: a status code, a decoded body and the headers in, an :class:`Answer` out. Qrvey documents no error codes;
errors are read from the envelope ``{"status": "error", "errors": [{"message": ...}]}`` (seen in a third-party
client's fixtures, ``notes/destinations.md`` §2), or a plain ``{"message": ...}`` (what AWS API Gateway, in front
of Qrvey's API, answers itself, e.g. ``403 {"message": "Forbidden"}`` for a wrong key).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.core.outcome import ErrorDetail
from hdr_ingest.destinations.http import retry_after_s

CREDENTIALS_ACTION = (
    "Put the instance's API key in the route's secret as {\"api_key\": ...} and check that the route's url is that "
    "instance's <instance>/devapi/v4."
)
ACCESS_ACTION = (
    "Check that the API key in the route's secret belongs to this Qrvey instance, and that the route's userId and "
    "appId name a user and an application of that instance the key may use."
)
# AWS API Gateway's own 403 bodies (notes/destinations.md §5): a missing/wrong key, and a path it has no route for.
GATEWAY_FORBIDDEN = "Forbidden"
GATEWAY_NO_ROUTE = "Missing Authentication Token"


def messages_of(body: Any) -> list[str]:
    """Qrvey's own words in an error body (the envelope's messages, or a ``message``/``error`` field)."""
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list):
            words = [str(e.get("message")) if isinstance(e, dict) and e.get("message") else str(e) for e in errors]
            if words:
                return words
        for name in ("message", "errorMessage", "error"):
            value = body.get(name)
            if isinstance(value, str) and value.strip():
                return [value.strip()]
    elif isinstance(body, str) and body.strip():
        return [body.strip()[:300]]
    return []


def classify(
    status: int, body: Any, headers: Mapping[str, str], doing: str, definition: bool = False, tried: str = ""
) -> Answer:
    """A non-2xx answer to ``doing`` (e.g. "create the dataset"). ``definition``: the request carried the dataset
    definition, so a 400/422 is Qrvey refusing the document itself. ``tried``: the URL asked, named when the
    answer says the path is wrong."""
    words = messages_of(body)
    said = "; ".join(words) if words else f"HTTP {status} with no message"
    if status == 401 or (status == 403 and words == [GATEWAY_FORBIDDEN]):
        # API Gateway's 403 "Forbidden" is its answer to a wrong or rotated key: read the secret again once.
        return Answer(
            AnswerKind.UNAUTHORISED,
            status,
            f"Qrvey refused the API key in the route's secret (HTTP {status}: {said}). {CREDENTIALS_ACTION}",
        )
    if status == 403 and words == [GATEWAY_NO_ROUTE]:
        return Answer(
            AnswerKind.PERMANENT,
            status,
            f"Qrvey has no endpoint at {tried or 'the URL asked'} (HTTP 403: {said}), so it could not {doing}. "
            "Check the route's url (<instance>/devapi/v4) and, for a create, its createPath.",
        )
    if status == 403:
        return Answer(AnswerKind.PERMANENT, status, f"Qrvey refused access to {doing} ({said}). {ACCESS_ACTION}")
    if status == 404:
        at = f" at {tried}" if tried else ""
        return Answer(AnswerKind.NOT_FOUND, status, f"Qrvey found nothing to {doing}{at} ({said}).")
    if status in (408, 425, 429) or status >= 500:
        reason = "throttled by Qrvey" if status == 429 else said
        return Answer(
            AnswerKind.TRANSIENT,
            status,
            f"Qrvey failed to {doing} (HTTP {status}: {reason}); will retry.",
            retry_after_s=retry_after_s(headers),
        )
    if definition and status in (400, 409, 422):
        errors = tuple(ErrorDetail("$", word) for word in words)
        return Answer(
            AnswerKind.METADATA_REJECTED,
            status,
            f"Qrvey refused the dataset definition (HTTP {status}): {said}. Fix the file and upload it again.",
            errors=errors,
        )
    return Answer(AnswerKind.PERMANENT, status, f"Qrvey refused to {doing} (HTTP {status}): {said}.")


def no_answer(doing: str, reason: str) -> Answer:
    """A failure with no HTTP answer: a timeout or a connection error."""
    return Answer(AnswerKind.TRANSIENT, None, f"Qrvey did not answer when asked to {doing} ({reason}); will retry.")
