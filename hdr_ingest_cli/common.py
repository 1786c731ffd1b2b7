"""What every command shares: the usage error and how files and directories are expanded."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from hdr_ingest.core.outcome import Status

__all__ = ["FAILED_STATUSES", "FINAL_STATUSES", "Print", "UsageError", "json_files"]

FAILED_STATUSES = frozenset({Status.INVALID, Status.REJECTED, Status.FAILED, Status.RETRYING})
Print = Callable[[str], None]


class UsageError(Exception):
    """Bad or missing options: printed as ``error: ...`` with exit status 2."""


def json_files(paths: Iterable[Path]) -> Iterator[tuple[Path, str]]:
    """Each path as ``(file, relative name)``; a directory contributes its ``*.json`` files, recursively."""
    for path in paths:
        if path.is_dir():
            for found in sorted(p for p in path.rglob("*.json") if p.is_file()):
                yield found, found.relative_to(path).as_posix()
        else:
            yield path, path.name


FINAL_STATUSES = frozenset(s for s in Status if s is not Status.RETRYING)
"""Statuses after which nothing more happens to a source without a new drop (or a redrive)."""
