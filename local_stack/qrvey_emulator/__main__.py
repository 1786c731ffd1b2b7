"""Run the Qrvey emulator on its own: ``python -m local_stack.qrvey_emulator --port 8090 --api-key KEY``."""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType

from local_stack.qrvey_emulator import QrveyEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_stack.qrvey_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    parser.add_argument("--api-key", action="append", default=[], help="an accepted x-api-key (repeatable)")
    parser.add_argument("--load-steps", type=int, default=1, help="reads that still show LOADING (default 1)")
    parser.add_argument("--fail-table", action="append", default=[], help="TABLE=REASON: loads reading TABLE fail")
    args = parser.parse_args(argv)
    emulator = QrveyEmulator(args.api_key or ["qrvey-local-api-key"], host=args.host, port=args.port)
    emulator.set_load_steps(args.load_steps)
    for item in args.fail_table:
        table, _, reason = item.partition("=")
        emulator.fail_loads(reason or f"Table {table} does not exist", table=table)
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    with emulator:
        print(f"Qrvey emulator at {emulator.base_url} (admin {emulator.root_url}/_emulator/datasets)", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
