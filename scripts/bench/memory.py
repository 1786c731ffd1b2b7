"""Memory: peak RSS (VmHWM) of a fresh interpreter (probes/memory.py), the handler module and its runtime loaded,
that reads a 10 MB document, parses, fingerprints and judges it, and encodes the Gateway request body."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from .common import MB, PROBES, ROOT, lambda_env, note, row
from .documents import hdruk400, re_encoded

# The peak last recorded in the README (2026-12-05, after the one orjson parse; same document): "no worse than before".
REFERENCE_PEAK_MB = 137
NOISE = 1.05


def bench_memory(args: argparse.Namespace) -> None:
    note("memory: peak RSS of one 10 MB document in a fresh interpreter")
    with tempfile.TemporaryDirectory(prefix="hgi-bench-") as scratch:
        big, small = Path(scratch) / "big.json", Path(scratch) / "small.json"
        # Compact JSON, just under MAX_OBJECT_BYTES (10 MiB), re-encoded in one string in forty: the worst case
        # for the fast verdict's clean-up (judge/cleanup.py copies the containers of every value it changes).
        document = re_encoded(hdruk400(10 * MB - 320 * 1024), dense=True)
        big.write_text(json.dumps(document), encoding="utf-8")
        assert big.stat().st_size <= 10 * MB, big.stat().st_size
        small.write_text(json.dumps(hdruk400(4096)), encoding="utf-8")
        result = subprocess.run(  # noqa: S603
            [sys.executable, str(PROBES / "memory.py"), str(big), str(small)],
            env=lambda_env({"POWERTOOLS_TRACE_DISABLED": "true"}),
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        raise SystemExit(f"memory subprocess failed:\n{result.stderr[-2000:]}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    row("memory", "RSS after import + init (no document yet)", f"{figures['loaded']:.0f} MB")
    peak = figures["peak"]
    row(
        "memory",
        f"peak RSS, {figures['bytes'] / MB:.1f} MB re-encoded document: read, parse, digest, judge, encode",
        f"{peak:.0f} MB (before: {REFERENCE_PEAK_MB} MB)",
        f"<= 256 MB, <= {REFERENCE_PEAK_MB} MB +5%",
        peak <= 256 and peak <= REFERENCE_PEAK_MB * NOISE,
    )
