"""``hdr-ingest`` (hdr_ingest_cli): validate's exit codes and JSON, redrive's receive/send/delete fallback on
moto (server mode, where StartMessageMoveTask answers 500, and in-process, where it raises NotImplementedError),
and the status, drop and invoke commands."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

import hdr_ingest_cli as cli
from hdr_ingest.adapters.aws.dynamodb_ledger import DynamoDbLedger
from hdr_ingest.core.ledger import LedgerEntry
from hdr_ingest.core.outcome import ErrorDetail, Status
from local_stack.aws import MotoServer
from tests.conftest import EXAMPLES, ROOT

pytestmark = pytest.mark.integration

VALID = EXAMPLES / "schemata" / "HDRUK" / "4.0.0" / "docs.example.json"
SAMPLES = ROOT / "local_stack" / "samples"
REGION = "eu-west-2"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(autouse=True)
def no_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No running local stack unless a test starts one: the CLI must not pick up a developer's
    .local-stack/stack.json (it looks in the working directory, its parents and the checkout)."""
    path = tmp_path / "no-stack.json"
    monkeypatch.setenv("HGI_LOCAL_STATE", str(path))
    return path


# --- validate ---------------------------------------------------------------------------------------------


@pytest.fixture
def invalid_file(tmp_path: Path) -> Path:
    target = tmp_path / "bad.json"
    shutil.copy(SAMPLES / "invalid-several-errors.json", target)
    return target


def test_validate_a_valid_file_exits_0_and_names_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", str(VALID))
    assert code == 0
    assert out.startswith("ok ")
    assert "valid HDRUK 4.0.0" in out


def test_validate_an_invalid_file_exits_1_and_lists_every_error_with_its_path(
    capsys: pytest.CaptureFixture[str], invalid_file: Path
) -> None:
    code, out, _ = run(capsys, "validate", str(invalid_file))
    assert code == 1
    assert out.startswith(f"INVALID  {invalid_file}")
    for line in (
        "$.summary.title: is required but missing; add it.",
        '$.summary.populationSize: is "about 5000"; it must be of type integer.',
        "$.internalNotes: is not a field of this schema",
        '$.issued: is "yesterday"; it must be a date-time',
        "$.summary.dataCustodian.contactPoint:",
        "$.version:",
    ):
        assert line in out
    marked = [line for line in out.splitlines() if line.endswith("[the error the Gateway reports]")]
    assert len(marked) == 1 and out.index(marked[0]) < out.index("$.version:")  # it leads the list


def test_validate_json_reports_each_file(
    capsys: pytest.CaptureFixture[str], invalid_file: Path, tmp_path: Path
) -> None:
    not_json = tmp_path / "export.json"
    not_json.write_text("title,rows\nx,1\n", encoding="utf-8")
    code, out, _ = run(capsys, "validate", "--json", str(VALID), str(invalid_file), str(not_json))
    assert code == 1
    report = json.loads(out)
    assert report["valid"] is False
    good, bad, broken = report["files"]
    assert {k: good[k] for k in ("file", "valid", "schema", "summary", "errors")} == {
        "file": str(VALID),
        "valid": True,
        "schema": "HDRUK 4.0.0",
        "summary": "valid HDRUK 4.0.0 as the Gateway will judge it (first match, as the Gateway detects)",
        "errors": [],
    }
    # what the Gateway's input pre-processing will do to it, in words and as ledger-style warnings
    assert "It will be sent with input_schema=HDRUK&input_version=4.0.0." in good["explanation"]
    assert isinstance(good["warnings"], list)
    assert bad["valid"] is False and bad["schema"] == "HDRUK 3.0.0"
    assert {e["path"] for e in bad["errors"]} == {
        "$.internalNotes",
        "$.issued",
        "$.summary.title",
        "$.summary.dataCustodian.contactPoint",
        "$.summary.populationSize",
        "$.version",
    }
    # The error the Gateway would report comes first, marked; the others are not.
    assert bad["errors"][0]["gateway_reports"] is True
    assert not any("gateway_reports" in e for e in bad["errors"][1:])
    assert broken["valid"] is False and broken["schema"] is None
    [error] = broken["errors"]
    assert error["path"] == "$" and "not valid JSON" in error["message"]


