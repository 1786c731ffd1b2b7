"""An HDR UK route's options: how credentials are sent, which schema to judge against, which verdict counts."""

from __future__ import annotations

from enum import StrEnum


class HeaderStyle(StrEnum):
    """How app credentials are sent: the current Gateway reads ``x-application-id``/``x-client-id``;
    deployments older than February 2024 read ``app_id``/``client_id``."""

    X_HEADERS = "x-headers"
    LEGACY = "legacy"


class Api(StrEnum):
    """Which Gateway route publishes: the deprecated ``/api/v1/integrations/datasets`` (Sunset 22 Jan 2026; it
    HTML-encodes text) or its successor ``/api/v1/datasets`` (same app headers, no HTML-encoding)."""

    INTEGRATIONS = "integrations"
    DATASETS = "datasets"
