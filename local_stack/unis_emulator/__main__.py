"""Run the UNIS emulator in the foreground.

    python -m local_stack.unis_emulator [--port 8888] [--schema 2015|2012] [--latency-ms N] [--error-rate F]
        [--timeout-rate F] [--timeout-after S] [--throttle-per-minute N] [--seed N]

Prints the base URL (``http://127.0.0.1:<port>``; the collection is ``/metadata``) on the first line of stdout,
then serves until SIGINT/SIGTERM. Faults can be changed while it runs: ``POST /_emulator/faults``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from .server import UnisEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_stack.unis_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--schema", choices=("2015", "2012"), default="2015")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--timeout-rate", type=float, default=0.0)
    parser.add_argument("--timeout-after", type=float, default=2.0)
    parser.add_argument("--throttle-per-minute", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    emulator = UnisEmulator(schema=args.schema, host=args.host, port=args.port, seed=args.seed)
    emulator.configure_faults(
        {
            "latency_ms": args.latency_ms,
            "error_rate": args.error_rate,
            "timeout_rate": args.timeout_rate,
            "timeout_after": args.timeout_after,
            "throttle_per_minute": args.throttle_per_minute,
        }
    )
    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    with emulator:
        print(emulator.base_url, flush=True)
        done.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
