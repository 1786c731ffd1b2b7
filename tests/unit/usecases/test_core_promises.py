"""The pipeline's promises for every catalogue (issue 26 items 5, 10, 11): stored text fits DynamoDB's byte
limits whatever its characters, and the settings refuse values the function cannot honour."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from hdr_ingest.adapters.aws.dynamodb_ledger import to_item
from hdr_ingest.core.answers import Answer, AnswerKind
from hdr_ingest.core.bounds import bounded
from hdr_ingest.core.ledger import Lease, LedgerEntry
from hdr_ingest.core.outcome import ErrorDetail, Outcome, Status
from hdr_ingest.core.ports import Call, NoCredentials, NullObserver, StoredObject, Verdict
from hdr_ingest.core.routing import Route, Routes
from hdr_ingest.core.source_object import SourceObject
from hdr_ingest.entry.settings import ConfigError, Settings, url_problem
from hdr_ingest.usecases.context import Budget, Delivery, PipelineSettings, RetryLater, Work
from hdr_ingest.usecases.pipeline import IngestPipeline
from hdr_ingest.usecases.recording import Recorder
from tests.fakes import FakeDestination
from tests.unit.entry.test_runtime import FakePipeline, make_runtime, s3_body, sqs_event

pytestmark = pytest.mark.unit

DYNAMODB_ITEM_LIMIT = 400 * 1024
EMOJI = "\U0001f600"  # one character, four UTF-8 bytes


def dynamodb_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it, rounded up: attribute names plus UTF-8 values (JSON's quotes and
    separators only add to it)."""
    return len(json.dumps(item, ensure_ascii=False, default=str).encode("utf-8"))


def stored_item(outcome: Outcome) -> dict[str, Any]:
    recorder = Recorder(None, None, NullObserver(), lambda: datetime(2026, 12, 5, tzinfo=UTC))  # type: ignore[arg-type]
    work = Work(SourceObject("bucket", "incoming/ds.json"), None, Delivery(), Budget(), "owner", None)
    return to_item(recorder.entry(work, outcome))


def test_bounded_cuts_to_utf8_bytes_not_characters() -> None:
    text = EMOJI * 1_000  # 1,000 characters, 4,000 bytes
    cut = bounded(text, 1_000)
    assert len(cut.encode("utf-8")) <= 1_000 + 40
    assert cut.startswith(EMOJI * 250) and not cut.startswith(EMOJI * 251)
    assert "3,000 more bytes" in cut


@pytest.mark.parametrize("count", [300, 200])
def test_a_ledger_item_of_hundreds_of_emoji_errors_stays_under_400_kb(count: int) -> None:
    """A Gateway 400 listing 300 errors of 1,000 emoji (or a destination failing with 200 of them): measured in
    characters these passed the old limits and made a 600-800 KB item that DynamoDB refuses."""
    errors = tuple(ErrorDetail(f"$.{EMOJI * 1_000}", EMOJI * 1_000) for _ in range(count))
    item = stored_item(Outcome(Status.INVALID, EMOJI * 100_000, errors))
    assert dynamodb_size(item) < DYNAMODB_ITEM_LIMIT
    assert item["errors_total"] == count and item["errors"]


SETTINGS_ENV = {"LEDGER_TABLE": "ledger", "DLQ_URL": "https://sqs.test/dlq", "GATEWAY_SECRET_ID": "gw"}


def refusal(**env: str) -> str:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**SETTINGS_ENV, **env})
    return str(caught.value)


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "127.1", "017700000001"])
def test_a_numeric_ip_host_counts_as_local(host: str) -> None:
    """``http://2130706433/`` is 127.0.0.1 to the resolver: refused unless local destinations are allowed."""
    assert "ALLOW_LOCAL_DESTINATIONS" in (url_problem(f"https://{host}/api", allow_local=False) or "")
    assert url_problem(f"https://{host}/api", allow_local=True) is None
    assert url_problem("https://api.dev.hdruk.cloud/api/v1", allow_local=False) is None


