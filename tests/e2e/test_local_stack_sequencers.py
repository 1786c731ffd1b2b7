"""Issue 24 §4: the local stack keeps S3's promises. Its events carry sequencers that grow per key (and the
versioned bucket's version ids), so an old dead letter redriven after the fixed file was published and the
object deleted leaves the newer state, and the next identical drop makes no new version."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from hdr_ingest.core.outcome import Status
from hdr_ingest_cli.redrive import redrive
from hdr_ingest_cli.stack import Aws
from local_stack.poller import load_handler
from local_stack.stack import LocalStack, StackOptions
from tests.conftest import PACK_DIR, ROOT

pytestmark = pytest.mark.e2e

VALID = (ROOT / "local_stack" / "samples" / "hdruk-4.0.0-asthma-cohort.json").read_bytes()
DELETED = "Object deleted; record left on the catalogue"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    load_handler()  # under the test suite's environment, as tests/e2e/test_local_stack.py explains
    options = StackOptions(
        stack_name="hgi-e2e-seq",
        visibility_timeout=2,
        max_receive_count=3,
        wait_time_s=1,
        schema_pack_dir=PACK_DIR,
        log_level="ERROR",
    )
    with LocalStack(options) as running:
        yield running


def _events(stack: LocalStack, key: str) -> list[dict[str, Any]]:
    """The S3 event records for ``key`` in the messages the poller has seen (moto's queue, peeked)."""
    sqs = stack.aws.client("sqs")
    found = []
    for message in sqs.receive_message(QueueUrl=stack.aws.dlq_url, MaxNumberOfMessages=10).get("Messages", []):
        sqs.change_message_visibility(
            QueueUrl=stack.aws.dlq_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
        found.append(json.loads(message["Body"]))
    return [b for b in found if key in json.dumps(b)]


def test_a_redriven_old_dead_letter_leaves_the_newer_state_and_the_next_drop_makes_no_version(
    stack: LocalStack,
) -> None:
    key = "incoming/e2e-seq/asthma.json"
    source = stack.source(key)
    stack.put(key, b'{"not": "a dataset"}')
    invalid = stack.wait_for(source, {Status.INVALID})
    assert invalid.sequencer  # the event carried S3's sequencer ...
    assert invalid.version_id and invalid.version_id != "null"  # ... and the versioned bucket's version id
    deadline = time.monotonic() + 60
    while not _events(stack, key) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _events(stack, key), "the invalid drop's dead letter"

    stack.put(key, VALID)
    created = stack.wait_for(source, {Status.CREATED}, newer_than=invalid.updated_at, timeout=60)
    assert created.sequencer and int(created.sequencer, 16) > int(invalid.sequencer, 16)

    stack.aws.client("s3").delete_object(Bucket=stack.aws.bucket, Key=key)
    deadline = time.monotonic() + 60
    noted = stack.ledger().get(source)
    while noted is not None and not noted.reason.startswith(DELETED) and time.monotonic() < deadline:
        time.sleep(0.2)
        noted = stack.ledger().get(source)
    assert noted is not None and noted.reason.startswith(DELETED) and noted.status is Status.CREATED

    before = stack.poller.counters()["messages"]
    keys = stack.aws.credentials
    session = boto3.session.Session(
        aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
        region_name=stack.aws.region,
    )
    aws = Aws(session, stack.aws.endpoint_url)
    moved = redrive(aws, stack.aws.dlq_url, stack.aws.queue_url, move_task=False, say=lambda _: None)
    assert moved.moved >= 1
    deadline = time.monotonic() + 60
    while stack.poller.counters()["messages"] < before + moved.moved and time.monotonic() < deadline:
        time.sleep(0.2)
    after = stack.ledger().get(source)
    assert after is not None and after.status is Status.CREATED, after.reason if after else None  # not INVALID
    assert after.record_version == created.record_version

    stack.put(key, VALID)
    again = stack.wait_for(source, {Status.UNCHANGED}, newer_than=after.updated_at, timeout=60)
    assert again.record_id == created.record_id and again.record_version == created.record_version


@pytest.mark.parametrize("event", ["s3-put-multi.json", "eventbridge-object-created.json"])
def test_the_bundled_events_end_as_their_readme_says_against_the_local_stack(
    stack: LocalStack, tmp_path: Path, event: str
) -> None:
    """Each object these events name is uploaded from local_stack/samples/events/ first: every record ends
    published (CREATED by the stack's own event, UNCHANGED by the invocation), with no INVALID row or dead letter."""
    from tests.e2e.test_local_stack import _cli

    def dead_letters() -> str:
        attributes = stack.aws.client("sqs").get_queue_attributes(
            QueueUrl=stack.aws.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        return str(attributes["Attributes"]["ApproximateNumberOfMessages"])

    before = dead_letters()
    env_file = str(ROOT / "events" / "env.json")
    done = _cli(stack, tmp_path, "invoke", str(ROOT / "events" / event), "--env-file", env_file)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line.split() for line in done.stderr.splitlines() if line.startswith("hdr-ingest invoke: ")]
    statuses = {words[2] for words in lines if len(words) > 3 and words[3].startswith("s3://")}
    assert statuses and statuses <= {"CREATED", "UNCHANGED"}, done.stderr[-3000:]
    assert dead_letters() == before
