"""Output for a terminal: the rich console the CLI (and ``python -m local_stack``) prints its tables, colours and
progress bars with, and a width-aware ``shorten`` for single lines."""

from __future__ import annotations

import os
import sys
import unicodedata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

__all__ = ["PIPE_WIDTH", "console", "print_table", "shorten", "styled", "width"]


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
