"""What every section shares: paths, the rows of the one table and its rendering, timing, the Lambda environment,
and the line a worker process marks for the bench (its own log lines also go to stdout)."""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / "layers" / "shared"
FUNCTION = ROOT / "functions" / "ingest"
PROBES = Path(__file__).resolve().parent / "probes"
for _path in (ROOT, SHARED, FUNCTION):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

MB = 1024 * 1024
MARK = "@@bench@@ "


@dataclass
class Row:
    area: str
    measure: str
    figure: str
    target: str = ""
    met: bool | None = None  # None: informative, no target


ROWS: list[Row] = []


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def row(area: str, measure: str, figure: str, target: str = "", met: bool | None = None) -> None:
    ROWS.append(Row(area, measure, figure, target, met))
    mark = "" if met is None else ("  [met]" if met else "  [NOT MET]")
    note(f"  {area:<11} {measure:<58} {figure:>24} {target}{mark}")


def render(rows: list[Row]) -> str:
    """The one table: each area named once, on its first row."""
    cells, previous = [], ""
    for r in rows:
        area, previous = ("" if r.area == previous else r.area), r.area
        cells.append([area, r.measure, r.figure, r.target, "" if r.met is None else ("yes" if r.met else "NO")])
    return table(["area", "measure", "figure", "target", "met"], cells)


def ms(seconds: float) -> str:
    """Seconds in µs below a millisecond, ms with two decimals below 100 ms, whole ms above (negative too)."""
    size = abs(seconds)
    if size < 0.001:
        return f"{seconds * 1e6:.1f} µs"
    return f"{seconds * 1000:.2f} ms" if size < 0.1 else f"{seconds * 1000:.0f} ms"


def median_time(action: Callable[[], Any], repeat: int, min_total_s: float = 0.2) -> float:
    """Median seconds per call over ``repeat`` rounds; each round loops until it lasts ``min_total_s``/repeat."""
    started = time.perf_counter()
    action()
    once = max(time.perf_counter() - started, 1e-7)
    loops = max(1, int(min_total_s / repeat / once))
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(loops):
            action()
        samples.append((time.perf_counter() - started) / loops)
    return statistics.median(samples)


def lambda_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The function's environment in Lambda (template.yaml), with placeholders for the resources."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "POWERTOOLS_", "_X_AMZN", "LAMBDA_"))
        # PYTHONDONTWRITEBYTECODE: the warm-up run writes hdr_ingest's bytecode for the rows that use it; the
        # "without .pyc" row sets it itself.
        and key not in ("SCHEMA_PACK_DIR", "PYTHONDONTWRITEBYTECODE")
    }
    env.update(
        {
            "LAMBDA_TASK_ROOT": str(FUNCTION),
            "AWS_LAMBDA_FUNCTION_NAME": "hdr-ingest-IngestFunction",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
            "AWS_REGION": "eu-west-2",
            "AWS_DEFAULT_REGION": "eu-west-2",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_SESSION_TOKEN": "bench",
            "GATEWAY_SECRET_ID": "hdr-gateway-ingest/gateway-app",
            "LEDGER_TABLE": "hdr-ingest-ledger",
            "DLQ_URL": "https://sqs.eu-west-2.amazonaws.com/123456789012/hdr-ingest-dlq",
            "POWERTOOLS_SERVICE_NAME": "hdr-gateway-ingest",
            "POWERTOOLS_METRICS_NAMESPACE": "HdrGatewayIngest",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "PYTHONPATH": os.pathsep.join([str(SHARED), str(FUNCTION)]),
        }
    )
    env.update(extra or {})
    return env


def table(headers: list[str], cells: Iterable[list[str]]) -> str:
    """A plain-text table: a header line, a rule, then one line per row (trailing spaces cut)."""
    rows = [list(map(str, cell)) for cell in cells]
    widths = [max(len(h), *(len(c[i]) for c in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("-+-".join("-" * w for w in widths))
    lines.extend(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)
    return "\n".join(lines)


def marked(stream: Any) -> str:
    """The next line a worker addressed to the bench."""
    for line in stream:
        if line.startswith(MARK):
            return str(line[len(MARK) :].strip())
    raise SystemExit("a bench worker exited early")


TABLES: list[tuple[str, str]] = []  # (title, text): the small tables printed after the main one


def add_table(title: str, text: str) -> None:
    TABLES.append((title, text))
    note(f"{title}\n{text}")
