"""The `hdr-ingest` argument parser and entry point."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hdr_ingest_cli
from hdr_ingest_cli.common import UsageError
from hdr_ingest_cli.drop import cmd_drop
from hdr_ingest_cli.invoke import cmd_invoke
from hdr_ingest_cli.rebuild import cmd_rebuild_ledger
from hdr_ingest_cli.redrive import cmd_redrive
from hdr_ingest_cli.stack import add_aws_options
from hdr_ingest_cli.status import cmd_status
from hdr_ingest_cli.validate import cmd_validate
from hdr_ingest_cli.validate_other import OTHER_KINDS
from hdr_ingest_cli.verify import add_verify

__all__ = ["build_parser", "main", "named_resource_missing"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hdr-ingest", description=hdr_ingest_cli.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def _validate(sub: Any) -> None:
    p = sub.add_parser("validate", help="check metadata files against the HDR UK schemas (offline)")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="JSON files, or directories of them")
    p.add_argument("--schema", help='validate against this schema, e.g. "HDRUK 4.0.0" (default: detect)')
    p.add_argument("--schema-pack", type=Path, help="schema pack directory (default: the bundled pack)")
    p.add_argument(
        "--id-pointer",
        help="JSON pointer to a catalogue element's identifier, as CATALOGUE_ID_POINTER "
        "(default: /identifier, /required/gatewayPid or /id)",
    )
    p.add_argument(
        "--mode",
        choices=["gateway", "strict"],
        default="gateway",
        help="gateway: the verdict the Gateway will reach, after its input pre-processing (default, as the "
        "function); strict: the document as sent",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--kind",
        choices=["hdruk", *OTHER_KINDS],
        help="whose rules: hdruk, or unis, qrvey, aep (their own schemas, offline); default: the kind of the route "
        "--prefix falls under, else hdruk",
    )
    p.add_argument(
        "--prefix",
        help="the key prefix the files would be dropped under, e.g. incoming/unis/: the running stack's route for "
        "it gives the kind and its options",
    )
    p.add_argument("--options", help='a route\'s options as JSON for --kind, e.g. \'{"schema": "2012"}\' for UNIS')
    p.set_defaults(func=cmd_validate)


def _drop(sub: Any) -> None:
    p = sub.add_parser("drop", help="upload metadata files to the bucket's incoming/ prefix (--wait: and follow them)")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="JSON files, or directories of them")
    p.add_argument("--bucket", help="the metadata bucket (default: the local stack's)")
    p.add_argument("--prefix", default="incoming/", help="key prefix (default: incoming/)")
    p.add_argument("--force", action="store_true", help="upload even where the local stack watches no prefix")
    p.add_argument(
        "--wait",
        action="store_true",
        help="follow the files (PENDING included) to their final outcomes and list them; exit 0 when every "
        "record ended CREATED/UPDATED/UNCHANGED/ARCHIVED, 1 when any ended INVALID/REJECTED/FAILED, 3 when some "
        "were not final at --timeout",
    )
    p.add_argument("--timeout", type=float, default=300.0, help="seconds --wait waits at most (default 300)")
    p.add_argument("--table", help="the ledger table --wait reads (default: the local stack's)")
    add_aws_options(p)
    p.set_defaults(func=cmd_drop)


def _status(sub: Any) -> None:
    p = sub.add_parser("status", help="the ledger: what became of every source object")
    p.add_argument("source", nargs="?", help="one source (s3://bucket/key, a key, or part of one) in detail")
    p.add_argument("--failed", action="store_true", help="only INVALID, REJECTED, FAILED and RETRYING entries")
    p.add_argument("--table", help="the ledger table (default: the local stack's)")
    p.add_argument("--json", action="store_true", help="the ledger items as JSON")
    p.add_argument(
        "--wide",
        action="store_true",
        help="every column, the first error in one (below 150 columns the default puts it under its row)",
    )
    add_aws_options(p)
    p.set_defaults(func=cmd_status)


def _redrive(sub: Any) -> None:
    p = sub.add_parser("redrive", help="move dead-letter messages back to the ingest queue for another try")
    p.add_argument("--dlq-url", help="the dead-letter queue (default: the local stack's)")
    p.add_argument("--queue-url", help="the ingest queue (default: the local stack's)")
    p.add_argument("--max-messages", type=int, help="move at most this many (by receive, send and delete)")
    p.add_argument("--no-wait", action="store_true", help="do not wait for a move task to finish")
    add_aws_options(p)
    p.set_defaults(func=cmd_redrive)


def _rebuild_ledger(sub: Any) -> None:
    p = sub.add_parser("rebuild-ledger", help="rebuild a lost ledger from the Gateway (lookup by datasetid)")
    p.add_argument("--bucket", help="the metadata bucket (default: the local stack's)")
    p.add_argument("--prefix", default="incoming/", help="key prefix (default: incoming/)")
    p.add_argument("--table", help="the ledger table (default: the local stack's)")
    p.add_argument("--secret-id", help="the Gateway credentials secret (default: the local stack's)")
    p.add_argument("--gateway-url", help="Gateway API base URL (default: the local stack's, else HDR UK's dev API)")
    p.add_argument("--header-style", choices=["x-headers", "legacy"], help="how credentials are sent")
    p.add_argument("--id-pointer", help="JSON pointer to a catalogue element's identifier (CATALOGUE_ID_POINTER)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_aws_options(p)
    p.set_defaults(func=cmd_rebuild_ledger)


def _invoke(sub: Any) -> None:
    p = sub.add_parser(
        "invoke",
        help="run the function on an event file in this process (like sam local invoke), against the "
        "running local stack when there is one",
    )
    p.add_argument("event", type=Path, help="event JSON, e.g. events/sqs-s3-put.json")
    p.add_argument("--env-file", type=Path, help="environment in `sam local invoke --env-vars` format")
    p.add_argument("--function", default="IngestFunction", help="logical id in the env file (IngestFunction)")
    p.add_argument("--timeout", type=float, default=60.0, help="the function's timeout in seconds (60)")
    p.add_argument(
        "--verbose",
        action="store_true",
        help="also the function's CloudWatch metric lines and library warnings (as LOG_LEVEL=DEBUG)",
    )
    p.add_argument(
        "--wait-timeout",
        type=float,
        default=300.0,
        help="seconds to keep delivering the event again, as SQS would, while a record is PENDING or RETRYING "
        "(default 300; exit 3 if still so)",
    )
    p.add_argument("--state", type=Path, help="local stack state file (default: the running stack's)")
    p.add_argument("--region", help=argparse.SUPPRESS)
    p.add_argument(
        "--aws",
        action="store_true",
        help="run against the env file's AWS resources as they are, even when a local stack is running",
    )
    p.set_defaults(func=cmd_invoke, profile=None, endpoint_url=None)


COMMANDS: tuple[Callable[[Any], None], ...] = (
    _validate,
    _drop,
    _status,
    _redrive,
    _rebuild_ledger,
    add_verify,
    _invoke,
)
"""Each command's arguments, in the order ``--help`` lists them."""


MISSING_CODES = frozenset({"ResourceNotFoundException", "NoSuchBucket", "AWS.SimpleQueueService.NonExistentQueue"})
"""AWS error codes for a table, bucket or queue that does not exist: a name the user gave (or a stale state
file), reported in one line rather than a traceback."""


def named_resource_missing(exc: BaseException) -> str | None:
    """One line for an AWS error that says a named resource does not exist; None for anything else."""
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return None
    error = exc.response.get("Error", {})
    if error.get("Code") not in MISSING_CODES:
        return None
    return f"{error.get('Message') or error.get('Code')} (check --table, --bucket or the queue URLs)"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
        sys.stdout.flush()
    except UsageError as exc:
        print(f"hdr-ingest {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`hdr-ingest status | head`): stop quietly, as `cat` would.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a writer the pipe closed on
    except Exception as exc:
        missing = named_resource_missing(exc)
        if missing is None:
            raise
        print(f"hdr-ingest {args.command}: error: {missing}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    raise SystemExit(main())
