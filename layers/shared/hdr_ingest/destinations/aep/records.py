"""AEP files are JSON records: a JSON array of objects or JSON lines (one object per line). Parsing them into our
document (``{"records": [...]}``), the structural verdict, the bytes uploaded, and the check of every record
against the dataset's XDM schema (JSON Schema; Adobe's ``meta:*`` keywords carry no constraint)."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from hdr_ingest.core.document import UTF8_BOM, DocumentError
from hdr_ingest.core.outcome import ErrorDetail

MAX_SMALL_FILE_BYTES = 256 * 1024 * 1024  # above this, Batch Ingestion requires the large-file upload
_SCHEMA_MAPS = ("properties", "patternProperties", "definitions", "$defs", "dependentSchemas")


def parse_records(data: bytes) -> dict[str, Any]:
    """Our document for an AEP file; raises :class:`DocumentError` saying where and what to fix."""
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"is not valid UTF-8 (bad byte at offset {exc.start}); save it as UTF-8.") from exc
    if not text.strip():
        raise DocumentError("is empty; an AEP file holds JSON records (an array of objects, or JSON lines).")
    if text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DocumentError(f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}.") from exc
    else:
        records = list(_json_lines(text))
    return {"records": records}


def _json_lines(text: str) -> Iterable[Any]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as exc:
            raise DocumentError(
                f"is not JSON lines: line {number} is not one JSON value ({exc.msg} at column {exc.colno}). "
                "Put one JSON object per line, or the records in one JSON array.",
                path=f"line {number}",
            ) from exc


def records_of(document: Any) -> list[Any]:
    if isinstance(document, dict) and isinstance(document.get("records"), list):
        return list(document["records"])
    return document if isinstance(document, list) else [document]


def structure_errors(records: list[Any]) -> list[ErrorDetail]:
    if not records:
        return [ErrorDetail("$", "holds no records: add at least one JSON object")]
    return [
        ErrorDetail(f"$[{i}]", f"is a JSON {type(r).__name__}, not an object: every record must be a JSON object")
        for i, r in enumerate(records)
        if not isinstance(r, dict)
    ][:50]


def file_bytes(records: list[Any]) -> bytes:
    """What is uploaded: the records as JSON lines (Batch Ingestion's default for ``format: json``)."""
    return "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records).encode()


def json_schema(xdm: Any) -> Any:
    """The XDM schema as plain JSON Schema: ``meta:*`` keywords dropped (property names are kept)."""
    if isinstance(xdm, list):
        return [json_schema(item) for item in xdm]
    if not isinstance(xdm, dict):
        return xdm
    out: dict[str, Any] = {}
    for key, value in xdm.items():
        if key.startswith("meta:") or key in ("$id", "$schema"):
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: json_schema(sub) for name, sub in value.items()}
        else:
            out[key] = json_schema(value)
    return out


_FIXES = {
    "required": "add the field",
    "type": "change the value to that type",
    "enum": "use one of the allowed values",
    "const": "use the required value",
    "additionalProperties": "remove the field, or add it to the XDM schema",
    "format": "write the value in that format (date-time: RFC 3339, e.g. 2026-11-30T06:00:00Z)",
    "pattern": "make the value match the pattern",
    "minLength": "lengthen the value",
    "maxLength": "shorten the value",
    "minimum": "raise the value",
    "maximum": "lower the value",
    "minItems": "add items",
    "maxItems": "remove items",
}


class XdmValidator:
    """Every record against the XDM schema, as AEP will judge it: values AEP converts (a numeric string for a number,
    a Unix-ms long for a date-time: the batch ingestion overview's "Types") are converted first and noted, and only
    what cannot be converted is an error, with its path and a fix. ``pattern`` runs on RE2, a linear-time engine, so
    a schema's pattern cannot hold a check for minutes (issue 26 item 3)."""

    def __init__(self, xdm: Any, max_errors: int = 100, max_notes: int = 20) -> None:
        self.schema = json_schema(xdm)
        checker = _linear_validator()
        self._validator = checker(self.schema, format_checker=checker.FORMAT_CHECKER)
        self.max_errors = max_errors
        self.max_notes = max_notes
        self.notes: list[str] = []  # of the last ``errors`` call: what AEP will convert

    @property
    def has_fields(self) -> bool:
        """An XDM schema answered as ``{}`` (or without properties) checks nothing: it is not a usable schema."""
        return isinstance(self.schema, dict) and bool(self.schema.get("properties"))

    def errors(self, records: list[Any]) -> list[ErrorDetail]:
        found: list[ErrorDetail] = []
        notes: list[str] = []
        for index, record in enumerate(records):
            value = converted(record, self.schema, f"$[{index}]", notes)
            for error in sorted(self._validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path))):
                path = f"$[{index}]" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
                fix = _FIXES.get(str(error.validator), "fix the value")
                found.append(ErrorDetail(path, f"{error.message}: {fix}"))
                if len(found) >= self.max_errors:
                    break
            if len(found) >= self.max_errors:
                break
        self.notes = notes[: self.max_notes]
        return found


def converted(value: Any, schema: Any, path: str, notes: list[str]) -> Any:
    """``value`` as AEP will store it under ``schema``: numeric strings become numbers where a number is wanted,
    Unix-ms integers become date-times where a date-time is wanted; each conversion noted (at ``path``)."""
    if not isinstance(schema, dict):
        return value
    properties, items = schema.get("properties"), schema.get("items")
    if isinstance(value, dict) and isinstance(properties, dict):
        return {k: converted(v, properties.get(k), f"{path}.{k}", notes) for k, v in value.items()}
    if isinstance(value, list) and isinstance(items, dict):
        return [converted(v, items, f"{path}[{i}]", notes) for i, v in enumerate(value)]
    wanted = schema.get("type")
    if isinstance(value, str) and wanted in ("number", "integer"):
        number = _number(value, integer=wanted == "integer")
        if number is not None:
            notes.append(f"{path}: {value!r} is a string; AEP stores the {wanted} {number}")
            return number
    if type(value) is int and wanted == "string" and schema.get("format") == "date-time":
        try:
            when = datetime.fromtimestamp(value / 1000, UTC).isoformat().replace("+00:00", "Z")
        except (OverflowError, OSError, ValueError):
            return value
        notes.append(f"{path}: {value} is a Unix time in ms; AEP stores the date-time {when}")
        return when
    return value


def _number(text: str, integer: bool) -> int | float | None:
    stripped = text.strip()
    try:
        number = float(stripped)
    except ValueError:
        return None
    if number != number or number in (float("inf"), float("-inf")):
        return None
    if integer:
        return int(number) if number.is_integer() and "." not in stripped and "e" not in stripped.lower() else None
    return number


@functools.cache
def _linear_validator() -> Any:
    """Draft 7 with ``pattern`` on RE2 (``google-re2``): a pattern RE2 cannot run (a back-reference, a look-around)
    is not checked here rather than risk Python's backtracking engine; AEP checks it."""
    from jsonschema import Draft7Validator, validators
    from jsonschema.exceptions import ValidationError

    def pattern(validator: Any, wanted: str, instance: Any, schema: Any) -> Any:
        if not validator.is_type(instance, "string"):
            return
        try:
            compiled = _compiled(wanted)
        except Exception:  # noqa: BLE001 - re2.error: a construct RE2 does not run
            return
        if not compiled.search(instance):
            yield ValidationError(f"{instance!r} does not match {wanted!r}")

    return validators.extend(Draft7Validator, {"pattern": pattern})


@functools.lru_cache(maxsize=1024)
def _compiled(wanted: str) -> Any:
    import re2

    return re2.compile(wanted)