def test_every_route_url_goes_through_the_url_check() -> None:
    routes = [
        {"prefix": "unis/", "kind": "unis", "url": "https://2130706433/", "secret": None},
        {"prefix": "qrvey/", "kind": "qrvey", "url": "https://qrvey.example.org", "secret": "q"},
    ]
    assert "DESTINATIONS[0].url='https://2130706433/'" in refusal(DESTINATIONS=json.dumps(routes))


def test_timeouts_are_bounded_by_what_an_invocation_can_wait() -> None:
    message = refusal(GATEWAY_CONNECT_TIMEOUT="1e9", GATEWAY_READ_TIMEOUT="901")
    assert "GATEWAY_CONNECT_TIMEOUT='1e9' must be at most 900" in message
    assert "GATEWAY_READ_TIMEOUT='901' must be at most 900" in message
    assert Settings.from_env({**SETTINGS_ENV, "GATEWAY_READ_TIMEOUT": "900"}).read_timeout_s == 900


def test_max_object_bytes_is_bounded_by_the_function_memory() -> None:
    message = refusal(MAX_OBJECT_BYTES=str(10 * 1024**3))
    assert "MAX_OBJECT_BYTES=10737418240 must be at most" in message
    assert "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512 MB" in message
    big = {**SETTINGS_ENV, "MAX_OBJECT_BYTES": str(50 * 1024**2), "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "3008"}
    assert Settings.from_env(big).max_object_bytes == 50 * 1024**2


def test_lookup_new_sources_is_a_flag_off_by_default() -> None:
    assert Settings.from_env(SETTINGS_ENV).lookup_new_sources is False
    assert Settings.from_env({**SETTINGS_ENV, "LOOKUP_NEW_SOURCES": "True"}).lookup_new_sources is True
    both = refusal(LOOKUP_NEW_SOURCES="always", ARCHIVE_ON_DELETE="yes")
    assert "LOOKUP_NEW_SOURCES='always' must be 'true' or 'false'" in both
    assert "ARCHIVE_ON_DELETE='yes' must be 'true' or 'false'" in both


def test_a_route_prefix_may_not_start_with_a_slash() -> None:
    routes = [{"prefix": "/incoming/", "kind": "hdruk", "url": "https://gw.example.org", "secret": "gw"}]
    assert "DESTINATIONS[0].prefix must be a key prefix" in refusal(DESTINATIONS=json.dumps(routes))


class MemoryLedger:
    def __init__(self) -> None:
        self.items: dict[str, LedgerEntry] = {}
        self.keys: set[str] = set()

    def get(self, source: str) -> LedgerEntry | None:
        return self.items.get(source)

    def acquire(self, source: str, owner: str, until_epoch: float, now_epoch: float) -> Lease | None:
        first = source not in self.keys and source not in self.items
        self.keys.add(source)  # the lease writes the item; releasing it keeps the item
        return Lease(owner, self.items.get(source), first=first)

    def release(self, source: str, owner: str) -> None:
        pass

    def record(self, entry: LedgerEntry, owner: str | None = None) -> None:
        self.items[entry.source] = entry


class MemoryStore:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, obj: SourceObject, max_bytes: int) -> StoredObject:
        return StoredObject(self.data, etag="e1")


@dataclass
class Elements(FakeDestination):
    """A catalogue of elements (``tests.fakes.FakeDestination``) whose judge refuses one with ``bad`` set."""

    kind: str = "scripted"
    url: str = "https://scripted.example"
    title: str = "Scripted"

    def judge(self, document: Any, text: str) -> Verdict:
        if document.get("bad"):
            return Verdict(False, "is not valid", errors=(ErrorDetail("$.bad", "must not be set"),))
        return Verdict(True, "is valid", target="scripted/1")


CATALOGUE = SourceObject("bucket", "cat/all.json", sequencer="00A")


