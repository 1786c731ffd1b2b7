"""`hdr-ingest`: pre-flight validation, drops, the ledger, DLQ replay and local invocations.

    hdr-ingest validate FILE|DIR... [--schema "HDRUK 4.0.0"] [--json]   exit 1 when any file is invalid
    hdr-ingest drop FILE|DIR... [--bucket B] [--prefix incoming/]
    hdr-ingest status [SOURCE] [--failed] [--table T] [--json]
    hdr-ingest redrive [--dlq-url Q] [--queue-url Q]
    hdr-ingest invoke EVENT.json [--env-file events/env.json]

While `make run` (`python -m local_stack`) runs, the AWS commands default their endpoint, credentials,
bucket, table and queues to that stack (read from `.local-stack/stack.json`). Elsewhere, pass the names
and use the usual AWS configuration (`--profile`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`, ...).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hdr_ingest.core.catalogue import element_identifier, missing_identifier_message
from hdr_ingest.core.document import DocumentError, parse_export
from hdr_ingest.core.outcome import ErrorDetail, Status
from hdr_ingest.destinations.hdruk.judge import GATEWAY_MARK, ValidationMode, explain, judge_for
from hdr_ingest.destinations.hdruk.schema_pack import SchemaPack, SchemaPackError, SchemaRef
from local_stack.state import StackState, default_state_path
from local_stack.table import render, shorten

__all__ = ["RedriveResult", "build_parser", "main", "redrive"]

MOVE_TASK_WAIT_S = 900
FAILED_STATUSES = frozenset({Status.INVALID, Status.REJECTED, Status.FAILED, Status.RETRYING})
Print = Callable[[str], None]


class UsageError(Exception):
    """Bad or missing options: printed as ``error: ...`` with exit status 2."""


# --- shared -----------------------------------------------------------------------------------------------


def _state(args: argparse.Namespace) -> StackState | None:
    """The running local stack, when this command targets it: no ``--profile`` and no other ``--endpoint-url``."""
    path: Path | None = getattr(args, "state", None)
    state = StackState.load(path or default_state_path())
    if state is None or getattr(args, "profile", None):
        return None
    endpoint = getattr(args, "endpoint_url", None)
    if endpoint is not None and endpoint.rstrip("/") != (state.get("endpoint_url") or "").rstrip("/"):
        return None
    return state


@dataclass(frozen=True)
class _Aws:
    """A boto3 session and endpoint: explicit options first, then the running local stack's."""

    session: Any
    endpoint_url: str | None

    def client(self, service: str, attempts: int | None = None) -> Any:
        from botocore.config import Config

        config = Config(retries={"total_max_attempts": attempts, "mode": "standard"}) if attempts else None
        return self.session.client(service, endpoint_url=self.endpoint_url, config=config)

    def resource(self, service: str) -> Any:
        return self.session.resource(service, endpoint_url=self.endpoint_url)


def _aws(args: argparse.Namespace, state: StackState | None) -> _Aws:
    """The local stack's endpoint, region and (fake) credentials, or the usual AWS configuration."""
    import boto3

    if state is not None:
        creds = state.credentials
        session = boto3.session.Session(
            aws_access_key_id=creds.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=creds.get("AWS_SECRET_ACCESS_KEY"),
            aws_session_token=creds.get("AWS_SESSION_TOKEN"),
            region_name=args.region or state.get("region"),
        )
        return _Aws(session, state.get("endpoint_url"))
    return _Aws(boto3.session.Session(profile_name=args.profile, region_name=args.region), args.endpoint_url)


def _required(value: str | None, state: StackState | None, name: str, option: str) -> str:
    if value:
        return value
    found = state.get(name) if state else None
    if found:
        return found
    raise UsageError(f"{option} is required (no running local stack to take it from: start one with `make run`)")


