"""What UNIS's answers mean, as its code behaves (``shared/notes/destinations.md`` §1), in the pipeline's words.

Pure: a status, the body as text and the headers in; an :class:`Answer` out. UNIS builds its error bodies by
string concatenation (``{"message": "..."}`` with the message pasted in), so a body is often not valid JSON: its
text is kept as it is. It means to refuse a wrong ``Content-Type``/``Accept`` with 415/406 but raises the wrong
exception class, so the refusal arrives as a 500; that one is explained, not retried.
"""

from __future__ import annotations

import re
from typing import Any

from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.core.outcome import ErrorDetail
from hdr_ingest.destinations.http import json_value, retry_after_s

MAX_TEXT_CHARS = 500
TRANSIENT_STATUSES = (429, 500, 502, 503, 504)
_PASTED_MESSAGE = re.compile(r'^\s*\{\s*"message"\s*:\s*"(.*)"\s*\}\s*$', re.DOTALL)
_MEDIA_TYPE_REFUSAL = re.compile(
    r"Unsupported (accept )?content type|HTTP (415|406)\b|Schema is not defined for content of type"
)
MEDIA_TYPE_ACTION = (
    "UNIS refused the request's media type (it means 415/406 but answers 500). This client always sends "
    "Content-Type and Accept application/perfsonar+json: something between us and UNIS (a proxy or gateway) "
    "rewrites them. Route to UNIS directly or make the proxy keep both headers."
)


def message_of(text: str) -> str:
    """UNIS's message: the ``message`` of a JSON body (also when UNIS's pasting broke the JSON), else the text
    itself; cut, never empty."""
    try:
        body = json_value(text)
    except ValueError:
        body = None
    pasted = _PASTED_MESSAGE.match(text)
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        text = body["message"]
    elif body is None and pasted:  # UNIS pasted a message holding quotes into its JSON: the text between
        text = pasted.group(1)
    text = " ".join(text.split())
    if not text:
        return "(no body)"
    return text if len(text) <= MAX_TEXT_CHARS else text[: MAX_TEXT_CHARS - 1] + "…"


def classify(operation: str, status: int, text: str, headers: dict[str, str], record_id: Any = None) -> Answer:
    """A non-success answer to ``operation`` ("create", "update", "find", "archive") on ``record_id``."""
    said = message_of(text)
    if status == 400:
        message = f"UNIS refused the metadata (400): {said}. Fix the document and upload it again."
        return Answer(AnswerKind.METADATA_REJECTED, 400, message, record_id, errors=(ErrorDetail("$", said),))
    if status == 409 and "E11000" not in text:
        # UNIS answers 409 for every exception of an insert, not only MongoDB's duplicate key (periscope-ps/unis
        # 7c9a9d2, periscope/handlers/networkresourcehandler.py): a database that failed for a moment.
        message = f"UNIS could not store the metadata (409 without a duplicate key: {said}); will retry."
        return Answer(AnswerKind.TRANSIENT, 409, message, record_id, retry_after_s=retry_after_s(headers))
    if status == 409:
        message = (
            f"UNIS already holds a version of metadata {record_id!r} with the same ts (409 Conflict: {said}); it "
            "keeps one version per (id, ts), deleted ones included. Remove ts from the document (UNIS sets it) "
            "or give it a new value, then upload it again."
        )
        return Answer(AnswerKind.PERMANENT, 409, message, record_id)
    if status == 404:
        return Answer(AnswerKind.NOT_FOUND, 404, f"UNIS has no metadata {record_id!r} (404): {said}", record_id)
    if status in (401, 403):
        message = (
            f"UNIS refused the client ({status}): {said}. If the server requires TLS client certificates, check "
            "the route's secret (cert_pem, key_pem) holds a certificate it trusts."
        )
        return Answer(AnswerKind.UNAUTHORISED, status, message, record_id)
    if status == 500 and _MEDIA_TYPE_REFUSAL.search(text):
        return Answer(AnswerKind.PERMANENT, 500, f"{MEDIA_TYPE_ACTION} UNIS said: {said}", record_id)
    if status in TRANSIENT_STATUSES:
        message = f"UNIS answered {status} to {operation}: {said}; will retry."
        if status == 500 and not text.strip():
            message += " (UNIS answers an empty 500 when it cannot write its error, e.g. after refusing Accept.)"
        return Answer(AnswerKind.TRANSIENT, status, message, record_id, retry_after_s=retry_after_s(headers))
    if 300 <= status < 400:
        where = next((v for k, v in headers.items() if k.lower() == "location"), "?")
        message = (
            f"UNIS redirected {operation} to {where} ({status}); redirects are not followed. Set the route's url "
            "to the server's own address."
        )
        return Answer(AnswerKind.PERMANENT, status, message, record_id)
    return Answer(AnswerKind.PERMANENT, status, f"UNIS answered {status} to {operation}: {said}", record_id)
