r"""The official HDR UK schema pack: which schema a document conforms to, and every error when none.

The pack is a directory holding ``available.json`` (model name -> versions, in the Gateway's order) and
``<Model>/<version>/schema.json`` for each entry, exactly as in HDRUK/schemata. Detection mirrors the
Gateway's validator (TRASER): the first schema in ``available.json`` order that the document satisfies.

Two engines, one verdict:

* **The verdict** (valid or not, and first-match detection) comes from ``jsonschema-rs`` (Rust, through
  :mod:`hdr_ingest.destinations.jsonschema_rust`) when it is installed: a few milliseconds for a 2 MB
  document, below the time ``json.loads`` takes to parse it. Its patterns run on Rust's linear-time ``regex``
  engine, rewritten where needed to mean exactly what they mean on RE2 (``\s`` is ``[\t\n\f\r ]``, ``\d`` is
  ``[0-9]``), and its formats (``date``, ``date-time``,
  ``email``, ``uri``) are checked by regular expressions that accept exactly what pure-Python
  ``jsonschema``'s format checks accept. A schema it cannot take exactly (a pattern construct with no exact
  equivalent, ``patternProperties``) and a value it cannot take (a string with an unpaired surrogate, which
  matches no pattern) are judged in Python.
* **The errors** of an invalid document, with their JSON paths and messages, come from pure-Python
  ``jsonschema`` with RE2 patterns, the reference implementation (and the only engine when ``jsonschema-rs``
  is missing). While it walks the document it asks the fast engine about each ``$ref`` subtree and skips the
  valid ones, so it only descends where the errors are.

``tests/unit/destinations/hdruk/test_validation_engine.py`` checks that both engines agree on every example
document against every schema. Regular expressions never backtrack: HDRUK 3.0.0's revision-URL pattern backtracks
exponentially in Python's ``re`` (and in the Gateway) and would hang the function on a ``https://<uuid>`` URL.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hdr_ingest.core.outcome import ErrorDetail
from hdr_ingest.destinations import jsonschema_rust
from hdr_ingest.destinations.jsonschema_errors import iter_describe as _describe
from hdr_ingest.destinations.jsonschema_errors import json_path as json_path  # the judge imports it from here
from hdr_ingest.destinations.jsonschema_rust import FastSchema, is_draft7

if TYPE_CHECKING:  # imported on first use: only invalid documents need pure-Python jsonschema
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

__all__ = [
    "MAX_ERRORS",
    "ErrorDetail",
    "SchemaPack",
    "SchemaPackError",
    "SchemaRef",
    "ValidationReport",
    "count_errors",
    "default_pack_dir",
]

MAX_ERRORS = 1000
"""Validation stops collecting errors past this many and says so ("at least 1,000 errors (stopped counting)"):
a document with a million wrong fields is judged in time linear in its size, and the list a custodian reads
(and the ledger stores) stays bounded. The first errors found are kept."""


class SchemaPackError(Exception):
    """The schema pack is missing or broken (a deployment problem, not a document problem)."""


@dataclass(frozen=True, order=True)
class SchemaRef:
    """A schema in the pack, e.g. ``SchemaRef("HDRUK", "4.0.0")``; ``str()`` gives ``"HDRUK 4.0.0"``."""

    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name} {self.version}"

    @classmethod
    def parse(cls, text: str) -> SchemaRef:
        parts = text.strip().split()
        if len(parts) != 2:
            raise ValueError(f"expected '<model> <version>', e.g. 'HDRUK 4.0.0', got {text!r}")
        return cls(parts[0], parts[1])


@dataclass(frozen=True)
class ValidationReport:
    """The verdict on one document. ``schema`` is the matched schema, the requested target, or (when
    nothing matched) the closest schema, whose errors are listed."""

    valid: bool
    schema: SchemaRef | None
    errors: tuple[ErrorDetail, ...] = ()
    summary: str = ""
    truncated: bool = False  # validation stopped counting at MAX_ERRORS: ``errors`` holds the first ones


def count_errors(n: int, truncated: bool = False) -> str:
    """``"3 errors"``, or ``"at least 1,000 errors (stopped counting)"`` when the list was cut at its limit."""
    if truncated:
        return f"at least {n:,} error{'' if n == 1 else 's'} (stopped counting)"
    return f"{n} error" + ("" if n == 1 else "s")


def default_pack_dir() -> Path:
    """``$SCHEMA_PACK_DIR`` if set, else the pack shipped inside this package (filled by ``make schemas``)."""
    configured = os.environ.get("SCHEMA_PACK_DIR")
    return Path(configured) if configured else Path(__file__).with_name("schemata")


# --- pure Python: jsonschema with linear-time ``pattern`` ----------------------------------------------


@lru_cache(maxsize=256)
def _compile(pattern: str) -> Any:
    import re2

    try:
        return re2.compile(pattern)
    except re2.error:  # pragma: no cover - every pattern in the official pack compiles under RE2
        return re.compile(pattern)


def _pattern(validator: Validator, pattern: str, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    from jsonschema.exceptions import ValidationError

    if isinstance(instance, str) and not _search(pattern, instance):
        yield ValidationError(f"{_short_repr(instance)} does not match {pattern!r}")


def _length(keyword: str) -> Callable[[Any, Any, Any, Any], Iterator[ValidationError]]:
    """jsonschema 4.26's ``minLength``/``maxLength``, the value's repr in the message cut (``_short_repr``)."""

    def check(validator: Any, limit: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
        from jsonschema.exceptions import ValidationError

        if not validator.is_type(instance, "string"):
            return
        size = len(instance)
        if keyword == "maxLength" and size > limit:
            message = "is expected to be empty" if limit == 0 else "is too long"
            yield ValidationError(f"{_short_repr(instance)} {message}")
        elif keyword == "minLength" and size < limit:
            message = "should be non-empty" if limit == 1 else "is too short"
            yield ValidationError(f"{_short_repr(instance)} {message}")

    return check


def _search(pattern: str, text: str) -> bool:
    try:
        return _compile(pattern).search(text) is not None
    except UnicodeEncodeError:  # an unpaired surrogate (JSON "\ud800"): not text that any pattern matches
        return False


# jsonschema writes ``repr(instance)`` into the message of every ``type`` and ``anyOf`` error: for a wrong
# 10 MB subtree (structural metadata against an older schema) that alone takes a second. These two keywords
# are jsonschema 4.26's own, with a repr cut after _REPR_LIMIT characters; a message is only ever shown cut
# to 300 characters (see _describe), so what a custodian reads is unchanged.
_REPR_LIMIT = 1000


def _repr_chunks(value: Any) -> Iterator[str]:
    if type(value) is dict:
        yield "{"
        for index, (key, item) in enumerate(value.items()):
            if index:
                yield ", "
            yield repr(key)
            yield ": "
            yield from _repr_chunks(item)
        yield "}"
    elif type(value) is list:
        yield "["
        for index, item in enumerate(value):
            if index:
                yield ", "
            yield from _repr_chunks(item)
        yield "]"
    elif type(value) is str and len(value) > _REPR_LIMIT:
        yield repr(value[: _REPR_LIMIT + 1])  # not the whole of a 10 MB string, to be cut just after
    else:
        yield repr(value)


def _short_repr(value: Any) -> str:
    """``repr(value)``, or a prefix of it longer than ``_REPR_LIMIT`` characters."""
    parts: list[str] = []
    size = 0
    for chunk in _repr_chunks(value):
        parts.append(chunk)
        size += len(chunk)
        if size > _REPR_LIMIT:
            break
    return "".join(parts)


def _type(validator: Validator, types: Any, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    from jsonschema.exceptions import ValidationError

    types = [types] if isinstance(types, str) else types
    if not any(validator.is_type(instance, kind) for kind in types):
        reprs = ", ".join(repr(kind) for kind in types)
        yield ValidationError(f"{_short_repr(instance)} is not of type {reprs}")


def _any_of(validator: Any, any_of: Any, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    from jsonschema.exceptions import ValidationError

    all_errors: list[ValidationError] = []
    for index, subschema in enumerate(any_of):
        # Enough of each alternative's errors to describe it: the whole walk of a wrong 100,000-item array
        # inside an optional field stops here (the alternative fails with its first error either way).
        errors = list(islice(validator.descend(instance, subschema, schema_path=index), MAX_ERRORS + 1))
        if not errors:
            break
        all_errors.extend(errors)
    else:
        yield ValidationError(
            f"{_short_repr(instance)} is not valid under any of the given schemas",
            context=all_errors,
        )


_NAMED_EXTRAS = 20


def _additional_properties(
    validator: Any, additional: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    """jsonschema 4.26's ``additionalProperties`` whose message names at most ``_NAMED_EXTRAS`` properties (it
    sorted and quoted every one of a million; ``_describe`` lists them itself)."""
    from jsonschema._utils import find_additional_properties
    from jsonschema.exceptions import ValidationError

    if not validator.is_type(instance, "object"):
        return
    extras = list(find_additional_properties(instance, schema))
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        named = ", ".join(repr(extra) for extra in extras[:_NAMED_EXTRAS])
        more = f" and {len(extras) - _NAMED_EXTRAS:,} more" if len(extras) > _NAMED_EXTRAS else ""
        verb = "was" if len(extras) == 1 else "were"
        if "patternProperties" in schema:
            patterns = ", ".join(repr(each) for each in sorted(schema["patternProperties"]))
            verb = "does" if len(extras) == 1 else "do"
            yield ValidationError(f"{named}{more} {verb} not match any of the regexes: {patterns}")
        else:
            yield ValidationError(f"Additional properties are not allowed ({named}{more} {verb} unexpected)")


SkipRef = Callable[[str, Any], bool]


def _validator_class(schema: dict[str, Any], skip_ref: SkipRef | None = None) -> type[Validator]:
    """jsonschema's class for ``schema`` with RE2 patterns and, with ``skip_ref``, a ``$ref`` that is not
    followed where ``skip_ref(reference, instance)`` knows the instance to be valid (it yields no error there)."""
    from jsonschema import Draft7Validator, Draft202012Validator, validators

    base = Draft7Validator if is_draft7(schema) else Draft202012Validator
    keywords: dict[str, Any] = {
        "pattern": _pattern,
        "type": _type,
        "anyOf": _any_of,
        "additionalProperties": _additional_properties,
        "minLength": _length("minLength"),
        "maxLength": _length("maxLength"),
    }
    if skip_ref is not None:
        follow = base.VALIDATORS["$ref"]

        def ref(validator: Validator, reference: str, instance: Any, subschema: Any) -> Iterator[ValidationError]:
            if skip_ref(reference, instance):
                return
            yield from follow(validator, reference, instance, subschema)

        keywords["$ref"] = ref
    return validators.extend(base, keywords)


# --- the pack ------------------------------------------------------------------------------------------


def _schema_path(directory: Path, ref: SchemaRef) -> Path:
    return directory / ref.name / ref.version / "schema.json"


def _PYTHON(document: Any) -> bool:  # a sentinel: "no fast verdict, ask pure Python"
    raise NotImplementedError


class SchemaPack:
    """The schemas of one pack directory. Each schema is read once and each validator built once, on
    first use, then reused (thread-safe). ``fast=False`` uses pure-Python jsonschema only."""

    def __init__(self, directory: Path, refs: list[SchemaRef], *, fast: bool = True) -> None:
        self.directory = directory
        self._refs = refs
        self._fast_engine = jsonschema_rust.engine() if fast else None
        self._schemas: dict[SchemaRef, dict[str, Any]] = {}
        self._validators: dict[SchemaRef, Validator] = {}
        self._fast: dict[SchemaRef, FastSchema | None] = {}
        self._verdicts: dict[SchemaRef, Callable[[Any], bool]] = {}
        self._lock = threading.RLock()

    @classmethod
    def load(cls, directory: Path | None = None, *, fast: bool = True) -> SchemaPack:
        directory = directory or default_pack_dir()
        available = directory / "available.json"
        try:
            listing = json.loads(available.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise SchemaPackError(
                f"schema pack not found: {available} is missing. Run `make schemas` "
                "(or set SCHEMA_PACK_DIR to a directory holding available.json)."
            ) from exc
        refs = [SchemaRef(name, version) for name, versions in listing.items() for version in versions]
        missing = [str(ref) for ref in refs if not _schema_path(directory, ref).is_file()]
        if missing:
            raise SchemaPackError(f"schema pack {directory} lacks schema.json for: {', '.join(missing)}")
        return cls(directory, refs, fast=fast)

    @property
    def refs(self) -> list[SchemaRef]:
        """Every schema, in ``available.json`` order (the Gateway's detection order)."""
        return list(self._refs)

    @property
    def fast(self) -> bool:
        """Whether verdicts come from jsonschema-rs (installed and not switched off)."""
        return self._fast_engine is not None

    def __contains__(self, ref: object) -> bool:
        return ref in self._refs

    def schema(self, ref: SchemaRef) -> dict[str, Any]:
        """The parsed ``schema.json`` of ``ref`` (read once; do not modify it)."""
        found = self._schemas.get(ref)
        if found is None:
            if ref not in self._refs:
                known = ", ".join(str(r) for r in self._refs)
                raise SchemaPackError(f"{ref} is not in the schema pack (available: {known})")
            with self._lock:
                found = self._schemas.get(ref)
                if found is None:
                    found = json.loads(_schema_path(self.directory, ref).read_text(encoding="utf-8"))
                    self._schemas[ref] = found
        return found

    def validator(self, ref: SchemaRef) -> Validator:
        """The pure-Python jsonschema validator of ``ref`` (RE2 patterns), which reports every error."""
        found = self._validators.get(ref)
        if found is None:
            schema = self.schema(ref)
            with self._lock:
                found = self._validators.get(ref)
                if found is None:
                    fast = self._fast_schema(ref)
                    skip_ref = fast.valid_at if fast is not None and fast.skips_refs else None
                    cls = _validator_class(schema, skip_ref)
                    found = cls(schema, format_checker=cls.FORMAT_CHECKER)
                    self._validators[ref] = found
        return found

    def _fast_schema(self, ref: SchemaRef) -> FastSchema | None:
        if self._fast_engine is None:
            return None
        if ref in self._fast:
            return self._fast[ref]
        schema = self.schema(ref)
        with self._lock:
            if ref not in self._fast:
                try:
                    self._fast[ref] = FastSchema(self._fast_engine, schema)
                except Exception:  # noqa: BLE001 - Inexact, or a schema jsonschema-rs refuses: pure Python
                    self._fast[ref] = None
            return self._fast[ref]

    def errors(self, document: Any, ref: SchemaRef) -> tuple[ErrorDetail, ...]:
        """Every error of ``document`` against ``ref`` (the first ``MAX_ERRORS``), each with its JSON path and
        a fix-it message."""
        return self.counted_errors(document, ref)[0]

    def counted_errors(self, document: Any, ref: SchemaRef) -> tuple[tuple[ErrorDetail, ...], bool]:
        """The errors of ``document`` against ``ref`` and whether there are more than ``MAX_ERRORS`` (the list
        then holds the first ``MAX_ERRORS`` of those found, in path order)."""
        counted = _counted(self, document, ref)
        assert counted is not None, "counted to the end"
        return counted

    def is_valid(self, document: Any, ref: SchemaRef) -> bool:
        fast = self._verdicts.get(ref) or self._verdict(ref)
        if fast is not _PYTHON:
            try:
                return bool(fast(document))
            except Exception:  # noqa: BLE001, S110 - a value jsonschema-rs cannot take (a lone surrogate)
                pass
        return self._python_is_valid(document, ref)

    def _python_is_valid(self, document: Any, ref: SchemaRef) -> bool:
        try:
            return bool(self.validator(ref).is_valid(document))
        except RecursionError:
            return False

    def _verdict(self, ref: SchemaRef) -> Callable[[Any], bool]:
        """The fast verdict function of ``ref`` (jsonschema-rs), or ``_PYTHON`` when there is none."""
        fast = self._fast_schema(ref)
        verdict = fast.validator.is_valid if fast is not None else _PYTHON
        self._verdicts[ref] = verdict
        return verdict

    def detect(self, document: Any) -> SchemaRef | None:
        """The first schema in ``available.json`` order that ``document`` satisfies, as the Gateway picks."""
        verdicts = self._verdicts
        for ref in self._refs:  # is_valid(), inlined: detection is on every document's path
            fast = verdicts.get(ref) or self._verdict(ref)
            if fast is not _PYTHON:
                try:
                    if fast(document):
                        return ref
                    continue
                except Exception:  # noqa: BLE001, S110 - judged in pure Python below
                    pass
            if self._python_is_valid(document, ref):
                return ref
        return None

    def validate(self, document: Any, target: SchemaRef | None = None) -> ValidationReport:
        """Judge ``document`` against ``target``, or detect its schema when ``target`` is None."""
        if target is not None:
            valid = self.is_valid(document, target)
            errors, more = ((), False) if valid else self.counted_errors(document, target)
            if not errors:
                return ValidationReport(True, target, (), f"valid {target}")
            summary = f"does not conform to {target}: {count_errors(len(errors), more)}"
            return ValidationReport(False, target, errors, summary, more)
        matched = self.detect(document)
        if matched is not None:
            return ValidationReport(True, matched, (), f"valid {matched} (first match, as the Gateway detects)")
        closest, errors, more = _closest(self, document)
        return ValidationReport(
            False,
            closest,
            errors,
            f"matches none of the {len(self._refs)} supported schemas; the closest is {closest} with "
            f"{count_errors(len(errors), more)}",
            more,
        )


def _counted(
    pack: SchemaPack, document: Any, ref: SchemaRef, stop: int | None = None
) -> tuple[tuple[ErrorDetail, ...], bool] | None:
    """:meth:`SchemaPack.counted_errors`; with ``stop``, None as soon as the errors found make at least ``stop``
    distinct details (``MAX_ERRORS`` at most are counted): a schema that cannot be the closest is not walked to
    the end."""
    raw: list[ValidationError] = []
    seen: set[ErrorDetail] = set()
    try:
        for error in pack.validator(ref).iter_errors(document):
            raw.append(error)
            if len(raw) > MAX_ERRORS:
                break
            if stop is not None:
                seen.update(islice(_describe(error), MAX_ERRORS + 1))
                if min(len(seen), MAX_ERRORS) >= stop:
                    return None
    except RecursionError:
        return (ErrorDetail("$", "is nested too deeply to validate; flatten the document."),), False
    return _details(raw)


def _details(raw: list[ValidationError]) -> tuple[tuple[ErrorDetail, ...], bool]:
    """The details of ``raw`` (at most ``MAX_ERRORS + 1`` errors): de-duplicated, in path order, the first
    ``MAX_ERRORS``; and whether there were more."""
    details: dict[ErrorDetail, None] = {}  # de-duplicated, order kept
    for error in sorted(raw, key=lambda e: [str(p) for p in e.absolute_path]):
        details.update(dict.fromkeys(islice(_describe(error), MAX_ERRORS + 1)))
        if len(details) > MAX_ERRORS:
            break
    found = tuple(islice(details, MAX_ERRORS))
    return found, len(raw) > MAX_ERRORS or len(details) > MAX_ERRORS


def _closest(pack: SchemaPack, document: Any) -> tuple[SchemaRef, tuple[ErrorDetail, ...], bool]:
    """The schema that knows most of the document's top-level fields, then has the fewest errors (the first
    such in ``available.json`` order). Each candidate after the first is walked only until it has as many
    errors as the best so far (every schema is failed: at least one error each)."""
    keys = set(document) if isinstance(document, dict) else set()
    refs = pack.refs

    def unknown(ref: SchemaRef) -> int:
        schema = pack.schema(ref)
        known = set(schema.get("properties", {})) if isinstance(schema, dict) else set()
        return len(keys - known)

    unknowns = [unknown(ref) for ref in refs]
    fewest = min(unknowns)
    best: tuple[tuple[int, bool], SchemaRef, tuple[ErrorDetail, ...]] | None = None
    for ref, unknown_count in zip(refs, unknowns, strict=True):
        if unknown_count != fewest:
            continue
        if best is not None and best[0] <= (1, False):
            break  # no later schema can have fewer errors (tied: the first in available.json order wins)
        # A later schema loses with as many errors as the best, unless the best's list was cut.
        stop = None if best is None else best[0][0] + 1 if best[0][1] else best[0][0]
        counted = _counted(pack, document, ref, stop)
        if counted is not None and (best is None or (len(counted[0]), counted[1]) < best[0]):
            best = ((len(counted[0]), counted[1]), ref, counted[0])  # a list cut at its limit counts as longer
    assert best is not None, "an empty schema pack cannot be loaded"
    return best[1], best[2], best[0][1]
