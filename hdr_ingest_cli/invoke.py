"""`hdr-ingest invoke`: the handler on an event file in this process, as `sam local invoke` runs it.

With a local stack running (`make run`), the event runs against it with no AWS account: the stack's names
replace the env file's AWS resources, the event's bucket becomes the stack's bucket, and an object the event
names that is not there yet is uploaded from `local_stack/samples/` when a sample has its file name. While a
record is PENDING or RETRYING the event is delivered again, as SQS would, until it is final or `--wait-timeout`
passes. The exit code is 1 when an object (or a catalogue element) ends INVALID, REJECTED or FAILED (or the
function fails), 3 when one is still PENDING or RETRYING at the end, else 0.
`--aws` runs against the env file's resources as they are (real AWS, your AWS configuration)."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from hdr_ingest.core.outcome import Status
from hdr_ingest_cli.common import EXIT_FAILED, EXIT_PENDING, FAILURES, UsageError
from hdr_ingest_cli.stack import Aws, aws_for, find_state
from local_stack.terminal import WithoutMetricLines

if TYPE_CHECKING:  # imported where it is used: `validate` starts without it
    from local_stack.state import StackState

__all__ = ["ObjectInfo", "WithoutMetricLines", "cmd_invoke", "event_objects", "load_env_file", "local_env", "map_event"]

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "local_stack" / "samples"
SAMPLE_WAIT_S = 60.0
REDELIVER_S = 1.0  # pause before delivering the event again while a record is unfinished
UNFINISHED = frozenset({Status.PENDING, Status.RETRYING})
# What the local stack decides, whatever the env file says: its resources, endpoint, credentials and region.
STACK_KEYS = frozenset(
    {"GATEWAY_URL", "GATEWAY_SECRET_ID", "LEDGER_TABLE", "DLQ_URL", "SCHEMA_PACK_DIR", "ALLOW_LOCAL_DESTINATIONS"}
)


def load_env_file(path: Path, function: str) -> dict[str, str]:
    """``sam local invoke --env-vars`` format: ``{"Parameters": {...}, "<LogicalId>": {...}}``, or a flat map."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a JSON object")
    if all(isinstance(v, dict) for v in data.values()):
        if data and function not in data and "Parameters" not in data:
            raise UsageError(f"{path} has no {function!r} entry (it has {', '.join(sorted(data))})")
        merged = {**data.get("Parameters", {}), **data.get(function, {})}
    else:
        merged = data
    return {str(k): "" if v is None else str(v) for k, v in merged.items()}


# --- the event's objects ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectInfo:
    """An object as the local stack's bucket holds it: what the event should say about it."""

    bucket: str
    size: int | None = None  # None: not there; the event keeps what it says
    etag: str | None = None
    version_id: str | None = None


Visit = Callable[[str, str], ObjectInfo | None]


def _s3_record(record: dict[str, Any], visit: Visit) -> dict[str, Any]:
    s3 = record["s3"]
    info = visit(str(s3["bucket"]["name"]), unquote_plus(str(s3["object"]["key"])))
    if info is None:
        return record
    obj = {**s3["object"]} if info.size is None else {**s3["object"], "size": info.size, "eTag": info.etag}
    obj.pop("versionId", None)
    if info.version_id:
        obj["versionId"] = info.version_id
    bucket = {**s3["bucket"], "name": info.bucket, "arn": f"arn:aws:s3:::{info.bucket}"}
    return {**record, "s3": {**s3, "bucket": bucket, "object": obj}}


def _sqs_record(record: dict[str, Any], visit: Visit) -> dict[str, Any]:
    try:
        body = json.loads(record["body"])
    except (TypeError, ValueError):
        return record
    mapped = json.dumps(map_event(body, visit), separators=(",", ":"))
    digest = hashlib.md5(mapped.encode(), usedforsecurity=False).hexdigest()
    return {**record, "body": mapped, "md5OfBody": digest}


def _eventbridge(event: dict[str, Any], visit: Visit) -> dict[str, Any]:
    detail = event["detail"]
    info = visit(str(detail["bucket"]["name"]), str(detail["object"]["key"]))
    if info is None:
        return event
    obj = {**detail["object"]} if info.size is None else {**detail["object"], "size": info.size, "etag": info.etag}
    obj.pop("version-id", None)
    if info.version_id:
        obj["version-id"] = info.version_id
    return {**event, "detail": {**detail, "bucket": {**detail["bucket"], "name": info.bucket}, "object": obj}}


