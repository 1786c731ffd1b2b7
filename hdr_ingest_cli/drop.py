"""`hdr-ingest drop`: upload metadata files to the bucket, with a progress bar and a summary; `--wait` follows
what becomes of them to the end and prints their outcomes."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hdr_ingest_cli.common import EXIT_FAILED, EXIT_PENDING, FAILURES, FINAL_STATUSES, UsageError, json_files
from hdr_ingest_cli.stack import aws_for, find_state, required
from hdr_ingest_cli.status import Row, outcome_table, totals
from local_stack.terminal import console, print_table

if TYPE_CHECKING:  # imported where it is used: `validate` starts without it
    from local_stack.state import StackState

__all__ = ["Upload", "check_prefix", "cmd_drop", "exit_code", "suggested_prefix", "unwatched", "wait_for_outcomes"]

LIST_EACH_UPLOAD = 10  # up to this many files, each upload gets its own line
POLL_S = 0.5


@dataclass(frozen=True)
class Upload:
    path: Path
    key: str
    size: int
    before: str | None  # the source's ledger ``updated_at`` before this upload (None: no item yet)


def unwatched(prefix: str, watched: Sequence[str]) -> bool:
    """No route watches keys under ``prefix``: uploads there would never reach the function."""
    return not any(prefix.startswith(w) for w in watched)


def suggested_prefix(prefix: str, watched: Sequence[str]) -> str:
    """The watched prefix a user most likely meant by ``prefix`` (``unis/`` → ``incoming/unis/``)."""
    bare = prefix.strip("/")
    ending = [w for w in watched if bare and w.strip("/").endswith("/" + bare)]
    containing = [w for w in watched if bare and bare in w]
    return (ending or containing or list(watched))[0]


def check_prefix(
    prefix: str, state: StackState | None, force: bool, remedy: str = ", or --force to upload anyway"
) -> None:
    """A usage error (a warning with ``force``) when no route of the running stack watches ``prefix``."""
    if state is None:
        return  # not the local stack: what the bucket's notifications watch is not known here
    watched = state.prefixes
    if not unwatched(prefix, watched):
        return
    message = (
        f"no route watches {prefix or '(the bucket root)'}: the running stack watches {', '.join(watched)}, "
        "so files dropped there are never processed"
    )
    if not force:
        raise UsageError(f"{message}. Use --prefix {suggested_prefix(prefix, watched)}{remedy}.")
    print(f"warning: {message} (uploading anyway: --force)", file=sys.stderr)


def _progress(what: str) -> Any:
    """A progress bar on stderr when it is a terminal; otherwise nothing is drawn."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    err = console(stderr=True)
    return Progress(
        TextColumn(what),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=not err.is_terminal,
        transient=True,
    )


def _previous(table: Any, source: str) -> str | None:
    item = table.get_item(Key={"source": source}, ConsistentRead=True).get("Item") if table is not None else None
    return str(item.get("updated_at")) if item and "status" in item else None


def _upload(s3: Any, table: Any, bucket: str, prefix: str, pairs: list[tuple[Path, str]], each: bool) -> list[Upload]:
    from botocore.exceptions import BotoCoreError, ClientError

    uploads: list[Upload] = []
    with _progress("uploading") as progress:
        task = progress.add_task("uploading", total=len(pairs))
        for path, name in pairs:
            key = prefix + name
            if not key.lower().endswith(".json"):
                print(f"warning: {key} does not end in .json; it will not be published", file=sys.stderr)
            data = path.read_bytes()
            try:
                before = _previous(table, f"s3://{bucket}/{key}")
                s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/json")
            except (ClientError, BotoCoreError) as exc:
                print(f"error: {path} was not uploaded to s3://{bucket}/{key}: {exc}", file=sys.stderr)
                break
            uploads.append(Upload(path, key, len(data), before))
            if each:
                line = f"uploaded {path} -> s3://{bucket}/{key} ({len(data)} bytes)"
                if progress.live.is_started and sys.stdout.isatty():
                    progress.console.print(line, markup=False, highlight=False)  # above the bar
                else:
                    print(line)
            progress.advance(task)
    return uploads


def _row(table: Any, source: str) -> Row | None:
    from hdr_ingest.adapters.aws.dynamodb_ledger import from_item

    item = table.get_item(Key={"source": source}, ConsistentRead=True).get("Item")
    return Row(from_item(item), item) if item and "status" in item else None


