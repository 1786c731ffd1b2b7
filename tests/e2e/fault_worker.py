"""One "Lambda container" for the fault-injection run: an SqsPoller running the real handler in its own process.

    python -m tests.e2e.fault_worker CONFIG.json

The test starts several of these (Lambda's concurrency), kills them with SIGKILL in the middle of a batch and
starts new ones. ``CONFIG.json`` holds the function's environment and where the queue is. Each invocation is
journalled to ``journal`` as two JSON lines, ``{"start": n, "size": k}`` before the handler runs and
``{"end": n, "failed": f, "error": ...}`` after (each with its time ``t``), so the test knows which batches a kill
interrupted and how long each invocation took.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any


def main(config_path: str) -> int:
    config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    # The function's environment first: Powertools reads its settings when the handler is imported.
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(config["env"])

    import boto3
    from botocore.config import Config

    from local_stack.poller import SqsPoller, load_handler

    handler = load_handler()
    journal = Path(config["journal"]).open("a", encoding="utf-8", buffering=1)  # open for the process's lifetime
    lock = threading.Lock()
    counter = iter(range(1, 1 << 30))

    def journalled(event: dict[str, Any], context: Any) -> Any:
        with lock:
            number = next(counter)
            journal.write(json.dumps({"start": number, "size": len(event["Records"]), "t": time.time()}) + "\n")
        error = None
        response: Any = None
        try:
            response = handler(event, context)
            return response
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            failed = len((response or {}).get("batchItemFailures", [])) if isinstance(response, dict) else 0
            with lock:
                journal.write(json.dumps({"end": number, "failed": failed, "error": error, "t": time.time()}) + "\n")

    sqs = boto3.session.Session().client(
        "sqs",
        endpoint_url=config["env"]["AWS_ENDPOINT_URL"],
        region_name=config["region"],
        config=Config(retries={"max_attempts": 3, "mode": "standard"}),
    )
    poller = SqsPoller(
        sqs,
        config["queue_url"],
        config["queue_arn"],
        config["region"],
        handler=journalled,
        batch_size=int(config.get("batch_size", 10)),
        wait_time_s=int(config.get("wait_time_s", 1)),
        batching_window_s=float(config.get("batching_window_s", 0)),
        timeout_s=float(config["timeout_s"]),
        function_name=config.get("function_name", "hgi-faults-IngestFunction"),
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    poller.start()
    print("ready", flush=True)
    stopping.wait()
    poller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
