from __future__ import annotations

import hashlib
import json

import pytest

from hdr_ingest.core.document import (
    DocumentError,
    canonical_bytes,
    canonical_json,
    compact_json,
    json_type,
    parse_document,
    parse_export,
)
from tests.conftest import EXAMPLES

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


# --- guarantees that rest on orjson (issue 25): one parse, the same refusals and messages as Python's json ---------


def _refusal(data: bytes) -> DocumentError:
    with pytest.raises(DocumentError) as caught:
        parse_export(data)
    return caught.value


@pytest.mark.parametrize("number", ["1e400", "-1E400", "1.8e308"])
def test_a_number_beyond_a_double_is_refused_by_its_text(number: str) -> None:
    assert f"contains the number {number}, too large for the Gateway" in str(_refusal(f'{{"a": {number}}}'.encode()))


def test_a_number_below_the_smallest_double_is_zero_as_before() -> None:
    assert parse_document(b'{"a": 1e-400, "b": 5e-324}') == {"a": 0.0, "b": 5e-324}


@pytest.mark.parametrize(
    ("data", "path"),
    [
        (b'{"s": {"t": ["x", "\\ud800 cohort"]}}', "$.s.t[1]"),  # a lone high surrogate in a value
        (b'{"s": {"\\udfff": 1}}', "$.s.\udfff"),  # a lone low surrogate in a key
        (b'{"s": "\\udc00\\ud800"}', "$.s"),  # a pair in the wrong order
    ],
)
def test_unpaired_surrogate_escapes_are_refused_where_they_are(data: bytes, path: str) -> None:
    refusal = _refusal(data)
    assert "unpaired UTF-16 surrogate escape" in str(refusal)
    assert refusal.detail.path == path


def test_a_surrogate_pair_is_one_character() -> None:
    assert parse_document(b'{"s": "\\ud83d\\ude00", "\\ud83d\\ude00": 1}') == {"s": "\U0001f600", "\U0001f600": 1}


@pytest.mark.parametrize(
    ("data", "offset"),
    [(b'{"a": "caf\xc3\xa9 \xed\xa0\x80"}', 13), (b'\xef\xbb\xbf{"a": "\xc3"}', 10), (b'{"a": 1}\xff', 8)],
)
def test_invalid_utf8_names_the_byte_offset(data: bytes, offset: int) -> None:
    assert f"not valid UTF-8 (bad byte at offset {offset})" in str(_refusal(data))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"dataset_id,title\n1,Asthma cohort\n", "Expecting value at line 1 column 1"),
        (b'{"a": 1}\n{}', "Extra data at line 2 column 1"),
        (b'{"a": [1,]}', "Expecting value at line 1 column 10"),
        (b'{"a": "x\ty"}', "Invalid control character at at line 1 column 9"),
        (b'{"a": 01}', "Expecting ',' delimiter at line 1 column 8"),
        (b"{'a': 1}", "Expecting property name enclosed in double quotes at line 1 column 2"),
        (b'{"a": Infinity}', "non-standard JSON value Infinity"),
    ],
)
def test_syntax_errors_read_as_they_always_have(data: bytes, message: str) -> None:
    assert message in str(_refusal(data))


def test_nesting_is_checked_over_the_containers_and_the_spot_is_named() -> None:
    assert parse_document(b'{"a": ' + b"[" * 63 + b"]" * 63 + b"}")  # 64 levels: accepted
    refusal = _refusal(b'{"a": {"b": ' + b"[" * 63 + b"]" * 63 + b"}}")  # 65 levels
    assert "nested more than 64 levels" in str(refusal)
    assert refusal.detail.path == "$.a.b" + "[0]" * 62


@pytest.mark.parametrize("depth", [1024, 1025, 5000])
def test_nesting_past_orjson_limit_is_refused_too(depth: int) -> None:
    assert "nested" in str(_refusal(b"[" * depth + b"]" * depth))


def test_a_bom_then_only_whitespace_is_empty() -> None:
    assert "is empty" in str(_refusal(b"\xef\xbb\xbf \r\n"))


def test_duplicate_keys_last_wins_and_key_order_is_kept() -> None:
    document = parse_document(b'{"z": 1, "a": 1, "z": 2}')
    assert document == {"z": 2, "a": 1} and list(document) == ["z", "a"]


def test_integers_within_64_bits_are_exact_and_beyond_are_doubles_as_in_php() -> None:
    # The Gateway's json_decode makes a double of an integer beyond 64 bits; orjson does the same (Python's json
    # kept it exact). Every integer up to 2**64 - 1 stays exact.
    document = parse_document(b'{"a": 18446744073709551615, "b": -9223372036854775808, "c": 18446744073709551616}')
    assert document == {"a": 2**64 - 1, "b": -(2**63), "c": 1.8446744073709552e19}
    assert isinstance(document["a"], int) and isinstance(document["c"], float)


