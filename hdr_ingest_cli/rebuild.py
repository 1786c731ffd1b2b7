"""`hdr-ingest rebuild-ledger`: a lost ledger rebuilt from the Gateway."""

from __future__ import annotations

import argparse
import json
from typing import Any

from hdr_ingest_cli.common import UsageError
from hdr_ingest_cli.render import console, print_table, styled
from hdr_ingest_cli.stack import aws_for, find_state, required

__all__ = ["cmd_rebuild_ledger"]


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

    state = find_state(args)
    env = state.function_env if state else {}
    bucket = required(args.bucket, state, "bucket", "--bucket")
    table = required(args.table, state, "table", "--table")
    secret_id = args.secret_id or env.get("GATEWAY_SECRET_ID")
    if not secret_id:
        raise UsageError("--secret-id is required (the Gateway credentials secret)")
    gateway_url = args.gateway_url or env.get("GATEWAY_URL") or DEFAULT_GATEWAY_URL
    style = args.header_style or env.get("GATEWAY_HEADER_STYLE") or "x-headers"
    gateway = route.build(RouteSpec(args.prefix, "hdruk", gateway_url, secret_id, {"headerStyle": style}), Common())
    aws = aws_for(args, state)
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
