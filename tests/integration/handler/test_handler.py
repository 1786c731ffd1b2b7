"""The Lambda handler against moto (S3, SQS, DynamoDB, Secrets Manager) and the Gateway emulator over HTTP.

S3 really notifies the queue (moto delivers the notification); the SQS event handed to the handler is
built from the received messages, exactly as Lambda's event source mapping builds it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from hdr_ingest.destinations.hdruk.schema_pack import SchemaPack
from local_stack.gateway_emulator import App, GatewayEmulator
from tests.conftest import ROOT, event, example
from tests.integration.conftest import APP, BUCKET, MAX_RECEIVE, Stack

pytestmark = pytest.mark.integration


# --- happy paths -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "schema"),
    [
        ("schemata/HDRUK/4.0.0/docs.example.json", "HDRUK 4.0.0"),
        ("traser/hdruk300.json", "HDRUK 3.0.0"),
        ("traser/hdrukv211.json", "HDRUK 2.1.2"),
        ("traser/gwdm20.json", "GWDM 2.0"),
    ],
)
def test_valid_documents_are_created_on_the_gateway(stack: Stack, relative: str, schema: str) -> None:
    key = "incoming/dataset.json"
    response = stack.drop_and_invoke(key, example(relative))
    assert response == {"batchItemFailures": []}
    item = stack.ledger(key)
    assert item["status"] == "CREATED", item["reason"]
    assert item["schema"] == schema
    (dataset,) = stack.gateway_datasets()
    assert int(item["dataset_id"]) == dataset["id"]
    assert int(item["dataset_version"]) >= 1
    assert dataset["datasetid"] == item["datasetid"]
    assert int(item["gateway_status"]) == 201 and int(item["attempts"]) == 1
    assert item["sha256"] and item["etag"] and item["updated_at"].endswith("Z")
    (post,) = [r for r in stack.emulator.requests() if r.method == "POST"]
    name, version = schema.split()
    assert post.query.get("input_schema") in (name, [name]) and post.query.get("input_version") in (
        version,
        [version],
    )
    assert stack.dead_letters() == []


def test_a_first_publish_posts_without_a_lookup_and_a_lost_outcome_is_looked_up(stack: Stack) -> None:
    """Issue 25 item 3: a source the ledger never held cannot have a dataset yet, so no GET comes before the POST.
    Once its lease was taken, its item stays: a crash before the outcome's write is looked up, never duplicated."""
    key = "incoming/first.json"
    document = example("schemata/HDRUK/4.0.0/docs.example.json")
    stack.drop_and_invoke(key, document)
    item = stack.ledger(key)
    assert item["status"] == "CREATED"
    assert [(r.method, r.status) for r in stack.emulator.requests()] == [("POST", 201), ("GET", 200)]  # read-back
    stack.lose_outcome(key)
    before = len(stack.emulator.requests())
    document["summary"]["title"] = "Changed after a crash"
    stack.drop_and_invoke(key, document)
    after = stack.emulator.requests()[before:]
    assert [(r.method, r.status) for r in after] == [("GET", 200), ("PUT", 200), ("GET", 200)]
    assert after[0].query["dataset_id"] in (item["datasetid"], [item["datasetid"]])  # looked up by our key
    updated = stack.ledger(key)
    (dataset,) = stack.gateway_datasets()
    assert (updated["status"], int(updated["dataset_id"])) == ("UPDATED", dataset["id"])


def test_same_file_dropped_again_is_unchanged_and_a_changed_one_updates(stack: Stack) -> None:
    key = "incoming/again.json"
    document = example("schemata/HDRUK/4.0.0/docs.example.json")
    stack.drop_and_invoke(key, document)
    stack.drop_and_invoke(key, document)
    assert stack.ledger(key)["status"] == "UNCHANGED"
    document["summary"]["title"] = "A renamed dataset"
    stack.drop_and_invoke(key, document)
    item = stack.ledger(key)
    assert item["status"] == "UPDATED"
    (dataset,) = stack.gateway_datasets()
    assert int(item["dataset_id"]) == dataset["id"] and int(item["dataset_version"]) == 2


# --- bad input ---------------------------------------------------------------------------------------------