def key(identifier: str) -> str:
    """The record key of the catalogue's element ``identifier`` (what the destination is called with)."""
    return CATALOGUE.element(identifier).record_key


def untouched(destination: Elements) -> bool:
    """Nothing was restored or archived: every element is new or still exported."""
    return destination.called("restore") == destination.called("archive") == []


def catalogue_pipeline(
    destination: Elements,
    ledger: MemoryLedger,
    dlq: list[Any],
    elements: list[Any],
    settings: PipelineSettings,
) -> IngestPipeline:
    """A pipeline routing ``cat/`` to ``destination``, reading ``elements`` as the catalogue file."""
    sink = type("Sink", (), {"send": lambda self, message: dlq.append(message)})()
    return IngestPipeline.wired(
        settings,
        Routes([Route("cat/", destination, NoCredentials())]),
        MemoryStore(json.dumps(elements).encode()),
        ledger,
        sink,
        clock=lambda: datetime(2026, 12, 5, tzinfo=UTC),
    )


def deliver(
    destination: Elements,
    ledger: MemoryLedger,
    dlq: list[Any],
    elements: list[Any],
    n: int,
    final: bool = False,
) -> Outcome | RetryLater:
    pipeline = catalogue_pipeline(
        destination, ledger, dlq, elements, PipelineSettings(max_object_bytes=1_000_000, max_attempts=1)
    )
    outcome: Outcome | RetryLater
    try:
        outcome = pipeline.process(
            CATALOGUE, Delivery(receive_count=n, final=final), Budget(lambda: 60_000, lambda s: None)
        )
    except RetryLater as exc:
        outcome = exc
    assert untouched(destination)
    return outcome


def test_an_element_that_failed_for_a_moment_is_retried_then_failed_and_dead_lettered() -> None:
    """Issue 26.1: the file was CREATED, its redelivery stopped at "same bytes" and the element stayed RETRYING
    forever. Now the file is RETRYING while an element is, so SQS delivers it again until the element ends."""
    down = Answer(AnswerKind.TRANSIENT, 500, "server error")
    destination = Elements(answers={f"create {key('b')}": [down, down, down]})
    ledger, dlq = MemoryLedger(), []
    elements = [{"identifier": "a", "title": "A"}, {"identifier": "b", "title": "B"}]
    first = deliver(destination, ledger, dlq, elements, 1)
    assert isinstance(first, RetryLater)
    assert ledger.items[CATALOGUE.source].status is Status.RETRYING
    assert isinstance(deliver(destination, ledger, dlq, elements, 2), RetryLater)  # not "same bytes"
    assert destination.called("create").count(key("b")) == 2
    last = deliver(destination, ledger, dlq, elements, 3, final=True)
    assert destination.called("create").count(key("b")) == 3 and destination.called("create").count(key("a")) == 1
    assert ledger.items[f"{CATALOGUE.source}#b"].status is Status.FAILED
    assert any(m["status"] == "FAILED" and m["source"].endswith("#b") for m in dlq)
    assert isinstance(last, Outcome) and last.status is Status.CREATED
    assert "1 of 2 elements published (1 unchanged); 1 FAILED" in last.reason


def test_new_elements_are_created_without_a_lookup_and_an_element_tried_before_is_looked_up() -> None:
    """Each element has its own lease and item: one never leased cannot have a record yet; one whose create
    failed (it may have taken effect) is looked up on the next delivery before it is created."""
    destination = Elements(answers={f"create {key('b')}": [Answer(AnswerKind.TRANSIENT, 500, "server error")]})
    ledger = MemoryLedger()
    elements = [{"identifier": "a"}, {"identifier": "b"}]
    assert isinstance(deliver(destination, ledger, [], elements, 1), RetryLater)
    assert destination.called("find") == [] and destination.called("create") == [key("a"), key("b")]
    outcome = deliver(destination, ledger, [], [*elements, {"identifier": "c"}], 2)
    assert isinstance(outcome, Outcome) and "2 created, 1 unchanged" in outcome.reason
    assert destination.called("find") == [key("b")] and destination.called("create") == [key(i) for i in "abbc"]


