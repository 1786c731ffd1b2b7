"""The S3 object a dataset document comes from, and how to find it in the events that announce it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote_plus

DATASETID_PREFIX = "hgi-"


@dataclass(frozen=True)
class SourceObject:
    """One object announced by an event. ``key`` is always decoded (never URL-encoded)."""

    bucket: str
    key: str
    event_name: str = "ObjectCreated:Put"
    etag: str | None = None
    version_id: str | None = None
    sequencer: str | None = None
    size: int | None = None
    element_id: str | None = None  # set for one dataset of a catalogue file (a JSON array of documents)

    @property
    def source(self) -> str:
        """The ledger's partition key: ``s3://<bucket>/<key>``, plus ``#<id>`` for a catalogue element."""
        base = f"s3://{self.bucket}/{self.key}"
        return f"{base}#{self.element_id}" if self.element_id is not None else base

    def element(self, element_id: str) -> SourceObject:
        """One dataset of this catalogue file."""
        return replace(self, element_id=element_id)

    def newer_than(self, sequencer: str | None) -> bool | None:
        """Whether this event is newer than one with ``sequencer`` for the same key (None: cannot tell).

        S3 sequencers are hex strings, comparable for the same key once left-padded to equal length."""
        if not self.sequencer or not sequencer:
            return None
        width = max(len(self.sequencer), len(sequencer))
        return self.sequencer.upper().rjust(width, "0") > sequencer.upper().rjust(width, "0")

    @property
    def datasetid(self) -> str:
        """The stable custodian id stored on the Gateway dataset (``datasetid``) for this source.

        A hash, so it is short, the same for every export of the key, and free of the characters the
        Gateway HTML-encodes on input (``& < > " '`` and non-ASCII)."""
        return DATASETID_PREFIX + hashlib.sha256(self.source.encode("utf-8")).hexdigest()[:40]

    @property
    def is_folder_marker(self) -> bool:
        return self.key.endswith("/")

    @property
    def is_removal(self) -> bool:
        return "ObjectRemoved" in self.event_name or "Object Deleted" in self.event_name

    def describe(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "etag": self.etag,
            "version_id": self.version_id,
            "sequencer": self.sequencer,
            "size": self.size,
            "event_name": self.event_name,
            "element_id": self.element_id,
        }


class UnsupportedEvent(ValueError):
    """The event is none of the shapes this function handles."""


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
    """Every record of an S3 notification. Keys arrive form-encoded (``+`` = space), so decode each one."""
    for record in event["Records"]:
        s3 = record["s3"]
        obj = s3["object"]
        yield SourceObject(
            bucket=s3["bucket"]["name"],
            key=unquote_plus(obj["key"]),
            event_name=str(record.get("eventName", "ObjectCreated:Put")),
            etag=_etag(obj.get("eTag") or obj.get("etag")),
            version_id=obj.get("versionId") or None,
            sequencer=obj.get("sequencer") or None,
            size=obj.get("size"),
        )


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


def objects_in_event(event: Mapping[str, Any]) -> list[SourceObject]:
    """The objects announced by an S3 notification or an EventBridge S3 event; none for ``s3:TestEvent``."""
    if is_s3_test_event(event):
        return []
    if is_s3_notification(event):
        return list(objects_in_s3_notification(event))
    if is_eventbridge_object_event(event):
        return [object_in_eventbridge_event(event)]
    raise UnsupportedEvent(
        f"not an S3 notification, an S3 EventBridge event or an s3:TestEvent (top-level keys: {sorted(event)[:8]})"
    )


def _etag(value: Any) -> str | None:
    return str(value).strip('"') if value else None
