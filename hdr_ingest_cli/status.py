"""`hdr-ingest status`: what the ledger says became of each source object."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from hdr_ingest.core.ledger import LedgerEntry
from hdr_ingest.destinations.hdruk.judge import GATEWAY_MARK
from hdr_ingest_cli.common import FAILED_STATUSES
from hdr_ingest_cli.render import console, print_table, styled
from hdr_ingest_cli.stack import aws_for, find_state, required

__all__ = ["Row", "cmd_status", "destination_of", "outcome_table", "read_ledger", "totals"]

SOURCE_CHARS = 48
NARROW_SOURCE_CHARS = 32
WIDE = 150  # terminal columns from which the table has every column
CATALOGUE = "catalogue"


@dataclass(frozen=True)
class Row:
    """One ledger item: the entry, and the item's fields the entry does not model (e.g. ``destination``)."""

    entry: LedgerEntry
    item: dict[str, Any]

    @property
    def is_catalogue(self) -> bool:
        """A catalogue file's own item: its status is the file's, its datasets have items of their own."""
        return bool(self.entry.members) and self.entry.record_id is None

    @property
    def shown_status(self) -> str:
        return CATALOGUE if self.is_catalogue else self.entry.status.value


def read_ledger(table: Any) -> list[Row]:
    """Every outcome item of the ledger ``table`` (a boto3 ``Table``), by source."""
    from hdr_ingest.adapters.aws.dynamodb_ledger import from_item

    rows: list[Row] = []
    kwargs: dict[str, Any] = {"ConsistentRead": True}
    while True:
        page = table.scan(**kwargs)
        rows.extend(Row(from_item(item), item) for item in page.get("Items", []) if "status" in item)
        if "LastEvaluatedKey" not in page:
            return sorted(rows, key=lambda r: r.entry.source)
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def destination_of(item: dict[str, Any]) -> str:
    """``kind host`` from a ``destination`` map ``{"kind": ..., "url": ...}``; "" when there is none."""
    destination = item.get("destination")
    if not isinstance(destination, dict):
        return ""
    kind = str(destination.get("kind") or "")
    host = urlsplit(str(destination.get("url") or "")).hostname or ""
    return " ".join(p for p in (kind, host) if p)


def short_source(entry: LedgerEntry, buckets: set[str], shown: Collection[str] = (), room: int = SOURCE_CHARS) -> str:
    """The key alone when every row is in one bucket, a catalogue's dataset as ``  #id`` under its file (in
    ``shown``); long ones keep their end, which is what tells them apart."""
    file, _, member = entry.source.partition("#")
    lead = "  #" if member and file in shown else ""
    if lead:
        text = member
    else:
        text = entry.source.removeprefix(f"s3://{entry.bucket}/") if len(buckets) == 1 else entry.source
    room -= len(lead)
    return lead + (text if len(text) <= room else "…" + text[-(room - 1) :])


def detail(row: Row) -> str:
    """The first error; for a catalogue file its summary; for another failure its reason."""
    entry = row.entry
    if row.is_catalogue:
        return entry.reason
    if entry.errors:
        more = f" (+{entry.errors_total - 1} more)" if entry.errors_total > 1 else ""
        return f"{entry.errors[0]}{more}"
    return entry.reason if entry.status in FAILED_STATUSES else ""


def _dataset(entry: LedgerEntry) -> str:
    if entry.record_id is None:
        return "-"
    return f"{entry.record_id} v{entry.record_version}" if entry.record_version is not None else str(entry.record_id)


def _when(stamp: str) -> str:
    """``2025-01-01T10:11:12.345Z`` as ``2025-01-01 10:11:12``."""
    return stamp.replace("T", " ")[:19] if stamp else "-"