def test_validate_json_exit_0_when_all_valid_and_directories_are_expanded(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = tmp_path / "export"
    (folder / "nested").mkdir(parents=True)
    shutil.copy(VALID, folder / "a.json")
    shutil.copy(SAMPLES / "gwdm-2.0-maternity-outcomes.json", folder / "nested" / "b.json")
    (folder / "notes.txt").write_text("not metadata", encoding="utf-8")
    code, out, _ = run(capsys, "validate", "--json", str(folder))
    assert code == 0
    report = json.loads(out)
    assert report["valid"] is True
    assert [(Path(f["file"]).name, f["schema"]) for f in report["files"]] == [
        ("a.json", "HDRUK 4.0.0"),
        ("b.json", "GWDM 2.0"),
    ]


def test_validate_a_catalogue_checks_every_dataset_and_its_identifier(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "validate", str(SAMPLES / "catalogue-two-datasets.json"))
    assert code == 0
    assert "catalogue of 2 datasets: 2 valid, 0 invalid" in out
    assert "[1] https://example.org/datasets/moorland-immunisation-uptake: valid HDRUK 4.0.0" in out

    elements = json.loads((SAMPLES / "catalogue-two-datasets.json").read_text(encoding="utf-8"))
    no_id = dict(elements[0], identifier=None)
    broken = dict(elements[1], summary={**elements[1]["summary"], "populationSize": "lots"})
    catalogue = tmp_path / "catalogue.json"
    catalogue.write_text(json.dumps([elements[0], no_id, broken, elements[0]]), encoding="utf-8")
    code, out, _ = run(capsys, "validate", "--json", str(catalogue))
    assert code == 1
    [result] = json.loads(out)["files"]
    assert result["summary"] == "catalogue of 4 datasets: 1 valid, 3 invalid"
    assert [e["valid"] for e in result["elements"]] == [True, False, False, False]
    paths = [e["path"] for e in result["errors"]]
    assert "$[1]" in paths  # no identifier (HDRUK 4.0.0 allows a null one, a catalogue does not)
    assert "$[2].summary.populationSize" in paths
    assert any(e["path"] == "$[3]" and "repeats identifier" in e["message"] for e in result["errors"])

    code, out, _ = run(capsys, "validate", "--json", "--id-pointer", "/summary/title", str(catalogue))
    [result] = json.loads(out)["files"]
    assert result["elements"][1]["id"] == elements[0]["summary"]["title"]


def test_validate_against_a_named_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", "--json", "--schema", "HDRUK 3.0.0", str(VALID))
    assert code == 1
    [result] = json.loads(out)["files"]
    assert result["schema"] == "HDRUK 3.0.0" and result["errors"]
    assert result["summary"].startswith("does not conform to HDRUK 3.0.0")


def test_validate_rejects_an_unknown_schema_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "validate", "--schema", "HDRUK 9.9.9", str(VALID))
    assert code == 2
    assert "HDRUK 9.9.9 is not in the schema pack" in err


def test_validate_reports_a_missing_file_as_invalid(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "validate", str(tmp_path / "missing.json"))
    assert code == 1
    assert "cannot be read" in out


# --- redrive ----------------------------------------------------------------------------------------------


@pytest.fixture
def moto_server() -> Iterator[str]:
    server = MotoServer().start()
    try:
        yield server.url
    finally:
        server.stop()


def _sqs(endpoint: str | None) -> Any:
    return boto3.client("sqs", region_name=REGION, endpoint_url=endpoint)


