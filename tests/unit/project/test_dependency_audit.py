"""`make audit` says "not audited" when pip-audit skipped packages or reached no advisory source, where pip-audit
itself prints "No known vulnerabilities found" and exits 0."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from scripts.dependency_audit import main, read_report, verdict

pytestmark = pytest.mark.unit

CLEAN = {"dependencies": [{"name": "requests", "version": "2.34.2", "vulns": []}], "fixes": []}
SKIPPED = {
    "dependencies": [
        {"name": "requests", "skip_reason": "Dependency not found on PyPI and could not be audited: requests"},
        {"name": "boto3", "version": "1.0", "vulns": []},
    ],
    "fixes": [],
}
VULNERABLE = {
    "dependencies": [
        {"name": "urllib3", "version": "1.0", "vulns": [{"id": "GHSA-x", "fix_versions": ["2.0"], "aliases": []}]}
    ],
    "fixes": [],
}


def test_every_package_audited_and_clean_passes() -> None:
    code, lines = verdict([read_report("pypi", CLEAN)])
    assert code == 0 and "Audited all 1 pinned packages against pypi" in lines[-1]


def test_skipped_packages_are_not_audited() -> None:
    code, lines = verdict([read_report("pypi", SKIPPED)])
    assert code == 2 and lines[-1].startswith("not audited: pypi: 1 of 2 packages skipped, e.g. requests")
    assert not any("No known vulnerabilities" in line for line in lines)


def test_a_second_source_can_complete_the_audit() -> None:
    code, _ = verdict([read_report("pypi", SKIPPED), read_report("osv", CLEAN)])
    assert code == 0


def test_vulnerabilities_are_listed_with_their_fix() -> None:
    code, lines = verdict([read_report("pypi", VULNERABLE)])
    assert code == 1 and lines == ["VULNERABLE urllib3 1.0: GHSA-x (fixed in 2.0)"]


def _fake_pip_audit(tmp_path: Path, report: dict[str, object] | None) -> str:
    """A stand-in for pip-audit: writes ``report`` where -o says (or fails like an unreachable service)."""
    script = tmp_path / "pip-audit"
    body = (
        f"import sys, json\nout = sys.argv[sys.argv.index('-o') + 1]\njson.dump({report!r}, open(out, 'w'))\n"
        if report is not None
        else "import sys\nsys.exit('requests.exceptions.ConnectionError: Failed to resolve the advisory host')\n"
    )
    script.write_text(f"#!{sys.executable}\n{body}")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_no_reachable_source_is_not_audited(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["requirements/lock.txt", "--pip-audit", _fake_pip_audit(tmp_path, None)]) == 2
    out = capsys.readouterr().out
    assert out.startswith("not audited: pypi: requests.exceptions.ConnectionError") and "osv:" in out


def test_a_clean_report_from_pip_audit_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["requirements/lock.txt", "--pip-audit", _fake_pip_audit(tmp_path, json.loads(json.dumps(CLEAN)))]) == 0
    assert "no known vulnerability" in capsys.readouterr().out
