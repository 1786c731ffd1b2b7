"""Size: layers/shared/requirements.txt installed for Lambda (arm64, Python 3.12) with hdr_ingest and the schema pack,
plus functions/ingest, unzipped (the Powertools layer is AWS's, not counted)."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .common import FUNCTION, MB, SHARED, note, row

# google-re2 and jsonschema-rs ship aarch64 wheels for glibc 2.28 only; Lambda's python3.12 (Amazon Linux 2023, glibc
# 2.34) runs them, and sam build accepts them for python3.12+.
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64", "manylinux_2_34_aarch64")


def _tree_size(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def bench_size(args: argparse.Namespace) -> None:
    note("size: the layer as built for Lambda (arm64, Python 3.12), plus the function")
    requirements = (SHARED / "requirements.txt").read_text(encoding="utf-8")
    label = "layer: requirements.txt for Lambda (arm64, cp312)"
    if "jsonschema-rs" not in requirements:  # until the pin is added, measure the layer that will ship
        from importlib.metadata import version

        requirements += f"\njsonschema-rs=={version('jsonschema-rs')}\n"
        label += f" + jsonschema-rs=={version('jsonschema-rs')}"
    with tempfile.TemporaryDirectory(prefix="hgi-bench-") as scratch:
        site = Path(scratch) / "layer" / "python"
        pinned = Path(scratch) / "requirements.txt"
        pinned.write_text(requirements, encoding="utf-8")
        result = _pip_install(pinned, site)
        if result.returncode != 0:
            row("size", "layer dependencies (pip install for Lambda)", "FAILED: " + result.stderr.strip()[-200:])
            return
        dependencies, _ = _tree_size(site)
        biggest = sorted(
            ((_tree_size(p)[0], p.name) for p in site.iterdir() if p.is_dir() and not p.name.endswith("-info")),
            reverse=True,
        )[:4]
        shutil.copytree(SHARED / "hdr_ingest", site / "hdr_ingest", ignore=shutil.ignore_patterns("__pycache__"))
        pack, _ = _tree_size(site / "hdr_ingest" / "destinations" / "hdruk" / "schemata")
        code = _tree_size(site / "hdr_ingest")[0] - pack
        function = sum(p.stat().st_size for p in FUNCTION.iterdir() if p.is_file())
        total = _tree_size(site)[0] + function
    row("size", label, f"{dependencies / MB:.1f} MB")
    row("size", "  largest: " + ", ".join(f"{name} {size / MB:.1f}" for size, name in biggest), "MB")
    row("size", "layer: hdr_ingest code + schema pack", f"{code / MB:.2f} + {pack / MB:.1f} MB")
    row("size", "function: functions/ingest", f"{function / 1024:.1f} KB")
    row("size", "function + its layer, unzipped", f"{total / MB:.1f} MB", "<= 50 MB", total <= 50 * MB)


def _pip_install(requirements: Path, site: Path) -> subprocess.CompletedProcess[str]:
    platforms = [option for platform in PLATFORMS for option in ("--platform", platform)]
    return subprocess.run(  # noqa: S603 - our own interpreter's pip
        [
            *(sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *platforms),
            *("--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp"),
            *("--target", str(site), "-r", str(requirements)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
