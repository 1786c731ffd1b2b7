"""Predict the HDR UK Gateway's verdict on a metadata document, and say why it differs from a strict validator.

The Gateway never validates the document it was sent (``shared/notes/hdruk-gateway.md`` (c), (h)):

1. **Request pre-processing** (Laravel, PHP). ``TrimStrings`` trims every string, ``ConvertEmptyStringsToNull``
   turns ``""`` into null, and on the integrations routes ``sanitize.input`` runs
   ``htmlentities(trim($v), ENT_QUOTES)`` on every string, so ``"> 10 Years"`` reaches the validator as
   ``"&gt; 10 Years"`` and leaves the enum (GAT-7839). The body is decoded into PHP arrays and encoded again for
   TRASER, so an empty object ``{}`` becomes ``[]`` *(inferred from PHP semantics, not measured)*.
2. **TRASER** judges what is left with Ajv 8 (``coerceTypes``, ``useDefaults``, ``allErrors: false``,
   ajv-formats 2 "full"): the first schema in ``available.json`` order that matches, or the requested
   ``input_schema``/``input_version``. Ajv inserts schema defaults and coerces types while it validates, so CRUK
   1.0.0 rejects a document without ``summary.leadResearcher`` (default null, coerced to ``""``, fails
   ``minLength: 2``), ``""`` passes where null is allowed and ``"5"`` passes as 5. HDRUK 3.0.0's revision-URL
   pattern backtracks exponentially in Node's regex engine on ``https://<uuid>``: TRASER is blocked for minutes
   and the Gateway gives up with a 500.

:class:`GatewayJudge` reproduces both steps. Its Ajv emulation follows Ajv's generated code (keyword order, the
first-error short cut, where defaults apply, coercion order, ``$ref`` inlining) closely enough to agree with
TRASER's measured verdicts on every (example, schema) pair in ``shared/hdruk/traser-verdicts.json``
(``tests/integration/test_gateway_fidelity.py``). Regular expressions run on RE2, so nothing here can hang;
the known catastrophic pattern is recognised and its cost estimated instead.

Use :meth:`GatewayJudge.judge` in place of ``SchemaPack.validate``: ``mode="gateway"`` (the default) gives the
Gateway's verdict with every error; ``mode="strict"`` validates the document as-is and only warns about the
Gateway. :func:`explain` turns a :class:`Judgement` into lines for a person.
"""

from __future__ import annotations

import copy
import html.entities
import json
import math
import re
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Any

import re2

from hdr_ingest.core import fix_messages as fix
from hdr_ingest.core.outcome import ErrorDetail
from hdr_ingest.destinations.hdruk.schema_pack import _DATE as _SP_DATE
from hdr_ingest.destinations.hdruk.schema_pack import (
    _SCHEMA_LIST,
    _SCHEMA_MAP,
    _SCHEMA_VALUE,
    SchemaPack,
    SchemaRef,
    ValidationReport,
    _format_patterns,
    _Inexact,
    _rust_engine,
    _rust_pattern,
    json_path,
)

__all__ = [
    "GATEWAY_TIMEOUT_S",
    "NO_TRANSLATION_PATH",
    "QUIRKS",
    "Change",
    "GatewayJudge",
    "Judgement",
    "Quirk",
    "QuirkNote",
    "Route",
    "SchemaRef",
    "TraserEmulation",
    "TraserVerdict",
    "ValidationMode",
    "explain",
    "gateway_preprocess",
    "judge_for",
    "laravel_trim",
    "php_htmlentities",
]

GATEWAY_TIMEOUT_S = 30.0
"""The Gateway waits this long for TRASER (Laravel HTTP client default; Octane ``max_execution_time``)."""

NO_TRANSLATION_PATH = frozenset(
    {SchemaRef("CRUK", "1.0.0"), SchemaRef("GWDM", "2.1"), SchemaRef("SchemaOrg", "GoogleRecommended")}
)
"""Schemas with no translation path to GWDM 2.0 in traser-mapping-files (notes (c)): the Gateway cannot ingest them."""


class ValidationMode(StrEnum):
    """``gateway``: the verdict the Gateway will reach (default). ``strict``: the document as sent."""

    GATEWAY = "gateway"
    STRICT = "strict"


class Route(StrEnum):
    """Which Gateway route receives the document: the pre-processing differs."""

    INTEGRATIONS = "integrations"  # /api/v1/integrations/datasets (and /api/v2): trim, "" -> null, htmlentities
    DATASETS_V1 = "datasets-v1"  # /api/v1/datasets: trim and "" -> null only (sanitize.input is commented out)


class Quirk(StrEnum):
    """A Gateway behaviour that can make its verdict differ from a strict validator's."""

    TRIM = "trim"
    EMPTY_TO_NULL = "empty-to-null"
    HTML_ENTITIES = "html-entities"
    PHP_ARRAYS = "php-arrays"
    AJV_DEFAULTS = "ajv-defaults"
    AJV_COERCION = "ajv-coercion"
    AJV_VALIDATOR = "ajv-validator"
    REGEX_HANG = "regex-hang"
    DETECTION_HANG = "detection-hang"
    NO_TRANSLATION = "no-translation-path"


QUIRKS: Mapping[Quirk, str] = {
    Quirk.TRIM: "The Gateway trims leading and trailing whitespace from every string before validating it "
    "(Laravel TrimStrings).",
    Quirk.EMPTY_TO_NULL: 'The Gateway turns every empty string "" into null before validating it '
    "(Laravel ConvertEmptyStringsToNull).",
    Quirk.HTML_ENTITIES: "On the integrations routes the Gateway HTML-encodes every string (sanitize.input: "
    "htmlentities with ENT_QUOTES), so & < > \" ' and accented letters reach its validator, and its database, as "
    'entities; the enum value "> 10 Years" becomes "&gt; 10 Years" and is rejected (GAT-7839, fix reverted). '
    "Choose another allowed value, or publish through /api/v1/datasets, which does not encode input.",
    Quirk.PHP_ARRAYS: "The Gateway decodes the body into PHP arrays and encodes it again for its validator, so an "
    "empty object {} arrives as an empty array [] (inferred from PHP's json_decode/json_encode, not measured). "
    "Leave the field out, or use null where the schema allows it.",
    Quirk.AJV_DEFAULTS: "The Gateway's validator (TRASER, Ajv useDefaults) inserts each missing field that has a "
    "schema default before checking it.",
    Quirk.AJV_COERCION: 'The Gateway\'s validator (TRASER, Ajv coerceTypes) converts types while it validates: "" '
    'to null where null is allowed, null to "" where a string is required, "5" to 5, 5 to "5", "true" to true.',
    Quirk.AJV_VALIDATOR: "The Gateway's validator (Ajv 8 with ajv-formats 2) reads this keyword differently from "
    "a strict JSON Schema validator (e.g. it accepts a date-time without a time zone).",
    Quirk.REGEX_HANG: "HDRUK 3.0.0's revision-URL pattern (UrlV2) backtracks exponentially in the Gateway's "
    "validator on a URL such as https://<uuid>: TRASER is blocked for minutes (160-328 s measured) and the "
    "Gateway answers 500 after 30 s, so the document is never accepted. Use a URL with a real host name "
    "(e.g. https://example.org/dataset/1.0.0), or publish the document as HDRUK 4.0.0.",
    Quirk.DETECTION_HANG: "Sent without input_schema, the Gateway would try every schema, including HDRUK "
    "3.0.0, whose revision-URL pattern hangs on this document; it is always sent with input_schema and "
    "input_version, which avoids the hang.",
    Quirk.NO_TRANSLATION: "The Gateway translates every document to GWDM 2.0 and has no translation path from "
    "this schema (traser-mapping-files), so it will reject it even though it is valid; publish it as HDRUK 4.0.0.",
}

_QUIRK_SHORT: Mapping[Quirk, str] = {
    Quirk.TRIM: "the Gateway trims strings",
    Quirk.EMPTY_TO_NULL: 'the Gateway turns "" into null',
    Quirk.HTML_ENTITIES: "the Gateway HTML-encodes text on the integrations routes",
    Quirk.PHP_ARRAYS: "the Gateway (PHP) turns {} into []",
    Quirk.AJV_DEFAULTS: "the Gateway's validator inserts schema defaults",
    Quirk.AJV_COERCION: "the Gateway's validator coerces types",
    Quirk.AJV_VALIDATOR: "the Gateway's validator (Ajv) reads this keyword differently",
    Quirk.REGEX_HANG: "HDRUK 3.0.0's revision-URL pattern hangs the Gateway's validator",
    Quirk.DETECTION_HANG: "the Gateway's schema detection would hang",
    Quirk.NO_TRANSLATION: "the Gateway cannot translate this schema to GWDM 2.0",
}


# --- records ----------------------------------------------------------------------------------------------

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Change:
    """One change the Gateway makes to the document before or while validating it."""

    path: Path_
    quirk: Quirk
    before: Any
    after: Any
    missing_before: bool = False  # the field did not exist (a default was inserted)

    @property
    def where(self) -> str:
        return _json_path(self.path)


@dataclass(frozen=True)
class QuirkNote:
    """A Gateway behaviour met in this document, at ``path`` (empty when it concerns the whole document).

    ``explanation`` is a sentence for a person, with the fix; ``brief`` a few words for an error message.
    ``decisive``: it changes the verdict (the document as sent and the Gateway disagree because of it).
    """

    quirk: Quirk
    path: str
    explanation: str
    decisive: bool = False
    brief: str = ""

    def __str__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        return f"{self.quirk.value}{where}: {self.explanation}"


@dataclass(frozen=True)
class TraserVerdict:
    """TRASER's verdict on one document against one schema (the document as TRASER receives it).

    ``first_error`` is what TRASER reports (Ajv's ``instancePath`` and message) and ``ajv_errors`` Ajv's whole
    ``errors`` array; ``errors`` lists every error in this package's wording. ``hang``: the check would block
    TRASER past the Gateway's 30 s timeout (TRASER still ends with "invalid", so ``valid`` is then False).
    ``document`` is the document as TRASER leaves it (defaults inserted, types coerced, up to the first error);
    ``checked_document`` and ``changes`` come from the every-error pass when there was one.
    """

    schema: SchemaRef
    valid: bool
    first_error: ErrorDetail | None
    errors: tuple[ErrorDetail, ...]
    ajv_errors: tuple[dict[str, Any], ...]
    changes: tuple[Change, ...]
    document: Any
    hang: bool = False
    hang_seconds: float = 0.0
    hang_path: str | None = None
    checked_document: Any = None  # after the every-error pass (Ajv allErrors), when there was one

    @property
    def verdict(self) -> str:
        """``valid``, ``invalid`` or ``hang``: the vocabulary of ``traser-verdicts.json``."""
        return "hang" if self.hang else ("valid" if self.valid else "invalid")


