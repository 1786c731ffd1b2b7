"""The Gateway's rules, shared with the function: :mod:`hdr_ingest.destinations.hdruk.judge` (one implementation).

The emulator imports them from the layer package, adding ``layers/shared`` to ``sys.path`` when it runs from a
checkout where the layer is not importable yet (as ``__main__.load_schema_pack`` does).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["judge"]

_PACKAGE = "hdr_ingest.destinations.hdruk.judge"


def _load() -> ModuleType:
    try:
        return importlib.import_module(_PACKAGE)
    except ImportError:
        sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "layers" / "shared"))
        return importlib.import_module(_PACKAGE)


judge: ModuleType = _load()
