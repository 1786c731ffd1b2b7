"""Audit the pinned dependencies for known vulnerabilities, honestly (``make audit``).

    python scripts/dependency_audit.py requirements/lock.txt [--pip-audit .venv-audit/bin/pip-audit]

Runs pip-audit on the lock against PyPI's advisory data, then OSV if PyPI did not audit every package. pip-audit
alone prints "No known vulnerabilities found" and exits 0 even when it could reach no advisory source and skipped
every package; this script reads its JSON report instead and says which it was:

* exit 0: every pinned package was audited and none has a known vulnerability;
* exit 1: known vulnerabilities (listed, with the versions that fix them);
* exit 2: "not audited: <why>": no advisory source answered, or some packages were skipped (named).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SERVICES = ("pypi", "osv")
TIMEOUT_S = 600


@dataclass
class Report:
    service: str
    audited: int = 0
    skipped: list[str] = field(default_factory=list)  # "name (why)"
    vulnerable: list[str] = field(default_factory=list)  # "name version: ID (fixed in ...)"
    failure: str | None = None  # pip-audit itself failed: no report


def run_pip_audit(pip_audit: str, lock: Path, service: str) -> Report:
    report = Report(service)
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "audit.json"
        command = [pip_audit, "-r", str(lock), "--no-deps", "--disable-pip", "--progress-spinner", "off"]
        command += ["-s", service, "-f", "json", "-o", str(out)]
        try:
            # the command is pip-audit from our own venv on our own lock file: no untrusted input
            done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)  # noqa: S603
        except (OSError, subprocess.TimeoutExpired) as exc:
            report.failure = f"{service}: pip-audit did not run ({type(exc).__name__}: {exc})"
            return report
        if not out.exists():
            lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
            report.failure = f"{service}: {lines[-1][:300] if lines else f'pip-audit exited {done.returncode}'}"
            return report
        return read_report(service, json.loads(out.read_text(encoding="utf-8")))


def read_report(service: str, data: Any) -> Report:
    report = Report(service)
    dependencies = data.get("dependencies") if isinstance(data, dict) else None
    if not isinstance(dependencies, list):
        report.failure = f"{service}: pip-audit wrote no list of dependencies"
        return report
    for dependency in dependencies:
        name = f"{dependency.get('name')} {dependency.get('version', '')}".strip()
        if dependency.get("skip_reason"):
            report.skipped.append(f"{dependency.get('name')} ({dependency['skip_reason']})")
            continue
        report.audited += 1
        for vuln in dependency.get("vulns") or []:
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed version yet"
            report.vulnerable.append(f"{name}: {vuln.get('id')} (fixed in {fixes})")
    if not dependencies:
        report.failure = f"{service}: no dependency found in the lock"
    return report


def verdict(reports: list[Report]) -> tuple[int, list[str]]:
    """The exit code and the lines to print, from the reports of the services tried in turn."""
    vulnerable = sorted({line for report in reports for line in report.vulnerable})
    complete = next((r for r in reports if r.failure is None and not r.skipped), None)
    lines = [f"VULNERABLE {line}" for line in vulnerable]
    if complete is not None:
        if not vulnerable:
            count = complete.audited
            lines.append(f"Audited all {count} pinned packages against {complete.service}: no known vulnerability.")
        return (1 if vulnerable else 0), lines
    why = []
    for report in reports:
        if report.failure:
            why.append(report.failure)
        else:
            total = report.audited + len(report.skipped)
            why.append(f"{report.service}: {len(report.skipped)} of {total} packages skipped, e.g. {report.skipped[0]}")
    lines.append("not audited: " + "; ".join(why))
    return (1 if vulnerable else 2), lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lock", type=Path)
    parser.add_argument("--pip-audit", default=str(Path(sys.executable).with_name("pip-audit")))
    args = parser.parse_args(argv)
    reports: list[Report] = []
    for service in SERVICES:
        reports.append(run_pip_audit(args.pip_audit, args.lock, service))
        if reports[-1].failure is None and not reports[-1].skipped:
            break
    code, lines = verdict(reports)
    print("\n".join(lines))
    return code


if __name__ == "__main__":
    sys.exit(main())