@dataclass(frozen=True)
class Judgement:
    """The verdict on one document, and everything needed to explain it.

    ``report`` is the verdict of ``mode``: the Gateway's (``gateway``) or the document's as sent (``strict``).
    ``gateway`` and ``as_sent`` hold both verdicts; ``schema_to_send`` is the schema to pass as
    ``input_schema``/``input_version`` (None when the document must not be sent). ``warnings`` are one-line
    messages for the ledger; ``notes`` are the Gateway behaviours met, with the path where each applies.
    """

    mode: ValidationMode
    report: ValidationReport
    gateway: ValidationReport
    as_sent: ValidationReport
    schema_to_send: SchemaRef | None
    warnings: tuple[str, ...] = ()
    notes: tuple[QuirkNote, ...] = ()
    hang: bool = False

    @property
    def valid(self) -> bool:
        return self.report.valid

    @property
    def gateway_disagrees(self) -> bool:
        """The document as sent and the Gateway reach different verdicts."""
        return self.gateway.valid != self.as_sent.valid

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, e.g. for ``hdr-ingest validate --json``."""

        def report(r: ValidationReport) -> dict[str, Any]:
            schema = str(r.schema) if r.schema else None
            return {"valid": r.valid, "schema": schema, "summary": r.summary, "errors": [e.as_dict() for e in r.errors]}

        return {
            "mode": self.mode.value,
            **report(self.report),
            "schema_to_send": str(self.schema_to_send) if self.schema_to_send else None,
            "gateway": report(self.gateway),
            "as_sent": report(self.as_sent),
            "hang": self.hang,
            "warnings": list(self.warnings),
            "notes": [
                {"quirk": n.quirk.value, "path": n.path, "explanation": n.explanation, "decisive": n.decisive}
                for n in self.notes
            ],
        }


# --- Gateway request pre-processing (shared with the Gateway emulator) ----------------------------------

# Laravel 11/12 TrimStrings: '~^[\s\x{FEFF}\x{200B}\x{200E}]+|[\s\x{FEFF}\x{200B}\x{200E}]+$~u'; PCRE \s
# without UCP matches ASCII whitespace only.
_TRIM_CHARS = " \t\n\x0b\x0c\r\ufeff\u200b\u200e"
_PHP_TRIM_CHARS = " \t\n\r\0\x0b"  # PHP trim() default, applied again by SanitizeMiddleware
_ENTITY_TABLE: dict[int, str] = {cp: f"&{name};" for cp, name in html.entities.codepoint2name.items() if cp > 127}
_ENTITY_TABLE.update({ord("&"): "&amp;", ord('"'): "&quot;", ord("'"): "&#039;", ord("<"): "&lt;", ord(">"): "&gt;"})
_NEEDS_ENCODING = re.compile("[&\"'<>\u00a0-\U0010ffff]")


def laravel_trim(value: str) -> str:
    """Trim the way Laravel's TrimStrings middleware does."""
    return value.strip(_TRIM_CHARS)


def php_htmlentities(value: str) -> str:
    """PHP ``htmlentities(trim($value), ENT_QUOTES, 'UTF-8')``: HTML 4.01 named entities, ``'`` as ``&#039;``,
    double encoding (``&amp;`` becomes ``&amp;amp;``); characters without a named entity are left alone."""
    value = value.strip(_PHP_TRIM_CHARS)
    if not _NEEDS_ENCODING.search(value):
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


# --- JavaScript semantics --------------------------------------------------------------------------------


def _js_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "undefined"


def _is_type(name: str, value: Any) -> bool:
    kind = _js_type(value)
    if name == "integer":
        return kind == "number" and (isinstance(value, int) or (math.isfinite(value) and float(value).is_integer()))
    return kind == name


def _js_equal(a: Any, b: Any) -> bool:
    """``===`` for primitives, fast-deep-equal for objects and arrays."""
    kind = _js_type(a)
    if kind != _js_type(b):
        return False
    if kind == "array":
        return len(a) == len(b) and all(_js_equal(x, y) for x, y in zip(a, b, strict=True))
    if kind == "object":
        return a.keys() == b.keys() and all(_js_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _js_number_to_string(number: float) -> str:
    """JavaScript ``"" + number`` (Number::toString: shortest round-trip digits, exponent past 1e21 / 1e-7)."""
    if isinstance(number, int) and abs(number) < 10**21:
        return str(number)
    value = float(number)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    _, digit_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    k = len(digits)
    n = k + int(exponent)  # value = 0.<digits> * 10**n
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        text = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e > 0 else "-") + str(abs(e))
    return ("-" if value < 0 else "") + text


