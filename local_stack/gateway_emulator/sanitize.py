"""Request pre-processing the Gateway applies before a controller (and TRASER) sees the input.

The emulator's own code (it shares nothing with the function's judge, so that an end-to-end run can catch a
regression there). Sources, as ``shared/notes/hdruk-gateway.md`` §(c) gives them (HDRUK/gateway-api 57e1406):

* Laravel's global ``TrimStrings`` middleware (``app/Http/Kernel.php``): strips leading/trailing white space from
  every string value, recursively (keys are untouched). Laravel 11/12 trims with
  ``~^[\\s\\x{FEFF}\\x{200B}\\x{200E}]+|[\\s\\x{FEFF}\\x{200B}\\x{200E}]+$~u``; PHP compiles ``/u`` with PCRE2's UTF
  and UCP options, so ``\\s`` is PCRE2's Unicode white space (its horizontal and vertical space lists).
* Laravel's global ``ConvertEmptyStringsToNull`` middleware (same kernel): ``""`` (after trimming) becomes ``null``.
* The Gateway's ``sanitize.input`` middleware (``app/Http/Middleware/SanitizeMiddleware.php``, only on the
  integrations POST/PUT/test routes): ``htmlentities(trim($v), ENT_QUOTES, 'UTF-8')`` on every string value (keys
  are untouched). PHP's default HTML 4.01 table turns ``& < > "`` into named entities, ``'`` into ``&#039;`` and
  every character with an HTML 4.01 named entity (most of Latin-1, Greek, arrows, maths, typographic punctuation)
  into that entity; characters without one (CJK, emoji) stay as they are. ``double_encode`` defaults to true, so
  ``&amp;`` becomes ``&amp;amp;``. The upstream fix for the ``"> 10 Years"`` enum (GAT-7839, aff5323b4) was
  reverted (c5a5252e1), so the encoding stays.
* PHP arrays (``php_arrays``): ``MetadataManagementController`` ``json_encode``\\s the array Laravel decoded, so
  ``{}`` reaches TRASER as ``[]`` and an object keyed ``"0".."n-1"`` as a list (applied by the server to the
  document it validates, not to what it stores).
"""

from __future__ import annotations

import html.entities
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Preprocessing",
    "htmlentities",
    "laravel_trim",
    "php_arrays",
    "preprocess",
]

# PCRE2 (pcre2_internal.h HSPACE_LIST and VSPACE_LIST; PT_SPACE in pcre2_match.c adds nothing else of category Z).
_PCRE2_HORIZONTAL = "\t \xa0\u1680\u180e" + "".join(chr(cp) for cp in range(0x2000, 0x200B)) + "\u202f\u205f\u3000"
_PCRE2_VERTICAL = "\n\x0b\x0c\r\x85\u2028\u2029"
_LARAVEL_EXTRA = "\ufeff\u200b\u200e"  # the three code points Laravel's pattern names besides \s
_TRIMMED = _PCRE2_HORIZONTAL + _PCRE2_VERTICAL + _LARAVEL_EXTRA
_PHP_TRIM = " \t\n\r\0\x0b"  # PHP trim()'s default list, applied again inside SanitizeMiddleware

# htmlentities(..., ENT_QUOTES | ENT_HTML401): the HTML 4.01 entity table (Python's html.entities.codepoint2name
# is that table) plus ENT_QUOTES's numeric reference for the apostrophe.
_ENTITIES: dict[int, str] = {cp: f"&{name};" for cp, name in html.entities.codepoint2name.items()}
_ENTITIES[ord("'")] = "&#039;"


@dataclass(frozen=True)
class Preprocessing:
    """Which of the Gateway's pre-processing steps the emulator applies (all on = the real Gateway)."""

    trim_strings: bool = True
    empty_strings_to_null: bool = True
    html_entities: bool = True
    php_arrays: bool = True

    @classmethod
    def from_flag(cls, value: bool | Preprocessing) -> Preprocessing:
        if isinstance(value, Preprocessing):
            return value
        if value:
            return cls()
        return cls(trim_strings=False, empty_strings_to_null=False, html_entities=False, php_arrays=False)


def laravel_trim(value: str) -> str:
    """Trim the way Laravel's TrimStrings middleware does (both ends only)."""
    return value.strip(_TRIMMED)


def htmlentities(value: str) -> str:
    """PHP ``htmlentities(trim($value), ENT_QUOTES, 'UTF-8')`` (HTML 4.01 entity table, double encoding)."""
    return value.strip(_PHP_TRIM).translate(_ENTITIES)


def _string(value: str, options: Preprocessing, encode: bool) -> str | None:
    if options.trim_strings:
        value = laravel_trim(value)
    if options.empty_strings_to_null and value == "":
        return None
    return htmlentities(value) if encode else value


def preprocess(value: Any, options: Preprocessing, *, sanitize_route: bool) -> Any:
    """Apply the global middleware and, when ``sanitize_route`` is true, ``sanitize.input`` to a decoded body.

    Returns a new structure; the input is not modified.
    """
    encode = options.html_entities and sanitize_route
    if isinstance(value, str):
        return _string(value, options, encode)
    if isinstance(value, dict):
        return {key: preprocess(item, options, sanitize_route=sanitize_route) for key, item in value.items()}
    if isinstance(value, list):
        return [preprocess(item, options, sanitize_route=sanitize_route) for item in value]
    return value


def php_arrays(value: Any) -> Any:
    """The PHP ``json_decode``/``json_encode`` round trip: ``{}`` becomes ``[]``, an object keyed ``"0".."n-1"``
    a list (a new structure)."""
    if isinstance(value, dict):
        items = {key: php_arrays(item) for key, item in value.items()}
        if list(items) == [str(index) for index in range(len(items))]:
            return list(items.values())
        return items
    if isinstance(value, list):
        return [php_arrays(item) for item in value]
    return value
