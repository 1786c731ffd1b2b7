"""Read-back comparison (core.verification): the paths where a catalogue holds something else than we sent."""

from __future__ import annotations

import pytest

from hdr_ingest.core.bounds import MAX_DIFFERENCES_BYTES, bounded_differences
from hdr_ingest.core.verification import (
    ABSENT,
    MAX_DIFFERENCES,
    MAX_VALUE_CHARS,
    Difference,
    Held,
    ReadBack,
    Verified,
    compare,
    shown,
    verification_of,
)

pytestmark = pytest.mark.unit


def test_equal_documents_have_no_differences() -> None:
    document = {"summary": {"title": "A", "keywords": ["x", "y"]}, "n": 1}
    assert compare(document, {"n": 1.0, "summary": {"keywords": ["x", "y"], "title": "A"}}) == ()


def test_a_changed_value_is_named_by_its_json_path_with_both_values() -> None:
    sent = {"summary": {"title": "Asthma cohort", "keywords": ["a", "b"]}}
    held = {"summary": {"title": "Asthma cohort (edited)", "keywords": ["a", "c"]}}
    assert compare(sent, held) == (
        Difference("$.summary.title", '"Asthma cohort"', '"Asthma cohort (edited)"'),
        Difference("$.summary.keywords[1]", '"b"', '"c"'),
    )


def test_absent_keys_and_elements_on_either_side() -> None:
    sent = {"a": 1, "list": [1, 2, 3], "odd key": True}
    held = {"list": [1], "extra": None, "odd key": True}
    paths = {d.path: (d.sent, d.held) for d in compare(sent, held)}
    assert paths == {
        "$.a": ("1", ABSENT),
        "$.list[1]": ("2", ABSENT),
        "$.list[2]": ("3", ABSENT),
        "$.extra": (ABSENT, "null"),
    }


def test_json_types_count_but_number_forms_do_not() -> None:
    assert [d.path for d in compare({"a": True, "b": 1, "c": "1", "d": {}}, {"a": 1, "b": 1.0, "c": 1, "d": []})] == [
        "$.a",
        "$.c",
        "$.d",
    ]


def test_at_most_twenty_paths() -> None:
    sent = {f"k{i}": i for i in range(50)}
    found = compare(sent, {})
    assert len(found) == MAX_DIFFERENCES
    assert found[0].path == "$.k0" and found[-1].path == f"$.k{MAX_DIFFERENCES - 1}"


def test_values_are_shortened_in_the_middle() -> None:
    text = "x" * 50 + "y" * 200 + "z" * 50
    (difference,) = compare({"d": text}, {"d": "short"})
    assert len(difference.sent) == MAX_VALUE_CHARS
    assert difference.sent.startswith('"xxx') and difference.sent.endswith('zzz"') and "…" in difference.sent
    assert shown({"a": [1, 2]}) == '{"a":[1,2]}'


def test_read_back_states_become_verified_results() -> None:
    expected = {"title": "A"}
    matches = verification_of(ReadBack(Held.HELD, {"title": "A"}), expected)
    differs = verification_of(ReadBack(Held.HELD, {"title": "B"}), expected)
    missing = verification_of(ReadBack(Held.MISSING, message="archived"), expected)
    assert matches is not None and (matches.result, matches.differences) == (Verified.MATCHES, ())
    assert differs is not None and differs.result is Verified.DIFFERS
    assert [d.path for d in differs.differences] == ["$.title"]
    assert missing is not None and missing.result is Verified.MISSING and missing.message == "archived"
    assert verification_of(ReadBack(Held.UNKNOWN, message="503"), expected) is None
    assert [v.is_drift for v in Verified] == [False, True, True]


def test_differences_are_bounded_by_bytes() -> None:
    long = "é" * 3000
    many = [Difference(f"$.{long}{i}", long, long) for i in range(20)]
    kept = bounded_differences(many)
    assert 0 < len(kept) < 20
    assert sum(len(f"{d.path}{d.sent}{d.held}".encode()) for d in kept) <= MAX_DIFFERENCES_BYTES
    assert kept[0].path.endswith("more bytes)")
    small = [Difference("$.a", "1", "2")]
    assert bounded_differences(small) == tuple(small)
