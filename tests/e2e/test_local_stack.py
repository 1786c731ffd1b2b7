"""The whole pipeline on the local stack: S3 put -> notification -> SQS -> poller -> handler -> Gateway emulator,
ledger and DLQ, with real SQS visibility timeouts and redrive (moto server) and real HTTP (the emulator)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hdr_ingest_cli as cli
from hdr_ingest.core.dead_letter import DLQ_MESSAGE_KIND
from hdr_ingest.core.outcome import Status
from hdr_ingest.core.source_object import SourceObject
from local_stack.poller import load_handler
from local_stack.stack import LocalStack, StackOptions
from tests.conftest import EXAMPLES, PACK_DIR, ROOT

pytestmark = pytest.mark.e2e

HDRUK4_EXAMPLE = EXAMPLES / "schemata" / "HDRUK" / "4.0.0" / "docs.example.json"
SAMPLES = ROOT / "local_stack" / "samples"
MAX_RECEIVES = 3


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    if not (PACK_DIR / "available.json").is_file():
        pytest.fail("schema pack missing: run `make schemas` first")
    # Powertools reads its settings when the handler module is imported: import it under the test suite's
    # environment (tests/conftest.py), not the stack's, so later tests see the same Logger and Metrics.
    load_handler()
    options = StackOptions(
        stack_name="hgi-e2e",
        visibility_timeout=2,
        max_receive_count=MAX_RECEIVES,
        wait_time_s=1,
        schema_pack_dir=PACK_DIR,
        log_level="ERROR",
    )
    with LocalStack(options) as running:
        yield running


@pytest.fixture(autouse=True)
def _clean_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "stack" in request.fixturenames:
        stack: LocalStack = request.getfixturevalue("stack")
        assert stack.emulator is not None
        stack.emulator.faults.reset()
        stack.poller.resume()


# --- helpers ----------------------------------------------------------------------------------------------


def emulator_datasets(stack: LocalStack, key: str) -> list[dict[str, Any]]:
    assert stack.emulator is not None
    datasetid = SourceObject(stack.aws.bucket, key).record_key
    return [d for d in stack.emulator.datasets() if d["datasetid"] == datasetid]


def peek(stack: LocalStack, queue_url: str) -> list[dict[str, Any]]:
    """The queue's visible messages, left in place (received with a visibility timeout of 0)."""
    sqs = stack.aws.client("sqs")
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(3):
        answer = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0, MessageAttributeNames=["All"]
        )
        for message in answer.get("Messages", []):
            seen[message["MessageId"]] = message
    return list(seen.values())


