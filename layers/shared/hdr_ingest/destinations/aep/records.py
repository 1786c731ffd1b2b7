"""AEP files are JSON records: a JSON array of objects or JSON lines (one object per line). Parsing them into our
document (``{"records": [...]}``), the structural verdict, the bytes uploaded, and the check of every record
against the dataset's XDM schema (JSON Schema; Adobe's ``meta:*`` keywords carry no constraint)."""

from __future__ import annotations

import json
from collections.abc import Iterable
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
    """Every record against the XDM schema; every error with its path and a fix."""

    def __init__(self, xdm: Any, max_errors: int = 100) -> None:
        from jsonschema import Draft7Validator

        self._validator = Draft7Validator(json_schema(xdm), format_checker=Draft7Validator.FORMAT_CHECKER)
        self.max_errors = max_errors

    def errors(self, records: list[Any]) -> list[ErrorDetail]:
        found: list[ErrorDetail] = []
        for index, record in enumerate(records):
            for error in sorted(self._validator.iter_errors(record), key=lambda e: list(map(str, e.absolute_path))):
                path = f"$[{index}]" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
                fix = _FIXES.get(str(error.validator), "fix the value")
                found.append(ErrorDetail(path, f"{error.message}: {fix}"))
                if len(found) >= self.max_errors:
                    return found
        return found
