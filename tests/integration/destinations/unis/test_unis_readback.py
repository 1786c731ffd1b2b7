"""UNIS read-back against the UNIS emulator over HTTP: a published record reads back as expected; a record edited
on UNIS differs at the edited path; a deleted one is MISSING; a failed lookup (UNIS's 404) or a 500 is UNKNOWN."""

from __future__ import annotations

import pytest

from hdr_ingest.core.answers import AnswerKind
from hdr_ingest.core.ports import Call, Verdict
from hdr_ingest.core.verification import Held, ReadsBack
from hdr_ingest.destinations.unis.client import UnisClient
from hdr_ingest.destinations.unis.destination import UnisDestination
from hdr_ingest.destinations.unis.schemas import load
from local_stack.unis_emulator import UnisEmulator

pytestmark = pytest.mark.integration

KEY = "hgi-" + "b" * 40
CALL = Call(None, timeout_s=10, deadline_s=20)
VERDICT = Verdict(True, "valid")
METADATA = {
    "subject": {"href": "https://unis.example/ports/1", "rel": "full"},
    "eventType": "ps:tools:blipp:linux:cpu:utilization:user",
    "parameters": {"collectionInterval": 30000, "labels": ["a", "b"]},
}


@pytest.fixture
def unis(unis_server: UnisEmulator) -> UnisEmulator:
    unis_server.reset()
    return unis_server


def destination(unis: UnisEmulator) -> UnisDestination:
    return UnisDestination(unis.base_url, UnisClient(unis.base_url), lambda: load("2015"))


def published(dest: UnisDestination, document: dict[str, object]) -> str:
    answer = dest.create(KEY, document, VERDICT, CALL)
    assert answer.kind is AnswerKind.SUCCESS and answer.record_id is not None
    return str(answer.record_id)


def test_a_published_record_reads_back_as_expected(unis: UnisEmulator) -> None:
    dest = destination(unis)
    assert isinstance(dest, ReadsBack)
    record_id = published(dest, METADATA)
    got = dest.read_back(record_id, KEY, CALL)
    assert got.state is Held.HELD and got.content == dest.expected(METADATA, None) == METADATA
    # UNIS filled in ts, selfRef and $schema: they are there, and left out of the comparison
    (version,) = unis.records()
    assert {"ts", "selfRef", "$schema"} <= set(version["document"]) and str(version["ts"]) in got.message


def test_a_document_with_its_own_id_and_ts_reads_back_as_expected(unis: UnisEmulator) -> None:
    dest = destination(unis)
    document = {**METADATA, "id": "cpu-user-1", "ts": 1_700_000_000_000_000}
    record_id = published(dest, document)
    assert record_id == "cpu-user-1"
    got = dest.read_back(record_id, KEY, CALL)
    assert got.state is Held.HELD and got.content == dest.expected(document, None)


def test_a_record_over_the_usual_read_cap_reads_back_whole(unis: UnisEmulator) -> None:
    dest = destination(unis)
    large = {**METADATA, "parameters": {"note": "x" * (3 * 1024 * 1024)}}  # over the client's 2 MiB answer cap
    record_id = published(dest, large)
    got = dest.read_back(record_id, KEY, CALL)
    assert got.state is Held.HELD and got.content == dest.expected(large, None)


def test_a_record_edited_on_unis_differs_at_the_edited_path(unis: UnisEmulator) -> None:
    dest = destination(unis)
    record_id = published(dest, METADATA)
    (version,) = unis.records()
    edited = {**version["document"], "parameters": {"collectionInterval": 60000, "labels": ["a", "b"]}}
    assert unis.store.replace(record_id, edited)  # what UNIS holds, changed behind our back
    got = dest.read_back(record_id, KEY, CALL)
    expected = dest.expected(METADATA, None)
    assert got.state is Held.HELD and got.content != expected
    assert got.content["parameters"]["collectionInterval"] == 60000
    assert {**got.content, "parameters": expected["parameters"]} == expected  # nothing else differs


def test_a_deleted_record_is_missing(unis: UnisEmulator) -> None:
    dest = destination(unis)
    record_id = published(dest, METADATA)
    assert dest.archive(record_id, CALL).kind is AnswerKind.SUCCESS  # UNIS's soft delete: GET answers 200 []
    got = dest.read_back(record_id, KEY, CALL)
    assert (got.state, got.content) == (Held.MISSING, None) and record_id in got.message


def test_a_record_never_stored_is_missing(unis: UnisEmulator) -> None:
    got = destination(unis).read_back("hgi-never", KEY, CALL)
    assert got.state is Held.MISSING


@pytest.mark.parametrize(
    ("faults", "said"),
    [({"failed_lookups": 1}, "404"), ({"script": ["500"]}, "500"), ({"script": ["drop"]}, "did not answer")],
)
def test_a_failed_read_is_unknown(unis: UnisEmulator, faults: dict[str, object], said: str) -> None:
    dest = destination(unis)
    record_id = published(dest, METADATA)
    unis.configure_faults(faults)
    got = dest.read_back(record_id, KEY, CALL)
    assert (got.state, got.content) == (Held.UNKNOWN, None) and said in got.message
    assert dest.read_back(record_id, KEY, CALL).state is Held.HELD  # the fault was for that one read