def _settled(table: Any, source: str, before: str | None) -> tuple[list[Row], str]:
    """The rows of ``source`` once it and every catalogue element of it are final (``[]`` before that), and
    the status to show while it is not."""
    row = _row(table, source)
    if row is None or row.entry.updated_at == before:
        return [], "waiting"
    if row.entry.status not in FINAL_STATUSES:
        return [], row.entry.status.value
    rows = [row]
    for member in row.entry.members:
        found = _row(table, f"{source}#{member}")
        if found is None or found.entry.status not in FINAL_STATUSES:
            return [], f"element {member} {found.entry.status.value if found else 'waiting'}"
        rows.append(found)
    return rows, row.entry.status.value


def _latest(table: Any, source: str) -> list[Row]:
    """What the ledger holds for ``source`` and its elements now (for a source the wait gave up on)."""
    row = _row(table, source)
    if row is None:
        return []
    return [row, *(r for m in row.entry.members if (r := _row(table, f"{source}#{m}")) is not None)]


def wait_for_outcomes(table: Any, bucket: str, uploads: list[Upload], timeout_s: float) -> tuple[list[Row], list[str]]:
    """Each upload's final ledger row (newer than before the upload) and its catalogue elements' final rows,
    following PENDING and RETRYING (a live line a record on a terminal); and the sources still not final after
    ``timeout_s``, whose rows as they stand come last in the list."""
    pending = {f"s3://{bucket}/{u.key}": u.before for u in uploads}
    done: dict[str, list[Row]] = {}
    deadline = time.monotonic() + timeout_s
    with _progress("processing") as progress:
        total = progress.add_task("processing", total=len(pending))
        each = len(pending) <= LIST_EACH_UPLOAD  # a live line a record; for more, the bar alone
        lines = {s: progress.add_task(s.rpartition("/")[2], total=None) for s in pending} if each else {}
        while pending and time.monotonic() < deadline:
            for source, before in list(pending.items()):
                rows, shown = _settled(table, source, before)
                if rows:
                    done[source] = rows
                    del pending[source]
                    if source in lines:
                        progress.remove_task(lines.pop(source))
                    progress.advance(total)
                elif source in lines:
                    progress.update(lines[source], description=f"{source.rpartition('/')[2]}: {shown}")
            if pending:
                time.sleep(POLL_S)
    rows = [r for source in sorted(done) for r in done[source]]
    rows += [r for source in sorted(pending) for r in _latest(table, source)]
    return rows, sorted(pending)


def exit_code(rows: Sequence[Row], pending: Sequence[str]) -> int:
    """0 when every record ended CREATED, UPDATED, UNCHANGED or ARCHIVED; 1 when any (a catalogue element
    included) ended INVALID, REJECTED or FAILED; else 3 when some were still not final at the timeout."""
    if any(r.entry.status in FAILURES for r in rows):
        return EXIT_FAILED
    return EXIT_PENDING if pending else 0


def _size(total: int) -> str:
    return f"{total / 1024:,.1f} KB" if total >= 1024 else f"{total} bytes"


def cmd_drop(args: argparse.Namespace) -> int:
    state = find_state(args)
    bucket = required(args.bucket, state, "bucket", "--bucket")
    prefix = args.prefix if not args.prefix or args.prefix.endswith("/") else args.prefix + "/"
    check_prefix(prefix, state, args.force)
    pairs = list(json_files(args.files))
    if not pairs:
        raise UsageError("no .json files found in the given directories")
    for path, _ in pairs:
        if not path.is_file():
            raise UsageError(f"{path}: no such file")
    aws = aws_for(args, state)
    table = aws.resource("dynamodb").Table(required(args.table, state, "table", "--table")) if args.wait else None
    uploads = _upload(aws.client("s3"), table, bucket, prefix, pairs, each=len(pairs) <= LIST_EACH_UPLOAD)
    print(f"uploaded {len(uploads)} file(s), {_size(sum(u.size for u in uploads))}, to s3://{bucket}/{prefix}")
    if len(uploads) < len(pairs):
        print(f"{len(pairs) - len(uploads)} file(s) not uploaded", file=sys.stderr)
        return 1
    if table is None:
        return 0
    rows, missing = wait_for_outcomes(table, bucket, uploads, args.timeout)
    out = console()
    if rows:
        print_table(out, outcome_table(rows, out.width))
        out.print(totals(rows), markup=False)
    for source in missing:
        print(f"still not final after {args.timeout:g} s: {source} (see `hdr-ingest status`)", file=sys.stderr)
    return exit_code(rows, missing)
