"""Output for a terminal: plain aligned text tables (also used by ``python -m local_stack``), and the rich
console the CLI prints its tables, colours and progress bars with."""

from __future__ import annotations

import os
import shutil
import sys
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

__all__ = ["PIPE_WIDTH", "console", "print_table", "render", "shorten", "styled", "width"]


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


def render(headers: Sequence[str], rows: Sequence[Sequence[str]], max_width: int | None = None) -> str:
    """Left-aligned columns separated by two spaces; the last column is cut to fit ``max_width``
    (the terminal's width by default)."""
    if max_width is None:
        max_width = shutil.get_terminal_size((160, 24)).columns
    columns = len(headers)
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(width(row[i]) for row in cells) for i in range(columns)]
    fixed = sum(widths[:-1]) + 2 * (columns - 1)
    last = max(20, max_width - fixed)
    widths[-1] = min(widths[-1], last)
    lines = []
    for index, row in enumerate(cells):
        parts = []
        for i, cell in enumerate(row):
            text = shorten(cell, widths[i]) if i == columns - 1 else cell
            parts.append(text + " " * (widths[i] - width(text)) if i < columns - 1 else text)
        lines.append("  ".join(parts).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


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
