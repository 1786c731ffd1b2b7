"""One warm Lambda instance of the handler section (``python -m scripts.bench.handler_worker``): for each case, our
handler and a bare-minimum handler (get the object, parse it, POST it or PUT it when changed, with the same schema
parameters, and write one ledger item; no validation, no lease, no lookup), one object at a time, interleaved, over
the same moto server and Gateway emulator; the bare minimum that also reads the record back once ("bare+read": the
GET issue 22 asks for, parsed, not compared); and our handler on a route with the read-back off ("noverify", the
route option ``verify: false``). Each publish's AWS and HTTP calls are counted and timed (calls.py). Uploads and SQS
receives are not timed. Reads its config (JSON) on stdin's first line; prints the results (JSON) on one marked line."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar
from urllib.parse import quote, unquote_plus

from .calls import Calls, instrument
from .common import MARK
from .documents import exported

SCHEMA_PARAMS = {"input_schema": "HDRUK", "input_version": "4.0.0"}
PREFIX = {
    "ours": "incoming/",
    "nolease": "incoming/",
    "bare": "incoming/",
    "bare+read": "incoming/",
    "noverify": "incoming/noverify/",
}

Publish = Callable[[dict[str, Any], str, Any], tuple[float, Any]]


class Worker:
    """The clients of one instance, our handler, and the bare-minimum one."""

    def __init__(self, config: dict[str, Any]) -> None:
        import boto3
        import requests

        from local_stack.poller import load_handler

        self.config = config
        self.handler = load_handler()
        session = boto3.session.Session()
        self.s3, self.sqs, self.dynamodb = session.client("s3"), session.client("sqs"), session.client("dynamodb")
        self.http = requests.Session()
        self.gateway = config["env"]["GATEWAY_URL"].rstrip("/") + "/integrations/datasets"
        self.datasets = config["env"]["GATEWAY_URL"].rstrip("/") + "/datasets"  # the read-back's public route
        self.headers = {"x-application-id": config["app_id"], "x-client-id": config["client_id"]}
        self.headers["Content-Type"] = "application/json"

    def delivered(self, key: str, body: bytes) -> dict[str, Any]:
        """Upload ``body`` as ``key`` (not timed) and take the S3 event's message off the queue."""
        self.s3.put_object(Bucket=self.config["bucket"], Key=key, Body=body)
        while True:
            answer = self.sqs.receive_message(
                QueueUrl=self.config["queue_url"], MaxNumberOfMessages=1, WaitTimeSeconds=5, AttributeNames=["All"]
            )
            for message in answer.get("Messages", []):
                self.sqs.delete_message(QueueUrl=self.config["queue_url"], ReceiptHandle=message["ReceiptHandle"])
                if quote(key, safe="") in message["Body"]:  # S3 events carry the key URL-encoded
                    return dict(message)

    def ours(self, message: dict[str, Any], key: str, state: Any) -> tuple[float, Any]:
        from local_stack.poller import FakeLambdaContext, build_sqs_event

        event = build_sqs_event([message], self.config["queue_arn"], self.config["region"])
        started = time.perf_counter()
        response = self.handler(event, FakeLambdaContext(timeout_s=900))
        elapsed = time.perf_counter() - started
        if response and response.get("batchItemFailures"):
            raise SystemExit(f"our handler failed a record: {response}")
        return elapsed, None

    def without_lease(self, message: dict[str, Any], key: str, state: Any) -> tuple[float, Any]:
        """Our handler with the lease taken in memory instead of DynamoDB (:class:`MemoryLease`): what a publish
        costs without the lease write, every other call made as usual."""
        with MemoryLease.installed():
            return self.ours(message, key, state)

    def bare(self, message: dict[str, Any], key: str, dataset_id: Any, read: bool = False) -> tuple[float, Any]:
        """The bare minimum; with ``read``, also the one read-back issue 22 asks for: GET the dataset and parse it
        (no comparison), before the ledger write."""
        started = time.perf_counter()
        record = json.loads(message["Body"])["Records"][0]["s3"]
        obj = self.s3.get_object(Bucket=record["bucket"]["name"], Key=unquote_plus(record["object"]["key"]))
        payload = {"metadata": {"metadata": json.loads(obj["Body"].read())}, "status": "ACTIVE"}
        if dataset_id is None:
            payload["datasetid"] = key
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        url, method = (self.gateway, "POST") if dataset_id is None else (f"{self.gateway}/{dataset_id}", "PUT")
        # The same request as ours (the schema named, so the Gateway stand-in does the same work for both).
        answer = self.http.request(method, url, params=SCHEMA_PARAMS, data=data, headers=self.headers, timeout=60)
        answer.raise_for_status()
        found = dataset_id if dataset_id is not None else int(answer.json()["data"])
        if read:
            held = self.http.get(f"{self.datasets}/{found}", headers=self.headers, timeout=60)
            held.raise_for_status()
            json.loads(held.content)
        source = f"s3://{self.config['bucket']}/{key}"
        item = {"source": {"S": source}, "status": {"S": "PUBLISHED"}, "dataset_id": {"N": str(found)}}
        self.dynamodb.put_item(TableName=self.config["table"], Item=item)
        return time.perf_counter() - started, found


