"""The use cases against a catalogue at the port (``tests/fakes.FakeDestination``): what every destination gets
from the pipeline, whatever its wire protocol. No network, no destination package."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.core.outcome import Status
from hdr_ingest.core.ports import NoCredentials
from hdr_ingest.core.routing import Route, Routes
from hdr_ingest.core.source_object import SourceObject
from hdr_ingest.usecases.context import Budget, Delivery, PipelineSettings
from hdr_ingest.usecases.pipeline import IngestPipeline
from tests.fakes import DeadLetters, FakeDestination, Ledger, Store

pytestmark = pytest.mark.unit

OBJ = SourceObject("bucket", "incoming/ds.json", etag="e1")


def pipeline(destination: FakeDestination, store: Store, ledger: Ledger, dlq: DeadLetters) -> IngestPipeline:
    routes = Routes([Route("incoming/", destination, NoCredentials())])
    clock = lambda: datetime(2026, 12, 5, 8, 0, tzinfo=UTC)  # noqa: E731
    return IngestPipeline.wired(PipelineSettings(max_object_bytes=1_000_000), routes, store, ledger, dlq, clock=clock)


def budget() -> Budget:
    return Budget(remaining_ms=lambda: 60_000, sleep=lambda _: None)


def test_a_document_is_created_once_then_unchanged_then_updated() -> None:
    destination, ledger, dlq = FakeDestination(), Ledger(), DeadLetters()
    first = pipeline(destination, Store(json.dumps({"title": "A"}).encode()), ledger, dlq)
    assert first.process(OBJ, Delivery(), budget()).status is Status.CREATED
    assert first.process(OBJ, Delivery(), budget()).status is Status.UNCHANGED
    changed = pipeline(destination, Store(json.dumps({"title": "B"}).encode()), ledger, dlq)
    assert changed.process(OBJ, Delivery(), budget()).status is Status.UPDATED
    assert [c[0] for c in destination.calls] == ["create", "update"]  # never leased before: no lookup
    assert destination.held == {1: {"title": "B"}} and dlq.messages == []


def test_a_document_the_destination_judges_invalid_is_never_sent() -> None:
    destination, ledger, dlq = FakeDestination(), Ledger(), DeadLetters()
    outcome = pipeline(destination, Store(b'{"name": "no title"}'), ledger, dlq).process(OBJ, Delivery(), budget())
    assert outcome.status is Status.INVALID and "has no title" in outcome.reason
    assert destination.calls == [] and len(dlq.messages) == 1


def test_a_transient_answer_is_retried_within_the_invocation() -> None:
    destination = FakeDestination(answers={"create": [Answer(AnswerKind.TRANSIENT, 503, "busy")]})
    outcome = pipeline(destination, Store(b'{"title": "A"}'), Ledger(), DeadLetters()).process(
        OBJ, Delivery(), budget()
    )
    # the first try of a source never leased creates at once; a failed create may have taken effect, so each
    # later try looks the record up before creating it
    assert outcome.status is Status.CREATED
    assert [c[0] for c in destination.calls] == ["create", "find", "create"]
