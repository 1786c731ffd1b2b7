"""The fast verdict: a jsonschema-rs check against a stricter twin of the schema, where it is exact."""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import re2

from hdr_ingest.core.document import json_type
from hdr_ingest.destinations.hdruk.schema_pack import SchemaRef
from hdr_ingest.destinations.jsonschema_rust import (
    DATE,
    SCHEMA_LIST,
    SCHEMA_MAP,
    SCHEMA_VALUE,
    Inexact,
    format_patterns,
    rust_pattern,
)

from .ajv import AjvRun, SchemaDoc, schema_types
from .formats import EMAIL_PATTERN, FORMATS, URI_PATTERN
from .js_regex import CATASTROPHIC, js_to_re2
from .records import MISSING

# The emulation (:mod:`.ajv`) walks the document in Python: seconds for a 10 MB document. Most documents need none
# of it. The fast verdict judges what the Gateway hands on to TRASER: the document itself when its
# pre-processing changes nothing (:func:`is_clean`), else the document with just the values it changes cleaned
# up (:mod:`.cleanup`; the document as sent must then be valid too, else the emulation explains the
# difference). When no value can hang TRASER and jsonschema-rs finds that document valid against a *stricter
# twin* of the schema, TRASER accepts it too; the verdict then costs a few jsonschema-rs passes. The twin keeps
# every keyword and adds: each ``pattern`` in its JavaScript meaning (as ``js_regex`` reads it) beside its
# meaning for jsonschema, each ``format`` as the regular expressions of both ajv-formats and jsonschema (never
# more lenient than either), and every property whose schema ``default`` Ajv would insert and then reject
# (CRUK 1.0.0's ``leadResearcher``) as required. So a twin-valid document is valid as sent and as TRASER
# judges it. Ajv's leniency (coercion, defaults) can only
# accept more, never less, for the keywords the pack uses; schemas with keywords where that does not hold
# (oneOf, not, if, uniqueItems, dependencies, ...) get no twin. Schemas earlier in detection order are passed
# over only with a *robust* Ajv failure (a required property without a default, an additional property, a
# container where a scalar is due or the reverse), which coercion and defaults cannot mend. Anything else,
# and every invalid document, takes the emulation, so errors and explanations are unchanged.
# ``tests/integration/destinations/hdruk/judge/test_gateway_fast_verdict.py`` holds the two paths to the same judgement.

# A string the Gateway's pre-processing would change shows in compact JSON (``separators=(",", ":")``,
# non-ASCII as is) as one of these: an HTML-encoded character or a quote, an empty string, a space or an
# escape at either end (or a control character anywhere), and the PHP re-encoding of ``{}`` and
# ``{"0": ...}``. Keys and string contents can match too: that only costs speed.
_NOT_CLEAN_LITERALS = (
    "&", "'", "<", ">", '\\"', '""', '" ', ' "', '"\\', '\\b"', '\\f"', '\\n"', '\\r"', '\\t"', "\\u00", "{}",
    '{"0":',
)  # fmt: skip
_NOT_CLEAN = re2.compile("|".join(re.escape(literal) for literal in _NOT_CLEAN_LITERALS).encode("ascii"))
HDRUK_300 = SchemaRef("HDRUK", "3.0.0")
_TWIN_BLOCKERS = frozenset(
    {"oneOf", "not", "if", "then", "else", "uniqueItems", "dependencies", "dependentSchemas",
     "dependentRequired", "propertyNames", "patternProperties", "contains", "unevaluatedProperties",
     "unevaluatedItems", "$recursiveRef", "$dynamicRef", "additionalItems", "prefixItems", "maxProperties",
     "minProperties"}
)  # fmt: skip
# ajv-formats 2.1.1 "full", as regular expressions that accept a subset of what it accepts (no year 0000, no
# leap second, "T", "t" or a space between date and time): exact enough, and never more lenient.
_AJV_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?(?:[zZ]|[+-][0-9]{2}(?::?[0-9]{2})?)?"
_AJV_URI = URI_PATTERN.replace("a-z", "a-zA-Z").replace("a-f", "a-fA-F")  # its "i" flag, spelled out
_AJV_FORMATS: Mapping[str, tuple[dict[str, str], ...]] = {
    "date": ({"pattern": f"^{DATE}$"},),
    "date-time": ({"pattern": f"^{DATE}[Tt ]{_AJV_TIME}$"},),
    "uri": ({"pattern": "[/:]"}, {"pattern": f"^(?:{_AJV_URI})$"}),
    "email": ({"pattern": EMAIL_PATTERN},),
}
_TWIN_SECONDS = 1.0  # a value that could keep a catastrophic pattern busy this long goes to the emulation


class _NoTwin(Exception):
    """The schema uses something for which a jsonschema-rs verdict cannot stand in for Ajv's."""


