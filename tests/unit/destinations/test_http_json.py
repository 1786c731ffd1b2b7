"""``http.json_value``: every destination's answer read as JSON the way Python's ``json`` reads it, with orjson's
speed where orjson agrees; ValueError for anything that is not JSON."""

from __future__ import annotations

import json
import math

import pytest
from requests.structures import CaseInsensitiveDict

from hdr_ingest.destinations.http import Reply, json_value

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "body",
    [
        b'{"message":"success","data":{"id":7,"versions":[{"version":2}]}}',
        b'[1, 2.5, -0.0, 1E2, true, null, "\\u00ae \xc2\xae"]',
        b'{"a":1,"a":2}',  # a repeated key: the last one, as json reads it
        b"\xef\xbb\xbf{}",  # a UTF-8 BOM
        b'{"lone": "\\ud800"}',  # an unpaired surrogate escape: orjson refuses, json reads it
        b'{"x": 1e400}',  # json reads it as inf
    ],
)
def test_reads_what_json_reads(body: bytes) -> None:
    assert json_value(body) == json.loads(body)
    assert json_value(body.decode("utf-8-sig")) == json.loads(body.decode("utf-8-sig"))


def test_integers_past_64_bits_are_doubles_as_documents_are_read() -> None:
    assert json_value(b'{"big": 123456789012345678901234567890}') == {"big": 1.2345678901234568e29}
    assert json_value(b"18446744073709551615") == 2**64 - 1  # 64 bits, unsigned: still exact


def test_nan_and_infinity_are_read_as_python_reads_them() -> None:
    value = json_value(b'{"a": NaN, "b": -Infinity}')
    assert math.isnan(value["a"])
    assert value["b"] == -math.inf


@pytest.mark.parametrize(
    "body",
    [b"", b"<html>Bad gateway</html>", b'{"a":', b'{"a": "\xff"}', b"[" * 100_000 + b"]" * 100_000, "{'a': 1}"],
    ids=["empty", "html", "cut", "not-utf8", "too-deep", "python-repr"],
)
def test_anything_else_is_a_value_error(body: bytes | str) -> None:
    with pytest.raises(ValueError):
        json_value(body)


def test_a_reply_reads_its_body() -> None:
    reply = Reply(200, b'{"id": "a1"}', CaseInsensitiveDict())
    assert reply.json() == {"id": "a1"}
    with pytest.raises(ValueError):
        Reply(502, b"upstream down", CaseInsensitiveDict()).json()
