"""The whole pipeline on this machine: `python -m local_stack` (`make run`).

Starts moto (S3, SQS, DynamoDB, Secrets Manager) with the stack's resources, the Gateway emulator (validating
with the real schema pack) and the ingest function behind an SQS poller; uploads the sample documents in
`local_stack/samples/`, prints what became of each, then keeps running, printing every new outcome, until
Ctrl-C. `--once` exits after the samples: 0 when each ended in its expected status, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time
import tomllib
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from hdr_ingest.core.ledger import LedgerEntry
from hdr_ingest.core.outcome import Status
from hdr_ingest.destinations.hdruk.schema_pack import SchemaPackError
from local_stack.gateway_emulator.traser_node import TraserUnavailable
from local_stack.state import DEFAULT_STATE_DIR, STATE_FILE_NAME, remove_state, write_state
from local_stack.terminal import (
    GAP,
    WIDE,
    RowsWithNotes,
    WithoutMetricLines,
    console,
    print_table,
    shorten,
    shorten_middle,
    styled,
)

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
PUBLISHED = frozenset({Status.CREATED, Status.UPDATED, Status.UNCHANGED})
LABEL_CHARS = 48  # the results table's source column on a terminal


@dataclass(frozen=True)
class Sample:
    file: Path
    key: str
    expect: frozenset[str]
    about: str


def load_samples(directory: Path = SAMPLES_DIR) -> list[Sample]:
    manifest = tomllib.loads((directory / "manifest.toml").read_text(encoding="utf-8"))
    return [
        Sample(directory / item["file"], item["key"], frozenset(item["expect"]), item.get("about", ""))
        for item in manifest["sample"]
    ]


@dataclass(frozen=True)
class Result:
    """One row of the results table: a sample, or one dataset of a catalogue sample."""

    label: str
    entry: LedgerEntry | None
    expect: frozenset[str]

    @property
    def as_expected(self) -> bool:
        return self.entry is not None and self.entry.status.value in self.expect


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m local_stack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--once", action="store_true", help="exit after the samples (exit 1 if any was unexpected)")
    parser.add_argument("--no-samples", action="store_true", help="do not upload the bundled samples")
    parser.add_argument("--port", type=int, default=0, help="moto server port (default: a free port)")
    parser.add_argument("--stack-name", default="hgi-local", help="resource name prefix (default: hgi-local)")
    parser.add_argument("--region", default="eu-west-2")
    parser.add_argument("--visibility-timeout", type=int, default=30, help="ingest queue VisibilityTimeout, s")
    parser.add_argument("--max-receive-count", type=int, default=5, help="deliveries before the DLQ (default 5)")
    parser.add_argument("--function-timeout", type=float, default=60.0, help="the function's timeout, s")
    parser.add_argument(
        "--log-level",
        default="ERROR",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="the function's POWERTOOLS_LOG_LEVEL (default ERROR: outcomes are printed as table rows instead)",
    )
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="default: .local-stack")
    function = parser.add_argument_group("the function's settings (the template's parameters)")
    function.add_argument(
        "--archive-on-delete", action="store_true", help="archive a record when its object is deleted (ArchiveOnDelete)"
    )
    function.add_argument(
        "--route-options",
        action="append",
        default=[],
        metavar="KIND=JSON",
        help='a route\'s options, e.g. qrvey=\'{"onChange": "recreate"}\' (repeatable)',
    )
    function.add_argument("--target-schema", help='the HDR UK route\'s TARGET_SCHEMA, e.g. "HDRUK 3.0.0"')
    parser.add_argument(
        "--hdruk-only",
        action="store_true",
        help="run only the HDR UK route (no Qrvey, UNIS or AEP emulators and samples)",
    )
    parser.add_argument(
        "--in-memory",
        action="store_true",
        help="keep the Gateway emulator's data in memory, not in STATE_DIR/gateway.sqlite (which is cleared at "
        "each start: the ledger starts empty, and the emulator must agree with it)",
    )
    parser.add_argument("--emulator-port", type=int, default=0, help="Gateway emulator port (default: free)")
    parser.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the samples' outcomes")
    gateway = parser.add_argument_group("a real Gateway instead of the emulator")
    gateway.add_argument("--gateway-url", help="e.g. https://api.dev.hdruk.cloud/api/v1")
    gateway.add_argument("--app-id", help="the Gateway app's Application ID")
    gateway.add_argument("--client-id", help="the Gateway app's Client ID")
    return parser


# --- output -----------------------------------------------------------------------------------------------


def first_problem(entry: LedgerEntry) -> str:
    if entry.errors:
        more = f" (+{entry.errors_total - 1} more)" if entry.errors_total > 1 else ""
        return f"{entry.errors[0]}{more}"
    return "" if entry.status in PUBLISHED else entry.reason


def shown(entry: LedgerEntry) -> str:
    """The source without its bucket: the key, plus ``#<identifier>`` for a dataset of a catalogue file."""
    return entry.source.removeprefix(f"s3://{entry.bucket}/")


