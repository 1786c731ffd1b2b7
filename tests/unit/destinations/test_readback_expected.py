"""What UNIS, Qrvey and AEP should hold for a document we sent (``expected``), in the shape ``read_back`` returns."""

from __future__ import annotations

from typing import Any

import pytest

from hdr_ingest.core.verification import Held
from hdr_ingest.destinations.aep.destination import AepDestination, AepOptions
from hdr_ingest.destinations.aep.judge import parse_records
from hdr_ingest.destinations.aep.readback import expected as aep_expected
from hdr_ingest.destinations.qrvey.destination import QrveyDestination
from hdr_ingest.destinations.qrvey.readback import held as qrvey_held
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


# -- Qrvey -----------------------------------------------------------------------------------------------------
QRVEY_KEY = "hgi-" + "e" * 40


def qrvey_definition() -> dict[str, Any]:
    return {
        "name": " Air quality  ",
        "description": "sent, not compared",
        "datasources": [
            {"name": "W", "connectionId": "conn-1", "tableName": "t", "connectorType": "MSSQL_LIVE", "extra": 1},
        ],
        "columns": [{"columnName": "pm25", "columnType": "NUMBER"}, {"columnName": "d", "columnType": "DATE",
                    "appId": "a-1", "origColumnType": "TEXT"}],
    }  # fmt: skip


def qrvey() -> QrveyDestination:
    return QrveyDestination("https://q.example/devapi/v4", None, "u-1", "a-1")  # type: ignore[arg-type]


def test_qrvey_expects_the_definition_as_sent_kept_to_seed_003s_fields_and_loaded() -> None:
    assert qrvey().expected(qrvey_definition(), None) == {
        "name": "Air quality",
        "datasources": [{"name": "W", "connectionId": "conn-1", "tableName": "t", "connectorType": "MSSQL_LIVE"}],
        "columns": [
            {"appId": "a-1", "userId": "u-1", "columnName": "pm25", "columnType": "NUMBER", "connectionId": "conn-1",
             "origColumnType": "NUMBER"},
            {"appId": "a-1", "userId": "u-1", "columnName": "d", "columnType": "DATE", "connectionId": "conn-1",
             "origColumnType": "TEXT"},
        ],
        "status": "LOADED",
    }  # fmt: skip


def test_qrvey_a_dataset_as_the_create_made_it_is_held_as_expected_whatever_qrvey_adds() -> None:
    dest = qrvey()
    body = dest.datasets.body(QRVEY_KEY, qrvey_definition())
    assert body["name"] != "Air quality" and body["datasources"][0]["datasourceId"]  # our tag, our datasourceId
    stored = {**body, "status": "LOADED", "createDate": "2026-12-05T10:00:00Z"}
    stored["columns"] = [{**c, "columnId": f"c{i}"} for i, c in enumerate(body["columns"])]  # Qrvey's own fields
    got = qrvey_held(body["datasetId"], QRVEY_KEY, stored)
    assert got.state is Held.HELD and got.content == dest.expected(qrvey_definition(), None)


def test_qrvey_a_datasource_id_the_file_gave_is_compared() -> None:
    dest = qrvey()
    document = qrvey_definition()
    document["datasources"][0]["datasourceId"] = "ds-1"
    stored = {**dest.datasets.body(QRVEY_KEY, document), "status": "LOADED"}
    assert qrvey_held("d", QRVEY_KEY, stored).content == dest.expected(document, None)
    stored["datasources"][0]["datasourceId"] = "ds-2"
    assert qrvey_held("d", QRVEY_KEY, stored).content["datasources"][0]["datasourceId"] == "ds-2"
    assert dest.expected(document, None)["datasources"][0]["datasourceId"] == "ds-1"


@pytest.mark.parametrize(("status", "state"), [("LOADED", Held.HELD), ("FAILED", Held.HELD), ("LOADING", Held.UNKNOWN),
                                               ("DRAFT", Held.UNKNOWN), ("ARCHIVED?", Held.HELD)])  # fmt: skip
def test_qrvey_a_dataset_is_held_with_its_status_unless_a_load_is_under_way(status: str, state: Held) -> None:
    stored = {**qrvey().datasets.body(QRVEY_KEY, qrvey_definition()), "status": status}
    got = qrvey_held("d", QRVEY_KEY, stored)
    assert got.state is state and (got.content is None or got.content["status"] == status)
