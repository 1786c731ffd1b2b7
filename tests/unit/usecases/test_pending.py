"""Destinations that finish later (AEP batches, Qrvey loads): "accepted, pending", then a check on a later
delivery, never an invocation held waiting. Driven through the pipeline with an in-memory destination."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.core.outcome import Status
from hdr_ingest.core.ports import NoCredentials, Verdict
from hdr_ingest.core.routing import Route, Routes
from hdr_ingest.core.source_object import SourceObject
from hdr_ingest.usecases.context import Budget, Delivery, PipelineSettings, RetryLater
from hdr_ingest.usecases.pipeline import IngestPipeline
from tests.fakes import DeadLetters, FakeDestination, Ledger, Store

pytestmark = pytest.mark.unit

OBJ = SourceObject("bucket", "later/ds.json")


@dataclass
class Later(FakeDestination):
    """A catalogue (``tests.fakes.FakeDestination``) that accepts a document as a job; the job's states are its
    ``check`` answers, scripted by each test."""

    kind: str = "later"
    url: str = "https://later.example"
    title: str = "Later"
    noun: str = "job"
    verdict: Verdict | None = field(default_factory=lambda: Verdict(True, "is valid", target="later/1"))
    answers: dict[str, list[Answer | Exception]] = field(
        default_factory=lambda: {"create": [Answer(AnswerKind.PENDING, 202, "loading", record_id="job-1")]}
    )


def checked(times: int) -> list[tuple[str, str]]:
    """The calls of a first publish (no lookup) then ``times`` checks of its job: never an update, a restore or an
    archive."""
    return [("create", OBJ.record_key)] + [("check", "job-1")] * times


def run(catalogue: Later, ledger: Ledger, dlq: DeadLetters, delivery: int, final: bool = False) -> Any:
    pipeline = IngestPipeline.wired(
        PipelineSettings(max_object_bytes=1_000_000),
        Routes([Route("later/", catalogue, NoCredentials())]),
        Store(json.dumps({"title": "t"}).encode()),
        ledger,
        dlq,
        clock=lambda: datetime(2026, 11, 30, tzinfo=UTC),
    )
    try:
        return pipeline.process(OBJ, Delivery(receive_count=delivery, final=final), Budget(lambda: 60_000))
    except RetryLater as exc:
        return exc


def test_pending_is_recorded_then_checked_on_later_deliveries_until_done() -> None:
    catalogue, ledger, dlq = Later(), Ledger(), DeadLetters()
    catalogue.answers["check"] = [
        Answer(AnswerKind.PENDING, 200, "still loading", record_id="job-1"),
        Answer(AnswerKind.SUCCESS, 200, "loaded", record_id="job-1", record_version=1, created=True),
    ]
    first = run(catalogue, ledger, dlq, 1)
    assert isinstance(first, RetryLater) and first.outcome.status is Status.PENDING
    entry = ledger.items[OBJ.source]
    assert (entry.status, entry.record_id) == (Status.PENDING, "job-1") and "finishes later" in entry.reason
    assert isinstance(run(catalogue, ledger, dlq, 2), RetryLater)
    done = run(catalogue, ledger, dlq, 3)
    assert done.status is Status.CREATED and done.record_id == "job-1"
    assert ledger.items[OBJ.source].status is Status.CREATED
    assert catalogue.calls == checked(2)
    assert dlq.messages == []


def test_a_record_still_pending_on_the_last_delivery_fails_and_is_dead_lettered() -> None:
    catalogue, ledger, dlq = Later(), Ledger(), DeadLetters()
    catalogue.answers["check"] = [Answer(AnswerKind.PENDING, 200, "still loading", record_id="job-1")]
    run(catalogue, ledger, dlq, 1)
    outcome = run(catalogue, ledger, dlq, 2, final=True)
    assert outcome.status is Status.FAILED and "It had not finished. Gave up after 2 deliveries" in outcome.reason
    (letter,) = dlq.messages
    assert letter["status"] == "FAILED" and letter["destination"] == {"kind": "later", "url": "https://later.example"}
    assert catalogue.calls == checked(1)


def test_a_load_that_fails_later_is_rejected_with_the_destination_s_reason() -> None:
    catalogue, ledger, dlq = Later(), Ledger(), DeadLetters()
    catalogue.answers["check"] = [Answer(AnswerKind.PERMANENT, 200, "load FAILED: column 'age' is not a number")]
    run(catalogue, ledger, dlq, 1)
    outcome = run(catalogue, ledger, dlq, 2)
    assert outcome.status is Status.REJECTED and outcome.reason == "load FAILED: column 'age' is not a number"
    assert ledger.items[OBJ.source].record_id == "job-1"  # still pointing at the job that failed
    assert [m["status"] for m in dlq.messages] == ["REJECTED"]
    assert catalogue.calls == checked(1)
