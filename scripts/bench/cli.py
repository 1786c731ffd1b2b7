"""CLI start-up: ``hdr-ingest validate FILE`` on a 5 KB document, wall time of a fresh interpreter from start to
exit, the median of several runs (one warm-up run writes the bytecode first)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import ROOT, SHARED, ms, note, row
from .documents import hdruk400

TARGET_S = 0.25


def run_validate(path: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(  # noqa: S603 - our own interpreter and CLI
        [sys.executable, "-m", "hdr_ingest_cli", "validate", str(path)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"hdr-ingest validate failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return elapsed


def bench_cli(args: argparse.Namespace) -> None:
    runs = max(3, args.runs)
    note(f"cli: hdr-ingest validate on a 5 KB file, {runs} runs")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(SHARED)])}
    with tempfile.TemporaryDirectory(prefix="hgi-bench-") as scratch:
        path = Path(scratch) / "dataset.json"
        path.write_text(json.dumps(hdruk400(5 * 1024)), encoding="utf-8")
        run_validate(path, env)
        median = statistics.median(run_validate(path, env) for _ in range(runs))
    what = f"hdr-ingest validate FILE (5 KB), wall time, median of {runs}"
    row("cli", what, ms(median), "<= 250 ms", median <= TARGET_S)
