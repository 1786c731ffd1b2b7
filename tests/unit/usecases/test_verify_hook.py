"""The read-back after publishing (usecases.verify, issue 22 item 1), at the port: a fake catalogue that reads its
records back (``tests/fakes.ReadingDestination``); the ledger's ``verified``, the metric, the route option."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from hdr_ingest.adapters.aws.dynamodb_ledger import from_item, to_item
from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.core.outcome import Status
from hdr_ingest.core.ports import NoCredentials
from hdr_ingest.core.routing import Route, Routes
from hdr_ingest.core.source_object import SourceObject
from hdr_ingest.core.verification import Difference, Held, ReadBack, Verified
from hdr_ingest.usecases.context import Budget, Delivery, PipelineSettings, RetryLater
from hdr_ingest.usecases.pipeline import IngestPipeline
from tests.fakes import DeadLetters, FakeDestination, Ledger, ReadingDestination, Store

pytestmark = pytest.mark.unit

OBJ = SourceObject("bucket", "incoming/ds.json", etag="e1")
SECRET = "s3cr3t-token-abcdef"


class Secret:
    def secret_values(self) -> tuple[str, ...]:
        return (SECRET,)


class SecretSource:
    def get(self, refresh: bool = False) -> Secret:
        return Secret()


def pipeline(
    destination: FakeDestination, ledger: Ledger, document: Any = None, reading: bool = True, credentials: Any = None
) -> IngestPipeline:
    routes = Routes([Route("incoming/", destination, credentials or NoCredentials(), verify=reading)])
    store = Store(json.dumps(document or {"title": " A ", "n": 1}).encode())
    clock = lambda: datetime(2026, 12, 5, 8, 0, tzinfo=UTC)  # noqa: E731
    settings = PipelineSettings(max_object_bytes=1_000_000)
    return IngestPipeline.wired(settings, routes, store, ledger, DeadLetters(), clock=clock)


def budget() -> Budget:
    return Budget(remaining_ms=lambda: 60_000, sleep=lambda _: None)


def reads(destination: FakeDestination) -> list[Any]:
    return [c for c in destination.calls if c[0] == "read_back"]


def test_a_created_record_is_read_back_once_and_matches() -> None:
    destination, ledger = ReadingDestination(), Ledger()
    outcome = pipeline(destination, ledger).process(OBJ, Delivery(), budget())
    entry = ledger.items[OBJ.source]
    assert outcome.status is Status.CREATED and reads(destination) == [("read_back", 1)]
    assert (entry.verified, entry.verified_at, entry.differences) == (Verified.MATCHES, "2026-12-05T08:00:00.000Z", ())
    assert destination.sent_along_seen == [None]  # the verdict's note, passed through


def test_an_updated_record_that_holds_something_else_differs_naming_the_path() -> None:
    destination, ledger = ReadingDestination(), Ledger()
    pipeline(destination, ledger).process(OBJ, Delivery(), budget())
    destination.reads.append(ReadBack(Held.HELD, {"title": "B (edited)", "n": 1}))
    outcome = pipeline(destination, ledger, {"title": "B", "n": 1}).process(OBJ, Delivery(), budget())
    entry = ledger.items[OBJ.source]
    assert outcome.status is Status.UPDATED and entry.verified is Verified.DIFFERS
    assert entry.differences == (Difference("$.title", '"B"', '"B (edited)"'),)


def test_a_record_gone_after_publishing_is_missing() -> None:
    destination, ledger = ReadingDestination(reads=[ReadBack(Held.MISSING, message="archived")]), Ledger()
    assert pipeline(destination, ledger).process(OBJ, Delivery(), budget()).status is Status.CREATED
    assert ledger.items[OBJ.source].verified is Verified.MISSING


@pytest.mark.parametrize("failure", [ReadBack(Held.UNKNOWN, message="HTTP 503"), TimeoutError("read timed out")])
def test_a_failed_read_back_leaves_verified_unset_and_the_publish_stands(failure: Any) -> None:
    destination, ledger = ReadingDestination(reads=[failure]), Ledger()
    outcome = pipeline(destination, ledger).process(OBJ, Delivery(), budget())
    entry = ledger.items[OBJ.source]
    assert outcome.status is Status.CREATED and entry.status is Status.CREATED
    assert (entry.verified, entry.verified_at) == (None, None) and len(reads(destination)) == 1


def test_expected_raising_leaves_verified_unset() -> None:
    class Broken(ReadingDestination):
        def expected(self, document: Any, sent_along: Any) -> Any:
            raise ValueError("cannot say")

    ledger = Ledger()
    assert pipeline(Broken(), ledger).process(OBJ, Delivery(), budget()).status is Status.CREATED
    assert ledger.items[OBJ.source].verified is None


def test_route_option_verify_off_reads_nothing_back() -> None:
    destination, ledger = ReadingDestination(), Ledger()
    assert pipeline(destination, ledger, reading=False).process(OBJ, Delivery(), budget()).status is Status.CREATED
    assert reads(destination) == [] and ledger.items[OBJ.source].verified is None


def test_a_destination_that_cannot_read_back_is_not_verified() -> None:
    ledger = Ledger()
    assert pipeline(FakeDestination(), ledger).process(OBJ, Delivery(), budget()).status is Status.CREATED
    assert ledger.items[OBJ.source].verified is None


def test_unchanged_keeps_the_last_read_back_and_archived_drops_it() -> None:
    destination, ledger = ReadingDestination(), Ledger()
    pipeline(destination, ledger).process(OBJ, Delivery(), budget())
    assert pipeline(destination, ledger).process(OBJ, Delivery(), budget()).status is Status.UNCHANGED
    assert ledger.items[OBJ.source].verified is Verified.MATCHES and len(reads(destination)) == 1
    removal = SourceObject("bucket", "incoming/ds.json", event_name="ObjectRemoved:Delete")
    settings = PipelineSettings(max_object_bytes=1_000_000, archive_on_delete=True)
    routes = Routes([Route("incoming/", destination, NoCredentials())])
    archiving = IngestPipeline.wired(settings, routes, Store(), ledger, DeadLetters())
    assert archiving.process(removal, Delivery(), budget()).status is Status.ARCHIVED
    assert ledger.items[OBJ.source].verified is None


def test_a_pending_record_is_read_back_when_it_settles() -> None:
    pending = Answer(AnswerKind.PENDING, 202, "loading", record_id="r1")
    destination = ReadingDestination(answers={"create": [pending]}, reads=[ReadBack(Held.HELD, {"title": "A", "n": 1})])
    ledger = Ledger()
    with pytest.raises(RetryLater):
        pipeline(destination, ledger).process(OBJ, Delivery(final=False), budget())
    assert reads(destination) == [] and ledger.items[OBJ.source].status is Status.PENDING
    outcome = pipeline(destination, ledger).process(OBJ, Delivery(), budget())
    assert outcome.status is Status.UPDATED and reads(destination) == [("read_back", "r1")]
    assert ledger.items[OBJ.source].verified is Verified.MATCHES


def test_no_credential_reaches_the_ledger_through_a_difference() -> None:
    held = ReadBack(Held.HELD, {"title": f"token {SECRET}", "n": 1}, f"echoing {SECRET}")
    destination, ledger = ReadingDestination(reads=[held]), Ledger()
    pipeline(destination, ledger, credentials=SecretSource()).process(OBJ, Delivery(), budget())
    entry = ledger.items[OBJ.source]
    assert entry.verified is Verified.DIFFERS and entry.differences[0].held == '"token [redacted]"'
    assert SECRET not in json.dumps(to_item(entry))


def test_the_read_back_round_trips_through_the_dynamodb_item() -> None:
    destination, ledger = ReadingDestination(reads=[ReadBack(Held.HELD, {"title": "X", "n": 2})]), Ledger()
    pipeline(destination, ledger).process(OBJ, Delivery(), budget())
    entry = ledger.items[OBJ.source]
    item = to_item(entry)
    assert item["verified"] == "differs" and item["verified_at"] == "2026-12-05T08:00:00.000Z"
    assert item["differences"] == [
        {"path": "$.title", "sent": '"A"', "held": '"X"'},
        {"path": "$.n", "sent": "1", "held": "2"},
    ]
    assert from_item(item) == entry
    plain = to_item(replace(entry, verified=None, verified_at=None, differences=()))
    assert "differences" not in plain and "verified" not in plain


def test_the_observer_counts_drift() -> None:
    from hdr_ingest.entry.observe import DRIFT_METRIC, VERIFIED_METRIC, PowertoolsObserver, metrics

    observer = PowertoolsObserver()
    destination = ReadingDestination(reads=[ReadBack(Held.MISSING, message="gone")])
    routes = Routes([Route("incoming/", destination, NoCredentials())])
    store = Store(b'{"title": "A"}')
    settings = PipelineSettings(max_object_bytes=1_000)
    run = IngestPipeline.wired(settings, routes, store, Ledger(), DeadLetters(), observer)
    run.process(OBJ, Delivery(), budget())
    counted = metrics.metric_set
    assert counted[DRIFT_METRIC]["Value"] == [1.0] and counted[VERIFIED_METRIC]["Value"] == [1.0]
    assert "GatewayError" not in counted  # a record found gone is drift, not an error of the catalogue
    metrics.clear_metrics()
    destination.reads.append(ReadBack(Held.UNKNOWN, message="HTTP 503"))
    run.process(SourceObject("bucket", "incoming/other.json"), Delivery(), budget())
    counted = metrics.metric_set
    assert counted["GatewayError"]["Value"] == [1.0] and DRIFT_METRIC not in counted and VERIFIED_METRIC not in counted


def _settings(options: dict[str, Any], kind: str = "unis") -> Any:
    from hdr_ingest.entry.settings import Settings

    url = "https://acme.qrveyapp.com/devapi/v4" if kind == "qrvey" else "https://catalogue.test"
    route = {"prefix": "incoming/", "kind": kind, "url": url, "secret": "s", "options": options}
    env = {"LEDGER_TABLE": "t", "DLQ_URL": "https://sqs.test/q", "DESTINATIONS": json.dumps([route])}
    return Settings.from_env(env)


KIND_OPTIONS: dict[str, dict[str, Any]] = {  # each kind's own required options (README "Destinations")
    "hdruk": {},
    "unis": {"schema": "2015"},
    "qrvey": {"userId": "u-123", "appId": "a-456"},
    "aep": {
        "imsUrl": "https://ims-na1.adobelogin.com",
        "orgId": "0123456789ABCDEF@AdobeOrg",
        "sandbox": "prod",
        "schemaId": "https://ns.adobe.com/acme/schemas/0123",
        "datasetName": "Datasets",
    },
}


@pytest.mark.parametrize("kind", sorted(KIND_OPTIONS))
def test_every_kind_takes_the_verify_route_option_default_on(kind: str) -> None:
    (default,) = _settings(KIND_OPTIONS[kind], kind).routes
    (off,) = _settings({**KIND_OPTIONS[kind], "verify": False}, kind).routes
    assert default.verify is True and off.verify is False
    assert dict(off.options) == KIND_OPTIONS[kind]  # the kind never sees it


def test_a_verify_option_that_is_not_a_boolean_is_refused() -> None:
    from hdr_ingest.entry.settings import ConfigError

    with pytest.raises(ConfigError, match=r"DESTINATIONS\[0\]\.options\.verify='no' must be true or false"):
        _settings({"verify": "no"})
    (route,) = _settings({"verify": False, "schema": "2015"}).routes
    assert (route.verify, dict(route.options)) == (False, {"schema": "2015"})