def test_a_catalogue_whose_elements_all_fail_is_not_a_success() -> None:
    """Issue 21 §5: the file's own row says INVALID when nothing was published, and names the counts otherwise."""
    ledger, dlq = MemoryLedger(), []
    bad = [{"identifier": "a", "bad": True}, {"identifier": "b", "bad": True}]
    outcome = deliver(Elements(), ledger, dlq, bad, 1)
    assert isinstance(outcome, Outcome) and outcome.status is Status.INVALID
    assert ledger.items[CATALOGUE.source].reason == "Catalogue of 2 datasets: 0 of 2 elements published; 2 INVALID."
    mixed = [{"identifier": "a"}, {"identifier": "b", "bad": True}, {"title": "no id"}]
    outcome = deliver(Elements(), MemoryLedger(), [], mixed, 1)
    assert isinstance(outcome, Outcome) and outcome.status is Status.CREATED
    assert "1 of 3 elements published (1 created); 2 INVALID" in outcome.reason


def test_a_catalogue_stops_between_elements_when_the_invocation_is_nearly_over() -> None:
    """Issue 26.5: a 37,000-record array must not run past the invocation. A fake clock: each create uses 1 s
    of a 14 s invocation, and an element needs 10 s; the rest is RETRYING and the next delivery finishes it."""
    left = [14_000]
    destination = Elements()
    original = destination.create

    def create(key: str, document: Any, verdict: Verdict, call: Call) -> Answer:
        left[0] -= 1_000
        return original(key, document, verdict, call)

    destination.create = create  # type: ignore[method-assign]
    ledger, dlq = MemoryLedger(), []
    elements = [{"identifier": str(i)} for i in range(37_000)]
    pipeline = catalogue_pipeline(
        destination, ledger, dlq, elements, PipelineSettings(max_object_bytes=10_000_000, element_time_ms=10_000)
    )
    with pytest.raises(RetryLater):
        pipeline.process(CATALOGUE, Delivery(receive_count=1, final=False), Budget(lambda: left[0], lambda s: None))
    assert destination.called("create") == [key(str(i)) for i in range(5)] and untouched(destination)
    row = ledger.items[CATALOGUE.source]
    assert row.status is Status.RETRYING and "36995 RETRYING" in row.reason
    assert f"{CATALOGUE.source}#5" not in ledger.items


class DeadLetterPipeline(FakePipeline):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[dict[str, Any]] = []

    def send_dead_letter(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


@pytest.mark.parametrize(
    ("mangle", "why"),
    [
        (lambda r: r["s3"]["object"].pop("key"), "no s3.object.key"),
        (lambda r: r["s3"]["object"].update(size="big"), "s3.object.size 'big' is not a byte count"),
        (lambda r: r.pop("s3"), "it has no s3.object and s3.bucket"),
    ],
)
def test_a_malformed_s3_record_is_the_functions_own_dead_letter_and_the_batch_goes_on(mangle: Any, why: str) -> None:
    """Issue 26.12: a KeyError/TypeError used to fail the record on every delivery until SQS moved the raw
    message to the DLQ. Now it is dead-lettered at once with the reason, and the other records are processed."""
    bad = json.loads(s3_body("incoming/bad.json", "01"))
    mangle(bad["Records"][0])
    pipeline = DeadLetterPipeline()
    response = make_runtime(pipeline).handle(sqs_event([json.dumps(bad), s3_body("incoming/good.json", "02")]))
    assert response == {"batchItemFailures": []}
    assert pipeline.order == {"s3://bucket/incoming/good.json": ["02"]}
    assert len(pipeline.sent) == 1 and pipeline.sent[0]["status"] == "INVALID"
    assert why in pipeline.sent[0]["reason"] and pipeline.sent[0]["event"] == bad
