"""The runtime over a fake pipeline: an SQS batch's records processed in threads, one object's records in order,
partial batch failures, per-record log keys, metrics and X-Ray entities in worker threads, lazy AWS clients."""

from __future__ import annotations

import io
import json
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest

from hdr_ingest.adapters.aws.clients import AwsClients
from hdr_ingest.core.outcome import Outcome, Status
from hdr_ingest.core.routing import RouteSpec
from hdr_ingest.core.source_object import SourceObject
from hdr_ingest.entry import runtime as runtime_module
from hdr_ingest.entry.observe import PowertoolsObserver
from hdr_ingest.entry.runtime import Runtime, logger, metrics, record_groups
from hdr_ingest.entry.settings import Settings
from hdr_ingest.usecases.context import Budget, Delivery, RetryLater
from hdr_ingest.usecases.pipeline import IngestPipeline

pytestmark = pytest.mark.unit

BUCKET = "bucket"
WAIT_S = 10  # only a guard against a hang: a barrier that works is passed at once


def s3_body(key: str, sequencer: str, size: int = 10) -> str:
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "eu-west-2",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": BUCKET, "arn": f"arn:aws:s3:::{BUCKET}"},
            "object": {"key": key, "size": size, "eTag": "e", "sequencer": sequencer},
        },
    }
    return json.dumps({"Records": [record]})


def sqs_event(bodies: list[str]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m{index}",
                "receiptHandle": f"r{index}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-2:123456789012:ingest",
                "awsRegion": "eu-west-2",
            }
            for index, body in enumerate(bodies)
        ]
    }


class FakePipeline:
    """Records what ran, where and when; ``hook`` runs inside each record's processing."""

    def __init__(self, hook: Callable[[SourceObject], None] = lambda obj: None) -> None:
        self.hook = hook
        self.lock = threading.Lock()
        self.order: defaultdict[str, list[str]] = defaultdict(list)  # source -> sequencers, as processed
        self.active: defaultdict[str, int] = defaultdict(int)
        self.overlapped: list[str] = []  # sources processed twice at the same time
        self.threads: set[str] = set()

    def send_dead_letter(self, message: dict[str, Any]) -> None:
        return None

    def process(self, obj: SourceObject, delivery: Delivery, budget: Budget | None = None) -> Outcome:
        with self.lock:
            self.active[obj.source] += 1
            if self.active[obj.source] > 1:
                self.overlapped.append(obj.source)
            self.threads.add(threading.current_thread().name)
        try:
            self.hook(obj)
            with self.lock:
                self.order[obj.source].append(str(obj.sequencer))
        finally:
            with self.lock:
                self.active[obj.source] -= 1
        return Outcome(Status.CREATED, "ok")


def make_runtime(pipeline: FakePipeline, concurrency: int = 4, in_flight: int = 1 << 40) -> Runtime:
    settings = Settings(
        routes=(RouteSpec("incoming/", "hdruk", "https://gateway.example/api/v1", "secret"),),
        ledger_table="ledger",
        dlq_url="https://sqs.example/dlq",
        record_concurrency=concurrency,
        documents_in_flight_bytes=in_flight,
    )
    return Runtime(settings, cast(IngestPipeline, pipeline))


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """The function's log lines (JSON, one per line)."""
    stream = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", stream)
    level = logger.log_level
    logger.setLevel("INFO")
    yield stream
    logger.setLevel(level)


def test_records_of_different_objects_run_at_the_same_time() -> None:
    """Three objects, three threads: each waits at a barrier for the other two, which it only passes if all
    three are being processed at once."""
    barrier = threading.Barrier(3, timeout=WAIT_S)
    pipeline = FakePipeline(hook=lambda obj: barrier.wait())
    runtime = make_runtime(pipeline, concurrency=3)
    response = runtime.handle(sqs_event([s3_body(f"incoming/{name}.json", "01") for name in "abc"]))
    assert response == {"batchItemFailures": []}
    assert len(pipeline.threads) == 3 and not barrier.broken


def test_records_of_one_object_run_one_after_another_in_the_batch_order() -> None:
    keys = ["a", "b", "a", "c", "a", "b"]
    bodies = [s3_body(f"incoming/{key}.json", f"{index:02d}") for index, key in enumerate(keys)]
    pipeline = FakePipeline()
    runtime = make_runtime(pipeline, concurrency=4)
    assert runtime.handle(sqs_event(bodies)) == {"batchItemFailures": []}
    assert pipeline.overlapped == []
    assert pipeline.order[f"s3://{BUCKET}/incoming/a.json"] == ["00", "02", "04"]
    assert pipeline.order[f"s3://{BUCKET}/incoming/b.json"] == ["01", "05"]
    assert pipeline.order[f"s3://{BUCKET}/incoming/c.json"] == ["03"]


