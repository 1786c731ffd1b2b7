"""Read-back after publishing: what a catalogue holds, compared with what we sent.

A destination that can read a record back implements :class:`ReadsBack`: ``expected`` says what the catalogue
should hold for the document we sent (after that catalogue's own clean-up), ``read_back`` what it holds now.
Both return plain JSON-like values in the same shape, so one comparison serves every catalogue."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

import orjson

from hdr_ingest.core.answers import RecordId
from hdr_ingest.core.document import json_path


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


# -- comparing what was sent with what is held -------------------------------------------------------------------
MAX_DIFFERENCES = 20  # paths kept per record: enough to see what changed, small enough for a ledger item
MAX_VALUE_CHARS = 80  # each value as shown: its compact JSON, shortened in the middle
ABSENT = "(absent)"  # how a side without the path is shown


class Verified(StrEnum):
    """The ledger's ``verified``: what a read-back found."""

    MATCHES = "matches"  # the catalogue holds what we sent (after its own clean-up)
    DIFFERS = "differs"  # it holds something else: ``differences`` names the paths
    MISSING = "missing"  # the record is gone, archived or not live

    @property
    def is_drift(self) -> bool:
        return self is not Verified.MATCHES


@dataclass(frozen=True)
class Difference:
    """One JSON path (``$.a[0].b``) where the catalogue holds something else: both values shortened."""

    path: str
    sent: str
    held: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "sent": self.sent, "held": self.held}


@dataclass(frozen=True)
class Verification:
    """One read-back's finding (a read that failed for a moment has none: ``verified`` stays unset)."""

    result: Verified
    differences: tuple[Difference, ...] = ()
    message: str = ""


def verification_of(read: ReadBack, expected: Any) -> Verification | None:
    """What a read-back means: MISSING → missing, HELD → matches or differs, UNKNOWN → None."""
    if read.state is Held.MISSING:
        return Verification(Verified.MISSING, message=read.message)
    if read.state is not Held.HELD:
        return None
    differences = compare(expected, read.content)
    return Verification(Verified.DIFFERS if differences else Verified.MATCHES, differences, read.message)


def compare(expected: Any, held: Any) -> tuple[Difference, ...]:
    """The first :data:`MAX_DIFFERENCES` paths where ``held`` is not ``expected`` (plain JSON values), in document
    order: keys of ``expected`` first, then keys only ``held`` has. JSON types count (``true`` is not ``1``),
    numbers compare by value (``1`` is ``1.0``)."""
    if _identical(expected, held):
        return ()
    found: list[Difference] = []
    _walk(expected, held, [], found)
    return tuple(found)


def _identical(expected: Any, held: Any) -> bool:
    """Equal canonical JSON (sorted keys, so key order does not count; types do): a match without a Python walk
    (a megabyte in milliseconds). Unequal bytes prove nothing (``1`` and ``1.0`` are the same number): walk."""
    try:
        option = orjson.OPT_SORT_KEYS
        return orjson.dumps(expected, option=option) == orjson.dumps(held, option=option)
    except TypeError:  # orjson.JSONEncodeError: an integer past 64 bits, a non-string key: the walk decides
        return False


_MISSING = object()


def _walk(sent: Any, held: Any, path: list[Any], found: list[Difference]) -> None:
    if len(found) >= MAX_DIFFERENCES:
        return
    if isinstance(sent, dict) and isinstance(held, dict):
        for key in [*sent, *(k for k in held if k not in sent)]:
            _walk(sent.get(key, _MISSING), held.get(key, _MISSING), [*path, key], found)
    elif isinstance(sent, list) and isinstance(held, list):
        for index in range(max(len(sent), len(held))):
            left = sent[index] if index < len(sent) else _MISSING
            right = held[index] if index < len(held) else _MISSING
            _walk(left, right, [*path, index], found)
    elif not _same(sent, held):
        found.append(Difference(json_path(path), shown(sent), shown(held)))


def _same(a: Any, b: Any) -> bool:
    if a is _MISSING or b is _MISSING:
        return a is b
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return a == b
    return type(a) is type(b) and a == b


def shown(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """A value as its compact JSON, at most ``limit`` characters (the middle cut out and marked ``…``)."""
    if value is _MISSING:
        return ABSENT
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return f"{text[:head]}…{text[len(text) - (limit - 1 - head) :]}"