# --- the canonical JSON: once per document, the same bytes (and digest) as every release before orjson -----------


def _old_canonical(document: object) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize(
    "relative",
    [
        "traser/hdruk400.json",
        "traser/hdruk300.json",
        "traser/gwdm20.json",
        "gateway-api/HDRUK_3.0.0.example.json",
        "schemata/HDRUK/4.0.0/docs.example.json",
        "fma-custodian-test-server/dataset.json",
    ],
)
def test_the_digest_of_an_example_is_unchanged(relative: str) -> None:
    data = (EXAMPLES / relative).read_bytes()
    before = json.loads(data)  # the reading of every release before orjson
    before = before["metadata"] if list(before) == ["metadata"] and isinstance(before["metadata"], dict) else before
    document = parse_export(data)
    assert canonical_bytes(document) == _old_canonical(before)
    assert hashlib.sha256(canonical_bytes(document)).hexdigest() == hashlib.sha256(_old_canonical(before)).hexdigest()


def test_canonical_json_is_sorted_compact_and_keeps_non_ascii() -> None:
    document = parse_document('{"b": [1, 2.5, "é\\u2028"], "a": {"z": null, "日本": true, "e": "<&>\\"\\n"}}'.encode())
    expected = '{"a":{"e":"<&>\\"\\n","z":null,"日本":true},"b":[1,2.5,"é\u2028"]}'
    assert canonical_bytes(document) == expected.encode() == _old_canonical(document)
    assert canonical_json(document) == expected


@pytest.mark.parametrize("number", [1e16, 1e22, 0.1, 1 / 3, -0.0, 1.0, 1.7976931348623157e308, 1e-4])
def test_floats_are_written_as_python_writes_them(number: float) -> None:
    assert canonical_bytes({"n": number}) == _old_canonical({"n": number})


@pytest.mark.parametrize(("number", "written"), [(1e-05, b"0.00001"), (1.5e-07, b"1.5e-7")])
def test_floats_below_1e_4_are_the_one_difference(number: float, written: bytes) -> None:
    # README, "Performance": a document holding such a float gets a new digest once (re-published once).
    assert canonical_bytes({"n": number}) == b'{"n":' + written + b"}" != _old_canonical({"n": number})


def test_what_orjson_cannot_write_is_written_by_json() -> None:
    # AEP's records are read by Python's json: integers past 64 bits can reach the canonical form.
    document = {"big": 2**70, "b": 1}
    assert canonical_bytes(document) == _old_canonical(document)
    assert compact_json([{"big": 2**70}]) == b'[{"big":1180591620717411303424}]'


def test_a_request_body_keeps_the_custodian_key_order() -> None:
    document = parse_document('{"z": 1, "a": {"y": "é", "b": 2}}'.encode())
    assert compact_json({"metadata": document}) == '{"metadata":{"z":1,"a":{"y":"é","b":2}}}'.encode()


def test_a_surrogate_that_a_duplicate_key_replaces_is_refused_too() -> None:
    # Python's json kept only the last value (so accepted the file); orjson reads every value, as the Gateway does.
    refusal = _refusal(b'{"a": "x\\ude00", "a": "y"}')
    assert "unpaired UTF-16 surrogate escape (such as \\ud800) at line 1 column 9" in str(refusal)


@pytest.mark.parametrize("digits", [400, 5000])
def test_an_integer_beyond_a_double_is_refused_like_1e400(digits: int) -> None:
    # Python's json kept 10**400 exact (the Gateway's json_decode makes it INF) and stopped at 4,300 digits with
    # a ValueError; orjson refuses both as beyond a double, and the message names the number.
    refusal = _refusal(b'{"a": 1' + b"0" * digits + b"}")
    assert f"contains the number 1{'0' * 39}, too large for the Gateway (beyond ±1.8e308)" in str(refusal)


@pytest.mark.parametrize(
    ("value", "name"),
    [(None, "null"), (True, "boolean"), (0, "number"), (2.5, "number"), ("", "string"), ([], "array"), ({}, "object")],
)
def test_json_type_names_each_json_value_and_javascript_adds_undefined(value: object, name: str) -> None:
    from hdr_ingest.destinations.hdruk.judge.javascript import js_type

    assert json_type(value) == name
    assert js_type(value) == name
    assert js_type(object()) == "undefined"  # a missing value's marker is no JSON value
