"""Issue 26.10, the rules on their own: which identifiers fit a file's item, and which element row is archived by
which identifier when the file's item kept only their count."""

from __future__ import annotations

import pytest

from hdr_ingest.adapters.aws.dynamodb_ledger import from_item, to_item
from hdr_ingest.core.bounds import MAX_MEMBERS_BYTES, members_fit
from hdr_ingest.core.catalogue import member_of_row
from hdr_ingest.core.ledger import LedgerEntry
from hdr_ingest.core.outcome import Status
from hdr_ingest.core.source_object import SourceObject

pytestmark = pytest.mark.unit

FILE = SourceObject("bucket", "cat/all.json")


def row(obj: SourceObject, status: Status = Status.CREATED, members: tuple[str, ...] = ()) -> LedgerEntry:
    return LedgerEntry(
        obj.source, status, "r", obj.bucket, obj.key, obj.record_key, "t", element_id=obj.element_id, members=members
    )


FILE_ROW = row(FILE)


def test_members_fit_counts_utf8_bytes_not_characters() -> None:
    assert members_fit(["a" * 1000] * 90) and not members_fit(["a" * 1000] * 110)
    emoji = "\N{GRINNING FACE}" * 250  # 250 characters, 1,000 bytes
    assert not members_fit([emoji] * (MAX_MEMBERS_BYTES // 1000))


def test_a_file_item_keeps_its_members_or_only_their_count() -> None:
    small = to_item(row(FILE, members=("a", "b")))
    assert small["members"] == ["a", "b"] and "members_total" not in small
    many = tuple(f"{n:06d}".rjust(160, "x") for n in range(2_700))
    large = to_item(row(FILE, members=many))
    assert "members" not in large and large["members_total"] == 2_700
    back = from_item(large)
    assert back.members == () and back.members_elsewhere and back.member_count == 2_700
    assert to_item(back)["members_total"] == 2_700  # written again as it was read


def test_an_element_row_is_archived_by_the_identifier_that_gives_back_its_source() -> None:
    assert member_of_row(row(FILE.element("ds-1")), FILE_ROW) == "ds-1"
    long_id = "z" * 600  # hashed into the partition key; the row keeps it cut to 1,000 bytes at most
    hashed = row(FILE.element(long_id))
    member = member_of_row(hashed, FILE_ROW)
    assert member == long_id and FILE.element(member).source == hashed.source
    cut = LedgerEntry(**{**hashed.__dict__, "element_id": "z" * 100})  # an element_id that is not the key's
    member = member_of_row(cut, FILE_ROW)
    assert member is not None and member.startswith("sha256:") and FILE.element(member).source == hashed.source


def test_rows_already_archived_without_an_identifier_or_of_another_file_are_not_members() -> None:
    assert member_of_row(row(FILE.element("ds-1"), Status.ARCHIVED), FILE_ROW) is None
    assert member_of_row(row(FILE.element("[3]"), Status.INVALID), FILE_ROW) is None
    other = SourceObject("bucket", "cat/all.json.bak").element("ds-1")
    assert member_of_row(row(other), FILE_ROW) is None
    hashed_key = SourceObject("bucket", "cat/all.json#x.json")  # a file whose key holds '#', not an element
    assert hashed_key.source == f"{FILE.source}#x.json" and member_of_row(row(hashed_key), FILE_ROW) is None
