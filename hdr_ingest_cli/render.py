"""Output for a terminal: plain aligned text tables (no dependencies)."""

from __future__ import annotations

import shutil
import unicodedata
from collections.abc import Sequence

__all__ = ["render", "shorten", "width"]


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
