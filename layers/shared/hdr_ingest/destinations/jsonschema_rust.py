r"""jsonschema-rs (Rust), the fast engine every judge shares: the engine itself (:func:`engine`, None when it is not
installed), schemas rewritten to mean on it what they mean on pure-Python ``jsonschema`` with RE2 patterns
(:func:`rust_pattern`, :func:`rust_schema`, :func:`format_patterns`), and :class:`FastSchema`, one schema compiled
once with a validator for each of its ``$ref`` targets. Validators are built once per container by their owners
(``hdruk.schema_pack.SchemaPack``, ``hdruk.judge``) and reused for every document.

Patterns run on Rust's linear-time ``regex`` engine, so nothing here can hang.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Callable
from functools import lru_cache
from types import ModuleType
from typing import Any

__all__ = [
    "DATE",
    "SCHEMA_LIST",
    "SCHEMA_MAP",
    "SCHEMA_VALUE",
    "URI",
    "FastSchema",
    "Inexact",
    "engine",
    "format_patterns",
    "is_draft7",
    "rust_pattern",
    "rust_schema",
]

DRAFT7_URI = "http://json-schema.org/draft-07/schema"


def is_draft7(schema: Any) -> bool:
    """Whether ``jsonschema.validators.validator_for`` picks Draft 7 for ``schema``. Any other draft is
    validated as 2020-12, the dialect the pydantic-generated schemas (no ``$schema``) are written in."""
    from urllib.parse import urlsplit

    declared = schema.get("$schema") if isinstance(schema, dict) else None
    return isinstance(declared, str) and urlsplit(declared).geturl() == DRAFT7_URI


# --- the engine, and patterns made to mean what they mean on RE2 ----------------------------------------


@lru_cache(maxsize=1)
def engine() -> ModuleType | None:
    """``jsonschema_rs``, or None when it is not installed (everything then runs in pure Python)."""
    try:
        import jsonschema_rs
    except ImportError:  # pragma: no cover - the layer ships it; pure Python is the fallback
        return None
    return jsonschema_rs


class Inexact(Exception):
    """A schema the fast engine cannot judge exactly as the pure-Python engine does."""


# RE2's classes (ASCII only), as ranges that every engine reads the same way. In jsonschema-rs ``\s``
# follows ECMA-262 and also matches \v, NBSP and other Unicode spaces; RE2's ``\s`` is [\t\n\f\r ].
_CLASS_ESCAPES = {"d": "0-9", "w": "0-9A-Za-z_", "s": "\\t\\n\\f\\r "}
_PLAIN_ESCAPES = frozenset("tnrfv")


def rust_pattern(pattern: str) -> str:  # noqa: C901 - a regex translator, one branch per syntax
    """``pattern`` rewritten so that Rust's ``regex`` (through jsonschema-rs) matches exactly what RE2
    matches; raises :class:`Inexact` for constructs with no exact, engine-independent spelling."""
    out: list[str] = []
    in_class = False
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "\\":
            if i + 1 >= n:
                raise Inexact(f"trailing backslash in {pattern!r}")
            escaped = pattern[i + 1]
            if escaped in _CLASS_ESCAPES:
                ranges = _CLASS_ESCAPES[escaped]
                out.append(ranges if in_class else f"[{ranges}]")
            elif escaped.lower() in _CLASS_ESCAPES and not in_class:
                out.append(f"[^{_CLASS_ESCAPES[escaped.lower()]}]")
            elif escaped in _PLAIN_ESCAPES or (escaped.isascii() and not escaped.isalnum() and escaped != "_"):
                out.append(char + escaped)
            else:  # \b \B \p \x \u \0-\9 (back-references), negated classes inside a class, ...
                raise Inexact(f"escape \\{escaped} in {pattern!r}")
            i += 2
            continue
        if in_class:
            if char == "[" or pattern.startswith(("&&", "--", "~~"), i):
                raise Inexact(f"nested class or class set operation in {pattern!r}")  # POSIX/Rust only
            if char == "]":
                in_class = False
        elif char == "[":
            in_class = True
            start = i + 2 if pattern.startswith("[^", i) else i + 1
            if pattern.startswith("]", start):
                raise Inexact(f"class starting with ']' in {pattern!r}")  # a literal in RE2, not in ECMA
            out.append(pattern[i:start])
            i = start
            continue
        elif char == "{" and pattern.startswith("{,", i):
            raise Inexact(f"'{{,' in {pattern!r}")  # a literal in RE2, a repetition elsewhere
        out.append(char)
        i += 1
    if in_class:
        raise Inexact(f"unterminated class in {pattern!r}")
    return "".join(out)


# Keywords whose value is a schema, a list of schemas, or a map of names to schemas. Everything else
# (enum, const, default, examples, annotations) is data and is never rewritten.
SCHEMA_VALUE = frozenset(
    {
        "not", "if", "then", "else", "items", "additionalItems", "additionalProperties", "contains",
        "propertyNames", "unevaluatedItems", "unevaluatedProperties", "contentSchema",
    }
)  # fmt: skip
SCHEMA_LIST = frozenset({"allOf", "anyOf", "oneOf", "prefixItems", "items"})
SCHEMA_MAP = frozenset({"properties", "$defs", "definitions", "dependentSchemas", "dependencies"})


def rust_schema(schema: Any, formats: dict[str, dict[str, Any] | None], callbacks: set[str]) -> Any:
    """A copy of ``schema`` for jsonschema-rs: every ``pattern`` rewritten by :func:`rust_pattern`, every
    ``format`` listed in ``formats`` replaced by its equivalent (None: jsonschema does not check it), the
    names of the other formats (and of those the equivalents still use) collected into ``callbacks``."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    replacement: dict[str, Any] | None = None
    for key, value in schema.items():
        if key == "pattern" and isinstance(value, str):
            out[key] = rust_pattern(value)
        elif key == "patternProperties":
            raise Inexact("patternProperties (pure-Python jsonschema matches them with Python's re)")
        elif key == "format" and isinstance(value, str):
            if value in formats:
                replacement = formats[value]
                callbacks.update(_formats_in(replacement))
            else:
                callbacks.add(value)
                out[key] = value
        elif key in SCHEMA_MAP and isinstance(value, dict):
            out[key] = {name: rust_schema(sub, formats, callbacks) for name, sub in value.items()}
        elif key in SCHEMA_LIST and isinstance(value, list):
            out[key] = [rust_schema(sub, formats, callbacks) for sub in value]
        elif key in SCHEMA_VALUE:
            out[key] = rust_schema(value, formats, callbacks)
        else:
            out[key] = value
    if replacement is not None:
        if list(replacement) == ["pattern"] and "pattern" not in out:
            out["pattern"] = replacement["pattern"]
        else:
            out["allOf"] = [*out.get("allOf", []), replacement]
    return out


