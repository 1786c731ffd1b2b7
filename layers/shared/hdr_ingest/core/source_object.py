"""The S3 object a dataset document comes from (the events that announce it are read in ``entry.events``)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any

from hdr_ingest.core.bounds import key_part

RECORD_KEY_PREFIX = "hgi-"


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
        """The ledger's partition key: ``s3://<bucket>/<key>``, plus ``#<id>`` for a catalogue element (an id too
        long for a partition key as ``#sha256:<hex>``; the ledger item keeps the id itself as ``element_id``)."""
        base = f"s3://{self.bucket}/{self.key}"
        return f"{base}#{key_part(self.element_id)}" if self.element_id is not None else base

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
    def record_key(self) -> str:
        """Our stable key for this source on its destination (for HDR UK the dataset's ``datasetid``).

        A hash, so it is short, the same for every export of the key, and free of the characters
        catalogues encode or refuse (the Gateway HTML-encodes ``& < > " '`` and non-ASCII)."""
        return RECORD_KEY_PREFIX + hashlib.sha256(self.source.encode("utf-8")).hexdigest()[:40]

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