def map_event(event: Any, visit: Visit) -> Any:
    """``event`` (S3 notification, SQS batch of them, EventBridge ``Object Created``) with each object as
    ``visit(bucket, key)`` describes it (``None``: left as it is). The event is not modified."""
    if not isinstance(event, dict):
        return event
    if isinstance(event.get("Records"), list):
        records = []
        for record in event["Records"]:
            if isinstance(record, dict) and record.get("eventSource") == "aws:sqs":
                records.append(_sqs_record(record, visit))
            elif isinstance(record, dict) and isinstance(record.get("s3"), dict):
                records.append(_s3_record(record, visit))
            else:
                records.append(record)
        return {**event, "Records": records}
    if event.get("source") == "aws.s3" and isinstance(event.get("detail"), dict):
        return _eventbridge(event, visit)
    return event


def event_objects(event: Any) -> list[tuple[str, str]]:
    """``(bucket, key)`` of every object the event announces, in order."""
    found: list[tuple[str, str]] = []

    def visit(bucket: str, key: str) -> None:
        found.append((bucket, key))

    map_event(event, visit)
    return found


# --- against the local stack ------------------------------------------------------------------------------


def local_env(state: StackState, file_env: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The stack's function environment plus the env file's other settings; and the env file's names it replaced."""
    stack_env = state.function_env
    ours = {k for k in file_env if k in STACK_KEYS or k.startswith("AWS_")}
    replaced = sorted(k for k in ours if file_env[k] and file_env[k] != stack_env.get(k))
    return {**stack_env, **{k: v for k, v in file_env.items() if k not in ours}}, replaced


def _describe(s3: Any, bucket: str, key: str) -> ObjectInfo | None:
    from botocore.exceptions import ClientError

    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError:
        return None
    return ObjectInfo(bucket, int(head["ContentLength"]), str(head["ETag"]).strip('"'), head.get("VersionId"))


def _wait_processed(aws: Aws, table: str, source: str, since: str | None) -> None:
    """The stack processes an upload too: let it finish, so the invocation does not race it for the lease."""
    dynamodb = aws.resource("dynamodb").Table(table)
    deadline = time.monotonic() + SAMPLE_WAIT_S
    while time.monotonic() < deadline:
        item = dynamodb.get_item(Key={"source": source}, ConsistentRead=True).get("Item") or {}
        if item.get("status") not in (None, Status.RETRYING.value) and item.get("updated_at") != since:
            return
        time.sleep(0.2)


def _upload_sample(aws: Aws, bucket: str, table: str, key: str, say: Callable[[str], None]) -> bool:
    """Upload the sample named like ``key`` and wait for the stack's own outcome; False when there is none."""
    name = PurePosixPath(key).name
    sample = next((d / name for d in (SAMPLES_DIR / "events", SAMPLES_DIR) if (d / name).is_file()), SAMPLES_DIR / name)
    if not sample.is_file():
        say(f"s3://{bucket}/{key} is not in the local stack's bucket; drop it first: hdr-ingest drop FILE")
        return False
    source = f"s3://{bucket}/{key}"
    before = None
    if table:
        item = aws.resource("dynamodb").Table(table).get_item(Key={"source": source}, ConsistentRead=True)
        before = item.get("Item", {}).get("updated_at")
    aws.client("s3").put_object(Bucket=bucket, Key=key, Body=sample.read_bytes(), ContentType="application/json")
    shown = sample.relative_to(SAMPLES_DIR.parent.parent).as_posix()
    say(f"uploaded {shown} to {source}; waiting for the stack, which processes it too")
    if table:
        _wait_processed(aws, table, source, before)
    return True


def _stack_objects(aws: Aws, state: StackState, event: Any, say: Callable[[str], None]) -> Any:
    """The event with its objects in the stack's bucket, each uploaded from the samples when missing there."""
    bucket, table = state.get("bucket") or "", state.get("table") or ""
    s3 = aws.client("s3")

    def visit(event_bucket: str, key: str) -> ObjectInfo | None:
        if event_bucket != bucket:
            say(f"bucket {event_bucket} -> {bucket} (the local stack's)")
        info = _describe(s3, bucket, key)
        if info is None and _upload_sample(aws, bucket, table, key, say):
            info = _describe(s3, bucket, key)
        return info or ObjectInfo(bucket)

    return map_event(event, visit)


def _outcomes(aws: Aws, table: str, event: Any) -> list[tuple[str, Status]]:
    """Each announced object's ledger status, and its catalogue datasets'."""
    dynamodb = aws.resource("dynamodb").Table(table)
    found: list[tuple[str, Status]] = []
    sources = [f"s3://{b}/{k}" for b, k in event_objects(event)]
    while sources:
        source = sources.pop(0)
        item = dynamodb.get_item(Key={"source": source}, ConsistentRead=True).get("Item")
        if item and "status" in item:
            found.append((source, Status(str(item["status"]))))
            sources.extend(f"{source}#{m}" for m in item.get("members", []))
    return found


# --- the command ------------------------------------------------------------------------------------------


def _verbose(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "verbose", False)) or os.environ.get("LOG_LEVEL", "").upper() == "DEBUG"


