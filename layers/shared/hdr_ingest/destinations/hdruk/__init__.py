"""The HDR UK Health Data Research Gateway (``kind: "hdruk"``): its client, answers, schema pack and Gateway-faithful
judge. Its public face, loaded on first use so that importing one module of the package stays cheap."""

from __future__ import annotations

from hdr_ingest.destinations import public_face

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

__getattr__ = public_face(__name__, _PUBLIC)
