"""The HDR UK Health Data Research Gateway (``kind: "hdruk"``): its client, answers, schema pack and Gateway-faithful
judge. Its public face, loaded on first use so that importing one module of the package stays cheap."""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "HdrukDestination": "destination",
    "problems": "route",
    "build": "route",
    "AppCredentials": "credentials",
    "HdrukOptions": "route",
    "SchemaPack": "schema_pack",
    "SchemaRef": "schema_pack",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