def dead_letter_for(stack: LocalStack, source: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in peek(stack, stack.aws.dlq_url):
            body = json.loads(message["Body"])
            if body.get("source") == source:
                return {"body": body, "attributes": message.get("MessageAttributes", {})}
        time.sleep(0.2)
    raise AssertionError(f"no dead-letter message for {source}")


def visible(stack: LocalStack, queue_url: str) -> int:
    attributes = stack.aws.client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def requests_since(stack: LocalStack, seq: int) -> list[Any]:
    assert stack.emulator is not None
    return [r for r in stack.emulator.requests() if r.seq > seq]


def last_seq(stack: LocalStack) -> int:
    assert stack.emulator is not None
    log = stack.emulator.requests()
    return log[-1].seq if log else 0


def document(title: str) -> bytes:
    doc = json.loads(HDRUK4_EXAMPLE.read_text(encoding="utf-8"))
    doc["summary"]["title"] = title
    return json.dumps(doc).encode()


# --- the happy path ---------------------------------------------------------------------------------------


def test_valid_hdruk4_example_is_created_then_unchanged_then_updated(stack: LocalStack) -> None:
    key = "incoming/e2e/hdruk-4-example.json"
    source = stack.source(key)
    data = HDRUK4_EXAMPLE.read_bytes()
    stack.put(key, data)

    entry = stack.wait_for(source)
    assert entry.status is Status.CREATED, entry.reason
    assert entry.schema == "HDRUK 4.0.0"
    assert entry.key == key and entry.attempts == 1 and entry.http_status == 201
    [dataset] = emulator_datasets(stack, key)
    assert dataset["id"] == entry.record_id
    # A new dataset is at version 1 (the create answer's "version" is a row id, not the version number).
    assert dataset["version"] == entry.record_version == 1
    assert dataset["status"] == "ACTIVE" and dataset["version"] == 1
    assert dataset["metadata"]["summary"]["title"] == json.loads(data)["summary"]["title"]

    # The same bytes again: recorded as UNCHANGED without calling the Gateway.
    seq = last_seq(stack)
    stack.put(key, data)
    again = stack.wait_for(source, {Status.UNCHANGED}, newer_than=entry.updated_at)
    assert again.record_id == entry.record_id
    assert requests_since(stack, seq) == []

    # A changed export: the same Gateway dataset is overwritten (PUT), its version number bumped.
    stack.put(key, document("North West London COVID-19 Patient Level Situation Report (revised)"))
    updated = stack.wait_for(source, {Status.UPDATED}, newer_than=again.updated_at)
    [dataset] = emulator_datasets(stack, key)
    assert updated.record_id == dataset["id"] == entry.record_id
    assert dataset["version"] == 2 and updated.record_version == 2
    assert dataset["metadata"]["summary"]["title"].endswith("(revised)")
    assert [r.method for r in requests_since(stack, seq)] == ["PUT", "GET"]  # the update, then its read-back
    assert updated.verified is not None and updated.verified.value == "matches"


def test_key_with_spaces_plus_and_unicode_is_decoded_and_published(stack: LocalStack) -> None:
    key = "incoming/e2e/Données + résumé 2024 – v2.json"
    stack.put(key, document("Unicode key"))
    entry = stack.wait_for(stack.source(key))
    assert entry.status is Status.CREATED, entry.reason
    assert entry.key == key
    assert entry.source == f"s3://{stack.aws.bucket}/{key}"
    [dataset] = emulator_datasets(stack, key)
    assert dataset["id"] == entry.record_id
    assert dataset["datasetid"] == entry.record_key


# --- documents that cannot be published -------------------------------------------------------------------


def test_invalid_document_is_recorded_with_every_error_and_dead_lettered(stack: LocalStack) -> None:
    key = "incoming/e2e/invalid.json"
    source = stack.source(key)
    seq = last_seq(stack)
    stack.put(key, (SAMPLES / "invalid-several-errors.json").read_bytes())

    entry = stack.wait_for(source)
    assert entry.status is Status.INVALID
    paths = {e.path for e in entry.errors}
    assert {"$.summary.title", "$.summary.populationSize", "$.issued", "$.internalNotes"} <= paths
    assert entry.errors_total == len(entry.errors) == 6
    assert entry.record_id is None
    assert requests_since(stack, seq) == []  # never sent to the Gateway
    assert emulator_datasets(stack, key) == []

    letter = dead_letter_for(stack, source)
    body = letter["body"]
    assert body["kind"] == DLQ_MESSAGE_KIND and body["status"] == "INVALID"
    assert {e["path"] for e in body["errors"]} == paths
    assert all(e["message"] for e in body["errors"])
    assert body["object"]["key"] == key
    assert body["event"]["Records"][0]["s3"]["bucket"]["name"] == stack.aws.bucket  # replayable
    assert letter["attributes"]["status"]["StringValue"] == "INVALID"


def test_not_json_is_invalid_with_the_position(stack: LocalStack) -> None:
    key = "incoming/e2e/export.json"
    stack.put(key, (SAMPLES / "not-json-export.json").read_bytes())
    entry = stack.wait_for(stack.source(key))
    assert entry.status is Status.INVALID
    [error] = entry.errors
    assert error.path == "$" and "not valid JSON" in error.message and "line 1 column 1" in error.message


# --- Gateway failures, retries, DLQ and replay ------------------------------------------------------------


def test_a_gateway_500_is_retried_and_the_dataset_created(stack: LocalStack) -> None:
    assert stack.emulator is not None
    key = "incoming/e2e/after-a-500.json"
    seq = last_seq(stack)
    stack.emulator.faults.script(["500"])
    stack.put(key, document("After a 500"))

    entry = stack.wait_for(stack.source(key))
    assert entry.status is Status.CREATED, entry.reason
    statuses = [(r.method, r.status, r.fault) for r in requests_since(stack, seq)]
    assert statuses[0] == ("POST", 500, "script:500")  # a first publish: the create is the first request
    assert statuses[-2:] == [("POST", 201, None), ("GET", 200, None)]  # the create, then its read-back
    assert len(emulator_datasets(stack, key)) == 1


def test_gateway_down_fails_after_max_receives_to_the_dlq_and_redrive_publishes_it(
    stack: LocalStack, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert stack.emulator is not None
    key = "incoming/e2e/gateway-down.json"
    source = stack.source(key)
    stack.emulator.faults.set_rates(error_rate=1.0)
    stack.put(key, document("Gateway down"))

    failed = stack.wait_for(source, timeout=40)
    assert failed.status is Status.FAILED, failed.reason
    assert failed.attempts == MAX_RECEIVES
    assert "redrive" in failed.reason
    assert emulator_datasets(stack, key) == []
    letter = dead_letter_for(stack, source)["body"]
    assert letter["status"] == "FAILED" and letter["attempts"] == MAX_RECEIVES
    assert visible(stack, stack.aws.queue_url) == 0  # nothing left on the ingest queue

    stack.emulator.faults.reset()
    waiting = visible(stack, stack.aws.dlq_url)
    code = cli.main(
        [
            "redrive",
            "--dlq-url",
            stack.aws.dlq_url,
            "--queue-url",
            stack.aws.queue_url,
            "--endpoint-url",
            stack.aws.endpoint_url,
            "--region",
            stack.aws.region,
            "--state",
            str(tmp_path / "no-stack.json"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert f"moved {waiting} message(s)" in out

    replayed = stack.wait_for(source, {Status.CREATED}, newer_than=failed.updated_at)
    assert replayed.attempts == 1
    [dataset] = emulator_datasets(stack, key)
    assert dataset["id"] == replayed.record_id
    time.sleep(0.5)
    assert all(json.loads(m["Body"]).get("source") != source for m in peek(stack, stack.aws.dlq_url))


def test_one_failing_record_in_a_batch_is_retried_alone(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    assert stack.emulator is not None
    keys = [f"incoming/e2e/batch-{n}.json" for n in range(3)]
    stack.poller.pause()
    before = len(stack.poller.reports)
    for n, key in enumerate(keys):
        stack.put(key, document(f"Batch member {n}"))
    deadline = time.monotonic() + 5
    while visible(stack, stack.aws.queue_url) < len(keys) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)
    assert visible(stack, stack.aws.queue_url) == len(keys)

    # Records 1 and 3 succeed. Record 2: three 500s (every in-invocation attempt), whatever the order in which the
    # batch's records, processed at the same time, reach the Gateway.
    from local_stack.gateway_emulator import server

    failing = SourceObject(stack.aws.bucket, keys[1]).record_key
    real_handle = stack.emulator._handle
    failures_left = [3]

    def fail_record_2(method: str, path: str, headers: Any, body: bytes, client_ip: str) -> Any:
        if failures_left[0] > 0 and (failing in path or failing.encode() in body):
            failures_left[0] -= 1
            return server._Reply(500, {"message": "Server Error"})
        return real_handle(method, path, headers, body, client_ip)

    monkeypatch.setattr(stack.emulator, "_handle", fail_record_2)
    stack.poller.resume()
    entries = [stack.wait_for(stack.source(key), {Status.CREATED}, timeout=30) for key in keys]

    batch = list(stack.poller.reports)[before]
    assert batch.size == 3 and len(batch.failed_ids) == 1 and batch.deleted == 2 and batch.error is None
    assert failures_left == [0] and [e.attempts for e in entries] == [1, 2, 1]
    for key, entry in zip(keys, entries, strict=True):
        [dataset] = emulator_datasets(stack, key)
        assert dataset["id"] == entry.record_id


def test_every_dropped_object_reaches_the_function_and_the_ledger(stack: LocalStack) -> None:
    """The bucket notifies the queue of every key (S3's filters are case-sensitive): nothing dropped is
    silently ignored."""
    stack.put("incoming/e2e/UPPER.JSON", document("Upper-case extension"))
    stack.put("incoming/e2e/readme.txt", b"not metadata")
    stack.put("elsewhere/e2e/unrouted.json", b"{}")
    assert stack.wait_for(stack.source("incoming/e2e/UPPER.JSON")).status is Status.CREATED
    for key in ("incoming/e2e/readme.txt", "elsewhere/e2e/unrouted.json"):
        entry = stack.wait_for(stack.source(key))
        assert entry.status is Status.INVALID and entry.reason, entry


# --- make run ---------------------------------------------------------------------------------------------


FAST_RETRIES = ["--visibility-timeout", "5"]


def test_make_run_once_publishes_the_samples_and_exits_zero(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT_URL", "GATEWAY_", "HGI_"))}
    env["PYTHONPATH"] = os.pathsep.join(str(ROOT / p) for p in ("layers/shared", "functions/ingest", "."))
    env["COLUMNS"] = "200"
    done = subprocess.run(
        # The samples' PENDING loads come back after the visibility timeout: 5 s instead of make run's 30 s keeps
        # this test to seconds; everything else is make run's own path.
        [sys.executable, "-m", "local_stack", "--once", "--in-memory", "--state-dir", str(tmp_path), *FAST_RETRIES],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines() if line.startswith("incoming/")}
    assert "CREATED" in rows["incoming/northshire/paediatric-asthma-cohort.json"]
    assert "HDRUK 3.0.0" in rows["incoming/riverside/acute-stroke-registry.json"]
    assert "GWDM 2.0" in rows["incoming/lakeside/maternity-outcomes.json"]
    assert "$.internalNotes" in rows["incoming/hillcrest/diabetes-audit.json"]
    assert "INVALID" in rows["incoming/hillcrest/export-that-is-csv.json"]
    assert any("café quarter.json" in line and "CREATED" in line for line in rows.values())
    catalogue = "incoming/moorland/child-health-catalogue.json"
    members = [line for source, line in rows.items() if source.startswith(catalogue + "#https://example.org/")]
    assert len(members) == 2 and all("CREATED" in line and "HDRUK 4.0.0" in line for line in members)
    assert "Every sample ended as expected." in done.stdout
    assert "s3 cp my.json s3://hgi-local-metadata-123456789012-eu-west-2/incoming/" in done.stdout
    # the CLI hint works as printed: a path to this venv's console script, from where `make run` ran
    [hint] = [line.split() for line in done.stdout.splitlines() if line.endswith(" drop my.json --wait")]
    assert (ROOT / hint[0]).resolve() == (Path(sys.executable).parent / "hdr-ingest").resolve()
    assert "[" not in next(line for line in done.stdout.splitlines() if " status " in line)
    assert not (tmp_path / "stack.json").exists()  # removed on exit
    # CloudWatch's metric lines and Powertools' warnings only at --log-level DEBUG (issue 24 §7)
    assert '{"_aws":' not in done.stdout + done.stderr and "UserWarning" not in done.stdout + done.stderr


def test_lost_ledger_is_rebuilt_from_the_gateway_and_no_duplicate_follows(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    key = "incoming/e2e/rebuild/one.json"
    source = stack.source(key)
    stack.put(key, document("A dataset whose ledger item is lost"))
    created = stack.wait_for(source)
    assert created.status is Status.CREATED, created.reason
    stack.aws.client("dynamodb").delete_item(TableName=stack.aws.table, Key={"source": {"S": source}})

    code = cli.main(
        [
            "rebuild-ledger",
            "--prefix",
            "incoming/e2e/rebuild/",
            "--bucket",
            stack.aws.bucket,
            "--table",
            stack.aws.table,
            "--secret-id",
            stack.aws.secret_id,
            "--gateway-url",
            stack.gateway_url,
            "--endpoint-url",
            stack.aws.endpoint_url,
            "--region",
            stack.aws.region,
            "--json",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out  # the poller's handler logs share stdout: the answer is the JSON array
    lines = json.loads(out[out.index("[\n") :])
    assert lines == [{"source": source, "status": "CREATED", "dataset_id": created.record_id, "detail": ""}]
    rebuilt = stack.ledger().get(source)
    assert rebuilt is not None and rebuilt.record_id == created.record_id

    stack.put(key, document("A dataset whose ledger item is lost (re-exported)"))
    updated = stack.wait_for(source, {Status.UPDATED}, newer_than=rebuilt.updated_at)
    assert updated.record_id == created.record_id
    assert len(emulator_datasets(stack, key)) == 1


# --- the CLI against the running stack, as a user runs it: another process ---------------------------------


def _cli(stack: LocalStack, tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """`hdr-ingest ARGV` in its own process, finding ``stack`` through a state file as after `make run`."""
    from local_stack.state import write_state

    state = tmp_path / ".local-stack" / "stack.json"
    if not state.exists():
        data = {"pid": os.getpid(), "aws": stack.aws.to_json(), "function_env": stack.function_env}
        write_state(state, {**data, "prefixes": ["incoming/"]})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GATEWAY_", "HGI_"))}
    env["PYTHONPATH"] = os.pathsep.join(str(ROOT / p) for p in ("layers/shared", "functions/ingest", "."))
    return subprocess.run(
        [sys.executable, "-m", "hdr_ingest_cli", *argv],
        cwd=tmp_path,  # found from the working directory, not the repository root
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_drop_wait_follows_the_files_to_their_outcomes(stack: LocalStack, tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "good.json").write_bytes(document("Dropped and waited for"))
    (folder / "bad.json").write_bytes((SAMPLES / "invalid-several-errors.json").read_bytes())
    done = _cli(stack, tmp_path, "drop", str(folder), "--prefix", "incoming/e2e/wait/", "--wait")
    assert done.returncode == 1, done.stdout + done.stderr  # one file ended INVALID
    lines = done.stdout.splitlines()
    assert lines[0] == f"uploaded {folder / 'bad.json'} -> s3://{stack.aws.bucket}/incoming/e2e/wait/bad.json " + (
        f"({(folder / 'bad.json').stat().st_size} bytes)"
    )
    assert any(line.startswith("incoming/e2e/wait/good.json ") and " CREATED " in line for line in lines)
    assert any(line.startswith("incoming/e2e/wait/bad.json ") and " INVALID " in line for line in lines)
    assert lines[-1] == "2 sources: 1 CREATED, 1 INVALID"


def test_invoke_runs_the_bundled_event_against_the_stack_without_aws(stack: LocalStack, tmp_path: Path) -> None:
    key = "incoming/hdruk-4.0.0-asthma-cohort.json"
    event, env_file = str(ROOT / "events" / "s3-put.json"), str(ROOT / "events" / "env.json")
    done = _cli(stack, tmp_path, "invoke", event, "--env-file", env_file)
    assert done.returncode == 0, done.stderr[-3000:]
    source = stack.source(key)
    assert json.loads(done.stdout) == {"processed": [{"source": source, "status": "UNCHANGED"}]}
    assert f"uploaded local_stack/samples/hdruk-4.0.0-asthma-cohort.json to {source}" in done.stderr
    assert f"bucket hdr-ingest-metadata-123456789012-eu-west-2 -> {stack.aws.bucket}" in done.stderr
    entry = stack.ledger().get(source)
    assert entry is not None and entry.status is Status.UNCHANGED

    # the exit code follows the outcome: the same event for an invalid sample
    bad = json.loads((ROOT / "events" / "s3-put.json").read_text(encoding="utf-8"))
    bad["Records"][0]["s3"]["object"]["key"] = "incoming/invalid-several-errors.json"
    bad_event = tmp_path / "bad-event.json"
    bad_event.write_text(json.dumps(bad), encoding="utf-8")
    done = _cli(stack, tmp_path, "invoke", str(bad_event), "--env-file", env_file)
    assert done.returncode == 1, done.stderr[-3000:]
    assert json.loads(done.stdout)["processed"][0]["status"] == "INVALID"


def test_verify_reads_the_stacks_records_back_and_finds_one_edited_on_the_gateway(
    stack: LocalStack, tmp_path: Path
) -> None:
    assert stack.emulator is not None
    keys = ["incoming/e2e/verify/kept.json", "incoming/e2e/verify/edited.json"]
    for key in keys:
        stack.put(key, document(f"Read back {key}"))
    entries = [stack.wait_for(stack.source(key), {Status.CREATED}) for key in keys]
    assert [e.verified.value if e.verified else None for e in entries] == ["matches", "matches"]

    done = _cli(stack, tmp_path, "verify", "--prefix", "incoming/e2e/verify/", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    assert [line["verified"] for line in json.loads(done.stdout)] == ["matches", "matches"]

    [dataset] = emulator_datasets(stack, keys[1])
    held = dict(dataset["metadata"])
    held["summary"] = {**held["summary"], "title": "Edited on the Gateway"}
    stack.emulator.edit_held(int(dataset["id"]), held)
    done = _cli(stack, tmp_path, "verify", "--prefix", "incoming/e2e/verify/", "--json")
    assert done.returncode == 1, done.stderr[-3000:]
    by_key = {line["source"].rsplit("/", 1)[1]: line for line in json.loads(done.stdout)}
    assert by_key["kept.json"]["verified"] == "matches"
    assert by_key["edited.json"]["verified"] == "differs"
    assert by_key["edited.json"]["differences"][0]["path"] == "$.summary.title"
    entry = stack.ledger().get(stack.source(keys[1]))
    assert entry is not None and entry.verified is not None and entry.verified.value == "differs"
