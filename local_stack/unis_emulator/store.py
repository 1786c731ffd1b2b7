"""The emulator's records: every version of every metadata object, kept per ``(id, ts)`` as UNIS's MongoDB
collection keeps them (default "history" mode), with UNIS's soft delete (``\\$status: DELETED`` on every version)."""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass
from typing import Any


class Conflict(Exception):
    """A version with the same ``(id, ts)`` exists (UNIS's unique index): the whole request fails."""


@dataclass
class Version:
    id: str
    ts: Any  # an integer (microseconds) unless a client sent something else with ?validate=false
    document: dict[str, Any]
    deleted: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "ts": self.ts, "deleted": self.deleted, "document": copy.deepcopy(self.document)}


class MetadataStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._versions: list[Version] = []
        self._last_ts = 0

    def now_ts(self) -> int:
        """Microseconds since the epoch, strictly increasing (UNIS's ``ts``)."""
        with self._lock:
            self._last_ts = max(int(time.time() * 1_000_000), self._last_ts + 1)
            return self._last_ts

    def insert(self, documents: list[dict[str, Any]]) -> None:
        """All or nothing: a repeated ``(id, ts)``, stored or within ``documents``, refuses the whole batch."""
        with self._lock:
            taken = {(v.id, v.ts) for v in self._versions}
            for document in documents:
                pair = (str(document["id"]), _hashable(document["ts"]))
                if pair in taken:
                    raise Conflict(f"E11000 duplicate key error collection: unis.metadata index: id_ts dup key: {pair}")
                taken.add(pair)
            self._versions.extend(Version(str(d["id"]), _hashable(d["ts"]), copy.deepcopy(d)) for d in documents)

    def newest(self, record_id: str) -> Version | None:
        with self._lock:
            live = [v for v in self._versions if v.id == record_id and not v.deleted]
            return copy.deepcopy(max(live, key=_order)) if live else None

    def replace(self, record_id: str, document: dict[str, Any]) -> bool:
        """PUT: the newest version takes ``document`` (and its ts); False when the id has no version at all.

        A soft-deleted id is updated too and stays deleted, so GET still answers ``200 []``: UNIS's update is
        ``find_one_and_update({id: ...})`` with no filter on ``$status`` (periscope-ps/unis 7c9a9d2,
        ``periscope/db.py``; ``shared/notes/destinations.md`` §5)."""
        with self._lock:
            versions = [v for v in self._versions if v.id == record_id]
            if not versions:
                return False
            live = [v for v in versions if not v.deleted]
            target = max(live or versions, key=_order)
            ts = _hashable(document["ts"])
            if any(v.id == record_id and v.ts == ts and v is not target for v in self._versions):
                pair = (record_id, ts)
                raise Conflict(f"E11000 duplicate key error collection: unis.metadata index: id_ts dup key: {pair}")
            target.ts, target.document = ts, copy.deepcopy(document)
            return True

    def delete(self, record_id: str) -> int:
        with self._lock:
            hit = [v for v in self._versions if v.id == record_id and not v.deleted]
            for version in hit:
                version.deleted = True
            return len(hit)

    def live(self) -> list[Version]:
        with self._lock:
            return [copy.deepcopy(v) for v in sorted(self._versions, key=_order, reverse=True) if not v.deleted]

    def all(self) -> list[Version]:
        with self._lock:
            return [copy.deepcopy(v) for v in self._versions]

    def clear(self) -> None:
        with self._lock:
            self._versions.clear()


def _hashable(value: Any) -> Any:
    return value if isinstance(value, (int, str, float, bool)) or value is None else repr(value)


def _order(version: Version) -> tuple[int, Any]:
    return (1, version.ts) if isinstance(version.ts, int) else (0, 0)
