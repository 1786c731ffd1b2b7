"""Qrvey read-back against the Qrvey emulator over HTTP: a loaded dataset reads back as expected; one edited on
Qrvey differs at the edited path; a FAILED load differs at ``$.status``; a deleted dataset is MISSING; a dataset
still loading, a 5xx or a timeout is UNKNOWN."""

from __future__ import annotations

from typing import Any

import pytest

from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.core.ports import Call, Verdict
from hdr_ingest.core.verification import Held, ReadsBack
from hdr_ingest.destinations.qrvey.client import QrveyClient
from hdr_ingest.destinations.qrvey.credentials import ApiKey
from hdr_ingest.destinations.qrvey.destination import QrveyDestination
from local_stack.qrvey_emulator import QrveyEmulator
from tests.integration.conftest import Emulators

pytestmark = pytest.mark.integration

API_KEY = "qrvey-readback-key-0123456789"
KEY = "hgi-" + "c" * 40
CALL = Call(ApiKey(API_KEY), timeout_s=10, deadline_s=30)
VERDICT = Verdict(True, "valid")


def definition() -> dict[str, Any]:
    return {
        "name": "  Air quality ",
        "description": "not one of the fields compared",
        "datasources": [
            {"name": "Warehouse", "connectionId": "conn-1", "database": "env", "tableName": "air_quality",
             "connectorType": "MSSQL_LIVE"},
        ],
        "columns": [{"columnName": "pm25", "columnType": "NUMBER"}, {"columnName": "site", "columnType": "TEXT"}],
    }  # fmt: skip


@pytest.fixture
def qrvey(qrvey_emulators: Emulators[QrveyEmulator]) -> QrveyEmulator:
    running = qrvey_emulators(api_keys=[API_KEY])
    running.set_draft_reads(0)
    running.set_load_steps(0)  # the first read after a load shows how it ended
    return running


def destination(qrvey: QrveyEmulator) -> QrveyDestination:
    return QrveyDestination(qrvey.base_url, QrveyClient(qrvey.base_url), "u-1", "a-1")


def published(dest: QrveyDestination, document: dict[str, Any], ends: AnswerKind = AnswerKind.SUCCESS) -> str:
    created = dest.create(KEY, document, VERDICT, CALL)
    assert created.kind is AnswerKind.PENDING, created.message
    checked: Answer = dest.check(created.record_id, CALL)
    assert checked.kind is ends, checked.message
    return str(created.record_id)


def test_a_loaded_dataset_reads_back_as_expected(qrvey: QrveyEmulator) -> None:
    dest = destination(qrvey)
    assert isinstance(dest, ReadsBack)
    dataset_id = published(dest, definition())
    got = dest.read_back(dataset_id, KEY, CALL)
    assert got.state is Held.HELD and got.content == dest.expected(definition(), None)
    assert got.content["name"] == "Air quality" and got.content["status"] == "LOADED"
    (stored,) = qrvey.datasets()  # Qrvey holds our tag and the datasourceId we made: neither is a difference
    assert stored["name"].startswith("Air quality [hgi-") and stored["datasources"][0]["datasourceId"]
    assert got.content["columns"][0] == {
        "appId": "a-1", "userId": "u-1", "connectionId": "conn-1", "columnName": "pm25", "columnType": "NUMBER",
        "origColumnType": "NUMBER",
    }  # fmt: skip


def test_a_dataset_edited_on_qrvey_differs_at_the_edited_path(qrvey: QrveyEmulator) -> None:
    dest = destination(qrvey)
    dataset_id = published(dest, definition())
    (stored,) = qrvey.datasets()
    columns = [dict(c) for c in stored["columns"]]
    columns[1]["columnType"] = "NUMBER"
    qrvey.change_dataset(dataset_id, {"columns": columns})
    got = dest.read_back(dataset_id, KEY, CALL)
    expected = dest.expected(definition(), None)
    assert got.state is Held.HELD and got.content["columns"][1]["columnType"] == "NUMBER"
    held_columns = [dict(c) for c in got.content["columns"]]
    held_columns[1]["columnType"] = "TEXT"
    assert {**got.content, "columns": held_columns} == expected  # nothing else differs


def test_a_renamed_dataset_differs_at_its_name(qrvey: QrveyEmulator) -> None:
    dest = destination(qrvey)
    dataset_id = published(dest, definition())
    qrvey.change_dataset(dataset_id, {"name": "Air quality (old)"})  # our tag removed with it
    got = dest.read_back(dataset_id, KEY, CALL)
    assert got.state is Held.HELD and got.content == {**dest.expected(definition(), None), "name": "Air quality (old)"}


def test_a_failed_load_differs_at_its_status(qrvey: QrveyEmulator) -> None:
    qrvey.fail_loads("Table 'air_quality' does not exist in database 'env'")
    dest = destination(qrvey)
    dataset_id = published(dest, definition(), ends=AnswerKind.PERMANENT)
    got = dest.read_back(dataset_id, KEY, CALL)
    assert got.state is Held.HELD and got.content == {**dest.expected(definition(), None), "status": "FAILED"}
    assert "Table 'air_quality' does not exist" in got.message  # Qrvey's reason, for whoever reads the drift


def test_a_deleted_dataset_is_missing(qrvey: QrveyEmulator) -> None:
    dest = destination(qrvey)
    dataset_id = published(dest, definition())
    assert dest.archive(dataset_id, CALL).kind is AnswerKind.SUCCESS
    got = dest.read_back(dataset_id, KEY, CALL)
    assert (got.state, got.content) == (Held.MISSING, None) and dataset_id in got.message


def test_another_sources_dataset_is_missing(qrvey: QrveyEmulator) -> None:
    dest = destination(qrvey)
    dataset_id = published(dest, definition())
    got = dest.read_back(dataset_id, "hgi-" + "d" * 40, CALL)
    assert got.state is Held.MISSING and "another source's" in got.message


def test_a_dataset_still_loading_is_unknown(qrvey: QrveyEmulator) -> None:
    qrvey.set_load_steps(5)
    dest = destination(qrvey)
    created = dest.create(KEY, definition(), VERDICT, CALL)
    got = dest.read_back(created.record_id, KEY, CALL)
    assert got.state is Held.UNKNOWN and "LOADING" in got.message


@pytest.mark.parametrize(("step", "said"), [("500", "500"), ("throttle", "429"), ("drop", "did not answer")])
def test_a_failed_read_is_unknown(qrvey: QrveyEmulator, step: str, said: str) -> None:
    dest = destination(qrvey)
    dataset_id = published(dest, definition())
    qrvey.faults.script([step])
    got = dest.read_back(dataset_id, KEY, CALL)
    assert (got.state, got.content) == (Held.UNKNOWN, None) and said in got.message
    assert dest.read_back(dataset_id, KEY, CALL).state is Held.HELD  # the fault was for that one read
