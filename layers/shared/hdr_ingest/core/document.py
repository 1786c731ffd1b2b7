"""Turn the bytes of a source object into a metadata document, or say precisely why not."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any

import orjson

from hdr_ingest.core.outcome import ErrorDetail

UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# Deeper than any metadata document (HDR UK's are under 10 levels), and shallow enough for every recursive step
# after parsing (validation, the Gateway's pre-processing, serialisation), which would fail near 500 levels.
MAX_DEPTH = 64
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_BLANK = re.compile(rb"\s*")  # what bytes.strip() strips: ASCII whitespace


class DocumentError(Exception):
    """The object cannot be read as a metadata document. ``detail`` says where and what to fix."""

    def __init__(self, message: str, path: str = "$") -> None:
        super().__init__(message)
        self.detail = ErrorDetail(path=path, message=message)


def _reject_constant(name: str) -> Any:
    raise DocumentError(
        f"contains the non-standard JSON value {name}; the Gateway cannot store it. Replace it with a number or null."
    )


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise DocumentError(
            f"contains the number {text[:40]}, too large for the Gateway (beyond ±1.8e308). Fix the number."
        )
    return value


def _check_structure(document: Any, text: str) -> None:
    """Nesting deeper than MAX_DEPTH, and strings holding an unpaired UTF-16 surrogate (``"\\ud800"`` parses in
    Python's ``json``, but is not text: it cannot be encoded as UTF-8, and the Gateway's ``json_decode`` refuses
    it), each with its JSON path: a walk over every value, so only on the error paths (orjson refuses the
    surrogates itself, :func:`_check_depth` finds the nesting)."""
    surrogates = _SURROGATE_ESCAPE.search(text) is not None
    stack: list[tuple[Any, str, int]] = [(document, "$", 1)] if isinstance(document, (dict, list)) else []
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise DocumentError(
                f"is nested more than {MAX_DEPTH} levels deep; a metadata document is a few levels deep. "
                "Check the export.",
                path=path,
            )
        pairs: Any = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in pairs:
            if surrogates and not (_is_text(key) and _is_text(item)):
                raise DocumentError(
                    "contains an unpaired UTF-16 surrogate escape (such as \\ud800), which is not a character; "
                    "the Gateway cannot decode it. Fix the text and upload it again.",
                    path=_child(path, key),
                )
            if isinstance(item, (dict, list)):
                stack.append((item, _child(path, key), depth + 1))


def _check_depth(document: Any) -> None:
    """Nesting deeper than MAX_DEPTH: a walk level by level over the containers (each value's type is looked at,
    only containers go on); the slower walk of :func:`_check_structure` names the spot once one is too deep."""
    level = [document] if isinstance(document, (dict, list)) else []
    for _ in range(MAX_DEPTH):
        level = [
            item
            for value in level
            for item in (value.values() if type(value) is dict else value)
            if type(item) is dict or type(item) is list
        ]
        if not level:
            return
    _check_structure(document, "")  # raises: a container sits deeper than MAX_DEPTH


def json_path(parts: Iterable[Any]) -> str:
    """``["summary", "title"]`` -> ``$.summary.title``; list indexes as ``[3]``, odd keys as ``["odd key"]``: the
    one JSON-path format of every error, warning and read-back difference."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(part)):
            out += f".{part}"
        else:
            out += f"[{json.dumps(str(part))}]"
    return out


def _child(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}"


def _is_text(value: Any) -> bool:
    if not isinstance(value, str):
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_export(data: bytes) -> dict[str, Any] | list[dict[str, Any]]:
    """Decode and parse ``data``: one metadata document (a JSON object) or a catalogue (a JSON array of them).

    A UTF-8 byte-order mark is tolerated; a body of the form ``{"metadata": {...}}`` (the Gateway's request
    shape) is unwrapped. One pass of orjson decodes, parses and refuses what the Gateway cannot take (invalid
    UTF-8, NaN and Infinity, numbers beyond a double, unpaired surrogate escapes in values and keys, nesting past
    1024 levels); only the nesting limit of :data:`MAX_DEPTH` needs a look afterwards, at the containers.
    """
    body = _body(data)
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _explained(body, len(data) - len(body), exc) from exc
    _check_depth(document)
    if isinstance(document, list):
        if not document:
            raise DocumentError("is an empty JSON array; a catalogue must hold at least one metadata document.")
        for index, element in enumerate(document):
            if not isinstance(element, dict):
                raise DocumentError(
                    f"is a JSON array whose element {index} is a JSON {json_type(element)}; a catalogue must be "
                    "an array of metadata documents (JSON objects).",
                    path=f"$[{index}]",
                )
        return [_unwrap(element) for element in document]
    if not isinstance(document, dict):
        raise DocumentError(
            f"must be a JSON object holding one metadata document (or an array of them), "
            f"not a JSON {json_type(document)}."
        )
    return _unwrap(document)