_JS_WHITESPACE = (
    "\t\n\x0b\x0c\r \u00a0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_JS_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_JS_RADIX = re.compile(r"0([xXoObB])([0-9a-fA-F]+)", re.ASCII)


def _js_to_number(text: str) -> float:
    """JavaScript ``+text`` (``Number(text)``); NaN when it is not a number."""
    body = text.strip(_JS_WHITESPACE)
    if body == "":
        return 0.0
    if body in ("Infinity", "+Infinity"):
        return math.inf
    if body == "-Infinity":
        return -math.inf
    if _JS_DECIMAL.fullmatch(body):
        return float(body)
    radix = _JS_RADIX.fullmatch(body)
    if radix:
        base = {"x": 16, "o": 8, "b": 2}[radix.group(1).lower()]
        try:
            return float(int(radix.group(2), base))
        except ValueError:
            return math.nan
    return math.nan


def _as_json_number(value: float) -> int | float:
    if math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


_NO_COERCION = object()
_COERCIBLE = ("string", "number", "integer", "boolean", "null")


def _coerce(value: Any, targets: Sequence[str]) -> Any:
    """Ajv ``coerceTypes: true``: the first target type ``value`` converts to, else ``_NO_COERCION``."""
    kind = _js_type(value)
    for target in targets:
        if target == "string":
            if kind == "number":
                return _js_number_to_string(value)
            if kind == "boolean":
                return "true" if value else "false"
            if value is None:
                return ""
        elif target in ("number", "integer"):
            if kind == "boolean":
                return 1 if value else 0
            if value is None:
                return 0
            if kind == "string" and value:
                number = _js_to_number(value)
                if math.isnan(number):
                    continue
                if target == "integer" and math.isfinite(number) and not float(number).is_integer():
                    continue
                return _as_json_number(number)
        elif target == "boolean":
            if value == "false" or (kind == "number" and value == 0) or value is None:
                return False
            if value == "true" or (kind == "number" and value == 1):
                return True
        elif target == "null" and (
            (kind == "string" and value == "") or (kind == "number" and value == 0) or value is False
        ):
            return None
    return _NO_COERCION


# --- regular expressions: JavaScript syntax on RE2 ------------------------------------------------------

_JS_WS_CLASS_BODY = r"\t\n\x0b\x0c\r \x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}\x{feff}"


def _js_to_re2(pattern: str) -> str:
    """Rewrite the JavaScript (``u`` flag) constructs whose meaning differs in RE2: ``\\s``, ``\\S``, ``.``,
    ``\\uXXXX``/``\\u{X}``. Everything else used by the HDR UK schemas means the same in both."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if nxt == "s":
                out.append(_JS_WS_CLASS_BODY if in_class else f"[{_JS_WS_CLASS_BODY}]")
            elif nxt == "S" and not in_class:
                out.append(f"[^{_JS_WS_CLASS_BODY}]")
            elif nxt == "u" and pattern[i + 2 : i + 3] == "{":
                end = pattern.find("}", i)
                out.append(f"\\x{{{pattern[i + 3 : end]}}}")
                i = end + 1
                continue
            elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", pattern[i + 2 : i + 6]):
                out.append(f"\\x{{{pattern[i + 2 : i + 6]}}}")
                i += 6
                continue
            else:
                out.append(char + nxt)
            i += 2
            continue
        if char == "[" and not in_class:
            in_class = True
            out.append(char)
            if pattern[i + 1 : i + 2] == "^":
                out.append("^")
                i += 1
            if pattern[i + 1 : i + 2] == "]":  # "[]" in JS matches nothing; RE2 would read "]" literally
                out.append("\\]")
                i += 1
        elif char == "]" and in_class:
            in_class = False
            out.append(char)
        elif char == "." and not in_class:
            out.append(r"[^\n\r\x{2028}\x{2029}]")
        else:
            out.append(char)
        i += 1
    return "".join(out)


def _utf8_safe(text: str) -> str:
    """RE2 takes UTF-8 only: a lone surrogate (legal in JSON, e.g. ``"\\ud800"``) becomes U+FFFD, which
    belongs to the same character classes in every pattern of the pack."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


@lru_cache(maxsize=512)
def _js_regex(pattern: str) -> Callable[[str], bool]:
    """``new RegExp(pattern, "u").test`` on a linear-time engine."""
    try:
        compiled = re2.compile(_js_to_re2(pattern))
    except re2.error:  # pragma: no cover - every pattern of the pack compiles under RE2
        fallback = re.compile(pattern)
        return lambda text: fallback.search(text) is not None
    return lambda text: compiled.search(_utf8_safe(text)) is not None


_URL_V2 = r"^\s*((https?:\/\/)*([a-zA-Z0-9-]+\.?)+[a-zA-Z]{2,}(:\d+)?(\/[^\s]*)?(\n)?)+$"
_HOST_RUN = re.compile(r"[A-Za-z0-9.-]+")


def _url_v2_seconds(value: str) -> float:
    """Estimated time Node's backtracking engine spends before ``_URL_V2`` fails on ``value``.

    ``([a-zA-Z0-9-]+\\.?)+`` can split a run of n host characters in 2**n ways and the engine tries them all.
    Calibrated on the measurements in the notes: Python's ``re`` takes 0.75-0.86 s at n = 23-24 and doubles
    per character; TRASER took 160-328 s on the 36-character ``https://<uuid>`` (about 20x Python's speed).
    """
    longest = max((len(run.group()) - run.group().count(".") for run in _HOST_RUN.finditer(value)), default=0)
    return 0.054 * 2.0 ** (longest - 24)


_CATASTROPHIC: Mapping[str, Callable[[str], float]] = {_URL_V2: _url_v2_seconds}
"""Patterns of the pack that backtrack exponentially in Node.js, with a cost estimate for a failing value."""


# --- ajv-formats 2.1.1, "full" mode ----------------------------------------------------------------------

_DATE = re.compile(r"(\d\d\d\d)-(\d\d)-(\d\d)", re.ASCII)
_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_TIME = re.compile(r"(\d\d):(\d\d):(\d\d)(\.\d+)?(z|[+-]\d\d(?::?\d\d)?)?", re.ASCII | re.IGNORECASE)
_DATE_TIME_SEPARATOR = re.compile(f"[tT{re.escape(_JS_WHITESPACE)}]")
_URI = re.compile(
    r"(?:[a-z][a-z0-9+\-.]*:)(?:\/?\/(?:(?:[a-z0-9\-._~!$&'()*+,;=:]|%[0-9a-f]{2})*@)?(?:\[(?:(?:(?:(?:[0-9a-f]{1,4}:){6}"
    r"|::(?:[0-9a-f]{1,4}:){5}|(?:[0-9a-f]{1,4})?::(?:[0-9a-f]{1,4}:){4}|(?:(?:[0-9a-f]{1,4}:){0,1}[0-9a-f]{1,4})?::"
    r"(?:[0-9a-f]{1,4}:){3}|(?:(?:[0-9a-f]{1,4}:){0,2}[0-9a-f]{1,4})?::(?:[0-9a-f]{1,4}:){2}|(?:(?:[0-9a-f]{1,4}:)"
    r"{0,3}[0-9a-f]{1,4})?::[0-9a-f]{1,4}:|(?:(?:[0-9a-f]{1,4}:){0,4}[0-9a-f]{1,4})?::)(?:[0-9a-f]{1,4}:[0-9a-f]{1,4}"
    r"|(?:(?:25[0-5]|2[0-4]\d|[01]?\d\d?)\.){3}(?:25[0-5]|2[0-4]\d|[01]?\d\d?))|(?:(?:[0-9a-f]{1,4}:){0,5}[0-9a-f]"
    r"{1,4})?::[0-9a-f]{1,4}|(?:(?:[0-9a-f]{1,4}:){0,6}[0-9a-f]{1,4})?::)|[Vv][0-9a-f]+\.[a-z0-9\-._~!$&'()*+,;=:]+)"
    r"\]|(?:(?:25[0-5]|2[0-4]\d|[01]?\d\d?)\.){3}(?:25[0-5]|2[0-4]\d|[01]?\d\d?)|(?:[a-z0-9\-._~!$&'()*+,;=]|%[0-9a-f]"
    r"{2})*)(?::\d*)?(?:\/(?:[a-z0-9\-._~!$&'()*+,;=:@]|%[0-9a-f]{2})*)*|\/(?:(?:[a-z0-9\-._~!$&'()*+,;=:@]|%[0-9a-f]"
    r"{2})+(?:\/(?:[a-z0-9\-._~!$&'()*+,;=:@]|%[0-9a-f]{2})*)*)?|(?:[a-z0-9\-._~!$&'()*+,;=:@]|%[0-9a-f]{2})+(?:\/"
    r"(?:[a-z0-9\-._~!$&'()*+,;=:@]|%[0-9a-f]{2})*)*)(?:\?(?:[a-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9a-f]{2})*)?(?:#"
    r"(?:[a-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9a-f]{2})*)?",
    re.ASCII | re.IGNORECASE,
)
_EMAIL = re2.compile(
    r"^[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+)*@"
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?\.)+[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$"
)


def _format_date(text: str) -> bool:
    match = _DATE.fullmatch(text)
    if not match:
        return False
    year, month, day = (int(g) for g in match.groups())
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return 1 <= month <= 12 and 1 <= day <= (29 if month == 2 and leap else _DAYS[month])


def _format_time(text: str) -> bool:
    # ajv-formats 2.1.1 compares the absent zone (undefined) with "", so a zone is never really required.
    match = _TIME.fullmatch(text)
    if not match:
        return False
    hour, minute, second = int(match.group(1)), int(match.group(2)), int(match.group(3))
    return (hour <= 23 and minute <= 59 and second <= 59) or (hour == 23 and minute == 59 and second == 60)


def _format_date_time(text: str) -> bool:
    parts = _DATE_TIME_SEPARATOR.split(text)
    return len(parts) == 2 and _format_date(parts[0]) and _format_time(parts[1])


def _format_uri(text: str) -> bool:
    return ("/" in text or ":" in text) and _URI.fullmatch(text) is not None


_FORMATS: Mapping[str, Callable[[str], bool]] = {
    "date": _format_date,
    "time": _format_time,
    "date-time": _format_date_time,
    "uri": _format_uri,
    "email": lambda text: _EMAIL.search(_utf8_safe(text)) is not None,
}
"""The formats the HDR UK schemas use; any other format name is accepted, as Ajv does for unknown formats."""


# --- the Ajv emulation -----------------------------------------------------------------------------------

# Ajv 8, draft-07 vocabulary: keywords grouped and ordered as in its RULES (validation, applicator, format).
_UNTYPED = ("$ref", "const", "enum", "not", "anyOf", "oneOf", "allOf", "if")
_GROUPS: tuple[tuple[str | None, tuple[str, ...]], ...] = (
    (None, (*_UNTYPED, "then", "else")),
    ("number", ("maximum", "minimum", "exclusiveMaximum", "exclusiveMinimum", "multipleOf", "format")),
    ("string", ("maxLength", "minLength", "pattern", "format")),
    ("array", ("maxItems", "minItems", "additionalItems", "items", "uniqueItems", "contains")),
    (
        "object",
        (
            "maxProperties",
            "minProperties",
            "required",
            "propertyNames",
            "additionalProperties",
            "dependencies",
            "properties",
            "patternProperties",
        ),
    ),
)
_RULES = frozenset(kw for _, kws in _GROUPS for kw in kws) | {"type", "nullable", "$comment", "id"}
_REF_KEYWORDS = frozenset({"$ref", "$recursiveRef", "$recursiveAnchor", "$dynamicRef", "$dynamicAnchor"})


def _has_ref(schema: Any) -> bool:
    """Ajv ``inlineRef``: a referenced schema is inlined unless it contains a ``$ref`` anywhere."""
    if isinstance(schema, dict):
        return any(key in _REF_KEYWORDS or _has_ref(value) for key, value in schema.items())
    if isinstance(schema, list):
        return any(_has_ref(item) for item in schema)
    return False


def _schema_types(schema: Mapping[str, Any]) -> list[str]:
    declared = schema.get("type")
    types = [declared] if isinstance(declared, str) else list(declared) if isinstance(declared, list) else []
    if schema.get("nullable") is True and "null" not in types:
        types.append("null")
    return types


def _rules_for_type(schema: Mapping[str, Any], kind: str) -> bool:
    for group, keywords in _GROUPS:
        if group == kind:
            return any(keyword in schema for keyword in keywords)
    return False


@dataclass(frozen=True)
class _Plan:
    """What Ajv compiles for one schema object, computed once: whether it has rules, whether it is a bare
    ``$ref``, its types, and the keyword groups it uses with their keywords in Ajv's order."""

    rules: bool
    always_valid: bool
    ref_only: str | None
    types: tuple[str, ...]
    coerce_to: tuple[str, ...]
    check_types: bool  # with coercion
    check_types_strict: bool  # without coercion
    groups: tuple[tuple[str | None, tuple[str, ...]], ...]

    @classmethod
    def of(cls, schema: Mapping[str, Any]) -> _Plan:
        rules = any(key in _RULES for key in schema)
        ref = schema.get("$ref")
        ref_only = ref if isinstance(ref, str) and not any(k in _RULES for k in schema if k != "$ref") else None
        types = tuple(_schema_types(schema))
        coerce_to = tuple(t for t in types if t in _COERCIBLE)

        def check(targets: tuple[str, ...]) -> bool:
            return bool(types) and not (not targets and len(types) == 1 and _rules_for_type(schema, types[0]))

        groups = tuple(
            (group, used) for group, keywords in _GROUPS if (used := tuple(k for k in keywords if k in schema))
        )
        return cls(rules, not rules, ref_only, types, coerce_to, check(coerce_to), check(()), groups)


@dataclass
class _Error:
    """One Ajv error. ``branches`` holds the errors of each alternative of a failed anyOf/oneOf."""

    path: Path_
    keyword: str
    message: str
    params: dict[str, Any]
    value: Any
    schema: Any
    schema_path: str = ""
    branches: tuple[tuple[_Error, ...], ...] = ()

    def ajv(self) -> dict[str, Any]:
        return {
            "instancePath": "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in self.path),
            "schemaPath": self.schema_path,
            "keyword": self.keyword,
            "params": self.params,
            "message": self.message,
        }

    def first(self) -> _Error:
        """The error Ajv puts first: a failed anyOf reports its first alternative's errors before itself."""
        return self.branches[0][0].first() if self.branches and self.branches[0] else self


class _SchemaDoc:
    """One schema file: ``$ref`` resolution (JSON pointers, as Ajv resolves the pack's local references)."""

    def __init__(self, ref: SchemaRef, root: dict[str, Any]) -> None:
        self.ref = ref
        self.root = root
        self._targets: dict[str, tuple[Any, bool]] = {}
        self._plans: dict[int, _Plan] = {}
        self._lock = threading.Lock()

    def plan(self, schema: Mapping[str, Any]) -> _Plan:
        """The :class:`_Plan` of a schema object of this file (cached by identity; the file is never changed)."""
        found = self._plans.get(id(schema))
        if found is None:
            found = self._plans.setdefault(id(schema), _Plan.of(schema))
        return found

    def always_valid(self, schema: Any) -> bool:
        if isinstance(schema, bool):
            return schema
        return isinstance(schema, dict) and self.plan(schema).always_valid

    def resolve(self, pointer: str) -> tuple[Any, bool]:
        """The schema ``pointer`` designates and whether Ajv compiles it as its own function (not inlined)."""
        found = self._targets.get(pointer)
        if found is not None:
            return found
        target: Any = self.root
        seen = {pointer}
        ref = pointer
        while True:
            target = self._pointer(ref)
            follow = target.get("$ref") if isinstance(target, dict) else None
            # Ajv follows a target that is only a $ref (plus annotations) to its own target.
            if not isinstance(follow, str) or any(k in _RULES for k in target if k != "$ref") or follow in seen:
                break
            seen.add(follow)
            ref = follow
        result = (target, target is self.root or _has_ref(target))
        with self._lock:
            self._targets[pointer] = result
        return result

    def _pointer(self, ref: str) -> Any:
        if ref in ("#", "#/", ""):
            return self.root
        if not ref.startswith("#/"):
            raise LookupError(f"{self.ref}: only local references are supported, got {ref!r}")
        node: Any = self.root
        for raw in ref[2:].split("/"):
            part = raw.replace("~1", "/").replace("~0", "~")
            part = re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), part)
            if isinstance(node, list) and part.isdigit():
                node = node[int(part)]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                raise LookupError(f"{self.ref}: cannot resolve {ref!r}")
        return node


@dataclass
class _Hang:
    path: Path_
    value: str
    seconds: float


