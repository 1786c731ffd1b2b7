"""Qrvey (``kind: "qrvey"``): a dataset definition (seed 003) created with Create Dataset, then loaded; the load
finishes later, so a create answers PENDING and a later delivery checks it (README "Destinations"). Its public face,
loaded on first use."""

from __future__ import annotations

from hdr_ingest.destinations import public_face

_PUBLIC = {
    "QrveyDestination": "destination",
    "problems": "route",
    "build": "route",
    "ApiKey": "credentials",
    "DatasetJudge": "judge",
}
__all__ = sorted(_PUBLIC)

__getattr__ = public_face(__name__, _PUBLIC)
