"""The one composition root (``entry.composition``) with fakes: the routes, destinations, settings and use cases
the function builds, over in-memory adapters instead of AWS; a use case passed to the root replaces the usual one."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from hdr_ingest import destinations
from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.core.outcome import Outcome, Status
from hdr_ingest.core.ports import Destination, NoCredentials
from hdr_ingest.core.routing import RouteSpec
from hdr_ingest.core.source_object import SourceObject
from hdr_ingest.entry.composition import Adapters, build_pipeline
from hdr_ingest.entry.settings import ConfigError, Settings
from hdr_ingest.usecases.context import Budget, Delivery, Work
from hdr_ingest.usecases.publish import Publisher
from tests.fakes import DeadLetters, FakeDestination, Ledger, Store

pytestmark = pytest.mark.unit

CATALOGUE = FakeDestination()
BUILT: list[tuple[RouteSpec, destinations.Common]] = []


@pytest.fixture(autouse=True)
def fake_kind() -> Iterator[None]:
    def build(spec: RouteSpec, common: destinations.Common) -> Any:
        if spec.options.get("refuse"):
            raise ValueError(f"route {spec.prefix!r}: refused at start")
        BUILT.append((spec, common))
        return CATALOGUE

    destinations.register("fake", lambda spec: [], build)
    CATALOGUE.calls.clear()
    CATALOGUE.answers.clear()
    BUILT.clear()
    yield
    destinations.unregister("fake")


def settings(**env: str) -> Settings:
    route = {"prefix": "incoming/", "kind": "fake", "url": "https://catalogue.test", "options": {}}
    return Settings.from_env(
        {
            "DESTINATIONS": json.dumps([route]),
            "LEDGER_TABLE": "ledger",
            "DLQ_URL": "https://sqs.example/q",
            **env,
        }
    )


def adapters(ledger: Ledger, dlq: DeadLetters, seen: list[RouteSpec]) -> Adapters:
    def credentials_for(spec: RouteSpec, destination: Destination) -> NoCredentials:
        seen.append(spec)
        return NoCredentials()

    return Adapters(
        Store(json.dumps({"title": "A"}).encode()),
        ledger,
        dlq,
        credentials_for,
        clock=lambda: datetime(2026, 12, 5, 9, 0, tzinfo=UTC),
    )


def test_the_function_s_pipeline_runs_on_fake_adapters_with_the_settings_it_reads() -> None:
    ledger, dlq, seen = Ledger(), DeadLetters(), []
    pipeline, clients = build_pipeline(
        settings(DESTINATION_READ_TIMEOUT="7", DESTINATION_MAX_ATTEMPTS="2"), adapters(ledger, dlq, seen)
    )
    outcome = pipeline.process(SourceObject("b", "incoming/ds.json", etag="e1"), Delivery(), Budget())
    assert clients is None  # no AWS client was made
    # a source the ledger has never seen is created without a lookup first
    assert outcome.status is Status.CREATED and [c[0] for c in CATALOGUE.calls] == ["create"]
    assert ledger.items["s3://b/incoming/ds.json"].status is Status.CREATED
    assert [s.prefix for s in seen] == ["incoming/"]
    ((spec, common),) = BUILT
    assert spec.url == "https://catalogue.test" and common.read_timeout_s == 7.0
    assert pipeline.settings.max_attempts == 2 and pipeline.settings.read_timeout_s == 7.0


def test_what_a_destination_refuses_at_start_is_a_configuration_error() -> None:
    route = {"prefix": "incoming/", "kind": "fake", "url": "https://catalogue.test", "options": {"refuse": True}}
    env = {"DESTINATIONS": json.dumps([route]), "LEDGER_TABLE": "l", "DLQ_URL": "https://sqs.example/q"}
    with pytest.raises(ConfigError, match="refused at start"):
        build_pipeline(Settings.from_env(env), adapters(Ledger(), DeadLetters(), []))


def test_the_use_cases_run_on_the_adapters_clock_and_randomness() -> None:
    """Wired by the root: the ledger is stamped by the adapters' clock, and the retries' backoff is drawn from the
    adapters' random source (seeded here, so the sleeps are known)."""
    busy = Answer(AnswerKind.TRANSIENT, 503, "busy")
    CATALOGUE.answers["create"] = [busy, busy]
    ledger, slept = Ledger(), []
    wired = replace(adapters(ledger, DeadLetters(), []), rng=random.Random(7))
    pipeline, _ = build_pipeline(settings(DESTINATION_MAX_ATTEMPTS="3"), wired)
    outcome = pipeline.process(SourceObject("b", "incoming/ds.json"), Delivery(), Budget(sleep=slept.append))
    draw = random.Random(7)
    base = pipeline.settings.backoff_base_s
    assert outcome.status is Status.CREATED and [c[0] for c in CATALOGUE.calls].count("create") == 3
    assert slept == [base * (0.5 + draw.random()), base * 2 * (0.5 + draw.random())]
    assert ledger.items["s3://b/incoming/ds.json"].updated_at.startswith("2026-12-05T09:00:00")


class HoldingPublisher(Publisher):
    """Publishes nothing: every document is REJECTED with a reason naming it, without a call to the catalogue."""

    def publish(self, work: Work, document: Any) -> Outcome:
        return Outcome(Status.REJECTED, f"held back by the test: {document['title']}")


def test_a_publisher_given_to_the_root_publishes_every_file_and_catalogue_element() -> None:
    ledger, dlq = Ledger(), DeadLetters()
    fakes = adapters(ledger, dlq, [])
    pipeline, _ = build_pipeline(settings(), fakes, publisher=HoldingPublisher)
    one = pipeline.process(SourceObject("b", "incoming/ds.json"), Delivery(), Budget())
    assert one.status is Status.REJECTED and one.reason == "held back by the test: A"

    export = json.dumps([{"identifier": "b", "title": "B"}, {"identifier": "c", "title": "C"}]).encode()
    pipeline, _ = build_pipeline(settings(), replace(fakes, store=Store(export)), publisher=HoldingPublisher)
    pipeline.process(SourceObject("b", "incoming/all.json"), Delivery(), Budget())
    elements = sorted(e.reason for e in ledger.items.values() if e.element_id is not None)
    assert elements == ["held back by the test: B", "held back by the test: C"]
    assert CATALOGUE.calls == []  # the usual publisher, which calls the catalogue, was never built into either
    assert [m["reason"] for m in dlq.messages] == [
        "held back by the test: A",
        "held back by the test: B",
        "held back by the test: C",
        "Catalogue of 2 datasets: 0 of 2 elements published; 2 REJECTED.",
    ]


def test_on_aws_the_object_is_read_beside_the_lease_write_in_threads_of_the_trace() -> None:
    """The function's own adapters read the object in a pool of ``RECORD_CONCURRENCY`` threads that join the
    invocation's X-Ray trace (no AWS client is made to build them); given adapters read one after the other unless
    they bring their own."""
    from hdr_ingest.entry.composition import aws_adapters
    from hdr_ingest.entry.threads import TracedPool

    aws, clients = aws_adapters(settings(RECORD_CONCURRENCY="3"))
    assert isinstance(aws.background, TracedPool) and aws.background.threads == 3
    assert clients.created() == ()
    pipeline, _ = build_pipeline(settings(), adapters(Ledger(), DeadLetters(), []))
    assert pipeline.background is None
