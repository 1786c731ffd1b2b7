"""One Lambda instance of the bulk section (``python -m scripts.bench.bulk_worker``): the real handler behind an SQS
poller, until told to stop. Reads its config (JSON) on the first line of stdin, says ready, waits for "go", then
polls until "stop", and prints what it did (records, failures, CPU, seconds in the handler, on the Gateway, on AWS)."""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from typing import Any

from .calls import AWS, GATEWAY, instrument
from .common import MARK


def _redelivered(message: dict[str, Any]) -> bool:
    return int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1")) > 1


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _poll(poller: Any, stop: threading.Event) -> dict[str, float]:
    records = failures = 0
    handler_s = receive_s = 0.0
    last = time.time()
    last_ok = 0.0  # the last batch that was a first delivery and failed no record
    while not stop.is_set():
        polled = time.perf_counter()
        messages = poller.receive()
        receive_s += time.perf_counter() - polled
        if messages:
            report = poller.invoke(messages)
            records += report.size
            failures += len(report.failed_ids)
            handler_s += report.duration_s
            last = time.time()
            if not report.failed_ids and not any(_redelivered(m) for m in messages):
                last_ok = last
    return {
        "records": records,
        "failures": failures,
        "last": last,
        "last_ok": last_ok,
        "handler": handler_s,
        "receive": receive_s,
    }


def main() -> int:
    config = json.loads(sys.stdin.readline())
    os.environ.update(config["env"])
    import boto3

    from local_stack.poller import SqsPoller, load_handler

    handler = load_handler()
    calls = instrument()
    sqs = boto3.session.Session().client("sqs")
    poller = SqsPoller(sqs, config["queue_url"], config["queue_arn"], config["region"], handler=handler, wait_time_s=1)
    from hdr_ingest.entry.runtime import get_runtime

    get_runtime()  # warm: the instance's cold start (settings, clients) is not part of the throughput
    stop = threading.Event()
    print(f"{MARK}ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 1

    def wait_for_stop() -> None:
        sys.stdin.readline()
        stop.set()

    threading.Thread(target=wait_for_stop, daemon=True).start()
    cpu0 = _cpu()
    calls.reset_totals()
    result = _poll(poller, stop)
    result.update(cpu=_cpu() - cpu0, gateway=calls.totals[GATEWAY], aws=calls.totals[AWS])
    result.update(gateway_calls=calls.counts[GATEWAY])
    print(MARK + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
