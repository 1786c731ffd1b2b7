"""Guard rails: the layers import only what the README's Architecture section says they may."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.unit

PACKAGE = ROOT / "layers" / "shared" / "hdr_ingest"
OUTSIDE_WORLD = ("boto3", "botocore", "requests", "urllib3", "aws_lambda_powertools", "aws_xray_sdk")
# Which layers each layer may import (besides the standard library and pure libraries).
MAY_IMPORT = {
    "core": {"core"},
    "usecases": {"core", "usecases"},
    "destinations": {"core", "destinations"},
    "adapters": {"core", "adapters"},
    "entry": {"core", "usecases", "destinations", "adapters", "entry"},
}


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            if node.module == "hdr_ingest":
                names.extend(f"hdr_ingest.{alias.name}" for alias in node.names)
    return names


def modules(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", ["core", "usecases"])
def test_the_core_and_use_cases_touch_no_aws_http_or_powertools(layer: str) -> None:
    offenders = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in modules(layer)
        for name in imports_of(path)
        if name.split(".")[0] in OUTSIDE_WORLD
    ]
    assert offenders == []


@pytest.mark.parametrize("layer", sorted(MAY_IMPORT))
def test_each_layer_imports_only_the_layers_beneath_it(layer: str) -> None:
    assert modules(layer), f"no modules in {layer}/"
    offenders = []
    for path in modules(layer):
        for name in imports_of(path):
            parts = name.split(".")
            if parts[0] == "hdr_ingest" and len(parts) > 1 and parts[1] in MAY_IMPORT:
                if parts[1] not in MAY_IMPORT[layer]:
                    offenders.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert offenders == []


def test_the_guard_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The scan itself works: an import inside a function counts too."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    import boto3\n    from requests.adapters import HTTPAdapter\n")
    assert imports_of(module) == ["boto3", "requests.adapters"]


def test_the_package_has_only_the_architecture_s_folders() -> None:
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == set(MAY_IMPORT)
    assert sorted(p.name for p in PACKAGE.glob("*.py")) == ["__init__.py"]
