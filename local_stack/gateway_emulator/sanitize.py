"""Request pre-processing the Gateway applies before a controller (and TRASER) sees the input.

Mirrors, for JSON bodies:

* Laravel's global ``TrimStrings`` middleware: strips leading/trailing ASCII whitespace plus U+FEFF, U+200B
  and U+200E from every string, recursively.
* Laravel's global ``ConvertEmptyStringsToNull`` middleware: ``""`` (after trimming) becomes ``null``.
* The Gateway's ``sanitize.input`` middleware (``SanitizeMiddleware``, only on the integrations POST/PUT/test
  routes): ``htmlentities(trim($v), ENT_QUOTES, 'UTF-8')`` on every string value (keys are untouched).  With
  ``ENT_QUOTES`` and the default HTML 4.01 table this turns ``& < > "`` into named entities, ``'`` into
  ``&#039;`` and every character that has an HTML 4.01 named entity (most of Latin-1, Greek, arrows, maths,
  typographic punctuation such as ``–`` or ``’``) into that entity.  Characters without a named entity (for
  example CJK or emoji) are left as they are, exactly like PHP.  Already-encoded text is encoded again
  (``&amp;`` becomes ``&amp;amp;``), because PHP's ``double_encode`` defaults to true.
"""

from __future__ import annotations

import html.entities
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Preprocessing",
    "htmlentities",
    "laravel_trim",
    "preprocess",
]

# Laravel 11/12 TrimStrings: '~^[\s\x{FEFF}\x{200B}\x{200E}]+|[\s\x{FEFF}\x{200B}\x{200E}]+$~u'.
# PCRE's \s without UCP matches ASCII whitespace only (space, \t, \n, \v, \f, \r).
_TRIM_CHARS = " \t\n\x0b\x0c\r\ufeff\u200b\u200e"
# PHP trim() default character list, used by SanitizeMiddleware after TrimStrings already ran.
_PHP_TRIM_CHARS = " \t\n\r\0\x0b"

_ENTITY_TABLE: dict[int, str] = {cp: f"&{name};" for cp, name in html.entities.codepoint2name.items() if cp > 127}
_ENTITY_TABLE.update({ord("&"): "&amp;", ord('"'): "&quot;", ord("'"): "&#039;", ord("<"): "&lt;", ord(">"): "&gt;"})
_NEEDS_ENCODING = re.compile("[&\"'<>\u00a0-\U0010ffff]")


@dataclass(frozen=True)
class Preprocessing:
    """Which of the Gateway's pre-processing steps the emulator applies (all on = the real Gateway)."""

    trim_strings: bool = True
    empty_strings_to_null: bool = True
    html_entities: bool = True

    @classmethod
    def from_flag(cls, value: bool | Preprocessing) -> Preprocessing:
        if isinstance(value, Preprocessing):
            return value
        return cls() if value else cls(trim_strings=False, empty_strings_to_null=False, html_entities=False)


def laravel_trim(value: str) -> str:
    """Trim the way Laravel's TrimStrings middleware does."""
    return value.strip(_TRIM_CHARS)


def htmlentities(value: str) -> str:
    """PHP ``htmlentities(trim($value), ENT_QUOTES, 'UTF-8')`` (HTML 4.01 entity table, double encoding)."""
    value = value.strip(_PHP_TRIM_CHARS)
    if not _NEEDS_ENCODING.search(value):
        return value
    return value.translate(_ENTITY_TABLE)


def _global(value: Any, options: Preprocessing) -> Any:
    if isinstance(value, str):
        if options.trim_strings:
            value = laravel_trim(value)
        if options.empty_strings_to_null and value == "":
            return None
        return value
    if isinstance(value, dict):
        return {key: _global(item, options) for key, item in value.items()}
    if isinstance(value, list):
        return [_global(item, options) for item in value]
    return value


def _entities(value: Any) -> Any:
    if isinstance(value, str):
        return htmlentities(value)
    if isinstance(value, dict):
        return {key: _entities(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_entities(item) for item in value]
    return value


def preprocess(value: Any, options: Preprocessing, *, sanitize_route: bool) -> Any:
    """Apply the global middleware and, when ``sanitize_route`` is true, ``sanitize.input`` to a decoded body.

    Returns a new structure; the input is not modified.
    """
    result = _global(value, options)
    if sanitize_route and options.html_entities:
        result = _entities(result)
    return result
