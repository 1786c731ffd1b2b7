"""What to tell a person about one failed rule of a schema: the value found and how to fix it.

One function per JSON Schema keyword, used by the schema pack (for jsonschema's errors) and by the Gateway
emulation (for errors shaped like Ajv's), so a document gets the same words whichever validator found the problem.
Each message follows the JSON path it belongs to, e.g. ``$.summary.title`` + ``is required but missing; add it.``
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

MAX_VALUE_CHARS = 60

MISSING = "is required but missing; add it."
UNKNOWN_FIELD = "is not a field of this schema; remove it or fix its spelling."

_FORMAT_HINTS = {
    "date": "a date as YYYY-MM-DD",
    "date-time": "a date-time as YYYY-MM-DDThh:mm:ssZ (RFC 3339)",
    "email": "an e-mail address",
    "uri": "an absolute URI such as https://example.org/page",
}
# The Gateway's validator (ajv-formats 2) does not insist on RFC 3339's time zone, so its hint does not cite it.
_GATEWAY_FORMAT_HINTS = {**_FORMAT_HINTS, "date-time": "a date-time as YYYY-MM-DDThh:mm:ssZ"}


def show(value: Any) -> str:
    """``value`` as JSON, cut to ``MAX_VALUE_CHARS``; a large object or array is only encoded that far."""
    parts: list[str] = []
    size = 0
    for chunk in json.JSONEncoder(ensure_ascii=False, default=str).iterencode(value):
        parts.append(chunk)
        size += len(chunk)
        if size > MAX_VALUE_CHARS:
            break
    text = "".join(parts)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def one_of(value: Any, choices: Sequence[Any]) -> str:
    """``enum``: every choice, so the person can pick the right one from the message alone."""
    shown = ", ".join(show(choice) for choice in choices)
    return f"is {show(value)}; it must be one of: {shown}."


def equal_to(value: Any, expected: Any) -> str:
    """``const``."""
    return f"is {show(value)}; it must be {show(expected)}."


def of_type(value: Any, types: Sequence[str]) -> str:
    """``type``."""
    return f"is {show(value)}; it must be of type {' or '.join(types)}."


def in_format(value: Any, name: str, *, gateway: bool = False) -> str:
    """``format``; ``gateway`` words it as the Gateway's validator checks it."""
    hint = (_GATEWAY_FORMAT_HINTS if gateway else _FORMAT_HINTS).get(name, f"in {name} format")
    return f"is {show(value)}; it must be {hint}."


def matching(value: Any, pattern: str) -> str:
    """``pattern``."""
    return f"is {show(value)}; it must match the pattern {pattern}."


def of_length(value: Any, keyword: str, limit: Any) -> str:
    """``minLength`` / ``maxLength``."""
    bound = "at least" if keyword == "minLength" else "at most"
    return f"is {show(value)}; it must be {bound} {limit} characters."


def with_items(value: Sequence[Any], keyword: str, limit: Any) -> str:
    """``minItems`` / ``maxItems``."""
    bound = "at least" if keyword == "minItems" else "at most"
    return f"has {len(value)} items; it must have {bound} {limit}."
