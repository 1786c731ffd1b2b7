"""The shape of AEP's credentials: an OAuth server-to-server project's ``client_id``, ``client_secret`` and
``scope``, from the route's secret (Adobe Developer Console > project > OAuth Server-to-Server)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hdr_ingest.core.ports import CredentialsError

_SHAPE = (
    '{"client_id": "<Client ID>", "client_secret": "<Client secret>", "scope": "<Scopes>"} copied from the Adobe '
    "Developer Console project's OAuth Server-to-Server credential"
)


@dataclass(frozen=True)
class AepCredentials:
    client_id: str = field(repr=False)
    client_secret: str = field(repr=False)
    scope: str = field(repr=False)

    @classmethod
    def from_secret(cls, value: Any, secret_id: str) -> AepCredentials:
        if not isinstance(value, dict):
            raise CredentialsError(f"secret {secret_id!r} must hold a JSON object {_SHAPE}")
        keys = ("client_id", "client_secret", "scope")
        missing = [k for k in keys if not isinstance(value.get(k), str) or not value[k].strip()]
        if missing:
            raise CredentialsError(f"secret {secret_id!r} lacks {', '.join(missing)}: it must hold {_SHAPE}")
        return cls(*(str(value[k]).strip() for k in keys))

    def secret_values(self) -> tuple[str, ...]:
        # the client id is also sent as x-api-key; it is an identifier, the secret is what must never leak
        return (self.client_secret, self.client_id)
