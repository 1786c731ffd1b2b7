"""Re-exports, duplicates, order, deletion and catalogues: the handler on moto with the emulator over HTTP.
Across all of them the emulator never holds two datasets for one source."""

from __future__ import annotations

import copy
import json
import threading
from typing import Any

import pytest

from tests.conftest import example
from tests.integration.conftest import BUCKET, Stack

pytestmark = pytest.mark.integration

DOC = example("schemata/HDRUK/4.0.0/docs.example.json")


def titled(title: str, identifier: str | None = None) -> dict[str, Any]:
    document = copy.deepcopy(DOC)
    document["summary"]["title"] = title
    if identifier:
        document["identifier"] = f"https://example.org/datasets/{identifier}"
    return document


def one_dataset_per_source(stack: Stack) -> None:
    datasetids = [d["datasetid"] for d in stack.gateway_datasets()]
    assert len(datasetids) == len(set(datasetids)), datasetids


def test_same_file_three_times_then_changed(stack: Stack) -> None:
    key = "incoming/daily.json"
    statuses = []
    for _ in range(3):
        stack.drop_and_invoke(key, DOC)
        statuses.append(stack.ledger(key)["status"])
    assert statuses == ["CREATED", "UNCHANGED", "UNCHANGED"]
    stack.drop_and_invoke(key, titled("A renamed dataset"))
    item = stack.ledger(key)
    assert item["status"] == "UPDATED" and int(item["dataset_version"]) == 2
    (dataset,) = stack.gateway_datasets()
    assert dataset["version"] == 2
    assert [r.method for r in stack.emulator.requests()].count("POST") == 1


def test_concurrent_duplicate_delivery_makes_one_post(stack: Stack) -> None:
    stack.emulator.faults.set_latency_ms(400)
    stack.put("incoming/twice.json", DOC)
    (message,) = stack.receive()
    responses: list[dict[str, Any]] = []

    def deliver() -> None:  # the same S3 event, delivered twice (as two SQS messages) at the same time
        responses.append(stack.invoke(stack.sqs_event([message])))

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    failures = [r["batchItemFailures"] for r in responses]
    assert sorted(len(f) for f in failures) == [0, 1]  # the second is held off and retried later
    stack.emulator.faults.set_latency_ms(0)
    stack.invoke(stack.sqs_event([message]))  # its redelivery
    assert stack.ledger("incoming/twice.json")["status"] == "UNCHANGED"
    assert [r.method for r in stack.emulator.requests()].count("POST") == 1
    one_dataset_per_source(stack)


def test_lost_ledger_write_is_found_by_lookup(stack: Stack) -> None:
    key = "incoming/lost.json"
    stack.drop_and_invoke(key, DOC)
    stack.lose_outcome(key)
    stack.drop_and_invoke(key, titled("After the crash"))
    item = stack.ledger(key)
    assert item["status"] == "UPDATED"
    (dataset,) = stack.gateway_datasets()
    assert int(item["dataset_id"]) == dataset["id"]


def test_out_of_order_events_newest_wins(stack: Stack) -> None:
    key = "incoming/order.json"
    stack.put(key, titled("First version"))
    stack.put(key, titled("Second version"))
    first, second = ([m] for m in stack.receive(2))
    # S3 orders events for one key by `sequencer` (moto omits it; real S3 always sends it)
    for messages, sequencer in ((first, "0062E5A1B2C3D40001"), (second, "0062E5A1B2C3D40002")):
        body = json.loads(messages[0]["Body"])
        body["Records"][0]["s3"]["object"]["sequencer"] = sequencer
        messages[0]["Body"] = json.dumps(body)
    stack.deliver(second)  # the newer event arrives first
    stack.deliver(first)  # the older one arrives late and must not overwrite
    item = stack.ledger(key)
    assert item["sequencer"] == "0062E5A1B2C3D40002"
    (dataset,) = stack.gateway_datasets()
    assert dataset["metadata"]["summary"]["title"] == "Second version"
    assert [r.method for r in stack.emulator.requests()].count("PUT") == 0


def test_delete_archives_and_reupload_restores(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHIVE_ON_DELETE", "true")
    key = "incoming/removed.json"
    stack.drop_and_invoke(key, DOC)
    stack.s3.delete_object(Bucket=BUCKET, Key=key)
    assert stack.deliver(stack.receive()) == {"batchItemFailures": []}
    item = stack.ledger(key)
    assert item["status"] == "ARCHIVED"
    (dataset,) = stack.gateway_datasets()
    assert dataset["status"] == "ARCHIVED" and dataset["deleted_at"]
    stack.drop_and_invoke(key, titled("Back again"))
    item = stack.ledger(key)
    assert item["status"] == "UPDATED" and int(item["dataset_id"]) == dataset["id"]
    (restored,) = stack.gateway_datasets()
    assert restored["status"] == "ACTIVE" and restored["deleted_at"] is None


def test_delete_is_ignored_when_archiving_is_off(stack: Stack) -> None:
    key = "incoming/kept.json"
    stack.drop_and_invoke(key, DOC)
    stack.s3.delete_object(Bucket=BUCKET, Key=key)
    stack.deliver(stack.receive())
    assert stack.ledger(key)["status"] == "CREATED"
    assert stack.gateway_datasets()[0]["status"] == "ACTIVE"


def test_catalogue_added_changed_removed(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHIVE_ON_DELETE", "true")
    key = "incoming/catalogue.json"
    stack.drop_and_invoke(key, [titled("Dataset A", "a"), titled("Dataset B", "b"), titled("Dataset C", "c")])
    assert stack.ledger(key)["status"] == "CREATED"
    assert len(stack.gateway_datasets()) == 3
    stack.drop_and_invoke(key, [titled("Dataset B, revised", "b"), titled("Dataset A", "a"), titled("Dataset D", "d")])
    statuses = {
        item["source"].rsplit("/", 1)[-1]: item["status"]
        for item in stack.table.scan()["Items"]
        if "#" in item["source"]
    }
    assert statuses == {"a": "UNCHANGED", "b": "UPDATED", "c": "ARCHIVED", "d": "CREATED"}
    parent = stack.ledger(key)
    assert parent["status"] == "UPDATED" and len(parent["members"]) == 3
    by_status = sorted(d["status"] for d in stack.gateway_datasets())
    assert by_status == ["ACTIVE", "ACTIVE", "ACTIVE", "ARCHIVED"]
    one_dataset_per_source(stack)
