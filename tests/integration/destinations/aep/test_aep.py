"""The AEP destination end to end: the real handler (SQS batches, moto, the ledger, the DLQ) publishing under
``incoming/aep/`` to the AEP emulator over HTTP. No invocation waits on a batch: a batch is PENDING until a later
delivery of the same message finds it settled."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hdr_ingest.destinations.aep.token import TOKENS
from hdr_ingest.entry.runtime import reset_runtime
from local_stack.aep_emulator import DEFAULT_SCHEMA_ID, AepClient, AepEmulator, Fault
from tests.integration.conftest import Emulators, RouteBeside, Stack

pytestmark = pytest.mark.integration

AEP_SECRET = "hgi-test/aep-client"
CLIENT = AepClient("aep-client-1234", "aep-secret-abcdefghijkl", frozenset({"openid", "AdobeID", "read_organizations"}))
KEY = "incoming/aep/people.json"
RECORDS: list[dict[str, Any]] = [{"_id": "p1", "title": "First"}, {"_id": "p2", "title": "Second", "rows": 3}]


def route(aep: AepEmulator, **options: Any) -> dict[str, Any]:
    return {
        "prefix": "incoming/aep/",
        "kind": "aep",
        "url": aep.base_url,
        "secret": AEP_SECRET,
        "options": {
            "imsUrl": aep.ims_url,
            "orgId": aep.org_id,
            "sandbox": "prod",
            "schemaId": DEFAULT_SCHEMA_ID,
            "datasetName": "HGI people",
            **options,
        },
    }


@pytest.fixture
def aep(
    stack: Stack, aep_emulators: Emulators[AepEmulator], route_beside_gateway: RouteBeside, archive_on_delete: None
) -> AepEmulator:
    running = aep_emulators(clients=[CLIENT])
    TOKENS.clear()
    secret = {"client_id": CLIENT.client_id, "client_secret": CLIENT.client_secret, "scope": "openid,AdobeID"}
    stack.secrets.create_secret(Name=AEP_SECRET, SecretString=json.dumps(secret))
    route_beside_gateway(route(running))
    return running


def again(stack: Stack) -> dict[str, Any]:
    """The next delivery of the message left on the queue (a PENDING or retried object)."""
    return stack.deliver(stack.receive())


def lines(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def dataset_rows(aep: AepEmulator) -> list[Any]:
    (dataset_id,) = aep.datasets()
    return aep.rows(dataset_id)


def test_a_file_is_pending_then_published_on_a_later_delivery(stack: Stack, aep: AepEmulator) -> None:
    response = stack.drop_and_invoke(KEY, RECORDS)
    assert len(response["batchItemFailures"]) == 1  # kept on the queue: checked again after the visibility timeout
    item = stack.ledger(KEY)
    (batch,) = aep.batches()
    assert (item["status"], item["dataset_id"], item["dataset_version"]) == ("PENDING", batch.id, 1)
    assert item["destination"] == {"kind": "aep", "url": aep.base_url} and item["schema"] == DEFAULT_SCHEMA_ID
    assert batch.completed and batch.external_id.startswith(item["datasetid"] + ":")
    assert again(stack)["batchItemFailures"]  # staging: still pending
    assert again(stack) == {"batchItemFailures": []}
    item = stack.ledger(KEY)
    assert (item["status"], item["dataset_id"]) == ("CREATED", batch.id)
    assert item["reason"] == f"Created AEP batch {batch.id} (version 1)."
    assert dataset_rows(aep) == RECORDS and stack.dead_letters() == [] and stack.gateway_datasets() == []


def publish_pending(stack: Stack, key: str = KEY) -> dict[str, Any]:
    """Deliver the message left on the queue again while the object is pending (at most twice); its ledger item."""
    for _ in range(2):
        if stack.ledger(key)["status"] != "PENDING":
            break
        again(stack)
    return stack.ledger(key)


def publish(stack: Stack, key: str, body: Any) -> dict[str, Any]:
    """Drop and deliver until the object is no longer pending (at most three deliveries); its ledger item."""
    stack.drop_and_invoke(key, body)
    return publish_pending(stack, key)


def test_json_lines_and_a_replay_that_replaces_rather_than_duplicates(stack: Stack, aep: AepEmulator) -> None:
    first = publish(stack, KEY, lines(RECORDS))
    assert first["status"] == "CREATED"
    stack.drop_and_invoke(KEY, lines(RECORDS))  # the same bytes again
    assert stack.ledger(KEY)["status"] == "UNCHANGED" and len(aep.batches()) == 1
    revised = [{"_id": "p1", "title": "First, revised"}]
    second = publish(stack, KEY, revised)
    old, new = aep.batches()
    assert (second["status"], second["dataset_id"], second["dataset_version"]) == ("UPDATED", new.id, 2)
    assert new.predecessors == [old.id] and dataset_rows(aep) == revised
    reset_runtime()  # a new container: the dataset is found again by its tag, never created twice
    assert publish(stack, "incoming/aep/other.json", RECORDS)["status"] == "CREATED"
    # the first create looks for the route's dataset (by our tag, by name) and creates it; the new container's
    # finds it by its tag (no lookup of batches before either create: neither source was leased before)
    assert [e.method for e in aep.requests("/catalog/dataSets")] == ["GET", "GET", "POST", "GET"]
    assert len(aep.datasets()) == 1


def test_a_failed_batch_is_rejected_with_adobe_s_errors_and_dead_lettered(stack: Stack, aep: AepEmulator) -> None:
    aep.fail_next_batch([{"code": "INGEST-1212-400", "description": "Field title is empty", "rows": ["2"]}])
    item = publish(stack, KEY, RECORDS)
    assert item["status"] == "REJECTED" and "is failed: INGEST-1212-400: Field title is empty" in item["reason"]
    assert item["errors"] == [{"path": "rows 2", "message": "INGEST-1212-400: Field title is empty"}]
    (letter,) = stack.dead_letters()
    assert letter["status"] == "REJECTED" and letter["destination"] == {"kind": "aep", "url": aep.base_url}
    fixed = publish(stack, KEY, [{"_id": "p1", "title": "Fixed"}])
    assert fixed["status"] == "CREATED" and aep.batches()[-1].predecessors == []  # nothing loaded to replace


def test_the_same_content_after_a_failure_is_a_new_batch_with_its_own_external_id(
    stack: Stack, aep: AepEmulator
) -> None:
    aep.fail_next_batch()
    assert publish(stack, KEY, RECORDS)["status"] == "REJECTED"
    stack.dead_letters()
    stack.put(KEY, b"\n" + json.dumps(RECORDS).encode())  # the same records uploaded again (other bytes)
    again(stack)
    item = publish_pending(stack)
    failed, retried = aep.batches()
    assert item["status"] == "CREATED" and retried.external_id.startswith(failed.external_id + ":")
    assert dataset_rows(aep) == RECORDS


def test_records_that_break_the_xdm_schema_are_refused_before_any_batch(stack: Stack, aep: AepEmulator) -> None:
    stack.drop_and_invoke(KEY, [{"_id": 1, "title": ""}, {"title": "no id", "created": "yesterday"}])
    item = stack.ledger(KEY)
    assert item["status"] == "REJECTED" and "4 errors against XDM schema" in item["reason"]
    assert [e["path"] for e in item["errors"]] == ["$[0]._id", "$[0].title", "$[1]", "$[1].created"]
    assert "add the field" in item["errors"][2]["message"] and aep.batches() == []
    (schema_read,) = aep.requests("/schemaregistry/")
    assert schema_read.headers["accept"] == "application/vnd.adobe.xed-full+json; version=1"


def test_a_file_that_is_not_records_is_invalid(stack: Stack, aep: AepEmulator) -> None:
    stack.drop_and_invoke(KEY, b'{"_id": "p1", "title": "A"}\n{"_id": \n')
    item = stack.ledger(KEY)
    assert item["status"] == "INVALID" and "line 2 is not one JSON value" in item["reason"]
    stack.drop_and_invoke("incoming/aep/numbers.json", [1, 2])
    numbers = stack.ledger("incoming/aep/numbers.json")
    assert numbers["status"] == "INVALID" and numbers["errors"][0]["path"] == "$[0]"
    assert aep.requests() == []


def test_a_batch_that_never_settles_fails_on_the_last_delivery(stack: Stack, aep: AepEmulator) -> None:
    aep.never_settle()
    stack.drop_and_invoke(KEY, RECORDS)
    again(stack)
    assert again(stack) == {"batchItemFailures": []}
    item = stack.ledger(KEY)
    assert item["status"] == "FAILED" and "It had not finished" in item["reason"]
    assert [letter["status"] for letter in stack.dead_letters()] == ["FAILED"]


def test_token_expiry_mid_run_fetches_a_new_token_once(stack: Stack, aep: AepEmulator) -> None:
    stack.drop_and_invoke(KEY, RECORDS)
    assert len(aep.requests("/ims/token")) == 1  # one token for the whole chain
    aep.expire_tokens()
    again(stack)
    again(stack)
    assert stack.ledger(KEY)["status"] == "CREATED"
    refused = [e for e in aep.requests("/catalog/batches/") if e.status == 401]
    assert len(refused) == 1 and json.loads(refused[0].response_body)["error_code"] == "401013"
    assert len(aep.requests("/ims/token")) == 2


def test_a_429_burst_is_retried_honouring_retry_after(stack: Stack, aep: AepEmulator) -> None:
    aep.add_fault(Fault(429, "/import/batches", method="POST", times=2, retry_after="0"))
    stack.drop_and_invoke(KEY, RECORDS)
    assert stack.ledger(KEY)["status"] == "PENDING" and len(aep.batches()) == 1
    assert [e.status for e in aep.requests("/import/batches") if e.method == "POST"][:3] == [429, 429, 201]


def test_a_failed_upload_aborts_its_batch_and_a_later_delivery_sends_the_file_once(
    stack: Stack, aep: AepEmulator
) -> None:
    aep.add_fault(Fault(503, "/files/", method="PUT", times=3))
    stack.drop_and_invoke(KEY, RECORDS)
    assert stack.ledger(KEY)["status"] == "RETRYING"
    assert [b.status for b in aep.batches()] == ["aborted", "aborted", "aborted"]
    again(stack)
    item = stack.ledger(KEY)
    *aborted, sent = aep.batches()
    assert (item["status"], item["dataset_id"]) == ("PENDING", sent.id) and len(aborted) == 3
    assert sent.completed and sent.records() == RECORDS


def test_a_duplicate_delivery_while_pending_checks_and_creates_nothing(stack: Stack, aep: AepEmulator) -> None:
    stack.put(KEY, RECORDS)
    (message,) = stack.receive()
    stack.invoke(stack.sqs_event([message]))
    stack.invoke(stack.sqs_event([message]))  # the same notification twice (SQS is at-least-once)
    assert len(aep.batches()) == 1 and stack.ledger(KEY)["status"] == "PENDING"
    assert len([e for e in aep.requests("/catalog/batches/") if e.method == "GET"]) == 1


def test_a_lost_ledger_write_finds_the_batch_instead_of_sending_another(stack: Stack, aep: AepEmulator) -> None:
    stack.drop_and_invoke(KEY, RECORDS)
    (batch,) = aep.batches()
    stack.lose_outcome(KEY)
    again(stack)
    again(stack)
    item = stack.ledger(KEY)
    assert (item["status"], item["dataset_id"]) == ("CREATED", batch.id) and len(aep.batches()) == 1


def test_deleting_the_file_reverts_its_batch(stack: Stack, aep: AepEmulator) -> None:
    publish(stack, KEY, RECORDS)
    assert stack.delete_and_invoke(KEY) == {"batchItemFailures": []}
    item = stack.ledger(KEY)
    (batch,) = aep.batches()
    assert item["status"] == "ARCHIVED" and batch.status == "reverted" and dataset_rows(aep) == []
    again_published = publish(stack, KEY, RECORDS)
    assert again_published["status"] == "CREATED" and aep.batches()[-1].predecessors == []


def test_deleting_a_file_whose_last_batch_failed_reverts_the_one_loaded_before(stack: Stack, aep: AepEmulator) -> None:
    publish(stack, KEY, RECORDS)
    aep.fail_next_batch()
    assert publish(stack, KEY, RECORDS[:1])["status"] == "REJECTED"
    loaded, failed = aep.batches()
    stack.delete_and_invoke(KEY)
    item = stack.ledger(KEY)
    assert item["status"] == "ARCHIVED" and item["dataset_id"] == failed.id
    assert (loaded.status, dataset_rows(aep)) == ("reverted", [])


def test_a_header_error_is_rejected_with_what_to_fix(
    stack: Stack, aep: AepEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    routes = [route(aep, orgId="SOMEONEELSE@AdobeOrg")]
    monkeypatch.setenv("DESTINATIONS", json.dumps(routes))
    reset_runtime()
    stack.drop_and_invoke(KEY, RECORDS)
    item = stack.ledger(KEY)
    assert item["status"] == "REJECTED" and "403025" in item["reason"] and "options.orgId" in item["reason"]


def destination_for(aep: AepEmulator) -> tuple[Any, Any]:
    """The AEP destination as the route builds it, and a call with the client's credentials."""
    from hdr_ingest.core.ports import Call
    from hdr_ingest.core.routing import RouteSpec
    from hdr_ingest.destinations import Common, kind

    aep_kind = kind("aep")
    assert aep_kind is not None
    destination: Any = aep_kind.build(RouteSpec(**route(aep)), Common())
    credentials = destination.credentials(
        {"client_id": CLIENT.client_id, "client_secret": CLIENT.client_secret, "scope": "openid"}, AEP_SECRET
    )
    return destination, Call(credentials, 5, 30)