def _body(data: bytes) -> bytes | memoryview:
    """``data`` without its UTF-8 byte-order mark (a view: no copy), or why it cannot be a JSON text at all."""
    start = len(UTF8_BOM) if data.startswith(UTF8_BOM) else 0
    if data.startswith(_UTF16_BOMS, start):
        raise DocumentError("is encoded as UTF-16; save the file as UTF-8 and upload it again.")
    if _BLANK.fullmatch(data, start):
        raise DocumentError("is empty; upload the metadata document as a JSON object.")
    return memoryview(data)[start:] if start else data


def _explained(body: bytes | memoryview, skipped: int, exc: orjson.JSONDecodeError) -> DocumentError:
    """Why orjson refused ``body``, in the words the pipeline has always used: the refused document is read
    again with Python's ``json`` (only on this error path), whose errors name the value (NaN, -Infinity), the
    number, the JSON path of an unpaired surrogate or a line and column in familiar terms (``Expecting value``).
    orjson's own reason, with its line and column, when ``json`` finds nothing wrong (an unpaired surrogate in a
    value a later duplicate key replaces: ``json`` drops it unseen, orjson and the Gateway refuse it)."""
    try:
        _diagnose(bytes(body), skipped)
    except DocumentError as found:
        return found
    if "surrogate" in exc.msg:
        return DocumentError(
            f"contains an unpaired UTF-16 surrogate escape (such as \\ud800) at line {exc.lineno} column "
            f"{exc.colno}, which is not a character; the Gateway cannot decode it. Fix the text and upload it again."
        )
    return DocumentError(
        f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}; "
        "fix the syntax (a JSON linter shows the spot) and upload it again."
    )


def _diagnose(data: bytes, skipped: int = 0) -> None:
    """Raise the :class:`DocumentError` Python's ``json`` finds in ``data`` (the reading of every release before
    orjson), or return when it finds none. ``skipped``: the bytes before ``data`` in the file (a byte-order mark),
    counted in the offset of a bad byte."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(
            f"is not valid UTF-8 (bad byte at offset {skipped + exc.start}); "
            "save the file as UTF-8 and upload it again."
        ) from exc
    try:
        # Integers read as doubles (as orjson and the Gateway's json_decode read one beyond 64 bits): 10**400 is too
        # large, and a 5,000-digit one no longer stops Python's int() (its 4,300-digit limit)
        document = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_finite_float)
    except json.JSONDecodeError as exc:
        raise DocumentError(
            f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}; "
            "fix the syntax (a JSON linter shows the spot) and upload it again."
        ) from exc
    except RecursionError as exc:
        raise DocumentError("is nested too deeply to be a metadata document.") from exc
    _check_structure(document, text)


def parse_document(data: bytes) -> dict[str, Any]:
    """Like :func:`parse_export`, for exactly one metadata document."""
    document = parse_export(data)
    if isinstance(document, list):
        raise DocumentError("must be a JSON object holding one metadata document, not a JSON array.")
    return document


def _unwrap(document: dict[str, Any]) -> dict[str, Any]:
    wrapped = document.get("metadata")
    if len(document) == 1 and isinstance(wrapped, dict):
        return wrapped
    return document


def json_type(value: Any) -> str:
    """The JSON type of a parsed JSON value: ``null``, ``boolean``, ``number``, ``string``, ``array`` or ``object``."""
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def canonical_bytes(document: Any) -> bytes:
    """The document's canonical JSON in UTF-8: sorted keys, no whitespace, non-ASCII as is. Its sha256 is the
    ledger's ``document_sha256`` (a re-serialised export with the same content is UNCHANGED); computed once per
    document and handed to the judge as its text.

    The bytes are those of ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` (the
    digest of every release before orjson) except for floats below 1e-4 (orjson writes ``1e-7``, Python
    ``1e-07``; ``0.00001``, Python ``1e-05``): README, "Performance". What orjson cannot write (integers past 64
    bits: possible only in AEP's records, which Python's ``json`` reads) is written by ``json`` as before."""
    try:
        return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # orjson.JSONEncodeError: an integer past 64 bits, a non-string key
        return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def canonical_json(document: Any) -> str:
    """:func:`canonical_bytes` as text."""
    return canonical_bytes(document).decode("utf-8")


def compact_json(body: Any) -> bytes:
    """A request body in UTF-8, keys in the order they come (the custodian's), no whitespace, non-ASCII as is:
    orjson, or Python's ``json`` for what orjson cannot write (see :func:`canonical_bytes`)."""
    try:
        return orjson.dumps(body)
    except TypeError:
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
