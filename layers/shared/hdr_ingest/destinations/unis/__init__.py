"""perfSONAR UNIS (``kind: "unis"``): metadata records through ``{base}/metadata`` (see ``route``). Its public face,
loaded on first use."""

from __future__ import annotations

from hdr_ingest.destinations import public_face

_PUBLIC = {
    "UnisDestination": "destination",
    "problems": "route",
    "build": "route",
    "ClientCertificate": "credentials",
}
__all__ = sorted(_PUBLIC)

__getattr__ = public_face(__name__, _PUBLIC)
