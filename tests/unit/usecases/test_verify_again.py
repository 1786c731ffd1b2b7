"""Reading published records back later (`hdr-ingest verify`): the use case at the port (usecases.verify), the
ledger adapter's conditional note, and the table as a person reads it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hdr_ingest.adapters.aws.dynamodb_ledger import DynamoDbLedger
from hdr_ingest.core.ledger import LedgerEntry
from hdr_ingest.core.outcome import Status
from hdr_ingest.core.ports import Call
from hdr_ingest.core.verification import Difference, Held, ReadBack, Verification, Verified
from hdr_ingest.usecases.verify import reverify, sent_document, verifiable, with_verification
from hdr_ingest_cli.status import Row
from hdr_ingest_cli.verify import Checked, drift_table
from local_stack.terminal import console, print_table
from tests.fakes import FakeDestination, ReadingDestination

pytestmark = pytest.mark.unit

CALL = Call(None, 5.0, 5.0)


def entry(key: str = "incoming/ds.json", **extra: Any) -> LedgerEntry:
    values: dict[str, Any] = {"status": Status.CREATED, "record_id": 1, **extra}
    return LedgerEntry(
        f"s3://b/{key}",
        reason="Created.",
        bucket="b",
        key=key,
        record_key="hgi-1",
        updated_at="2026-12-05T08:00:00.000Z",
        **values,
    )


def test_only_records_we_published_and_that_should_be_there_are_read_back() -> None:
    assert verifiable(entry()) and verifiable(entry(status=Status.UNCHANGED))
    assert not verifiable(entry(status=Status.ARCHIVED)) and not verifiable(entry(status=Status.INVALID))
    assert not verifiable(entry(record_id=None))  # a catalogue file's own item has no record


def test_the_sent_document_is_the_object_or_its_catalogue_element() -> None:
    destination = FakeDestination()
    assert sent_document(entry(), b'{"title": "A"}', destination, None) == {"title": "A"}
    catalogue = json.dumps([{"identifier": "x", "title": "X"}, {"identifier": "y", "title": "Y"}]).encode()
    assert sent_document(entry(element_id="y"), catalogue, destination, None) == {"identifier": "y", "title": "Y"}
    with pytest.raises(LookupError, match="no longer holds element 'z'"):
        sent_document(entry(element_id="z"), catalogue, destination, None)
    with pytest.raises(LookupError, match="no longer parses"):
        sent_document(entry(), b"{not json", destination, None)


def test_reverify_compares_what_is_held_now_with_the_document() -> None:
    destination = ReadingDestination(held={1: {"title": "A"}})
    matches = reverify(entry(), destination, {"title": " A "}, CALL)
    assert matches.verification is not None and matches.verification.result is Verified.MATCHES
    assert not matches.drifted
    destination.held[1] = {"title": "B"}
    differs = reverify(entry(), destination, {"title": "A"}, CALL)
    assert differs.drifted and differs.verification is not None
    assert differs.verification.differences == (Difference("$.title", '"A"', '"B"'),)
    del destination.held[1]
    assert reverify(entry(), destination, {"title": "A"}, CALL).drifted  # missing


def test_reverify_says_why_when_it_learnt_nothing() -> None:
    busy = ReadingDestination(reads=[ReadBack(Held.UNKNOWN, message="reading failed for now (HTTP 503)")])
    unknown = reverify(entry(), busy, {"title": "A"}, CALL)
    assert unknown.verification is None and not unknown.drifted and "503" in unknown.message
    raising = ReadingDestination(reads=[ConnectionError("reset")])
    assert "ConnectionError" in reverify(entry(), raising, {"title": "A"}, CALL).message
    cannot = reverify(entry(), FakeDestination(), {"title": "A"}, CALL)
    assert cannot.verification is None and "cannot be read back" in cannot.message


def test_with_verification_sets_the_three_fields_bounded() -> None:
    many = tuple(Difference(f"$.k{i}", "x" * 900, "y" * 900) for i in range(20))
    noted = with_verification(entry(), Verification(Verified.DIFFERS, many), "2026-12-05T09:00:00.000Z")
    assert noted.verified is Verified.DIFFERS and noted.verified_at == "2026-12-05T09:00:00.000Z"
    assert 0 < len(noted.differences) < 20  # 20 KB at most
    assert noted.status is Status.CREATED and noted.reason == "Created."


@pytest.fixture
def ledger() -> Iterator[DynamoDbLedger]:
    with mock_aws():
        table = boto3.resource("dynamodb", region_name="eu-west-2").create_table(
            TableName="ledger",
            KeySchema=[{"AttributeName": "source", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "source", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield DynamoDbLedger(table)


def test_the_ledger_notes_a_read_back_only_on_the_outcome_it_was_made_for(ledger: DynamoDbLedger) -> None:
    published = entry()
    ledger.record(published)
    differs = with_verification(published, Verification(Verified.DIFFERS, (Difference("$.t", "1", "2"),)), "T1")
    assert ledger.note_verification(differs) is True
    stored = ledger.get(published.source)
    assert stored == differs
    matches = with_verification(published, Verification(Verified.MATCHES), "T2")
    assert ledger.note_verification(matches) is True
    stored = ledger.get(published.source)
    assert stored is not None and stored.differences == () and stored.verified_at == "T2"
    newer = replace(published, status=Status.UPDATED, updated_at="2026-12-05T10:00:00.000Z")
    ledger.record(newer)  # the function wrote a newer outcome meanwhile
    assert ledger.note_verification(differs) is False
    assert ledger.get(published.source) == newer
    ledger.acquire(published.source, "worker", until_epoch=2e9, now_epoch=1e9)
    assert ledger.note_verification(replace(differs, updated_at=newer.updated_at)) is False  # being processed


def test_the_table_fits_100_columns_with_the_first_difference_under_its_row(
    capsys: pytest.CaptureFixture[str],
) -> None:
    long_key = "incoming/" + "/".join(f"folder-{n}" for n in range(20)) + "/export.json"
    held = Difference("$.summary.title", '"' + "sent " * 20 + '"', '"' + "held " * 20 + '"')
    checked = [
        Checked(Row(entry(long_key), {"destination": {"kind": "hdruk"}}), "differs", (held, held)),
        Checked(Row(entry("incoming/b.json", record_id=2), {}), "missing", message="archived on the Gateway"),
        Checked(Row(entry("incoming/c.json", record_id=3), {}), "matches"),
    ]
    out = console()
    out.width = 100
    print_table(out, drift_table(checked, 100))
    lines = capsys.readouterr().out.splitlines()
    assert all(len(line.rstrip()) <= 100 for line in lines), lines
    assert lines[0].split() == ["source", "verified", "dataset", "kind"]
    assert "…" in lines[1] and "differs" in lines[1] and lines[1].rstrip().endswith("hdruk")
    notes = "\n".join(lines)
    assert "↳ $.summary.title: sent" in notes and "(+1 more)" in notes
    assert "↳ archived on the Gateway" in notes
    assert [line.split()[0] for line in lines if "matches" in line] == ["incoming/c.json"]
