"""UNIS through the real handler: SQS batches against moto, a ``unis`` route in DESTINATIONS, and the UNIS
emulator over HTTP. Published once, updated in place, UNCHANGED when dropped again, INVALID with every error,
refused with UNIS's own reason, archived on deletion; and the fault cases (5xx then success, a timeout after the
record was created, a duplicate delivery, a lost ledger write), none of which makes a second record."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from hdr_ingest.core.answers import AnswerKind
from hdr_ingest.core.ports import Call
from hdr_ingest.destinations.unis.answers import classify
from hdr_ingest.destinations.unis.client import UnisClient
from local_stack.unis_emulator import PSJSON, UnisEmulator
from tests.integration.conftest import RouteBeside, Stack

pytestmark = pytest.mark.integration

KEY = "incoming/unis/cpu.json"
METADATA = {
    "subject": {"href": "https://unis.example/ports/1", "rel": "full"},
    "eventType": "ps:tools:blipp:linux:cpu:utilization:user",
    "parameters": {"collectionInterval": 30000},
}


@pytest.fixture
def unis(unis_server: UnisEmulator, route_beside_gateway: RouteBeside) -> UnisEmulator:
    unis_server.reset()
    route_beside_gateway({"prefix": "incoming/unis/", "kind": "unis", "url": unis_server.base_url, "secret": None})
    return unis_server


def calls(unis: UnisEmulator) -> list[tuple[str, int | None]]:
    return [(r.method, r.status) for r in unis.requests()]


def test_published_once_updated_in_place_and_unchanged_when_dropped_again(stack: Stack, unis: UnisEmulator) -> None:
    assert stack.drop_and_invoke(KEY, METADATA) == {"batchItemFailures": []}
    item = stack.ledger(KEY)
    record_id = item["dataset_id"]
    assert item["status"] == "CREATED" and record_id == item["datasetid"] and record_id.startswith("hgi-")
    assert item["destination"] == {"kind": "unis", "url": unis.base_url}
    assert item["schema"] == "UNIS metadata 20151104 (draft-04)"
    # create (a source never leased has no record to look up), then read it back (issue 22): UNIS holds what was sent
    assert unis.ids() == [record_id] and calls(unis) == [("POST", 201), ("GET", 200)]
    assert item["verified"] == "matches"
    assert {(r.content_type, r.accept) for r in unis.requests()} == {(PSJSON, PSJSON)}

    stack.drop_and_invoke(KEY, METADATA)
    assert stack.ledger(KEY)["status"] == "UNCHANGED"
    stack.drop_and_invoke(KEY, {**METADATA, "eventType": "ps:tools:blipp:linux:cpu:utilization:system"})
    item = stack.ledger(KEY)
    assert (item["status"], item["dataset_id"]) == ("UPDATED", record_id)
    # PUT, then seen, then read back
    assert calls(unis)[-3:] == [("PUT", 204), ("GET", 200), ("GET", 200)] and unis.ids() == [record_id]
    (version,) = unis.records()
    assert version["document"]["eventType"].endswith(":system") and stack.gateway_datasets() == []
    # the update keeps the ledger's version: the ts UNIS holds now, named when the same file comes again
    assert int(item["dataset_version"]) == version["ts"] and str(version["ts"]) in item["reason"]
    stack.drop_and_invoke(KEY, {**METADATA, "eventType": "ps:tools:blipp:linux:cpu:utilization:system"})
    item = stack.ledger(KEY)
    assert item["status"] == "UNCHANGED" and int(item["dataset_version"]) == version["ts"]
    assert f"version {version['ts']}" in item["reason"] and "version None" not in item["reason"]


def test_a_document_s_own_id_is_its_record(stack: Stack, unis: UnisEmulator) -> None:
    stack.drop_and_invoke(KEY, {**METADATA, "id": "cpu-user-1"})
    item = stack.ledger(KEY)
    assert (item["status"], item["dataset_id"]) == ("CREATED", "cpu-user-1") and unis.ids() == ["cpu-user-1"]


def test_an_invalid_document_lists_every_error_with_its_path_and_nothing_is_sent(
    stack: Stack, unis: UnisEmulator
) -> None:
    stack.drop_and_invoke(KEY, {"subject": {"href": "https://unis.example/ports/1"}, "colour": "red"})
    item = stack.ledger(KEY)
    assert item["status"] == "INVALID" and "UNIS metadata 20151104" in item["reason"]
    paths = {e["path"] for e in item["errors"]}
    assert paths == {"$.colour", "$.eventType", "$.subject.rel"}
    (letter,) = stack.dead_letters()
    assert letter["destination"] == {"kind": "unis", "url": unis.base_url} and unis.requests() == []


def test_a_list_publishes_each_object_as_its_own_record_and_ledger_item(stack: Stack, unis: UnisEmulator) -> None:
    listing = [{**METADATA, "id": "cpu-user"}, {**METADATA, "id": "cpu-system", "eventType": "cpu:system"}]
    stack.drop_and_invoke("incoming/unis/list.json", listing)
    parent = stack.ledger("incoming/unis/list.json")
    assert parent["status"] == "CREATED" and "2 created" in parent["reason"]
    for record_id in ("cpu-user", "cpu-system"):
        item = stack.ledger(f"incoming/unis/list.json#{record_id}")
        assert (item["status"], item["dataset_id"]) == ("CREATED", record_id)
    assert unis.ids() == ["cpu-system", "cpu-user"]


@pytest.mark.usefixtures("archive_on_delete")
def test_deletion_deletes_the_record_and_a_new_upload_brings_it_back(stack: Stack, unis: UnisEmulator) -> None:
    stack.drop_and_invoke(KEY, METADATA)
    record_id = stack.ledger(KEY)["dataset_id"]
    assert stack.delete_and_invoke(KEY) == {"batchItemFailures": []}
    assert stack.ledger(KEY)["status"] == "ARCHIVED" and calls(unis)[-1] == ("DELETE", 204) and unis.ids() == []
    stack.drop_and_invoke(KEY, METADATA)
    item = stack.ledger(KEY)
    assert (item["status"], item["dataset_id"]) == ("CREATED", record_id) and unis.ids() == [record_id]
    assert [v["deleted"] for v in unis.records()] == [True, False]  # UNIS keeps the deleted version


@pytest.mark.usefixtures("archive_on_delete")
def test_a_refusal_is_dead_lettered_with_unis_s_own_reason(stack: Stack, unis: UnisEmulator) -> None:
    """A document with its own ts, deleted and dropped again: UNIS still holds that (id, ts), so it says 409."""
    pinned = {**METADATA, "id": "pinned", "ts": 1337110564767952}
    stack.drop_and_invoke(KEY, pinned)
    stack.delete_and_invoke(KEY)
    stack.drop_and_invoke(KEY, pinned)
    item = stack.ledger(KEY)
    assert item["status"] == "REJECTED" and int(item["gateway_status"]) == 409 and "Remove ts" in item["reason"]
    (letter,) = [m for m in stack.dead_letters() if m["status"] == "REJECTED"]
    assert "duplicate key" in letter["reason"] and unis.ids() == []


def test_the_client_reads_unis_s_own_error_bodies(unis: UnisEmulator) -> None:
    client, call = UnisClient(unis.base_url), Call(None, timeout_s=5, deadline_s=10)
    broken = client.post({**METADATA, "id": "m1", "ts": "it's now"}, call)  # UNIS pastes "it's now" into its JSON
    assert broken.kind is AnswerKind.METADATA_REJECTED and broken.http_status == 400
    assert (
        broken.errors[0].message
        == "Not valid body - Validation error from json - \"it's now\" is not of type 'integer'"
    )
    assert client.get("never-stored", call).kind is AnswerKind.SUCCESS  # 200 []: not found, not an error
    assert client.put("never-stored", {**METADATA, "id": "never-stored"}, call).kind is AnswerKind.NOT_FOUND
    refused = requests.post(f"{unis.base_url}/metadata", json=METADATA, timeout=5)  # application/json
    answer = classify("create", refused.status_code, refused.text, dict(refused.headers))
    assert refused.status_code == 500 and answer.kind is AnswerKind.PERMANENT and "media type" in answer.message
    assert unis.ids() == []


# -- faults ----------------------------------------------------------------------------------------------------
def test_a_500_then_success_is_created_once(stack: Stack, unis: UnisEmulator) -> None:
    unis.configure_faults({"script": ["500"]})
    assert stack.drop_and_invoke(KEY, METADATA) == {"batchItemFailures": []}
    assert stack.ledger(KEY)["status"] == "CREATED"
    # the failed POST may have been stored: the retry looks it up first
    assert calls(unis) == [("POST", 500), ("GET", 200), ("POST", 201), ("GET", 200)]
    assert len(unis.records()) == 1


def test_a_429_with_retry_after_is_retried_and_created_once(stack: Stack, unis: UnisEmulator) -> None:
    unis.configure_faults({"script": ["throttle"]})  # the POST is throttled (429, Retry-After: 1)
    assert stack.drop_and_invoke(KEY, METADATA) == {"batchItemFailures": []}
    assert stack.ledger(KEY)["status"] == "CREATED" and len(unis.records()) == 1
    assert calls(unis) == [("POST", 429), ("GET", 200), ("POST", 201), ("GET", 200)]


def test_a_timeout_after_the_record_was_created_never_makes_a_second_one(stack: Stack, unis: UnisEmulator) -> None:
    unis.configure_faults({"late_answers": 1, "timeout_after": 3.0})  # longer than DESTINATION_READ_TIMEOUT (2 s)
    assert stack.drop_and_invoke(KEY, METADATA) == {"batchItemFailures": []}
    item = stack.ledger(KEY)
    # the POST timed out but UNIS stored it: the retry's lookup finds it and updates it, it never posts again
    assert item["status"] == "UPDATED" and unis.ids() == [item["dataset_id"]] and len(unis.records()) == 1
    assert [m for m, _ in calls(unis)] == ["POST", "GET", "PUT", "GET", "GET"]  # the last: the read-back
    assert stack.drop_and_invoke(KEY, METADATA) == {"batchItemFailures": []}  # and a later delivery neither
    assert stack.ledger(KEY)["status"] == "UNCHANGED" and len(unis.records()) == 1


def test_a_duplicate_delivery_sends_nothing_more(stack: Stack, unis: UnisEmulator) -> None:
    stack.put(KEY, METADATA)
    messages = stack.receive()
    event = stack.sqs_event(messages)
    assert stack.invoke(event) == {"batchItemFailures": []}
    before = calls(unis)
    assert stack.invoke(event) == {"batchItemFailures": []}
    item = stack.ledger(KEY)
    assert calls(unis) == before and len(unis.records()) == 1 and item["status"] == "UNCHANGED"
    assert unis.ids() == [item["dataset_id"]]


@pytest.mark.parametrize("document", [METADATA, {**METADATA, "id": "own-id"}], ids=["our-key", "own-id"])
def test_a_lost_ledger_write_makes_no_second_record(stack: Stack, unis: UnisEmulator, document: Any) -> None:
    stack.drop_and_invoke(KEY, document)
    record_id = stack.ledger(KEY)["dataset_id"]
    stack.lose_outcome(KEY)  # as if the write after the POST was lost
    stack.drop_and_invoke(KEY, document)
    item = stack.ledger(KEY)
    assert (item["status"], item["dataset_id"]) == ("UPDATED", record_id)
    assert unis.ids() == [record_id] and len(unis.records()) == 1
    assert [m for m, _ in calls(unis)].count("POST") == 1


# -- as the real server answers (periscope-ps/unis 7c9a9d2; shared/notes/destinations.md §5) ----------------------
def test_a_failed_database_lookup_is_retried_not_taken_for_not_found(stack: Stack, unis: UnisEmulator) -> None:
    """UNIS answers an unknown id ``200 []``; its 404 on GET means the database find failed. A lookup is made
    when the ledger lost an outcome (a first publish makes none): the 404 is retried, the record found."""
    stack.drop_and_invoke(KEY, METADATA)
    stack.lose_outcome(KEY)
    unis.configure_faults({"failed_lookups": 1})
    before = len(calls(unis))
    changed = {**METADATA, "parameters": {"collectionInterval": 60000}}
    assert stack.drop_and_invoke(KEY, changed) == {"batchItemFailures": []}
    item = stack.ledger(KEY)
    assert item["status"] == "UPDATED" and unis.ids() == [item["dataset_id"]]
    # the failed lookup, the lookup again (found), the PUT and its check, the read-back
    assert calls(unis)[before:] == [("GET", 404), ("GET", 200), ("PUT", 204), ("GET", 200), ("GET", 200)]


def test_a_409_that_is_not_a_duplicate_key_is_retried(stack: Stack, unis: UnisEmulator) -> None:
    """UNIS answers 409 for any exception of an insert; only E11000 (a repeated (id, ts)) is the document's."""
    unis.configure_faults({"failed_inserts": 1})
    assert stack.drop_and_invoke(KEY, METADATA) == {"batchItemFailures": []}
    item = stack.ledger(KEY)
    assert item["status"] == "CREATED" and unis.ids() == [item["dataset_id"]]
    assert [c for c in calls(unis) if c[0] == "POST"] == [("POST", 409), ("POST", 201)]


