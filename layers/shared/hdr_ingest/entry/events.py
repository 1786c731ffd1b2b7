"""The events this function accepts, read in one place: SQS batches whose bodies are S3 notifications (the main
path), dead letters replayed onto the queue, plain S3 events (``sam local invoke -e events/s3-put.json``), and
EventBridge "Object Created"/"Object Deleted" events (directly or through SQS)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import unquote_plus

from hdr_ingest.core.dead_letter import replayed_event
from hdr_ingest.core.source_object import SourceObject


class UnsupportedEvent(ValueError):
    """The event is none of the shapes this function handles. ``obj``: the object a malformed S3 record still
    names (its bucket and key were readable), so its ledger row can say what was wrong; else ``None``."""

    def __init__(self, message: str, obj: SourceObject | None = None) -> None:
        super().__init__(message)
        self.obj = obj


def is_s3_test_event(body: Mapping[str, Any]) -> bool:
    """S3 sends ``s3:TestEvent`` to a queue when notifications are configured; it announces no object."""
    return body.get("Event") == "s3:TestEvent"


def is_s3_notification(event: Mapping[str, Any]) -> bool:
    records = event.get("Records")
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, Mapping) and r.get("eventSource") == "aws:s3" for r in records)
    )


def is_eventbridge_object_event(event: Mapping[str, Any]) -> bool:
    return event.get("source") == "aws.s3" and event.get("detail-type") in ("Object Created", "Object Deleted")


def objects_in_s3_notification(event: Mapping[str, Any]) -> Iterator[SourceObject]:
    """Every record of an S3 notification. Keys arrive form-encoded (``+`` = space), so decode each one. A record
    without the fields S3 always sends (https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html)
    raises :class:`UnsupportedEvent` naming what is wrong."""
    for record in event["Records"]:
        s3 = record.get("s3")
        obj = s3.get("object") if isinstance(s3, Mapping) else None
        bucket = s3.get("bucket") if isinstance(s3, Mapping) else None
        if not isinstance(obj, Mapping) or not isinstance(bucket, Mapping):
            raise UnsupportedEvent("malformed S3 record: it has no s3.object and s3.bucket")
        key, name, size = obj.get("key"), bucket.get("name"), obj.get("size")
        if not isinstance(key, str) or not key or not isinstance(name, str) or not name:
            raise UnsupportedEvent(f"malformed S3 record: no s3.object.key or s3.bucket.name (key {key!r:.200})")
        named = SourceObject(
            bucket=name,
            key=unquote_plus(key),
            event_name=str(record.get("eventName", "ObjectCreated:Put")),
            etag=_etag(obj.get("eTag") or obj.get("etag")),
            version_id=obj.get("versionId") or None,
            sequencer=obj.get("sequencer") or None,
        )
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
            raise UnsupportedEvent(f"malformed S3 record: s3.object.size {size!r:.50} is not a byte count", named)
        yield replace(named, size=size)


def object_in_eventbridge_event(event: Mapping[str, Any]) -> SourceObject:
    """EventBridge "Object Created" details carry the key raw (not URL-encoded): use it as it is."""
    detail = event["detail"]
    obj = detail["object"]
    version = obj.get("version-id")
    return SourceObject(
        bucket=detail["bucket"]["name"],
        key=obj["key"],
        event_name=str(event.get("detail-type")),
        etag=_etag(obj.get("etag") or obj.get("eTag")),
        version_id=version if version and version != "null" else None,
        sequencer=obj.get("sequencer") or None,
        size=obj.get("size"),
    )


def announced(event: Mapping[str, Any]) -> list[tuple[SourceObject, dict[str, Any]]]:
    """Each object an S3 notification or an EventBridge S3 event announces, with the event to keep for a replay
    (a notification's own record); none for ``s3:TestEvent``. Raises :class:`UnsupportedEvent` otherwise."""
    if is_s3_test_event(event):
        return []
    if is_s3_notification(event):
        return [(next(objects_in_s3_notification({"Records": [r]})), {"Records": [r]}) for r in event["Records"]]
    if is_eventbridge_object_event(event):
        return [(object_in_eventbridge_event(event), dict(event))]
    raise UnsupportedEvent(
        f"not an S3 notification, an S3 EventBridge event or an s3:TestEvent (top-level keys: {sorted(event)[:8]})"
    )


def objects_in_event(event: Mapping[str, Any]) -> list[SourceObject]:
    """The objects an event announces (see :func:`announced`)."""
    return [obj for obj, _ in announced(event)]


def objects_in_message(body: str) -> list[SourceObject]:
    """The objects an SQS message body announces (its own dead letters included); ``[]`` when it announces none
    that can be read here (processing the record then reports why)."""
    try:
        event = replayed_event(json.loads(body))
        return objects_in_event(event) if isinstance(event, dict) else []
    except Exception:  # noqa: BLE001 - unreadable: the record is processed on its own and reports it
        return []


def _etag(value: Any) -> str | None:
    return str(value).strip('"') if value else None
