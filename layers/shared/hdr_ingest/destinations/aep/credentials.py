"""The shape of AEP's credentials: an OAuth server-to-server project's ``client_id``, ``client_secret`` and
``scope``, from the route's secret (Adobe Developer Console > project > OAuth Server-to-Server)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

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
        broken = [k for k in keys if any(c in str(value[k]).strip() for c in "\r\n\x00")]
        if broken:
            # it would otherwise fail in the HTTP library as a bad header, reported as a connection error
            raise CredentialsError(
                f"secret {secret_id!r}: {', '.join(broken)} holds a line break or NUL (a paste error): copy the "
                "value again from the Developer Console"
            )
        return cls(*(str(value[k]).strip() for k in keys))

    def secret_values(self) -> tuple[str, ...]:
        """What must never reach a log, ledger item or dead letter, in every form a server may echo it: IMS echoes
        the form it was sent, so the secret also URL-encoded. The client id is also sent as x-api-key; it is an
        identifier, the secret is what must never leak."""
        forms = (self.client_secret, quote_plus(self.client_secret), quote(self.client_secret, safe=""))
        return (*dict.fromkeys(forms), self.client_id)
