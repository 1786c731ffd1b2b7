"""`hdr-ingest status`: what the ledger says became of each source object."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from hdr_ingest_cli.common import FAILED_STATUSES
from hdr_ingest_cli.stack import aws_for, find_state, required
from local_stack.terminal import GAP, WIDE, RowsWithNotes, console, print_table, shorten_middle, styled

if TYPE_CHECKING:  # imported where it is used: `validate` starts without them
    from hdr_ingest.core.ledger import LedgerEntry

__all__ = ["Row", "cmd_status", "destination_of", "outcome_table", "read_ledger", "totals"]

SOURCE_CHARS = 48
MIN_SOURCE_CHARS = 16
# Shortened in the middle, in this order, when the row cannot give the source MIN_SOURCE_CHARS otherwise (a Qrvey
# dataset is a 36-character UUID, its schema "Qrvey dataset definition 1"); never below MIN_SHORTENED_CHARS, never
# the status. `status SOURCE` and `--wide` show them whole.
SHORTENED = ("dataset", "schema")
MIN_SHORTENED_CHARS = 12
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
    ``shown``); long ones are shortened in the middle."""
    file, _, member = entry.source.partition("#")
    lead = "  #" if member and file in shown else ""
    if lead:
        text = member
    else:
        text = entry.source.removeprefix(f"s3://{entry.bucket}/") if len(buckets) == 1 else entry.source
    room -= len(lead)
    return lead + shorten_middle(text, room)


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


def _widths(cells: list[list[Any]], headers: Sequence[str]) -> list[int]:
    return [max(len(h), *(len(str(c)) for c in column)) for h, column in zip(headers, cells, strict=True)]


def _fit_source(cells: list[list[Any]], headers: Sequence[str], width: int) -> int:
    """Columns left for the source in ``width`` once every other column has its room: whole, or with the
    :data:`SHORTENED` ones shortened in the middle (``cells`` changed in place) where the source would get less than
    :data:`MIN_SOURCE_CHARS`."""
    excess = MIN_SOURCE_CHARS + sum(_widths(cells, headers)) + GAP * len(headers) - width
    for name in SHORTENED:
        if excess <= 0:
            break
        index = headers.index(name)
        now = _widths(cells, headers)[index]
        room = max(MIN_SHORTENED_CHARS, len(name), now - excess)
        cells[index] = [shorten_middle(str(c), room) for c in cells[index]]
        excess -= now - room
    return max(MIN_SOURCE_CHARS, width - sum(_widths(cells, headers)) - GAP * len(headers))


def outcome_table(rows: Sequence[Row], width: int = 1000, wide: bool = False) -> Any:
    """Ledger rows for ``width`` columns. From :data:`WIDE` columns (or ``wide``): a row a line with the
    delivery count, time and first error in columns. Narrower: source, status, schema, dataset (and
    destination kind) on one line that fits, the source shortened in the middle (then, where it must, the
    dataset and the schema; never the status), and
    the first error on its own wrapped line under the row."""
    from rich.table import Table

    wide = wide or width >= WIDE
    buckets = {r.entry.bucket for r in rows}
    destinations = [destination_of(r.item) if wide else destination_of(r.item).split(" ")[0] for r in rows]
    headers = ["status", "schema", "dataset", *(("tries", "updated") if wide else ())]
    headers += ["destination"] if any(destinations) else []
    columns: list[list[Any]] = [[r.shown_status for r in rows], [r.entry.schema or "-" for r in rows]]
    columns.append([_dataset(r.entry) for r in rows])
    if wide:
        columns += [[str(r.entry.attempts) for r in rows], [_when(r.entry.updated_at) for r in rows]]
    if any(destinations):
        columns.append([d or "-" for d in destinations])
    shown = {r.entry.source for r in rows}
    room = SOURCE_CHARS if wide else _fit_source(columns, headers, width)
    caption = f"bucket {next(iter(buckets))}" if len(buckets) == 1 else None
    table = Table(caption=caption if wide else None, caption_justify="left", box=None, header_style="bold")
    table.pad_edge = False
    for name in ("source", *headers):
        table.add_column(name, no_wrap=True, justify="right" if name == "tries" else "left")
    if wide:
        table.add_column("first error / summary", overflow="fold", ratio=1)
    for index, row in enumerate(rows):
        cells: list[Any] = [short_source(row.entry, buckets, shown, room)]
        cells += [styled(c) if n == 0 else c for n, c in enumerate(column[index] for column in columns)]
        table.add_row(*cells, *((detail(row),) if wide else ()))
    if wide:
        return table
    return RowsWithNotes(table, [detail(r) for r in rows])


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
    from hdr_ingest.destinations.hdruk.judge import GATEWAY_MARK  # here: `validate` imports the judge itself

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
    if entry.verified is not None:
        out.print(f"{'verified':<11} {entry.verified.value} ({entry.verified_at or '-'})", markup=False)
    for difference in entry.differences:
        out.print(f"  {difference.path}: sent {difference.sent}, holds {difference.held}", markup=False)


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
    print_table(out, outcome_table(rows, out.width, wide=args.wide))
    out.print(totals(rows), markup=False)
    return 0