class _AjvRun:
    """One validation of one document against one schema, mutating the document the way Ajv does."""

    def __init__(
        self, doc: _SchemaDoc, *, coerce: bool = True, defaults: bool = True, all_errors: bool = False
    ) -> None:
        self.doc = doc
        self.coerce = coerce
        self.defaults = defaults
        self.all_errors = all_errors
        self.errors: list[_Error] = []
        self.changes: list[Change] = []
        self.hangs: list[_Hang] = []

    # entry -------------------------------------------------------------------------------------------
    def run(self, document: Any) -> bool:
        valid, _ = self._node(self.doc.root, document, None, None, (), False, "#")
        return valid

    # a schema node (Ajv subschemaCode) ---------------------------------------------------------------
    def _node(
        self, schema: Any, data: Any, parent: Any, key: Any, path: Path_, composite: bool, spath: str
    ) -> tuple[bool, Any]:
        if not isinstance(schema, dict):
            if schema is False:
                self._fail(path, "false schema", "boolean schema is false", {}, data, schema, spath)
                return False, data
            return True, data
        plan = self.doc.plan(schema)
        if not plan.rules:
            return True, data
        if plan.ref_only is not None:
            return self._ref(plan.ref_only, data, parent, key, path, composite, spath)
        start = len(self.errors)
        types = plan.types
        check_types = plan.check_types if self.coerce else plan.check_types_strict
        if check_types and not any(_is_type(t, data) for t in types):
            coerced = _coerce(data, plan.coerce_to) if self.coerce and plan.coerce_to else _NO_COERCION
            if coerced is _NO_COERCION:
                self._type_error(list(types), data, schema, path, spath)
            else:
                self.changes.append(Change(path, Quirk.AJV_COERCION, data, coerced))
                data = coerced
                if parent is not None:
                    parent[key] = coerced
        first = True
        for group, keywords in plan.groups:
            if not first and not self.all_errors and len(self.errors) > start:
                break
            first = False
            if group is not None and not _is_type(group, data):
                if len(types) == 1 and types[0] == group and not check_types:
                    self._type_error(list(types), data, schema, path, spath)
                continue
            if group in ("object", "array") and self.defaults and not composite:
                self._defaults(schema, group, data, path)
            for keyword in keywords:
                ok, data = self._keyword(keyword, schema, data, parent, key, path, composite, spath, group)
                if not ok and not self.all_errors:
                    break
        return len(self.errors) == start, data

    def _ref(
        self, pointer: str, data: Any, parent: Any, key: Any, path: Path_, composite: bool, spath: str
    ) -> tuple[bool, Any]:
        target, compiled = self.doc.resolve(pointer)
        if not compiled:  # inlined: same data variable and the caller's composite state
            return self._node(target, data, parent, key, path, composite, pointer)
        # A separately compiled function: no composite state inside (defaults apply again), and the caller's
        # variable for this value is not refreshed after the call (Ajv only updates parentData[property]).
        valid, _ = self._node(target, data, parent, key, path, False, pointer)
        return valid, data

    # defaults (Ajv useDefaults) ----------------------------------------------------------------------
    def _defaults(self, schema: Mapping[str, Any], group: str, data: Any, path: Path_) -> None:
        if group == "object" and isinstance(schema.get("properties"), dict):
            for name, sub in schema["properties"].items():
                if isinstance(sub, dict) and "default" in sub and name not in data:
                    data[name] = copy.deepcopy(sub["default"])
                    self.changes.append(Change((*path, name), Quirk.AJV_DEFAULTS, None, data[name], True))
        elif group == "array" and isinstance(schema.get("items"), list):
            for index, sub in enumerate(schema["items"]):
                if isinstance(sub, dict) and "default" in sub and index >= len(data):
                    # Ajv assigns data[i]; JavaScript pads the array with holes. Only appending keeps JSON.
                    if index == len(data):
                        data.append(copy.deepcopy(sub["default"]))
                        self.changes.append(Change((*path, index), Quirk.AJV_DEFAULTS, None, data[index], True))

    # keywords ----------------------------------------------------------------------------------------
    def _keyword(
        self,
        keyword: str,
        schema: Mapping[str, Any],
        data: Any,
        parent: Any,
        key: Any,
        path: Path_,
        composite: bool,
        spath: str,
        group: str | None,
    ) -> tuple[bool, Any]:
        value = schema[keyword]
        here = f"{spath}/{keyword}"
        if keyword == "$ref":
            return self._ref(value, data, parent, key, path, composite, here)
        if keyword in ("anyOf", "oneOf"):
            return self._union(keyword, value, data, parent, key, path, composite, here)
        if keyword == "allOf":
            ok = True
            for index, sub in enumerate(value):
                if self.doc.always_valid(sub):
                    continue
                sub_ok, data = self._node(sub, data, parent, key, path, composite, f"{here}/{index}")
                if not sub_ok:
                    ok = False
                    if not self.all_errors:
                        break
            return ok, data
        if keyword == "not":
            mark = len(self.errors)
            sub_ok, data = self._node(value, data, parent, key, path, True, here)
            del self.errors[mark:]
            if sub_ok:
                return self._fail(path, keyword, "must NOT be valid", {}, data, value, here), data
            return True, data
        if keyword == "if":
            return self._if_then_else(schema, data, parent, key, path, composite, spath)
        if keyword in ("then", "else"):
            return True, data
        if keyword == "const":
            if _js_equal(data, value):
                return True, data
            return self._fail(
                path, keyword, "must be equal to constant", {"allowedValue": value}, data, value, here
            ), data
        if keyword == "enum":
            if any(_js_equal(data, choice) for choice in value):
                return True, data
            params = {"allowedValues": value}
            message = "must be equal to one of the allowed values"
            return self._fail(path, keyword, message, params, data, value, here), data
        if group == "number":
            return self._number(keyword, value, data, path, here), data
        if group == "string":
            return self._string(keyword, value, data, path, here), data
        if group == "array":
            return self._array(keyword, schema, data, path, composite, here), data
        if group == "object":
            return self._object(keyword, schema, data, path, composite, here), data
        return True, data

    def _union(
        self,
        keyword: str,
        branches: list[Any],
        data: Any,
        parent: Any,
        key: Any,
        path: Path_,
        composite: bool,
        here: str,
    ) -> tuple[bool, Any]:
        if any(self.doc.always_valid(branch) for branch in branches):
            return True, data  # Ajv skips the whole keyword (no coercion in the other branches either)
        mark = len(self.errors)
        groups: list[tuple[_Error, ...]] = []
        passing: list[int] = []
        for index, branch in enumerate(branches):
            before = len(self.errors)
            ok, data = self._node(branch, data, parent, key, path, True, f"{here}/{index}")
            groups.append(tuple(self.errors[before:]))
            if ok:
                passing.append(index)
                if keyword == "anyOf" or len(passing) > 1:
                    break
        valid = len(passing) == 1 if keyword == "oneOf" else bool(passing)
        del self.errors[mark:]
        if valid:
            return True, data
        if keyword == "anyOf":
            message, params = "must match a schema in anyOf", {}
        else:
            message, params = "must match exactly one schema in oneOf", {"passingSchemas": passing or None}
        error = _Error(path, keyword, message, params, data, branches, here, tuple(groups))
        self.errors.append(error)
        return False, data

    def _if_then_else(
        self, schema: Mapping[str, Any], data: Any, parent: Any, key: Any, path: Path_, composite: bool, spath: str
    ) -> tuple[bool, Any]:
        has_then, has_else = "then" in schema, "else" in schema
        if not has_then and not has_else:
            return True, data
        mark = len(self.errors)
        if_ok, data = self._node(schema["if"], data, parent, key, path, True, f"{spath}/if")
        del self.errors[mark:]
        branch = "then" if if_ok else "else"
        if branch not in schema:
            return True, data
        ok, data = self._node(schema[branch], data, parent, key, path, composite, f"{spath}/{branch}")
        if not ok:
            self._fail(path, "if", f'must match "{branch}" schema', {"failingKeyword": branch}, data, schema, spath)
        return ok, data

    def _number(self, keyword: str, limit: Any, data: Any, path: Path_, here: str) -> bool:
        if keyword == "format":
            return True
        if keyword == "multipleOf":
            bad = limit == 0 or (data / limit) != int(data / limit)
            return not bad or self._fail(
                path, keyword, f"must be multiple of {limit}", {"multipleOf": limit}, data, limit, here
            )
        ops = {
            "maximum": ("<=", lambda a, b: a > b),
            "minimum": (">=", lambda a, b: a < b),
            "exclusiveMaximum": ("<", lambda a, b: a >= b),
            "exclusiveMinimum": (">", lambda a, b: a <= b),
        }
        if keyword in ops and isinstance(limit, (int, float)) and not isinstance(limit, bool):
            sign, fails = ops[keyword]
            if fails(data, limit):
                params = {"comparison": sign, "limit": limit}
                return self._fail(path, keyword, f"must be {sign} {limit}", params, data, limit, here)
        return True

    def _string(self, keyword: str, value: Any, data: str, path: Path_, here: str) -> bool:
        if keyword in ("maxLength", "minLength"):
            too_long = keyword == "maxLength" and len(data) > value
            too_short = keyword == "minLength" and len(data) < value
            if too_long or too_short:
                comp = "more" if keyword == "maxLength" else "fewer"
                message = f"must NOT have {comp} than {value} characters"
                return self._fail(path, keyword, message, {"limit": value}, data, value, here)
            return True
        if keyword == "pattern":
            if _js_regex(value)(data):
                return True
            estimate = _CATASTROPHIC.get(value)
            if estimate is not None:
                self.hangs.append(_Hang(path, data, estimate(data)))
            return self._fail(path, keyword, f'must match pattern "{value}"', {"pattern": value}, data, value, here)
        if keyword == "format":
            check = _FORMATS.get(value) if isinstance(value, str) else None
            if check is None or check(data):
                return True
            return self._fail(path, keyword, f'must match format "{value}"', {"format": value}, data, value, here)
        return True

    def _array(
        self, keyword: str, schema: Mapping[str, Any], data: list[Any], path: Path_, composite: bool, here: str
    ) -> bool:
        value = schema[keyword]
        if keyword in ("maxItems", "minItems"):
            if (keyword == "maxItems" and len(data) > value) or (keyword == "minItems" and len(data) < value):
                comp = "more" if keyword == "maxItems" else "fewer"
                return self._fail(
                    path, keyword, f"must NOT have {comp} than {value} items", {"limit": value}, data, value, here
                )
            return True
        if keyword == "items":
            if isinstance(value, list):
                return self._items(list(enumerate(value)), data, path, composite, here)
            if self.doc.always_valid(value):
                return True
            return self._items([(i, value) for i in range(len(data))], data, path, composite, here, same=True)
        if keyword == "additionalItems":
            items = schema.get("items")
            if not isinstance(items, list) or self.doc.always_valid(value) or len(data) <= len(items):
                return True
            if value is False:
                limit = len(items)
                message = f"must NOT have more than {limit} items"
                return self._fail(path, keyword, message, {"limit": limit}, data, value, here)
            extra = [(i, value) for i in range(len(items), len(data))]
            return self._items(extra, data, path, composite, here, same=True)
        if keyword == "uniqueItems":
            return value is not True or self._unique(schema, data, path, here)
        if keyword == "contains":
            return self._contains(value, data, path, here)
        return True

    def _items(
        self,
        pairs: list[tuple[int, Any]],
        data: list[Any],
        path: Path_,
        composite: bool,
        here: str,
        same: bool = False,
    ) -> bool:
        ok = True
        for index, sub in pairs:
            if index >= len(data) or self.doc.always_valid(sub):
                continue
            where = here if same else f"{here}/{index}"
            item_ok, _ = self._node(sub, data[index], data, index, (*path, index), composite, where)
            if not item_ok:
                ok = False
                if not self.all_errors:
                    break
        return ok

    def _unique(self, schema: Mapping[str, Any], data: list[Any], path: Path_, here: str) -> bool:
        items = schema.get("items")
        item_types = _schema_types(items) if isinstance(items, dict) else []
        duplicate: tuple[int, int] | None = None
        if item_types and not any(t in ("object", "array") for t in item_types):
            seen: dict[str, int] = {}
            for i in range(len(data) - 1, -1, -1):
                item = data[i]
                if not any(_is_type(t, item) for t in item_types):
                    continue
                text = _js_key(item) + ("_" if len(item_types) > 1 and isinstance(item, str) else "")
                if text in seen:
                    duplicate = (i, seen[text])
                    break
                seen[text] = i
        else:
            for i in range(len(data) - 1, 0, -1):
                j = next((j for j in range(i - 1, -1, -1) if _js_equal(data[i], data[j])), None)
                if j is not None:
                    duplicate = (i, j)
                    break
        if duplicate is None:
            return True
        i, j = duplicate
        message = f"must NOT have duplicate items (items ## {j} and {i} are identical)"
        return self._fail(path, "uniqueItems", message, {"i": i, "j": j}, data, True, here)

    def _contains(self, schema: Any, data: list[Any], path: Path_, here: str) -> bool:
        message = "must contain at least 1 valid item(s)"
        if self.doc.always_valid(schema):
            return len(data) >= 1 or self._fail(path, "contains", message, {"minContains": 1}, data, schema, here)
        mark = len(self.errors)
        for index, item in enumerate(data):
            ok, _ = self._node(schema, item, data, index, (*path, index), True, here)
            if ok:
                del self.errors[mark:]
                return True
        del self.errors[mark:]
        return self._fail(path, "contains", message, {"minContains": 1}, data, schema, here)

    def _object(
        self, keyword: str, schema: Mapping[str, Any], data: dict[str, Any], path: Path_, composite: bool, here: str
    ) -> bool:
        value = schema[keyword]
        if keyword == "required":
            ok = True
            for name in value if isinstance(value, list) else []:
                if name not in data:
                    params = {"missingProperty": name}
                    self._fail(path, keyword, f"must have required property '{name}'", params, data, value, here)
                    ok = False
                    if not self.all_errors:
                        break
            return ok
        if keyword == "additionalProperties":
            return self._additional(schema, value, data, path, composite, here)
        if keyword == "properties":
            ok = True
            for name, sub in value.items():
                if self.doc.always_valid(sub):
                    continue
                has_default = self.defaults and not composite and isinstance(sub, dict) and "default" in sub
                if not has_default and name not in data:
                    continue
                if name not in data:  # a default could not be assigned (not an object): nothing to check
                    continue
                item_ok, _ = self._node(sub, data[name], data, name, (*path, name), composite, f"{here}/{name}")
                if not item_ok:
                    ok = False
                    if not self.all_errors:
                        break
            return ok
        if keyword == "patternProperties":
            ok = True
            for pattern, sub in value.items():
                test = _js_regex(pattern)
                for name in [n for n in data if test(n)]:
                    item_ok, _ = self._node(sub, data[name], data, name, (*path, name), composite, f"{here}/{pattern}")
                    if not item_ok:
                        ok = False
                        if not self.all_errors:
                            return False
            return ok
        if keyword in ("maxProperties", "minProperties"):
            if (keyword == "maxProperties" and len(data) > value) or (keyword == "minProperties" and len(data) < value):
                comp = "more" if keyword == "maxProperties" else "fewer"
                message = f"must NOT have {comp} than {value} properties"
                return self._fail(path, keyword, message, {"limit": value}, data, value, here)
            return True
        if keyword == "propertyNames":
            ok = True
            for name in list(data):
                name_ok, _ = self._node(value, name, None, None, path, composite, here)
                if not name_ok:
                    ok = False
                    if not self.all_errors:
                        break
            return ok
        if keyword == "dependencies":
            ok = True
            for name, dependency in value.items():
                if name not in data:
                    continue
                if isinstance(dependency, list):
                    for needed in dependency:
                        if needed not in data:
                            message = f"must have property {needed} when property {name} is present"
                            params = {"property": name, "missingProperty": needed, "depsCount": len(dependency)}
                            self._fail(path, keyword, message, params, data, dependency, here)
                            ok = False
                else:
                    dep_ok, _ = self._node(dependency, data, None, None, path, composite, f"{here}/{name}")
                    ok = ok and dep_ok
                if not ok and not self.all_errors:
                    break
            return ok
        return True

    def _additional(
        self, schema: Mapping[str, Any], value: Any, data: dict[str, Any], path: Path_, composite: bool, here: str
    ) -> bool:
        if self.doc.always_valid(value):
            return True
        known = set(schema.get("properties") or {})
        patterns = [_js_regex(p) for p in schema.get("patternProperties") or {}]
        ok = True
        for name in _js_key_order(data):
            if name in known or any(test(name) for test in patterns):
                continue
            if value is False:
                params = {"additionalProperty": name}
                self._fail(
                    path, "additionalProperties", "must NOT have additional properties", params, data, value, here
                )
                ok = False
            elif isinstance(value, dict):
                item_ok, _ = self._node(value, data[name], data, name, (*path, name), composite, here)
                ok = ok and item_ok
            if not ok and not self.all_errors:
                break
        return ok

    # errors ------------------------------------------------------------------------------------------
    def _type_error(self, types: list[str], data: Any, schema: Any, path: Path_, spath: str) -> None:
        joined = ",".join(types)
        self._fail(path, "type", f"must be {joined}", {"type": joined}, data, schema, f"{spath}/type")

    def _fail(
        self, path: Path_, keyword: str, message: str, params: dict[str, Any], value: Any, schema: Any, spath: str
    ) -> bool:
        self.errors.append(_Error(path, keyword, message, params, value, schema, spath))
        return False


