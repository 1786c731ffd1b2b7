"""Run the Gateway emulator in the foreground.

Usage::

    python -m local_stack.gateway_emulator --port 8765 --app APP_ID:CLIENT_ID[:TEAM_ID]
        [--db FILE] [--schemata DIR] [--latency-ms N] [--error-rate F] [--timeout-rate F]
        [--timeout-after S] [--throttle-per-minute N] [--integrations-removed 404|410] [--legacy-headers]
        [--no-sanitize] [--seed N]

Prints the base URL (``http://127.0.0.1:<port>/api/v1``) on the first line of stdout, then serves until
SIGINT/SIGTERM.  ``--port 0`` picks a free port.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from .server import App, GatewayEmulator
from .traser_node import NodeTraser, TraserUnavailable


def _parse_app(text: str) -> App:
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise argparse.ArgumentTypeError("expected APP_ID:CLIENT_ID or APP_ID:CLIENT_ID:TEAM_ID")
    team = 1
    if len(parts) == 3:
        try:
            team = int(parts[2])
        except ValueError as exc:
            raise argparse.ArgumentTypeError("TEAM_ID must be an integer") from exc
    return App(app_id=parts[0], client_id=parts[1], team_id=team)


def load_schema_pack(directory: Path) -> NodeTraser:
    """TRASER's validator (Ajv through Node) over the pack in ``directory`` (``available.json`` and
    ``<name>/<version>/schema.json``); started with the emulator."""
    return NodeTraser(directory)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m local_stack.gateway_emulator",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--db", type=Path, default=None, help="SQLite file (default: in memory)")
    parser.add_argument(
        "--app",
        type=_parse_app,
        action="append",
        default=[],
        required=True,
        help="APP_ID:CLIENT_ID[:TEAM_ID], repeatable",
    )
    parser.add_argument(
        "--schemata",
        type=Path,
        default=None,
        help="schema directory with available.json, judged by TRASER's Ajv through Node (default: accept any object)",
    )
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--timeout-rate", type=float, default=0.0)
    parser.add_argument(
        "--timeout-after",
        type=float,
        default=None,
        help="seconds a 'timeout' fault holds the request before answering 500 (default 2)",
    )
    parser.add_argument("--throttle-per-minute", type=int, default=None)
    parser.add_argument(
        "--integrations-removed",
        type=int,
        choices=(404, 410),
        default=None,
        help="answer every /api/v1/integrations/datasets request this status, as if the route were removed",
    )
    parser.add_argument("--legacy-headers", action="store_true", help="accept app_id/client_id headers instead")
    parser.add_argument("--no-sanitize", action="store_true", help="skip trim/empty->null/htmlentities")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    validator = load_schema_pack(args.schemata) if args.schemata is not None else None
    emulator = GatewayEmulator(
        apps=args.app,
        validator=validator,
        db_path=args.db,
        host=args.host,
        port=args.port,
        sanitize=not args.no_sanitize,
        legacy_headers=args.legacy_headers,
        seed=args.seed,
    )
    emulator.faults.set_latency_ms(args.latency_ms)
    emulator.faults.set_rates(args.error_rate, args.timeout_rate)
    if args.timeout_after is not None:
        emulator.faults.set_timeout_after(args.timeout_after)
    emulator.faults.set_throttle(args.throttle_per_minute)
    emulator.faults.remove_integrations(args.integrations_removed)

    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        url = emulator.start()
    except TraserUnavailable as exc:
        print(exc, file=sys.stderr)
        return 2
    print(url, flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
