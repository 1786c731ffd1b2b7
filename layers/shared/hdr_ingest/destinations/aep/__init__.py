"""Adobe Experience Platform: JSON records into a dataset through batch ingestion (``kind: "aep"``). Its public face,
loaded on first use."""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "AepDestination": "destination",
    "problems": "route",
    "build": "route",
    "AepCredentials": "credentials",
    "parse_records": "judge",
    "XdmCheck": "judge",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
