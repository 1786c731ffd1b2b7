"""The local stack the handler and bulk sections run on: moto and the Gateway emulator in processes of their own, the
function in worker processes (one per Lambda instance)."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import PROBES, ROOT, SHARED, marked


@dataclass
class BulkResult:
    files: int
    seconds: float
    worker_cpu: float
    stack_cpu: tuple[float, ...]  # moto, emulator
    statuses: dict[str, int]
    failures: int
    handler: float  # seconds in the handler, all instances
    gateway: float  # of which waiting on the Gateway
    aws: float  # and on AWS (moto), SQS polling included
    receive: float  # seconds in SQS ReceiveMessage, outside the handler
    upload_seconds: float = 0.0  # from the first upload to the last
    last_first_pass: float = 0.0  # seconds to the last record a worker finished before the final one's retry
    gateway_calls: int = 0  # Gateway requests, all instances


# moto and the Gateway emulator each run in a process of their own (probes/moto_server.py, probes/gateway_server.py),
# so that neither the function's instances nor each other wait for one interpreter lock; their CPU is read from /proc.


def _service(probe: str, *args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and probe
        [sys.executable, str(PROBES / probe), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(SHARED)])},
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line:
        process.kill()
        raise SystemExit("a local stack service failed to start")
    return process, line


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all its threads, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class BulkStack:
    """moto and the Gateway emulator in processes of their own; the function in worker processes."""

    def __init__(self) -> None:
        import requests

        from hdr_ingest.destinations.hdruk.schema_pack import default_pack_dir
        from local_stack.aws import AwsOptions, provision
        from local_stack.stack import LOCAL_APP_ID, LOCAL_CLIENT_ID

        self.requests = requests
        self.services: list[subprocess.Popen[str]] = []
        moto, moto_url = _service("moto_server.py")
        self.services.append(moto)
        emulator, urls = _service("gateway_server.py", LOCAL_APP_ID, LOCAL_CLIENT_ID)
        self.services.append(emulator)
        gateway_url, self.emulator_root = urls.split()
        self.aws = provision(
            moto_url,
            AwsOptions("hgi-bench", visibility_timeout=120, max_receive_count=5),
            app_id=LOCAL_APP_ID,
            client_id=LOCAL_CLIENT_ID,
        )
        self.env = self.aws.function_env(
            gateway_url, log_level="ERROR", schema_pack_dir=str(default_pack_dir().resolve())
        )
        self.s3 = self.aws.client("s3")
        self.sqs = self.aws.client("sqs")

    def stop(self) -> None:
        for service in self.services:
            try:
                service.communicate(timeout=15)  # closes stdin: the service stops
            except subprocess.TimeoutExpired:
                service.kill()

    def stack_cpu(self) -> tuple[float, float]:
        """CPU seconds of moto and of the Gateway emulator so far."""
        moto, emulator = self.services
        return _cpu_seconds(moto.pid), _cpu_seconds(emulator.pid)

    def set_latency(self, latency_ms: float) -> None:
        answer = self.requests.post(
            f"{self.emulator_root}/_emulator/faults", json={"latency_ms": latency_ms}, timeout=10
        )
        answer.raise_for_status()

    def upload(self, documents: dict[str, bytes]) -> None:
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(
                    lambda item: self.s3.put_object(Bucket=self.aws.bucket, Key=item[0], Body=item[1]),
                    documents.items(),
                )
            )

    def queued(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.aws.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def statuses(self, keys: list[str]) -> tuple[dict[str, int], float]:
        """How many of ``keys`` have each ledger status, and the latest ``updated_at`` (epoch seconds)."""
        from hdr_ingest.adapters.aws.dynamodb_ledger import DynamoDbLedger

        ledger = DynamoDbLedger(self.aws.ledger_table())
        counts: dict[str, int] = {}
        latest = 0.0
        for key in keys:
            entry = ledger.get(f"s3://{self.aws.bucket}/{key}")
            status = entry.status.value if entry else "MISSING"
            counts[status] = counts.get(status, 0) + 1
            if entry is not None:
                stamp = datetime.datetime.fromisoformat(entry.updated_at.replace("Z", "+00:00")).timestamp()
                latest = max(latest, stamp)
        return counts, latest

    def run(self, documents: dict[str, bytes], instances: int, latency_ms: float) -> BulkResult:
        """The instances start polling the empty queue; then the clock starts, the files are uploaded (8
        concurrent PUTs from one client, as a sync tool would) and processed as they arrive; it stops at the
        last final ledger status (the latest ``updated_at`` once the queue is empty)."""
        self.set_latency(latency_ms)
        config = {"env": self.env, "queue_url": self.aws.queue_url, "queue_arn": self.aws.queue_arn}
        config["region"] = self.aws.region
        workers = [worker("scripts.bench.bulk_worker", config) for _ in range(instances)]
        try:
            for process in workers:
                assert process.stdout is not None
                if marked(process.stdout) != "ready":
                    raise SystemExit("a bulk worker failed to start")
            for process in workers:
                tell(process, "go")
            stack_cpu0 = self.stack_cpu()
            started = time.time()
            self.upload(documents)
            uploaded = time.time()
            self._drain(workers, deadline=time.monotonic() + 60 + len(documents) * 2)
            stack_cpu = tuple(now - then for now, then in zip(self.stack_cpu(), stack_cpu0, strict=True))
            results = []
            for process in workers:
                tell(process, "stop")
                assert process.stdout is not None
                results.append(json.loads(marked(process.stdout)))
                process.wait(timeout=30)
        finally:
            for process in workers:
                if process.poll() is None:
                    process.kill()
        statuses, finished = self.statuses(list(documents))
        return BulkResult(
            files=len(documents),
            seconds=max(finished, uploaded) - started,
            worker_cpu=sum(r["cpu"] for r in results),
            stack_cpu=stack_cpu,
            statuses=statuses,
            failures=sum(r["failures"] for r in results),
            handler=sum(r["handler"] for r in results),
            gateway=sum(r["gateway"] for r in results),
            aws=sum(r["aws"] for r in results),
            receive=sum(r["receive"] for r in results),
            upload_seconds=uploaded - started,
            gateway_calls=sum(r["gateway_calls"] for r in results),
            last_first_pass=max((r["last_ok"] for r in results if r["last_ok"]), default=started) - started,
        )

    def _drain(self, workers: list[subprocess.Popen[str]], deadline: float) -> None:
        """Until the queue is empty. Each look at the queue costs moto a pass over every message: once a second."""
        while self.queued() > 0 and time.monotonic() < deadline:
            if any(process.poll() is not None for process in workers):
                raise SystemExit("a bench worker died; run it alone to see why")
            time.sleep(1.0)


def worker(module: str, config: dict[str, Any]) -> subprocess.Popen[str]:
    """A worker process (``python -m module``, one Lambda instance) given its ``config`` on its first line."""
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", module], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    tell(process, json.dumps(config))
    return process


def tell(process: subprocess.Popen[str], line: str) -> None:
    assert process.stdin is not None
    process.stdin.write(line + "\n")
    process.stdin.flush()
