"""Output for a terminal: the rich console the CLI (and ``python -m local_stack``) prints its tables, colours and
progress bars with, and a width-aware ``shorten`` for single lines."""

from __future__ import annotations

import io
import os
import sys
import unicodedata
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

__all__ = [
    "GAP",
    "PIPE_WIDTH",
    "RowsWithNotes",
    "console",
    "print_table",
    "shorten",
    "shorten_middle",
    "styled",
    "width",
]


def width(text: str) -> int:
    """Columns ``text`` takes in a terminal (East Asian wide characters count twice, combining marks zero)."""
    total = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        total += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return total


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` columns, ending in "…" when cut."""
    text = " ".join(text.split())
    if width(text) <= limit:
        return text
    out, used = "", 0
    for char in text:
        w = width(char)
        if used + w > limit - 1:
            break
        out += char
        used += w
    return out + "…"


def shorten_middle(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` columns by an "…" in the middle: a key keeps its first folder and its file
    name, which are what tell keys apart."""
    if width(text) <= limit:
        return text
    if limit <= 1:
        return "…"[:limit]
    head = (limit - 1) // 2
    tail = limit - 1 - head
    return text[:head] + "…" + (text[-tail:] if tail else "")


# --- rich: the CLI's tables, colours and progress ---------------------------------------------------------

PIPE_WIDTH = 1000
"""Columns when the output is not a terminal (a pipe, a file): wide enough that no row is wrapped."""

STATUS_STYLES = {
    "CREATED": "green",
    "UPDATED": "green",
    "UNCHANGED": "cyan",
    "ARCHIVED": "blue",
    "RETRYING": "yellow",
    "PROCESSING": "yellow",
    "INVALID": "red",
    "REJECTED": "red",
    "FAILED": "bold red",
    "catalogue": "magenta",
}


def console(stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr): colour and the terminal's width on a terminal, plain text at
    :data:`PIPE_WIDTH` columns elsewhere (``NO_COLOR`` is honoured)."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    terminal = stream.isatty()
    return Console(
        file=stream,
        width=None if terminal else PIPE_WIDTH,
        force_terminal=terminal,
        no_color=not terminal or bool(os.environ.get("NO_COLOR")),
        highlight=False,
        soft_wrap=not terminal,
    )


def styled(status: str) -> Text:
    """A status word in its colour."""
    from rich.text import Text

    return Text(status, style=STATUS_STYLES.get(status, ""))


def print_table(out: Console, table: Any) -> None:
    """``table`` on ``out``: as drawn on a terminal; elsewhere a line a row, without trailing padding."""
    if out.is_terminal:
        out.print(table)
        return
    with out.capture() as captured:
        out.print(table)
    out.file.write("\n".join(line.rstrip() for line in captured.get().splitlines()) + "\n")


GAP = 2
"""Columns between two columns of a table drawn with ``box=None, pad_edge=False`` (rich's padding of 1 each side)."""


class RowsWithNotes:
    """A rich table of one-line rows (every column ``no_wrap``, sized to fit), each row followed by its note
    (a first error) on lines of its own, wrapped to the width and indented: the row's status is never squeezed
    by a long error, and ``status --failed`` reads as a row and a line per error."""

    INDENT = 4

    def __init__(self, table: Any, notes: list[str]) -> None:
        self.table, self.notes = table, notes

    def __rich_console__(self, console: Console, options: Any) -> Any:
        from rich.padding import Padding
        from rich.segment import Segment
        from rich.text import Text

        lines = console.render_lines(self.table, options, pad=False)
        if len(lines) != len(self.notes) + 1:  # a row took more than one line: the table as it is
            yield self.table
            return
        for index, line in enumerate(lines):
            yield from line
            yield Segment.line()
            note = self.notes[index - 1] if index else ""
            if note:
                yield Padding(Text("↳ " + note, overflow="fold", no_wrap=False), (0, 0, 0, self.INDENT))


WIDE = 150  # terminal columns from which a ledger table has every column (narrower: errors under rows)


METRIC_LINE = '{"_aws":'


class WithoutMetricLines(io.TextIOBase):
    """A text stream onto ``target`` that leaves out CloudWatch's embedded-metric lines (``{"_aws": ...}``):
    Powertools prints its ColdStart metric even with metrics disabled, and locally no agent reads them."""

    def __init__(self, target: TextIO) -> None:
        super().__init__()
        self.target, self.partial = target, ""

    def write(self, text: str) -> int:
        *lines, self.partial = (self.partial + text).split("\n")
        for line in lines:
            if not line.startswith(METRIC_LINE):
                self.target.write(line + "\n")
        return len(text)

    def isatty(self) -> bool:
        return self.target.isatty()

    def fileno(self) -> int:
        return self.target.fileno()

    def flush(self) -> None:
        if self.partial and not self.partial.startswith(METRIC_LINE):
            self.target.write(self.partial)
        self.partial = ""
        self.target.flush()
