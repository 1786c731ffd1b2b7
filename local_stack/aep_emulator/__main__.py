"""Run the AEP emulator in the foreground.

Usage::

    python -m local_stack.aep_emulator [--port 8766] [--client CLIENT_ID:CLIENT_SECRET] [--org ORG@AdobeOrg]
        [--sandbox prod] [--never-settle]

Prints the route to use (its ``url`` and ``options``, with the emulator's default XDM schema) as JSON on the
first line of stdout, then serves until SIGINT/SIGTERM. ``--port 0`` picks a free port.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from types import FrameType

from .server import DEFAULT_SCHEMA_ID, AepEmulator
from .state import AepClient


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_stack.aep_emulator")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--client", default="emulated-client:emulated-secret-0123456789")
    parser.add_argument("--org", default="EMULATED0123456789@AdobeOrg")
    parser.add_argument("--sandbox", default="prod")
    parser.add_argument("--never-settle", action="store_true", help="batches stay loading (to see them fail)")
    args = parser.parse_args(argv)
    client_id, _, client_secret = args.client.partition(":")
    emulator = AepEmulator([AepClient(client_id, client_secret)], args.org, args.sandbox, port=args.port)
    emulator.never_settle(args.never_settle)
    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    with emulator:
        options = {
            "imsUrl": emulator.ims_url,
            "orgId": args.org,
            "sandbox": args.sandbox,
            "schemaId": DEFAULT_SCHEMA_ID,
            "datasetName": "HGI local",
        }
        print(json.dumps({"kind": "aep", "url": emulator.base_url, "options": options}), flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
