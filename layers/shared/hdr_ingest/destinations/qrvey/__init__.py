"""Qrvey (``kind: "qrvey"``): a dataset definition (seed 003) created with Create Dataset, then loaded; the load
finishes later, so a create answers PENDING and a later delivery checks it (README "Destinations"). Its public face,
loaded on first use."""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "QrveyDestination": "destination",
    "problems": "route",
    "build": "route",
    "ApiKey": "credentials",
    "DatasetJudge": "judge",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