def _fill(sqs: Any, queue_url: str, count: int) -> dict[str, dict[str, Any]]:
    """``count`` distinct messages with string and binary attributes; returns them by body."""
    sent: dict[str, dict[str, Any]] = {}
    for n in range(count):
        body = json.dumps({"kind": "hdr-gateway-ingest.failure", "source": f"s3://b/incoming/{n}.json", "n": n})
        attributes = {
            "status": {"DataType": "String", "StringValue": "FAILED"},
            "source": {"DataType": "String", "StringValue": f"s3://b/incoming/{n}.json"},
            "blob": {"DataType": "Binary", "BinaryValue": bytes([n, 255 - n])},
        }
        sqs.send_message(QueueUrl=queue_url, MessageBody=body, MessageAttributes=attributes)
        sent[body] = attributes
    return sent


def _queues(sqs: Any, count: int) -> tuple[str, str, dict[str, dict[str, Any]]]:
    """A dead-letter queue holding ``count`` messages (``_fill``) and an empty queue to move them to: their URLs and
    the messages by body."""
    dlq_url = sqs.create_queue(QueueName="cli-dlq")["QueueUrl"]
    queue_url = sqs.create_queue(QueueName="cli-ingest")["QueueUrl"]
    return dlq_url, queue_url, _fill(sqs, dlq_url, count)


def _redrive(capsys: pytest.CaptureFixture[str], dlq_url: str, queue_url: str, *more: str) -> tuple[int, str, str]:
    return run(capsys, "redrive", "--dlq-url", dlq_url, "--queue-url", queue_url, *more)


def _drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not got:
            return out
        out.extend(got)
        for message in got:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def _counts(sqs: Any, queue_url: str) -> tuple[int, int]:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def _assert_moved_without_loss(sqs: Any, dlq_url: str, queue_url: str, sent: dict[str, dict[str, Any]]) -> None:
    assert _counts(sqs, dlq_url) == (0, 0)
    arrived = _drain(sqs, queue_url)
    assert sorted(m["Body"] for m in arrived) == sorted(sent)  # each exactly once
    for message in arrived:
        attributes = message["MessageAttributes"]
        expected = sent[message["Body"]]
        assert attributes["status"]["StringValue"] == expected["status"]["StringValue"]
        assert attributes["source"]["StringValue"] == expected["source"]["StringValue"]
        assert attributes["blob"]["BinaryValue"] == expected["blob"]["BinaryValue"]


def test_redrive_falls_back_to_receive_send_delete_on_a_moto_server(
    capsys: pytest.CaptureFixture[str], moto_server: str, no_state: Path
) -> None:
    sqs = _sqs(moto_server)
    dlq_url, queue_url, sent = _queues(sqs, 23)  # more than two receive batches

    code, out, _ = _redrive(capsys, dlq_url, queue_url, "--endpoint-url", moto_server)
    assert code == 0, out
    assert out.startswith("Moving the messages one by one")  # the fallback is news, not an error
    assert "does not offer SQS's own redrive, StartMessageMoveTask" in out
    assert f"moved 23 message(s) from {dlq_url} to {queue_url}" in out
    _assert_moved_without_loss(sqs, dlq_url, queue_url, sent)


def test_redrive_falls_back_when_the_mock_raises_not_implemented(
    capsys: pytest.CaptureFixture[str], no_state: Path
) -> None:
    with mock_aws():
        sqs = _sqs(None)
        dlq_url, queue_url, sent = _queues(sqs, 4)
        code, out, _ = _redrive(capsys, dlq_url, queue_url, "--region", REGION)
        assert code == 0, out
        assert "has not been implemented" in out
        assert "moved 4 message(s)" in out
        _assert_moved_without_loss(sqs, dlq_url, queue_url, sent)


