"""JavaScript value semantics as Ajv sees them: types, equality, number to string and back, coercion, keys."""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from hdr_ingest.core.document import json_type

_JSON_VALUES = (bool, int, float, str, list, dict)


def js_type(value: Any) -> str:
    """``json_type``, and ``undefined`` for what no JSON value is (a missing value's marker)."""
    return json_type(value) if value is None or isinstance(value, _JSON_VALUES) else "undefined"


def is_type(name: str, value: Any) -> bool:
    kind = js_type(value)
    if name == "integer":
        return kind == "number" and (isinstance(value, int) or (math.isfinite(value) and float(value).is_integer()))
    return kind == name


def js_equal(a: Any, b: Any) -> bool:
    """``===`` for primitives, fast-deep-equal for objects and arrays."""
    kind = js_type(a)
    if kind != js_type(b):
        return False
    if kind == "array":
        return len(a) == len(b) and all(js_equal(x, y) for x, y in zip(a, b, strict=True))
    if kind == "object":
        return a.keys() == b.keys() and all(js_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def json_copy(value: Any) -> Any:
    """A deep copy of a JSON value (dicts, lists, immutable scalars), several times faster than
    ``copy.deepcopy``, which memoises every object to keep shared references shared: a document decoded from
    JSON has none. Anything else is handed to ``copy.deepcopy``."""
    kind = type(value)
    if kind is dict:
        return {key: json_copy(item) for key, item in value.items()}
    if kind is list:
        return [json_copy(item) for item in value]
    if kind in (str, int, float, bool) or value is None:
        return value
    return copy.deepcopy(value)


def js_equal_key(value: Any) -> Any:
    """A hashable key that two values share exactly when :func:`js_equal` holds between them (numbers compare
    as Python compares them, ``1 == 1.0``; a boolean is never a number; object keys in any order)."""
    kind = js_type(value)
    if kind == "array":
        return (kind, tuple(js_equal_key(item) for item in value))
    if kind == "object":
        return (kind, frozenset((key, js_equal_key(item)) for key, item in value.items()))
    if kind == "undefined":
        return (kind, id(value))  # not JSON: equal only to itself
    return (kind, value)


def js_number_to_string(number: float) -> str:
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


JS_WHITESPACE = (
    "\t\n\x0b\x0c\r \u00a0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_JS_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_JS_RADIX = re.compile(r"0([xXoObB])([0-9a-fA-F]+)", re.ASCII)


def js_to_number(text: str) -> float:
    """JavaScript ``+text`` (``Number(text)``); NaN when it is not a number."""
    body = text.strip(JS_WHITESPACE)
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


NO_COERCION = object()
COERCIBLE = ("string", "number", "integer", "boolean", "null")


def coerce(value: Any, targets: Sequence[str]) -> Any:
    """Ajv ``coerceTypes: true``: the first target type ``value`` converts to, else ``NO_COERCION``."""
    kind = js_type(value)
    for target in targets:
        if target == "string":
            if kind == "number":
                return js_number_to_string(value)
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
                number = js_to_number(value)
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
    return NO_COERCION


def js_key(value: Any) -> str:
    """How JavaScript turns a primitive into an object key (``String(value)``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return js_number_to_string(value)
    return str(value)


def js_key_order(data: Mapping[str, Any]) -> list[str]:
    """``for (key in object)``: integer-like keys first, ascending, then the others in insertion order."""
    numeric = [k for k in data if k.isdigit() and k.isascii() and (k == "0" or not k.startswith("0"))]
    if not numeric:
        return list(data)
    numeric.sort(key=lambda k: (len(k), k))  # numeric order, without int() (slow and capped for long digit runs)
    first = set(numeric)
    return numeric + [k for k in data if k not in first]
