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
    """Every module ``path`` imports, relative imports resolved (``from .x import y`` inside
    ``hdr_ingest/destinations/hdruk/judge`` is ``hdr_ingest.destinations.hdruk.judge.x``)."""
    tree = ast.parse(path.read_text(), str(path))
    base = PACKAGE.parent if path.is_relative_to(PACKAGE) else ROOT
    package = path.relative_to(base).with_suffix("").parts[:-1] if path.is_relative_to(base) else ()
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parent = list(package[: len(package) - (node.level - 1)]) if node.level else []
            module = ".".join([*parent, *([node.module] if node.module else [])])
            names.append(module)
            if module == "hdr_ingest" or (node.level and not node.module):  # names that may be modules
                names.extend(f"{module}.{alias.name}" for alias in node.names)
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


def _names_destinations(path: Path) -> list[str]:
    """Imports of ``hdr_ingest.destinations`` (``from hdr_ingest import destinations`` included; relative ones
    cannot reach it from ``local_stack``), and dotted module names in strings, as ``importlib.import_module``
    would take them."""
    tree = ast.parse(path.read_text(), str(path))
    found = [
        name
        for name in imports_of(path)
        if name == "hdr_ingest.destinations" or name.startswith("hdr_ingest.destinations.")
    ]
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "hdr_ingest.destinations" in node.value:
            if not (node.value.strip().count("\n") or " " in node.value.strip()):  # a docstring may name it
                found.append(node.value)
    return found


def test_no_emulator_uses_the_function_s_destinations() -> None:
    """An emulator is a model of the real service, not of our client: if it judged with the function's code,
    an end-to-end run could not catch a regression there (issue 23, item 6)."""
    emulators = sorted(p for p in (ROOT / "local_stack").glob("*_emulator") if p.is_dir())
    assert {p.name for p in emulators} >= {"gateway_emulator", "unis_emulator", "qrvey_emulator", "aep_emulator"}
    offenders = [
        f"{path.relative_to(ROOT)} uses {name}"
        for folder in emulators
        for path in sorted(folder.rglob("*.py"))
        for name in _names_destinations(path)
    ]
    assert offenders == []


def test_the_emulator_guard_sees_imports_and_module_names(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        '"""Docs may mention hdr_ingest.destinations.hdruk in prose."""\n'
        "import importlib\n"
        "def f():\n"
        "    from hdr_ingest.destinations.hdruk import judge\n"
        "from hdr_ingest import destinations\n"
        'importlib.import_module("hdr_ingest.destinations.hdruk.judge")\n'
    )
    assert sorted(_names_destinations(module)) == [
        "hdr_ingest.destinations",
        "hdr_ingest.destinations.hdruk",
        "hdr_ingest.destinations.hdruk.judge",
    ]


HTTP_LIBRARIES = ("requests", "urllib3")


def test_only_the_shared_transport_speaks_http() -> None:
    """One transport for every catalogue (issue 23, item 1): its deadline, cap, retry policy and redirect rule hold
    for all four only if no client builds its own session. (A client may name ``requests.Session`` in a type
    annotation for a test's fake session; the import must then be the transport's business, so none is allowed.)"""
    transport = PACKAGE / "destinations" / "http.py"
    offenders = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in modules("destinations")
        if path != transport
        for name in imports_of(path)
        if name.split(".")[0] in HTTP_LIBRARIES
    ]
    assert offenders == []
    assert any(name.split(".")[0] == "requests" for name in imports_of(transport))


def test_the_local_stack_never_imports_the_cli() -> None:
    """The CLI drives the local stack (its state, its output helpers in ``local_stack/terminal.py``); the stack
    knows nothing of the CLI, so the two never import each other (issue 23, item 6)."""
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / "local_stack").rglob("*.py"))
        for name in imports_of(path)
        if name.split(".")[0] == "hdr_ingest_cli"
    ]
    assert offenders == []


def test_relative_imports_are_seen_by_the_guards(tmp_path: Path) -> None:
    judge = PACKAGE / "destinations" / "hdruk" / "judge" / "cleanup.py"
    assert "hdr_ingest.destinations.hdruk.judge.explanations" in imports_of(judge)
    server = ROOT / "local_stack" / "gateway_emulator" / "server.py"
    assert "local_stack.gateway_emulator.faults" in imports_of(server)


def test_every_destination_package_has_the_same_shape_and_a_public_face() -> None:
    """Issue 23: route, credentials, client, answers, judge, destination (and readback) in every package; its
    ``__init__`` names what it offers, each name resolving to the package's own object."""
    import importlib

    base = PACKAGE / "destinations"
    for kind in ("hdruk", "unis", "qrvey", "aep"):
        package = base / kind
        for part in ("route", "credentials", "client", "answers", "judge", "destination", "readback"):
            assert (package / f"{part}.py").is_file() or (package / part / "__init__.py").is_file(), (kind, part)
        face = importlib.import_module(f"hdr_ingest.destinations.{kind}")
        assert {"problems", "build"} <= set(face.__all__), kind
        for name in face.__all__:
            assert getattr(face, name).__module__.startswith(f"hdr_ingest.destinations.{kind}."), (kind, name)