def outcome_table(rows: Sequence[Row], width: int = 1000) -> Any:
    """A rich table of ledger rows for ``width`` columns: below :data:`WIDE`, without the delivery count and
    time (``status SOURCE`` has them); a ``destination`` column only when some item has one."""
    from rich.table import Table

    wide = width >= WIDE
    buckets = {r.entry.bucket for r in rows}
    destinations = [destination_of(r.item) if wide else destination_of(r.item).split(" ")[0] for r in rows]
    caption = f"bucket {next(iter(buckets))}" if len(buckets) == 1 else None
    table = Table(caption=caption, caption_justify="left", box=None, header_style="bold", pad_edge=False)
    for name in ("source", "status", "schema", "dataset", *(("tries", "updated") if wide else ())):
        table.add_column(name, no_wrap=True, justify="right" if name == "tries" else "left")
    if any(destinations):
        table.add_column("destination", no_wrap=True, overflow="ellipsis", max_width=32)
    table.add_column("first error / summary", overflow="fold", ratio=1)
    shown = {r.entry.source for r in rows}
    room = SOURCE_CHARS if wide else NARROW_SOURCE_CHARS
    for row, destination in zip(rows, destinations, strict=True):
        entry = row.entry
        cells: list[Any] = [short_source(entry, buckets, shown, room), styled(row.shown_status), entry.schema or "-"]
        cells.append(_dataset(entry))
        if wide:
            cells += [str(entry.attempts), _when(entry.updated_at)]
        if any(destinations):
            cells.append(destination or "-")
        table.add_row(*cells, detail(row))
    return table


def totals(rows: Iterable[Row]) -> str:
    """``5 sources: 2 CREATED, 1 INVALID; 1 catalogue file`` (catalogue files counted apart from datasets)."""
    rows = list(rows)
    counts = Counter(r.entry.status.value for r in rows if not r.is_catalogue)
    catalogues = sum(r.is_catalogue for r in rows)
    parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    sources = sum(counts.values())
    text = f"{sources} source{'s' if sources != 1 else ''}" + (f": {parts}" if parts else "")
    if catalogues:
        text += f"; {catalogues} catalogue file{'s' if catalogues != 1 else ''}"
    return text


def _select(rows: list[Row], source: str | None, failed: bool) -> list[Row]:
    if failed:
        rows = [r for r in rows if r.entry.status in FAILED_STATUSES]
    if source:
        exact = [r for r in rows if source in (r.entry.source, r.entry.key)]
        rows = exact or [r for r in rows if source in r.entry.source]
    return rows


def _print_one(row: Row) -> None:
    out = console()
    entry = row.entry
    for label, value in (
        ("source", entry.source),
        ("status", row.shown_status if row.is_catalogue else entry.status.value),
        ("reason", entry.reason),
        ("schema", entry.schema),
        ("dataset id", entry.record_id),
        ("version", entry.record_version),
        ("destination", destination_of(row.item) or None),
        ("deliveries", entry.attempts),
        ("updated", entry.updated_at),
        ("datasetid", entry.record_key),
        ("sha256", entry.object_sha256),
    ):
        out.print(f"{label:<11} {value if value is not None else '-'}", markup=False)
    for member in entry.members if row.is_catalogue else ():
        out.print(f"  dataset   {entry.source}#{member}", markup=False)
    if entry.errors:
        out.print(f"errors ({entry.errors_total}):", markup=False)
        for error in entry.errors:
            mark = GATEWAY_MARK if error.gateway_reports else ""
            out.print(f"  {error.path}: {error.message}{mark}", markup=False)
    for warning in entry.warnings:
        out.print(f"warning: {warning}", markup=False)


def _as_json(row: Row) -> dict[str, Any]:
    from hdr_ingest.adapters.aws.dynamodb_ledger import to_item

    item = to_item(row.entry)
    if isinstance(row.item.get("destination"), dict):
        item["destination"] = {str(k): str(v) for k, v in row.item["destination"].items()}
    return item


def cmd_status(args: argparse.Namespace) -> int:
    state = find_state(args)
    table = required(args.table, state, "table", "--table")
    rows = _select(read_ledger(aws_for(args, state).resource("dynamodb").Table(table)), args.source, args.failed)
    if args.json:
        print(json.dumps([_as_json(r) for r in rows], indent=2, ensure_ascii=False))
        return 1 if args.source and not rows else 0
    if not rows:
        what = "no failed entries" if args.failed else "no entries"
        if args.source:
            print(f"{what} in ledger {table} matching {args.source!r}", file=sys.stderr)
            return 1
        print(f"{what} in ledger {table}")
        return 0
    if args.source and len(rows) == 1:
        _print_one(rows[0])
        return 0
    out = console()
    print_table(out, outcome_table(rows, out.width))
    out.print(totals(rows), markup=False)
    return 0
