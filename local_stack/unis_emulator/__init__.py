"""A local emulator of perfSONAR UNIS's ``/metadata`` collection (see ``server``'s docstring)."""

from .server import PSJSON, RequestRecord, UnisEmulator
from .store import MetadataStore
from .validation import MetadataSchema

__all__ = ["PSJSON", "MetadataSchema", "MetadataStore", "RequestRecord", "UnisEmulator"]