def test_a_create_sent_again_reuses_the_batch_of_the_same_content(stack: Stack, aep: AepEmulator) -> None:
    """A create whose answer was lost is repeated on a later delivery: it finds the batch, and sends nothing."""
    destination, call = destination_for(aep)
    document = destination.parse(lines(RECORDS))
    verdict = destination.judge(document, "")
    first = destination.create("hgi-k", document, verdict, call)
    second = destination.create("hgi-k", document, verdict, call)
    assert (second.kind.value, second.record_id) == ("PENDING", first.record_id) and len(aep.batches()) == 1


def test_new_content_waits_for_the_previous_batch_to_settle(stack: Stack, aep: AepEmulator) -> None:
    destination, call = destination_for(aep)
    old = destination.parse(lines(RECORDS))
    new = destination.parse(lines(RECORDS[:1]))
    verdict = destination.judge(old, "")
    first = destination.create("hgi-k", old, verdict, call)
    waiting = destination.update(first.record_id, "hgi-k", new, verdict, call)
    assert waiting.kind.value == "TRANSIENT" and "is still staging" in waiting.message and waiting.retry_after_s
    while destination.check(first.record_id, call).kind.value == "PENDING":
        pass
    replay = destination.update(first.record_id, "hgi-k", new, verdict, call)
    assert replay.kind.value == "PENDING" and aep.batches()[-1].predecessors == [first.record_id]
