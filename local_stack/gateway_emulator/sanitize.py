"""Request pre-processing the Gateway applies before a controller (and TRASER) sees the input.

The rules live in :mod:`hdr_ingest.destinations.hdruk.judge` (shared with the function's Gateway-faithful
validation); this module applies them to the emulator's decoded JSON bodies:

* Laravel's global ``TrimStrings`` middleware: strips leading/trailing white space from every string value,
  recursively (keys are untouched): PCRE2's Unicode ``\\s`` (ASCII white space, U+0085, U+00A0, U+1680, U+180E,
  U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000) plus U+FEFF, U+200B and U+200E.
* Laravel's global ``ConvertEmptyStringsToNull`` middleware: ``""`` (after trimming) becomes ``null``.
* The Gateway's ``sanitize.input`` middleware (``SanitizeMiddleware``, only on the integrations POST/PUT/test
  routes): ``htmlentities(trim($v), ENT_QUOTES, 'UTF-8')`` on every string value (keys are untouched).  With
  ``ENT_QUOTES`` and the default HTML 4.01 table this turns ``& < > "`` into named entities, ``'`` into
  ``&#039;`` and every character that has an HTML 4.01 named entity (most of Latin-1, Greek, arrows, maths,
  typographic punctuation such as ``–`` or ``’``) into that entity.  Characters without a named entity (for
  example CJK or emoji) are left as they are, exactly like PHP.  Already-encoded text is encoded again
  (``&amp;`` becomes ``&amp;amp;``), because PHP's ``double_encode`` defaults to true.
* PHP arrays (``php_arrays``): the metadata handed to TRASER has been through ``json_decode``/``json_encode``,
  so ``{}`` arrives as ``[]`` (applied by the server to the document it validates, not to what it stores).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .rules import judge

__all__ = [
    "Preprocessing",
    "htmlentities",
    "laravel_trim",
    "php_arrays",
    "preprocess",
]


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
    """Trim the way Laravel's TrimStrings middleware does."""
    result: str = judge.laravel_trim(value)
    return result


def htmlentities(value: str) -> str:
    """PHP ``htmlentities(trim($value), ENT_QUOTES, 'UTF-8')`` (HTML 4.01 entity table, double encoding)."""
    result: str = judge.php_htmlentities(value)
    return result


def preprocess(value: Any, options: Preprocessing, *, sanitize_route: bool) -> Any:
    """Apply the global middleware and, when ``sanitize_route`` is true, ``sanitize.input`` to a decoded body.

    Returns a new structure; the input is not modified.
    """
    return judge.gateway_preprocess(
        value,
        trim_strings=options.trim_strings,
        empty_strings_to_null=options.empty_strings_to_null,
        html_entities=options.html_entities and sanitize_route,
    )


def php_arrays(value: Any) -> Any:
    """The PHP ``json_decode``/``json_encode`` round trip: ``{}`` becomes ``[]`` (a new structure)."""
    return judge.gateway_preprocess(
        value, trim_strings=False, empty_strings_to_null=False, html_entities=False, php_arrays=True
    )
