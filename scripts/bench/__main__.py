"""Performance figures of the ingest function, each next to its target, all measured in one run, in one table.

    python -m scripts.bench                      # everything (`make bench`), about 4-7 minutes on 2 CPUs
    python -m scripts.bench --quick              # every section, fewer runs and a small bulk: about 3 minutes
    python -m scripts.bench --only handler,verify
    python -m scripts.bench --only judge --examples 3

Sections (each module's docstring says how it measures):
  validation  generated HDRUK 4.0.0 documents (5 KB, 2 MB, 10 MB), warm, over json.loads
  cold-start  fresh interpreters with Lambda's environment, over `import boto3, requests`
  memory      peak RSS of one 10 MB document in a fresh interpreter
  size        the layer as built for Lambda plus the function, unzipped
  handler     ours beside a bare-minimum handler (5 KB, 1.8 MB), and every AWS and HTTP call per publish
  verify      the read-back's cost: the 5 KB create with the route option verify on and off
  judge       median per document over HDR UK's examples; verdicts beside the recorded ones
  cli         hdr-ingest validate FILE (5 KB), wall time
  bulk        files/s through SQS pollers (one process per Lambda instance), Gateway 0 ms and 100 ms
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

from . import bulk, cli, cold_start, handler, judge, memory, size, validation
from .common import ROWS, TABLES, render

SECTIONS: dict[str, Callable[[argparse.Namespace], None]] = {
    "validation": validation.bench_validation,
    "cold-start": cold_start.bench_cold_start,
    "memory": memory.bench_memory,
    "size": size.bench_size,
    "handler": handler.bench_handler,
    "verify": handler.bench_verify,
    "judge": judge.bench_judge,
    "cli": cli.bench_cli,
    "bulk": bulk.bench_bulk,
}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated, from {', '.join(SECTIONS)}")
    parser.add_argument("--runs", type=int, help="fresh interpreters of each kind (default 9; --quick 3)")
    parser.add_argument("--files", type=int, help="files per bulk drop (default 1000; --quick 100)")
    parser.add_argument("--quick", action="store_true", help="few runs, a small bulk, no reference timings")
    parser.add_argument("--examples", type=int, default=0, help="judge only the first N examples (default all)")
    parser.add_argument("--hdruk", type=Path, help="HDR UK examples and recorded verdicts (default shared/hdruk)")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args(argv)
    args.runs = args.runs or (3 if args.quick else 9)
    args.files = args.files or (100 if args.quick else 1000)
    args.chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(args.chosen) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s): {', '.join(unknown)}")
    return args


def report(started: float) -> str:
    """The one table of figures, then the small tables (calls per publish), then the count of targets met."""
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    lines = [
        f"\nhdr-gateway-ingest performance ({time.strftime('%Y-%m-%d')}; {machine}; {time.time() - started:.0f} s)\n"
    ]
    lines.append(render(ROWS))
    for title, text in TABLES:
        lines += ["", title, text]
    missed = sum(r.met is False for r in ROWS)
    lines.append(f"\n{sum(r.met is True for r in ROWS)} targets met, {missed} not met.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    from hdr_ingest.destinations.hdruk import SchemaPack
    from hdr_ingest.destinations.hdruk.schema_pack import SchemaPackError

    try:
        SchemaPack.load()
    except SchemaPackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    started = time.time()
    for name, section in SECTIONS.items():
        if name in args.chosen:
            section(args)
    print(report(started))
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in ROWS], indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
