"""The one composition root (``entry.composition``) with fakes: the routes, destinations and settings the function
builds, over in-memory adapters instead of AWS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from hdr_ingest import destinations
from hdr_ingest.core.outcome import Status
from hdr_ingest.core.ports import Destination, NoCredentials
from hdr_ingest.core.routing import RouteSpec
from hdr_ingest.core.source_object import SourceObject
from hdr_ingest.entry.composition import Adapters, build_pipeline
from hdr_ingest.entry.settings import ConfigError, Settings
from hdr_ingest.usecases.context import Budget, Delivery
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
