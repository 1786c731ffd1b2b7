"""AEP files are JSON records: a JSON array of objects or JSON lines (one object per line). Parsing them into our
document (``{"records": [...]}``), the structural verdict, the bytes uploaded, and the check of every record
against the dataset's XDM schema (JSON Schema; Adobe's ``meta:*`` keywords carry no constraint).

The XDM check refuses only what AEP would refuse: Batch Ingestion converts a value it can (a numeric string for a
number, a Unix-ms long for a date-time; AdobeDocs/experience-platform.en
``help/ingestion/batch-ingestion/api-overview.md`` "Types") and fails a batch only for what it cannot convert, so
such values pass here with a warning. Schema ``pattern``s run on RE2 (linear time): a schema's regex must not hold
an invocation for minutes."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import re2

from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.core.document import UTF8_BOM, DocumentError, json_path
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
    seen: list[_Constant] = []  # the walk that names the spot runs only when a constant was read

    def constant(name: str) -> _Constant:
        seen.append(_Constant(name))
        return seen[-1]

    if text.lstrip().startswith("["):
        try:
            records = json.loads(text, parse_constant=constant)
        except json.JSONDecodeError as exc:
            raise DocumentError(f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}.") from exc
    else:
        records = list(_json_lines(text, constant))
    if seen:
        _refuse_constants(records)
    return {"records": records}


class _Constant:
    """``NaN``, ``Infinity`` or ``-Infinity`` where a number stands: Python's ``json`` reads them, but they are not
    JSON, and the JSON lines uploaded would carry them to Batch Ingestion, which reads JSON."""

    def __init__(self, name: str) -> None:
        self.name = name


def _refuse_constants(records: Any) -> None:
    """The first non-standard constant in ``records``, with its JSON path (``$[2].score``), as a DocumentError."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(records, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, _Constant):
            raise DocumentError(
                f"contains the non-standard JSON value {value.name}, which is not JSON; Batch Ingestion would "
                "refuse the record. Replace it with a number or null.",
                path=json_path(path),
            )
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        stack.extend((item, (*path, key)) for key, item in reversed(list(items)))


def _json_lines(text: str, constant: Callable[[str], Any]) -> Iterable[Any]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield json.loads(line, parse_constant=constant)
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


@dataclass(frozen=True)
class XdmJudgement:
    """What AEP would refuse (``errors``) and the values it will convert when it loads them (``converted``)."""

    errors: list[ErrorDetail]
    converted: list[ErrorDetail]


def schema_problem(xdm: Any) -> str | None:
    """Why an answer cannot be the XDM schema to check records with (``{}`` would let every record through)."""
    if not isinstance(xdm, dict):
        return "is not a JSON object"
    if not isinstance(xdm.get("properties"), dict) or not xdm["properties"]:
        return "has no properties (an empty or partial answer)"
    return None


@lru_cache(maxsize=512)
def _re2(pattern: str) -> Any:
    try:
        return re2.compile(pattern)
    except Exception:  # noqa: BLE001 (re2's error type is private): a pattern RE2 cannot run is not checked here
        return None


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    """``pattern`` on RE2: linear in the value, so ``^(a+)+$`` cannot hold an invocation (Python's ``re`` took
    101 s on 31 ``a``s and ``!``). A pattern RE2 cannot compile (back-references, look-arounds) is left to AEP."""
    from jsonschema.exceptions import ValidationError

    if not isinstance(instance, str):
        return
    compiled = _re2(pattern)
    if compiled is not None and compiled.search(instance) is None:
        yield ValidationError(f"{instance[:80]!r} does not match {pattern!r}")


