"""Gateway request pre-processing (Laravel, PHP), shared with the Gateway emulator."""

from __future__ import annotations

import html.entities
import re
from typing import Any

from .records import Change, Path_, Quirk

# Laravel 11/12 TrimStrings trims with '~^[\s\x{FEFF}\x{200B}\x{200E}]+|[\s\x{FEFF}\x{200B}\x{200E}]+$~u'.
# PHP compiles a /u pattern with PCRE2_UTF and PCRE2_UCP, so \s is PCRE2's Unicode white space: its horizontal
# (HSPACE_LIST: U+0009, U+0020, U+00A0, U+1680, U+180E, U+2000-U+200A, U+202F, U+205F, U+3000) and vertical
# (VSPACE_LIST: U+000A-U+000D, U+0085, U+2028, U+2029) spaces, plus any other character of category Z (none
# beyond those), as pcre2_internal.h and the PT_SPACE case of pcre2_match.c define it.
PCRE2_UNICODE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u180e" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
)
LARAVEL_TRIM_EXTRA = "\ufeff\u200b\u200e"  # zero width no-break space, zero width space, left-to-right mark
TRIM_CHARS = PCRE2_UNICODE_SPACE + LARAVEL_TRIM_EXTRA
"""Every character Laravel's TrimStrings removes from either end of a string (nothing inside is touched)."""
_PHP_TRIM_CHARS = " \t\n\r\0\x0b"  # PHP trim() default, applied again by SanitizeMiddleware
_ENTITY_TABLE: dict[int, str] = {cp: f"&{name};" for cp, name in html.entities.codepoint2name.items() if cp > 127}
_ENTITY_TABLE.update({ord("&"): "&amp;", ord('"'): "&quot;", ord("'"): "&#039;", ord("<"): "&lt;", ord(">"): "&gt;"})
_HTML_SPECIAL = re.compile("[&\"'<>]")  # and every character from U+00A0 on (see _needs_encoding)


def _needs_encoding(value: str) -> bool:
    """Whether ``htmlentities`` may change ``value``: one of ``& " ' < >``, or a character from U+00A0 on (a
    character class up to U+10FFFF costs Python's ``re`` milliseconds to compile, at every start)."""
    return _HTML_SPECIAL.search(value) is not None or (not value.isascii() and max(value) >= "\u00a0")


def laravel_trim(value: str) -> str:
    """Trim the way Laravel's TrimStrings middleware does."""
    return value.strip(TRIM_CHARS)


def php_htmlentities(value: str) -> str:
    """PHP ``htmlentities(trim($value), ENT_QUOTES, 'UTF-8')``: HTML 4.01 named entities, ``'`` as ``&#039;``,
    double encoding (``&amp;`` becomes ``&amp;amp;``); characters without a named entity are left alone."""
    value = value.strip(_PHP_TRIM_CHARS)
    if not _needs_encoding(value):
        return value
    return value.translate(_ENTITY_TABLE)


def gateway_preprocess(
    value: Any,
    *,
    trim_strings: bool = True,
    empty_strings_to_null: bool = True,
    html_entities: bool = True,
    php_arrays: bool = False,
    changes: list[Change] | None = None,
    path: Path_ = (),
) -> Any:
    """What the Gateway hands on to its validator: a new structure (``value`` is not modified).

    Trim and ``"" -> null`` apply on every route; ``html_entities`` only on the integrations routes (POST/PUT
    ``/api/v1/integrations/datasets``, POST/PUT ``/api/v2/...``). ``php_arrays`` re-encodes the PHP way: ``{}``
    becomes ``[]`` and an object with keys ``"0".."n-1"`` becomes a list. Each change is appended to
    ``changes`` when given.
    """
    if isinstance(value, str):
        out: Any = value
        if trim_strings:
            trimmed = laravel_trim(out)
            if trimmed != out and changes is not None:
                changes.append(Change(path, Quirk.TRIM, out, trimmed))
            out = trimmed
        if empty_strings_to_null and out == "":
            if changes is not None:
                changes.append(Change(path, Quirk.EMPTY_TO_NULL, out, None))
            return None
        if html_entities:
            encoded = php_htmlentities(out)
            if encoded != out and changes is not None:
                changes.append(Change(path, Quirk.HTML_ENTITIES, out, encoded))
            out = encoded
        return out
    kwargs: dict[str, Any] = {
        "trim_strings": trim_strings,
        "empty_strings_to_null": empty_strings_to_null,
        "html_entities": html_entities,
        "php_arrays": php_arrays,
        "changes": changes,
    }
    if isinstance(value, dict):
        mapped = {key: gateway_preprocess(item, path=(*path, key), **kwargs) for key, item in value.items()}
        if php_arrays and list(mapped) == [str(i) for i in range(len(mapped))]:
            as_list = list(mapped.values())
            if changes is not None:
                changes.append(Change(path, Quirk.PHP_ARRAYS, value, as_list))
            return as_list
        return mapped
    if isinstance(value, list):
        return [gateway_preprocess(item, path=(*path, index), **kwargs) for index, item in enumerate(value)]
    return value
