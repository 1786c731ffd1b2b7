"""Pure parts of the `hdr-ingest` CLI and its docs: event mapping for `invoke`, enum messages, `make help`."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from hdr_ingest.core import fix_messages
from hdr_ingest_cli.invoke import ObjectInfo, event_objects, map_event
from tests.conftest import ROOT

pytestmark = pytest.mark.unit

EVENTS = ROOT / "events"
EVENT_BUCKET = "hdr-ingest-metadata-123456789012-eu-west-2"


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize(
    ("name", "keys"),
    [
        ("s3-put.json", ["incoming/hdruk-4.0.0-asthma-cohort.json"]),
        ("sqs-s3-put.json", ["incoming/hdruk-4.0.0-asthma-cohort.json"]),
        ("s3-put-multi.json", ["incoming/my dataset 2024.json", "incoming/a+b.json", "incoming/café.json"]),
        ("eventbridge-object-created.json", ["incoming/example dataset+v2.json"]),
        ("sqs-s3-test-event.json", []),
    ],
)
def test_event_objects_are_read_as_the_function_reads_them(name: str, keys: list[str]) -> None:
    assert [key for _, key in event_objects(_load(name))] == keys


def test_map_event_points_each_object_at_the_stacks_bucket_and_leaves_the_file_alone() -> None:
    before = (EVENTS / "sqs-s3-put.json").read_text(encoding="utf-8")
    event = json.loads(before)
    mapped = map_event(event, lambda bucket, key: ObjectInfo("local-bucket", 7, "abc", None))
    assert json.loads(before) == event  # not modified: the file stays a valid `sam local invoke` event
    [record] = mapped["Records"]
    assert record["eventSource"] == "aws:sqs" and record["messageId"] == event["Records"][0]["messageId"]
    [s3] = json.loads(record["body"])["Records"]
    assert s3["s3"]["bucket"] == {**s3["s3"]["bucket"], "name": "local-bucket", "arn": "arn:aws:s3:::local-bucket"}
    assert s3["s3"]["object"]["size"] == 7 and s3["s3"]["object"]["eTag"] == "abc"
    assert "versionId" not in s3["s3"]["object"]  # the event's version does not exist in the stack's bucket
    assert event_objects(mapped) == [("local-bucket", "incoming/hdruk-4.0.0-asthma-cohort.json")]

    bridge = map_event(_load("eventbridge-object-created.json"), lambda b, k: ObjectInfo("local-bucket"))
    assert bridge["detail"]["bucket"]["name"] == "local-bucket"
    assert bridge["detail"]["object"]["key"] == "incoming/example dataset+v2.json"


def test_an_enum_message_lists_every_choice() -> None:
    choices = [f"choice {n}" for n in range(15)]
    message = fix_messages.one_of("nope", choices)
    assert all(json.dumps(c) in message for c in choices)
    assert "more)" not in message


def test_make_help_lists_every_target() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    phony = {t for line in makefile.splitlines() if line.startswith(".PHONY:") for t in line.split()[1:]}
    help_rule = re.search(r"@grep -E '([^']+)'", makefile)
    assert help_rule is not None
    helped = {m.group(0).split(":")[0] for m in re.finditer(help_rule.group(1), makefile, re.MULTILINE)}
    assert phony and phony <= helped, f"no `## ` help text: {sorted(phony - helped)}"


def test_readme_says_how_to_run_the_cli() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert ".venv/bin/hdr-ingest" in readme
    assert "hdr-ingest invoke events/s3-put.json --env-file events/env.json" in readme
