"""`hdr-ingest rebuild-ledger`: a lost ledger rebuilt from the Gateway."""

from __future__ import annotations

import argparse
import json
from typing import Any

from hdr_ingest_cli.common import UsageError
from hdr_ingest_cli.drop import check_prefix
from hdr_ingest_cli.stack import aws_for, find_state, required
from local_stack.terminal import console, print_table, styled

__all__ = ["cmd_rebuild_ledger"]


def _specs(args: argparse.Namespace, env: dict[str, str], secret_id: str | None) -> list[Any]:
    """The routes to rebuild from: the running stack's (``DESTINATIONS``), each object by the destination its
    route names; with no stack, or options given, the one HDR UK route the options describe."""
    from hdr_ingest.core.routing import RouteSpec
    from hdr_ingest.entry.settings import DEFAULT_GATEWAY_URL, ConfigError, Settings

    if env.get("DESTINATIONS") and not (args.gateway_url or args.secret_id or args.header_style):
        try:
            return list(Settings.from_env(env).routes)
        except ConfigError as exc:
            raise UsageError(f"the running stack's routes: {exc}") from exc
    if not secret_id:
        raise UsageError("--secret-id is required (the Gateway credentials secret)")
    gateway_url = args.gateway_url or env.get("GATEWAY_URL") or DEFAULT_GATEWAY_URL
    style = args.header_style or env.get("GATEWAY_HEADER_STYLE") or "x-headers"
    return [RouteSpec(args.prefix, "hdruk", gateway_url, secret_id, {"headerStyle": style})]


def _route_of(key: str, specs: list[Any]) -> Any:
    """The route a key falls under (the longest prefix), or None."""
    matching = [s for s in specs if key.startswith(s.prefix)]
    return max(matching, key=lambda s: len(s.prefix)) if matching else None


def cmd_rebuild_ledger(args: argparse.Namespace) -> int:
    """Write a ledger item for every source in the bucket that has a record on its route's catalogue."""
    from hdr_ingest.adapters.aws.dynamodb_ledger import DynamoDbLedger
    from hdr_ingest.adapters.aws.s3 import S3ObjectStore
    from hdr_ingest.core.source_object import SourceObject
    from hdr_ingest.destinations import Common, kind
    from hdr_ingest.entry.composition import build_destination
    from hdr_ingest.usecases.rebuild_ledger import rebuild_ledger, sources_of

    state = find_state(args)
    env = state.function_env if state else {}
    bucket = required(args.bucket, state, "bucket", "--bucket")
    table = required(args.table, state, "table", "--table")
    if state is not None:
        check_prefix(args.prefix, state, force=False, remedy="")
    specs = _specs(args, env, args.secret_id or env.get("GATEWAY_SECRET_ID"))
    aws = aws_for(args, state)
    s3 = aws.client("s3")
    objects = [
        SourceObject(bucket, item["Key"], etag=str(item.get("ETag", "")).strip('"') or None, size=item.get("Size"))
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=args.prefix)
        for item in page.get("Contents", [])
        if item["Key"].lower().endswith(".json")
    ]
    ledger, store, lines = DynamoDbLedger(aws.resource("dynamodb").Table(table)), S3ObjectStore(s3), []
    for spec in specs:
        mine = [o for o in objects if _route_of(o.key, specs) is spec]
        if not mine or kind(spec.kind) is None:
            continue
        destination = build_destination(spec, Common())
        credentials = None
        if spec.secret:
            secret = aws.client("secretsmanager").get_secret_value(SecretId=spec.secret)["SecretString"]
            credentials = destination.credentials(json.loads(secret), spec.secret)
        lines += rebuild_ledger(
            sources_of(mine, store, args.id_pointer, destination.parse), ledger, destination, credentials
        )
    if args.json:
        found_lines = [
            {"source": line.source, "status": line.status, "dataset_id": line.record_id, "detail": line.detail}
            for line in lines
        ]
        print(json.dumps(found_lines, indent=2, ensure_ascii=False))
    else:
        _print_lines(lines, bucket)
    return 1 if any(line.status == "ERROR" for line in lines) else 0


def _print_lines(lines: list[Any], bucket: str) -> None:
    from rich.table import Table

    if not lines:
        print(f"no .json objects in {bucket}")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("source", "status", "dataset"):
        table.add_column(name, no_wrap=True)
    table.add_column("detail", overflow="fold")
    for line in lines:
        table.add_row(line.source, styled(line.status), str(line.record_id or "-"), line.detail)
    print_table(console(), table)
