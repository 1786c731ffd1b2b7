"""Nothing is lost: hundreds of files through the local stack while everything that can go wrong does.

* **The Gateway misbehaves.** The emulator answers 20% of requests with a 500 and holds 5% of them past the
  function's read timeout (``GATEWAY_READ_TIMEOUT`` 0.5 s; held 1 s, so the client really times out). Every
  10 s its Laravel-style rate limit drops to one request a minute for a second (``500 Too Many Attempts.``).
* **S3 delivers at least once.** S3 notifies a staging queue; a fan-out thread copies each notification to the
  ingest queue one to three times, the duplicates at once or a few seconds later. It adds the per-key
  ``sequencer`` that real S3 always sends and moto leaves out.
* **The poller dies.** The function runs in several worker processes (``tests/e2e/fault_worker.py``: an SqsPoller
  with the real handler each, Lambda's concurrency). Once a third of the files is done, and while batches are
  in flight, every worker is killed with SIGKILL, leaving held leases, invisible messages and Gateway calls
  whose answer nobody read. New workers take over. (moto runs in a process of its own too, so that the test
  process, which hosts the Gateway emulator, is not the bottleneck.)
* A few documents are invalid, so the count includes failures that must stay failed.

Then the faults are fixed, the dead-letter queue is redriven (``hdr-ingest redrive``) and the stack settles. A
summary table is printed, and also written to ``$HGI_FAULT_REPORT`` when that is set.

The settings are harsher than the template's: ``maxReceiveCount`` 2 (the template's default is 5), so transient
failures reach the DLQ and the redrive path is exercised. The function timeout is 10 s and the visibility timeout
17 s. A killed invocation's leases last until its deadline + 5 s, so the visibility timeout must outlast them,
as the template's does (360 s for a 60 s function). Batches are 5 records, so that a batch fits in the
function's timeout despite the faults.

``HGI_FAULT_FILES`` (default 500) sets the number of files; the larger run is
``HGI_FAULT_FILES=2000 .venv/bin/python -m pytest -m faults`` (or ``HGI_FAULT_FILES=2000 make test-e2e``).
``HGI_FAULT_WORKERS`` (12), ``HGI_FAULT_MAX_RECEIVES`` (2), ``HGI_FAULT_BATCH`` (5) and ``HGI_FAULT_SEED`` tune
the rest.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest

import hdr_ingest_cli as cli
from hdr_ingest.core.dead_letter import DLQ_MESSAGE_KIND
from hdr_ingest.core.ledger import LedgerEntry
from hdr_ingest.core.outcome import Status
from hdr_ingest.core.source_object import SourceObject
from local_stack.poller import load_handler
from local_stack.stack import FINAL_STATUSES, LocalStack, StackOptions
from tests.conftest import EXAMPLES, PACK_DIR, ROOT

FILES = int(os.environ.get("HGI_FAULT_FILES", "500"))
WORKERS = int(os.environ.get("HGI_FAULT_WORKERS", "12"))
MAX_RECEIVES = int(os.environ.get("HGI_FAULT_MAX_RECEIVES", "2"))
BATCH_SIZE = int(os.environ.get("HGI_FAULT_BATCH", "5"))
SEED = int(os.environ.get("HGI_FAULT_SEED", "20240601"))
INVALID_EVERY = 50  # every 50th document lacks summary.title: INVALID, and still in the DLQ after the redrive
ERROR_RATE, TIMEOUT_RATE = 0.20, 0.05
READ_TIMEOUT_S = 0.5  # the function's GATEWAY_READ_TIMEOUT
TIMEOUT_AFTER_S = 1.0  # how long the emulator holds a "timeout" request
THROTTLE_EVERY_S, THROTTLE_FOR_S = 10.0, 1.0
FUNCTION_TIMEOUT_S = 10
VISIBILITY_TIMEOUT_S = FUNCTION_TIMEOUT_S + 7  # > deadline + 5 s lease + DynamoDB's whole-second comparison
KILL_AT = 0.35  # kill every worker once this share of the files has a final status
SETTLE_TIMEOUT_S = 300 + FILES // 2
HDRUK4_EXAMPLE = EXAMPLES / "schemata" / "HDRUK" / "4.0.0" / "docs.example.json"
PUBLISHED = frozenset({Status.CREATED, Status.UPDATED, Status.UNCHANGED})

pytestmark = [pytest.mark.e2e, pytest.mark.faults, pytest.mark.timeout(SETTLE_TIMEOUT_S * 2)]


# --- the pieces -------------------------------------------------------------------------------------------


def documents(count: int) -> dict[str, bytes]:
    """``count`` variants of the HDRUK 4.0.0 example, each with a title, abstract and identifier of its own."""
    base = json.loads(HDRUK4_EXAMPLE.read_text(encoding="utf-8"))
    out: dict[str, bytes] = {}
    for n in range(count):
        doc = json.loads(json.dumps(base))
        doc["identifier"] = f"https://example.org/datasets/fault-{n:05d}"
        doc["summary"]["title"] = f"Fault-injection cohort {n:05d}"
        doc["summary"]["abstract"] = f"Synthetic dataset {n}, published while the Gateway misbehaves."
        doc["summary"]["keywords"] = [f"fault-{n % 7}", "resilience"]
        if n % INVALID_EVERY == INVALID_EVERY - 1:
            del doc["summary"]["title"]
        out[f"incoming/faults/{n // 100:02d}/dataset-{n:05d}.json"] = json.dumps(doc, indent=1).encode()
    return out


class MotoProcess:
    """moto in server mode in a process of its own, as AWS is not in the caller's process: the test process keeps
    its core (one, by the GIL) for the Gateway emulator and the fan-out. A stand-in for ``LocalStack.moto``, with
    the same patches to moto."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        with socket.socket() as probe:
            probe.bind((host, 0))
            self.port = int(probe.getsockname()[1])
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> MotoProcess:
        # moto as the local stack runs it (local_stack.aws.patch_moto: DynamoDB's conditional writes atomic).
        serve = "from local_stack.aws import patch_moto; patch_moto(); from moto.server import main; main()"
        self.process = subprocess.Popen(
            [sys.executable, "-c", serve, "-H", self.host, "-p", str(self.port)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return self
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("the moto server did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


class Worker:
    """A ``fault_worker`` process: one Lambda container polling the ingest queue."""

    def __init__(self, name: str, config: dict[str, Any], directory: Path) -> None:
        self.name = name
        self.journal = directory / f"{name}.journal"
        config_path = directory / f"{name}.json"
        config_path.write_text(json.dumps({**config, "journal": str(self.journal)}), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GATEWAY_", "HGI_", "POWERTOOLS_"))}
        env["PYTHONPATH"] = os.pathsep.join(str(ROOT / p) for p in ("layers/shared", "functions/ingest", "."))
        with (directory / f"{name}.log").open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.e2e.fault_worker", str(config_path)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def _journal(self) -> list[dict[str, Any]]:
        if not self.journal.exists():
            return []
        return [json.loads(line) for line in self.journal.read_text(encoding="utf-8").splitlines() if line]

    def open_batches(self) -> list[int]:
        """The sizes of the batches this worker started and has not finished."""
        started: dict[int, int] = {}
        for entry in self._journal():
            if "start" in entry:
                started[entry["start"]] = entry["size"]
            else:
                started.pop(entry["end"], None)
        return list(started.values())

    def finished(self) -> tuple[int, int]:
        """(invocations finished, records they reported in ``batchItemFailures``)."""
        ends = [entry for entry in self._journal() if "end" in entry]
        return len(ends), sum(entry["failed"] for entry in ends)

    def durations(self) -> list[float]:
        """How long each finished invocation took, in seconds."""
        started: dict[int, float] = {}
        out: list[float] = []
        for entry in self._journal():
            if "start" in entry:
                started[entry["start"]] = entry["t"]
            elif entry["end"] in started:
                out.append(entry["t"] - started[entry["end"]])
        return out

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    @staticmethod
    def stop_all(workers: list[Worker]) -> None:
        """SIGTERM to every worker at once (each finishes its batch), then SIGKILL to any still running after 15 s."""
        running = [w for w in workers if w.process.poll() is None]
        for worker in running:
            worker.process.terminate()
        deadline = time.monotonic() + 15
        for worker in running:
            try:
                worker.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.kill()


@dataclass
class FanOut:
    """S3's at-least-once delivery: each notification on the staging queue reaches the ingest queue 1-3 times."""

    stack: LocalStack
    staging_url: str
    rng: random.Random
    copies: Counter[int] = field(default_factory=Counter)
    sent: int = 0
    error: BaseException | None = None
    _sequencer: int = 0x0062E5A1B2C3D40000
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> FanOut:
        self._thread = threading.Thread(target=self._run, name="s3-fan-out", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        sqs = self.stack.aws.client("sqs")
        try:
            while not self._stop.is_set():
                answer = sqs.receive_message(
                    QueueUrl=self.staging_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=30
                )
                for message in answer.get("Messages", []):
                    self._forward(sqs, message)
        except BaseException as exc:  # reported by the test
            self.error = exc

    def _forward(self, sqs: Any, message: dict[str, Any]) -> None:
        body = json.loads(message["Body"])
        if "Records" in body:  # not the s3:TestEvent
            for record in body["Records"]:
                self._sequencer += 1
                record["s3"]["object"].setdefault("sequencer", f"{self._sequencer:018X}")
            copies = self.rng.choice((1, 2, 3))
            self.copies[copies] += 1
            text = json.dumps(body)
            for copy in range(copies):
                # Duplicates sometimes at once (processed concurrently), sometimes after the first is done.
                delay = 0 if copy == 0 else self.rng.choice((0, 0, 1, 3, 8))
                sqs.send_message(QueueUrl=self.stack.aws.queue_url, MessageBody=text, DelaySeconds=delay)
                self.sent += 1
        sqs.delete_message(QueueUrl=self.staging_url, ReceiptHandle=message["ReceiptHandle"])


class Throttler:
    """Bursts of throttling: every THROTTLE_EVERY_S, the rate limit drops to 1 request a minute for a moment."""

    def __init__(self, stack: LocalStack) -> None:
        assert stack.emulator is not None
        self.faults = stack.emulator.faults
        self.bursts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="throttler", daemon=True)

    def start(self) -> Throttler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self.faults.set_throttle(None)

    def _run(self) -> None:
        while not self._stop.wait(THROTTLE_EVERY_S):
            self.bursts += 1
            self.faults.set_throttle(1)
            self._stop.wait(THROTTLE_FOR_S)
            self.faults.set_throttle(None)


def queue_depth(stack: LocalStack, url: str) -> int:
    """Messages visible, in flight or delayed."""
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    attributes = stack.aws.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes.get(name, 0)) for name in names)


def dead_letters(stack: LocalStack) -> list[dict[str, Any]]:
    """Every message in the DLQ, left there (received once each, then made visible again)."""
    sqs = stack.aws.client("sqs")
    bodies: dict[str, dict[str, Any]] = {}
    handles: list[str] = []
    while True:
        messages = sqs.receive_message(QueueUrl=stack.aws.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=120).get(
            "Messages", []
        )
        if not messages:
            break
        for message in messages:
            bodies[message["MessageId"]] = json.loads(message["Body"])
            handles.append(message["ReceiptHandle"])
    for start in range(0, len(handles), 10):
        chunk = handles[start : start + 10]
        sqs.change_message_visibility_batch(
            QueueUrl=stack.aws.dlq_url,
            Entries=[{"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0} for i, h in enumerate(chunk)],
        )
    return list(bodies.values())


def dead_letter_source(message: dict[str, Any], bucket: str) -> str | None:
    """The source a dead letter is about: ours name it; SQS's own (the raw S3 event after maxReceiveCount) hold
    the event."""
    if message.get("kind") == DLQ_MESSAGE_KIND and message.get("source"):
        return str(message["source"])
    for record in message.get("Records") or []:
        return f"s3://{bucket}/{unquote_plus(record['s3']['object']['key'])}"
    return None


def wait_until(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    poll: float = 1.0,
    progress: Callable[[str], None] | None = None,
) -> None:
    """Poll ``condition`` until it holds; ``progress(what)`` after each poll that finds it does not yet."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not reached after {timeout:.0f} s")
        if progress is not None:
            progress(what)
        time.sleep(poll)


class Progress:
    """Lines on the terminal while the run waits, so that several minutes of it show that it moves: one each time
    another ``step`` files reach a final status, and at least one every ``quiet_s``. It only prints."""

    def __init__(
        self, stack: LocalStack, sources: list[str], capsys: pytest.CaptureFixture[str], started: float
    ) -> None:
        self.stack = stack
        self.sources = set(sources)
        self.capsys = capsys
        self.started = started
        self.step = max(25, len(sources) // 10)
        self.quiet_s = 20.0
        self._reported = 0
        self._checked = self._printed = time.monotonic()

    def say(self, text: str) -> None:
        with self.capsys.disabled():
            print(f"  [{time.monotonic() - self.started:5.0f} s] {text}", flush=True)
        self._printed = time.monotonic()

    def __call__(self, waiting_for: str) -> None:
        now = time.monotonic()
        if now - self._checked < 3:  # a ledger scan at most every 3 s
            return
        self._checked = now
        done = sum(1 for e in self.stack.ledger().scan() if e.source in self.sources and e.status in FINAL_STATUSES)
        if done // self.step > self._reported // self.step or now - self._printed >= self.quiet_s:
            self._reported = done
            queued = queue_depth(self.stack, self.stack.aws.queue_url)
            self.say(f"{done}/{len(self.sources)} files final, {queued} messages queued; waiting for {waiting_for}")


def held_leases(stack: LocalStack) -> int:
    table = stack.aws.ledger_table()
    kwargs: dict[str, Any] = {"ProjectionExpression": "lease_owner", "ConsistentRead": True}
    held = 0
    while True:
        page = table.scan(**kwargs)
        held += sum(1 for item in page.get("Items", []) if "lease_owner" in item)
        if "LastEvaluatedKey" not in page:
            return held
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def render(rows: list[tuple[str, str]]) -> str:
    left = max(len(name) for name, _ in rows)
    right = max(len(value) for _, value in rows)
    rule = f"+-{'-' * left}-+-{'-' * right}-+"
    return "\n".join([rule, *(f"| {name.ljust(left)} | {value.ljust(right)} |" for name, value in rows), rule])


def counts(counter: Counter[str]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counter.items())) or "none"


@dataclass
class Snapshot:
    """The ledger and the DLQ once the ingest queue is empty."""

    ledger: dict[str, LedgerEntry]
    dead_letters: list[dict[str, Any]]
    dead_sources: Counter[str | None]

    @classmethod
    def take(cls, stack: LocalStack) -> Snapshot:
        letters = dead_letters(stack)
        return cls(
            {entry.source: entry for entry in stack.ledger().scan()},
            letters,
            Counter(dead_letter_source(m, stack.aws.bucket) for m in letters),
        )

    def statuses(self, sources: list[str]) -> Counter[str]:
        return Counter(self.ledger[s].status.value if s in self.ledger else "no ledger item" for s in sources)

    def unaccounted(self, sources: list[str], published: Callable[[str, LedgerEntry], bool]) -> list[str]:
        """Sources neither published (ledger and Gateway agree) nor waiting in the DLQ."""
        return [
            source
            for source in sources
            if not ((entry := self.ledger.get(source)) is not None and published(source, entry))
            and not self.dead_sources[source]
        ]


# --- the run ----------------------------------------------------------------------------------------------


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    if not (PACK_DIR / "available.json").is_file():
        pytest.fail("schema pack missing: run `make schemas` first")
    load_handler()  # import under the suite's environment (see tests/e2e/test_local_stack.py)
    options = StackOptions(
        stack_name="hgi-faults",
        visibility_timeout=VISIBILITY_TIMEOUT_S,
        max_receive_count=MAX_RECEIVES,
        function_timeout_s=FUNCTION_TIMEOUT_S,
        wait_time_s=1,
        schema_pack_dir=PACK_DIR,
        log_level=os.environ.get("HGI_FAULT_LOG_LEVEL", "ERROR"),
        extra_env={"GATEWAY_READ_TIMEOUT": str(READ_TIMEOUT_S)},
    )
    running = LocalStack(options)
    running.moto = MotoProcess()  # type: ignore[assignment]
    with running:
        running.poller.stop()  # the function runs in worker processes instead, to be killed and restarted
        yield running


def test_nothing_is_lost_under_gateway_faults_duplicate_events_and_a_killed_poller(
    stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator = stack.emulator
    assert emulator is not None
    started = time.monotonic()
    files = documents(FILES)
    sources = [stack.source(key) for key in files]
    key_of = dict(zip(sources, files, strict=True))
    invalid = {s for n, s in enumerate(sources) if n % INVALID_EVERY == INVALID_EVERY - 1}
    valid = [s for s in sources if s not in invalid]
    sqs = stack.aws.client("sqs")

    # S3 notifies a staging queue, from where the fan-out delivers each event 1-3 times.
    staging_url = sqs.create_queue(QueueName="hgi-faults-s3-events")["QueueUrl"]
    staging_arn = sqs.get_queue_attributes(QueueUrl=staging_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rules = [{"Name": "prefix", "Value": "incoming/"}, {"Name": "suffix", "Value": ".json"}]
    stack.aws.client("s3").put_bucket_notification_configuration(
        Bucket=stack.aws.bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {"QueueArn": staging_arn, "Events": ["s3:ObjectCreated:*"], "Filter": {"Key": {"FilterRules": rules}}}
            ]
        },
    )
    fan_out = FanOut(stack, staging_url, random.Random(SEED)).start()
    progress = Progress(stack, sources, capsys, started)
    with capsys.disabled():
        print(f"\nFault injection: {FILES} files, {WORKERS} workers (a progress line every {progress.step} files)")

    emulator.faults.reseed(SEED)
    emulator.faults.set_rates(error_rate=ERROR_RATE, timeout_rate=TIMEOUT_RATE)
    emulator.faults.set_timeout_after(TIMEOUT_AFTER_S)
    throttler = Throttler(stack).start()

    config = {
        "env": stack.function_env,
        "queue_url": stack.aws.queue_url,
        "queue_arn": stack.aws.queue_arn,
        "region": stack.aws.region,
        "timeout_s": FUNCTION_TIMEOUT_S,
        "batch_size": BATCH_SIZE,
        "wait_time_s": 1,
    }
    first = [Worker(f"w{n}", config, tmp_path) for n in range(WORKERS)]
    second: list[Worker] = []

    def drained() -> bool:
        return queue_depth(stack, staging_url) == 0 and queue_depth(stack, stack.aws.queue_url) == 0

    def done_share() -> float:
        ledger = {entry.source: entry for entry in stack.ledger().scan()}
        return sum(1 for s in sources if s in ledger and ledger[s].status in FINAL_STATUSES) / len(sources)

    try:
        s3 = stack.aws.client("s3")
        with ThreadPoolExecutor(8) as uploads:  # an export job uploading in parallel
            list(
                uploads.map(
                    lambda item: s3.put_object(
                        Bucket=stack.aws.bucket, Key=item[0], Body=item[1], ContentType="application/json"
                    ),
                    files.items(),
                )
            )
        dropped_s = time.monotonic() - started
        progress.say(f"{FILES} files dropped")

        # Kill every worker while a batch is in flight, then start new ones.
        wait_until(lambda: done_share() >= KILL_AT, SETTLE_TIMEOUT_S, f"{KILL_AT:.0%} of the files done", 2, progress)
        wait_until(lambda: any(w.open_batches() for w in first), 60, "a batch in flight", poll=0.01)
        for worker in first:
            worker.kill()
        killed_s = time.monotonic() - started
        interrupted = [size for worker in first for size in worker.open_batches()]
        leases_left = held_leases(stack)
        time.sleep(1)
        second = [Worker(f"r{n}", config, tmp_path) for n in range(WORKERS)]
        progress.say(f"{WORKERS} workers killed with {len(interrupted)} batches in flight; {WORKERS} new ones")

        wait_until(drained, SETTLE_TIMEOUT_S, "the ingest queue drained under faults", progress=progress)
        settled_s = time.monotonic() - started
        before = Snapshot.take(stack)

        # Fix the faults, redrive, settle.
        throttler.stop()
        log = emulator.requests()
        emulator.faults.reset()
        with capsys.disabled():
            redriven = cli.main(
                [
                    "redrive",
                    *("--dlq-url", stack.aws.dlq_url, "--queue-url", stack.aws.queue_url),
                    *("--endpoint-url", stack.aws.endpoint_url, "--region", stack.aws.region),
                    *("--state", str(tmp_path / "no-stack.json")),
                ]
            )
        time.sleep(1)
        progress.say("faults fixed, dead letters redriven")
        wait_until(drained, SETTLE_TIMEOUT_S, "the ingest queue drained after the redrive", progress=progress)
        finished_s = time.monotonic() - started
        after = Snapshot.take(stack)
        leases_at_end = held_leases(stack)
    finally:
        fan_out.stop()
        throttler.stop()
        Worker.stop_all(first + second)

    # --- the figures ----------------------------------------------------------------------------------------
    gateway = emulator.datasets()
    datasets_per_datasetid = Counter(d["datasetid"] for d in gateway)
    dataset_by_datasetid = {d["datasetid"]: d for d in gateway}

    def published(source: str, entry: LedgerEntry) -> bool:
        """Published, and the Gateway holds this file's document under the dataset id the ledger names."""
        dataset = dataset_by_datasetid.get(SourceObject(stack.aws.bucket, key_of[source]).record_key)
        summary = json.loads(files[key_of[source]])["summary"]
        return (
            entry.status in PUBLISHED
            and dataset is not None
            and dataset["id"] == entry.record_id
            and {k: dataset["metadata"]["summary"].get(k) for k in ("title", "abstract")}
            == {k: summary[k] for k in ("title", "abstract")}
        )

    faults = Counter(record.fault for record in log if record.fault)
    per_source = Counter(datasets_per_datasetid[SourceObject(stack.aws.bucket, key_of[s]).record_key] for s in valid)
    invocations = [worker.finished() for worker in first + second]
    durations = [d for worker in first + second for d in worker.durations()]
    lost_before = before.unaccounted(sources, published)
    lost = after.unaccounted(sources, published)
    not_final = [s for s in sources if s not in after.ledger or after.ledger[s].status not in FINAL_STATUSES]
    stale_letters = sum(n for s, n in after.dead_sources.items() if s not in invalid)
    rows = [
        ("files", f"{FILES} dropped: {len(valid)} valid, {len(invalid)} invalid (no summary.title)"),
        (
            "S3 event deliveries",
            f"{fan_out.sent} messages for {sum(fan_out.copies.values())} events: "
            + ", ".join(f"{fan_out.copies[c]} sent x{c}" for c in (1, 2, 3)),
        ),
        (
            "faults injected",
            f"{sum(faults.values())} of {len(log)} Gateway requests: {counts(faults)} "
            f"(throttling in {throttler.bursts} bursts)",
        ),
        (
            "poller killed",
            f"{WORKERS} workers SIGKILLed at {killed_s:.0f} s with {len(interrupted)} batches "
            f"({sum(interrupted)} records) in flight, {leases_left} leases left held; {WORKERS} new workers",
        ),
        (
            "invocations",
            f"{sum(n for n, _ in invocations)} finished, {sum(f for _, f in invocations)} records in "
            f"batchItemFailures; longest {max(durations, default=0):.1f} s (timeout {FUNCTION_TIMEOUT_S} s)",
        ),
        ("statuses before redrive", counts(before.statuses(sources))),
        (
            "DLQ before redrive",
            f"{len(before.dead_letters)} messages for {len(before.dead_sources)} sources "
            f"({counts(Counter(str(m.get('status', 'raw S3 event')) for m in before.dead_letters))})",
        ),
        ("final statuses", counts(after.statuses(sources))),
        (
            "DLQ after redrive",
            f"{len(after.dead_letters)} messages for {len(after.dead_sources)} sources: "
            f"{sum(n for s, n in after.dead_sources.items() if s in invalid)} for the invalid files, "
            f"{stale_letters} stale copies",
        ),
        (
            "Gateway datasets per source",
            ", ".join(f"{n} dataset(s): {c} sources" for n, c in sorted(per_source.items()))
            + f"; {len(gateway)} datasets in all",
        ),
        ("messages lost", f"{len(lost)} (before the redrive: {len(lost_before)})"),
        (
            "timings",
            f"dropped by {dropped_s:.0f} s, drained under faults at {settled_s:.0f} s, "
            f"settled after the redrive at {finished_s:.0f} s",
        ),
    ]
    summary = render(rows)
    with capsys.disabled():
        print(f"\nFault injection: {FILES} files, {WORKERS} workers, maxReceiveCount {MAX_RECEIVES}\n{summary}")
    if os.environ.get("HGI_FAULT_REPORT"):
        Path(os.environ["HGI_FAULT_REPORT"]).write_text(summary + "\n", encoding="utf-8")

    # --- nothing lost, nothing duplicated ------------------------------------------------------------------
    assert fan_out.error is None, fan_out.error
    assert redriven == 0
    assert lost == [], lost[:10]
    assert lost_before == [], lost_before[:10]  # even before the redrive: published, or waiting in the DLQ
    assert not_final == [], not_final[:10]
    assert per_source == Counter({1: len(valid)}), per_source  # exactly one Gateway dataset per accepted source
    assert len(gateway) == len(valid) and set(datasets_per_datasetid.values()) == {1}
    assert {s for s in invalid if after.ledger[s].status is Status.INVALID} == invalid
    assert invalid <= set(after.dead_sources)  # each invalid file's failure waits in the DLQ
    assert None not in after.dead_sources  # every dead letter names its source
    assert all(after.ledger[s].status in PUBLISHED for s in after.dead_sources if s and s not in invalid)
    assert leases_at_end == 0
    # The faults really happened.
    assert faults["random:500"] > 0 and faults["random:timeout"] > 0 and faults["throttle"] > 0
    assert interrupted, "the kill interrupted no batch"
    assert sum(fan_out.copies.values()) == FILES and fan_out.copies[2] and fan_out.copies[3]