def test_redrive_never_deletes_what_it_could_not_send(
    capsys: pytest.CaptureFixture[str], moto_server: str, no_state: Path
) -> None:
    sqs = _sqs(moto_server)
    dlq_url, _, sent = _queues(sqs, 5)
    missing = dlq_url.replace("cli-dlq", "no-such-queue")

    code, _, err = _redrive(capsys, dlq_url, missing, "--endpoint-url", moto_server)
    assert code == 1
    assert "error:" in err
    assert _counts(sqs, dlq_url) == (5, 0)  # all still there, and visible again at once
    assert sorted(m["Body"] for m in _drain(sqs, dlq_url)) == sorted(sent)


def test_redrive_max_messages_moves_only_that_many(
    capsys: pytest.CaptureFixture[str], moto_server: str, no_state: Path
) -> None:
    sqs = _sqs(moto_server)
    dlq_url, queue_url, _ = _queues(sqs, 6)
    code, out, _ = _redrive(capsys, dlq_url, queue_url, "--endpoint-url", moto_server, "--max-messages", "4")
    assert code == 0
    assert "moved 4 message(s)" in out
    assert _counts(sqs, dlq_url)[0] == 2
    assert len(_drain(sqs, queue_url)) == 4


def test_redrive_needs_queues_when_no_stack_runs(capsys: pytest.CaptureFixture[str], no_state: Path) -> None:
    code, _, err = run(capsys, "redrive", "--queue-url", "http://localhost/q")
    assert code == 2
    assert "--dlq-url is required" in err


# --- status and drop --------------------------------------------------------------------------------------


def ledger_entry(key: str, status: Status, **extra: Any) -> LedgerEntry:
    return LedgerEntry(
        source=f"s3://bkt/{key}",
        status=status,
        reason=extra.pop("reason", status.value.title()),
        bucket="bkt",
        key=key,
        record_key="hgi-x",
        updated_at="2025-01-01T00:00:00.000Z",
        **extra,
    )


def test_status_lists_the_ledger_filters_failures_and_prints_json(
    capsys: pytest.CaptureFixture[str], no_state: Path
) -> None:
    with mock_aws():
        dynamodb = boto3.resource("dynamodb", region_name=REGION)
        table = dynamodb.create_table(
            TableName="ledger",
            KeySchema=[{"AttributeName": "source", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "source", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        ledger = DynamoDbLedger(table)
        ledger.record(
            ledger_entry("incoming/a.json", Status.CREATED, record_id=7, record_version=1, schema="HDRUK 4.0.0")
        )
        ledger.record(
            ledger_entry(
                "incoming/b.json",
                Status.INVALID,
                errors=(
                    ErrorDetail("$.summary.title", "is required but missing; add it.", gateway_reports=True),
                    ErrorDetail("$.version", "is required but missing; add it."),
                ),
                errors_total=2,
            )
        )

        code, out, _ = run(capsys, "status", "--table", "ledger", "--region", REGION)
        assert code == 0
        lines = out.splitlines()
        assert lines[0].split()[:3] == ["source", "status", "schema"]
        # one bucket: each row shows its key, and the bucket is said once
        assert any(line.startswith("incoming/a.json ") and "CREATED" in line and " 7 v1 " in line for line in lines)
        assert any("incoming/b.json" in line and "$.summary.title: is required" in line for line in lines)
        assert "s3://bkt/" not in out and "bucket bkt" in lines
        assert lines[-1] == "2 sources: 1 CREATED, 1 INVALID"
        assert "\x1b[" not in out  # no colour codes when the output is not a terminal

        code, out, _ = run(capsys, "status", "--failed", "--json", "--table", "ledger", "--region", REGION)
        assert code == 0
        [item] = json.loads(out)
        assert item["source"] == "s3://bkt/incoming/b.json" and item["status"] == "INVALID"
        assert item["errors"] == [
            {"path": "$.summary.title", "message": "is required but missing; add it.", "gateway_reports": True},
            {"path": "$.version", "message": "is required but missing; add it."},
        ]
        stored = ledger.get("s3://bkt/incoming/b.json")
        assert stored is not None and [e.gateway_reports for e in stored.errors] == [True, False]

        code, out, _ = run(capsys, "status", "incoming/b.json", "--table", "ledger", "--region", REGION)
        assert code == 0
        assert "status      INVALID" in out
        assert "  $.summary.title: is required but missing; add it. [the error the Gateway reports]" in out
        assert "  $.version: is required but missing; add it.\n" in out


def test_drop_uploads_files_and_directories_under_the_prefix(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, no_state: Path
) -> None:
    folder = tmp_path / "export"
    (folder / "team").mkdir(parents=True)
    shutil.copy(VALID, folder / "one.json")
    shutil.copy(VALID, folder / "team" / "two.json")
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="drop-bucket", CreateBucketConfiguration={"LocationConstraint": REGION})
        sources = [str(folder), str(SAMPLES / "not-json-export.json")]
        code, out, _ = run(capsys, "drop", *sources, "--bucket", "drop-bucket", "--region", REGION)
        assert code == 0
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="drop-bucket")["Contents"])
        assert keys == ["incoming/not-json-export.json", "incoming/one.json", "incoming/team/two.json"]
        assert s3.get_object(Bucket="drop-bucket", Key="incoming/one.json")["Body"].read() == VALID.read_bytes()
        assert out.count("uploaded /") == 3  # a line per file when there are few
        total = 2 * VALID.stat().st_size + (SAMPLES / "not-json-export.json").stat().st_size
        assert out.splitlines()[-1] == f"uploaded 3 file(s), {total / 1024:,.1f} KB, to s3://drop-bucket/incoming/"

        many = tmp_path / "many"
        many.mkdir()
        for n in range(25):
            shutil.copy(VALID, many / f"{n:02}.json")
        code, out, _ = run(capsys, "drop", str(many), "--bucket", "drop-bucket", "--region", REGION)
        assert code == 0
        total = 25 * VALID.stat().st_size
        assert out.splitlines() == [f"uploaded 25 file(s), {total / 1024:,.1f} KB, to s3://drop-bucket/incoming/"]