def _run(event: Any, env: dict[str, str], function: str, timeout: float, verbose: bool) -> tuple[Any, bool]:
    """The handler's response, and whether Lambda would call it failed (an error or a partial batch failure)."""
    from local_stack.poller import FakeLambdaContext, apply_env, load_handler

    # As `sam local invoke` does: the function's logs (and metrics) on stderr, the response on stdout.
    logs = sys.stderr if verbose else WithoutMetricLines(sys.stderr)
    with redirect_stdout(logs), apply_env(env), warnings.catch_warnings():
        if not verbose:
            warnings.filterwarnings("ignore", category=UserWarning, module="aws_lambda_powertools")
        handler = load_handler()
        context = FakeLambdaContext(function_name=function, timeout_s=timeout)
        try:
            response = handler(event, context)
        except Exception as exc:  # noqa: BLE001 - reported the way Lambda reports an unhandled error
            traceback.print_exc()
            return {"errorType": type(exc).__name__, "errorMessage": str(exc)}, True
        finally:
            logs.flush()
    return response, bool(isinstance(response, dict) and response.get("batchItemFailures"))


def _processed(response: Any, statuses: frozenset[Status]) -> list[str]:
    processed = response.get("processed", []) if isinstance(response, dict) else []
    return [str(p.get("source")) for p in processed if isinstance(p, dict) and p.get("status") in statuses]


def _say_stack(state: StackState, replaced: list[str], say: Callable[[str], None]) -> None:
    say(f"against the local stack at {state.get('endpoint_url')}")
    if replaced:
        say(f"the env file's {', '.join(replaced)} replaced by the stack's (--aws keeps them)")


def _deliver(args: argparse.Namespace, event: Any, env: dict[str, str], aws: Aws | None, table: str) -> int:
    """Run the handler on ``event``, again while a record is unfinished (as SQS redelivers), then the exit code."""
    deadline = time.monotonic() + args.wait_timeout
    while True:
        verbose = _verbose(args)
        response, failed = _run(event, env, args.function, args.timeout, verbose)
        print(json.dumps(response, indent=2, ensure_ascii=False, default=str))
        failures, unfinished = _processed(response, FAILURES), _processed(response, UNFINISHED)
        if aws is not None and table:
            outcomes = _outcomes(aws, table, event)
            for source, status in outcomes:
                print(f"hdr-ingest invoke: {status.value:<9} {source}", file=sys.stderr)
            failures += [source for source, status in outcomes if status in FAILURES]
            unfinished = [source for source, status in outcomes if status in UNFINISHED]
        if (failed and not unfinished) or failures:
            return EXIT_FAILED
        if not unfinished:
            return 0
        if time.monotonic() + REDELIVER_S >= deadline:
            print(f"hdr-ingest invoke: still not final: {', '.join(unfinished)}", file=sys.stderr)
            return EXIT_PENDING
        print(f"hdr-ingest invoke: not final yet ({len(unfinished)}); delivering the event again", file=sys.stderr)
        time.sleep(REDELIVER_S)


def cmd_invoke(args: argparse.Namespace) -> int:
    try:
        event = json.loads(Path(args.event).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{args.event}: {exc}") from exc
    file_env = load_env_file(args.env_file, args.function) if args.env_file else {}
    state = None if args.aws else find_state(args)

    def say(text: str) -> None:
        print(f"hdr-ingest invoke: {text}", file=sys.stderr)

    if state is None:
        if not args.aws:
            say("no running local stack (start one with `make run`); using the env file's AWS resources as they are")
        return _deliver(args, event, file_env, None, "")
    env, replaced = local_env(state, file_env)
    _say_stack(state, replaced, say)
    aws = aws_for(args, state)
    event = _stack_objects(aws, state, event, say)
    return _deliver(args, event, env, aws, state.get("table") or "")