def test_large_objects_wait_until_they_fit_in_the_memory_budget() -> None:
    """Budget 100 bytes: the 60-byte objects never run two at a time, the 30-byte ones run beside one, and the
    250-byte object (larger than the whole budget) runs alone."""
    sizes = {"a": 60, "b": 60, "c": 30, "d": 30, "e": 250, "f": 60}
    held: list[int] = []
    peak: list[int] = [0]
    lock = threading.Lock()

    def hook(obj: SourceObject) -> None:
        with lock:
            held.append(obj.size or 0)
            peak[0] = max(peak[0], sum(held)) if len(held) > 1 else peak[0]
        threading.Event().wait(0.02)  # long enough for the other threads to try to start
        with lock:
            held.remove(obj.size or 0)

    pipeline = FakePipeline(hook=hook)
    runtime = make_runtime(pipeline, concurrency=6, in_flight=100)
    bodies = [s3_body(f"incoming/{key}.json", "01", size) for key, size in sizes.items()]
    assert runtime.handle(sqs_event(bodies)) == {"batchItemFailures": []}
    assert sum(len(v) for v in pipeline.order.values()) == len(sizes)
    assert 0 < peak[0] <= 100  # records did overlap, never beyond the budget


def test_the_memory_budget_follows_the_functions_memory_size() -> None:
    base = {"GATEWAY_SECRET_ID": "s", "LEDGER_TABLE": "t", "DLQ_URL": "https://sqs.example/dlq"}
    small = Settings.from_env({**base, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512"}).documents_in_flight_bytes
    large = Settings.from_env({**base, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048"}).documents_in_flight_bytes
    # One 10 MB document at a time, whatever its text costs once HTML-encoded (issue 12), beside small ones.
    assert 10 * 1024 * 1024 < small < 16 * 1024 * 1024
    assert large > 4 * small


def test_records_are_grouped_by_the_objects_they_announce() -> None:
    # a record announcing two objects joins their groups: every group keeps the batch's order
    assert record_groups([["x"], ["y"], ["x", "z"], ["z"], [], ["y"]]) == [[0, 2, 3], [1, 5], [4]]
    assert record_groups([]) == []


def test_partial_batch_failures_from_threads_name_exactly_the_failed_records() -> None:
    def hook(obj: SourceObject) -> None:
        if obj.key.startswith("incoming/retry"):
            raise RetryLater(Outcome(Status.RETRYING, "Gateway down; will retry."))
        if obj.key.startswith("incoming/crash"):
            raise RuntimeError("ledger unavailable")

    keys = ["ok-1", "retry-1", "ok-2", "crash-1", "ok-3", "retry-1"]
    bodies = [s3_body(f"incoming/{key}.json", f"{index:02d}") for index, key in enumerate(keys)]
    bodies.insert(3, "this is not JSON")  # unprocessable: dead-lettered and acknowledged
    runtime = make_runtime(FakePipeline(hook), concurrency=4)
    response = runtime.handle(sqs_event(bodies))
    # m1 and m6 (retry-1, twice), m4 (crash-1): in the batch's order
    assert response == {"batchItemFailures": [{"itemIdentifier": f"m{i}"} for i in (1, 4, 6)]}


def test_each_log_line_carries_its_own_records_keys(logs: io.StringIO) -> None:
    barrier = threading.Barrier(4, timeout=WAIT_S)

    def hook(obj: SourceObject) -> None:
        barrier.wait()  # all four in flight before any logs
        logger.info("working", extra={"expected": obj.source})

    runtime = make_runtime(FakePipeline(hook), concurrency=4)
    runtime.handle(sqs_event([s3_body(f"incoming/{n}.json", f"0{n}") for n in range(4)]))
    lines = [json.loads(line) for line in logs.getvalue().splitlines() if '"working"' in line]
    assert len(lines) == 4
    for line in lines:
        index = int(line["expected"].rsplit("/", 1)[1].split(".")[0])
        assert line["source"] == line["expected"] and line["message_id"] == f"m{index}"
        assert line["correlation_id"] == f"0{index}"
    # nothing left behind on the calling thread
    assert logger.thread_safe_get_current_keys().keys().isdisjoint({"source", "message_id", "correlation_id"})


def test_metrics_from_threads_are_all_counted() -> None:
    observer = PowertoolsObserver()
    barrier = threading.Barrier(8, timeout=WAIT_S)

    def hook(obj: SourceObject) -> None:
        barrier.wait()
        for _ in range(11):
            observer.outcome(obj, Outcome(Status.UPDATED, "ok"))

    metrics.clear_metrics()
    runtime = make_runtime(FakePipeline(hook), concurrency=8)
    runtime.handle(sqs_event([s3_body(f"incoming/{n}.json", "01") for n in range(8)]))
    assert len(metrics.metric_set["Updated"]["Value"]) == 88
    metrics.clear_metrics()


def test_worker_threads_trace_under_the_handlers_entity(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a record does in a worker thread (botocore and requests calls are subsegments) lands in the
    invocation's trace, under the entity the handler was in."""
    import aws_xray_sdk
    from aws_xray_sdk.core.context import Context
    from aws_xray_sdk.core.recorder import AWSXRayRecorder

    enabled = aws_xray_sdk.global_sdk_config.sdk_enabled()
    aws_xray_sdk.global_sdk_config.set_sdk_enabled(True)  # Powertools turns the SDK off outside Lambda
    recorder = AWSXRayRecorder()
    recorder.configure(context=Context(context_missing="RUNTIME_ERROR"), sampling=False)
    monkeypatch.setattr(recorder, "_send_segment", lambda: None)
    monkeypatch.setattr(runtime_module.tracer, "provider", recorder)
    monkeypatch.setattr(runtime_module.tracer, "disabled", False)

    barrier = threading.Barrier(3, timeout=WAIT_S)

    def hook(obj: SourceObject) -> None:
        barrier.wait()  # three threads
        with recorder.in_subsegment(obj.key):  # raises without an entity in this thread
            pass

    segment = recorder.begin_segment("invocation")
    handler = recorder.begin_subsegment("## lambda_handler")
    try:
        pipeline = FakePipeline(hook)
        response = make_runtime(pipeline, concurrency=3).handle(
            sqs_event([s3_body(f"incoming/{n}.json", "01") for n in range(3)])
        )
    finally:
        recorder.end_subsegment()
        recorder.end_segment()
        aws_xray_sdk.global_sdk_config.set_sdk_enabled(enabled)
    assert response == {"batchItemFailures": []} and len(pipeline.threads) == 3
    assert segment.subsegments == [handler]
    assert sorted(s.name for s in handler.subsegments) == [f"incoming/{n}.json" for n in range(3)]


class FakeSession:
    def __init__(self, barrier: threading.Barrier | None = None) -> None:
        self.made: list[str] = []
        self.barrier = barrier

    def client(self, service: str, config: Any = None) -> object:
        self.made.append(service)
        return object()


def test_aws_clients_are_made_on_first_use_once_for_all_threads() -> None:
    sessions: list[FakeSession] = []
    events: list[str] = []

    def new_session() -> FakeSession:
        events.append("session")
        sessions.append(FakeSession())
        return sessions[-1]

    clients = AwsClients(
        max_pool_connections=8, session_factory=new_session, before_first_client=lambda: events.append("patch")
    )
    s3 = clients.source("s3")
    assert clients.created() == () and sessions == [] and events == []  # nothing made before the first call

    start = threading.Barrier(8, timeout=WAIT_S)
    got: list[object] = []
    lock = threading.Lock()

    def use() -> None:
        start.wait()  # all eight ask at once
        client = s3()
        with lock:
            got.append(client)

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    assert len(got) == 8 and len({id(c) for c in got}) == 1
    assert clients.client("dynamodb") is clients.client("dynamodb")
    assert len(sessions) == 1 and sessions[0].made == ["s3", "dynamodb"]  # one session, one client each
    assert clients.created() == ("s3", "dynamodb")
    assert events == ["patch", "session"]  # botocore patched for X-Ray once, before anything was made


def test_building_the_runtime_makes_no_aws_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    settings = Settings.from_env({"GATEWAY_SECRET_ID": "s", "LEDGER_TABLE": "t", "DLQ_URL": "https://sqs.example/q"})
    built = Runtime.from_settings(settings)
    assert built.clients is not None and built.clients.created() == ()
    (route,) = built.pipeline.routes
    gateway = route.destination.gateway  # type: ignore[attr-defined]
    adapter = gateway.transport.session.get_adapter("https://gateway.example")
    assert adapter._pool_maxsize >= settings.record_concurrency
