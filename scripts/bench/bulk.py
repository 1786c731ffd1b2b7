"""Bulk: files dropped in S3 on the local stack (moto and the Gateway emulator, each in its own process), processed
by the real handler behind SQS pollers in separate processes (one process = one Lambda instance): with the emulator
answering at once (1 instance), and with 100 ms per Gateway request at 5 instances (MaximumConcurrency 5), for new
datasets and changed documents. The instances poll first; the clock runs from the first upload (8 concurrent PUTs
from one client) to the last final ledger status (the latest updated_at), uploads included. A record the function
retries is delivered again only after the queue's visibility timeout (120 s here, 360 s in template.yaml), so
retries are reported with the time at which everything else was done. "Function CPU" is the worker processes' CPU
(the handler and the SQS polling that stands for Lambda's event source). "Handler time" is wall time per file; its
Gateway and AWS waits are summed over the threads that process records at once, so they can exceed it. The Gateway
bound is what the Gateway's latency alone allows, from the Gateway requests counted per file: instances x a batch of
10 per (rounds of RECORD_CONCURRENCY records x requests per file x latency)."""

from __future__ import annotations

import argparse
import uuid

from .common import ms, note, row
from .documents import drop
from .stack import BulkResult, BulkStack

LATENCY_S, INSTANCES, TARGET = 0.1, 5, 40


def report(label: str, result: BulkResult, target: float | None, rounds: int = 0) -> None:
    rate = result.files / result.seconds
    # UNCHANGED: a duplicate S3 event for a file already published (the ledger's lease held it off).
    expected = ("CREATED" if "new" in label else "UPDATED", "UNCHANGED")
    ok = sum(result.statuses.get(status, 0) for status in expected) == result.files
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(result.statuses.items()))
    met = None if target is None else rate >= target and ok
    what = f"{label}: throughput, first upload to last final ledger status"
    row("bulk", what, f"{rate:.1f} files/s ({result.seconds:.1f} s)", f">= {target:.0f} files/s" if target else "", met)
    row("bulk", f"{label}: uploads (8 concurrent PUTs, one client, while polling)", ms(result.upload_seconds))
    if result.failures:
        done = f"all else done at {result.last_first_pass:.1f} s, the rest waited out the queue's visibility timeout"
        row("bulk", f"{label}: retried records", f"{result.failures}; {done}")
    requests = result.gateway_calls / result.files
    if rounds:
        bound = INSTANCES * 10 / (rounds * requests * LATENCY_S)
        row(
            "bulk",
            f"{label}: share of the Gateway bound ({requests:.1f} requests/file: {bound:.0f} files/s)",
            f"{rate / bound:.0%}",
        )
    per_file = result.handler / result.files
    aws = (result.aws - result.receive) / result.files
    row(
        "bulk",
        f"{label}: handler time per file",
        f"{ms(per_file)}: Gateway {ms(result.gateway / result.files)}, AWS {ms(aws)}",
    )
    row("bulk", f"{label}: function CPU per file (with its SQS polling)", ms(result.worker_cpu / result.files))
    moto, emulator = (cpu / result.files for cpu in result.stack_cpu)
    row("bulk", f"{label}: local stack CPU per file", f"moto {ms(moto)}, emulator {ms(emulator)}")
    row("bulk", f"{label}: outcomes", statuses + (f"; {result.failures} retried" if result.failures else ""))


def bench_bulk(args: argparse.Namespace) -> None:
    from hdr_ingest.entry.settings import DEFAULT_RECORD_CONCURRENCY

    files = args.files
    note(f"bulk: {files:,} files through the local stack (moto + Gateway emulator; workers = Lambda instances)")
    stack = BulkStack()
    try:
        concurrency = int(stack.env.get("RECORD_CONCURRENCY") or DEFAULT_RECORD_CONCURRENCY)
        rounds = -(-10 // concurrency)  # of a batch of 10 records
        run = uuid.uuid4().hex[:6]
        result = stack.run(drop(f"fast-{run}", files), instances=1, latency_ms=0)
        report(f"{files:,} new, Gateway 0 ms, 1 instance", result, None)
        slow = f"Gateway {LATENCY_S * 1000:.0f} ms, {INSTANCES} instances"
        result = stack.run(drop(f"slow-{run}", files), instances=INSTANCES, latency_ms=LATENCY_S * 1000)
        report(f"{files:,} new, {slow}", result, TARGET, rounds)
        result = stack.run(drop(f"slow-{run}", files, revision=1), instances=INSTANCES, latency_ms=LATENCY_S * 1000)
        report(f"{files:,} changed, {slow}", result, TARGET, rounds)
    finally:
        stack.stop()
