from __future__ import annotations

import json

import pytest

from hdr_ingest.core.document import DocumentError, parse_document, parse_export

pytestmark = pytest.mark.unit


def test_plain_object_is_returned() -> None:
    assert parse_document(b'{"identifier": "x"}') == {"identifier": "x"}


def test_utf8_bom_is_tolerated() -> None:
    assert parse_document(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}


def test_gateway_request_shape_is_unwrapped() -> None:
    assert parse_document(b'{"metadata": {"summary": {"title": "T"}}}') == {"summary": {"title": "T"}}


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "is empty"),
        (b"  \n\t ", "is empty"),
        ('{"a": 1}'.encode("utf-16"), "UTF-16"),
        (b'{"a": "\xff\xfe\xfd"}', "not valid UTF-8 (bad byte at offset 7)"),
        (b'{"a": 1,,}', "is not valid JSON"),
        (b'{"a": [1, 2', "is not valid JSON"),
        (b"[1, 2]", "element 0 is a JSON number"),
        (b"[]", "empty JSON array"),
        (b'"text"', "not a JSON string"),
        (b"42", "not a JSON number"),
        (b"null", "not a JSON null"),
        (b'{"a": NaN}', "NaN"),
        (b'{"a": -Infinity}', "-Infinity"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_bad_objects_get_a_clear_error(data: bytes, fragment: str) -> None:
    with pytest.raises(DocumentError) as caught:
        parse_document(data)
    assert fragment in str(caught.value)
    assert caught.value.detail.path == ("$[0]" if fragment.startswith("element 0") else "$")


def test_json_error_names_line_and_column() -> None:
    with pytest.raises(DocumentError) as caught:
        parse_document(b'{\n  "a": 1\n  "b": 2\n}')
    assert "line 3 column 3" in str(caught.value)


def test_large_valid_document_parses() -> None:
    document = {"items": [{"n": i, "text": "x" * 50} for i in range(20_000)]}
    assert parse_document(json.dumps(document).encode()) == document


def test_catalogue_is_an_array_of_documents() -> None:
    assert parse_export(b'[{"a": 1}, {"metadata": {"b": 2}}]') == [{"a": 1}, {"b": 2}]
    with pytest.raises(DocumentError, match="not a JSON array"):
        parse_document(b'[{"a": 1}]')