class MemoryLease:
    """The ledger's lease write replaced, for the "nolease" runner only, by a lease taken in this process: it
    answers what the UpdateItem would (the entry this runner last recorded for the source, or none: a first
    lease), while the outcome's write still goes to DynamoDB. Nothing else of the handler changes."""

    entries: ClassVar[dict[str, Any]] = {}

    @classmethod
    @contextmanager
    def installed(cls) -> Iterator[None]:
        from hdr_ingest.core.ledger import Lease
        from hdr_ingest.entry.runtime import get_runtime

        ledger: Any = get_runtime().pipeline.use_cases.leases.ledger  # the DynamoDB ledger the recorder shares
        acquire, record = ledger.acquire, ledger.record

        def in_memory(source: str, owner: str, until_epoch: float, now_epoch: float) -> Any:
            previous = cls.entries.get(source)
            return Lease(owner, previous, first=previous is None)

        def recorded(entry: Any, owner: str | None = None) -> None:
            record(entry, None)  # no lease item to hold: the write is unconditional
            cls.entries[entry.source] = entry

        ledger.acquire, ledger.record = in_memory, recorded
        try:
            yield
        finally:
            ledger.acquire, ledger.record = acquire, record


def run_case(worker: Worker, calls: Calls, case: dict[str, Any], run: str) -> dict[str, Any]:
    """``case["count"]`` rounds (plus one warm-up, not counted) of a create then a changed re-export, for each of
    ``case["runners"]``, interleaved; each publish's seconds and calls."""

    def bare_read(message: dict[str, Any], key: str, state: Any) -> tuple[float, Any]:
        return worker.bare(message, key, state, read=True)

    publish: dict[str, Publish] = {
        "ours": worker.ours,
        "nolease": worker.without_lease,
        "noverify": worker.ours,
        "bare": worker.bare,
        "bare+read": bare_read,
    }
    samples: dict[str, list[dict[str, Any]]] = {}
    size = 0
    for index in range(case["count"] + 1):
        for runner in case["runners"]:
            name = f"handler-{run}-{runner}-{case['size']}-{int(case['encoded'])}-{index}"
            key = f"{PREFIX[runner]}{name}.json"
            state = None
            for revision, what in enumerate(("create", "changed")):
                body = exported(case["size"], name, revision, case["encoded"])
                size = len(body)
                message = worker.delivered(key, body)
                calls.start()
                seconds, state = publish[runner](message, key, state)
                if index:
                    samples.setdefault(f"{runner} {what}", []).append({"s": seconds, "calls": calls.taken()})
    return {"label": case["label"], "bytes": size, **{what: summary(runs) for what, runs in samples.items()}}


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median seconds per publish, and per call: count per publish and median seconds."""
    per_call: dict[str, list[float]] = {}
    for run in runs:
        for name, seconds in run["calls"]:
            per_call.setdefault(name, []).append(seconds)
    return {
        "median": statistics.median(run["s"] for run in runs),
        "calls": {name: [len(times) / len(runs), statistics.median(times)] for name, times in per_call.items()},
    }


def main() -> int:
    config = json.loads(sys.stdin.readline())
    os.environ.update(config["env"])
    worker = Worker(config)
    calls = instrument()
    run = uuid.uuid4().hex[:6]
    results = [run_case(worker, calls, case, run) for case in config["cases"]]
    print(MARK + json.dumps(results), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
