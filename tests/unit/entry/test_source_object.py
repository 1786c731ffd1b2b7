from __future__ import annotations

import json
import re

import pytest

from hdr_ingest.core.source_object import SourceObject
from hdr_ingest.entry.events import UnsupportedEvent, objects_in_event
from tests.conftest import event

pytestmark = pytest.mark.unit


def test_s3_event_keys_are_decoded_for_every_record() -> None:
    objects = objects_in_event(event("s3-put-multi.json"))
    assert [o.key for o in objects] == ["incoming/my dataset 2024.json", "incoming/a+b.json", "incoming/café.json"]
    assert all(o.bucket == "hdr-ingest-metadata-123456789012-eu-west-2" for o in objects)


def test_s3_put_event_carries_etag_sequencer_and_size() -> None:
    (obj,) = objects_in_event(event("s3-put.json"))
    assert obj.key == "incoming/hdruk-4.0.0-asthma-cohort.json"
    assert obj.etag and obj.sequencer and obj.size
    assert obj.source == f"s3://{obj.bucket}/incoming/hdruk-4.0.0-asthma-cohort.json"


def test_sqs_body_holds_an_s3_notification() -> None:
    body = json.loads(event("sqs-s3-put.json")["Records"][0]["body"])
    (obj,) = objects_in_event(body)
    assert obj.key.startswith("incoming/") and obj.key.endswith(".json")


def test_eventbridge_keys_are_raw() -> None:
    (obj,) = objects_in_event(event("eventbridge-object-created.json"))
    # EventBridge does not URL-encode keys: a literal '+' must survive.
    assert obj.key == "incoming/example dataset+v2.json"
    assert obj.event_name == "Object Created"


def test_test_event_announces_nothing() -> None:
    body = json.loads(event("sqs-s3-test-event.json")["Records"][0]["body"])
    assert objects_in_event(body) == []


def test_folder_marker_is_recognised() -> None:
    (obj,) = objects_in_event(event("s3-folder-marker.json"))
    assert obj.is_folder_marker


def test_unsupported_event_is_refused() -> None:
    with pytest.raises(UnsupportedEvent, match="not an S3 notification"):
        objects_in_event({"hello": "world"})


def test_datasetid_is_stable_short_and_safe_for_the_gateway() -> None:
    a = SourceObject("bucket", "incoming/Café & <co>.json")
    b = SourceObject("bucket", "incoming/Café & <co>.json", etag="other")
    c = SourceObject("bucket", "incoming/other.json")
    assert a.record_key == b.record_key != c.record_key
    assert re.fullmatch(r"hgi-[0-9a-f]{40}", a.record_key)
