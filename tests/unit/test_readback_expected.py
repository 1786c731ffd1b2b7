"""What UNIS, Qrvey and AEP should hold for a document we sent (``expected``), in the shape ``read_back`` returns."""

from __future__ import annotations

import pytest

from hdr_ingest.destinations.aep.destination import AepDestination, AepOptions
from hdr_ingest.destinations.aep.judge import parse_records
from hdr_ingest.destinations.aep.readback import expected as aep_expected
from hdr_ingest.destinations.unis.destination import UnisDestination
from hdr_ingest.destinations.unis.readback import expected as unis_expected

pytestmark = pytest.mark.unit


# -- UNIS ------------------------------------------------------------------------------------------------------
def test_unis_expects_the_document_without_what_unis_fills_in() -> None:
    document = {
        "id": "m-1",
        "ts": 1,
        "selfRef": "https://unis.example/metadata/m-1",
        "$schema": "http://unis.crest.iu.edu/schema/20151104/metadata#",
        "subject": {"href": "https://unis.example/ports/1", "rel": "full", "ts": 5},
        "eventType": "e",
        "parameters": {"selfRef": "kept: only the top level is UNIS's"},
    }
    assert unis_expected(document) == {
        "subject": {"href": "https://unis.example/ports/1", "rel": "full", "ts": 5},
        "eventType": "e",
        "parameters": {"selfRef": "kept: only the top level is UNIS's"},
    }
    assert document["id"] == "m-1" and "ts" in document  # the document itself is left as it was


def test_unis_expected_is_the_destinations_and_ignores_what_was_sent_along() -> None:
    dest = UnisDestination("https://unis.example", None, lambda: None)  # type: ignore[arg-type]
    assert dest.expected({"eventType": "e", "ts": 3}, "anything") == {"eventType": "e"}
    assert dest.expected(["not", "an", "object"], None) == ["not", "an", "object"]


# -- AEP -------------------------------------------------------------------------------------------------------
def test_aep_expects_one_live_batch_of_the_files_records_and_no_live_predecessor() -> None:
    records = [{"_id": "p1", "title": "First"}, {"_id": "p2", "title": "Second"}, {"_id": "p3", "title": "Third"}]
    assert aep_expected({"records": records}) == {"status": "live", "records": 3, "predecessor_live": False}
    assert aep_expected(records[:2])["records"] == 2  # a bare array of records
    assert aep_expected(parse_records(b'{"_id": "a"}\n{"_id": "b"}\n'))["records"] == 2  # JSON lines, as parsed


def test_aep_expected_is_the_destinations_and_ignores_what_was_sent_along() -> None:
    dest = AepDestination("https://platform.example", None, AepOptions("o@AdobeOrg", "prod", "s", "d"))  # type: ignore[arg-type]
    assert dest.expected({"records": [{"_id": "x"}]}, "a note") == aep_expected({"records": [{"_id": "x"}]})
