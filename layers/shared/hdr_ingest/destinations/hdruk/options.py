"""An HDR UK route's options: how credentials are sent, which schema to judge against, which verdict counts."""

from __future__ import annotations

from enum import StrEnum


class HeaderStyle(StrEnum):
    """How app credentials are sent: the current Gateway reads ``x-application-id``/``x-client-id``;
    deployments older than February 2024 read ``app_id``/``client_id``."""

    X_HEADERS = "x-headers"
    LEGACY = "legacy"