def test_invalid_document_is_recorded_and_dead_lettered_with_every_error(stack: Stack) -> None:
    document = example("schemata/HDRUK/4.0.0/docs.example.json")
    del document["summary"]["title"]
    document["summary"]["populationSize"] = "lots"
    key = "incoming/invalid.json"
    response = stack.drop_and_invoke(key, document)
    assert response == {"batchItemFailures": []}  # acknowledged: the DLQ holds it
    item = stack.ledger(key)
    assert item["status"] == "INVALID"
    paths = {e["path"] for e in item["errors"]}
    assert paths == {"$.summary.title", "$.summary.populationSize"}
    (message,) = stack.dead_letters()
    assert message["status"] == "INVALID" and message["source"] == f"s3://{BUCKET}/{key}"
    assert {e["path"] for e in message["errors"]} == paths
    assert message["event"]["Records"][0]["s3"]["object"]["key"] == "incoming%2Finvalid.json"  # as S3 sent it
    assert stack.gateway_datasets() == []


def test_non_json_object_is_invalid(stack: Stack) -> None:
    stack.drop_and_invoke("incoming/broken.json", b'{"summary": ')
    item = stack.ledger("incoming/broken.json")
    assert item["status"] == "INVALID" and "not valid JSON" in item["reason"]
    assert stack.dead_letters()[0]["status"] == "INVALID"


