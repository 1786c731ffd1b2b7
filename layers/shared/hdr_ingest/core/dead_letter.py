"""The dead-letter envelope: what a failure message holds, written in one place for every kind of failure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hdr_ingest.core.bounds import MAX_REASON_BYTES, bounded, bounded_errors
from hdr_ingest.core.outcome import ErrorDetail

DLQ_MESSAGE_KIND = "hdr-gateway-ingest.failure"


def envelope(
    *,
    source: str | None,
    status: str,
    reason: str,
    event: Any,
    errors: tuple[ErrorDetail, ...] = (),
    **extra: Any,
) -> dict[str, Any]:
    """A dead letter: ``event`` is the original event, so replaying the message reprocesses the object."""
    return {
        "kind": DLQ_MESSAGE_KIND,
        "version": 1,
        "source": source,
        "status": status,
        "reason": bounded(reason, MAX_REASON_BYTES),
        "errors": [e.as_dict() for e in bounded_errors(errors)],
        "errors_total": len(errors),
        **extra,
        "event": event,
    }


def replayed_event(body: Any) -> Any:
    """The event a message carries: a dead letter's original event, or the body itself."""
    if isinstance(body, Mapping) and body.get("kind") == DLQ_MESSAGE_KIND:
        return body.get("event") or {}
    return body