def _js_key(value: Any) -> str:
    """How JavaScript turns a primitive into an object key (``String(value)``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _js_number_to_string(value)
    return str(value)


def _js_key_order(data: Mapping[str, Any]) -> list[str]:
    """``for (key in object)``: integer-like keys first, ascending, then the others in insertion order."""
    numeric = sorted((k for k in data if k.isdigit() and (k == "0" or not k.startswith("0"))), key=int)
    return numeric + [k for k in data if k not in set(numeric)]


# --- turning Ajv errors into messages a custodian can act on --------------------------------------------

_json_path = json_path  # one spelling of JSON paths and values across the project
_show = fix.show


def _friendly(error: _Error) -> list[ErrorDetail]:
    where = _json_path(error.path)
    value, keyword = error.value, error.keyword
    if error.branches:
        best = _best_branch(error.branches)
        if best:
            return [detail for sub in best for detail in _friendly(sub)]
        return [ErrorDetail(where, f"is {_show(value)}; it matches none of the allowed forms.")]
    if keyword == "required":
        return [ErrorDetail(_json_path((*error.path, error.params["missingProperty"])), fix.MISSING)]
    if keyword == "additionalProperties":
        return [ErrorDetail(_json_path((*error.path, error.params["additionalProperty"])), fix.UNKNOWN_FIELD)]
    if keyword == "enum":
        return [ErrorDetail(where, fix.one_of(value, list(error.params["allowedValues"])))]
    if keyword == "const":
        return [ErrorDetail(where, fix.equal_to(value, error.params["allowedValue"]))]
    if keyword == "type":
        return [ErrorDetail(where, fix.of_type(value, str(error.params["type"]).split(",")))]
    if keyword == "format":
        return [ErrorDetail(where, fix.in_format(value, error.params["format"], gateway=True))]
    if keyword == "pattern":
        return [ErrorDetail(where, fix.matching(value, error.params["pattern"]))]
    if keyword in ("minLength", "maxLength"):
        return [ErrorDetail(where, fix.of_length(value, keyword, error.params["limit"]))]
    if keyword in ("minItems", "maxItems"):
        return [ErrorDetail(where, fix.with_items(value, keyword, error.params["limit"]))]
    return [ErrorDetail(where, error.message + ".")]


def _best_branch(branches: Sequence[Sequence[_Error]]) -> list[_Error]:
    """The alternative the document came closest to (pydantic's ``anyOf: [X, {type: null}]``: X's errors)."""
    candidates = [
        list(errs)
        for errs in branches
        if errs and not (len(errs) == 1 and errs[0].keyword == "type" and errs[0].params.get("type") == "null")
    ]
    if not candidates:
        return []
    return min(candidates, key=lambda errs: (-max(len(e.path) for e in errs), len(errs)))


def _flatten(errors: Iterable[_Error]) -> tuple[ErrorDetail, ...]:
    details = [
        detail for error in sorted(errors, key=lambda e: [str(p) for p in e.path]) for detail in _friendly(error)
    ]
    return tuple(dict.fromkeys(details))


def _count(n: int, word: str = "error") -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


# --- the judge -------------------------------------------------------------------------------------------


class GatewayJudge:
    """Judges documents the way the Gateway does, using the schemas of ``pack``. Thread-safe; build it once
    per pack (:func:`judge_for`) so parsed schemas and resolved references are reused."""

    def __init__(self, pack: SchemaPack, route: Route = Route.INTEGRATIONS, *, fast: bool = True) -> None:
        self.pack = pack
        self.route = route
        self.fast = fast and pack.fast  # the fast verdict (below) where it is exact; False: always emulate
        self._docs: dict[SchemaRef, _SchemaDoc] = {}
        self._twins: dict[SchemaRef, _Twin | None] = {}
        self._refs = tuple(pack.refs)
        self._hdruk300 = _HDRUK_300 if _HDRUK_300 in pack else None
        self._lock = threading.Lock()

    # --- building blocks ----------------------------------------------------------------------------------
    def schema(self, ref: SchemaRef) -> _SchemaDoc:
        found = self._docs.get(ref)
        if found is None:
            found = _SchemaDoc(ref, self.pack.schema(ref))  # the pack's parsed copy: read once, never changed
            with self._lock:
                found = self._docs.setdefault(ref, found)
        return found

    def preprocess(self, document: Any, changes: list[Change] | None = None, route: Route | None = None) -> Any:
        """The document as the Gateway hands it to TRASER on ``route`` (default: this judge's route)."""
        route = route or self.route
        return gateway_preprocess(document, html_entities=route is Route.INTEGRATIONS, php_arrays=True, changes=changes)

    def traser(self, document: Any, ref: SchemaRef, *, all_errors: bool = True) -> TraserVerdict:
        """TRASER's verdict on ``document`` against ``ref``, the document taken as TRASER receives it (no
        pre-processing here). ``all_errors=False`` stops at the first error, as TRASER does: much faster,
        and ``errors`` then holds that error only."""
        doc = self.schema(ref)
        data = copy.deepcopy(document)
        first = _AjvRun(doc)
        try:
            valid = first.run(data)
        except RecursionError:
            detail = ErrorDetail("$", "is nested too deeply to validate; flatten the document.")
            return TraserVerdict(ref, False, detail, (detail,), (), (), document)
        ajv = tuple(e.ajv() for error in first.errors for e in _flat_ajv(error))
        first_error = None
        if first.errors:
            head = first.errors[0].first()
            first_error = ErrorDetail(head.ajv()["instancePath"], head.message)
        errors: tuple[ErrorDetail, ...] = ()
        checked, changes = data, first.changes
        if not valid and all_errors:
            full = _AjvRun(doc, all_errors=True)
            try:
                checked = copy.deepcopy(document)
                full.run(checked)
                errors = _flatten(full.errors) or _flatten(first.errors)
                changes = full.changes
            except RecursionError:
                errors = _flatten(first.errors)
        elif not valid:
            errors = _flatten(first.errors[:1])
        hang = max(first.hangs, key=lambda h: h.seconds, default=None)
        return TraserVerdict(
            schema=ref,
            valid=valid,
            first_error=first_error,
            errors=errors,
            ajv_errors=ajv,
            changes=tuple(changes),
            document=data,
            hang=hang is not None and hang.seconds >= GATEWAY_TIMEOUT_S,
            hang_seconds=hang.seconds if hang else 0.0,
            hang_path=_json_path(hang.path) if hang else None,
            checked_document=checked,
        )

    def detect(self, document: Any) -> tuple[SchemaRef | None, list[TraserVerdict]]:
        """TRASER's own schema detection (no ``input_schema``): every schema is tried, the first match wins."""
        verdicts = [self.traser(document, ref, all_errors=False) for ref in self.pack.refs]
        return next((v.schema for v in verdicts if v.valid), None), verdicts

    # --- the verdict ------------------------------------------------------------------------------------
    def judge(
        self,
        document: Any,
        target: SchemaRef | None = None,
        mode: ValidationMode | str = ValidationMode.GATEWAY,
        *,
        text: str | None = None,
    ) -> Judgement:
        """The verdict on ``document`` against ``target``, or against the first schema that matches (the
        Gateway's detection order) when ``target`` is None.

        ``gateway`` mode judges what the Gateway will see, as its validator does, and reports every error;
        ``strict`` mode validates the document as sent (``SchemaPack.validate``) and reports what the Gateway
        will say as warnings. Either way ``schema_to_send`` is set only when ``report`` is valid.

        ``text``, the document's compact JSON (``separators=(",", ":")``, ``ensure_ascii=False``, any key
        order) when the caller has it already, saves serialising it for the fast verdict.
        """
        mode = ValidationMode(mode)
        fast = self._fast(document, target, mode, text)
        if fast is not None:
            return fast
        changes: list[Change] = []
        seen = self.preprocess(document, changes)
        if mode is ValidationMode.STRICT:
            as_sent = self.pack.validate(document, target)
            ref: SchemaRef | None = target or as_sent.schema
            verdict = self.traser(seen, ref) if ref is not None else None
            gateway = self._report(verdict, detected=False) if verdict else as_sent
        else:
            gateway, verdict, as_sent = self._gateway(document, seen, target)
        notes = self._notes(document, seen, as_sent, gateway, verdict, changes, target)
        report = as_sent if mode is ValidationMode.STRICT else self._annotate(gateway, as_sent, verdict, notes)
        send = report.schema if report.valid else None
        warnings = self._warnings(mode, report, as_sent, gateway, notes)
        return Judgement(mode, report, gateway, as_sent, send, warnings, notes, bool(verdict and verdict.hang))

    def _twin(self, ref: SchemaRef) -> _Twin | None:
        found = self._twins.get(ref, _MISSING)
        if found is _MISSING:
            engine = _rust_engine() if self.pack.fast else None
            found = _Twin(self.schema(ref), engine) if engine is not None and ref in self.pack else None
            with self._lock:
                found = self._twins.setdefault(ref, found)
        return found

    def _fast(
        self, document: Any, target: SchemaRef | None, mode: ValidationMode, text: str | None
    ) -> Judgement | None:
        """The judgement without the emulation, for a valid document the Gateway leaves as it is (see "the
        fast verdict" below); None when the emulation must decide."""
        if not self.fast:
            return None
        if text is None:
            try:
                text = json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
            except (TypeError, ValueError):
                return None
        if not _clean(text):
            return None
        checked: set[int] = set()

        def hazardous(twin: _Twin) -> bool:  # each schema's catastrophic patterns looked at once
            if not twin.hazards or id(twin) in checked:
                return False
            checked.add(id(twin))
            return twin.hazardous(document)

        if target is None and self._hdruk300 is not None:  # as _detection_hang: detection tries its pattern
            hdruk300 = self._twin(self._hdruk300)
            if hdruk300 is not None and hazardous(hdruk300):
                return None
        if mode is ValidationMode.STRICT:
            as_sent = self.pack.validate(document, target)
            ref = as_sent.schema
            twin = self._twin(ref) if as_sent.valid and ref is not None else None
            if twin is None or hazardous(twin) or not twin.valid(document):
                return None
            gateway = ValidationReport(True, ref, (), f"valid {ref} as the Gateway will judge it")
            report = as_sent
        else:
            # The candidate: the target, or the first schema in detection order whose failure is not robust.
            for matched in (target,) if target is not None else self._refs:
                twin = self._twin(matched)
                if twin is None or hazardous(twin):
                    return None
                if target is not None or not twin.fails_robustly(document):
                    break
            else:
                return None
            if not twin.valid(document):
                return None
            how = " (first match, as the Gateway detects)" if target is None else ""
            gateway = ValidationReport(True, matched, (), f"valid {matched} as the Gateway will judge it{how}")
            as_sent = ValidationReport(True, matched, (), f"valid {matched}")  # the twin is stricter than the pack
            report = gateway
        notes: tuple[QuirkNote, ...] = ()
        if report.schema in NO_TRANSLATION_PATH:
            notes = (QuirkNote(Quirk.NO_TRANSLATION, "", f"{report.schema}: {QUIRKS[Quirk.NO_TRANSLATION]}"),)
        warnings = self._warnings(mode, report, as_sent, gateway, notes)
        return Judgement(mode, report, gateway, as_sent, report.schema, warnings, notes, False)

    def _gateway(
        self, document: Any, seen: Any, target: SchemaRef | None
    ) -> tuple[ValidationReport, TraserVerdict | None, ValidationReport]:
        """The Gateway's verdict on the pre-processed document ``seen``, and the verdict on the document as
        sent against the same schema."""
        if target is not None:
            verdict = self.traser(seen, target)
            return self._report(verdict, detected=False), verdict, self.pack.validate(document, target)
        for ref in self.pack.refs:
            quick = self.traser(seen, ref, all_errors=False)
            if quick.valid:
                return self._report(quick, detected=True), quick, self.pack.validate(document, ref)
        # Nothing matches as the Gateway judges it. List the errors of the schema the document matches as
        # sent (the Gateway's behaviour is then the whole story), else of the closest schema.
        as_sent = self.pack.validate(document)
        closest = as_sent.schema
        if closest is None:  # pragma: no cover - an empty schema pack cannot be loaded
            return as_sent, None, as_sent
        verdict = self.traser(seen, closest)
        errors = verdict.errors
        summary = (
            f"matches none of the {len(self.pack.refs)} supported schemas as the Gateway judges them; "
            f"the closest is {closest} with {_count(len(errors))}"
        )
        if verdict.hang:
            summary = self._report(verdict, detected=False).summary
        return ValidationReport(False, closest, errors, summary), verdict, as_sent

    @staticmethod
    def _report(verdict: TraserVerdict, detected: bool) -> ValidationReport:
        ref = verdict.schema
        if verdict.valid:
            how = " (first match, as the Gateway detects)" if detected else ""
            return ValidationReport(True, ref, (), f"valid {ref} as the Gateway will judge it{how}")
        errors = verdict.errors
        if verdict.hang:
            return ValidationReport(
                False,
                ref,
                errors,
                f"would hang the Gateway's validator on {ref}'s revision-URL pattern at {verdict.hang_path} "
                f"(about {verdict.hang_seconds:.0f} s; the Gateway gives up after {GATEWAY_TIMEOUT_S:.0f} s), "
                f"so it is rejected here: {_count(len(errors))}",
            )
        summary = f"does not conform to {ref} as the Gateway will judge it: {_count(len(errors))}"
        return ValidationReport(False, ref, errors, summary)

    # --- explanations -----------------------------------------------------------------------------------
    def _notes(
        self,
        document: Any,
        seen: Any,
        as_sent: ValidationReport,
        gateway: ValidationReport,
        verdict: TraserVerdict | None,
        pre_changes: list[Change],
        target: SchemaRef | None,
    ) -> tuple[QuirkNote, ...]:
        notes: list[QuirkNote] = []
        same_schema = as_sent.schema == gateway.schema
        gateway_paths = {e.path for e in gateway.errors}
        sent_paths = {e.path for e in as_sent.errors} if same_schema else set()
        judged_differently = gateway_paths ^ sent_paths
        final = verdict.checked_document if verdict is not None else seen
        by_path: dict[Path_, list[Change]] = {}
        for change in [*pre_changes, *(verdict.changes if verdict else ())]:
            by_path.setdefault(change.path, []).append(change)

        # What the Gateway did to a value, where that value is judged differently.
        explained: set[str] = set()
        for path, changes in by_path.items():
            where = _json_path(path)
            if not any(_affects(where, p) for p in judged_differently):
                continue
            before, after = _lookup(document, path), _lookup(final, path)
            if before is not _MISSING and after is not _MISSING and _same_json(before, after):
                continue  # changed and changed back (e.g. null -> "" -> null across anyOf branches)
            rejected = any(_affects(where, p) for p in gateway_paths)
            notes.append(_change_note(where, changes, before, after, rejected))
            explained.add(where)
        # Strict errors the Gateway does not raise although it changed nothing there: Ajv reads them differently.
        if same_schema:
            text = "a strict validator rejects this value; the Gateway's validator (Ajv 8, ajv-formats 2) accepts it."
            for error_path in sorted(sent_paths - gateway_paths):
                if not any(_affects(w, error_path) or _affects(error_path, w) for w in explained):
                    notes.append(QuirkNote(Quirk.AJV_VALIDATOR, error_path, text, True, "its validator accepts it"))
        encoded = [c for c in pre_changes if c.quirk is Quirk.HTML_ENTITIES and c.where not in explained]
        if encoded:
            sample = min(encoded, key=lambda c: len(str(c.before)))
            before, after = _excerpts(str(sample.before), str(sample.after))
            notes.append(
                QuirkNote(
                    Quirk.HTML_ENTITIES,
                    sample.where,
                    f"the Gateway will store {_count(len(encoded), 'text value')} HTML-encoded, e.g. "
                    f"{before} as {after} (this does not affect validation).",
                )
            )
        if verdict is not None and verdict.hang:
            brief = f"about {verdict.hang_seconds:.0f} s of backtracking; the Gateway gives up after 30 s"
            notes.append(QuirkNote(Quirk.REGEX_HANG, verdict.hang_path or "", QUIRKS[Quirk.REGEX_HANG], True, brief))
        elif target is None and gateway.valid:
            hang = self._detection_hang(seen)
            if hang is not None:
                notes.append(QuirkNote(Quirk.DETECTION_HANG, hang, QUIRKS[Quirk.DETECTION_HANG]))
        sending = gateway.schema if gateway.valid else as_sent.schema if as_sent.valid else None
        if sending in NO_TRANSLATION_PATH:
            notes.append(QuirkNote(Quirk.NO_TRANSLATION, "", f"{sending}: {QUIRKS[Quirk.NO_TRANSLATION]}"))
        return tuple(notes)

    def _detection_hang(self, seen: Any) -> str | None:
        """Where HDRUK 3.0.0's revision-URL pattern would hang the Gateway's own schema detection."""
        hdruk300 = SchemaRef("HDRUK", "3.0.0")
        if hdruk300 not in self.pack:
            return None
        verdict = self.traser(seen, hdruk300, all_errors=False)
        return verdict.hang_path if verdict.hang else None

    @staticmethod
    def _annotate(
        report: ValidationReport,
        as_sent: ValidationReport,
        verdict: TraserVerdict | None,
        notes: tuple[QuirkNote, ...],
    ) -> ValidationReport:
        """Each error names the Gateway behaviour responsible; the summary says when the document as sent
        and the Gateway disagree."""
        if report.valid:
            return report
        decisive = [n for n in notes if n.decisive and n.path]
        errors = []
        for error in report.errors:
            note = next((n for n in decisive if _affects(n.path, error.path)), None)
            errors.append(ErrorDetail(error.path, f"{error.message} (Gateway: {note.brief})") if note else error)
        summary = report.summary
        if as_sent.valid and as_sent.schema == report.schema and not (verdict and verdict.hang):
            causes = list(dict.fromkeys(_QUIRK_SHORT[n.quirk] for n in decisive))
            because = f" because {' and '.join(causes)}" if causes else ""
            summary = (
                f"is valid {report.schema} as sent, but the Gateway would reject it{because}: {_count(len(errors))}"
            )
        return ValidationReport(report.valid, report.schema, tuple(errors), summary)

    @staticmethod
    def _warnings(
        mode: ValidationMode,
        report: ValidationReport,
        as_sent: ValidationReport,
        gateway: ValidationReport,
        notes: tuple[QuirkNote, ...],
    ) -> tuple[str, ...]:
        out: list[str] = []
        if mode is ValidationMode.STRICT and report.valid and not gateway.valid:
            head = "; ".join(f"{e.path} {e.message.rstrip('.')}" for e in gateway.errors[:3])
            more = f" (and {len(gateway.errors) - 3} more)" if len(gateway.errors) > 3 else ""
            out.append(f"Valid as sent, but the Gateway will reject it: {head}{more}.")
        if mode is ValidationMode.GATEWAY and report.valid and not as_sent.valid and as_sent.schema == report.schema:
            out.append(
                f"Not valid {report.schema} as written ({_count(len(as_sent.errors))}), but the Gateway accepts it "
                "after its own clean-up; fix the file so that it does not depend on that."
            )
        for note in notes:
            text = f"Gateway: {note}"
            if text not in out:
                out.append(text)
        return tuple(out[:20])


_MISSING: Any = object()


def _lookup(document: Any, path: Path_) -> Any:
    node = document
    for part in path:
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return _MISSING
    return node


def _same_json(a: Any, b: Any) -> bool:
    return _js_equal(a, b) and _js_type(a) == _js_type(b)


def _flat_ajv(error: _Error) -> Iterator[_Error]:
    """Ajv's ``errors`` array: a failed anyOf's alternatives first, then the anyOf error itself."""
    for branch in error.branches:
        for sub in branch:
            yield from _flat_ajv(sub)
    yield error


def _affects(where: str, error_path: str) -> bool:
    """An error at ``error_path`` concerns the value at ``where`` (the same value or one inside it)."""
    return error_path == where or error_path.startswith(where + ".") or error_path.startswith(where + "[")


_VERBS: Mapping[Quirk, str] = {
    Quirk.TRIM: "the Gateway trims it",
    Quirk.EMPTY_TO_NULL: 'the Gateway turns "" into null',
    Quirk.HTML_ENTITIES: "the Gateway HTML-encodes it (integrations routes)",
    Quirk.PHP_ARRAYS: "the Gateway (PHP) turns {} into []",
    Quirk.AJV_DEFAULTS: "the Gateway's validator inserts the schema default",
    Quirk.AJV_COERCION: "the Gateway's validator coerces its type",
}


def _excerpts(before: str, after: str, context: int = 20) -> tuple[str, str]:
    """The two strings around their first difference, quoted."""
    start = next(
        (i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b), min(len(before), len(after))
    )
    tail = next(
        (i for i, (a, b) in enumerate(zip(reversed(before), reversed(after), strict=False)) if a != b),
        min(len(before), len(after)),
    )
    lo = max(0, start - context)

    def cut(text: str) -> str:
        hi = min(len(text), max(len(text) - tail + context, start + 1))
        return json.dumps(("…" if lo else "") + text[lo:hi] + ("…" if hi < len(text) else ""), ensure_ascii=False)

    return cut(before), cut(after)


def _change_note(where: str, changes: list[Change], before: Any, after: Any, rejected: bool) -> QuirkNote:
    """What the Gateway did to the value at ``where``, and what to do about it."""
    kinds = list(dict.fromkeys(c.quirk for c in changes))
    sent = "missing" if before is _MISSING else f"sent as {_show(before)}"
    judged = "absent" if after is _MISSING else _show(after)
    brief = f"{sent}, validated as {judged}: {', then '.join(_VERBS[k] for k in kinds)}"
    if not rejected:
        text = f"{brief}; it accepts the result. Fix the file so that it is valid as written."
    elif Quirk.HTML_ENTITIES in kinds:
        text = (
            f"{brief}; it rejects the result. Choose another allowed value, or publish through /api/v1/datasets, "
            "which does not encode input (GAT-7839)."
        )
    elif Quirk.AJV_DEFAULTS in kinds:
        default = next(c.after for c in changes if c.quirk is Quirk.AJV_DEFAULTS)
        text = (
            f"{brief}; the schema default {_show(default)} fails the schema's own rules, so every document "
            f"without it is rejected. Add {where.removeprefix('$.')} with a valid value."
        )
    elif Quirk.PHP_ARRAYS in kinds:
        text = f"{brief}; it rejects the result. Leave the field out, or use null where the schema allows it."
    else:
        text = f"{brief}; it rejects the result. Give it a value that is valid as written."
    quirk = next(q for q in _VERBS if q in kinds)
    return QuirkNote(quirk, where, text, True, brief)


# --- TRASER for the Gateway emulator ---------------------------------------------------------------------


@dataclass(frozen=True)
class _TraserReport:
    valid: bool
    schema: SchemaRef | None
    errors: tuple[ErrorDetail, ...]
    ajv_errors: tuple[dict[str, Any], ...] = ()
    document: Any = None
    hang: bool = False
    hang_seconds: float = 0.0
    explanation: str = ""


@dataclass
class TraserEmulation:
    """TRASER as the Gateway emulator needs it (``validate(document, target)``), judged by :class:`GatewayJudge`.

    The document is taken as TRASER receives it (the emulator has already applied the Gateway's
    pre-processing). ``target`` None means TRASER's detection: every schema is tried (so a hang on any of
    them hangs the request), the first match wins. Each report carries Ajv's errors, the mutated document
    and whether TRASER would hang.
    """

    pack: SchemaPack
    judge: GatewayJudge = field(init=False)

    def __post_init__(self) -> None:
        self.judge = judge_for(self.pack)

    @property
    def refs(self) -> list[SchemaRef]:
        return self.pack.refs

    def __contains__(self, ref: object) -> bool:
        return ref in self.pack

    def validate(self, document: Any, target: SchemaRef | None = None) -> _TraserReport:
        if target is not None:
            verdict = self.judge.traser(document, target)
            return _traser_report(verdict, verdict.schema if verdict.valid else target)
        matched, verdicts = self.judge.detect(document)
        hung = next((v for v in verdicts if v.hang), None)
        if hung is not None:
            return _traser_report(hung, None)
        chosen = next((v for v in verdicts if v.valid), None)
        if chosen is None:
            return _TraserReport(False, None, ())
        return _traser_report(chosen, matched)


def _traser_report(verdict: TraserVerdict, schema: SchemaRef | None) -> _TraserReport:
    errors = verdict.errors
    if verdict.first_error is not None and errors:
        # TRASER reports Ajv's first error; keep it first, in this package's wording.
        first = next((e for e in errors if _pointer(e.path) == verdict.first_error.path), None)
        if first is not None:
            errors = (first, *(e for e in errors if e is not first))
    explanation = QUIRKS[Quirk.REGEX_HANG] if verdict.hang else ""
    return _TraserReport(
        verdict.valid,
        schema,
        errors,
        verdict.ajv_errors,
        verdict.document,
        verdict.hang,
        verdict.hang_seconds,
        explanation,
    )


def _pointer(path: str) -> str:
    text = re.sub(r"\[(\d+)\]", r".\1", path[1:] if path.startswith("$") else path)
    return "".join(f"/{p}" for p in text.split(".") if p)


# --- the fast verdict ------------------------------------------------------------------------------------
# The emulation above walks the document in Python: seconds for a 10 MB document. Most documents need none
# of it. When the Gateway's pre-processing changes nothing (``_CLEAN``), no value can hang TRASER, and
# jsonschema-rs finds the document valid against a *stricter twin* of the schema, TRASER accepts it too; the
# verdict then costs a few jsonschema-rs passes. The twin keeps every keyword and adds: each ``pattern`` in its
# JavaScript meaning (as ``_js_regex`` reads it) beside its meaning for jsonschema, each ``format`` as the
# regular expressions of both ajv-formats and jsonschema (never more lenient than either), and every property
# whose schema ``default`` Ajv would insert and then reject (CRUK 1.0.0's ``leadResearcher``) as required. So
# a twin-valid document is valid as sent and as TRASER judges it. Ajv's leniency (coercion, defaults) can only
# accept more, never less, for the keywords the pack uses; schemas with keywords where that does not hold
# (oneOf, not, if, uniqueItems, dependencies, ...) get no twin. Schemas earlier in detection order are passed
# over only with a *robust* Ajv failure (a required property without a default, an additional property, a
# container where a scalar is due or the reverse), which coercion and defaults cannot mend. Anything else,
# and every invalid document, takes the emulation, so errors and explanations are unchanged.
# ``tests/integration/test_gateway_fast_verdict.py`` holds the two paths to the same judgement.

# A string the Gateway's pre-processing would change shows in compact JSON (``separators=(",", ":")``,
# non-ASCII as is) as one of these: an HTML-encoded character or a quote, an empty string, a space or an
# escape at either end (or a control character anywhere), and the PHP re-encoding of ``{}`` and
# ``{"0": ...}``. Keys and string contents can match too: that only costs speed.
_NOT_CLEAN_LITERALS = (
    "&", "'", "<", ">", '\\"', '""', '" ', ' "', '"\\', '\\b"', '\\f"', '\\n"', '\\r"', '\\t"', "\\u00", "{}",
    '{"0":',
)  # fmt: skip
_NOT_CLEAN = re2.compile("|".join(re.escape(literal) for literal in _NOT_CLEAN_LITERALS))
_HDRUK_300 = SchemaRef("HDRUK", "3.0.0")
_TWIN_BLOCKERS = frozenset(
    {"oneOf", "not", "if", "then", "else", "uniqueItems", "dependencies", "dependentSchemas",
     "dependentRequired", "propertyNames", "patternProperties", "contains", "unevaluatedProperties",
     "unevaluatedItems", "$recursiveRef", "$dynamicRef", "additionalItems", "prefixItems", "maxProperties",
     "minProperties"}
)  # fmt: skip
# ajv-formats 2.1.1 "full", as regular expressions that accept a subset of what it accepts (no year 0000, no
# leap second, "T", "t" or a space between date and time): exact enough, and never more lenient.
_AJV_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?(?:[zZ]|[+-][0-9]{2}(?::?[0-9]{2})?)?"
_AJV_URI = _URI.pattern.replace("a-z", "a-zA-Z").replace("a-f", "a-fA-F")  # its "i" flag, spelled out
_AJV_FORMATS: Mapping[str, tuple[dict[str, str], ...]] = {
    "date": ({"pattern": f"^{_SP_DATE}$"},),
    "date-time": ({"pattern": f"^{_SP_DATE}[Tt ]{_AJV_TIME}$"},),
    "uri": ({"pattern": "[/:]"}, {"pattern": f"^(?:{_AJV_URI})$"}),
    "email": ({"pattern": _EMAIL.pattern},),
}
_TWIN_SECONDS = 1.0  # a value that could keep a catastrophic pattern busy this long goes to the emulation


class _NoTwin(Exception):
    """The schema uses something for which a jsonschema-rs verdict cannot stand in for Ajv's."""


def _clean(text: str) -> bool:
    """Whether the Gateway's pre-processing leaves the document whose compact JSON is ``text`` unchanged.
    Non-ASCII text is never clean (``htmlentities`` encodes from U+00A0 on)."""
    return text.isascii() and _NOT_CLEAN.search(text) is None


class _Twin:
    """The fast verdict of one schema: its stricter twin for jsonschema-rs, the places where a catastrophic
    pattern applies, and the robust-failure check used to pass over it during detection."""

    def __init__(self, doc: _SchemaDoc, engine: Any) -> None:
        self.doc = doc
        self._engine = engine
        self._with_default = self._defaulted(doc.root)
        self.hazards = self._hazards()
        self._validators: dict[str, Any] = {}  # "twin" and "core", built on first use (None: cannot be built)
        self._lock = threading.Lock()

    def _verdict(self, name: str, build: Callable[[], Any], document: Any) -> bool | None:
        """jsonschema-rs's verdict on ``document`` from validator ``name`` (made by ``build`` on first use);
        None when it cannot be built or cannot take the document (the emulation then decides)."""
        validator = self._validators.get(name, _MISSING)
        if validator is _MISSING:
            with self._lock:
                if name not in self._validators:
                    try:
                        self._validators[name] = build()
                    except (_NoTwin, _Inexact, ValueError):  # ValueError: jsonschema-rs refused the schema
                        self._validators[name] = None
                validator = self._validators[name]
        if validator is None:
            return None
        try:
            return bool(validator.is_valid(document))
        except Exception:  # noqa: BLE001 - e.g. a lone surrogate
            return None

    def valid(self, document: Any) -> bool | None:
        """jsonschema-rs's verdict on ``document`` against the twin; None when the schema has no twin or the
        engine cannot take the document."""
        return self._verdict(
            "twin",
            lambda: self._engine.Draft202012Validator(
                self._twin(self.doc.root), validate_formats=False, pattern_options=self._engine.RegexOptions()
            ),
            document,
        )

    # the twin ------------------------------------------------------------------------------------------
    def _twin(self, schema: Any) -> Any:
        if not isinstance(schema, dict):
            return schema
        if "$id" in schema and schema is not self.doc.root:
            raise _NoTwin("nested $id")
        out: dict[str, Any] = {}
        extra: list[dict[str, Any]] = []
        formats = _format_patterns()
        for key, value in schema.items():
            if key in _TWIN_BLOCKERS:
                raise _NoTwin(key)
            if key == "pattern" and isinstance(value, str):
                extra += [{"pattern": _rust_pattern(value)}, {"pattern": _js_to_re2(value)}]
            elif key == "format" and isinstance(value, str):
                if value not in formats or (value in _FORMATS and value not in _AJV_FORMATS):
                    raise _NoTwin(f"format {value!r} has no regular expression here")
                if formats[value] is not None:
                    extra.append(dict(formats[value] or {}))
                extra.extend(dict(p) for p in _AJV_FORMATS.get(value, ()))
            elif key == "$schema":
                continue  # the twin is read as 2020-12 ($ref beside other keywords applies, as in Ajv 8)
            elif key == "items" and isinstance(value, list):
                raise _NoTwin("items as a list")
            elif key in _SCHEMA_MAP and isinstance(value, dict):
                out[key] = {name: self._twin(sub) for name, sub in value.items()}
            elif key in _SCHEMA_LIST and isinstance(value, list):
                out[key] = [self._twin(sub) for sub in value]
            elif key in _SCHEMA_VALUE:
                out[key] = self._twin(value)
            else:
                out[key] = value
        properties = schema.get("properties")
        if isinstance(properties, dict):
            rejected = [
                name
                for name, sub in properties.items()
                if isinstance(sub, dict) and "default" in sub and not self._default_passes(sub)
            ]
            if rejected:
                out["required"] = list(dict.fromkeys([*schema.get("required", []), *rejected]))
        if extra:
            out["allOf"] = [*out.get("allOf", []), *extra]
        return out

    def _default_passes(self, sub: Mapping[str, Any]) -> bool:
        """Whether Ajv accepts the ``default`` it inserts for a missing property with schema ``sub``."""
        holder = {"value": copy.deepcopy(sub["default"])}
        run = _AjvRun(self.doc)
        try:
            valid, _ = run._node(sub, holder["value"], holder, "value", ("value",), False, "#")
        except RecursionError:  # pragma: no cover - defaults are small
            return False
        return valid and not run.hangs

    @staticmethod
    def _defaulted(root: Any) -> frozenset[str]:
        """Every property name that has a ``default`` somewhere in the schema (Ajv may insert it)."""
        names: set[str] = set()

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                properties = node.get("properties")
                if isinstance(properties, dict):
                    names.update(k for k, v in properties.items() if isinstance(v, dict) and "default" in v)
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(root)
        return frozenset(names)

    # catastrophic patterns -----------------------------------------------------------------------------
    def _hazards(self) -> tuple[tuple[tuple[str, ...], Callable[[str], float]], ...]:
        """(instance path template, cost estimate) for each place a catastrophic pattern applies; ``*``
        stands for any array index or additional property."""
        found: dict[tuple[str, ...], Callable[[str], float]] = {}
        seen: set[tuple[int, tuple[str, ...]]] = set()
        text = json.dumps(self.doc.root)
        if not any(json.dumps(pattern) in text for pattern in _CATASTROPHIC):
            return ()

        def walk(node: Any, where: tuple[str, ...]) -> None:
            if not isinstance(node, dict) or len(where) > 24 or (id(node), where) in seen:
                return
            seen.add((id(node), where))
            pattern = node.get("pattern")
            if isinstance(pattern, str) and pattern in _CATASTROPHIC:
                found[where] = _CATASTROPHIC[pattern]
            ref = node.get("$ref")
            if isinstance(ref, str):
                try:
                    walk(self.doc._pointer(ref), where)
                except LookupError:
                    pass
            for key in ("allOf", "anyOf", "oneOf"):
                for sub in node.get(key, ()) if isinstance(node.get(key), list) else ():
                    walk(sub, where)
            for key in ("not", "if", "then", "else"):
                walk(node.get(key), where)
            for name, sub in (node.get("properties") or {}).items():
                walk(sub, (*where, name))
            for key in ("items", "additionalProperties", "contains", "additionalItems"):
                value = node.get(key)
                for sub in value if isinstance(value, list) else [value]:
                    walk(sub, (*where, "*"))

        walk(self.doc.root, ())
        return tuple(found.items())

    def hazardous(self, document: Any) -> bool:
        """Whether some value where a catastrophic pattern applies could keep Node's engine busy."""
        for template, cost in self.hazards:
            for value in _values_at(document, template):
                if isinstance(value, str) and cost(value) >= _TWIN_SECONDS:
                    return True
        return False

    # detection: a failure Ajv cannot mend --------------------------------------------------------------
    def fails_robustly(self, document: Any) -> bool:
        """True only when Ajv certainly rejects ``document`` whatever it coerces or inserts: jsonschema-rs finds
        it invalid against the schema's *robust core* (see :meth:`_core`); False means "not shown"."""
        core = self._verdict("core", lambda: self._engine.Draft202012Validator(self._core(self.doc.root)), document)
        return core is False

    def _core(self, schema: Any) -> Any:
        """The keywords whose failure neither coercion nor defaults can mend: ``required`` (less every name
        that has a default anywhere), ``additionalProperties: false`` with its ``properties``, and ``type`` as
        far as containers go (a scalar where only containers are allowed, or a container where it is not
        listed); through ``properties``, ``additionalProperties``, ``items``, ``allOf``, ``anyOf`` and ``$ref``.
        Everything else is dropped, so a document invalid against the core is invalid for Ajv."""
        if not isinstance(schema, dict):
            return schema
        out: dict[str, Any] = {}
        types = _schema_types(schema)
        if "type" in schema and types:
            containers = [t for t in types if t in ("object", "array")]
            scalars = len(containers) < len(types)
            out["type"] = [*containers, "string", "number", "boolean", "null"] if scalars else [*containers, "null"]
        required = schema.get("required")
        if isinstance(required, list):
            kept = [name for name in required if isinstance(name, str) and name not in self._with_default]
            if kept:
                out["required"] = kept
        properties = schema.get("properties")
        if isinstance(properties, dict):
            out["properties"] = {name: self._core(sub) for name, sub in properties.items()}
        extra = schema.get("additionalProperties")
        if "patternProperties" not in schema and (extra is False or isinstance(extra, dict)):
            out["additionalProperties"] = self._core(extra)
        if isinstance(schema.get("items"), dict):
            out["items"] = self._core(schema["items"])
        for key in ("allOf", "anyOf"):
            if isinstance(schema.get(key), list):
                out[key] = [self._core(sub) for sub in schema[key]]
        if isinstance(schema.get("$ref"), str):
            out["$ref"] = schema["$ref"]
        for key in ("$defs", "definitions"):
            if schema is self.doc.root and isinstance(schema.get(key), dict):
                out[key] = {name: self._core(sub) for name, sub in schema[key].items()}
        return out


def _values_at(document: Any, template: tuple[str, ...]) -> Iterator[Any]:
    if not template:
        yield document
        return
    head, rest = template[0], template[1:]
    if head == "*":
        children = document if isinstance(document, list) else document.values() if isinstance(document, dict) else ()
        for child in children:
            yield from _values_at(child, rest)
    elif isinstance(document, dict) and head in document:
        yield from _values_at(document[head], rest)


_JUDGES: weakref.WeakKeyDictionary[SchemaPack, GatewayJudge] = weakref.WeakKeyDictionary()
_JUDGES_LOCK = threading.Lock()


def judge_for(pack: SchemaPack) -> GatewayJudge:
    """The :class:`GatewayJudge` of ``pack`` (one per pack, built on first use)."""
    with _JUDGES_LOCK:
        judge = _JUDGES.get(pack)
        if judge is None:
            judge = GatewayJudge(pack)
            _JUDGES[pack] = judge
        return judge


# --- for people ------------------------------------------------------------------------------------------


def explain(judgement: Judgement, max_errors: int = 50) -> list[str]:
    """Lines a person can read: the verdict, every error, and each Gateway behaviour met with its fix.

    For the CLI ``validate`` command: print them one per line.
    """
    report = judgement.report
    lines: list[str] = []
    mode = "as the Gateway will judge it" if judgement.mode is ValidationMode.GATEWAY else "as sent (strict)"
    if report.valid:
        send = judgement.schema_to_send
        lines.append(f"VALID {report.schema} {mode}.")
        if send is not None:
            lines.append(f"It will be sent with input_schema={send.name}&input_version={send.version}.")
    else:
        lines.append(f"INVALID: the document {report.summary}.")
        for error in report.errors[:max_errors]:
            lines.append(f"  {error.path}: {error.message}")
        if len(report.errors) > max_errors:
            lines.append(f"  ... and {len(report.errors) - max_errors} more")
    other = judgement.as_sent if judgement.mode is ValidationMode.GATEWAY else judgement.gateway
    if other.valid != report.valid or (other.schema != report.schema and other.valid):
        who = "As sent (strict)" if judgement.mode is ValidationMode.GATEWAY else "The Gateway"
        verdict = f"valid {other.schema}" if other.valid else f"rejects it ({_count(len(other.errors))})"
        lines.append(f"{who}: {verdict}.")
        if judgement.mode is ValidationMode.STRICT and not other.valid:
            lines.extend(f"  {e.path}: {e.message}" for e in other.errors[:max_errors])
    if judgement.notes:
        lines.append("Gateway behaviour met:")
        for note in judgement.notes:
            lines.append(f"  - {note}")
    return lines
