"""Read-back after publishing: what a catalogue holds, compared with what we sent.

A destination that can read a record back implements :class:`ReadsBack`: ``expected`` says what the catalogue
should hold for the document we sent (after that catalogue's own clean-up), ``read_back`` what it holds now.
Both return plain JSON-like values in the same shape, so one comparison serves every catalogue."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from hdr_ingest.core.answers import RecordId


class Held(StrEnum):
    HELD = "HELD"  # the record is there; ``content`` is what the catalogue keeps
    MISSING = "MISSING"  # the record is gone, archived, invisible or not live
    UNKNOWN = "UNKNOWN"  # the read failed for a moment: ``verified`` stays unset, the publish never fails on it


@dataclass(frozen=True)
class ReadBack:
    state: Held
    content: Any = None
    message: str = ""


@runtime_checkable
class ReadsBack(Protocol):
    """Implemented by each destination package (``destination.py`` delegating to its ``client``)."""

    def expected(self, document: Any, sent_along: Any) -> Any:
        """What the catalogue should hold for ``document`` (``sent_along`` is the verdict's note, e.g. the
        schema), in the shape ``read_back`` returns."""
        ...

    def read_back(self, record_id: RecordId, record_key: str, call: Any) -> ReadBack:
        """What the catalogue holds now for our record (``call`` is the :class:`~hdr_ingest.core.ports.Call`)."""
        ...