def test_oversized_object_is_invalid_without_reaching_the_gateway(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_OBJECT_BYTES", "1000")
    stack.drop_and_invoke("incoming/big.json", {"padding": "x" * 2000})
    item = stack.ledger("incoming/big.json")
    assert item["status"] == "INVALID" and "over the 1000-byte limit" in item["reason"]
    assert stack.emulator.requests() == []


@pytest.mark.parametrize("key", ["incoming/my dataset 2024.json", "incoming/a+b.json", "incoming/café ü+%.json"])
def test_keys_with_spaces_plus_and_unicode(stack: Stack, key: str) -> None:
    stack.drop_and_invoke(key, example("schemata/HDRUK/4.0.0/docs.example.json"))
    assert stack.ledger(key)["status"] == "CREATED"


def test_s3_test_event_is_skipped(stack: Stack) -> None:
    response = stack.invoke(event("sqs-s3-test-event.json"))
    assert response == {"batchItemFailures": []}
    assert stack.table.scan()["Items"] == [] and stack.dead_letters() == []


# --- the Gateway's answers ---------------------------------------------------------------------------------


def test_500_then_201_is_created(stack: Stack) -> None:
    stack.emulator.faults.script(["500"])
    stack.drop_and_invoke("incoming/flaky.json", example("schemata/HDRUK/4.0.0/docs.example.json"))
    item = stack.ledger("incoming/flaky.json")
    assert item["status"] == "CREATED"
    # a source never leased: POST at once; it failed, and may have succeeded before failing, so a lookup comes
    # before the next POST; then the read-back
    assert [(r.method, r.status) for r in stack.emulator.requests()] == [
        ("POST", 500),
        ("GET", 200),
        ("POST", 201),
        ("GET", 200),
    ]
    assert stack.emulator.requests()[-1].path == f"/api/v1/datasets/{item['dataset_id']}"
    assert len(stack.gateway_datasets()) == 1


def test_gateway_down_is_retried_by_sqs_then_failed_and_dead_lettered(stack: Stack) -> None:
    stack.emulator.faults.set_rates(error_rate=1.0, timeout_rate=0.0)
    key = "incoming/down.json"
    stack.put(key, example("schemata/HDRUK/4.0.0/docs.example.json"))
    messages = stack.receive()
    response = stack.invoke(stack.sqs_event(messages, receive_count=1))
    assert response == {"batchItemFailures": [{"itemIdentifier": messages[0]["MessageId"]}]}
    assert stack.ledger(key)["status"] == "RETRYING"
    assert stack.dead_letters() == []
    response = stack.invoke(stack.sqs_event(messages, receive_count=MAX_RECEIVE))
    assert response == {"batchItemFailures": []}
    item = stack.ledger(key)
    assert item["status"] == "FAILED" and int(item["attempts"]) == MAX_RECEIVE and int(item["gateway_status"]) == 500
    (message,) = stack.dead_letters()
    assert message["status"] == "FAILED" and "Gave up after 3 deliveries" in message["reason"]
    stack.emulator.faults.set_rates(error_rate=0.0, timeout_rate=0.0)
    # Replaying the dead-letter message (what `redrive` puts back on the queue) publishes it.
    replay = {"Records": [{**stack.sqs_event(messages)["Records"][0], "body": json.dumps(message)}]}
    assert stack.invoke(replay) == {"batchItemFailures": []}
    assert stack.ledger(key)["status"] == "CREATED"
    assert len(stack.gateway_datasets()) == 1


def test_one_failing_record_does_not_fail_its_batch(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECORD_CONCURRENCY", "1")  # the scripted faults below follow the order of the requests
    stack.put("incoming/one.json", example("schemata/HDRUK/4.0.0/docs.example.json"))
    stack.put("incoming/two.json", b"[1, 2, 3]")
    stack.put("incoming/three.json", example("traser/hdruk300.json"))
    messages = stack.receive(3)
    by_key = {json.loads(m["Body"])["Records"][0]["s3"]["object"]["key"]: m for m in messages}
    # the Gateway fails every request for the third object only
    # create and read-back, then a failed create and two failed lookups
    stack.emulator.faults.script(["ok", "ok", "500", "500", "500"])
    ordered = [by_key["incoming%2Fone.json"], by_key["incoming%2Ftwo.json"], by_key["incoming%2Fthree.json"]]
    response = stack.invoke(stack.sqs_event(ordered, receive_count=1))
    assert response == {"batchItemFailures": [{"itemIdentifier": by_key["incoming%2Fthree.json"]["MessageId"]}]}
    assert stack.ledger("incoming/one.json")["status"] == "CREATED"
    assert stack.ledger("incoming/two.json")["status"] == "INVALID"
    assert stack.ledger("incoming/three.json")["status"] == "RETRYING"


@pytest.mark.parametrize(
    ("app", "secret", "status", "message", "fix"),
    [
        (
            APP,
            {"app_id": "unknown-app", "client_id": APP.client_id},
            401,
            "No known integration matches the credentials provided",
            "app_id",
        ),
        (APP, {"app_id": APP.app_id, "client_id": "wrong"}, 401, "The credentials provided are invalid", "client_id"),
        (App(APP.app_id, APP.client_id, enabled=False), None, 400, "Application has not been enabled!", "enable it"),
        (
            App(APP.app_id, APP.client_id, permissions=frozenset({"datasets.read"})),
            None,
            400,
            "Application permissions do not allow this request",
            "datasets.create",
        ),
    ],
)
def test_documented_gateway_errors_are_rejected_with_an_operator_message(
    stack: Stack, app: App, secret: dict[str, str] | None, status: int, message: str, fix: str
) -> None:
    stack.emulator.set_apps([app], replace=True)
    if secret:
        stack.set_secret(secret)
    key = f"incoming/{uuid.uuid4().hex}.json"
    assert stack.drop_and_invoke(key, example("schemata/HDRUK/4.0.0/docs.example.json")) == {"batchItemFailures": []}
    item = stack.ledger(key)
    assert item["status"] == "REJECTED"
    assert int(item["gateway_status"]) == status
    assert item["reason"].startswith(message) and fix in item["reason"]
    (dead,) = stack.dead_letters()
    assert dead["status"] == "REJECTED" and dead["reason"] == item["reason"]
    for value in (secret or {}).values():
        assert value not in json.dumps(dead)


def test_metadata_rejected_by_the_gateway_keeps_its_message(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    # Valid as sent, but the Gateway HTML-encodes ">" on this route, so "> 10 Years" leaves the enum.
    # Strict mode sends it anyway, so that the Gateway's own rejection is what gets recorded.
    monkeypatch.setenv("VALIDATION_MODE", "strict")
    document = example("schemata/HDRUK/4.0.0/docs.example.json")
    document["coverage"]["followUp"] = "> 10 Years"
    stack.drop_and_invoke("incoming/quirk.json", document)
    item = stack.ledger("incoming/quirk.json")
    assert item["status"] == "REJECTED" and int(item["gateway_status"]) == 400
    assert "validator rejected the metadata" in item["reason"]
    assert any("followUp" in e["path"] for e in item["errors"])


def test_rotated_credentials_are_fetched_again_after_a_401(stack: Stack) -> None:
    stack.drop_and_invoke("incoming/first.json", example("schemata/HDRUK/4.0.0/docs.example.json"))
    rotated = App("app-rotated", "client-rotated")
    stack.emulator.set_apps([rotated], replace=True)
    stack.set_secret({"app_id": rotated.app_id, "client_id": rotated.client_id})  # cached copy is now stale
    stack.drop_and_invoke("incoming/second.json", example("traser/hdruk300.json"))
    assert stack.ledger("incoming/second.json")["status"] == "CREATED"
    assert [r.status for r in stack.emulator.requests()][-4:] == [401, 200, 201, 200]  # ..., create, read-back


def test_legacy_header_style(stack: Stack, pack: SchemaPack, monkeypatch: pytest.MonkeyPatch) -> None:
    with GatewayEmulator(apps=[APP], validator=pack, legacy_headers=True) as legacy:
        monkeypatch.setenv("GATEWAY_URL", legacy.base_url)
        monkeypatch.setenv("GATEWAY_HEADER_STYLE", "legacy")
        stack.drop_and_invoke("incoming/legacy.json", example("schemata/HDRUK/4.0.0/docs.example.json"))
        assert stack.ledger("incoming/legacy.json")["status"] == "CREATED"
        assert len(legacy.datasets()) == 1


# --- other event shapes ------------------------------------------------------------------------------------


def _retarget(template: dict[str, Any], key: str) -> dict[str, Any]:
    text = json.dumps(template).replace("hdr-ingest-metadata-123456789012-eu-west-2", BUCKET)
    out = json.loads(text)
    for record in out.get("Records", []):
        record["s3"]["object"].pop("versionId", None)
        record["s3"]["object"]["key"] = key
    return dict(out)


def test_plain_s3_event_as_sam_local_invoke_sends_it(stack: Stack) -> None:
    # events/s3-put.json announces the bundled sample, with its real size and ETag
    key = "incoming/hdruk-4.0.0-asthma-cohort.json"
    stack.put(key, (ROOT / "local_stack" / "samples" / "hdruk-4.0.0-asthma-cohort.json").read_bytes())
    response = stack.invoke(_retarget(event("s3-put.json"), key))
    assert response == {"processed": [{"source": f"s3://{BUCKET}/{key}", "status": "CREATED"}]}
    assert stack.ledger(key)["etag"] == event("s3-put.json")["Records"][0]["s3"]["object"]["eTag"]


def test_multi_record_s3_event_processes_every_record(stack: Stack) -> None:
    multi = event("s3-put-multi.json")
    keys = ["incoming/my dataset 2024.json", "incoming/a+b.json", "incoming/café.json"]
    for key in keys:
        stack.put(key, example("schemata/HDRUK/4.0.0/docs.example.json"))
    text = json.dumps(multi).replace("hdr-ingest-metadata-123456789012-eu-west-2", BUCKET)
    retargeted = json.loads(text)
    for record in retargeted["Records"]:
        record["s3"]["object"].pop("versionId", None)
    response = stack.invoke(retargeted)
    assert [p["status"] for p in response["processed"]] == ["CREATED"] * 3
    assert len(stack.gateway_datasets()) == 3


def test_eventbridge_object_created(stack: Stack) -> None:
    bridge = event("eventbridge-object-created.json")
    bridge["detail"]["bucket"]["name"] = BUCKET
    bridge["detail"]["object"].pop("version-id", None)
    key = bridge["detail"]["object"]["key"]
    stack.put(key, example("traser/gwdm20.json"))
    stack.receive()  # the S3 notification for the same put: not used here
    response = stack.invoke(bridge)
    assert response["processed"][0]["status"] == "CREATED"
    assert stack.ledger(key)["schema"] == "GWDM 2.0"


def test_folder_marker_is_skipped(stack: Stack) -> None:
    response = stack.invoke(_retarget(event("s3-folder-marker.json"), "incoming/subfolder/"))
    assert response == {"processed": []}
    assert stack.table.scan()["Items"] == []


def test_gateway_mode_rejects_what_the_gateway_would_reject_before_sending(stack: Stack) -> None:
    document = example("schemata/HDRUK/4.0.0/docs.example.json")
    document["coverage"]["followUp"] = "> 10 Years"
    stack.drop_and_invoke("incoming/quirk.json", document)
    item = stack.ledger("incoming/quirk.json")
    assert item["status"] == "INVALID", item["reason"]
    assert "valid HDRUK 4.0.0 as sent, but the Gateway would reject it" in item["reason"]
    (error,) = item["errors"]
    assert error["path"] == "$.coverage.followUp" and "HTML-encodes" in error["message"]
    assert any("html-entities at $.coverage.followUp" in w for w in item["warnings"])
    assert [r for r in stack.emulator.requests() if r.method in ("POST", "PUT")] == []


def test_aws_clients_are_made_when_first_needed(stack: Stack) -> None:
    """A published file needs S3, DynamoDB and Secrets Manager; the SQS client is made for the first dead letter."""
    from hdr_ingest.entry.runtime import get_runtime

    clients = get_runtime().clients
    assert clients is not None and clients.created() == ()
    assert stack.drop_and_invoke("incoming/fine.json", example("schemata/HDRUK/4.0.0/docs.example.json")) == {
        "batchItemFailures": []
    }
    assert stack.ledger("incoming/fine.json")["status"] == "CREATED"
    assert sorted(clients.created()) == ["dynamodb", "s3", "secretsmanager"]
    assert stack.drop_and_invoke("incoming/broken.json", b"{not json") == {"batchItemFailures": []}
    assert sorted(clients.created()) == ["dynamodb", "s3", "secretsmanager", "sqs"]
    assert [letter["source"] for letter in stack.dead_letters()] == [f"s3://{BUCKET}/incoming/broken.json"]