def test_an_update_of_a_record_deleted_on_unis_is_posted_again_never_recorded_updated(
    stack: Stack, unis: UnisEmulator
) -> None:
    """A PUT on a soft-deleted id answers 204 and leaves it hidden: the record must be seen, else POSTed."""
    stack.drop_and_invoke(KEY, METADATA)
    record_id = stack.ledger(KEY)["dataset_id"]
    unis.store.delete(record_id)  # deleted on UNIS by someone else; our ledger still says CREATED
    changed = {**METADATA, "parameters": {"collectionInterval": 60000}}
    stack.drop_and_invoke(KEY, changed)
    item = stack.ledger(KEY)
    assert calls(unis)[-4:] == [("PUT", 204), ("GET", 200), ("POST", 201), ("GET", 200)]  # then read back
    assert (item["status"], item["dataset_id"]) == ("CREATED", record_id)
    assert unis.ids() == [record_id]
    assert unis.store.newest(record_id).document["parameters"] == {"collectionInterval": 60000}  # type: ignore[union-attr]


LIST_KEY = "incoming/unis/blipp.json"
WITHOUT_IDS = [  # seed 002: a list of metadata without ids, UNIS making each id
    {**METADATA, "eventType": "ps:tools:blipp:linux:cpu:utilization:user"},
    {**METADATA, "eventType": "ps:tools:blipp:linux:cpu:utilization:system"},
]