def outcome_row(entry: LedgerEntry) -> list[str]:
    return [
        shown(entry),
        entry.status.value,
        entry.schema or "-",
        str(entry.record_id) if entry.record_id is not None else "-",
        str(entry.record_version) if entry.record_version is not None else "-",
    ]


def _cli_command() -> str:
    """How to run the CLI, as it can be pasted here: ``hdr-ingest`` when that is on PATH and is this venv's,
    else this venv's console script by its path (``.venv/bin/hdr-ingest`` under ``make run``)."""
    mine = Path(sys.executable).parent / "hdr-ingest"
    found = shutil.which("hdr-ingest")
    if found and Path(found).resolve() == mine.resolve():
        return "hdr-ingest"
    if not mine.exists():
        return f"{sys.executable} -m hdr_ingest_cli"
    try:
        return str(mine.relative_to(Path.cwd()))
    except ValueError:
        return str(mine)


def print_endpoints(stack: Any, state_path: Path) -> None:
    aws = stack.aws
    emulator = stack.emulator
    gateway = f"{stack.gateway_url} (emulator; admin {emulator.root_url}/_emulator/datasets)" if emulator else ""
    rows = [
        ["moto endpoint", aws.endpoint_url],
        ["bucket", aws.bucket],
        ["ingest queue", aws.queue_url],
        ["dead-letter queue", aws.dlq_url],
        ["ledger table", aws.table],
        ["Gateway", gateway or stack.gateway_url],
        *([d.name, d.endpoint()] for d in stack.destinations),
        ["state file", str(state_path)],
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\nLocal stack {aws.stack_name} ({aws.region}) is running:")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    creds = " ".join(f"{k}={v}" for k, v in aws.credentials.items() if k != "AWS_SESSION_TOKEN")
    cli = _cli_command()
    print("\nDrop a file (any name ending in .json under incoming/), from another terminal:")
    print(f"  {cli} drop my.json --wait")
    print("or with the AWS CLI, if you have it:")
    print(f"  {creds} AWS_DEFAULT_REGION={aws.region} \\")
    print(f"    aws --endpoint-url {aws.endpoint_url} s3 cp my.json s3://{aws.bucket}/incoming/")
    print(f"The ledger: {cli} status        Replay the dead-letter queue: {cli} redrive")


def _label(label: str, previous: str, terminal: bool, room: int) -> str:
    """On a terminal, a catalogue's dataset as ``  #id`` under its file, and long labels shortened in the
    middle to ``room`` columns."""
    if not terminal:
        return label  # piped: whole, one row a line, for grep
    file, _, member = label.partition("#")
    lead, text = ("  #", member) if member and previous.partition("#")[0] == file else ("", label)
    return lead + shorten_middle(text, room - len(lead))


def _result_cells(result: Result) -> tuple[Any, str, str, str, str]:
    """status, schema, dataset, expected, first error of one sample's result."""
    expected = "yes" if result.as_expected else f"NO ({'/'.join(sorted(result.expect))})"
    entry = result.entry
    if entry is None:
        return styled("TIMEOUT"), "-", "-", expected, "no final outcome in time"
    _, status, schema, dataset_id, version = outcome_row(entry)
    dataset = dataset_id if dataset_id == "-" or version == "-" else f"{dataset_id} v{version}"
    return styled(status), schema, dataset, expected, first_problem(entry)


def print_results(results: list[Result]) -> None:
    """The samples' outcomes as `hdr-ingest status` draws its table: on a terminal narrower than
    :data:`WIDE` columns, each first error on its own line under its row, so no status is squeezed."""
    from rich.table import Table

    out = console()
    notes_under = out.is_terminal and out.width < WIDE
    cells = [_result_cells(r) for r in results]
    headers = ("status", "schema", "dataset", "expected")
    widths = [max(len(h), *(len(str(c[n])) for c in cells)) for n, h in enumerate(headers)]
    room = max(16, out.width - sum(widths) - GAP * len(widths)) if notes_under else LABEL_CHARS
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("source", *headers):
        table.add_column(name, no_wrap=True)
    if not notes_under:
        table.add_column("first error", overflow="fold")
    previous = ""
    for result, (status, schema, dataset, expected, problem) in zip(results, cells, strict=True):
        label, previous = _label(result.label, previous, out.is_terminal, room), result.label
        table.add_row(label, status, schema, dataset, expected, *(() if notes_under else (problem,)))
    print_table(out, RowsWithNotes(table, [c[4] for c in cells]) if notes_under else table)


def print_outcome_line(entry: LedgerEntry) -> None:
    stamp = time.strftime("%H:%M:%S")
    version = f" v{entry.record_version}" if entry.record_version is not None else ""
    where = f"record {entry.record_id}{version}" if entry.record_id is not None else ""
    if entry.status is Status.RETRYING:
        where = f"attempt {entry.attempts}"
    detail = first_problem(entry)
    columns = shutil.get_terminal_size((160, 24)).columns
    text = "  ".join(p for p in (stamp, f"{entry.status.value:<9}", shown(entry), entry.schema or "", where) if p)
    if detail:
        text += "  " + shorten(detail, max(30, columns - len(text) - 2))
    print(text, flush=True)


# --- running ----------------------------------------------------------------------------------------------


def run_samples(stack: Any, samples: list[Sample], timeout: float) -> list[Result]:
    """Upload every sample, then wait for each one's final ledger status (and its datasets', for a catalogue)."""
    from local_stack.stack import FINAL_STATUSES

    print(f"\nUploading {len(samples)} sample documents to s3://{stack.aws.bucket}/incoming/ …", flush=True)
    for sample in samples:
        stack.put(sample.key, sample.file.read_bytes())
    deadline = time.monotonic() + timeout

    def final(source: str) -> LedgerEntry | None:
        try:
            entry: LedgerEntry = stack.wait_for(source, FINAL_STATUSES, timeout=max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            return None
        return entry

    results: list[Result] = []
    for sample in samples:
        source = stack.source(sample.key)
        entry = final(source)
        results.append(Result(sample.key, entry, sample.expect))
        for member in entry.members if entry else ():
            results.append(Result(f"{sample.key}#{member}", final(f"{source}#{member}"), sample.expect))
    return results


def watch(stack: Any, seen: dict[str, str]) -> None:
    """Print every new ledger outcome until interrupted."""
    ledger = stack.ledger()
    while True:
        for entry in ledger.scan():
            if seen.get(entry.source) != entry.updated_at:
                seen[entry.source] = entry.updated_at
                print_outcome_line(entry)
        time.sleep(1.0)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def parse_route_options(given: list[str], target_schema: str | None) -> dict[str, dict[str, Any]]:
    """``--route-options KIND=JSON`` (and ``--target-schema``, the HDR UK route's ``targetSchema``) by kind."""
    import json

    options: dict[str, dict[str, Any]] = {}
    for item in given:
        kind, sep, text = item.partition("=")
        try:
            value = json.loads(text) if sep else None
        except ValueError as exc:
            raise ValueError(f"--route-options {item!r}: not JSON ({exc})") from exc
        if not kind or not isinstance(value, dict):
            example = 'qrvey=\'{"onChange": "recreate"}\''
            raise ValueError(f"--route-options {item!r}: expected KIND=JSON-object, e.g. {example}")
        options.setdefault(kind.strip(), {}).update(value)
    if target_schema:
        options.setdefault("hdruk", {})["targetSchema"] = target_schema
    return options


def already_running(state_path: Path) -> str | None:
    """Why this stack must not start: another one, still running, owns ``state_path`` (and the data beside it,
    which starting would clear). ``None`` when the state file is absent or its process has gone."""
    from local_stack.state import StackState

    other = StackState.load(state_path)
    pid = other.data.get("pid") if other is not None else None
    if other is None or pid == os.getpid():
        return None
    return (
        f"error: a local stack is already running (pid {pid}, started {other.data.get('started_at', '?')}, "
        f"state {state_path}); it is left alone. Stop it with Ctrl-C in its terminal or `kill {pid}`, "
        "then run this again; one stack at a time."
    )


def _flushed(terminal: Any) -> Any:
    """``terminal`` once what was written through the filter in front of it has reached it."""
    sys.stdout.flush()
    return terminal


def _verbose(args: argparse.Namespace) -> bool:
    return args.log_level == "DEBUG" or os.environ.get("LOG_LEVEL", "").upper() == "DEBUG"


def _preflight(args: argparse.Namespace, state_dir: Path) -> dict[str, dict[str, Any]] | None:
    """The route options given; ``None`` (after saying why) when this stack must not start."""
    try:
        route_options = parse_route_options(args.route_options, args.target_schema)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    running = already_running(state_dir / STATE_FILE_NAME)
    if running:
        print(running, file=sys.stderr)
        return None
    return route_options


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.gateway_url and not (args.app_id and args.client_id):
        print("--gateway-url needs --app-id and --client-id (the Gateway app's credentials)", file=sys.stderr)
        return 2
    # The function's metrics are disabled locally; Powertools still warns when an invocation has none, and prints
    # its ColdStart metric line ({"_aws": ...}) all the same: both only at --log-level DEBUG (or LOG_LEVEL=DEBUG).
    if not _verbose(args):
        warnings.filterwarnings("ignore", category=UserWarning, module="aws_lambda_powertools")
    signal.signal(signal.SIGTERM, _interrupt)

    from local_stack.stack import LocalStack

    route_options = _preflight(args, args.state_dir)
    if route_options is None:
        return 2
    if not args.in_memory and not args.gateway_url:
        args.state_dir.mkdir(parents=True, exist_ok=True)
    stack = LocalStack(_stack_options(args, route_options))
    print("Starting moto, " + ("" if args.gateway_url else "the Gateway emulator, ") + "and the ingest function …")
    try:
        stack.start()
    except (SchemaPackError, TraserUnavailable) as exc:  # TraserUnavailable: no Node or npm packages
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if stack.cleared_datasets:
        print(
            f"Cleared the Gateway emulator's {stack.cleared_datasets} datasets from an earlier run: "
            "the ledger starts empty, so the emulator does too."
        )
    return _serve(stack, args)


def _stack_options(args: argparse.Namespace, route_options: dict[str, Any]) -> Any:
    from local_stack.stack import LOCAL_APP_ID, LOCAL_CLIENT_ID, StackOptions

    real_gateway = bool(args.gateway_url)
    return StackOptions(
        stack_name=args.stack_name,
        region=args.region,
        moto_port=args.port,
        visibility_timeout=args.visibility_timeout,
        max_receive_count=args.max_receive_count,
        function_timeout_s=args.function_timeout,
        gateway_url=args.gateway_url,
        app_id=args.app_id or LOCAL_APP_ID,
        client_id=args.client_id or LOCAL_CLIENT_ID,
        emulator_port=args.emulator_port,
        emulator_db=None if args.in_memory or real_gateway else args.state_dir / "gateway.sqlite",
        log_level=args.log_level,
        other_destinations=not args.hdruk_only,
        # moto's ledger starts empty at each start, but a real Gateway keeps what earlier runs published: look up
        # before every create, so a sample dropped again updates its dataset rather than making a second one
        extra_env={
            **({"ARCHIVE_ON_DELETE": "true"} if args.archive_on_delete else {}),
            **({"LOOKUP_NEW_SOURCES": "true"} if real_gateway else {}),
        },
        route_options=route_options,
    )


def _serve(stack: Any, args: argparse.Namespace) -> int:
    """Run the samples, print where everything is, then watch new drops until Ctrl-C (or stop, with --once)."""
    samples = [] if args.no_samples else load_samples()
    for destination in stack.destinations:
        samples += [] if args.no_samples else load_samples(destination.samples)
    ok, state_path = True, args.state_dir / STATE_FILE_NAME
    terminal, sys.stdout = sys.stdout, sys.stdout if _verbose(args) else WithoutMetricLines(sys.stdout)
    try:
        write_state(state_path, _state(stack))
        seen: dict[str, str] = {}
        if samples:
            results = run_samples(stack, samples, args.wait)
            print()
            print_results(results)
            ok = all(result.as_expected for result in results)
            seen.update({r.entry.source: r.entry.updated_at for r in results if r.entry is not None})
        print_endpoints(stack, state_path)
        if args.once:
            counters = stack.poller.counters()
            print(
                f"\n{counters['batches']} batches, {counters['messages']} messages, "
                f"{counters['failures']} reported for retry. "
                + ("Every sample ended as expected." if ok else "Some samples did NOT end as expected.")
            )
            return 0 if ok else 1
        print("\nWatching for new drops; Ctrl-C stops the stack.\n", flush=True)
        watch(stack, seen)
    except KeyboardInterrupt:
        print("\nStopping …")
    finally:
        remove_state(state_path)
        stack.stop()
        sys.stdout = _flushed(terminal)
    return 0 if ok else 1


def _state(stack: Any) -> dict[str, Any]:
    """What the CLI reads to find this stack (``.local-stack/state.json``)."""
    return {
        "pid": os.getpid(),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "aws": stack.aws.to_json(),
        "gateway_url": stack.gateway_url,
        "emulator_admin_url": f"{stack.emulator.root_url}/_emulator" if stack.emulator else None,
        "function_env": stack.function_env,
        "prefixes": stack.prefixes,
    }


if __name__ == "__main__":
    raise SystemExit(main())