def _add_aws_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint-url", help="AWS endpoint (default: the local stack's, if one is running)")
    parser.add_argument("--profile", help="AWS profile to use")
    parser.add_argument("--region", help="AWS region")
    parser.add_argument("--state", type=Path, help="local stack state file (default: .local-stack/stack.json)")


def _json_files(paths: Iterable[Path]) -> Iterator[tuple[Path, str]]:
    """Each path as ``(file, relative name)``; a directory contributes its ``*.json`` files, recursively."""
    for path in paths:
        if path.is_dir():
            for found in sorted(p for p in path.rglob("*.json") if p.is_file()):
                yield found, found.relative_to(path).as_posix()
        else:
            yield path, path.name


# --- validate ---------------------------------------------------------------------------------------------


def _failed(path: Path, summary: str, errors: Iterable[ErrorDetail], schema: str | None = None) -> dict[str, Any]:
    return {
        "file": str(path),
        "valid": False,
        "schema": schema,
        "summary": summary,
        "errors": [e.as_dict() for e in errors],
    }


def _validate_one(
    pack: SchemaPack, path: Path, target: SchemaRef | None, pointer: str | None, mode: ValidationMode
) -> dict[str, Any]:
    """One file as the pipeline reads it: a metadata document, or a catalogue (a JSON array of them)."""
    try:
        export = parse_export(path.read_bytes())
    except OSError as exc:
        return _failed(path, "cannot be read", [ErrorDetail("$", f"cannot be read: {exc.strerror or exc}")])
    except DocumentError as exc:
        return _failed(path, "is not a metadata document", [exc.detail])
    if isinstance(export, dict):
        judgement = judge_for(pack).judge(export, target, mode)
        report = judgement.report
        schema = str(report.schema) if report.schema else None
        result = (
            {"file": str(path), "valid": True, "schema": schema, "summary": report.summary, "errors": []}
            if report.valid
            else _failed(path, report.summary, report.errors, schema)
        )
        # everything after the verdict and the errors: the other mode's verdict and each Gateway behaviour met
        explanation = [line for line in explain(judgement)[1:] if not line.startswith("  $")]
        return {**result, "warnings": list(judgement.warnings), "explanation": explanation}
    return _validate_catalogue(pack, path, export, target, pointer, mode)


def _validate_catalogue(
    pack: SchemaPack,
    path: Path,
    elements: list[dict[str, Any]],
    target: SchemaRef | None,
    pointer: str | None,
    mode: ValidationMode,
) -> dict[str, Any]:
    """Each element must be valid and carry its own identifier (it keeps its Gateway dataset by it)."""
    results: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, element in enumerate(elements):
        identifier = element_identifier(element, pointer)
        judgement = judge_for(pack).judge(element, target, mode)
        report = judgement.report
        errors = [replace(e, path=f"$[{index}]{e.path[1:]}") for e in report.errors]
        if identifier is None:
            errors.insert(0, ErrorDetail(f"$[{index}]", missing_identifier_message(pointer)))
        elif identifier in seen:
            errors.insert(0, ErrorDetail(f"$[{index}]", f"repeats identifier {identifier!r}; only the first is used"))
        else:
            seen.add(identifier)
        results.append(
            {
                "index": index,
                "id": identifier,
                "valid": not errors,
                "schema": str(report.schema) if report.schema else None,
                "summary": report.summary,
                "errors": [e.as_dict() for e in errors],
                "warnings": list(judgement.warnings),
            }
        )
    bad = sum(not r["valid"] for r in results)
    return {
        "file": str(path),
        "valid": bad == 0,
        "schema": None,
        "summary": f"catalogue of {len(results)} datasets: {len(results) - bad} valid, {bad} invalid",
        "errors": [error for r in results for error in r["errors"]],
        "elements": results,
    }


def cmd_validate(args: argparse.Namespace) -> int:
    try:
        pack = SchemaPack.load(args.schema_pack)
    except SchemaPackError as exc:
        raise UsageError(str(exc)) from exc
    target: SchemaRef | None = None
    if args.schema and args.schema.lower() != "auto":
        try:
            target = SchemaRef.parse(args.schema)
        except ValueError as exc:
            raise UsageError(f"--schema: {exc}") from exc
        if target not in pack:
            raise UsageError(f"--schema: {target} is not in the schema pack ({', '.join(map(str, pack.refs))})")
    files = [path for path, _ in _json_files(args.files)]
    if not files:
        raise UsageError("no .json files found in the given directories")
    pointer = args.id_pointer
    if pointer is not None and not pointer.startswith("/"):
        raise UsageError(f"--id-pointer: {pointer!r} must be a JSON pointer such as /identifier")
    mode = ValidationMode(args.mode)
    results = [_validate_one(pack, path, target, pointer, mode) for path in files]
    valid = all(r["valid"] for r in results)
    if args.json:
        print(json.dumps({"valid": valid, "files": results}, indent=2, ensure_ascii=False))
        return 0 if valid else 1
    for result in results:
        print(f"{'ok' if result['valid'] else 'INVALID':<8} {result['file']}: {result['summary']}")
        for element in result.get("elements", []):
            verdict = f"valid {element['schema']}" if element["valid"] else "INVALID"
            print(f"           [{element['index']}] {element['id'] or '(no identifier)'}: {verdict}")
        for error in result["errors"]:
            print(
                f"           {error['path']}: {error['message']}{GATEWAY_MARK if error.get('gateway_reports') else ''}"
            )
        for line in result.get("explanation", []):
            print(f"         {line}")
        for element in result.get("elements", []):
            for warning in element["warnings"]:
                print(f"           [{element['index']}] warning: {warning}")
    if len(results) > 1:
        bad = sum(not r["valid"] for r in results)
        print(f"\n{len(results)} files: {len(results) - bad} valid, {bad} invalid")
    return 0 if valid else 1


# --- drop -------------------------------------------------------------------------------------------------


def cmd_drop(args: argparse.Namespace) -> int:
    state = _state(args)
    bucket = _required(args.bucket, state, "bucket", "--bucket")
    prefix = args.prefix if not args.prefix or args.prefix.endswith("/") else args.prefix + "/"
    s3 = _aws(args, state).client("s3")
    pairs = list(_json_files(args.files))
    if not pairs:
        raise UsageError("no .json files found in the given directories")
    for path, _ in pairs:
        if not path.is_file():
            raise UsageError(f"{path}: no such file")
    for path, name in pairs:
        key = prefix + name
        if not key.lower().endswith(".json"):
            print(f"warning: {key} does not end in .json: the bucket only announces .json objects", file=sys.stderr)
        data = path.read_bytes()
        s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/json")
        print(f"uploaded {path} -> s3://{bucket}/{key} ({len(data)} bytes)")
    return 0


# --- status -----------------------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    from hdr_ingest.adapters.aws.dynamodb_ledger import DynamoDbLedger, to_item

    state = _state(args)
    table = _required(args.table, state, "table", "--table")
    entries = DynamoDbLedger(_aws(args, state).resource("dynamodb").Table(table)).scan()
    if args.failed:
        entries = [e for e in entries if e.status in FAILED_STATUSES]
    if args.source:
        exact = [e for e in entries if args.source in (e.source, e.key)]
        entries = exact or [e for e in entries if args.source in e.source]
    if args.json:
        print(json.dumps([to_item(e) for e in entries], indent=2, ensure_ascii=False))
        return 0
    if not entries:
        what = "no failed entries" if args.failed else "no entries"
        print(f"{what} in ledger {table}" + (f" matching {args.source!r}" if args.source else ""))
        return 0
    if args.source and len(entries) == 1:
        entry = entries[0]
        for label, value in (
            ("source", entry.source),
            ("status", entry.status.value),
            ("reason", entry.reason),
            ("schema", entry.schema),
            ("dataset id", entry.record_id),
            ("version", entry.record_version),
            ("deliveries", entry.attempts),
            ("updated", entry.updated_at),
            ("datasetid", entry.record_key),
            ("sha256", entry.object_sha256),
        ):
            print(f"{label:<11} {value if value is not None else '-'}")
        if entry.errors:
            print(f"errors ({entry.errors_total}):")
            for error in entry.errors:
                print(f"  {error.path}: {error.message}{GATEWAY_MARK if error.gateway_reports else ''}")
        return 0
    rows = []
    for e in entries:
        problem = str(e.errors[0]) if e.errors else ("" if e.status not in FAILED_STATUSES else e.reason)
        rows.append(
            [
                e.source,
                e.status.value,
                e.schema or "-",
                str(e.record_id) if e.record_id is not None else "-",
                str(e.record_version) if e.record_version is not None else "-",
                str(e.attempts),
                e.updated_at,
                problem,
            ]
        )
    print(render(["source", "status", "schema", "dataset", "version", "tries", "updated", "first error"], rows))
    return 0


# --- redrive ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedriveResult:
    moved: int
    failed: int
    method: str  # "move-task" or "copy"


def _queue_arn(sqs: Any, url: str) -> str:
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return arn


def _visible_count(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"].get("ApproximateNumberOfMessages", 0))


def _move_task(aws: _Aws, dlq_url: str, queue_url: str, wait: bool, say: Print) -> RedriveResult | None:
    """SQS's own DLQ redrive (``StartMessageMoveTask``); ``None`` when the endpoint does not offer it."""
    from botocore.exceptions import BotoCoreError, ClientError

    sqs = aws.client("sqs", attempts=1)
    try:
        source, destination = _queue_arn(sqs, dlq_url), _queue_arn(sqs, queue_url)
        handle = sqs.start_message_move_task(SourceArn=source, DestinationArn=destination)["TaskHandle"]
    except (ClientError, BotoCoreError, NotImplementedError, AttributeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        say(f"StartMessageMoveTask is not available here ({shorten(reason, 100)}); moving messages one by one.")
        return None
    say(f"started message move task {handle}")
    if not wait:
        return RedriveResult(0, 0, "move-task")
    deadline = time.monotonic() + MOVE_TASK_WAIT_S
    while time.monotonic() < deadline:
        tasks = sqs.list_message_move_tasks(SourceArn=source, MaxResults=1).get("Results", [])
        task = tasks[0] if tasks else {}
        status = task.get("Status", "RUNNING")
        if status in ("COMPLETED", "FAILED", "CANCELLED"):
            moved = int(task.get("ApproximateNumberOfMessagesMoved", 0))
            if status != "COMPLETED":
                say(f"the move task ended {status}: {task.get('FailureReason', 'no reason given')}")
                left = int(task.get("ApproximateNumberOfMessagesToMove", moved)) - moved
                return RedriveResult(moved, max(left, 1), "move-task")
            return RedriveResult(moved, 0, "move-task")
        time.sleep(2)
    say(f"the move task is still running after {MOVE_TASK_WAIT_S} s; see `aws sqs list-message-move-tasks`")
    return RedriveResult(0, 0, "move-task")


def _attributes_to_send(attributes: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in attributes.items():
        kept = {"DataType": value["DataType"]}
        for kind in ("StringValue", "BinaryValue"):
            if value.get(kind) is not None:
                kept[kind] = value[kind]
        out[name] = kept
    return out


def _copy(sqs: Any, dlq_url: str, queue_url: str, limit: int) -> RedriveResult:
    """Receive -> send -> delete, 10 at a time; a message is deleted only once its copy was sent.

    At most ``limit`` messages (those visible when the redrive started), so messages that fail again and
    come back to the DLQ while it runs are not moved round in circles."""
    from botocore.exceptions import BotoCoreError, ClientError

    fifo = queue_url.endswith(".fifo")
    moved = failed = 0
    while moved + failed < limit:
        messages = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=min(10, limit - moved - failed),
            WaitTimeSeconds=1,
            VisibilityTimeout=60,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            break
        entries = []
        for index, message in enumerate(messages):
            entry: dict[str, Any] = {"Id": str(index), "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                entry["MessageAttributes"] = _attributes_to_send(message["MessageAttributes"])
            if fifo:
                entry["MessageGroupId"] = message.get("Attributes", {}).get("MessageGroupId", "redrive")
                entry["MessageDeduplicationId"] = message["MessageId"]
            entries.append(entry)
        try:
            answer = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        except (ClientError, BotoCoreError):
            _release(sqs, dlq_url, messages)
            raise
        sent_ids = {item["Id"] for item in answer.get("Successful", [])}
        sent = [m for i, m in enumerate(messages) if str(i) in sent_ids]
        unsent = [m for i, m in enumerate(messages) if str(i) not in sent_ids]
        if sent:
            sqs.delete_message_batch(
                QueueUrl=dlq_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(sent)],
            )
        moved += len(sent)
        if unsent:
            failed += len(unsent)
            _release(sqs, dlq_url, unsent)
            break
    return RedriveResult(moved, failed, "copy")


def _release(sqs: Any, url: str, messages: list[dict[str, Any]]) -> None:
    """Make messages that were not moved visible again at once (they stay in the DLQ)."""
    if messages:
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(messages)
            ],
        )


def redrive(
    aws: _Aws, dlq_url: str, queue_url: str, wait: bool = True, limit: int | None = None, say: Print = print
) -> RedriveResult:
    """Move the dead-letter queue's messages back to the ingest queue (move task, else receive/send/delete)."""
    if dlq_url.rstrip("/") == queue_url.rstrip("/"):
        raise UsageError("--dlq-url and --queue-url name the same queue")
    if limit is None:
        result = _move_task(aws, dlq_url, queue_url, wait, say)
        if result is not None:
            return result
    sqs = aws.client("sqs")
    available = _visible_count(sqs, dlq_url)
    return _copy(sqs, dlq_url, queue_url, available if limit is None else min(limit, available))


def cmd_redrive(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    state = _state(args)
    dlq_url = _required(args.dlq_url, state, "dlq_url", "--dlq-url")
    queue_url = _required(args.queue_url, state, "queue_url", "--queue-url")
    try:
        result = redrive(_aws(args, state), dlq_url, queue_url, wait=not args.no_wait, limit=args.max_messages)
    except (ClientError, BotoCoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if result.method == "move-task" and args.no_wait:
        print("the move task runs in the background; see it with `aws sqs list-message-move-tasks`")
        return 0
    print(f"moved {result.moved} message(s) from {dlq_url} to {queue_url}")
    if result.failed:
        print(f"{result.failed} message(s) could not be moved and are still in the dead-letter queue", file=sys.stderr)
        return 1
    return 0


# --- invoke -----------------------------------------------------------------------------------------------


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


def cmd_invoke(args: argparse.Namespace) -> int:
    from local_stack.poller import FakeLambdaContext, apply_env, load_handler

    try:
        event = json.loads(Path(args.event).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{args.event}: {exc}") from exc
    if args.env_file:
        env = load_env_file(args.env_file, args.function)
    else:
        state = _state(args)
        env = state.function_env if state else {}
    # As `sam local invoke` does: the function's logs (and metrics) on stderr, the response on stdout.
    with redirect_stdout(sys.stderr), apply_env(env):
        handler = load_handler()
        context = FakeLambdaContext(function_name=args.function, timeout_s=args.timeout)
        try:
            response = handler(event, context)
        except Exception as exc:  # noqa: BLE001 - reported the way Lambda reports an unhandled error
            traceback.print_exc()
            response = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
            failed = True
        else:
            failed = bool(isinstance(response, dict) and response.get("batchItemFailures"))
    print(json.dumps(response, indent=2, ensure_ascii=False, default=str))
    return 1 if failed else 0


# --- entry point ------------------------------------------------------------------------------------------


# --- rebuild-ledger --------------------------------------------------------------------------------------


def cmd_rebuild_ledger(args: argparse.Namespace) -> int:
    """Write a ledger item for every source in the bucket that has a dataset on the Gateway."""
    from hdr_ingest.adapters.aws.dynamodb_ledger import DynamoDbLedger
    from hdr_ingest.adapters.aws.s3 import S3ObjectStore
    from hdr_ingest.core.routing import RouteSpec
    from hdr_ingest.core.source_object import SourceObject
    from hdr_ingest.destinations import Common
    from hdr_ingest.destinations.hdruk import route
    from hdr_ingest.entry.settings import DEFAULT_GATEWAY_URL
    from hdr_ingest.usecases.rebuild_ledger import rebuild_ledger, sources_of

    state = _state(args)
    env = state.function_env if state else {}
    bucket = _required(args.bucket, state, "bucket", "--bucket")
    table = _required(args.table, state, "table", "--table")
    secret_id = args.secret_id or env.get("GATEWAY_SECRET_ID")
    if not secret_id:
        raise UsageError("--secret-id is required (the Gateway credentials secret)")
    gateway_url = args.gateway_url or env.get("GATEWAY_URL") or DEFAULT_GATEWAY_URL
    style = args.header_style or env.get("GATEWAY_HEADER_STYLE") or "x-headers"
    gateway = route.build(RouteSpec(args.prefix, "hdruk", gateway_url, secret_id, {"headerStyle": style}), Common())
    aws = _aws(args, state)
    s3 = aws.client("s3")
    secret = aws.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
    credentials = gateway.credentials(json.loads(secret), secret_id)
    objects = [
        SourceObject(bucket, item["Key"], etag=str(item.get("ETag", "")).strip('"') or None, size=item.get("Size"))
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=args.prefix)
        for item in page.get("Contents", [])
        if item["Key"].lower().endswith(".json")
    ]
    store = S3ObjectStore(s3)
    lines = rebuild_ledger(
        sources_of(objects, store, args.id_pointer),
        DynamoDbLedger(aws.resource("dynamodb").Table(table)),
        gateway,
        credentials,
    )
    if args.json:
        found = [
            {"source": line.source, "status": line.status, "dataset_id": line.record_id, "detail": line.detail}
            for line in lines
        ]
        print(json.dumps(found, indent=2, ensure_ascii=False))
    else:
        rows = [[line.source, line.status, str(line.record_id or "-"), line.detail] for line in lines]
        print(render(["source", "status", "dataset", "detail"], rows) if rows else f"no .json objects in {bucket}")
    return 1 if any(line.status == "ERROR" for line in lines) else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hdr-ingest", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("drop", help="upload metadata files to the bucket's incoming/ prefix")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="JSON files, or directories of them")
    p.add_argument("--bucket", help="the metadata bucket (default: the local stack's)")
    p.add_argument("--prefix", default="incoming/", help="key prefix (default: incoming/)")
    _add_aws_options(p)
    p.set_defaults(func=cmd_drop)

    p = sub.add_parser("status", help="the ledger: what became of every source object")
    p.add_argument("source", nargs="?", help="one source (s3://bucket/key, a key, or part of one) in detail")
    p.add_argument("--failed", action="store_true", help="only INVALID, REJECTED, FAILED and RETRYING entries")
    p.add_argument("--table", help="the ledger table (default: the local stack's)")
    p.add_argument("--json", action="store_true", help="the ledger items as JSON")
    _add_aws_options(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("redrive", help="move dead-letter messages back to the ingest queue for another try")
    p.add_argument("--dlq-url", help="the dead-letter queue (default: the local stack's)")
    p.add_argument("--queue-url", help="the ingest queue (default: the local stack's)")
    p.add_argument("--max-messages", type=int, help="move at most this many (by receive, send and delete)")
    p.add_argument("--no-wait", action="store_true", help="do not wait for a move task to finish")
    _add_aws_options(p)
    p.set_defaults(func=cmd_redrive)

    p = sub.add_parser("rebuild-ledger", help="rebuild a lost ledger from the Gateway (lookup by datasetid)")
    p.add_argument("--bucket", help="the metadata bucket (default: the local stack's)")
    p.add_argument("--prefix", default="incoming/", help="key prefix (default: incoming/)")
    p.add_argument("--table", help="the ledger table (default: the local stack's)")
    p.add_argument("--secret-id", help="the Gateway credentials secret (default: the local stack's)")
    p.add_argument("--gateway-url", help="Gateway API base URL (default: the local stack's, else HDR UK's dev API)")
    p.add_argument("--header-style", choices=["x-headers", "legacy"], help="how credentials are sent")
    p.add_argument("--id-pointer", help="JSON pointer to a catalogue element's identifier (CATALOGUE_ID_POINTER)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _add_aws_options(p)
    p.set_defaults(func=cmd_rebuild_ledger)

    p = sub.add_parser("invoke", help="run the function on an event file in this process (like sam local invoke)")
    p.add_argument("event", type=Path, help="event JSON, e.g. events/sqs-s3-put.json")
    p.add_argument("--env-file", type=Path, help="environment in `sam local invoke --env-vars` format")
    p.add_argument("--function", default="IngestFunction", help="logical id in the env file (IngestFunction)")
    p.add_argument("--timeout", type=float, default=60.0, help="the function's timeout in seconds (60)")
    p.add_argument("--state", type=Path, help="local stack state file (its function environment is the default)")
    p.set_defaults(func=cmd_invoke)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except UsageError as exc:
        print(f"hdr-ingest {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    raise SystemExit(main())