def test_a_list_without_ids_keeps_its_records_when_reordered_or_exported_again(
    stack: Stack, unis: UnisEmulator
) -> None:
    stack.drop_and_invoke(LIST_KEY, WITHOUT_IDS)
    parent = stack.ledger(LIST_KEY)
    assert parent["status"] == "CREATED" and "2 created" in parent["reason"]
    first = unis.ids()
    assert len(first) == 2 and all(i.startswith("hgi-") for i in first)
    stack.drop_and_invoke(LIST_KEY, list(reversed(WITHOUT_IDS)))
    assert stack.ledger(LIST_KEY)["status"] == "UPDATED" and unis.ids() == first  # same records, none new
    assert [m for m, _ in calls(unis)].count("POST") == 2
    changed = [{**WITHOUT_IDS[0], "parameters": {"collectionInterval": 5}}, WITHOUT_IDS[1]]
    stack.drop_and_invoke(LIST_KEY, changed)
    assert unis.ids() == first and [m for m, _ in calls(unis)].count("POST") == 2


def test_two_elements_that_describe_the_same_thing_are_both_invalid(stack: Stack, unis: UnisEmulator) -> None:
    listing = [WITHOUT_IDS[0], WITHOUT_IDS[1], {**WITHOUT_IDS[0], "parameters": {"collectionInterval": 1}}]
    stack.drop_and_invoke(LIST_KEY, listing)
    parent = stack.ledger(LIST_KEY)
    problems = {e["path"]: e["message"] for e in parent["errors"]}
    assert "$[2]" in problems["$[0]"] and "$[0]" in problems["$[2]"]
    assert stack.ledger(f"{LIST_KEY}#[0]")["status"] == "INVALID"
    assert stack.ledger(f"{LIST_KEY}#[2]")["status"] == "INVALID"
    assert len(unis.ids()) == 1 and "1 of 3 elements published" in parent["reason"]


