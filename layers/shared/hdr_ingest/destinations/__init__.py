"""The catalogues we publish to: one package per kind, each behind the ``Destination`` port (``core.ports``).

A kind is a module with two functions: ``problems(spec) -> list[str]`` (what is wrong with a route's url and
options, every problem named) and ``build(spec, common) -> Destination``. Kinds are imported when a route uses
them, so a cold start pays only for the catalogues it publishes to. A test (or a plugin) adds a kind with
:func:`register`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from hdr_ingest.core import defaults
from hdr_ingest.core.ports import Destination
from hdr_ingest.core.routing import RouteSpec


@dataclass(frozen=True)
class Common:
    """What every destination may use besides its own route: the function's shared settings."""

    connect_timeout_s: float = defaults.CONNECT_TIMEOUT_S
    read_timeout_s: float = defaults.READ_TIMEOUT_S
    pool_size: int = 4
    schema_pack_dir: Path | None = None


class Kind(Protocol):
    def problems(self, spec: RouteSpec) -> list[str]: ...
    def build(self, spec: RouteSpec, common: Common) -> Destination: ...


@dataclass(frozen=True)
class _FunctionsKind:
    problems_of: Callable[[RouteSpec], list[str]]
    builder: Callable[[RouteSpec, Common], Destination]

    def problems(self, spec: RouteSpec) -> list[str]:
        return self.problems_of(spec)

    def build(self, spec: RouteSpec, common: Common) -> Destination:
        return self.builder(spec, common)


_MODULES = {
    "hdruk": "hdr_ingest.destinations.hdruk.route",
    "unis": "hdr_ingest.destinations.unis.route",
    "qrvey": "hdr_ingest.destinations.qrvey.route",
    "aep": "hdr_ingest.destinations.aep.route",
}
_REGISTERED: dict[str, Kind] = {}


def register(kind: str, problems: Callable[[RouteSpec], list[str]], build: Callable[[RouteSpec, Common], Any]) -> None:
    """Add (or replace) a kind of destination."""
    _REGISTERED[kind] = _FunctionsKind(problems, build)


def unregister(kind: str) -> None:
    _REGISTERED.pop(kind, None)


def kinds() -> list[str]:
    return sorted({*_MODULES, *_REGISTERED})


def kind(name: str) -> Kind | None:
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name in _MODULES:
        module: ModuleType = importlib.import_module(_MODULES[name])
        return _FunctionsKind(module.problems, module.build)
    return None


def public_face(package: str, public: dict[str, str]) -> Callable[[str], Any]:
    """A destination package's module ``__getattr__``: each public name (``public`` maps it to the package's module
    that defines it) is imported on first use, so importing one module of the package stays cheap."""

    def attribute(name: str) -> Any:
        if name in public:
            return getattr(importlib.import_module(f"{package}.{public[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return attribute