def _pattern_properties(validator: Any, patterns: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if not isinstance(instance, dict):
        return
    for pattern, subschema in patterns.items():
        compiled = _re2(pattern)
        for name, value in instance.items():
            if compiled is not None and compiled.search(name) is not None:
                yield from validator.descend(value, subschema, path=name, schema_path=pattern)


def converts(error: Any) -> bool:
    """AEP converts this value when it loads it ("Types"): a numeric string where a number is wanted, a Unix-ms
    long where a date-time (or date) string is wanted."""
    if error.validator != "type":
        return False
    wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
    value = error.instance
    if isinstance(value, str) and ("number" in wanted or "integer" in wanted):
        try:
            number = float(value.strip())
        except ValueError:
            return False
        return number == number and abs(number) != float("inf") and ("number" in wanted or number.is_integer())
    schema = error.schema if isinstance(error.schema, dict) else {}
    is_long = isinstance(value, int) and not isinstance(value, bool)
    return is_long and "string" in wanted and schema.get("format") in ("date-time", "date")


class XdmValidator:
    """Every record against the XDM schema; every error with its path and a fix."""

    def __init__(self, xdm: Any, max_errors: int = 100) -> None:
        from jsonschema import Draft7Validator, validators

        checker = validators.extend(Draft7Validator, {"pattern": _pattern, "patternProperties": _pattern_properties})
        self._validator = checker(json_schema(xdm), format_checker=Draft7Validator.FORMAT_CHECKER)
        self.max_errors = max_errors

    def errors(self, records: list[Any]) -> list[ErrorDetail]:
        return self.judge(records).errors

    def judge(self, records: list[Any]) -> XdmJudgement:
        found: list[ErrorDetail] = []
        converted: list[ErrorDetail] = []
        for index, record in enumerate(records):
            for error in sorted(self._validator.iter_errors(record), key=lambda e: list(map(str, e.absolute_path))):
                path = f"$[{index}]" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
                if converts(error):
                    if len(converted) < self.max_errors:
                        converted.append(ErrorDetail(path, f"{error.message}: AEP converts it when loading"))
                    continue
                fix = _FIXES.get(str(error.validator), "fix the value")
                found.append(ErrorDetail(path, f"{error.message}: {fix}"))
                if len(found) >= self.max_errors:
                    return XdmJudgement(found, converted)
        return XdmJudgement(found, converted)


SCHEMA_TTL_S = 900.0  # a schema change is seen within this long


class XdmCheck:
    """The route's XDM schema, read again at most every ``SCHEMA_TTL_S`` (one lock per container), and records
    judged against it: what AEP would refuse is METADATA_REJECTED, what it converts is listed as a warning."""

    def __init__(self, schema_id: str, clock: Callable[[], float]) -> None:
        self.schema_id = schema_id
        self.clock = clock
        self._cached: tuple[float, XdmValidator] | None = None
        self._lock = threading.Lock()

    def judge(self, records: list[Any], fetch: Callable[[], Any]) -> XdmJudgement | Answer:
        """``fetch`` reads the schema (or answers why it could not)."""
        validator = self._validator(fetch)
        if isinstance(validator, Answer):
            return validator
        judgement = validator.judge(records)
        if not judgement.errors:
            return judgement
        return Answer(
            AnswerKind.METADATA_REJECTED,
            None,
            f"The records have {len(judgement.errors)} errors against XDM schema {self.schema_id}; nothing was "
            "sent. Fix each error listed and upload the file again.",
            errors=tuple(judgement.errors),
        )

    def _validator(self, fetch: Callable[[], Any]) -> XdmValidator | Answer:
        with self._lock:
            if self._cached and self.clock() - self._cached[0] < SCHEMA_TTL_S:
                return self._cached[1]
            xdm = fetch()
            if isinstance(xdm, Answer):
                return xdm
            problem = schema_problem(xdm)
            if problem:  # never cached: the next publish reads it again
                return Answer(
                    AnswerKind.TRANSIENT,
                    None,
                    f"AEP's answer for XDM schema {self.schema_id} {problem}: the records cannot be checked, so "
                    "nothing was sent; will retry. If this persists, check the route's options.schemaId.",
                )
            validator = XdmValidator(xdm)
            self._cached = (self.clock(), validator)
            return validator


def converted_note(converted: list[ErrorDetail]) -> str:
    """The warning a published file carries when AEP will convert some of its values."""
    if not converted:
        return ""
    shown = "; ".join(f"{c.path} {c.message}" for c in converted[:3])
    more = f" (and {len(converted) - 3} more)" if len(converted) > 3 else ""
    return f". Warning: AEP converts {len(converted)} values when loading: {shown}{more}"