@pytest.mark.usefixtures("archive_on_delete")
def test_two_files_whose_documents_carry_the_same_id_keep_a_record_each(stack: Stack, unis: UnisEmulator) -> None:
    """Issue 26 item 6: the second file's document names an id another source's record holds (other content)."""
    first, second = "incoming/unis/a.json", "incoming/unis/b.json"
    stack.drop_and_invoke(first, {**METADATA, "id": "shared"})
    stack.drop_and_invoke(second, {**METADATA, "id": "shared", "eventType": "cpu:other"})
    a, b = stack.ledger(first), stack.ledger(second)
    assert a["dataset_id"] == "shared" and b["dataset_id"] == b["datasetid"] and b["dataset_id"].startswith("hgi-")
    assert a["status"] == b["status"] == "CREATED" and unis.ids() == sorted(["shared", b["dataset_id"]])
    stack.drop_and_invoke(second, {**METADATA, "id": "shared", "eventType": "cpu:other:2"})
    assert stack.ledger(second)["status"] == "UPDATED"
    assert unis.store.newest("shared").document["eventType"] == METADATA["eventType"]  # type: ignore[union-attr]
    stack.delete_and_invoke(second)
    assert stack.ledger(second)["status"] == "ARCHIVED" and unis.ids() == ["shared"]
    assert stack.ledger(first)["status"] == "CREATED"


def test_a_record_over_2_mib_is_created_and_updated_not_failed_for_its_echo(stack: Stack, unis: UnisEmulator) -> None:
    """Issue 26 item 7: the create's echo and the lookup after an update are read whole, ts included."""
    large = {**METADATA, "parameters": {"note": "x" * (3 * 1024 * 1024)}}
    assert stack.drop_and_invoke(KEY, large) == {"batchItemFailures": []}
    item = stack.ledger(KEY)
    assert item["status"] == "CREATED" and unis.ids() == [item["dataset_id"]]
    stack.drop_and_invoke(KEY, {**large, "eventType": "cpu:large"})
    item = stack.ledger(KEY)
    assert item["status"] == "UPDATED" and int(item["dataset_version"]) == unis.records()[0]["ts"]
