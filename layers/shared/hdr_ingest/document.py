"""Turn the bytes of a source object into a metadata document, or say precisely why not."""

from __future__ import annotations

import json
from typing import Any

from hdr_ingest.outcome import ErrorDetail

UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class DocumentError(Exception):
    """The object cannot be read as a metadata document. ``detail`` says where and what to fix."""

    def __init__(self, message: str, path: str = "$") -> None:
        super().__init__(message)
        self.detail = ErrorDetail(path=path, message=message)


def _reject_constant(name: str) -> Any:
    raise DocumentError(
        f"contains the non-standard JSON value {name}; the Gateway cannot store it. Replace it with a number or null."
    )


def parse_export(data: bytes) -> dict[str, Any] | list[dict[str, Any]]:
    """Decode and parse ``data``: one metadata document (a JSON object) or a catalogue (a JSON array of them).

    A UTF-8 byte-order mark is tolerated; a body of the form ``{"metadata": {...}}`` (the Gateway's request
    shape) is unwrapped.
    """
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
    if data.startswith(_UTF16_BOMS):
        raise DocumentError("is encoded as UTF-16; save the file as UTF-8 and upload it again.")
    if not data.strip():
        raise DocumentError("is empty; upload the metadata document as a JSON object.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(
            f"is not valid UTF-8 (bad byte at offset {exc.start}); save the file as UTF-8 and upload it again."
        ) from exc
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise DocumentError(
            f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}; "
            "fix the syntax (a JSON linter shows the spot) and upload it again."
        ) from exc
    except RecursionError as exc:
        raise DocumentError("is nested too deeply to be a metadata document.") from exc
    if isinstance(document, list):
        if not document:
            raise DocumentError("is an empty JSON array; a catalogue must hold at least one metadata document.")
        for index, element in enumerate(document):
            if not isinstance(element, dict):
                raise DocumentError(
                    f"is a JSON array whose element {index} is a JSON {_json_type(element)}; a catalogue must be "
                    "an array of metadata documents (JSON objects).",
                    path=f"$[{index}]",
                )
        return [_unwrap(element) for element in document]
    if not isinstance(document, dict):
        raise DocumentError(
            f"must be a JSON object holding one metadata document (or an array of them), "
            f"not a JSON {_json_type(document)}."
        )
    return _unwrap(document)


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


def _json_type(value: Any) -> str:
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
