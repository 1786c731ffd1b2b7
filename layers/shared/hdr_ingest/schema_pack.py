"""The official HDR UK schema pack: which schema a document conforms to, and every error when none.

The pack is a directory holding ``available.json`` (model name -> versions, in the Gateway's order) and
``<Model>/<version>/schema.json`` for each entry, exactly as in HDRUK/schemata. Detection mirrors the
Gateway's validator (TRASER): the first schema in ``available.json`` order that the document satisfies.

Regular expressions in the schemas run on RE2 (linear time): HDRUK 3.0.0's revision-URL pattern
backtracks exponentially in Python's ``re`` and would hang the function on a ``https://<uuid>`` URL.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import re2
from jsonschema import Draft7Validator, Draft202012Validator, validators
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator

from hdr_ingest.outcome import ErrorDetail

__all__ = ["ErrorDetail", "SchemaPack", "SchemaPackError", "SchemaRef", "ValidationReport", "default_pack_dir"]

_MAX_VALUE_CHARS = 60
_MAX_ENUM_CHOICES = 12


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


def default_pack_dir() -> Path:
    """``$SCHEMA_PACK_DIR`` if set, else the pack shipped inside this package (filled by ``make schemas``)."""
    configured = os.environ.get("SCHEMA_PACK_DIR")
    return Path(configured) if configured else Path(__file__).with_name("schemata")


# --- linear-time ``pattern`` -------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _compile(pattern: str) -> Any:
    try:
        return re2.compile(pattern)
    except re2.error:  # pragma: no cover - every pattern in the official pack compiles under RE2
        return re.compile(pattern)


def _pattern(validator: Validator, pattern: str, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    if isinstance(instance, str) and not _compile(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _validator_class(schema: dict[str, Any]) -> type[Validator]:
    base = validators.validator_for(schema, default=Draft202012Validator)
    if base not in (Draft7Validator, Draft202012Validator):
        base = Draft202012Validator
    return validators.extend(base, {"pattern": _pattern})


# --- the pack ------------------------------------------------------------------------------------------


class SchemaPack:
    """The schemas of one pack directory. Validators are built on first use and kept for reuse."""

    def __init__(self, directory: Path, refs: list[SchemaRef]) -> None:
        self.directory = directory
        self._refs = refs
        self._validators: dict[SchemaRef, Validator] = {}
        self._lock = threading.Lock()

    @classmethod
    def load(cls, directory: Path | None = None) -> SchemaPack:
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
        missing = [str(ref) for ref in refs if not cls._schema_path(directory, ref).is_file()]
        if missing:
            raise SchemaPackError(f"schema pack {directory} lacks schema.json for: {', '.join(missing)}")
        return cls(directory, refs)

    @staticmethod
    def _schema_path(directory: Path, ref: SchemaRef) -> Path:
        return directory / ref.name / ref.version / "schema.json"

    @property
    def refs(self) -> list[SchemaRef]:
        """Every schema, in ``available.json`` order (the Gateway's detection order)."""
        return list(self._refs)

    def __contains__(self, ref: object) -> bool:
        return ref in self._refs

    def validator(self, ref: SchemaRef) -> Validator:
        if ref not in self._refs:
            known = ", ".join(str(r) for r in self._refs)
            raise SchemaPackError(f"{ref} is not in the schema pack (available: {known})")
        with self._lock:
            found = self._validators.get(ref)
            if found is None:
                schema = json.loads(self._schema_path(self.directory, ref).read_text(encoding="utf-8"))
                cls = _validator_class(schema)
                found = cls(schema, format_checker=cls.FORMAT_CHECKER)
                self._validators[ref] = found
            return found

    def errors(self, document: Any, ref: SchemaRef) -> tuple[ErrorDetail, ...]:
        """Every error of ``document`` against ``ref``, each with its JSON path and a fix-it message."""
        try:
            raw = list(self.validator(ref).iter_errors(document))
        except RecursionError:
            return (ErrorDetail("$", "is nested too deeply to validate; flatten the document."),)
        details: list[ErrorDetail] = []
        for error in sorted(raw, key=lambda e: [str(p) for p in e.absolute_path]):
            details.extend(_describe(error))
        return tuple(dict.fromkeys(details))  # de-duplicated, order kept

    def is_valid(self, document: Any, ref: SchemaRef) -> bool:
        try:
            return bool(self.validator(ref).is_valid(document))
        except RecursionError:
            return False

    def detect(self, document: Any) -> SchemaRef | None:
        """The first schema in ``available.json`` order that ``document`` satisfies, as the Gateway picks."""
        return next((ref for ref in self._refs if self.is_valid(document, ref)), None)

    def validate(self, document: Any, target: SchemaRef | None = None) -> ValidationReport:
        """Judge ``document`` against ``target``, or detect its schema when ``target`` is None."""
        if target is not None:
            errors = self.errors(document, target)
            if not errors:
                return ValidationReport(True, target, (), f"valid {target}")
            return ValidationReport(False, target, errors, f"does not conform to {target}: {_count(errors)}")
        matched = self.detect(document)
        if matched is not None:
            return ValidationReport(True, matched, (), f"valid {matched} (first match, as the Gateway detects)")
        closest, errors = self._closest(document)
        return ValidationReport(
            False,
            closest,
            errors,
            f"matches none of the {len(self._refs)} supported schemas; the closest is {closest} with {_count(errors)}",
        )

    def _closest(self, document: Any) -> tuple[SchemaRef, tuple[ErrorDetail, ...]]:
        """The schema that knows most of the document's top-level fields, then has the fewest errors."""
        keys = set(document) if isinstance(document, dict) else set()
        best: tuple[tuple[int, int], SchemaRef, tuple[ErrorDetail, ...]] | None = None
        for ref in self._refs:
            schema: Any = self.validator(ref).schema
            known = set(schema.get("properties", {})) if isinstance(schema, dict) else set()
            errors = self.errors(document, ref)
            score = (len(keys - known), len(errors))
            if best is None or score < best[0]:
                best = (score, ref, errors)
        assert best is not None, "an empty schema pack cannot be loaded"
        return best[1], best[2]


def _count(errors: tuple[ErrorDetail, ...]) -> str:
    return f"{len(errors)} error" + ("" if len(errors) == 1 else "s")


# --- turning jsonschema errors into messages a custodian can act on -----------------------------------


def json_path(parts: Iterable[Any]) -> str:
    """``["summary", "title"]`` -> ``$.summary.title``; list indexes as ``[3]``."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(part)):
            out += f".{part}"
        else:
            out += f"[{json.dumps(str(part))}]"
    return out


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 1] + "…"


_FORMAT_HINTS = {
    "date": "a date as YYYY-MM-DD",
    "date-time": "a date-time as YYYY-MM-DDThh:mm:ssZ (RFC 3339)",
    "email": "an e-mail address",
    "uri": "an absolute URI such as https://example.org/page",
}


def _describe(error: ValidationError) -> list[ErrorDetail]:
    path = list(error.absolute_path)
    where = json_path(path)
    keyword = error.validator
    value: Any = error.instance
    expected: Any = error.validator_value
    schema: Any = error.schema
    if keyword in ("anyOf", "oneOf") and error.context:
        branch = _best_branch(error)
        if branch:
            return [detail for sub in branch for detail in _describe(sub)]
    if keyword == "required":
        missing = [name for name in expected if isinstance(value, dict) and name not in value]
        return [ErrorDetail(json_path([*path, name]), "is required but missing; add it.") for name in missing] or [
            ErrorDetail(where, error.message)
        ]
    if keyword == "additionalProperties" and isinstance(value, dict):
        allowed = set(schema.get("properties", {}))
        extra = [name for name in value if name not in allowed]
        return [
            ErrorDetail(json_path([*path, name]), "is not a field of this schema; remove it or fix its spelling.")
            for name in extra
        ] or [ErrorDetail(where, error.message)]
    if keyword == "enum":
        choices = list(expected)
        shown = ", ".join(_show(c) for c in choices[:_MAX_ENUM_CHOICES])
        more = f" (and {len(choices) - _MAX_ENUM_CHOICES} more)" if len(choices) > _MAX_ENUM_CHOICES else ""
        return [ErrorDetail(where, f"is {_show(value)}; it must be one of: {shown}{more}.")]
    if keyword == "const":
        return [ErrorDetail(where, f"is {_show(value)}; it must be {_show(expected)}.")]
    if keyword == "type":
        expected = expected
        wanted = " or ".join(expected) if isinstance(expected, list) else str(expected)
        return [ErrorDetail(where, f"is {_show(value)}; it must be of type {wanted}.")]
    if keyword == "format":
        hint = _FORMAT_HINTS.get(str(expected), f"in {expected} format")
        return [ErrorDetail(where, f"is {_show(value)}; it must be {hint}.")]
    if keyword == "pattern":
        return [ErrorDetail(where, f"is {_show(value)}; it must match the pattern {expected}.")]
    if keyword in ("minLength", "maxLength"):
        bound = "at least" if keyword == "minLength" else "at most"
        return [ErrorDetail(where, f"is {_show(value)}; it must be {bound} {expected} characters.")]
    if keyword in ("minItems", "maxItems"):
        bound = "at least" if keyword == "minItems" else "at most"
        return [ErrorDetail(where, f"has {len(value)} items; it must have {bound} {expected}.")]
    if keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return [ErrorDetail(where, f"is {_show(value)}; {error.message.split(' is ', 1)[-1]}.")]
    return [ErrorDetail(where, error.message if len(error.message) < 300 else error.message[:299] + "…")]


def _best_branch(error: ValidationError) -> list[ValidationError]:
    """For ``anyOf``/``oneOf``, the errors of the alternative the document came closest to.

    The HDR UK schemas are generated by pydantic, so most optional fields read ``anyOf: [X, {type: null}]``;
    the useful errors are those of ``X``, not "is not of type null"."""
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context or ():
        branches.setdefault(int(sub.schema_path[0]), []).append(sub)
    candidates = [
        errs
        for errs in branches.values()
        if not (len(errs) == 1 and errs[0].validator == "type" and errs[0].validator_value == "null")
    ]
    if not candidates:
        return []

    def depth(errs: list[ValidationError]) -> tuple[int, int]:
        return (-max(len(e.absolute_path) for e in errs), len(errs))

    return min(candidates, key=depth)
