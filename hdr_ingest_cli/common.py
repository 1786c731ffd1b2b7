"""What every command shares: the usage error and how files and directories are expanded."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from hdr_ingest.core.outcome import Status

__all__ = [
    "DONE_STATUSES",
    "EXIT_FAILED",
    "EXIT_PENDING",
    "FAILED_STATUSES",
    "FAILURES",
    "FINAL_STATUSES",
    "Print",
    "UsageError",
    "json_files",
]

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


DONE_STATUSES = frozenset({Status.CREATED, Status.UPDATED, Status.UNCHANGED, Status.ARCHIVED})
"""Statuses that end a source well: `drop --wait` and `invoke` exit 0 only when every record ends in one."""
FAILURES = frozenset({Status.INVALID, Status.REJECTED, Status.FAILED})
"""Statuses that end a source badly: exit 1."""
FINAL_STATUSES = DONE_STATUSES | FAILURES
"""Statuses after which nothing more happens to a source without a new drop (or a redrive); PENDING and
RETRYING are followed until one of these."""
EXIT_FAILED = 1  # some record (a catalogue element included) ended INVALID, REJECTED or FAILED
EXIT_PENDING = 3  # some record was still PENDING or RETRYING when the wait ran out
