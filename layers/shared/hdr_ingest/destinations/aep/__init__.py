"""Adobe Experience Platform: JSON records into a dataset through batch ingestion (``kind: "aep"``). Its public face,
loaded on first use."""

from __future__ import annotations

from hdr_ingest.destinations import public_face

_PUBLIC = {
    "AepDestination": "destination",
    "problems": "route",
    "build": "route",
    "AepCredentials": "credentials",
    "parse_records": "judge",
    "XdmCheck": "judge",
}
__all__ = sorted(_PUBLIC)

__getattr__ = public_face(__name__, _PUBLIC)
