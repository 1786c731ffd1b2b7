"""perfSONAR UNIS (``kind: "unis"``): metadata records through ``{base}/metadata`` (see ``route``)."""