def _formats_in(schema: Any) -> set[str]:
    if isinstance(schema, dict):
        found = {schema["format"]} if isinstance(schema.get("format"), str) else set()
        return found.union(*(_formats_in(value) for value in schema.values()))
    if isinstance(schema, list):
        return set().union(*(_formats_in(value) for value in schema))
    return set()


# --- formats --------------------------------------------------------------------------------------------
# jsonschema-rs's own format checks are stricter than jsonschema's (it rejects "a b@c" as an e-mail address,
# accepts the date 0000-01-01 and the leap second 23:59:60), and calling back into Python for each value
# costs microseconds. So each format jsonschema checks becomes a regular expression that accepts exactly the
# strings jsonschema accepts (jsonschema 4.26, jsonschema/_format.py, with the layer's packages); the unit
# tests hold both to the same samples. Other formats are checked by jsonschema itself, through a callback.

_YEAR = "(?:[0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})"  # 0001-9999
_LEAP_YEAR = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_MONTH_DAY = (
    "(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    "|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
# "date": ^\d{4}-\d{2}-\d{2}$ (ASCII) and datetime.date.fromisoformat() accepts it: a real calendar day.
DATE = f"(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
# "date-time": rfc3339_validator on value.upper(), whose ``$`` also accepts one final newline.
_TIME = "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"


# "uri": rfc3986_validator's URI_RE (rfc3986-validator 0.1.1), spelled out from RFC 3986's grammar as that
# package spells it (the unit tests check that the two expressions are identical).
_PCT = "%[0-9A-Fa-f]{2}"
_SUB = "a-zA-Z0-9_.~\\-!$&'()*+,;="  # unreserved and sub-delims, inside [...]
_PCHAR = f"(?:[{_SUB}:@]|{_PCT})"
_QUERY = f"(?:[{_SUB}:@/?]|{_PCT})*"
_OCTET = "(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)"
_IPV4 = f"(?:{_OCTET}\\.){{3}}{_OCTET}"
_H16 = "[0-9A-Fa-f]{1,4}"
_LS32 = f"(?:{_H16}:{_H16}|{_IPV4})"
_IPV6 = (
    "(?:"
    + "|".join(
        (
            f"(?:{_H16}:){{6}}{_LS32}",
            f"::(?:{_H16}:){{5}}{_LS32}",
            f"(?:{_H16})?::(?:{_H16}:){{4}}{_LS32}",
            f"(?:(?:{_H16}:)?{_H16})?::(?:{_H16}:){{3}}{_LS32}",
            f"(?:(?:{_H16}:){{0,2}}{_H16})?::(?:{_H16}:){{2}}{_LS32}",
            f"(?:(?:{_H16}:){{0,3}}{_H16})?::(?:{_H16}:){_LS32}",
            f"(?:(?:{_H16}:){{0,4}}{_H16})?::{_LS32}",
            f"(?:(?:{_H16}:){{0,5}}{_H16})?::{_H16}",
            f"(?:(?:{_H16}:){{0,6}}{_H16})?::",
        )
    )
    + ")"
)
URI = (
    "[a-zA-Z][a-zA-Z0-9+.-]*:"  # scheme
    f"(?://(?:(?:[{_SUB}:]|{_PCT})*@)?"  # "//" [ userinfo "@" ]
    f"(?:\\[(?:{_IPV6}|v[0-9A-Fa-f]+\\.[{_SUB}:]+)\\]|{_IPV4}|(?:[{_SUB}]|{_PCT})*)"  # host
    f"(?::[0-9]*)?(?:/{_PCHAR}*)*"  # [ ":" port ], path-abempty
    f"|/(?:{_PCHAR}+(?:/{_PCHAR}*)*)?"  # path-absolute
    f"|{_PCHAR}+(?:/{_PCHAR}*)*"  # path-rootless
    "|)"  # path-empty
    f"(?:\\?{_QUERY})?(?:\\#{_QUERY})?"  # [ "?" query ] [ "#" fragment ]
)


@lru_cache(maxsize=1)
def format_patterns() -> dict[str, dict[str, Any] | None]:
    """Format name -> a schema jsonschema-rs checks natively that accepts exactly what jsonschema's format
    check accepts (None: jsonschema does not check it with the packages installed). Formats not listed are
    checked by jsonschema itself, through a callback (which costs microseconds on every validation)."""
    spec = importlib.util.find_spec
    formats: dict[str, dict[str, Any] | None] = {"email": {"pattern": "@"}, "date": {"pattern": f"^{DATE}$"}}
    formats["date-time"] = {"pattern": f"^{DATE}[Tt]{_TIME}\\n?$"} if spec("rfc3339_validator") else None
    if spec("rfc3987") is None:  # jsonschema prefers rfc3987 for "uri" when it is installed
        formats["uri"] = {"pattern": f"^(?:{URI})\\n?$"} if spec("rfc3986_validator") else None
    return formats


def _format_checks(names: set[str], draft7: bool) -> dict[str, Callable[[str], bool]]:
    """Callbacks for the formats without a pattern: jsonschema's own checker decides."""

    def delegate(name: str) -> Callable[[str], bool]:
        def check(value: str) -> bool:
            from jsonschema import Draft7Validator, Draft202012Validator

            checker = (Draft7Validator if draft7 else Draft202012Validator).FORMAT_CHECKER
            return bool(checker.conforms(value, name))

        return check

    return {name: delegate(name) for name in names}


class FastSchema:
    """One schema compiled by jsonschema-rs: the verdict, and (built when first needed) a validator for
    every ``$ref`` target, which lets the pure-Python engine skip valid subtrees."""

    def __init__(self, engine: ModuleType, schema: dict[str, Any]) -> None:
        self._engine = engine
        self._original = schema
        self.schema, options = self._compiled(format_patterns())
        cls = engine.Draft7Validator if is_draft7(schema) else engine.Draft202012Validator
        self.validator = cls(self.schema, **options)
        self._refs: Any = None
        self._lock = threading.Lock()

    def _compiled(self, formats: dict[str, dict[str, Any] | None]) -> tuple[Any, dict[str, Any]]:
        """The schema for jsonschema-rs and its options, ``formats`` replaced by their equivalents."""
        callbacks: set[str] = set()
        schema = rust_schema(self._original, formats, callbacks)
        return schema, {
            "validate_formats": True,
            "formats": _format_checks(callbacks, is_draft7(self._original)),
            "pattern_options": self._engine.RegexOptions(),  # Rust's regex crate: linear time, no backtracking
        }

    @property
    def skips_refs(self) -> bool:
        """Whether skipping a valid ``$ref`` subtree is exact here: a reference must mean the same thing
        wherever it is used (no nested base URIs or anchors, no dynamic references, no "unevaluated")."""
        text = json.dumps(self._original)
        words = ('"$id"', '"$anchor"', "$dynamic", "$recursive", "unevaluated")
        return "$schema" not in self._original and not any(word in text for word in words)

    def valid_at(self, reference: str, instance: Any) -> bool:
        """True when ``instance`` is known to be valid against the ``$ref`` target ``reference``."""
        refs = self._refs
        if refs is None:
            with self._lock:
                if self._refs is None:
                    # Formats through jsonschema's own checks here: the regular expressions of the verdict
                    # schema would be compiled again for each of the hundreds of subschemas.
                    try:
                        schema, options = self._compiled({})
                        self._refs = self._engine.validator_map_for(schema, **options)
                    except Exception:  # noqa: BLE001 - then every subtree is walked in Python
                        self._refs = {}
                refs = self._refs
        validator = refs.get(reference)
        if validator is None:
            return False
        try:
            return bool(validator.is_valid(instance))
        except Exception:  # noqa: BLE001
            return False
