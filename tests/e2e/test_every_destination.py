"""`make run`'s routes, end to end: one local stack with the Gateway, UNIS, Qrvey and AEP emulators, each routed a
prefix through DESTINATIONS; a file dropped under each prefix is published by its own catalogue (S3 put →
notification → queue → poller → handler → emulator → ledger), and the pending ones settle on later deliveries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hdr_ingest.core.outcome import Status
from local_stack.stack import LocalStack, StackOptions
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e

SAMPLES = ROOT / "local_stack" / "samples"
DROPS = {
    "incoming/e2e/hdruk.json": (SAMPLES / "hdruk-4.0.0-asthma-cohort.json", "hdruk"),
    "incoming/unis/e2e.json": (SAMPLES / "unis" / "valid-cpu-utilisation.json", "unis"),
    "incoming/qrvey/e2e.json": (SAMPLES / "qrvey" / "air-quality-dataset.json", "qrvey"),
    "incoming/aep/e2e.json": (SAMPLES / "aep" / "valid-records.json", "aep"),
}


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    options = StackOptions(stack_name="hgi-every", visibility_timeout=2, max_receive_count=6, other_destinations=True)
    with LocalStack(options) as running:
        yield running


def test_each_prefix_is_published_by_its_own_catalogue(stack: LocalStack) -> None:
    assert stack.prefixes == ["incoming/", "incoming/aep/", "incoming/qrvey/", "incoming/unis/"]
    for key, (path, _) in DROPS.items():
        stack.put(key, path.read_bytes())
    for key, (_, kind) in DROPS.items():
        entry = stack.wait_for(stack.source(key), timeout=120)
        assert entry.status is Status.CREATED, (key, entry.reason)
        assert entry.destination is not None and entry.destination["kind"] == kind
        assert entry.record_id is not None


def test_an_object_under_the_bucket_but_no_route_is_invalid_with_the_prefixes(stack: LocalStack) -> None:
    stack.put("exports/orphan.json", b"{}")
    entry = stack.wait_for(stack.source("exports/orphan.json"))
    assert entry.status is Status.INVALID and "'incoming/qrvey/'" in entry.reason and entry.destination is None
