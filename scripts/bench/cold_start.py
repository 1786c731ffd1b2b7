"""Cold start: fresh interpreters (probes/cold.py, probes/baseline.py), medians of interleaved runs, with Lambda's
environment variables set (so Powertools and X-Ray behave as in Lambda), each over a fresh ``import boto3,
requests`` (the baseline row); then the same without bytecode, as ``sam build`` ships it."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import FUNCTION, PROBES, ROOT, SHARED, lambda_env, ms, note, row
from .documents import hdruk400

BASELINE, CLIENTS = [str(PROBES / "baseline.py")], [str(PROBES / "baseline.py"), "--clients"]


def _run_python(probe: list[str], env: dict[str, str]) -> dict[str, float]:
    """Seconds from starting a fresh interpreter on ``probe`` (a script and its arguments) until it reports ready
    (the interpreter's exit, which a Lambda instance never reaches, is not counted), and what it reported."""
    started = time.time()
    result = subprocess.run(  # noqa: S603 - our own interpreter and probe
        [sys.executable, *probe], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"cold-start subprocess failed:\n{result.stderr[-2000:]}")
    report: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    report["elapsed"] = report["ready"] - started
    if "ready_clients" in report:
        report["elapsed_clients"] = report["ready_clients"] - started
    return report


def _unprecompiled_copy(into: Path) -> dict[str, str]:
    """hdr_ingest and app.py without bytecode, as ``sam build`` ships them (Lambda cannot write .pyc there)."""
    layer, function = into / "layer", into / "function"
    shutil.copytree(
        SHARED / "hdr_ingest", layer / "hdr_ingest", ignore=shutil.ignore_patterns("__pycache__", "schemata")
    )
    function.mkdir(parents=True)
    shutil.copy2(FUNCTION / "app.py", function / "app.py")
    return {
        "PYTHONPATH": os.pathsep.join([str(layer), str(function)]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "SCHEMA_PACK_DIR": str(SHARED / "hdr_ingest" / "destinations" / "hdruk" / "schemata"),
        "LAMBDA_TASK_ROOT": str(function),
    }


def bench_cold_start(args: argparse.Namespace) -> None:
    runs = args.runs
    note(f"cold start: {runs} fresh interpreters of each kind, interleaved")
    with tempfile.TemporaryDirectory(prefix="hgi-bench-") as scratch:
        document = Path(scratch) / "document.json"
        document.write_text(json.dumps(hdruk400(5 * 1024)), encoding="utf-8")
        cold = [str(PROBES / "cold.py"), str(document)]
        env = lambda_env()
        for warm_up in (cold, BASELINE, CLIENTS):  # bytecode written once, file cache warm
            _run_python(warm_up, env)
        baseline: list[float] = []
        clients: list[float] = []
        ours: list[dict[str, float]] = []
        for _ in range(runs):
            baseline.append(_run_python(BASELINE, env)["elapsed"])
            ours.append(_run_python(cold, env))
            clients.append(_run_python(CLIENTS, env)["elapsed"])
        _rows(statistics.median(baseline), statistics.median(clients), ours)
        unprecompiled = {**env, **_unprecompiled_copy(Path(scratch) / "build")}
        samples = [_run_python(cold, unprecompiled)["elapsed"] for _ in range(max(3, runs // 2))]
    raw = statistics.median(samples)
    row(
        "cold start",
        "same, hdr_ingest and app.py without .pyc (sam build)",
        f"{ms(raw)} = {raw / statistics.median(baseline):.2f}x",
    )


def _rows(base: float, floor: float, cold: list[dict[str, float]]) -> None:
    mine = statistics.median(c["elapsed"] for c in cold)
    with_clients = statistics.median(c["elapsed_clients"] for c in cold)
    made = statistics.median(c["clients"] for c in cold)
    row("cold start", 'python: "import boto3, requests"', ms(base))
    row(
        "cold start",
        "import app + first-call initialisation (AWS clients made on first use)",
        f"{ms(mine)} = {mine / base:.2f}x",
        "<= 1.5x",
        mine <= 1.5 * base,
    )
    for key, label in (
        ("import", "  import app (Powertools, X-Ray patching, hdr_ingest)"),
        ("runtime", "  get_runtime() (settings, adapters, pipeline; no AWS client)"),
        ("pack", "  schema pack + first judgement (5 KB, as _publish)"),
    ):
        row("cold start", label, ms(statistics.median(c[key] for c in cold)))
    row(
        "cold start",
        "+ the clients the first record uses (S3, DynamoDB, Secrets Manager)",
        f"{ms(with_clients)} = {with_clients / base:.2f}x (clients: {ms(made)})",
    )
    row(
        "cold start",
        "floor: import boto3, requests + S3, DynamoDB, Secrets Manager clients",
        f"{ms(floor)} = {floor / base:.2f}x; ours with clients {with_clients / floor:.2f}x floor",
    )