def is_clean(text: str) -> bool:
    """Whether the Gateway's pre-processing leaves the document whose compact JSON is ``text`` unchanged.
    Non-ASCII text is never clean (``htmlentities`` encodes from U+00A0 on)."""
    # On bytes: re2 searches str by its UTF-8 and then counts characters up to the match (milliseconds per MB).
    return text.isascii() and _NOT_CLEAN.search(text.encode("ascii")) is None


class Twin:
    """The fast verdict of one schema: its stricter twin for jsonschema-rs, the places where a catastrophic
    pattern applies, and the robust-failure check used to pass over it during detection."""

    def __init__(self, doc: SchemaDoc, engine: Any) -> None:
        self.doc = doc
        self._engine = engine
        self._with_default = self._defaulted(doc.root)
        self.hazards = self._hazards()
        self._validators: dict[str, Any] = {}  # "twin" and "core", built on first use (None: cannot be built)
        self._lock = threading.Lock()

    def _verdict(self, name: str, build: Callable[[], Any], document: Any) -> bool | None:
        """jsonschema-rs's verdict on ``document`` from validator ``name`` (made by ``build`` on first use);
        None when it cannot be built or cannot take the document (the emulation then decides)."""
        validator = self._validators.get(name, MISSING)
        if validator is MISSING:
            with self._lock:
                if name not in self._validators:
                    try:
                        self._validators[name] = build()
                    except (_NoTwin, Inexact, ValueError):  # ValueError: jsonschema-rs refused the schema
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
        formats = format_patterns()
        for key, value in schema.items():
            if key in _TWIN_BLOCKERS:
                raise _NoTwin(key)
            if key == "pattern" and isinstance(value, str):
                extra += [{"pattern": rust_pattern(value)}, {"pattern": js_to_re2(value)}]
            elif key == "format" and isinstance(value, str):
                if value not in formats or (value in FORMATS and value not in _AJV_FORMATS):
                    raise _NoTwin(f"format {value!r} has no regular expression here")
                if formats[value] is not None:
                    extra.append(dict(formats[value] or {}))
                extra.extend(dict(p) for p in _AJV_FORMATS.get(value, ()))
            elif key == "$schema":
                continue  # the twin is read as 2020-12 ($ref beside other keywords applies, as in Ajv 8)
            elif key == "items" and isinstance(value, list):
                raise _NoTwin("items as a list")
            elif key in SCHEMA_MAP and isinstance(value, dict):
                out[key] = {name: self._twin(sub) for name, sub in value.items()}
            elif key in SCHEMA_LIST and isinstance(value, list):
                out[key] = [self._twin(sub) for sub in value]
            elif key in SCHEMA_VALUE:
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
        run = AjvRun(self.doc)
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
        if not any(json.dumps(pattern) in text for pattern in CATASTROPHIC):
            return ()

        def walk(node: Any, where: tuple[str, ...]) -> None:
            if not isinstance(node, dict) or len(where) > 24 or (id(node), where) in seen:
                return
            seen.add((id(node), where))
            pattern = node.get("pattern")
            if isinstance(pattern, str) and pattern in CATASTROPHIC:
                found[where] = CATASTROPHIC[pattern]
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
        if self._fails_at_root(document):
            return True
        core = self._verdict("core", lambda: self._engine.Draft202012Validator(self._core(self.doc.root)), document)
        return core is False

    def _fails_at_root(self, document: Any) -> bool:
        """The core's rules at the top level alone, with no validator to build (most schemas fail there): the
        document's type, a required property without a default, an additional property."""
        schema = self.doc.root
        if not isinstance(schema, dict):
            return False
        types = schema_types(schema) if "type" in schema else []
        if types:
            containers = {t for t in types if t in ("object", "array")}
            allowed = containers | (
                {"string", "number", "boolean", "null"} if len(containers) < len(types) else {"null"}
            )
            if json_type(document) not in allowed:
                return True
        if not isinstance(document, dict):
            return False
        required = schema.get("required")
        names = required if isinstance(required, list) else []
        if any(isinstance(name, str) and name not in self._with_default and name not in document for name in names):
            return True
        properties = schema.get("properties")
        known: dict[str, Any] = properties if isinstance(properties, dict) else {}
        closed = schema.get("additionalProperties") is False and "patternProperties" not in schema
        return closed and any(name not in known for name in document)

    def _core(self, schema: Any) -> Any:
        """The keywords whose failure neither coercion nor defaults can mend: ``required`` (less every name
        that has a default anywhere), ``additionalProperties: false`` with its ``properties``, and ``type`` as
        far as containers go (a scalar where only containers are allowed, or a container where it is not
        listed); through ``properties``, ``additionalProperties``, ``items``, ``allOf``, ``anyOf`` and ``$ref``.
        Everything else is dropped, so a document invalid against the core is invalid for Ajv."""
        if not isinstance(schema, dict):
            return schema
        out: dict[str, Any] = {}
        types = schema_types(schema)
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
