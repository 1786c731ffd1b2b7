"""Qrvey (``kind: "qrvey"``): a dataset definition (seed 003) created with Create Dataset, then loaded; the load
finishes later, so a create answers PENDING and a later delivery checks it (README "Destinations")."""