# --- invoke -----------------------------------------------------------------------------------------------


def test_invoke_runs_the_handler_on_an_event_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    env_file = tmp_path / "env.json"
    env_file.write_text(
        json.dumps(
            {
                "Parameters": {"POWERTOOLS_LOG_LEVEL": "ERROR"},
                "IngestFunction": {
                    "GATEWAY_SECRET_ID": "hgi/gateway-app",
                    "LEDGER_TABLE": "ledger",
                    "DLQ_URL": "https://sqs.eu-west-2.amazonaws.com/123456789012/dlq",
                    "AWS_ENDPOINT_URL": "",
                },
            }
        ),
        encoding="utf-8",
    )
    # The s3:TestEvent is skipped without touching AWS: a successful, empty batch response.
    code, out, _ = run(capsys, "invoke", str(ROOT / "events" / "sqs-s3-test-event.json"), "--env-file", str(env_file))
    assert code == 0
    assert json.loads(out) == {"batchItemFailures": []}


def test_invoke_reports_a_misconfigured_function_like_lambda(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    env_file = tmp_path / "env.json"
    env_file.write_text(
        json.dumps({"IngestFunction": {"GATEWAY_SECRET_ID": "", "LEDGER_TABLE": "", "DLQ_URL": ""}}), encoding="utf-8"
    )
    code, out, err = run(capsys, "invoke", str(ROOT / "events" / "s3-put.json"), "--env-file", str(env_file))
    assert code == 1
    response = json.loads(out)
    assert response["errorType"] == "ConfigError"
    assert "GATEWAY_SECRET_ID is required" in response["errorMessage"]
    assert "Traceback" in err


# --- defaults from a running local stack ------------------------------------------------------------------


def test_commands_default_to_the_running_local_stack(
    capsys: pytest.CaptureFixture[str], moto_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from local_stack.aws import FAKE_CREDENTIALS
    from local_stack.state import write_state

    kwargs: dict[str, Any] = {"region_name": REGION, "endpoint_url": moto_server}
    s3, dynamodb = boto3.client("s3", **kwargs), boto3.resource("dynamodb", **kwargs)
    s3.create_bucket(Bucket="state-bucket", CreateBucketConfiguration={"LocationConstraint": REGION})
    table = dynamodb.create_table(
        TableName="state-ledger",
        KeySchema=[{"AttributeName": "source", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "source", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    DynamoDbLedger(table).record(ledger_entry("incoming/x.json", Status.CREATED, record_id=3))
    state = tmp_path / "stack.json"
    aws = {"endpoint_url": moto_server, "region": REGION, "bucket": "state-bucket", "table": "state-ledger"}
    write_state(state, {"pid": os.getpid(), "aws": {**aws, "credentials": FAKE_CREDENTIALS}})
    monkeypatch.setenv("HGI_LOCAL_STATE", str(state))
    for name in FAKE_CREDENTIALS:  # the stack's credentials come from the state file
        monkeypatch.delenv(name, raising=False)

    code, out, _ = run(capsys, "status", "--json")
    assert code == 0
    assert [item["source"] for item in json.loads(out)] == ["s3://bkt/incoming/x.json"]

    code, out, _ = run(capsys, "drop", str(VALID))
    assert code == 0
    assert "s3://state-bucket/incoming/docs.example.json" in out
    assert s3.head_object(Bucket="state-bucket", Key="incoming/docs.example.json")["ContentLength"] > 0

    # Pointed elsewhere, the CLI does not borrow the local stack's names.
    code, _, err = run(capsys, "status", "--endpoint-url", "http://127.0.0.1:9")
    assert code == 2 and "--table is required" in err

    write_state(state, {"pid": 2**22 + 12345, "aws": aws})  # a stack that is no longer running
    code, _, err = run(capsys, "status")
    assert code == 2 and "--table is required" in err


def test_validate_explains_the_gateway_quirk_and_strict_mode_accepts_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    document = json.loads(VALID.read_text(encoding="utf-8"))
    document["coverage"]["followUp"] = "> 10 Years"
    path = tmp_path / "quirk.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 1
    assert "as sent, but the Gateway would reject it" in out
    assert "HTML-encodes" in out and "$.coverage.followUp" in out
    # the value as the file has it, and beside it what the Gateway's HTML encoding makes of it
    assert '$.coverage.followUp: is "> 10 Years" (which the Gateway' in out
    assert 'validates as "&gt; 10 Years")' in out
    code, out, _ = run(capsys, "validate", "--json", str(path))
    [error] = json.loads(out)["files"][0]["errors"]
    assert error["message"].startswith('is "> 10 Years" (which the Gateway')
    code, out, _ = run(capsys, "validate", "--mode", "strict", str(path))
    assert code == 0
    assert "The Gateway: rejects it" in out


# --- issue 13: finding the stack, status, drop and its prefixes, a closed pipe -----------------------------


@dataclass
class FakeStack:
    """A running stack's state file over a moto server: its bucket and ledger, as `make run` leaves them."""

    path: Path
    endpoint: str
    s3: Any
    table: Any
    bucket: str


@pytest.fixture
def fake_stack(moto_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeStack:
    from local_stack.aws import FAKE_CREDENTIALS
    from local_stack.state import write_state

    kwargs: dict[str, Any] = {"region_name": REGION, "endpoint_url": moto_server}
    s3, dynamodb = boto3.client("s3", **kwargs), boto3.resource("dynamodb", **kwargs)
    name = f"fake-{uuid.uuid4().hex[:12]}"  # moto servers share one backend in this process
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    table = dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "source", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "source", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    path = tmp_path / "checkout" / ".local-stack" / "stack.json"
    aws = {"endpoint_url": moto_server, "region": REGION, "bucket": name, "table": name}
    write_state(path, {"pid": os.getpid(), "aws": {**aws, "credentials": FAKE_CREDENTIALS}, "prefixes": ["incoming/"]})
    monkeypatch.setenv("HGI_LOCAL_STATE", str(path))
    return FakeStack(path, moto_server, s3, table, name)


def test_the_stack_is_found_from_any_directory_below_it(
    capsys: pytest.CaptureFixture[str], fake_stack: FakeStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from local_stack.state import StackState

    DynamoDbLedger(fake_stack.table).record(ledger_entry("incoming/x.json", Status.CREATED, record_id=3))
    deep = fake_stack.path.parent.parent / "docs" / "exports"
    deep.mkdir(parents=True)
    monkeypatch.delenv("HGI_LOCAL_STATE")
    monkeypatch.chdir(deep)
    found = StackState.find()
    assert found is not None and found.path == fake_stack.path
    code, out, _ = run(capsys, "status", "--json")
    assert code == 0
    assert [item["source"] for item in json.loads(out)] == ["s3://bkt/incoming/x.json"]


def test_status_fits_a_terminal_counts_and_shows_catalogues_and_destinations(
    capsys: pytest.CaptureFixture[str], fake_stack: FakeStack
) -> None:
    from hdr_ingest.adapters.aws.dynamodb_ledger import to_item

    ledger = DynamoDbLedger(fake_stack.table)
    long_error = "is not a field of this schema; remove it or fix its spelling (it is spelt differently in 3.0.0)."
    ledger.record(
        ledger_entry(
            "incoming/bad.json", Status.INVALID, errors=(ErrorDetail("$.internalNotes", long_error),), errors_total=2
        )
    )
    cat = "incoming/catalogue.json"
    ledger.record(
        ledger_entry(cat, Status.CREATED, reason="Catalogue of 2 datasets: 1 created, 1 updated.", members=("a", "b"))
    )
    ledger.record(ledger_entry(f"{cat}#a", Status.CREATED, record_id=1, record_version=1))
    ledger.record(ledger_entry(f"{cat}#b", Status.UPDATED, record_id=2, record_version=3))
    routed = to_item(ledger_entry("incoming/routed.json", Status.CREATED, record_id=4, record_version=1))
    fake_stack.table.put_item(Item={**routed, "destination": {"kind": "hdruk", "url": "https://api.example.org/v1"}})

    code, out, _ = run(capsys, "status")
    assert code == 0
    lines = out.splitlines()
    assert all(line == line.rstrip() for line in lines)  # piped: one line a row, no padding
    assert "destination" in lines[0].split()
    [bad] = [line for line in lines if line.startswith("incoming/bad.json ")]
    assert f"$.internalNotes: {long_error} (+1 more)" in bad  # the whole first error
    [catalogue] = [line for line in lines if line.startswith(f"{cat} ")]
    assert " catalogue " in catalogue and "CREATED" not in catalogue  # the file's summary, not a dataset status
    assert "Catalogue of 2 datasets: 1 created, 1 updated." in catalogue
    assert [line.split()[:2] for line in lines if line.startswith("  #")] == [["#a", "CREATED"], ["#b", "UPDATED"]]
    [routed_line] = [line for line in lines if line.startswith("incoming/routed.json ")]
    assert "hdruk api.example.org" in routed_line
    assert lines[-1] == "4 sources: 2 CREATED, 1 INVALID, 1 UPDATED; 1 catalogue file"

    # on a terminal of 100 columns: nothing wider, and the first error wraps rather than being cut
    from rich.console import Console

    from hdr_ingest_cli.status import outcome_table, read_ledger

    terminal = Console(width=100, file=io.StringIO(), force_terminal=True, color_system=None)
    terminal.print(outcome_table(read_ledger(fake_stack.table), 100))
    shown = terminal.file.getvalue()  # type: ignore[attr-defined]
    assert max(len(line) for line in shown.splitlines()) <= 100
    assert "".join(long_error.split()) in "".join(shown.split())

    code, out, err = run(capsys, "status", "nosuchthing")
    assert code == 1 and out == ""
    assert f"no entries in ledger {fake_stack.bucket} matching 'nosuchthing'" in err
    code, out, _ = run(capsys, "status", "--json", "routed.json")
    assert json.loads(out)[0]["destination"] == {"kind": "hdruk", "url": "https://api.example.org/v1"}


def test_status_piped_into_head_stops_quietly(fake_stack: FakeStack) -> None:
    DynamoDbLedger(fake_stack.table).record(ledger_entry("incoming/x.json", Status.CREATED, record_id=3))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("layers/shared", "."))}
    child = subprocess.Popen(
        [sys.executable, "-m", "hdr_ingest_cli", "status"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()  # the reader is gone before anything is written, as `| head -0` would be
    err = child.stderr.read().decode()
    assert child.wait(timeout=60) in (1, 141)  # rich's own broken-pipe exit, or ours for plain prints
    assert "Traceback" not in err and "BrokenPipeError" not in err


def test_drop_refuses_a_prefix_no_route_watches_unless_forced(
    capsys: pytest.CaptureFixture[str], fake_stack: FakeStack
) -> None:
    code, _, err = run(capsys, "drop", str(VALID), "--prefix", "uploads")
    assert code == 2
    assert "no route watches uploads/: the running stack watches incoming/" in err
    assert "--prefix incoming/" in err
    assert "Contents" not in fake_stack.s3.list_objects_v2(Bucket=fake_stack.bucket)

    code, _, err = run(capsys, "drop", str(VALID), "--prefix", "uploads", "--force")
    assert code == 0
    assert "warning: no route watches uploads/" in err
    listed = fake_stack.s3.list_objects_v2(Bucket=fake_stack.bucket)["Contents"]
    assert [o["Key"] for o in listed] == ["uploads/docs.example.json"]

    code, _, _ = run(capsys, "drop", str(VALID), "--prefix", "incoming/team")  # under a watched prefix
    assert code == 0


def test_a_state_file_without_prefixes_means_incoming(tmp_path: Path) -> None:
    from local_stack.state import StackState, write_state

    path = tmp_path / "stack.json"
    write_state(path, {"pid": os.getpid(), "aws": {"bucket": "b"}})
    state = StackState.load(path)
    assert state is not None and state.prefixes == ["incoming/"]


def test_drop_to_a_missing_bucket_says_what_was_not_uploaded(capsys: pytest.CaptureFixture[str]) -> None:
    with mock_aws():
        code, out, err = run(capsys, "drop", str(VALID), "--bucket", "no-such-bucket", "--region", REGION)
    assert code == 1
    assert "uploaded 0 file(s)" in out
    assert f"error: {VALID} was not uploaded to s3://no-such-bucket/incoming/docs.example.json" in err
    assert "NoSuchBucket" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("kind", "invalid", "first_error"),
    [
        ("unis", "invalid-several-errors.json", "$.eventType: is required but missing; add it."),
        ("qrvey", "invalid-dataset.json", '$.columns[0].columnType: is "FLOAT"; it must be one of'),
    ],
)
def test_validate_by_kind_uses_that_catalogue_s_own_rules(
    capsys: pytest.CaptureFixture[str], kind: str, invalid: str, first_error: str
) -> None:
    folder = SAMPLES / kind
    code, out, _ = run(capsys, "validate", "--kind", kind, str(folder / invalid))
    assert code == 1 and out.startswith("INVALID") and first_error in out
    valid = next(p for p in sorted(folder.glob("*.json")) if not p.name.startswith("invalid"))
    code, out, _ = run(capsys, "validate", "--kind", kind, "--json", str(valid))
    assert code == 0 and json.loads(out)["valid"] is True
