"""Our handler beside a bare-minimum handler (handler_worker.py), one object at a time in one warm worker process,
over the same moto server and Gateway emulator (answering at once): 5 KB and 1.8 MB documents (exported indented),
plain ASCII and re-encoded, a create and a changed re-export of each; medians; also beside a bare minimum that
reads the record back once, as issue 22 asks of every publish (one GET, parsed). Every AWS and HTTP call of a publish
is counted and timed (a second table), and the 5 KB ratio is shown again without the lease write (our handler with
the lease taken in memory, every other call made: handler_worker.MemoryLease). Then the read-back
(issue 22): the 5 KB create with the route option ``verify`` on (default) and off."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .common import MB, add_table, marked, ms, note, row, table
from .stack import BulkStack, worker

NOVERIFY = "incoming/noverify/"


def run_worker(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The handler worker over a fresh local stack: routes ``incoming/`` (read-back on) and ``incoming/noverify/``
    (``"verify": false``)."""
    from local_stack.stack import LOCAL_APP_ID, LOCAL_CLIENT_ID

    stack = BulkStack()
    try:
        stack.set_latency(0)
        route = {"kind": "hdruk", "url": stack.env["GATEWAY_URL"], "secret": stack.aws.secret_id}
        routes = [{"prefix": "incoming/", **route}, {"prefix": NOVERIFY, **route, "options": {"verify": False}}]
        config = {
            "env": {**stack.env, "DESTINATIONS": json.dumps(routes)},
            "bucket": stack.aws.bucket,
            "queue_url": stack.aws.queue_url,
            "queue_arn": stack.aws.queue_arn,
            "region": stack.aws.region,
            "table": stack.aws.table,
            "app_id": LOCAL_APP_ID,
            "client_id": LOCAL_CLIENT_ID,
            "cases": cases,
        }
        process = worker("scripts.bench.handler_worker", config)
        assert process.stdout is not None
        results: list[dict[str, Any]] = json.loads(marked(process.stdout))
        process.wait(timeout=60)
    finally:
        stack.stop()
    return results


def bench_handler(args: argparse.Namespace) -> None:
    note("handler: ours beside a bare-minimum handler, one object at a time, same moto stack and Gateway emulator")
    small, big = (5, 2) if args.quick else (25, 7)
    runners = ["ours", "bare", "bare+read", "noverify"]
    small_runners = [*runners, "nolease"]  # the lease write may be named as the 5 KB remainder (issue 25)
    cases = [
        {"label": "5 KB, plain ASCII", "size": 5 * 1024, "encoded": False, "count": small, "runners": small_runners},
        {"label": "5 KB, re-encoded", "size": 5 * 1024, "encoded": True, "count": small, "runners": small_runners},
        {"label": "1.8 MB, plain ASCII", "size": int(1.8 * MB), "encoded": False, "count": big, "runners": runners},
        {"label": "1.8 MB, re-encoded (®)", "size": int(1.8 * MB), "encoded": True, "count": big, "runners": runners},
    ]
    for result in run_worker(cases):
        for what in ("create", "changed"):
            _ratio_rows(result, what)
            mine, floor = result[f"ours {what}"], result[f"bare {what}"]
            if "plain" in result["label"] and (result["bytes"] < MB or what == "create"):
                add_table(f"calls per publish, {result['label']}, {what}", calls_table(mine, floor))


def _ratio_rows(result: dict[str, Any], what: str) -> None:
    """Ours / bare against the target; then beside a bare minimum that reads back too, without the lease write
    (5 KB: measured with the lease taken in memory, the remainder issue 25 lets us name) and with the read-back
    off."""
    small = result["bytes"] < MB
    limit = 1.5 if small else 1.3
    mine, floor = result[f"ours {what}"], result[f"bare {what}"]
    bare = floor["median"]

    def vs(seconds: float) -> str:
        return f"{ms(seconds)} vs bare {ms(bare)} = {seconds / bare:.2f}x"

    label = f"{result['label']} ({result['bytes'] / 1024:,.0f} KB indented), {what}"
    row("handler", label, vs(mine["median"]), f"<= {limit:g}x bare", mine["median"] <= limit * bare)
    reading = result.get(f"bare+read {what}")
    if reading is not None:
        floor_read = reading["median"]
        row(
            "handler",
            "  the same beside a bare minimum that also reads the record back once (GET, json.loads)",
            f"{ms(mine['median'])} vs {ms(floor_read)} = {mine['median'] / floor_read:.2f}x",
        )
    unleased = result.get(f"nolease {what}")
    if unleased is not None:
        seconds = unleased["median"]
        what_is = "  the same without the lease write (the lease taken in memory; every other call made)"
        row("handler", what_is, vs(seconds), f"<= {limit:g}x bare", seconds <= limit * bare)
    off = result.get(f"noverify {what}")
    if off is not None:
        row("handler", "  the same with the read-back off (route option verify: false)", vs(off["median"]))


def calls_table(ours: dict[str, Any], bare: dict[str, Any]) -> str:
    """call | count ours | count bare | median ms ours | median ms bare, one row per call either made (ours first)."""
    names = [*ours["calls"], *(name for name in bare["calls"] if name not in ours["calls"])]
    cells = []
    for name in names:
        mine, theirs = ours["calls"].get(name), bare["calls"].get(name)
        cells.append(
            [
                name,
                f"{mine[0]:g}" if mine else "0",
                f"{theirs[0]:g}" if theirs else "0",
                f"{mine[1] * 1000:.2f}" if mine else "",
                f"{theirs[1] * 1000:.2f}" if theirs else "",
            ]
        )
    return table(["call", "count ours", "count bare", "median ms ours", "median ms bare"], cells)


def bench_verify(args: argparse.Namespace) -> None:
    note("verify: a create with the read-back on (default) and off (route option verify: false), 5 KB and 1.8 MB")
    runners = ["ours", "noverify"]
    cases = [
        {"label": "5 KB", "size": 5 * 1024, "encoded": False, "count": 5 if args.quick else 25, "runners": runners},
        {
            "label": "1.8 MB",
            "size": int(1.8 * MB),
            "encoded": False,
            "count": 1 if args.quick else 3,
            "runners": runners,
        },
    ]
    for result in run_worker(cases):
        on, off = result["ours create"], result["noverify create"]
        extra = {
            name: seconds for name, (count, seconds) in on["calls"].items() if count > off["calls"].get(name, [0, 0])[0]
        }
        calls = ", ".join(f"{name} {ms(seconds)}" for name, seconds in extra.items()) or "none"
        label = result["label"]
        row(
            "verify",
            f"{label} create: read-back on (default) / off (route option verify: false)",
            f"{ms(on['median'])} / {ms(off['median'])}",
        )
        row(
            "verify",
            f"  {label}: cost of the read-back per publish (on - off)",
            ms(on["median"] - off["median"]),
            "one GET, reported",
        )
        row("verify", f"  {label}: calls only the read-back makes, median each", calls)
