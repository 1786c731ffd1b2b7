"""`hdr-ingest status`: what the ledger says became of each source object."""

from __future__ import annotations

import argparse
import json

from hdr_ingest_cli.common import FAILED_STATUSES
from hdr_ingest_cli.render import render
from hdr_ingest_cli.stack import aws_for, find_state, required

__all__ = ["cmd_status"]


def cmd_status(args: argparse.Namespace) -> int:
    from hdr_ingest.adapters.aws.dynamodb_ledger import DynamoDbLedger, to_item

    state = find_state(args)
    table = required(args.table, state, "table", "--table")
    entries = DynamoDbLedger(aws_for(args, state).resource("dynamodb").Table(table)).scan()
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
            ("dataset id", entry.dataset_id),
            ("version", entry.dataset_version),
            ("deliveries", entry.attempts),
            ("updated", entry.updated_at),
            ("datasetid", entry.datasetid),
            ("sha256", entry.sha256),
        ):
            print(f"{label:<11} {value if value is not None else '-'}")
        if entry.errors:
            print(f"errors ({entry.errors_total}):")
            for error in entry.errors:
                print(f"  {error.path}: {error.message}")
        return 0
    rows = []
    for e in entries:
        problem = str(e.errors[0]) if e.errors else ("" if e.status not in FAILED_STATUSES else e.reason)
        rows.append(
            [
                e.source,
                e.status.value,
                e.schema or "-",
                str(e.dataset_id) if e.dataset_id is not None else "-",
                str(e.dataset_version) if e.dataset_version is not None else "-",
                str(e.attempts),
                e.updated_at,
                problem,
            ]
        )
    print(render(["source", "status", "schema", "dataset", "version", "tries", "updated", "first error"], rows))
    return 0
