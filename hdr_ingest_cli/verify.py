"""`hdr-ingest verify`: read every published record of the ledger back from its catalogue and report drift (changed,
deleted or archived there since we published); the ledger's ``verified`` and ``verified_at`` are updated."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hdr_ingest_cli.common import UsageError
from hdr_ingest_cli.stack import Aws, aws_for, find_state, required
from hdr_ingest_cli.status import MIN_SOURCE_CHARS, Row, read_ledger, short_source
from local_stack.terminal import GAP, RowsWithNotes, console, print_table

__all__ = ["add_verify", "cmd_verify", "drift_table"]

EXIT_DRIFT = 1
WIDTH = 100  # the table fits this many columns, notes wrapped under their rows
RESULT_STYLES = {"matches": "green", "differs": "bold red", "missing": "red", "unknown": "yellow"}
UNKNOWN = "unknown"  # the record could not be read back (or compared) now: no drift found, none ruled out


def add_verify(sub: Any) -> None:
    """The ``verify`` command's arguments."""
    from hdr_ingest_cli.stack import add_aws_options

    p = sub.add_parser("verify", help="read every published record back from its catalogue and report drift")
    p.add_argument("source", nargs="?", help="only this source (s3://bucket/key, a key, or part of one)")
    p.add_argument("--prefix", help="only sources whose key starts with this prefix, e.g. incoming/unis/")
    p.add_argument("--table", help="the ledger table (default: the local stack's)")
    p.add_argument(
        "--destinations",
        help="the function's DESTINATIONS (JSON) when no local stack runs: each record is read back through its "
        "route's catalogue",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_aws_options(p)
    p.set_defaults(func=cmd_verify)


@dataclass(frozen=True)
class Checked:
    """One ledger row read back: ``result`` matches / differs / missing / unknown, and what to show with it."""

    row: Row
    result: str
    differences: tuple[Any, ...] = ()
    message: str = ""
    recorded: bool = False  # the ledger item took the new read-back

    @property
    def drifted(self) -> bool:
        return self.result in ("differs", "missing")

    def as_json(self) -> dict[str, Any]:
        entry = self.row.entry
        return {
            "source": entry.source,
            "verified": None if self.result == UNKNOWN else self.result,
            "drift": self.drifted,
            "differences": [d.as_dict() for d in self.differences],
            "message": self.message,
            "dataset_id": entry.record_id,
            "destination": self.row.item.get("destination"),
            "ledger_updated": self.recorded,
        }


def cmd_verify(args: argparse.Namespace) -> int:
    if args.source and args.prefix:
        raise UsageError("give a SOURCE or --prefix, not both")
    state = find_state(args)
    table_name = required(args.table, state, "table", "--table")
    env = _function_env(args, state, table_name)
    aws = aws_for(args, state)
    from hdr_ingest.usecases.verify import verifiable

    table = aws.resource("dynamodb").Table(table_name)
    rows = [r for r in _select(read_ledger(table), args.source, args.prefix) if verifiable(r.entry)]
    checked = _check_all(rows, _Routes(env, aws), aws, table)
    if args.json:
        print(json.dumps([c.as_json() for c in checked], indent=2, ensure_ascii=False, default=str))
    else:
        _print(checked, table_name)
    return EXIT_DRIFT if any(c.drifted for c in checked) else 0


def _function_env(args: argparse.Namespace, state: Any, table: str) -> dict[str, str]:
    """The function's environment the routes are read from: ``--destinations``, else the running stack's."""
    if args.destinations:
        import os

        local = os.environ.get("ALLOW_LOCAL_DESTINATIONS", "")
        return {
            "DESTINATIONS": args.destinations,
            "LEDGER_TABLE": table,
            "DLQ_URL": "-",
            "ALLOW_LOCAL_DESTINATIONS": local,
        }
    if state is None or not state.function_env:
        raise UsageError("--destinations is required (no running local stack to take the routes from: `make run`)")
    return dict(state.function_env)


def _select(rows: list[Row], source: str | None, prefix: str | None) -> list[Row]:
    if prefix:
        return [r for r in rows if r.entry.key.startswith(prefix)]
    if source:
        exact = [r for r in rows if source in (r.entry.source, r.entry.key)]
        rows = exact or [r for r in rows if source in r.entry.source]
        if not rows:
            raise UsageError(f"no ledger entry matches {source!r} (see `hdr-ingest status`)")
    return rows


class _Routes:
    """Each route's destination and credentials, built once, the way ``rebuild-ledger`` builds them."""

    def __init__(self, env: dict[str, str], aws: Aws) -> None:
        from hdr_ingest.entry.settings import ConfigError, Settings

        try:
            self.settings = Settings.from_env(env)
        except ConfigError as exc:
            raise UsageError(f"the routes: {exc}") from exc
        self.aws = aws
        self._built: dict[str, tuple[Any, Any]] = {}

    def for_key(self, key: str) -> tuple[Any, Any, Any]:
        """The route spec a key falls under (longest prefix), its destination and its credentials; (None, ...)."""
        matching = [s for s in self.settings.routes if key.startswith(s.prefix)]
        if not matching:
            return None, None, None
        spec = max(matching, key=lambda s: len(s.prefix))
        if spec.prefix not in self._built:
            self._built[spec.prefix] = self._build(spec)
        return (spec, *self._built[spec.prefix])

    def _build(self, spec: Any) -> tuple[Any, Any]:
        from hdr_ingest.destinations import Common, kind

        found = kind(spec.kind)
        assert found is not None, "the settings checked every kind"
        destination = found.build(spec, Common(schema_pack_dir=self.settings.schema_pack_dir))
        credentials = None
        if spec.secret:
            secret = self.aws.client("secretsmanager").get_secret_value(SecretId=spec.secret)["SecretString"]
            credentials = destination.credentials(json.loads(secret), spec.secret)
        return destination, credentials


def _check_all(rows: Sequence[Row], routes: _Routes, aws: Aws, table: Any) -> list[Checked]:
    from hdr_ingest.adapters.aws.dynamodb_ledger import DynamoDbLedger
    from hdr_ingest_cli.drop import _progress

    ledger, s3, checked = DynamoDbLedger(table), aws.client("s3"), []
    with _progress("reading back") as progress:
        task = progress.add_task("reading back", total=len(rows))
        for row in rows:
            checked.append(_check(row, routes, s3, ledger))
            progress.advance(task)
    return checked


def _check(row: Row, routes: _Routes, s3: Any, ledger: Any) -> Checked:
    """One row read back and compared with its S3 object's document; the ledger noted when that told something."""
    from hdr_ingest.core.ports import Call
    from hdr_ingest.usecases.verify import reverify, sent_document, with_verification

    entry = row.entry
    spec, destination, credentials = routes.for_key(entry.key)
    if spec is None:
        return Checked(row, UNKNOWN, message="its key is under no route now")
    published = dict(entry.destination or {})
    if published and (published.get("kind"), published.get("url")) != (spec.kind, spec.url):
        return Checked(row, UNKNOWN, message=f"published to {published.get('url')}; its route now goes elsewhere")
    try:
        data = _object(s3, entry)
        document = sent_document(entry, data, destination, routes.settings.catalogue_id_pointer)
    except LookupError as exc:
        return Checked(row, UNKNOWN, message=str(exc))
    timeout = routes.settings.read_timeout_s
    drift = reverify(entry, destination, document, Call(credentials, timeout, timeout))
    if drift.verification is None:
        return Checked(row, UNKNOWN, message=drift.message)
    at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    recorded = ledger.note_verification(with_verification(entry, drift.verification, at))
    found = drift.verification
    return Checked(row, found.result.value, found.differences, found.message, recorded)


def _object(s3: Any, entry: Any) -> bytes:
    """The S3 object the entry was published from (its recorded version, when the bucket keeps versions)."""
    from botocore.exceptions import ClientError

    kwargs = {"Bucket": entry.bucket, "Key": entry.key}
    if entry.version_id:
        kwargs["VersionId"] = entry.version_id
    try:
        return bytes(s3.get_object(**kwargs)["Body"].read())
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        raise LookupError(f"its S3 object could not be read ({code}): nothing to compare with") from exc


def _note(check: Checked) -> str:
    if check.differences:
        first = check.differences[0]
        more = f" (+{len(check.differences) - 1} more)" if len(check.differences) > 1 else ""
        return f"{first.path}: sent {first.sent}, holds {first.held}{more}"
    return "" if check.result == "matches" else check.message


def drift_table(checked: Sequence[Checked], width: int) -> Any:
    """A row a record (source shortened in the middle to fit ``width``, result, dataset, destination kind) with
    its first difference, or why it is missing or unknown, on its own wrapped line under it."""
    from rich.table import Table
    from rich.text import Text

    buckets = {c.row.entry.bucket for c in checked}
    columns = [
        [c.result for c in checked],
        [str(c.row.entry.record_id) for c in checked],
        [str((c.row.item.get("destination") or {}).get("kind", "-")) for c in checked],
    ]
    headers = ("verified", "dataset", "kind")
    others = [max(len(h), *(len(v) for v in column)) for h, column in zip(headers, columns, strict=True)]
    room = max(MIN_SOURCE_CHARS, width - sum(others) - GAP * len(others))
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("source", *headers):
        table.add_column(name, no_wrap=True)
    for index, check in enumerate(checked):
        result = Text(check.result, style=RESULT_STYLES.get(check.result, ""))
        source = short_source(check.row.entry, buckets, room=room)
        table.add_row(source, result, columns[1][index], columns[2][index])
    return RowsWithNotes(table, [_note(c) for c in checked])


def _print(checked: Sequence[Checked], table_name: str) -> None:
    out = console()
    out.width = min(out.width, WIDTH)
    if not checked:
        print(f"no published records to read back in ledger {table_name}")
        return
    print_table(out, drift_table(checked, out.width))
    counts = Counter(c.result for c in checked)
    parts = ", ".join(f"{counts[r]} {r}" for r in ("matches", "differs", "missing", UNKNOWN) if counts[r])
    out.print(f"{len(checked)} record{'s' if len(checked) != 1 else ''} read back: {parts}", markup=False)
    if counts[UNKNOWN]:
        print(f"{counts[UNKNOWN]} could not be read back now: run verify again later", file=sys.stderr)
