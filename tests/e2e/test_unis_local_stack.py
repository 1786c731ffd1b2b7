"""UNIS end to end on the local stack: S3 put -> notification -> SQS -> poller -> handler -> UNIS emulator over
HTTP -> ledger and DLQ, with a ``unis`` route in DESTINATIONS (passed through ``StackOptions.extra_env``)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from hdr_ingest.core.outcome import Status
from local_stack.poller import load_handler
from local_stack.stack import LocalStack, StackOptions
from local_stack.unis_emulator import UnisEmulator
from tests.conftest import PACK_DIR, ROOT

pytestmark = pytest.mark.e2e

SAMPLES = ROOT / "local_stack" / "samples" / "unis"


@pytest.fixture(scope="module")
def unis() -> Iterator[UnisEmulator]:
    with UnisEmulator() as running:
        yield running


@pytest.fixture(scope="module")
def stack(unis: UnisEmulator) -> Iterator[LocalStack]:
    load_handler()
    route = {"prefix": "incoming/unis/", "kind": "unis", "url": unis.base_url, "secret": None}
    options = StackOptions(
        stack_name="hgi-e2e-unis",
        visibility_timeout=2,
        max_receive_count=3,
        wait_time_s=1,
        schema_pack_dir=PACK_DIR,
        log_level="ERROR",
        extra_env={"DESTINATIONS": json.dumps([route]), "GATEWAY_READ_TIMEOUT": "2"},
    )
    with LocalStack(options) as running:
        yield running


def test_a_drop_is_published_once_then_updated_in_place(stack: LocalStack, unis: UnisEmulator) -> None:
    key = "incoming/unis/host-a-cpu.json"
    stack.put(key, (SAMPLES / "valid-cpu-utilisation.json").read_bytes())
    created = stack.wait_for(stack.source(key))
    assert created.status is Status.CREATED and unis.ids() == [created.record_id]
    changed = json.loads((SAMPLES / "valid-cpu-utilisation.json").read_text())
    changed["parameters"]["collectionInterval"] = 60000
    stack.put(key, json.dumps(changed).encode())
    updated = stack.wait_for(stack.source(key), {Status.UPDATED})
    assert updated.record_id == created.record_id and unis.ids() == [created.record_id]
    assert len([v for v in unis.records() if v["id"] == created.record_id]) == 1


def test_a_list_and_an_invalid_file(stack: LocalStack, unis: UnisEmulator) -> None:
    stack.put("incoming/unis/ports.json", (SAMPLES / "valid-two-port-metrics.json").read_bytes())
    for member in ("port-1-bytes-in", "port-1-bytes-out"):
        assert stack.wait_for(stack.source(f"incoming/unis/ports.json#{member}")).status is Status.CREATED
    stack.put("incoming/unis/broken.json", (SAMPLES / "invalid-several-errors.json").read_bytes())
    invalid = stack.wait_for(stack.source("incoming/unis/broken.json"))
    assert invalid.status is Status.INVALID and len(invalid.errors) == 5
    assert {"port-1-bytes-in", "port-1-bytes-out"} <= set(unis.ids())


def test_unis_down_then_up_is_published_once_after_redelivery(stack: LocalStack, unis: UnisEmulator) -> None:
    unis.configure_faults({"script": ["503"] * 6})  # every try of the first delivery
    key = "incoming/unis/flaky.json"
    stack.put(key, (SAMPLES / "valid-cpu-utilisation.json").read_bytes())
    entry = stack.wait_for(stack.source(key), {Status.CREATED}, timeout=60)
    assert [v["id"] for v in unis.records()].count(entry.record_id) == 1


def test_a_list_without_ids_keeps_its_records_when_dropped_again_reordered(
    stack: LocalStack, unis: UnisEmulator
) -> None:
    key = "incoming/unis/port-3.json"
    listing = json.loads((SAMPLES / "valid-list-without-ids.json").read_text())
    stack.put(key, json.dumps(listing).encode())
    assert stack.wait_for(stack.source(key)).status is Status.CREATED
    before, versions = set(unis.ids()), len(unis.records())
    stack.put(key, json.dumps(list(reversed(listing))).encode())
    assert stack.wait_for(stack.source(key), {Status.UPDATED}).status is Status.UPDATED
    assert set(unis.ids()) == before and len(unis.records()) == versions  # the same records, no version added
