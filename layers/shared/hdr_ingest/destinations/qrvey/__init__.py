"""Qrvey (``kind: "qrvey"``): a dataset definition (seed 003) created with Create Dataset, then loaded; the load
finishes later, so a create answers PENDING and a later delivery checks it (README "Destinations")."""

from hdr_ingest.destinations.qrvey.destination import QrveyDestination
from hdr_ingest.destinations.qrvey.judge import DatasetJudge

__all__ = ["DatasetJudge", "QrveyDestination"]
