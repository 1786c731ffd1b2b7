"""The real handler publishing to Qrvey: SQS batches against moto, a ``qrvey`` route in DESTINATIONS, and the Qrvey
emulator over real HTTP. A create answers PENDING while the dataset loads; later deliveries check it until it is
LOADED (CREATED) or FAILED (REJECTED, dead-lettered with Qrvey's reason). No invocation waits for a load."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from hdr_ingest.core.answers import AnswerKind
from hdr_ingest.core.ports import Call, Verdict
from hdr_ingest.core.source_object import SourceObject
from hdr_ingest.destinations.qrvey.client import QrveyClient
from hdr_ingest.destinations.qrvey.credentials import ApiKey
from hdr_ingest.destinations.qrvey.destination import QrveyDestination, dataset_id_of
from hdr_ingest.entry.runtime import reset_runtime
from local_stack.qrvey_emulator import QrveyEmulator
from tests.conftest import qrvey_definition as definition
from tests.integration.conftest import BUCKET, SECRET, Emulators, Stack

pytestmark = pytest.mark.integration

QRVEY_SECRET = "hgi-test/qrvey"
API_KEY = "qrvey-test-key-0123456789"
KEY = "incoming/qrvey/air-quality.json"
REASON = "Table 'air_quality' does not exist in database 'env'"


def route(emulator: QrveyEmulator, **options: Any) -> list[dict[str, Any]]:
    return [
        {"prefix": "incoming/", "kind": "hdruk", "url": "http://127.0.0.1:9/api/v1", "secret": SECRET},
        {
            "prefix": "incoming/qrvey/",
            "kind": "qrvey",
            "url": emulator.base_url,
            "secret": QRVEY_SECRET,
            "options": {"userId": "u-1", "appId": "a-1", **options},
        },
    ]


@pytest.fixture
def qrvey(
    stack: Stack, qrvey_emulators: Emulators[QrveyEmulator], monkeypatch: pytest.MonkeyPatch
) -> Iterator[QrveyEmulator]:
    running = qrvey_emulators(api_keys=[API_KEY])
    running.set_keys([API_KEY])
    running.set_draft_reads(0)  # tests counting deliveries; the DRAFT quirk has its own tests below
    stack.secrets.create_secret(Name=QRVEY_SECRET, SecretString=json.dumps({"api_key": API_KEY}))
    monkeypatch.setenv("DESTINATIONS", json.dumps(route(running)))
    reset_runtime()
    yield running
    reset_runtime()


def redeliver(stack: Stack, receive_count: int | None = None) -> dict[str, Any]:
    """SQS delivers the message again (the queue's visibility timeout is 0 here)."""
    return stack.deliver(stack.receive(), receive_count)


def failed(response: dict[str, Any]) -> bool:
    return bool(response["batchItemFailures"])


def test_a_definition_is_created_pending_then_checked_until_loaded(stack: Stack, qrvey: QrveyEmulator) -> None:
    qrvey.set_load_steps(1)
    assert failed(stack.drop_and_invoke(KEY, definition()))  # PENDING: SQS delivers it again later
    item = stack.ledger(KEY)
    (dataset,) = qrvey.datasets()
    assert (item["status"], item["dataset_id"]) == ("PENDING", dataset["datasetId"])
    assert "finishes later" in item["reason"] and item["destination"] == {"kind": "qrvey", "url": qrvey.base_url}
    assert dataset["status"] == "LOADING" and dataset["name"].startswith("Air quality [hgi-")
    assert item["datasetid"] in dataset["name"] and dataset["datasetId"] == dataset_id_of(
        "u-1", "a-1", item["datasetid"]
    )

    assert failed(redeliver(stack))  # still loading
    assert stack.ledger(KEY)["status"] == "PENDING"
    assert not failed(redeliver(stack))
    item = stack.ledger(KEY)
    assert (item["status"], item["dataset_id"]) == ("CREATED", dataset["datasetId"])
    assert item["schema"] == "Qrvey dataset definition 1"
    assert [d["status"] for d in qrvey.datasets()] == ["LOADED"] and stack.dead_letters() == []
    paths = [(r["method"], r["path"].split("/qollect/dataset")[-1]) for r in qrvey.requests()]
    assert (
        paths
        == [
            # a source never leased: no lookup (GET by id, name search) before the create
            ("POST", ""),
            ("POST", f"/{dataset['datasetId']}/load"),
        ]
        + [("GET", f"/{dataset['datasetId']}")] * 3  # check, check (LOADED), then the read-back
    )
    assert item["verified"] == "matches"

    stack.drop_and_invoke(KEY, definition())  # the same file again
    assert stack.ledger(KEY)["status"] == "UNCHANGED" and len(qrvey.requests()) == 5  # nothing more sent


def test_a_failed_load_is_rejected_and_dead_lettered_with_qrvey_s_reason(stack: Stack, qrvey: QrveyEmulator) -> None:
    qrvey.set_load_steps(0)
    qrvey.fail_loads(REASON)
    assert failed(stack.drop_and_invoke(KEY, definition()))
    assert not failed(redeliver(stack))  # refused for good: acknowledged, and in the DLQ
    item = stack.ledger(KEY)
    assert item["status"] == "REJECTED" and REASON in item["reason"]
    assert item["dataset_id"] == qrvey.datasets()[0]["datasetId"]
    (letter,) = stack.dead_letters()
    assert letter["status"] == "REJECTED" and REASON in letter["reason"]
    assert letter["destination"] == {"kind": "qrvey", "url": qrvey.base_url}

    # Fixed on Qrvey's side: the same file dropped again loads the same dataset again.
    assert failed(stack.drop_and_invoke(KEY, definition()))
    redeliver(stack)
    assert stack.ledger(KEY)["status"] == "CREATED" and [d["status"] for d in qrvey.datasets()] == ["LOADED"]


def test_a_5xx_then_success_makes_one_dataset(stack: Stack, qrvey: QrveyEmulator) -> None:
    qrvey.set_load_steps(0)
    # create (500; a first publish looks nothing up), find (GET by id, search), create, load (503)
    qrvey.faults.script(["500", "ok", "ok", "ok", "503"])
    assert failed(stack.drop_and_invoke(KEY, definition()))
    assert stack.ledger(KEY)["status"] == "PENDING" and len(qrvey.datasets()) == 1
    redeliver(stack)
    assert stack.ledger(KEY)["status"] == "CREATED" and len(qrvey.datasets()) == 1
    statuses = [r["status"] for r in qrvey.requests()]
    assert statuses[:5] == [500, 404, 200, 200, 503]
    # then found by id, read (DRAFT: the load we asked for was refused, so none runs) and loaded
    assert statuses[5:8] == [200, 200, 200] and qrvey.requests()[7]["path"].endswith("/load")


def test_a_timed_out_create_is_not_repeated_in_the_same_delivery(stack: Stack, qrvey: QrveyEmulator) -> None:
    qrvey.set_load_steps(0)
    qrvey.faults.configure({"timeout_after": 2.5, "script": ["timeout"]})  # the create (the first request) times out
    assert failed(stack.drop_and_invoke(KEY, definition()))
    assert stack.ledger(KEY)["status"] == "RETRYING" and qrvey.datasets() == []  # the timed-out create did nothing
    assert [r["path"].endswith("/dataset") for r in qrvey.requests()].count(True) == 1
    redeliver(stack)
    redeliver(stack)
    assert stack.ledger(KEY)["status"] == "CREATED" and len(qrvey.datasets()) == 1


def test_a_duplicate_delivery_makes_no_second_dataset(stack: Stack, qrvey: QrveyEmulator) -> None:
    qrvey.set_load_steps(0)
    stack.put(KEY, definition())
    messages = stack.receive()
    first = stack.invoke(stack.sqs_event(messages, receive_count=1))
    second = stack.invoke(stack.sqs_event(messages, receive_count=1))  # the same event delivered twice
    assert failed(first) and not failed(second)
    assert stack.ledger(KEY)["status"] == "CREATED" and len(qrvey.datasets()) == 1


@pytest.mark.parametrize("when", ["pending", "loaded"])
def test_a_lost_ledger_write_finds_the_dataset_instead_of_creating_another(
    stack: Stack, qrvey: QrveyEmulator, when: str
) -> None:
    qrvey.set_load_steps(0)
    assert failed(stack.drop_and_invoke(KEY, definition()))
    if when == "loaded":
        redeliver(stack)
        assert stack.ledger(KEY)["status"] == "CREATED"
        stack.drop_and_invoke(KEY, definition())
    stack.lose_outcome(KEY)  # the ledger forgot (a crash before the outcome was written)
    response = redeliver(stack, receive_count=1) if when == "pending" else stack.drop_and_invoke(KEY, definition())
    assert not failed(response)
    (dataset,) = qrvey.datasets()
    item = stack.ledger(KEY)
    assert item["dataset_id"] == dataset["datasetId"] and item["status"] in ("CREATED", "UPDATED")
    replayed = qrvey.requests()[-2:] if when == "pending" else qrvey.requests()[-1:]
    # found by a GET of our chosen id: no name search, no second create
    assert [(r["method"], r["path"].endswith(f"/{dataset['datasetId']}")) for r in replayed] == [("GET", True)] * len(
        replayed
    )
    creates = [r for r in qrvey.requests() if r["method"] == "POST" and r["path"].endswith("/qollect/dataset")]
    assert len(creates) == 1


def test_update_starts_no_load_while_qrvey_shows_draft(stack: Stack, qrvey: QrveyEmulator) -> None:
    qrvey.set_load_steps(0)
    qrvey.set_draft_reads(3)  # DRAFT for the next reads after the load starts
    assert failed(stack.drop_and_invoke(KEY, definition()))
    stack.lose_outcome(KEY)  # lost ledger write: find, then update
    assert failed(redeliver(stack, receive_count=1))
    item = stack.ledger(KEY)
    assert item["status"] == "PENDING" and "status DRAFT" in item["reason"]
    assert [r["path"].endswith("/load") for r in qrvey.requests()].count(True) == 1  # one load per publish
    assert stack.dead_letters() == []


def direct(emulator: QrveyEmulator) -> QrveyDestination:
    return QrveyDestination(emulator.base_url, QrveyClient(emulator.base_url), "u-1", "a-1")


def test_a_create_refused_409_for_our_id_adopts_our_dataset(qrvey: QrveyEmulator) -> None:
    qrvey.set_load_steps(0)
    call = Call(ApiKey(API_KEY), timeout_s=10, deadline_s=60)
    dest = direct(qrvey)
    first = dest.create("hgi-key-1", definition(), Verdict(True, "ok"), call)
    again = dest.create("hgi-key-1", definition(), Verdict(True, "ok"), call)  # a retry whose lookup missed it
    assert first.kind is AnswerKind.PENDING and (again.kind, again.record_id) == (AnswerKind.SUCCESS, first.record_id)
    assert [r["status"] for r in qrvey.requests()] == [200, 200, 409, 200]  # create, load, create (taken), GET
    assert len(qrvey.datasets()) == 1


def test_our_id_taken_by_a_dataset_not_ours_is_rejected_naming_it(stack: Stack, qrvey: QrveyEmulator) -> None:
    our_id = dataset_id_of("u-1", "a-1", SourceObject(BUCKET, KEY).record_key)
    # someone else's dataset, in another application, already holds the id this file's dataset gets
    someone = {**definition(name="Sales 2024"), "datasetId": our_id}
    taken = requests.post(
        f"{qrvey.base_url}/user/u-9/app/a-9/qollect/dataset", json=someone, headers={"x-api-key": API_KEY}, timeout=10
    )
    assert taken.status_code == 200
    assert not failed(stack.drop_and_invoke(KEY, definition()))
    item = stack.ledger(KEY)
    assert item["status"] == "REJECTED" and f"dataset id {our_id}" in item["reason"]
    assert [d["name"] for d in qrvey.datasets()] == ["Sales 2024"]


def test_an_invalid_definition_is_invalid_with_every_error_and_nothing_sent(stack: Stack, qrvey: QrveyEmulator) -> None:
    bad = definition(name="", columns=[{"columnName": "pm25", "columnType": "FLOAT"}])
    bad["datasources"][0].pop("connectorType")
    stack.drop_and_invoke(KEY, bad)
    item = stack.ledger(KEY)
    assert item["status"] == "INVALID" and "has 3 errors against the Qrvey dataset definition 1" in item["reason"]
    assert [e["path"] for e in item["errors"]] == [
        "$.columns[0].columnType",
        "$.datasources[0].connectorType",
        "$.name",
    ]
    assert qrvey.requests() == [] and stack.dead_letters()[0]["status"] == "INVALID"


def test_a_changed_definition_is_refused_with_the_reason(stack: Stack, qrvey: QrveyEmulator) -> None:
    qrvey.set_load_steps(0)
    stack.drop_and_invoke(KEY, definition())
    redeliver(stack)
    (before,) = qrvey.datasets()
    stack.drop_and_invoke(KEY, definition(name="Air quality, hourly"))
    item = stack.ledger(KEY)
    assert item["status"] == "REJECTED" and "offers no way to change a dataset's definition" in item["reason"]
    assert item["dataset_id"] == before["datasetId"] and qrvey.datasets() == [before]
    assert [letter["status"] for letter in stack.dead_letters()] == ["REJECTED"]


def test_a_changed_definition_is_recreated_when_the_route_says_so(
    stack: Stack, qrvey: QrveyEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESTINATIONS", json.dumps(route(qrvey, onChange="recreate")))
    reset_runtime()
    qrvey.set_load_steps(0)
    stack.drop_and_invoke(KEY, definition())
    redeliver(stack)
    (before,) = qrvey.datasets()
    assert failed(stack.drop_and_invoke(KEY, definition(name="Air quality, hourly")))
    redeliver(stack)
    (after,) = qrvey.datasets()  # deleted, then created again at the same (our chosen) id
    item = stack.ledger(KEY)
    assert [r["method"] for r in qrvey.requests()].count("DELETE") == 1
    assert after["datasetId"] == before["datasetId"] and after["name"].startswith("Air quality, hourly [")
    assert (item["status"], item["dataset_id"]) == ("CREATED", after["datasetId"])


def test_deleting_the_file_deletes_the_dataset(
    stack: Stack, qrvey: QrveyEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARCHIVE_ON_DELETE", "true")
    reset_runtime()
    qrvey.set_load_steps(0)
    stack.drop_and_invoke(KEY, definition())
    redeliver(stack)
    stack.s3.delete_object(Bucket=BUCKET, Key=KEY)
    stack.deliver(stack.receive())
    assert stack.ledger(KEY)["status"] == "ARCHIVED" and qrvey.datasets() == []
    assert qrvey.requests()[-1]["method"] == "DELETE"


def test_a_wrong_api_key_is_rejected_with_what_to_fix(stack: Stack, qrvey: QrveyEmulator) -> None:
    qrvey.set_keys(["another-key-0123456789"])
    stack.drop_and_invoke(KEY, definition())
    item = stack.ledger(KEY)
    assert item["status"] == "REJECTED" and "Qrvey refused the API key" in item["reason"]
    assert API_KEY not in item["reason"] and qrvey.datasets() == []
    assert [r["api_key_present"] for r in qrvey.requests()] == [True, True]  # once more after fetching the secret
    assert [r["status"] for r in qrvey.requests()] == [403, 403]  # API Gateway's {"message": "Forbidden"}


def test_draft_shown_after_a_load_starts_is_waited_out_with_one_load(stack: Stack, qrvey: QrveyEmulator) -> None:
    qrvey.set_load_steps(0)
    qrvey.set_draft_reads(1)  # the quirk: DRAFT on the first read after the load starts
    assert failed(stack.drop_and_invoke(KEY, definition()))
    assert failed(redeliver(stack))  # DRAFT: still pending, no second load
    assert stack.ledger(KEY)["status"] == "PENDING"
    assert not failed(redeliver(stack))
    assert stack.ledger(KEY)["status"] == "CREATED" and stack.dead_letters() == []
    loads = [r for r in qrvey.requests() if r["path"].endswith("/load")]
    assert len(loads) == 1  # one load per publish


def test_a_wrong_create_path_is_rejected_naming_the_url_tried(
    stack: Stack, qrvey: QrveyEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESTINATIONS", json.dumps(route(qrvey, createPath="/user/{userId}/app/{appId}/datasets")))
    reset_runtime()
    assert not failed(stack.drop_and_invoke(KEY, definition()))
    item = stack.ledger(KEY)
    assert item["status"] == "REJECTED" and "Missing Authentication Token" in item["reason"]
    assert f"{qrvey.base_url}/user/u-1/app/a-1/datasets" in item["reason"] and "createPath" in item["reason"]
    assert qrvey.datasets() == []
