"""Qrvey's credentials: the instance's API key, sent as ``x-api-key``, from the route's secret."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hdr_ingest.core.ports import CredentialsError

SHAPE = '{"api_key": "<the Qrvey instance\'s API key>"}'
MAX_KEY_CHARS = 512
UNSENDABLE = "It cannot be sent as an HTTP header: copy the instance's API key into the secret again."


@dataclass(frozen=True)
class ApiKey:
    """Never log it: ``repr`` hides it and the pipeline redacts it from Qrvey's words."""

    api_key: str = field(repr=False)

    @classmethod
    def from_secret(cls, value: Any, secret_id: str) -> ApiKey:
        if not isinstance(value, dict):
            raise CredentialsError(f"secret {secret_id!r} must hold a JSON object {SHAPE}")
        key = value.get("api_key")
        if not isinstance(key, str) or not key.strip():
            raise CredentialsError(f"secret {secret_id!r} lacks api_key: it must hold {SHAPE}")
        key = key.strip()
        if len(key) > MAX_KEY_CHARS or not key.isascii() or not key.isprintable():
            raise CredentialsError(
                f"secret {secret_id!r} has an api_key that is not printable ASCII of at most {MAX_KEY_CHARS} "
                f"characters. {UNSENDABLE}"
            )
        return cls(key)

    def secret_values(self) -> tuple[str]:
        return (self.api_key,)
